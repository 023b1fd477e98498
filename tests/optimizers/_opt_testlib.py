"""Test-only problems built here so the optimizer tests do not depend on the problem library.

The oracles loop over rows so a run's gradient never depends on how many runs share the batch
(a batched matmul may block differently for B rows and for 1 row).
"""

from __future__ import annotations

import numpy as np
import torch

from ratecheck.problems.base import Certificate, Problem


class RowwiseLeastSquares(Problem):
    """f(x) = (1/2n) sum_i (a_i.x - b_i)^2 with b = A x_planted: f* = 0, every f_i has inf 0."""

    def _data(self):
        return {"A": self.params["A"], "b": self.params["b"]}

    def _res(self, x, idx=None):
        t = self.tensors(x)
        rows = []
        for r in range(x.shape[0]):
            A = t["A"] if idx is None else t["A"][idx[r]]
            b = t["b"] if idx is None else t["b"][idx[r]]
            rows.append(((A * x[r]).sum(dim=-1) - b, A))
        return rows

    def _value(self, x):
        return torch.stack([0.5 * (r * r).mean() for r, _ in self._res(x)])

    def _grad(self, x):
        return torch.stack([(r[:, None] * A).mean(dim=0) for r, A in self._res(x)])

    def component_value(self, x, idx):
        return torch.stack([0.5 * (r * r).mean() for r, _ in self._res(x, idx)])

    def component_grad(self, x, idx):
        return torch.stack([(r[:, None] * A).mean(dim=0) for r, A in self._res(x, idx)])

    def component_values_each(self, x, idx):
        return torch.stack([0.5 * r * r for r, _ in self._res(x, idx)])

    def component_f_star(self):
        return np.zeros(self.n)


def least_squares(n: int = 24, d: int = 6, seed: int = 0, interpolating: bool = True) -> RowwiseLeastSquares:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    x_planted = rng.standard_normal(d)
    b = A @ x_planted + (0.0 if interpolating else 0.3 * rng.standard_normal(n))
    x_star = np.linalg.lstsq(A, b, rcond=None)[0]
    eig = np.linalg.eigvalsh(A.T @ A / n)
    r = 1.0 + float(np.linalg.norm(x_star))
    f_star = float(0.5 * np.mean((A @ x_star - b) ** 2))
    return RowwiseLeastSquares(
        name="test_least_squares", d=d, n=n, f_star=f_star, x_star=x_star,
        tags=frozenset({"convex", "smooth", "strongly_convex", "finite_sum"}),
        certificate=Certificate("closed form"), G=float(eig[-1]) * 4 * r, G_scope="ball",
        L=float(eig[-1]), mu=float(eig[0]), params={"A": A, "b": b},
    )


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max(1, max |b|): relative to the trajectory's scale."""
    return float((a - b).abs().max() / max(1.0, float(b.abs().max())))


def torch_trajectory(make_opt, problem, x0: torch.Tensor, steps: int, scheduler=None) -> tuple[torch.Tensor, list]:
    """Iterates [steps+1, d] and per-step lrs of a torch.optim optimizer on full gradients."""
    p = torch.nn.Parameter(x0.clone())
    opt = make_opt([p])
    sched = scheduler(opt) if scheduler is not None else None
    xs, lrs = [p.detach().clone()], []
    for _ in range(steps):
        p.grad = problem.grad(p.detach()[None])[0].clone()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
        xs.append(p.detach().clone())
    return torch.stack(xs), lrs


def functional_trajectory(opt, problem, x0: torch.Tensor, steps: int, **hp) -> tuple[torch.Tensor, dict]:
    """Iterates [steps+1, B, d] and stacked info [steps, B] of a functional optimizer."""
    state = opt.init(x0, **hp)
    xs, infos = [state["x"]], []
    for _ in range(steps):
        x = state["x"]
        state, info = opt.step(state, problem.grad(x), problem.value(x))
        xs.append(state["x"])
        infos.append(info)
    return torch.stack(xs), {k: torch.stack([i[k] for i in infos]) for k in infos[0]}
