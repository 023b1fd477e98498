"""`ratecheck falsify` and `ratecheck atlas` (registered in ratecheck/cli.py).

`ratecheck falsify RESULT`: search instances that maximise observed/bound of RESULT; writes to
OUT/<result>/: instance.json (re-run with `ratecheck falsify --replay FILE`), trajectory.csv
(observed and bound per row of the best run), search.csv and search.png (best ratio over search
time), and prints the best ratio and the check's verdict. Exit 1 when an asserted result (a
theorem or implementation check as registered, factor 1) is violated; 0 otherwise; 2 on a bad
argument.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

from ratecheck.errors import RatecheckError


def _parser(prog: str, doc: str):
    from ratecheck.cli import OneLineParser

    return OneLineParser(prog=prog, description=doc)


def _int(lo: int):
    from ratecheck.cli import at_least

    return at_least(lo)


def _positive(text: str) -> float:
    from ratecheck.cli import positive

    return positive(float)(text)


def _safe(key: str) -> str:
    return key.replace("/", "_")


def write_outputs(finding, out: Path) -> list[Path]:
    """instance.json, trajectory.csv, search.csv and search.png of a finding under ``out``."""
    from . import plots

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if finding.best is not None:
        paths.append(finding.best.save(out / "instance.json"))
        _, tr, c = finding.best.replay()
        paths.append(plots.write_trajectory(c, tr, out / "trajectory.csv"))
        paths.append(plots.trajectory_figure(c, tr, out / "trajectory.png"))
    paths.append(plots.write_history(finding.history, out / "search.csv"))
    paths.append(plots.history_figure(finding, out / "search.png"))
    return paths


def _verdict(c) -> str:
    ratio = float(c.worst_ratio.nan_to_num(math.inf if bool(c.violated.any()) else -math.inf).max())
    state = "VIOLATED" if bool(c.violated.any()) else ("holds" if bool(c.checked.any()) else "not checked: " + "; ".join(sorted(set(c.reasons))))
    return f"worst ratio observed/bound {ratio:.6g}: {state}"


def main(argv: Sequence[str] | None = None) -> int:
    """Search instances of problem families that maximise observed/bound for a registered result."""
    from ratecheck import theory

    from . import families
    from .instance import Instance
    from .objective import EXAMPLES
    from .search import METHODS, Budget, search

    p = _parser("ratecheck falsify", main.__doc__)
    p.add_argument("result", nargs="?", metavar="RESULT", help="a registered result key (ratecheck list results)")
    p.add_argument("--replay", metavar="FILE", help="re-run an instance file and print its check")
    p.add_argument("--pep", action="store_true", help="benchmark: search vs PEP worst case for SGD (constant, linear decay), "
                   "T in 1, 2, 4, 8, 16; --budget is the seconds per row")
    p.add_argument("--family", action="append", choices=families.names(), help="restrict to a family (repeatable)")
    p.add_argument("--optimizer", help="restrict to one of the result's optimizers")
    p.add_argument("--budget", default="60", help="SECONDS (60, 60s, 2m) or EVALS of B candidates (200e); default 60")
    p.add_argument("--seed", type=_int(0), default=0)
    p.add_argument("-B", "--batch", type=_int(2), default=32, help="candidates per batch (default 32)")
    p.add_argument("--method", choices=METHODS, default="auto", help="auto: random, then CMA-ES, then gradient ascent")
    p.add_argument("--factor", type=_positive, default=1.0, help="multiply the bound by this (a planted false bound below 1)")
    p.add_argument("--examples", choices=EXAMPLES, default="own",
                   help="templates: the result's own example runs, other results' (no hint), or all")
    p.add_argument("--T-max", dest="T_max", type=_int(1), default=1024, help="longest run (default 1024)")
    p.add_argument("--keep-going", action="store_true", help="spend the whole budget after a violation (tightest instance)")
    p.add_argument("--out", default="out/falsify", help="output folder (default out/falsify)")
    a = p.parse_args(argv)
    if a.replay:
        inst = Instance.load(a.replay)
        _, _, c = inst.replay()
        print(f"{inst.result} (factor {inst.factor:g}) on {inst.family}, {inst.optimizer}, T={inst.T}: {_verdict(c)}")
        print(f"recorded by the search: {inst.score:.6g}" + (" (violated)" if inst.violated else ""))
        return 1 if bool(c.violated.any()) and theory.get(inst.result).asserted and inst.factor == 1.0 else 0
    if a.pep:
        from ratecheck.theory.pep import below_with_solver_tolerance

        from . import pep_bench

        seconds = Budget.parse(a.budget).seconds
        if seconds is None:
            p.error("--pep needs --budget in seconds")
        rows = pep_bench.bench(seconds=seconds, seed=a.seed)
        print(pep_bench.table(rows))
        short = [f"{r['schedule']} T={r['T']}" for r in rows if r["ratio"] < pep_bench.TARGET]
        print(f"target search/PEP >= {pep_bench.TARGET}: " + ("met for every row" if not short else "missed for " + ", ".join(short)))
        bad = [r for r in rows if not below_with_solver_tolerance(r["found"], r["pep"])]
        if bad:  # an instance of the class above its exact worst case: a bug in the family or the run
            print(f"found above PEP in {len(bad)} row(s)", file=sys.stderr)
            return 1
        return 0
    if a.result is None:
        p.error("RESULT is required (or --replay FILE, or --pep)")
    r = theory.get(a.result)
    budget = Budget.parse(a.budget)
    t_last = [0.0]

    def progress(h, best):
        if h[0] - t_last[0] >= 5.0:
            t_last[0] = h[0]
            print(f"  {h[0]:6.1f}s  {h[1]:5d} evals  best {h[2]:.6g}", file=sys.stderr)

    f = search(r, families=a.family, optimizer=a.optimizer, budget=budget, seed=a.seed, B=a.batch, method=a.method,
               factor=a.factor, stop_on_violation=not a.keep_going, T_max=a.T_max, examples=a.examples, progress=progress)
    out = Path(a.out) / _safe(r.key + ("" if a.factor == 1.0 else f"_x{a.factor:g}"))
    paths = write_outputs(f, out)
    print(f"{r.key} [{r.provenance.value}, {r.role.value}]" + ("" if a.factor == 1.0 else f", bound x {a.factor:g}"))
    print(f"{f.evals} evaluations of {a.batch} candidates, {f.restarts} instances, {f.seconds:.1f}s")
    if f.best is None:
        print("no candidate was checked (every run broke an assumption or was undefined)")
    else:
        b = f.best
        print(f"best: ratio {b.score:.6g}" + (" VIOLATED" if b.violated else "") + f" on {b.family} (d={b.params.get('d')}), "
              f"{b.optimizer} {b.options or ''} T={b.T}")
    for path in paths:
        print(path)
    return 1 if f.violated and r.asserted and a.factor == 1.0 else 0


def atlas_main(argv: Sequence[str] | None = None) -> int:
    """The slack atlas: per paper, result x family, the worst ratio on the library's example runs
    and the best the search finds within a fixed budget."""
    from ratecheck.papers import PAPERS

    from . import atlas

    p = _parser("ratecheck atlas", atlas_main.__doc__.splitlines()[0])
    keys = sorted(x.key for x in PAPERS if x.theory)
    p.add_argument("--paper", action="append", choices=keys, help="one paper (repeatable; default: all with results)")
    p.add_argument("--budget", type=_positive, default=10.0, help="seconds of search per (result, family) (default 10)")
    p.add_argument("--seed", type=_int(0), default=0)
    p.add_argument("-B", "--batch", type=_int(2), default=16)
    p.add_argument("--out", default="out/atlas", help="output folder (default out/atlas)")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="one result at a time here (default), or each result a Ray task")
    p.add_argument("--address", help="with --executor ray: the cluster to join, auto or HOST:PORT (default: start a local one)")
    a = p.parse_args(argv)
    if a.address is not None and a.executor != "ray":
        raise RatecheckError("--address needs --executor ray")
    ray_options = {"address": a.address} if a.executor == "ray" else None
    for path in atlas.write(a.paper or keys, Path(a.out), a.budget, a.seed, a.batch, a.executor, ray_options):
        print(path)
    return 0
