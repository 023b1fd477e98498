"""Runner overhead: the whole recorded step against oracle + optimizer alone, same process.

For one problem and optimizer, ``bare`` runs T steps of oracle + ``optimizer.step`` with nothing
recorded; ``full`` is ``runner.run`` with log-spaced checkpoints (every per-step scalar recorded,
objective-only quantities at checkpoints); ``record`` is ``runner.run`` with the objective at
steps 0 and T only (the per-step recording: target 3). All run on the same x0, hyper-parameters
and seeds, ``repeats`` times, each repeat ``PAIRS`` times bare, record, record, bare, then full:
a ratio of timings taken back to back, in an order that cancels a linear drift of the machine's
speed, is steadier than either timing on a shared CPU. Each column is the median over the repeats. With
one CPU thread the timings are the thread's CPU time (``time.thread_time``: time spent descheduled by other
processes on a shared machine does not count); otherwise wall-clock time. The bare loop uses
the fused oracle ``value_and_grad`` as the runner does. The problems are every problem of the
demo spec (``specs/demo.toml``) with its oracle, each with SGD, plus two learning-rate-free rows.
Target (issue 13 target 3): recording / bare <= 1.2 on every demo problem; the verdict is "ok"
when every repeat meets it, "MISSED" when none does, "noise" otherwise (``targets``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from ratecheck.device import resolve_device, resolve_dtype
from ratecheck.errors import RatecheckError

from . import spec as spec_mod
from . import targets
from .runner import run
from .trace import log_checkpoints

DEMO = Path(__file__).parent / "specs" / "demo.toml"
# Sequences of bare, record, record, bare per repeat (``measure``): on l1_distance (T = 1000,
# 2-core CI machine) the standard deviation of a repeat's record / bare went from 0.10-0.16 with
# one to 0.07-0.08 with four (15 repeats each, 2026-12-07 23:58 UTC).
PAIRS = 4


def cases() -> list[tuple]:
    """(problem, params, optimizer, options, hp, batch_size or None): SGD on every problem of the
    demo spec with the spec's oracle, then MoMo and D-Adaptation on its finite sums."""
    problems = spec_mod.load(DEMO).problems
    out = [(p.name, p.params, "sgd", {}, {"lr": 0.01}, p.batch_size) for p in problems]
    for p in problems:
        if p.batch_size is not None:
            out += [(p.name, p.params, "momo", {}, {"lr": 1.0}, p.batch_size),
                    (p.name, p.params, "dadapt_da", {}, {}, p.batch_size)]
    return out


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def clock(dev: torch.device):
    """The thread's CPU time for one-thread CPU runs, else wall-clock time."""
    return time.thread_time if dev.type == "cpu" and torch.get_num_threads() == 1 else time.perf_counter


def bare_loop(problem, opt, x0, T, hp, seeds, batch_size) -> torch.Tensor:
    """T steps of oracle + optimizer with nothing recorded (the baseline; minibatch indices drawn
    32 steps at a time, as the runner draws them)."""
    state = opt.init(x0, **hp)
    draws = None if batch_size is None else problem.indices_by_step(seeds, range(T), batch_size)
    for _ in range(T):
        x = state["x"]
        if draws is None:
            (loss, g), idx = problem.value_and_grad(x), None
        else:
            idx = next(draws)
            loss, g = problem.component_value(x, idx), problem.component_grad(x, idx)
        state, _ = opt.step(state, g, loss, idx)
    return state["x"]


def measure(problem_name, params, opt_name, options, hp, batch_size, *, B=64, T=1000, checkpoints=120, repeats=3,
            device="auto", dtype="float64") -> dict:
    from ratecheck import optimizers, problems

    dev, dt = resolve_device(device), resolve_dtype(dtype)
    problem = problems.get(problem_name, **params)
    opt = optimizers.get(opt_name, **options)
    x0 = problem.x0(B, seed=0, dtype=dt, device=dev)
    seeds = torch.arange(B, device=dev)
    hp = dict(hp)
    for name in opt.problem_kwargs:
        hp.setdefault(name, getattr(problem, name))
    if getattr(opt, "schedule", None) is not None:
        hp.setdefault("T", T)
    cp = log_checkpoints(T, checkpoints)
    bare_loop(problem, opt, x0, min(T, 20), dict(hp), seeds, batch_size)  # warm-up (caches, kernels)
    t_bare, t_full, t_book = [], [], []
    ends = torch.tensor([0, T])
    now = clock(dev)

    def timed(fn) -> float:
        _sync(dev)
        t0 = now()
        fn()
        _sync(dev)
        return now() - t0

    def bare():
        bare_loop(problem, opt, x0, T, dict(hp), seeds, batch_size)

    def book(points):
        return lambda: run(problem, opt, x0, T, hp=dict(hp), seeds=seeds, batch_size=batch_size, checkpoints=points)

    for _ in range(repeats):
        # bare, record, record, bare: a speed that drifts over the four runs weighs on both sums
        # alike, to first order; one bare-then-record pair charged it to one. PAIRS such
        # sequences a repeat: one sequence of ~0.1 s runs gave ratios over a range of 0.4-0.6 on
        # this shared machine.
        bare_s = book_s = 0.0
        for _ in range(PAIRS):
            first = timed(bare)
            book_s += timed(book(ends)) + timed(book(ends))
            bare_s += first + timed(bare)
        t_book.append(book_s / (2 * PAIRS))
        t_bare.append(bare_s / (2 * PAIRS))
        t_full.append(timed(book(cp)))
    med = statistics.median
    return {
        "problem": problem_name, "optimizer": opt_name, "oracle": "deterministic" if batch_size is None else f"minibatch {batch_size}",
        "B": B, "T": T, "bare_s": med(t_bare), "full_s": med(t_full),
        "overhead": med(f / b for f, b in zip(t_full, t_bare)) - 1.0,
        # Per-step recording alone (the objective evaluated at steps 0 and T only): issue 13's target 3.
        "bookkeeping_s": med(t_book), "bookkeeping_ratios": [k / b for k, b in zip(t_book, t_bare)],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ratecheck bench --runner", description=__doc__.splitlines()[0])
    p.add_argument("-B", type=int, default=64, help="runs per batch")
    p.add_argument("-T", type=int, default=1000, help="steps")
    p.add_argument("--checkpoints", type=int, default=120)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="float64")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's; 1 times CPU time)")
    a = p.parse_args(argv)
    for name in ("B", "T", "checkpoints", "repeats", "threads"):
        v = getattr(a, name)
        if v is not None and v < 1:
            raise RatecheckError(f"{'-' if len(name) == 1 else '--'}{name}={v} is out of range; allowed: integers >= 1")
    resolve_dtype(a.dtype)  # a bad dtype or device: one line before any table output
    resolve_device(a.device)
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    from ratecheck import optimizers, problems

    print(f"# runner overhead: B={a.B}, T={a.T}, checkpoints={a.checkpoints}, device={resolve_device(a.device)}, "
          f"threads={torch.get_num_threads()}, {clock(resolve_device(a.device)).__name__}; median of {a.repeats} ratios")
    print(f"{'problem':<16}{'optimizer':<12}{'oracle':<14}{'bare s':>9}{'full s':>9}{'full/bare':>10}"
          f"{'record/bare [range]':>22}{'target':>8}")
    verdicts = []
    for prob, params, opt, options, hp, bs in cases():
        if prob not in problems.names() or opt not in optimizers.names():
            print(f"{prob:<16}{opt:<12}(not registered, skipped)")
            continue
        r = measure(prob, params, opt, options, hp, bs, B=a.B, T=a.T, checkpoints=a.checkpoints, repeats=a.repeats,
                    device=a.device, dtype=a.dtype)
        ratios = r["bookkeeping_ratios"]
        verdicts.append(targets.RECORD.verdict(ratios))
        print(f"{prob:<16}{opt:<12}{r['oracle']:<14}{r['bare_s']:>9.3f}{r['full_s']:>9.3f}{1 + r['overhead']:>10.2f}"
              f"{targets.spread(ratios):>22}{verdicts[-1]:>8}")
    print(f"# target 3: {targets.RECORD}: {verdicts.count('ok')} ok, {verdicts.count('MISSED')} MISSED, {verdicts.count('noise')} "
          f"noise ({targets.legend(a.repeats)}).\n"
          f"# 'record' is the per-step recording (distances, gradient norms, losses, optimizer info); 'full' adds f at\n"
          f"# the last and average iterate at every checkpoint: for a finite sum each is a full pass over the data\n"
          f"# (n / batch_size minibatch steps; `record` is the lever).")
    return 0
