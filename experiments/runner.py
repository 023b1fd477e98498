"""Run one (problem, optimizer) batch: all runs as one tensor, recording a Trace.

The hot loop is oracle -> optimizer.step -> record, with no host sync. Per-step scalars
([B] tensors: the loss, the optimizer's info, the distance and gradient norms) are kept in
Python lists and stacked into a block every ``CHUNK`` steps, which costs less than writing a
row of a preallocated tensor per quantity per step (one kernel each, measured slower). The
deterministic oracle is ``problem.value_grad_dist``: the distance to x* comes with f and the
gradient (the weighted l1 distance reduces its own residual x - x*).

Quantities that need a full pass over the objective beyond what the oracle computed
(f at the average iterate, and f at the last iterate under a stochastic oracle) are computed
only at ``checkpoints`` when given; every other quantity (distance, gradient norm, loss,
optimizer info) is recorded at every step, so bounds built from running sums lose nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

import torch

from ratecheck.errors import RatecheckError
from ratecheck.optimizers.base import Optimizer
from ratecheck.optimizers.compiled import TwoSteps, _own_code, _records_autograd, compile_for, freezes_eagerly
from ratecheck.problems.base import Problem

from . import memory
from .trace import Trace

CHUNK = 32  # steps per block of recorded rows
# Iterates smaller than this (bytes of x [B, d]) are not donated: the runner then passes no ``out``.
# Below glibc's initial mmap threshold (128 KiB) a freed block is handed out again from the heap,
# hot, so a fresh output costs little, while ``base.donated``'s per-step bookkeeping (buffer,
# storage and autograd checks of every state entry) is pure Python: on ``l1_distance`` (d = 20,
# B = 64) donating steps made the recorded run 1.60x the bare loop against 1.42x allocating
# (docs/speed.md). From [256 x 200] float64 (400 KB) on, donation is faster (0.9x at 400 KB,
# 0.3-0.7x at 2-8 MB).
DONATE_MIN_BYTES = 128 * 1024


def run(
    problem: Problem,
    optimizer: Optimizer,
    x0: torch.Tensor,
    T: int,
    *,
    hp: dict[str, Any] | None = None,
    seeds: torch.Tensor | None = None,
    batch_size: int | None = None,
    keep_iterates: bool = False,
    checkpoints: torch.Tensor | None = None,
    on_step: Callable[[int], None] | None = None,
    compile: bool = False,
) -> Trace:
    """Run T steps of ``optimizer`` on ``problem`` from x0 [B, d].

    ``batch_size=None``: deterministic full gradients. Otherwise a finite-sum problem's
    stochastic oracle with ``batch_size`` samples per step, drawn per run from ``seeds`` [B].
    The loss passed to the optimizer is the minibatch loss (the full loss when deterministic).

    ``checkpoints``: steps in [0, T] where the objective-only quantities (``subopt_avg``,
    ``dist_avg``, and ``subopt`` under a stochastic oracle) are evaluated; their other rows hold
    NaN. None: every step. ``on_step(t)`` is called after each step (a progress hook; it must
    not read device tensors). ``compile``: each iteration (oracle, step and the per-step
    norms) as one ``torch.compile``d function (``compiled_iteration``; equal to eager up to
    round-off).
    """
    if T < 1:
        raise RatecheckError(f"T={T} is out of range; allowed: integers >= 1")
    B, d = x0.shape
    dev, dt = x0.device, x0.dtype
    hp = dict(hp or {})
    for name in optimizer.problem_kwargs:
        hp.setdefault(name, getattr(problem, name))
    n_cp = T + 1 if checkpoints is None else int(torch.as_tensor(checkpoints).numel())
    memory.check_fits(
        memory.run_bytes(T, B, d, x0.element_size(), quantities=4 + len(optimizer.info_keys), checkpoints=n_cp,
                         stochastic=batch_size is not None, keep_iterates=keep_iterates),
        dev, T=T, B=B, d=d, checkpoints=n_cp, keep_iterates=keep_iterates,
    )
    state = optimizer.init(x0, **hp)
    iterate = compiled_iteration(problem, optimizer, batch_size, T) if compile else iteration
    stochastic = batch_size is not None
    if stochastic:
        if not problem.is_finite_sum:
            raise RatecheckError(f"{problem.name} is not a finite sum; run it with batch_size=None")
        seeds = torch.arange(B) if seeds is None else seeds
        seeds = seeds.to(device=dev, dtype=torch.int64)
    x_star = problem.x_star_tensor(x0)
    # The minibatch indices of 32 steps per draw (the same as one draw per step, which cost as much
    # as a least-squares minibatch value and gradient at [64 x 8]).
    draws = problem.indices_by_step(seeds, range(T), batch_size) if stochastic else None
    if checkpoints is None:
        cp_list = list(range(T + 1))
    else:
        cp_list = sorted({int(t) for t in torch.as_tensor(checkpoints).tolist()})
        if not cp_list or cp_list[0] < 0 or cp_list[-1] > T:
            raise RatecheckError(f"checkpoints must lie in [0, {T}]; got {cp_list[:3]}...{cp_list[-3:]}")
    cp_set = set(cp_list)

    # Per-step [B] rows, stacked into one block per quantity every CHUNK steps: a run keeps a
    # few dozen small tensors alive instead of one per quantity and step.
    rows: dict[str, list[torch.Tensor]] = {"dist": [], "grad_norm": [], "loss": [], "diverged": []}
    dist, gnorm, losses, div = rows.values()
    infos: list[dict[str, torch.Tensor]] = []
    blocks: dict[str, list[torch.Tensor]] = {}
    # Small CPU runs are not donated (DONATE_MIN_BYTES), so every x and g is a tensor of its own
    # that no later step writes: the runner keeps them until the next flush and reduces a whole
    # block at once (per CHUNK steps one distance norm and one gradient norm instead of a kernel
    # each per step: at this size each kernel's dispatch costs as much as its arithmetic). Same
    # bits: the norm of a stacked block reduces each row as the norm of one step does, and
    # ``stack(x) - x*`` is the same elementwise difference. Tested in tests/experiments/
    # test_runner.py. The running sum of iterates is taken per block too (``_add_rows``: one
    # ``index_add_`` into one row, which adds the block's rows one after another with the
    # kernel of ``add_``): the same bits as one ``x_sum.add_(x)`` per step (tested against that
    # path in float32, float64 and bfloat16, checkpoints inside and across blocks). One call a
    # block instead of a Python-level call a step: 3-4 % of a step on ``l1_distance``
    # (record / bare medians 1.27-1.37 -> 1.18-1.27 in five A/B runs of 40 interleaved repeats,
    # docs/speed.md); ``cumsum`` would accumulate float32 in double. CPU only: a GPU's
    # ``index_add_`` adds in any order.
    donate = x0.numel() * x0.element_size() >= DONATE_MIN_BYTES
    defer = not donate and not compile and dev.type == "cpu"
    pending_x: list[torch.Tensor] = []  # x_t since the last flush (defer)
    summed = 0  # iterates x_0..x_{summed-1} are in x_sum

    cp_x: list[torch.Tensor] = []  # x_t at checkpoints (stochastic oracle: f evaluated after the loop)
    cp_avg: list[torch.Tensor] = []  # the average iterate at checkpoints
    iters: list[torch.Tensor] = []  # iterates are copied where kept: a step may reuse its input's memory
    x_sum = torch.zeros_like(x0)

    def flush() -> None:
        nonlocal summed
        if pending_x:
            xs = torch.stack(pending_x)
            blocks.setdefault("dist", []).append(torch.linalg.vector_norm(xs - x_star, dim=-1))
            # x_sum += x_t for the block's steps in order, split at its checkpoints (the average then)
            n, lo = len(pending_x), 0
            for c in cp_list[bisect.bisect_left(cp_list, summed):bisect.bisect_left(cp_list, summed + n)]:
                hi = c - summed + 1
                _add_rows(x_sum, xs[lo:hi])
                cp_avg.append(x_sum / (c + 1))
                lo = hi
            if lo < n:
                _add_rows(x_sum, xs[lo:])
            summed += n
            pending_x.clear()
        for name, r in rows.items():
            if r:
                # Deferred: the gradients themselves, reduced here.
                block = torch.linalg.vector_norm(torch.stack(r), dim=-1) if name == "grad_norm" and defer else torch.stack(r)
                blocks.setdefault(name, []).append(block)
                r.clear()
        for k in infos[0] if infos else ():
            if k != "diverged":
                blocks.setdefault(k, []).append(torch.stack([i[k].expand(B) if i[k].ndim == 0 else i[k] for i in infos]))
        infos.clear()

    spare = None
    for t in range(T + 1):
        x = state["x"]
        if defer:
            pending_x.append(x)
        else:
            x_sum.add_(x)
        div.append(state["diverged"])
        if keep_iterates:
            iters.append(x.clone())
        if t in cp_set:
            # Objective-only quantities are evaluated after the loop, all checkpoints in a few
            # large calls: per-call overhead, not arithmetic, dominates small batches.
            if stochastic:
                cp_x.append(x.clone())
            if not defer:  # deferred: in the flush
                cp_avg.append(x_sum / (t + 1))
        if t == T:
            if not defer:
                dist.append(torch.linalg.vector_norm(x - x_star, dim=-1))
            if not stochastic:
                losses.append(problem.value(x))  # f(x_T): the subopt row T
            break
        # The state from two steps back is donated (x of DONATE_MIN_BYTES or more): the step may
        # write into its buffers (every iterate kept above is a copy).
        idx = None if draws is None else next(draws)
        new, info, loss, dx, gn = iterate(problem, optimizer, state, x_star, idx, out=spare if donate else None, norms=not defer)
        spare, state = state, new
        if not defer:
            dist.append(dx)
        losses.append(loss)
        gnorm.append(gn)
        infos.append(info)
        if len(infos) == CHUNK:
            flush()
        if on_step is not None:
            on_step(t)
    flush()

    cp = torch.tensor(cp_list, dtype=torch.long)
    cp_dev = cp.to(dev)
    nan_row = torch.full((1, B), float("nan"), device=dev, dtype=dt)

    def sparse(values: torch.Tensor) -> torch.Tensor:
        out = torch.full((T + 1, B), float("nan"), device=dev, dtype=dt)
        out[cp_dev] = values.to(dt)
        return out

    def per_step(name: str) -> torch.Tensor:
        # Rows for t = 0..T-1; row T (no step taken) is NaN.
        return torch.cat([*blocks[name], nan_row]).to(dt)

    f_star = torch.tensor(problem.f_star, device=dev, dtype=dt)
    avg = torch.stack(cp_avg)  # [K, B, d]
    rec: dict[str, torch.Tensor] = {}
    if stochastic:
        rec["subopt"] = sparse(_values(problem, torch.stack(cp_x))) - f_star
        rec["loss"] = per_step("loss")
    else:
        fx_all = torch.cat(blocks["loss"]).to(dt)
        rec["subopt"] = fx_all - f_star
        rec["loss"] = torch.cat([fx_all[:-1], nan_row])
    rec["dist"] = torch.cat(blocks["dist"]).to(dt)
    rec["subopt_avg"] = sparse(_values(problem, avg)) - f_star
    rec["dist_avg"] = sparse(torch.linalg.vector_norm(avg - x_star, dim=-1))
    rec["diverged"] = torch.cat(blocks["diverged"]).to(dt)
    for name in blocks:  # grad_norm, then the optimizer's info entries in their order
        if name not in rec:
            rec[name] = per_step(name)

    meta = {
        "problem": problem.name,
        "problem_params": {k: v for k, v in problem.params.items() if isinstance(v, (int, float, str, bool))},
        "optimizer": optimizer.name,
        "options": dict(getattr(optimizer, "options", {})),
        "hp": {k: v.cpu() for k, v in state["hp"].items()},
        # init arguments that are not per-run hyper-parameters (a schedule's T, min_factor, norms, ...):
        # what theory needs to rebuild the schedule a run used (e.g. refined from an earlier run's norms)
        "init_args": {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in hp.items() if k not in state["hp"]},
        "T": T,
        "batch_size": batch_size,
        "seeds": None if seeds is None else seeds.cpu(),
        "dtype": str(dt),
        "x0": x0.cpu(),  # [B, d]: start points, for results that need x_0 without all iterates
        "checkpoints": None if checkpoints is None else cp,
    }
    data = {k: v.cpu() for k, v in rec.items()}
    it = {"x": torch.stack(iters).cpu()} if keep_iterates else {}
    return Trace(torch.arange(T + 1), data, meta, it)


def iteration(problem: Problem, optimizer: Optimizer, state: dict, x_star: torch.Tensor, idx: torch.Tensor | None,
              out: dict | None = None, norms: bool = True,
              hold: bool = True) -> tuple[dict, dict, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """One step of the loop at x_t = state["x"]: the oracle (deterministic when ``idx`` is None:
    ``value_grad_dist``, whose distance comes with f and the gradient; else the minibatch ``idx``
    [B, m] the runner drew for this step, ``Problem.indices_by_step``), the optimizer's step
    (``out``: an older state it may write into, ``Optimizer.step``) and the two per-step norms.
    Returns (state, info, loss, ||x_t - x*||, ||g_t||);
    ``norms=False``: no distance (None) and g_t itself in place of its norm (the runner reduces
    a block of x_t and of g_t at once); ``hold=False``: ``optimizer.advance``, the step before its
    divergence freeze (the caller applies ``optimizer.hold_diverged``)."""
    x = state["x"]
    if idx is None:
        if norms:
            loss, g, dist = problem.value_grad_dist(x, x_star)
        else:
            (loss, g), dist = problem.value_and_grad(x), None
    else:
        loss, g = problem.component_value(x, idx), problem.component_grad(x, idx)
        dist = torch.linalg.vector_norm(x - x_star, dim=-1) if norms else None
    gnorm = torch.linalg.vector_norm(g, dim=-1) if norms else g
    state, info = (optimizer.step if hold else optimizer.advance)(state, g, loss, idx, out=out)
    return state, info, loss, dist, gnorm


def two_iterations(state: dict, problem: Problem, optimizer: Optimizer, x_star: torch.Tensor) -> tuple[tuple, tuple]:
    """Two steps of ``iteration`` under a deterministic oracle, each with its divergence freeze."""
    first = iteration(problem, optimizer, state, x_star, None)
    return first, iteration(problem, optimizer, first[0], x_star, None)


def compiled_iteration(problem: Problem, optimizer: Optimizer, batch_size: int | None, T: int) -> Callable[..., Any]:
    """``iteration`` through ``torch.compile`` (``run(compile=True)``, ``--compile``, spec
    ``compile = true``): inductor fuses the oracle's elementwise work, the step and the norms
    into a few loops. Compiled once per (optimizer instance, problem, oracle kind), with a code
    object of its own (dynamo's graph cache and recompile limit are per code object; see
    ``ratecheck.optimizers.compiled``); the step counter k recompiles once, at the second call,
    and then stays symbolic. Equal to eager up to round-off (tests/experiments/
    test_runner.py: relative 1e-12 in float64). It pays on problems whose oracle is large
    (``ratecheck bench --compile``); on a tiny problem the compiled call's own overhead is larger
    than the eager iteration. Under autograd (an input that requires grad) the eager iteration
    runs.

    Under a deterministic oracle one call takes two steps (``two_iterations``, served a step at
    a time by ``compiled.TwoSteps``) while two remain of the T; the divergence freeze is then
    inside the graph. Otherwise (a minibatch oracle, whose next indices the runner draws later,
    or the last step of an odd T) one step a call, and on the CPU its freeze in eager mode
    after it (``compiled_step``)."""
    cache = optimizer.__dict__.setdefault("_compiled_iterations", {})
    key = (id(problem), batch_size is None)
    if key not in cache:  # the problem kept alive: its id stays its own
        two = compile_for(optimizer, _own_code(two_iterations)) if batch_size is None else None
        cache[key] = (problem, compile_for(optimizer, _own_code(iteration)), two)
    _, fn, two = cache[key]
    steps = TwoSteps(two) if two is not None else None

    def iterate(problem, optimizer, state, x_star, idx, out=None, norms=True):  # allocates: no donation
        if _records_autograd(state, x_star):
            return iteration(problem, optimizer, state, x_star, idx)
        out = None if steps is None else steps(state, problem, optimizer, x_star, two=state["k"] + 2 <= T)
        if out is not None:
            return out
        if not freezes_eagerly(state["x"].device):
            return fn(problem, optimizer, state, x_star, idx)
        new, info, *rest = fn(problem, optimizer, state, x_star, idx, hold=False)
        return (*optimizer.hold_diverged(state, new, info), *rest)

    return iterate


def _add_rows(acc: torch.Tensor, rows: torch.Tensor) -> None:
    """``acc += rows[0]; acc += rows[1]; ...`` in order: the bits of one ``acc.add_(row)`` per
    row. In float32 and float64 one ``index_add_`` of every row into the same index (on the CPU it
    adds them one after another with ``add_``'s kernel); in bfloat16 and float16, which
    ``index_add_`` accumulates at a higher precision, one ``add_`` per row."""
    if acc.dtype in (torch.float32, torch.float64):
        acc[None].index_add_(0, torch.zeros(rows.shape[0], dtype=torch.long, device=acc.device), rows)
    else:
        for row in rows:
            acc.add_(row)


def _values(problem: Problem, xs: torch.Tensor) -> torch.Tensor:
    """f at every point of [K, B, d]: [K, B], one call per checkpoint.

    Calls of exactly B rows, as inside the loop, so that a run's values do not depend on how
    many other runs share its batch (a matmul's result can depend on the row count)."""
    return torch.stack([problem.value(x) for x in xs])
