"""Run one (problem, optimizer) batch: all runs as one tensor, recording a Trace.

The hot loop is oracle -> optimizer.step -> record, with no host sync. Per-step scalars
([B] tensors) are kept in Python lists and stacked once at the end, which costs less than
writing a row of a preallocated tensor per quantity per step (one kernel each).

Quantities that need a full pass over the objective beyond what the oracle computed
(f at the average iterate, and f at the last iterate under a stochastic oracle) are computed
only at ``checkpoints`` when given; every other quantity (distance, gradient norm, loss,
optimizer info) is recorded at every step, so bounds built from running sums lose nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ratecheck.errors import RatecheckError
from ratecheck.optimizers.base import Optimizer
from ratecheck.optimizers.compiled import compiled_step
from ratecheck.problems.base import Problem

from . import memory
from .trace import Trace


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
    not read device tensors). ``compile``: the optimizer's step through ``torch.compile``
    (``ratecheck.optimizers.compiled``: equal to eager up to round-off, compiled once per run).
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
    step = compiled_step(optimizer) if compile else optimizer.step
    stochastic = batch_size is not None
    if stochastic:
        if not problem.is_finite_sum:
            raise RatecheckError(f"{problem.name} is not a finite sum; run it with batch_size=None")
        seeds = torch.arange(B) if seeds is None else seeds
        seeds = seeds.to(device=dev, dtype=torch.int64)
    x_star = problem.x_star_tensor(x0)
    if checkpoints is None:
        cp_list = list(range(T + 1))
    else:
        cp_list = sorted({int(t) for t in torch.as_tensor(checkpoints).tolist()})
        if not cp_list or cp_list[0] < 0 or cp_list[-1] > T:
            raise RatecheckError(f"checkpoints must lie in [0, {T}]; got {cp_list[:3]}...{cp_list[-3:]}")
    cp_set = set(cp_list)

    f_rows: list[torch.Tensor] = []  # f(x_t) at every step, deterministic oracle only
    cp_x: list[torch.Tensor] = []  # x_t at checkpoints (stochastic oracle: f evaluated after the loop)
    cp_avg: list[torch.Tensor] = []  # the average iterate at checkpoints
    dist: list[torch.Tensor] = []
    gnorm: list[torch.Tensor] = []
    losses: list[torch.Tensor] = []
    div: list[torch.Tensor] = []
    info_rows: dict[str, list[torch.Tensor]] = {}
    iters: list[torch.Tensor] = []

    x_sum = torch.zeros_like(x0)
    spare = None
    for t in range(T + 1):
        x = state["x"]
        x_sum.add_(x)
        dist.append(torch.linalg.vector_norm(x - x_star, dim=-1))
        div.append(state["diverged"])
        if keep_iterates:
            iters.append(x.clone())
        if not stochastic:
            # One fused oracle call per step (value and gradient share their data pass); at
            # t = T only the value is needed.
            fx, g_det = problem.value_and_grad(x) if t < T else (problem.value(x), None)
            f_rows.append(fx)
        if t in cp_set:
            # Objective-only quantities are evaluated after the loop, all checkpoints in a few
            # large calls: per-call overhead, not arithmetic, dominates small batches.
            if stochastic:
                cp_x.append(x)
            cp_avg.append(x_sum / (t + 1))
        if t == T:
            break
        if stochastic:
            idx = problem.sample_indices(seeds, t, batch_size)
            loss = problem.component_value(x, idx)
            g = problem.component_grad(x, idx)
            losses.append(loss)
        else:
            loss, g, idx = fx, g_det, None
        gnorm.append(torch.linalg.vector_norm(g, dim=-1))
        # The state from two steps back is donated: the step writes into its buffers (unless its
        # x is kept for a checkpoint, as under a stochastic oracle).
        new, info = step(state, g, loss, idx, out=spare)
        spare, state = (None if stochastic and t in cp_set else state), new
        for k, v in info.items():
            if k != "diverged":
                info_rows.setdefault(k, []).append(v)
        if on_step is not None:
            on_step(t)

    cp = torch.tensor(cp_list, dtype=torch.long)
    cp_dev = cp.to(dev)
    nan_row = torch.full((1, B), float("nan"), device=dev, dtype=dt)

    def sparse(rows: torch.Tensor) -> torch.Tensor:
        out = torch.full((T + 1, B), float("nan"), device=dev, dtype=dt)
        out[cp_dev] = rows.to(dt)
        return out

    def per_step(rows: list[torch.Tensor]) -> torch.Tensor:
        # Rows for t = 0..T-1; row T (no step taken) is NaN.
        return torch.cat([torch.stack(rows).to(dt), nan_row])

    f_star = torch.tensor(problem.f_star, device=dev, dtype=dt)
    avg = torch.stack(cp_avg)  # [K, B, d]
    rec: dict[str, torch.Tensor] = {}
    if stochastic:
        rec["subopt"] = sparse(_values(problem, torch.stack(cp_x))) - f_star
        rec["loss"] = per_step(losses)
    else:
        fx_all = torch.stack(f_rows).to(dt)
        rec["subopt"] = fx_all - f_star
        rec["loss"] = torch.cat([fx_all[:-1], nan_row])
    rec["dist"] = torch.stack(dist).to(dt)
    rec["subopt_avg"] = sparse(_values(problem, avg)) - f_star
    rec["dist_avg"] = sparse(torch.linalg.vector_norm(avg - x_star, dim=-1))
    rec["diverged"] = torch.stack(div).to(dt)
    rec["grad_norm"] = per_step(gnorm)
    for k, rows in info_rows.items():
        rec[k] = per_step([r.expand(B) if r.ndim == 0 else r for r in rows])

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


def _values(problem: Problem, xs: torch.Tensor) -> torch.Tensor:
    """f at every point of [K, B, d]: [K, B], one call per checkpoint.

    Calls of exactly B rows, as inside the loop, so that a run's values do not depend on how
    many other runs share its batch (a matmul's result can depend on the row count)."""
    return torch.stack([problem.value(x) for x in xs])
