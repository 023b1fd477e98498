"""Run one (problem, optimizer) batch: all runs as one tensor, recording a Trace.

The hot loop is oracle -> optimizer.step -> record, with no host sync: recorded scalars are
written into preallocated [T+1, B] tensors on the device and moved to the host once at the end.
"""

from __future__ import annotations

from typing import Any

import torch

from ratecheck.errors import RatecheckError
from ratecheck.optimizers.base import Optimizer
from ratecheck.problems.base import Problem

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
) -> Trace:
    """Run T steps of ``optimizer`` on ``problem`` from x0 [B, d].

    ``batch_size=None``: deterministic full gradients. Otherwise a finite-sum problem's
    stochastic oracle with ``batch_size`` samples per step, drawn per run from ``seeds`` [B].
    The loss passed to the optimizer is the minibatch loss (the full loss when deterministic).
    """
    if T < 1:
        raise RatecheckError(f"T={T} is out of range; allowed: integers >= 1")
    B, d = x0.shape
    dev, dt = x0.device, x0.dtype
    hp = dict(hp or {})
    for name in optimizer.problem_kwargs:
        hp.setdefault(name, getattr(problem, name))
    state = optimizer.init(x0, **hp)
    stochastic = batch_size is not None
    if stochastic:
        if not problem.is_finite_sum:
            raise RatecheckError(f"{problem.name} is not a finite sum; run it with batch_size=None")
        seeds = torch.arange(B) if seeds is None else seeds
        seeds = seeds.to(device=dev, dtype=torch.int64)
    f_star = torch.tensor(problem.f_star, device=dev, dtype=dt)
    x_star = problem.x_star_tensor(x0)

    rec: dict[str, torch.Tensor] = {}

    def put(name: str, t: int, v: torch.Tensor) -> None:
        if name not in rec:
            rec[name] = torch.full((T + 1, B), float("nan"), device=dev, dtype=dt)
        rec[name][t] = v.to(dt)

    iters = {"x": []} if keep_iterates else {}
    x_sum = torch.zeros_like(x0)
    for t in range(T + 1):
        x = state["x"]
        fx = problem.value(x)
        x_sum = x_sum + x
        x_avg = x_sum / (t + 1)
        put("subopt", t, fx - f_star)
        put("dist", t, torch.linalg.vector_norm(x - x_star, dim=-1))
        put("subopt_avg", t, problem.value(x_avg) - f_star)
        put("dist_avg", t, torch.linalg.vector_norm(x_avg - x_star, dim=-1))
        put("diverged", t, state["diverged"])
        if keep_iterates:
            iters["x"].append(x.clone())
        if t == T:
            break
        if stochastic:
            idx = problem.sample_indices(seeds, t, batch_size)
            loss = problem.component_value(x, idx)
            g = problem.component_grad(x, idx)
        else:
            loss, g, idx = fx, problem.grad(x), None
        put("grad_norm", t, torch.linalg.vector_norm(g, dim=-1))
        put("loss", t, loss)
        state, info = optimizer.step(state, g, loss, idx)
        for k, v in info.items():
            if k != "diverged":
                put(k, t, v)

    meta = {
        "problem": problem.name,
        "problem_params": {k: v for k, v in problem.params.items() if isinstance(v, (int, float, str, bool))},
        "optimizer": optimizer.name,
        "hp": {k: v.cpu() for k, v in state["hp"].items()},
        "T": T,
        "batch_size": batch_size,
        "seeds": None if seeds is None else seeds.cpu(),
        "dtype": str(dt),
    }
    data = {k: v.cpu() for k, v in rec.items()}
    it = {k: torch.stack(v).cpu() for k, v in iters.items()}
    return Trace(torch.arange(T + 1), data, meta, it)
