"""Speed benchmark: batched ratecheck optimizers against the oracle alone and the authors' code.

Measured in one process, on one problem (least absolute deviations (1/n)||Ax - b||_1 with
n = 1000, d = 200, float32, B = 256 runs, 500 steps; the subgradient oracle is the same
batched matrix product for every column):

1. ``full / ceiling``: T steps of oracle + optimizer step for all B runs against T steps of the
   same oracle followed by ``x -= lr * g`` (the oracle-only ceiling: no optimizer can run
   faster), the two loops alternating every ``BLOCK`` steps. Target (issue 13): >= 0.9;
2. ``speed-up``: the batched run-steps per second against a Python loop over one reference
   optimizer per run (oracle + the authors' step); the loop runs on ``--loop-runs`` runs
   (default 4), and its cost per run-step does not depend on how many runs are looped over;
3. ``step / pass``: the optimizer step alone against one elementwise pass (``t.neg_()``) over
   the same state bytes (one read and one write of each byte, the memory bound). Target: <= 3x
   at B*d >= 1e6 (``--step-only --d 4000``). Beside it ``floor / pass`` (``bench_floor``): the
   least a step that leaves its input intact costs, which may exceed the target at a size
   where the pass runs from the cache.

Every ratio is computed from timings taken back to back in the same process, ``--repeats``
times (default 3), and reported as median [range]: the CPU may be shared, and a ratio of
adjacent timings is far steadier than either timing. A target's verdict reads every repeat
(``targets``): ok, MISSED, or noise when the repeats fall on both sides. With one CPU thread
(``--threads 1``) a timing is the thread's CPU time (``overhead.clock``): time the shared
machine spent on other processes does not count.

``python -m ratecheck.experiments.bench`` or ``ratecheck bench``; ``--gpu-scale`` runs the
large-batch GPU variant (B*d >= 1e8, float32), reporting coordinate-steps per second and the
step's time against a device-to-device copy of the same bytes.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ratecheck.device import resolve_device
from ratecheck.errors import RatecheckError, unknown
from ratecheck.experiments.overhead import clock
from ratecheck.optimizers import base as opt_base
from ratecheck.optimizers.compiled import TwoSteps, _own_code, compile_for, compile_with, compiled_step, freezes_eagerly, inductor_options

from . import targets


@dataclass
class Case:
    """One benchmarked method: our registered name/options/hps and the reference constructor."""

    name: str
    options: dict[str, Any]
    hp: dict[str, Any]
    reference: Callable[[list[torch.Tensor]], torch.optim.Optimizer] | None
    needs_loss: bool = False


def _cases() -> list[Case]:
    """Methods with an authors' (or torch.optim) reference; hps are the same on both sides."""

    def lazy(module: str, cls: str, **kw):
        def make(params):
            import importlib

            return getattr(importlib.import_module(module), cls)(params, **kw)

        return make

    def mechanic_sgd(params):
        from mechanic_pytorch import mechanize

        return mechanize(torch.optim.SGD)(params, lr=0.01)

    return [
        Case("sgd", {}, {"lr": 0.01}, lambda p: torch.optim.SGD(p, lr=0.01)),
        Case("sgd_momentum", {}, {"lr": 0.01, "momentum": 0.9}, lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)),
        Case("adam", {}, {"lr": 0.01}, lambda p: torch.optim.Adam(p, lr=0.01, foreach=False)),
        Case("adagrad", {}, {"lr": 0.1}, lambda p: torch.optim.Adagrad(p, lr=0.1, foreach=False)),
        Case("dadapt_sgd_code", {}, {"lr": 1.0}, lazy("dadaptation", "DAdaptSGD", lr=1.0)),
        Case("dadapt_adam_code", {}, {"lr": 1.0}, lazy("dadaptation", "DAdaptAdam", lr=1.0)),
        Case("dadapt_adagrad_code", {}, {"lr": 1.0}, lazy("dadaptation", "DAdaptAdaGrad", lr=1.0)),
        Case("prodigy_adam", {}, {"lr": 1.0}, lazy("prodigyopt", "Prodigy", lr=1.0)),
        Case("madgrad", {}, {"lr": 0.01}, lazy("madgrad", "MADGRAD", lr=0.01)),
        Case("mirror_madgrad", {}, {"lr": 0.01}, lazy("madgrad", "MirrorMADGRAD", lr=0.01)),
        Case("mechanic", {"base": "sgd"}, {"base_lr": 0.01}, mechanic_sgd),
        Case("momo", {}, {"lr": 1.0}, lazy("momo", "Momo", lr=1.0), needs_loss=True),
        Case("momo_adam", {}, {"lr": 0.01}, lazy("momo", "MomoAdam", lr=0.01), needs_loss=True),
    ]


class LAD:
    """(1/n)||Ax - b||_1 with a batched subgradient; the bench's only oracle."""

    def __init__(self, n: int, d: int, dtype: torch.dtype, device: torch.device, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        A = torch.randn(n, d, generator=g, dtype=torch.float64)
        b = A @ torch.randn(d, generator=g, dtype=torch.float64) + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)
        self.A = A.to(device=device, dtype=dtype)
        self.b = b.to(device=device, dtype=dtype)
        self.n = n

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = x @ self.A.T - self.b
        return r.abs().mean(dim=-1), torch.sign(r) @ self.A / self.n


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _state_tensors(state: dict, B: int) -> list[torch.Tensor]:
    """The [B, ...] tensors of ``state``, each once (a step may return one tensor under two
    names: Mechanic's x and its base method's x)."""
    out: dict[int, torch.Tensor] = {}
    for v in state.values():
        if isinstance(v, dict):
            out.update((id(t), t) for t in _state_tensors(v, B))
        elif isinstance(v, torch.Tensor) and v.ndim == 2 and v.shape[0] == B:
            out[id(v)] = v
    return list(out.values())


def _stepped(case: Case, oracle: LAD, x0: torch.Tensor) -> tuple[dict, dict]:
    """A method's state at x0 and the state one eager step later (whose tensors are all its own,
    where an initial state may share one buffer of zeros among several entries)."""
    opt = _optimizer(case)
    state = opt.init(x0, **case.hp)
    loss, g = oracle(x0)
    return state, opt.step(state, g, loss)[0]


GPU_SCALE = 10**8  # --gpu-scale: B*d at least this (issue 13, target 4)

_OPTIMIZERS: dict[str, opt_base.Optimizer] = {}


def _optimizer(case: Case) -> opt_base.Optimizer:
    """One instance per method for the whole benchmark (a compiled step is compiled once)."""
    if case.name not in _OPTIMIZERS:
        _OPTIMIZERS[case.name] = opt_base.get(case.name, **case.options)
    return _OPTIMIZERS[case.name]


def _step_of(opt: opt_base.Optimizer, compile: bool):
    return compiled_step(opt) if compile else opt.step


_ITERATIONS: dict[tuple[str, int], tuple[LAD, Callable[..., Any], Callable[..., Any]]] = {}


def _iteration(case: Case, oracle: LAD, compile: bool, T: int) -> Callable[[dict], tuple[dict, dict]]:
    """One iteration (oracle + step) of a method, in a run of T steps; ``compile``: as
    ``run(compile=True)``, the two as one ``torch.compile``d function (inductor fuses the
    oracle's elementwise work with the step), two steps a call while two remain of the T
    (``compiled.TwoSteps``), compiled once per method and oracle with code objects of their own."""
    opt = _optimizer(case)

    def iteration(state, out=None, hold=True):
        loss, g = oracle(state["x"])
        return (opt.step if hold else opt.advance)(state, g, loss, out=out)

    if not compile:
        return iteration

    def two_iterations(state):
        first = iteration(state)
        return first, iteration(first[0])

    key = (case.name, id(oracle))
    if key not in _ITERATIONS:  # the oracle kept alive with them: its id stays its own
        _ITERATIONS[key] = (oracle, compile_for(opt, _own_code(iteration)), compile_for(opt, _own_code(two_iterations)))
    _, fn, two = _ITERATIONS[key]
    steps = TwoSteps(two)

    def compiled(state, out=None):  # a compiled step allocates: no donation
        served = steps(state, two=state["k"] + 2 <= T)
        if served is not None:
            return served
        if not freezes_eagerly(oracle.A.device):
            return fn(state)
        return opt.hold_diverged(state, *fn(state, hold=False))

    return compiled


# Steps per block in ``bench_full_and_ceiling``: both loops alternate every BLOCK steps. Even,
# so that a compiled run's call of two steps (``TwoSteps``) never straddles two blocks.
BLOCK = 24


_CEILINGS: dict[int, tuple[LAD, Callable[..., Any]]] = {}


def _ceiling(oracle: LAD, compile: bool, T: int, lr: float) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """Step k of the oracle-only ceiling, ``x -= lr * g``, returning the new x. ``compile``:
    compiled as the full run is (two steps a call while two remain of the T, ``TwoSteps``; the
    last step of an odd T eagerly), so that the ceiling stays a ceiling: compiled, inductor fuses
    the oracle's own elementwise work (the residual's sign, its absolute mean), which the eager
    ceiling runs one operation at a time.

    The compiled ceiling returns each step's loss beside the new x: an oracle call is the value
    and the gradient, as in the full run (whose step reads the loss) and in the eager ceiling.
    Unused, inductor would drop the value's absolute mean as dead code, and the ceiling would do
    less oracle work than the full run (3.13 against 3.24 ms a step, docs/speed.md)."""

    def eager(x, k=0):
        _, g = oracle(x)
        return x.sub_(g, alpha=lr)

    if not compile:
        return eager

    def step(x):
        loss, g = oracle(x)
        return x - lr * g, loss

    def two_steps(x):
        first = step(x)
        return first, step(first[0])

    if id(oracle) not in _CEILINGS:  # the oracle kept alive with it: its id stays its own
        _CEILINGS[id(oracle)] = (oracle, compile_with(_own_code(two_steps), inductor_options("ceiling")))
    steps = TwoSteps(_CEILINGS[id(oracle)][1])

    def compiled(x, k):
        out = steps(x, two=k + 2 <= T)
        return eager(x) if out is None else out[0]

    return compiled


def bench_full_and_ceiling(case: Case, oracle: LAD, x0: torch.Tensor, T: int, compile: bool = False,
                           lr: float = 0.01) -> tuple[float, float]:
    """Seconds for T steps of oracle + step of all runs (the full run) and for T steps of the
    oracle followed by ``x -= lr * g`` (the oracle-only ceiling: no optimizer can run faster;
    compiled when the full run is, ``_ceiling``), timed in alternating blocks of ``BLOCK`` steps.

    Why alternating: this shared machine's speed drifts over seconds (the ceiling alone took
    3.4-4.1 ms a step in one process). Timed one after the other, T = 500 steps each, compiled
    Prodigy's ratio ranged 0.79-0.94 over five repeats; in alternating blocks of 25 steps,
    0.87-0.89 (2026-12-07): the sums see both loops under the same conditions."""
    now = clock(x0.device)  # one thread on the CPU: its CPU time (experiments/overhead.py)
    opt = _optimizer(case)
    iteration = _iteration(case, oracle, compile, T)
    ceiling = _ceiling(oracle, compile, T, lr)
    state, x = opt.init(x0, **case.hp), x0.clone()
    for k in range(4):  # warm-up (allocator, lazy imports, compilation: the step counter recompiles once)
        state, _ = iteration(state)
        x = ceiling(x, k)
    state, spare, x = opt.init(x0, **case.hp), None, x0.clone()
    t_full = t_ceiling = 0.0
    for start in range(0, T, BLOCK):
        n = min(BLOCK, T - start)
        _sync(x0.device)
        t0 = now()
        for k in range(start, start + n):
            x = ceiling(x, k)
        _sync(x0.device)
        t1 = now()
        for _ in range(n):
            new, _ = iteration(state, spare)  # donates the state from two steps back, as the runner (eager only)
            spare, state = state, new
        _sync(x0.device)
        t_full, t_ceiling = t_full + now() - t1, t_ceiling + t1 - t0
    return t_full, t_ceiling


def bench_loop(case: Case, oracle: LAD, x0: torch.Tensor, T: int, runs: int) -> float:
    """Seconds for T steps of ``runs`` reference optimizers, one after the other."""
    now = clock(x0.device)  # one thread on the CPU: its CPU time (experiments/overhead.py)
    _loop(case, oracle, x0, 3, 1)  # warm-up (imports, allocator)
    t0 = now()
    _loop(case, oracle, x0, T, runs)
    _sync(x0.device)
    return now() - t0


def _loop(case: Case, oracle: LAD, x0: torch.Tensor, T: int, runs: int) -> None:
    for r in range(runs):
        p = torch.nn.Parameter(x0[r].clone())
        ref = case.reference([p])
        for _ in range(T):
            loss, g = oracle(p.detach()[None])
            p.grad = g[0]
            if case.needs_loss:
                ref.step(loss=loss[0])
            else:
                ref.step()


def step_loop(step, state: dict, grads: tuple[torch.Tensor, torch.Tensor], loss: torch.Tensor, reps: int) -> dict:
    """``reps`` steps from ``state``, the gradient alternating between ``grads[0]`` and
    ``grads[1]`` (g and -g: with one gradient repeated, D-Adaptation's and Prodigy's estimates grow
    until every run overflows and is frozen, and the step timed would be the freeze), donating the
    state from two steps back."""
    s, spare = state, None
    for i in range(reps):
        new, _ = step(s, grads[i % 2], loss, out=spare)
        spare, s = s, new
    return s


# Warm-up blocks before the step is timed, at most: until a block faults no page in.
WARM_BLOCKS = 10


def minor_faults() -> int | None:
    """The process's minor page faults so far (``getrusage``); None without ``resource`` (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _steady(block: Callable[[Any, int], Any], start: Any, reps: int, device: torch.device) -> tuple[float, float | None]:
    """(seconds per step, minor page faults per step) of ``block(s, reps)``, which takes ``reps``
    steps from ``s`` and returns the state it ends in, timed in its steady state: after warm-up
    blocks until one faults no page in (at most ``WARM_BLOCKS``).

    While glibc's heap still grows, each growth faults a fresh [B, d] buffer in page by page: at
    B*d = 1e7 a compiled SGD step took 13-16 ms in a block with ~1000 faults a step and 9 ms
    without, for its first ~80 steps (a one-time cost per run). The faults of the timed block
    are returned so that a table shows when the window still caught some."""
    now = clock(device)  # one thread on the CPU: its CPU time (experiments/overhead.py)
    s = block(start, 3)
    for _ in range(WARM_BLOCKS):
        f0 = minor_faults()
        s = block(s, reps)
        if f0 is None or minor_faults() == f0:
            break
    _sync(device)
    f0 = minor_faults()
    t0 = now()
    block(s, reps)
    _sync(device)
    return (now() - t0) / reps, None if f0 is None else (minor_faults() - f0) / reps


def bench_step_vs_pass(case: Case, oracle: LAD, x0: torch.Tensor, reps: int, compile: bool = False) -> tuple[float, float, int, float | None]:
    """(seconds per step alone, seconds per elementwise pass over the state bytes, state bytes,
    minor page faults per timed step).

    The step is timed in its steady state (``_steady``). A compiled step allocates its new state
    (no donation)."""
    now = clock(x0.device)
    opt = _optimizer(case)
    step = _step_of(opt, compile)
    loss, g = oracle(x0)
    grads = (g, -g)
    t_step, faults = _steady(lambda s, n: step_loop(step, s, grads, loss, n), opt.init(x0, **case.hp), reps, x0.device)
    tensors = _state_tensors(_stepped(case, oracle, x0)[1], x0.shape[0])
    nbytes = sum(t.numel() * t.element_size() for t in tensors)
    scratch = [t.clone() for t in tensors]
    _sync(x0.device)
    t0 = now()
    for _ in range(reps):
        for t in scratch:
            t.neg_()
    _sync(x0.device)
    return t_step, (now() - t0) / reps, nbytes, faults


def _pairs(state: dict, new: dict):
    """(old, new) for every tensor entry of ``state``, nested dicts included."""
    for k, v in state.items():
        if isinstance(v, dict):
            yield from _pairs(v, new[k])
        elif isinstance(v, torch.Tensor):
            yield v, new[k]


def _replaced(state: dict, new: dict, shape: torch.Size) -> list[torch.Tensor]:
    """The tensors of ``state`` shaped like x that a step replaced (``new`` holds another object
    under that name), one per new tensor: Mechanic's reference point is carried over, and its new
    x is also its base method's."""
    out: dict[int, torch.Tensor] = {}
    for old, t in _pairs(state, new):
        if old.shape == shape and t is not old:
            out.setdefault(id(t), old)
    return list(out.values())


_FLOORS: dict[int, Callable[..., Any]] = {}


def bench_floor(case: Case, oracle: LAD, x0: torch.Tensor, reps: int, compile: bool = False) -> float:
    """Seconds per call of the least work of a step that leaves its input state intact: read each
    [B, d] tensor the method's step replaces and the gradient, and write each anew
    (``t - 0.01 * g``; with ``compile``, all of them in one compiled function). No divergence
    probe, no per-run reduction: no such step of the method can take less memory traffic.

    Timed as ``bench_step_vs_pass`` times the step (``_steady``, the gradient alternating with its
    negative, three states alive), so floor / pass is the least step / pass that the functional
    API allows at this size on this machine."""
    loss, g = oracle(x0)
    tensors = _replaced(*_stepped(case, oracle, x0), x0.shape)

    def update(ts: list[torch.Tensor], grad: torch.Tensor) -> list[torch.Tensor]:
        return [t - 0.01 * grad for t in ts]

    fn = update
    if compile:
        if len(tensors) not in _FLOORS:  # a code object per length: dynamo's cache is per code object
            _FLOORS[len(tensors)] = compile_with(_own_code(update), inductor_options("floor"))
        fn = _FLOORS[len(tensors)]
    grads = (g, -g)

    def block(ts: list[torch.Tensor], n: int) -> list[torch.Tensor]:
        spare = None
        for i in range(n):
            new = fn(ts, grads[i % 2])
            spare, ts = ts, new  # as ``step_loop``: three states alive
        return ts

    return _steady(block, [t.clone() for t in tensors], reps, x0.device)[0]


def bench_step_vs_copy(case: Case, oracle: LAD, x0: torch.Tensor, reps: int, compile: bool = False) -> tuple[float, float]:
    """GPU variant: step time against a device-to-device copy of the same state bytes."""
    now = clock(x0.device)  # one thread on the CPU: its CPU time (experiments/overhead.py)
    t_step = bench_step_vs_pass(case, oracle, x0, reps, compile)[0]
    tensors = _state_tensors(_stepped(case, oracle, x0)[1], x0.shape[0])
    dst = [torch.empty_like(t) for t in tensors]
    _sync(x0.device)
    t0 = now()
    for _ in range(reps):
        for a, b in zip(dst, tensors):
            a.copy_(b)
    _sync(x0.device)
    return t_step, (now() - t0) / reps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ratecheck bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--d", type=int, default=200)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--loop-runs", type=int, default=4)
    ap.add_argument("--methods", nargs="*", help="subset of method names (default: all with a reference)")
    ap.add_argument("--repeats", type=int, default=3, help="timings per ratio; the median ratio is reported")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile: oracle + step as one function in the full run, the step alone in step/pass (once per method)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--gpu-scale", action="store_true", help="large batch (B*d >= 1e8), step vs device copy")
    ap.add_argument("--step-only", action="store_true",
                    help="only the step-vs-elementwise-pass column (e.g. at a large --d, where the oracle would be slow)")
    args = ap.parse_args(argv)

    for name in ("n", "d", "batch", "steps", "loop_runs", "repeats", "threads"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise RatecheckError(f"--{name.replace('_', '-')}={v} is out of range; allowed: integers >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dtype = torch.float32
    registered = set(opt_base.names())
    benched = [c.name for c in _cases() if c.name in registered]
    for name in args.methods or ():
        if name not in benched:
            raise unknown("benchmarked method", name, benched)
    cases = [c for c in _cases() if c.name in registered and (not args.methods or c.name in args.methods)]
    missing = [c.name for c in _cases() if c.name not in registered]
    oracle = LAD(args.n, args.d, dtype, device)
    g = torch.Generator().manual_seed(1)

    if args.gpu_scale:
        B = max(args.batch, (GPU_SCALE + args.d - 1) // args.d)
        x0 = torch.randn(B, args.d, generator=g).to(device=device, dtype=dtype)
        print(f"# step vs device-to-device copy, B={B}, d={args.d}, float32, {device}")
        on_gpu = device.type == "cuda"  # target 4 is set for a GPU: no verdict elsewhere
        print(f"# target 4: {targets.GPU_STEP} (the step at >= 50% of the copy's bandwidth; one timing of 20 steps) and "
              f"{targets.GPU_FULL} (over --steps={args.steps} steps: the whole run within 1.3x the oracle-only ceiling's time, oracle + x -= lr*g as in target 1)")
        print(f"# {targets.legend(args.repeats)}" if on_gpu else f"# target 4: n/a: a GPU target; device={device}")
        print(f"{'method':<22}{'coord-steps/s':>16}{'step ms':>10}{'copy ms':>10}{'step/copy':>10}{'':>8}"
              f"{'full/ceiling [range]':>22}{'':>8}")
        for c in cases:
            t_step, t_copy = bench_step_vs_copy(c, oracle, x0, reps=20, compile=args.compile)
            vs = [t_c / t_b for t_b, t_c in (bench_full_and_ceiling(c, oracle, x0, args.steps, args.compile)
                                             for _ in range(args.repeats))]
            print(f"{c.name:<22}{B * args.d / t_step:>16.3e}{1e3 * t_step:>10.3f}{1e3 * t_copy:>10.3f}{t_step / t_copy:>10.2f}"
                  f"{targets.GPU_STEP.verdict([t_step / t_copy]) if on_gpu else '':>8}{targets.spread(vs):>22}"
                  f"{targets.GPU_FULL.verdict(vs) if on_gpu else '':>8}")
        return 0

    x0 = torch.randn(args.batch, args.d, generator=g).to(device=device, dtype=dtype)
    print(f"# LAD n={args.n} d={args.d}, float32, B={args.batch}, T={args.steps}, device={device}, threads={torch.get_num_threads()}"
          f"{', compiled (full: oracle + step; step/pass: the step)' if args.compile else ''}")
    med = statistics.median
    if args.step_only:
        print(f"# the step timed after warm-up until 20 steps fault no page in (at most {WARM_BLOCKS * 20}); "
              "faults/step: minor page faults of the timed steps (n/a without getrusage)")
        size = x0.numel()
        applies = size >= targets.STEP_MIN_SIZE and device.type == "cpu"
        print(f"# target 2: {targets.STEP} at B*d >= {targets.STEP_MIN_SIZE:.0e} on the CPU; {targets.legend(args.repeats)}")
        print("# floor/pass: the least step / pass of a step that leaves its input intact (each [B, d] tensor the step "
              "replaces and the gradient read, each written anew; no probe, no reduction: bench_floor); "
              f"floor/pass > {targets.STEP.bound:g}: no such step meets target 2 at this size on this machine")
        print(f"{'method':<22}{'state MB':>10}{'step ms':>10}{'pass ms':>10}{'step/pass [range]':>24}{'target 2':>10}"
              f"{'floor/pass':>12}{'faults/step':>13}   (medians)")
        for c in cases:
            rs, floors = [], []
            for _ in range(args.repeats):  # each floor timed right after the pass it is divided by
                rs.append(bench_step_vs_pass(c, oracle, x0, reps=20, compile=args.compile))
                floors.append(bench_floor(c, oracle, x0, reps=20, compile=args.compile) / rs[-1][1])
            nbytes, faults = rs[0][2], [r[3] for r in rs]
            ratios = [r[0] / r[1] for r in rs]
            print(f"{c.name:<22}{nbytes / 1e6:>10.1f}{1e3 * med(r[0] for r in rs):>10.3f}{1e3 * med(r[1] for r in rs):>10.3f}"
                  f"{targets.spread(ratios):>24}{targets.STEP.verdict(ratios) if applies else '':>10}{med(floors):>12.2f}"
                  f"{'n/a' if None in faults else f'{med(faults):.0f}':>13}")
        if not applies:
            why = f"B*d={size:.0e} < {targets.STEP_MIN_SIZE:.0e}" if device.type == "cpu" else "a CPU target"
            print(f"# target 2: n/a: {why}")
        return 0
    # Target 1 is set on the default problem (n = 1000, d = 200, B = 256); other sizes get no verdict.
    at_target = (args.n, args.d, args.batch) == (ap.get_default("n"), ap.get_default("d"), ap.get_default("batch"))
    print(f"# ratios: median [range] of {args.repeats} back-to-back measurements; ceiling = oracle + x -= lr*g; "
          f"target 1: {targets.FULL} at n=1000 d=200 B=256; {targets.legend(args.repeats)}"
          f"{'' if at_target else '; not this size: no verdict'}")
    print(f"{'method':<22}{'run-steps/s':>12}{'ceiling/s':>11}{'full/ceiling [range]':>22}{'target 1':>10}{'loop/s':>9}"
          f"{'speed-up':>10}{'step/pass':>11}")
    for c in cases:
        full, ceil, loop, sp = [], [], [], []
        for _ in range(args.repeats):
            t_b, t_c = bench_full_and_ceiling(c, oracle, x0, args.steps, args.compile)
            t_l = bench_loop(c, oracle, x0, args.steps, args.loop_runs)
            t_step, t_pass, _, _ = bench_step_vs_pass(c, oracle, x0, reps=100, compile=args.compile)
            full.append(t_b)
            ceil.append(t_c)
            loop.append(t_l)
            sp.append(t_step / t_pass)
        rate_b = args.batch * args.steps / med(full)
        rate_c = args.batch * args.steps / med(ceil)
        rate_l = args.loop_runs * args.steps / med(loop)
        vs_ceiling = [c_ / b_ for b_, c_ in zip(full, ceil)]
        speed_up = med((args.batch / b_) / (args.loop_runs / l_) for b_, l_ in zip(full, loop))
        print(f"{c.name:<22}{rate_b:>12.0f}{rate_c:>11.0f}{targets.spread(vs_ceiling):>22}{targets.FULL.verdict(vs_ceiling) if at_target else '':>10}"
              f"{rate_l:>9.0f}{speed_up:>9.1f}x{med(sp):>10.2f}x")
    if missing:
        print(f"# not registered (skipped): {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
