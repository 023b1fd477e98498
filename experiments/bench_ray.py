"""Benchmark: a spec's sweep through Ray against the in-process sweep, in one process.

Prints the wall time of the in-process run (torch's default threads), of the Ray run with 1 and
2 local workers (one CPU and one torch thread per cell), each as a ratio to the in-process run,
and Ray's overhead per task: the round trip of a task that receives a cell and returns nothing,
which is what Ray adds to every cell besides the cell's own compute.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from ratecheck.errors import RatecheckError, out_of_range


def _noop(cell) -> int:
    return cell.n_runs


def main(argv: list[str] | None = None) -> int:
    from ratecheck.cli import _load_spec

    from .sweep import run_spec

    ap = argparse.ArgumentParser(prog="ratecheck bench --ray", description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="demo", help="a shipped spec or a spec file (default: demo)")
    ap.add_argument("--quick", action="store_true", help="the spec's smoke size (T <= 200, 4 seeds)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local Ray worker counts (default: 1 2)")
    ap.add_argument("--tasks", type=int, default=50, help="tasks for the per-task overhead (default: 50)")
    args = ap.parse_args(argv)
    for name, values in (("workers", args.workers), ("tasks", [args.tasks])):
        for v in values:
            if v < 1:  # checked before the minutes of the in-process run; 0 Ray CPUs would wait forever
                raise out_of_range(f"--{name}", v, "integers >= 1")
    try:
        import ray
    except ModuleNotFoundError:
        raise RatecheckError("bench --ray needs Ray; allowed: install it with `pip install 'ratecheck[ray]'`") from None

    spec = _load_spec(args.spec, args.quick)
    cells = spec.cells()
    quiet = dict(progress=False, log=lambda m: None)

    def timed(**kw) -> float:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            run_spec(spec, out, **quiet, **kw)
            return time.perf_counter() - t0

    base = timed()
    print(f"{spec.name}: {len(cells)} cells, T={spec.T}, {len(spec.seeds)} seeds; in-process {base:.2f} s ({torch.get_num_threads()} torch threads)")
    print(f"{'executor':<22} {'wall s':>8} {'/ in-process':>13}")
    print(f"{'in-process':<22} {base:8.2f} {1.0:13.2f}")
    for w in args.workers:
        ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        try:
            t = timed(executor="ray")
            print(f"{f'ray, {w} worker(s)':<22} {t:8.2f} {t / base:13.2f}   (cluster start not counted)")
        finally:
            ray.shutdown()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        task = ray.remote(num_cpus=1)(_noop)
        ray.get([task.remote(cells[0]) for _ in range(5)])  # warm the worker
        t0 = time.perf_counter()
        ray.get([task.remote(c) for c in (cells * (args.tasks // len(cells) + 1))[: args.tasks]])
        per = (time.perf_counter() - t0) / args.tasks
    finally:
        ray.shutdown()
    print(f"Ray overhead per task (cell shipped, nothing computed): {1e3 * per:.1f} ms; per cell of this spec that is {per / (base / len(cells)):.1%} of its in-process time")
    return 0
