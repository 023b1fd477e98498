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


# -- small oracles and trajectory helpers of the package cross-checks ------------------------------

class WellConditionedLeastSquares:
    """f(x) = ||A x - b||^2 / (2 m), smooth and convex, minimiser from lstsq.

    m = 40 rows keep A^T A / m well conditioned (eigenvalues in [0.42, 1.37]). With m = 15
    (eigenvalues down to 0.2) DAdaptAdaGrad at lr = 1 overshoots while d grows and both codes
    amplify their last-bit differences by ~2x per step (1e-15 at step 140, 0.4 at step 190): a
    trajectory comparison only means something where the dynamics is stable.
    """

    def __init__(self, m=40, d=6, seed=3):
        g = torch.Generator().manual_seed(seed)
        self.A = torch.randn(m, d, generator=g, dtype=torch.float64)
        self.b = torch.randn(m, generator=g, dtype=torch.float64)
        self.d, self.m = d, m
        self.x_star = torch.linalg.lstsq(self.A, self.b[:, None]).solution[:, 0]

    def grad(self, x):
        # Row-wise products and last-dim sums, so a run's gradient is bitwise the same in a
        # batch and alone (a matmul is not): the package then sees exactly our oracle.
        r = (x[:, None, :] * self.A[None]).sum(-1) - self.b
        return (r[:, None, :] * self.A.T[None]).sum(-1) / self.m

    def value(self, x):
        r = x @ self.A.T - self.b
        return (r * r).sum(-1) / (2 * self.m)

    def x0(self, B):
        return self.x_star + 3.0 * torch.randn(B, self.d, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


class L1Distance:
    """The library's l1_distance (d = 8) with a fixed x0 draw."""

    def __init__(self):
        from ratecheck import problems

        self.p = problems.get("l1_distance", d=8, seed=2)
        self.d = self.p.d
        self.x_star = torch.as_tensor(self.p.x_star)

    def grad(self, x):
        return self.p.grad(x)

    def value(self, x):
        return self.p.value(x)

    def x0(self, B):
        return self.p.x0(B, seed=4)


CROSS_CHECK_PROBLEMS = {"l1_distance": L1Distance, "least_squares": WellConditionedLeastSquares}


def run_steps(name, prob, x0, T, hp, **options):
    """T steps of optimizer ``name`` on full gradients (no loss passed): final state, iterates
    [T+1, B, d] (x0 first) and stacked info {key: [T, B]}."""
    from ratecheck.optimizers import get

    opt = get(name, **options)
    state = opt.init(x0, **hp)
    xs, infos = [x0], []
    for _ in range(T):
        state, info = opt.step(state, prob.grad(state["x"]))
        xs.append(state["x"].clone())
        infos.append(info)
    return state, torch.stack(xs), {k: torch.stack([i[k] for i in infos]) for k in infos[0]}


def run_package(make, x0_row, prob, keys, T):
    """One package optimizer on one parameter tensor; returns iterates [T, d] and
    param_groups[0]'s scalars {key: [T]}."""
    p = torch.nn.Parameter(x0_row.clone())
    opt = make([p])
    xs, rec = [], {k: [] for k in keys}
    for _ in range(T):
        p.grad = prob.grad(p.detach()[None])[0].clone()
        opt.step()
        xs.append(p.detach().clone())
        for k in keys:
            rec[k].append(float(opt.param_groups[0][k]))
    return torch.stack(xs), {k: torch.tensor(v, dtype=torch.float64) for k, v in rec.items()}


def assert_agree(ours, ref, what, rtol):
    """|ours - ref| <= rtol (|ref| + scale) at every step, scale = max |ref| over the run."""
    scale = ref.abs().max()
    err = (ours - ref).abs()
    bad = err > rtol * (ref.abs() + scale)
    assert not bool(bad.any()), (
        f"{what}: first mismatch at step {int(bad.nonzero()[0][0])}, max |diff| {float(err.max()):.3g}, scale {float(scale):.3g}"
    )


def cross_check(name, hps, ref_make, pairs, prob_name, rtol, T, note="", **options):
    """Our ``name`` with the settings ``hps`` as one batch against one package optimizer per
    setting (``ref_make(params, h)``): iterates and, per (our info key, package group key) of
    ``pairs``, the scalars agree at every step. Returns our iterates [T, B, d] and info."""
    prob = CROSS_CHECK_PROBLEMS[prob_name]()
    B = len(hps)
    x0 = prob.x0(B)
    hp = {k: torch.tensor([h[k] for h in hps], dtype=torch.float64) for k in hps[0]}
    _, xs, info = run_steps(name, prob, x0, T, hp, **options)
    xs = xs[1:]
    for b, h in enumerate(hps):
        rxs, rec = run_package(lambda params: ref_make(params, h), x0[b], prob, [r for _, r in pairs], T)
        tag = f"{name} {h}{note} on {prob_name}"
        assert_agree(xs[:, b], rxs, f"{tag}: x", rtol)
        for ours_key, ref_key in pairs:
            assert_agree(info[ours_key][:, b], rec[ref_key], f"{tag}: {ours_key} vs {ref_key}", rtol)
    return xs, info


class NoisyLeastSquares:
    """f(x) = ||A x - b||^2 / (2 n) per run: smooth, convex, built here; b = A x_star plus noise
    (f* > 0) unless ``interpolate``."""

    def __init__(self, n=40, d=8, seed=0, interpolate=False):
        rng = np.random.default_rng(seed)
        self.A = torch.as_tensor(rng.standard_normal((n, d)))
        self.x_star = torch.as_tensor(rng.standard_normal(d))
        noise = 0.0 if interpolate else 0.5 * torch.as_tensor(rng.standard_normal(n))
        self.b = self.A @ self.x_star + noise
        self.n, self.d = n, d

    def value(self, x):
        r = x @ self.A.T - self.b
        return 0.5 * (r * r).sum(-1) / self.n

    def grad(self, x):
        return (x @ self.A.T - self.b) @ self.A / self.n


def close_at_step(ours, ref, what, step, rtol):
    """max |ours - ref| <= rtol * max |ref| (the quantity's scale), reported with the step."""
    ours = torch.as_tensor(ours, dtype=torch.float64)
    ref = torch.as_tensor(ref, dtype=torch.float64).reshape(ours.shape)
    scale = max(float(ref.abs().max()), 1e-300)
    err = float((ours - ref).abs().max())
    assert err <= rtol * scale, f"{what} differs at step {step}: {err:.3e} (scale {scale:.3e})"


def same_x0(B, d, seed=1):
    """B copies of one standard normal draw in R^d (every run starts at the same point)."""
    return torch.as_tensor(np.random.default_rng(seed).standard_normal((1, d))).expand(B, d).clone()
