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
from .tables import render

KINDS = ("rate", "slack", "d", "lyapunov", "schedule", "lr-sensitivity")


def _table(rows: list[dict], floatfmt: str = "{:.6g}") -> str:
    if not rows:
        return "(empty)"
    cols = list(rows[0])
    cells = [[floatfmt.format(r[c]) if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    return render(cols, cells)


def positive(kind=float):
    """An argparse type: a finite number > 0 (``kind`` float or int)."""
    return _bounded(kind, lambda v: v > 0, "(0, inf)" if kind is float else "integers >= 1")


def at_least(lo: float, kind=int):
    """An argparse type: a finite number >= ``lo``."""
    return _bounded(kind, lambda v: v >= lo, f"integers >= {lo}" if kind is int else f"[{lo:g}, inf)")


def _bounded(kind, ok, allowed: str):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            v = None
        if v is None or v != v or v in (float("inf"), float("-inf")) or not ok(v):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; allowed: {allowed}")
        return v

    parse.__name__ = kind.__name__
    return parse


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
                "optimizers": ", ".join(r.optimizers),
                "requires": ", ".join(sorted(r.requires)) or "-",
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
    spec = specmod.load(path, quick=quick)
    if dtype is not None:
        resolve_dtype(dtype)
        spec.dtype = dtype
    return spec


def writable_folder(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a folder this process can write into (created if missing); else one line."""
    import os

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise RatecheckError(f"{flag} {str(p)!r} is a file; allowed: a folder (created if missing)")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RatecheckError(f"{flag} {str(p)!r} cannot be created ({e.strerror}); allowed: a writable folder") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise RatecheckError(f"{flag} {str(p)!r} is not writable; allowed: a writable folder")
    return p


def _check_device(name: str | None) -> None:
    if name is not None:
        from .device import resolve_device

        resolve_device(name)


def _summary_line(rows: list[dict], divergence: str = "") -> str:
    """The table's one-line summary: the headline, and how many runs diverged."""
    from .theory import report

    return " | ".join(x for x in (report.headline(rows), divergence) if x)


def _report(rows: list[dict], wide: bool = False, divergence: str = "") -> int:
    """Print the check table and its one-line summary; 1 if an asserted result is VIOLATED or ERROR."""
    from .experiments.store import format_table
    from .theory import report

    print(format_table(rows, wide=wide))
    print(f"\n{_summary_line(rows, divergence)}")
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
    writable_folder(args.out)
    spec.compile = spec.compile or args.compile
    ray_options = None
    if args.executor == "ray":
        ray_options = {"address": args.address, "cpus_per_cell": args.cpus_per_cell, "gpus_per_cell": args.gpus_per_cell}
    elif args.address is not None or args.cpus_per_cell != 1 or args.gpus_per_cell != 0:
        raise RatecheckError("--address, --cpus-per-cell and --gpus-per-cell need --executor ray")
    summ = run_spec(spec, args.out, device=args.device, force=args.force, progress=None if not args.no_progress else False,
                    executor=args.executor, ray_options=ray_options)
    print(f"results: {summ.path}  ({len(summ.computed)} cells computed, {len(summ.cached)} cached)", file=sys.stderr)
    return _report(summ.rows, args.wide, summ.divergence), summ.path


def cmd_run(args: argparse.Namespace) -> int:
    spec = _load_spec(args.spec, args.quick, args.dtype)
    code, _ = _run(spec, args)
    return code


def cmd_check(args: argparse.Namespace) -> int:
    from .experiments.store import check_rows, divergence_line, open_results, summarize
    from .theory import report

    store = open_results(args.result_dir)
    cells = store.finished_cells()
    rows = check_rows(cells)
    diverged = divergence_line(cells)
    failing = 1 if report.failing(rows) else 0
    if args.summary:
        print(_table(summarize(rows)))
        print(f"\n{_summary_line(rows, diverged)}")
        return failing
    if args.failing:
        if not failing:
            print(f"no asserted result violated or failed to evaluate\n\n{_summary_line(rows, diverged)}")
            return 0
        return _report(report.failing(rows), args.wide, diverged)
    if args.csv:
        print((store.root / "checks.csv").read_text() if (store.root / "checks.csv").is_file() else "", end="")
        return failing
    return _report(rows, args.wide, diverged)


def cmd_export(args: argparse.Namespace) -> int:
    from .experiments.frames import export
    from .experiments.store import open_results

    open_results(args.result_dir)
    writable_folder(args.out or Path(args.result_dir) / "export")
    for p in export(args.result_dir, args.format, args.out):
        print(p)
    return 0


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
    writable_folder(args.out or Path(args.result_dir) / "figures")
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


def load_norms(path: str | Path):
    """A 1-D array of gradient norms from .npy (1-D), .csv (last column; a header row allowed)
    or whitespace-separated text. Every entry must be a finite number >= 0: an empty field, NaN
    or a 2-D array is an error naming where, never dropped or flattened."""
    import csv as csvmod

    import numpy as np

    path = str(path)
    p = Path(path)
    if not p.is_file():
        raise RatecheckError(f"norms file {path!r} not found")
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".csv", ".txt", ".dat", ""):
        raise RatecheckError(f"norms file {path!r} has suffix {suffix!r}; allowed: .csv, .npy, .txt")

    def number(field: str, where: str) -> float:
        try:
            v = float(field)
        except ValueError:
            raise RatecheckError(f"norms file {path!r}: {where} is {field!r}, not a number; allowed: finite numbers >= 0") from None
        if not (np.isfinite(v) and v >= 0):
            raise RatecheckError(f"norms file {path!r}: {where} is {v!r}; allowed: finite numbers >= 0")
        return v

    try:
        if suffix == ".npy":
            a = np.load(p, allow_pickle=False)
            if a.ndim != 1:
                raise RatecheckError(f"norms file {path!r} holds an array of shape {a.shape}; allowed: a 1-D array")
            if a.dtype.kind not in "iuf":
                raise RatecheckError(f"norms file {path!r} holds {a.dtype} values; allowed: numbers")
            bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
            if bad.size:
                raise RatecheckError(f"norms file {path!r}: entry {bad[0]} is {a[bad[0]].item()!r}; allowed: finite numbers >= 0")
        elif suffix == ".csv":
            rows = [(i + 1, r) for i, r in enumerate(csvmod.reader(p.read_text(encoding="utf-8").splitlines())) if r]
            if rows and not _is_number(rows[0][1][-1]):
                rows = rows[1:]  # a header row
            a = np.array([number(r[-1].strip(), f"line {n} (last column)") for n, r in rows], dtype=np.float64)
        else:
            a = np.array([number(f, f"entry {i + 1}") for i, f in enumerate(p.read_text(encoding="utf-8").split())], dtype=np.float64)
    except (ValueError, EOFError, OSError, UnicodeDecodeError) as e:
        if isinstance(e, RatecheckError):
            raise
        raise RatecheckError(f"norms file {path!r} could not be read ({type(e).__name__}: {e}); allowed: .npy, or UTF-8 .csv/.txt of numbers") from None
    a = np.asarray(a, dtype=np.float64)
    if a.size < 2:
        raise RatecheckError(f"norms file {path!r} holds {a.size} value(s); allowed: at least 2 gradient norms")
    return a


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def cmd_refine(args: argparse.Namespace) -> int:
    import numpy as np

    norms = load_norms(args.norms_file)
    out = writable_folder(args.out or "out")
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
    if args.ray:
        from .experiments.bench_ray import main as ray_main

        return ray_main(args.bench_args)
    mod = _lazy("ratecheck.experiments.bench", "ratecheck bench")
    return int(mod.main(args.bench_args) or 0)


# -- parser --------------------------------------------------------------------------------


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2) instead of usage + error."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="ratecheck", description="Put step-size theory to the test: run grids of optimizers, check the bounds, plot.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser, metavar="COMMAND")

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
        sp.add_argument("--compile", action="store_true", help="each iteration (oracle + step) through torch.compile (slow to start)")
        sp.add_argument("--out", default=out_default, help=f"parent folder of results folders (default: {out_default})")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
        sp.add_argument("--wide", action="store_true", help="the check table with the reason and statement columns")
        sp.add_argument("--executor", choices=("local", "ray"), default="local", help="where cells run: this process (default) or Ray tasks")
        sp.add_argument("--address", help="Ray cluster to join: auto or HOST:PORT (default: start a local one)")
        sp.add_argument("--cpus-per-cell", type=positive(float), default=1, metavar="N", help="CPUs a Ray task asks for (default 1)")
        sp.add_argument("--gpus-per-cell", type=at_least(0, float), default=0, metavar="N", help="GPUs a Ray task asks for (default 0)")

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
    which = sp.add_mutually_exclusive_group()
    which.add_argument("--summary", action="store_true", help="one line per result: runs checked, violated, worst ratio")
    which.add_argument("--failing", action="store_true", help="only the rows of asserted results violated or failed to evaluate")
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("export", help="a results folder as data: runs and checks tables (parquet or csv)",
                        description="Write RESULT_DIR's runs (one row per cell, run and recorded step, with the hyper-parameters) "
                        "and its check table as runs.FORMAT and checks.FORMAT; in Python: ratecheck.experiments.load(DIR).")
    sp.add_argument("result_dir", metavar="RESULT_DIR")
    sp.add_argument("--format", default="parquet", choices=("parquet", "csv"), help="file format (default: parquet)")
    sp.add_argument("--out", help="output folder (default: RESULT_DIR/export)")
    sp.set_defaults(func=cmd_export)

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

    # No options of its own (not even --help): every argument goes to ratecheck.theory.pep.main,
    # whose parser lists the options (`ratecheck pep --help`).
    sp = sub.add_parser("pep", help="PEPit worst case beside the bounds (`ratecheck pep --help` for its options)", add_help=False)
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
    sp.add_argument("--ray", action="store_true", help="a spec's sweep through local Ray workers vs in-process, and Ray's per-task overhead")
    sp.epilog = "Any further arguments go to the benchmark (with --runner: -B, -T, --checkpoints, --repeats, --device, --dtype; with --ray: --spec, --quick, --workers, --tasks)."
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
    except BrokenPipeError:
        # The reader went away (`ratecheck list results | head`): stop quietly. Point stdout at
        # devnull so that the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by a closed pipe
    except (MemoryError, RuntimeError) as e:
        # An allocation the memory estimate did not foresee (torch's CPU allocator raises a
        # RuntimeError, CUDA an OutOfMemoryError, a RuntimeError too): one line; any other
        # RuntimeError is a bug and keeps its traceback.
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if not isinstance(e, MemoryError) and "allocate" not in msg and "out of memory" not in msg.lower():
            raise
        print(f"ratecheck: error: out of memory: {msg[:200]}; allowed: a smaller T, record (checkpoints) or max_batch (runs per batch)", file=sys.stderr)
        return 2
    except OSError as e:
        # A file or folder this command cannot read or write (a full disk, a permission changed mid-run).
        where = f" {e.filename!r}" if e.filename else ""
        print(f"ratecheck: error: cannot access{where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ratecheck: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
