"""The ``ratecheck`` command line. User mistakes print one line and exit 2, never a traceback.

Exit status: 0 success; 1 an asserted result (a theorem or implementation check, not an erratum
or [UNVERIFIED]) is violated or failed to evaluate (``run``, ``check``, ``demo``, ``reproduce``;
``theory.report.failing``); 2 a user mistake.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from importlib import resources
from pathlib import Path

from .errors import RatecheckError

KINDS = ("rate", "slack", "d", "lyapunov", "schedule", "lr-sensitivity")


def _table(rows: list[dict], floatfmt: str = "{:.6g}") -> str:
    if not rows:
        return "(empty)"
    cols = list(rows[0])
    cells = [[floatfmt.format(r[c]) if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    width = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, width)).rstrip()
    return "\n".join([line(cols), line(["-" * w for w in width]), *map(line, cells)])


# -- list ------------------------------------------------------------------------------------


def _optimizer_rows() -> list[dict]:
    from . import optimizers

    rows = []
    for name, factory in optimizers.OPTIMIZERS.items():
        try:
            sig = inspect.signature(factory)
            options = ", ".join(
                f"{p.name}={p.default!r}" for p in sig.parameters.values() if p.default is not inspect.Parameter.empty
            )
        except (TypeError, ValueError):
            options = ""
        try:
            opt = factory()
            hps = ", ".join(
                f"{k}{'' if v.default is None else '=' + format(v.default, 'g')} {v.allowed()}" for k, v in opt.hyperparams.items()
            )
            ref = getattr(opt, "reference", "")
        except Exception as e:  # an optimizer that needs options still gets a row
            hps, ref = f"(needs options: {e})", ""
        rows.append({"name": name, "hyper-parameters": hps or "-", "options": options or "-", "reference": ref or "-"})
    return rows


def _result_rows() -> list[dict]:
    from . import theory

    rows = []
    for key, r in theory.RESULTS.items():
        rows.append(
            {
                "key": key,
                "provenance": f"[{r.provenance.value}]",
                "role": r.role.value,
                "kind": r.kind,
                "optimizers": ",".join(r.optimizers),
                "requires": ",".join(sorted(r.requires)) or "-",
                "oracle": r.oracle,
                "iterate": r.iterate,
                "paper": f"{r.paper} {r.label}".strip() + (f" (arXiv {r.arxiv})" if r.arxiv else ""),
            }
        )
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    from . import problems_table

    what = [args.what] if args.what else ["problems", "optimizers", "results"]
    for i, w in enumerate(what):
        if len(what) > 1:
            print(("\n" if i else "") + f"== {w} ==")
        rows = problems_table() if w == "problems" else _optimizer_rows() if w == "optimizers" else _result_rows()
        print(_table(rows) if rows else f"(no {w} registered)")
    return 0


def cmd_problems(args: argparse.Namespace) -> int:
    from . import problems_table

    print(_table(problems_table()))
    return 0


# -- run / check / plot ------------------------------------------------------------------------


def shipped_specs() -> dict[str, Path]:
    """The spec files shipped in ratecheck.experiments/specs, by stem."""
    folder = resources.files("ratecheck.experiments") / "specs"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def _load_spec(arg: str, quick: bool = False, dtype: str | None = None):
    from .device import resolve_dtype
    from .experiments import spec as specmod

    path = Path(arg)
    if not path.is_file():
        shipped = shipped_specs()
        if arg in shipped:
            path = shipped[arg]
        else:
            raise RatecheckError(f"spec file {arg!r} not found; shipped specs: {', '.join(sorted(shipped))}")
    spec = specmod.load(path)
    if dtype is not None:
        resolve_dtype(dtype)
        spec.dtype = dtype
    return spec.quick() if quick else spec


def _check_device(name: str | None) -> None:
    if name is not None:
        from .device import resolve_device

        resolve_device(name)


def _report(rows: list[dict], wide: bool = False) -> int:
    """Print the check table and its headline; 1 if an asserted result is VIOLATED or ERROR."""
    from .experiments.store import format_table
    from .theory import report

    print(format_table(rows, wide=wide))
    print(f"\n{report.headline(rows)}")
    if not wide and any(r.get("reason") for r in rows):
        print("why rows are n/a or ERROR: the reason column of --wide or checks.csv", file=sys.stderr)
    bad = report.failing(rows)
    if bad:
        print(f"{len(bad)} asserted result(s) violated or failed to evaluate", file=sys.stderr)
        return 1
    return 0


def _run(spec, args) -> tuple[int, Path]:
    from .experiments.sweep import run_spec

    _check_device(args.device)
    summ = run_spec(spec, args.out, device=args.device, force=args.force, progress=None if not args.no_progress else False)
    print(f"results: {summ.path}  ({len(summ.computed)} cells computed, {len(summ.cached)} cached)", file=sys.stderr)
    return _report(summ.rows, args.wide), summ.path


def cmd_run(args: argparse.Namespace) -> int:
    spec = _load_spec(args.spec, args.quick, args.dtype)
    code, _ = _run(spec, args)
    return code


def cmd_check(args: argparse.Namespace) -> int:
    from .experiments.store import check_rows, open_results

    store = open_results(args.result_dir)
    cells = store.cells()
    if not cells:
        raise RatecheckError(f"{args.result_dir!r} holds no finished cells yet; run the spec first")
    rows = check_rows(cells)
    if args.csv:
        from .theory import report

        print((store.root / "checks.csv").read_text() if (store.root / "checks.csv").is_file() else "", end="")
        return 1 if report.failing(rows) else 0
    return _report(rows, args.wide)


def _plot(result_dir, kinds, out, fmt) -> list[Path]:
    from .figures import plot_results

    paths, notes = plot_results(result_dir, kinds=kinds, out=out, fmt=fmt)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    for p in paths:
        print(p)
    return paths


def cmd_plot(args: argparse.Namespace) -> int:
    from .experiments.store import open_results

    open_results(args.result_dir)
    _plot(args.result_dir, args.kind or list(KINDS), args.out, args.format)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    spec = _load_spec("demo", args.quick, args.dtype)
    code, path = _run(spec, args)
    _plot(path, list(KINDS), None, "png")
    return code


def cmd_reproduce(args: argparse.Namespace) -> int:
    papers = sorted(k for k in shipped_specs() if k != "demo")
    if args.paper not in papers:
        raise RatecheckError(f"unknown paper {args.paper!r}; known papers: {', '.join(papers) or '(none shipped)'}")
    spec = _load_spec(args.paper, args.quick, args.dtype)
    code, path = _run(spec, args)
    _plot(path, list(KINDS), None, "png")
    return code


# -- refine / pep / bench ------------------------------------------------------------------


def _lazy(module: str, what: str):
    """Import a module written elsewhere in the package; a clear error if it is not there yet."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name) or e.name == module:
            raise RatecheckError(f"{what} is not available: module {module} is missing from this installation") from None
        raise


def load_norms(path: str):
    """A 1-D array of gradient norms from .npy, .csv (last numeric column) or whitespace text."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise RatecheckError(f"norms file {path!r} not found")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            a = np.load(p, allow_pickle=False)
        elif suffix == ".csv":
            a = np.genfromtxt(p, delimiter=",", skip_header=0)
            if a.ndim == 2:
                a = a[:, -1]
            a = a[~np.isnan(a)] if a.size and np.isnan(a[0]) else a  # a header row reads as NaN
        elif suffix in (".txt", ".dat", ""):
            a = np.array(p.read_text().split(), dtype=np.float64)
        else:
            raise RatecheckError(f"norms file {path!r} has suffix {suffix!r}; allowed: .csv, .npy, .txt")
    except ValueError as e:
        if isinstance(e, RatecheckError):
            raise
        raise RatecheckError(f"norms file {path!r} could not be read as numbers: {e}") from None
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    if a.size < 2:
        raise RatecheckError(f"norms file {path!r} holds {a.size} value(s); allowed: at least 2 gradient norms")
    if not np.isfinite(a).all() or (a < 0).any():
        raise RatecheckError(f"norms file {path!r} has negative or non-finite entries; allowed: finite norms >= 0")
    return a


def cmd_refine(args: argparse.Namespace) -> int:
    import numpy as np

    norms = load_norms(args.norms_file)
    mod = _lazy("ratecheck.optimizers.refine", "ratecheck refine")
    fn = next((getattr(mod, n) for n in ("refine_schedule", "refined_schedule", "refine") if callable(getattr(mod, n, None))), None)
    if fn is None:
        raise RatecheckError("ratecheck.optimizers.refine has no refine_schedule/refined_schedule/refine function")
    kwargs = {}
    if args.tau is not None:
        if "tau" not in inspect.signature(fn).parameters:
            raise RatecheckError(f"--tau is not supported by {fn.__module__}.{fn.__name__}")
        kwargs["tau"] = args.tau
    sched = fn(norms, **kwargs)
    sched = np.asarray(sched.detach().cpu() if hasattr(sched, "detach") else sched, dtype=np.float64).reshape(-1)
    out = Path(args.out or "out")
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.norms_file).stem
    csv_path = out / f"{stem}_refined.csv"
    from .atomic import atomic_write

    body = "step,grad_norm,multiplier\n" + "".join(
        f"{t},{float(norms[t]) if t < len(norms) else float('nan')!r},{float(v)!r}\n" for t, v in enumerate(sched)
    )
    atomic_write(csv_path, lambda f: f.write(body.encode()))
    from .figures.schedules import plot_refined

    png = plot_refined(norms, sched, out / f"{stem}_refined.png")
    print(csv_path)
    print(png)
    return 0


def cmd_pep(args: argparse.Namespace) -> int:
    mod = _lazy("ratecheck.theory.pep", "ratecheck pep")
    main = getattr(mod, "main", None)
    if not callable(main):
        raise RatecheckError("ratecheck.theory.pep has no main(argv) entry point")
    return int(main(args.pep_args) or 0)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.runner:
        from .experiments.overhead import main as overhead_main

        return overhead_main(args.bench_args)
    mod = _lazy("ratecheck.experiments.bench", "ratecheck bench")
    return int(mod.main(args.bench_args) or 0)


# -- parser --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2) instead of usage + error."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ratecheck", description="Put step-size theory to the test: run grids of optimizers, check the bounds, plot.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    sp = sub.add_parser("list", help="tables of problems, optimizers and theory results", description="Print the registries.")
    sp.add_argument("what", nargs="?", choices=("problems", "optimizers", "results"), help="one table only")
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("problems", help="the problem library with certified f*", description="Print the problem library.")
    sp.set_defaults(func=cmd_problems)

    def run_opts(sp, out_default="results"):
        sp.add_argument("--quick", action="store_true", help="smoke run: T <= 200 and at most 4 seeds")
        sp.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: the spec's, auto)")
        sp.add_argument("--dtype", help="float64 | float32 | bfloat16 (default: the spec's)")
        sp.add_argument("--force", action="store_true", help="recompute cells already stored")
        sp.add_argument("--out", default=out_default, help=f"parent folder of results folders (default: {out_default})")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
        sp.add_argument("--wide", action="store_true", help="the check table with the reason and statement columns")

    sp = sub.add_parser("run", help="run a spec (cached) and print the bound-check table",
                        description="Run the cells of SPEC missing from its results folder, then print the check table. "
                        "Exit 1 if an asserted result is violated or fails to evaluate.")
    sp.add_argument("spec", metavar="SPEC", help="a spec file, or the name of a shipped spec")
    run_opts(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("check", help="the bound-check table of a results folder (exit 1 on a violation)",
                        description="Print the check table of RESULT_DIR and its headline (theorems counted apart from "
                        "implementation checks, errata and unverified results); exit 1 if an asserted result (a theorem "
                        "or implementation check) is violated or failed to evaluate, never for errata or [UNVERIFIED].")
    sp.add_argument("result_dir", metavar="RESULT_DIR")
    sp.add_argument("--csv", action="store_true", help="print checks.csv instead of the table")
    sp.add_argument("--wide", action="store_true", help="add the reason and statement columns")
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("plot", help="figures from a results folder", description="Write figures of RESULT_DIR (default: all kinds).")
    sp.add_argument("result_dir", metavar="RESULT_DIR")
    sp.add_argument("--kind", action="append", choices=KINDS, help="figure kind (repeatable; default: all)")
    sp.add_argument("--out", help="output folder (default: RESULT_DIR/figures)")
    sp.add_argument("--format", default="png", choices=("png", "pdf", "svg"), help="image format")
    sp.set_defaults(func=cmd_plot)

    sp = sub.add_parser("refine", help="refined schedule from a gradient-norm log",
                        description="Compute the refined schedule (arXiv 2310.07831) from NORMS_FILE and plot it.")
    sp.add_argument("norms_file", metavar="NORMS_FILE", help=".csv (last column), .npy or .txt of per-step gradient norms")
    sp.add_argument("--tau", type=float, help="median-filter width as a fraction of the run")
    sp.add_argument("--out", help="output folder (default: out/)")
    sp.set_defaults(func=cmd_refine)

    sp = sub.add_parser("pep", help="PEPit worst case beside the bounds (arguments go to ratecheck.theory.pep)",
                        description="PEPit worst case of a fixed-schedule method; all arguments are passed to ratecheck.theory.pep.main.")
    sp.epilog = "Any further arguments (e.g. --method sgd --schedule linear -T 10) go to ratecheck.theory.pep.main."
    sp.set_defaults(func=cmd_pep)

    sp = sub.add_parser("reproduce", help="run a paper's spec and write its figures",
                        description="Run experiments/specs/PAPER.toml, print the check table and write the figures.")
    sp.add_argument("paper", metavar="PAPER", help="a shipped spec name other than demo")
    run_opts(sp)
    sp.set_defaults(func=cmd_reproduce)

    sp = sub.add_parser("demo", help="the default demo: a grid of methods, the bound-check table and figures",
                        description="Run the shipped demo spec, print the bound-check table and write every figure.")
    run_opts(sp)
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("falsify", help="search instances that break or tighten a result's bound (arguments go to ratecheck.falsify.cli)",
                        description="Adversarial search over problem families; see `ratecheck falsify --help`.", add_help=False)
    sp.set_defaults(func=lambda a: _lazy("ratecheck.falsify.cli", "ratecheck falsify").main(a.falsify_args))
    sp = sub.add_parser("atlas", help="slack atlas: per paper, result x family, library worst ratio and search best",
                        description="See `ratecheck atlas --help`.", add_help=False)
    sp.set_defaults(func=lambda a: _lazy("ratecheck.falsify.cli", "ratecheck atlas").atlas_main(a.atlas_args))

    sp = sub.add_parser("bench", help="benchmarks (--runner: recording overhead of the runner)",
                        description="Benchmarks. --runner measures the runner's recording overhead; otherwise ratecheck.experiments.bench runs.")
    sp.add_argument("--runner", action="store_true", help="runner overhead: whole step vs oracle + optimizer alone")
    sp.epilog = "Any further arguments go to the benchmark (with --runner: -B, -T, --checkpoints, --repeats, --device, --dtype)."
    sp.set_defaults(func=cmd_bench)
    return p


PASS_THROUGH = {"pep": "pep_args", "bench": "bench_args", "falsify": "falsify_args", "atlas": "atlas_args"}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command in PASS_THROUGH:
        setattr(args, PASS_THROUGH[args.command], rest)
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.func(args)
    except RatecheckError as e:
        print(f"ratecheck: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ratecheck: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
