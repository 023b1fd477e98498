"""The test-only least-squares oracle, the runner helpers and the tolerance helpers shared by
tests/optimizers and tests/theory.

Oracles built here do not depend on the problem library. Their gradients are computed row by
row (products and last-dimension sums, no matmul), so a run's gradient is bitwise the same in a
batch of B runs and alone (a batched matmul may block differently for B rows and for 1 row): a
batched optimizer and a reference fed one run at a time then see exactly the same oracle.
"""

from __future__ import annotations

import numpy as np
import torch

from ratecheck.problems.base import Certificate, Problem

# -- the least-squares oracle ------------------------------------------------------------------------


class LeastSquares:
    """f(x) = ||A x - b||^2 / (2 m) on a batch of points x [B, d]; x_star the minimiser.

    ``random``: A and b standard normal (f* > 0). With m = 40, d = 6 (the default) A^T A / m is
    well conditioned (eigenvalues in [0.42, 1.37]); with m = 15 (eigenvalues down to 0.2)
    DAdaptAdaGrad at lr = 1 overshoots while d grows and two codes amplify their last-bit
    differences by ~2x per step: a trajectory comparison only means something where the dynamics
    is stable. ``planted``: b = A x_planted plus noise (none: interpolating, x_star = x_planted).
    ``x0(B)``: x_star + x0_scale * N(0, I) (x0_around_star) or x0_scale * N(0, I), one fixed draw.
    """

    def __init__(self, A, b, x_star=None, x0_seed=7, x0_scale=3.0, x0_around_star=True):
        self.A, self.b = torch.as_tensor(A, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
        self.m, self.d = self.A.shape
        self.n = self.m
        self.x_star = torch.linalg.lstsq(self.A, self.b[:, None]).solution[:, 0] if x_star is None else torch.as_tensor(x_star)
        self._x0 = (x0_seed, x0_scale, x0_around_star)

    @classmethod
    def random(cls, m=40, d=6, seed=3, **x0):
        g = torch.Generator().manual_seed(seed)
        A = torch.randn(m, d, generator=g, dtype=torch.float64)
        return cls(A, torch.randn(m, generator=g, dtype=torch.float64), **x0)

    @classmethod
    def planted(cls, n=40, d=8, seed=0, noise=0.5, **x0):
        rng = np.random.default_rng(seed)
        A = torch.as_tensor(rng.standard_normal((n, d)))
        x_planted = torch.as_tensor(rng.standard_normal(d))
        b = A @ x_planted + (noise * torch.as_tensor(rng.standard_normal(n)) if noise else 0.0)
        return cls(A, b, x_star=x_planted if not noise else None, **x0)

    def residual(self, x):
        return (x[:, None, :] * self.A[None]).sum(-1) - self.b

    def value(self, x):
        r = self.residual(x)
        return (r * r).sum(-1) / (2 * self.m)

    def grad(self, x):
        return (self.residual(x)[:, None, :] * self.A.T[None]).sum(-1) / self.m

    def x0(self, B):
        seed, scale, around = self._x0
        z = scale * torch.randn(B, self.d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        return self.x_star + z if around else z


class RowwiseLeastSquares(Problem):
    """The same objective as a library ``Problem`` (for the runner and the optimizer contract),
    with component oracles: f(x) = (1/2n) sum_i (a_i.x - b_i)^2, b = A x_planted: f* = 0 and
    every f_i has inf 0. Rows are looped over for batch invariance, as above."""

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
    """A ``RowwiseLeastSquares`` problem with its constants (L, mu, G on a ball, f*, x*)."""
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


class L1Distance:
    """The library's l1_distance (d = 8 unless given) with a fixed x0 draw."""

    def __init__(self, d=8, seed=2, x0_seed=4):
        from ratecheck import problems

        self.p = problems.get("l1_distance", d=d, seed=seed)
        self.d = self.p.d
        self.x_star = torch.as_tensor(self.p.x_star)
        self.x0_seed = x0_seed

    def grad(self, x):
        return self.p.grad(x)

    def value(self, x):
        return self.p.value(x)

    def x0(self, B):
        return self.p.x0(B, seed=self.x0_seed)


CROSS_CHECK_PROBLEMS = {"l1_distance": L1Distance, "least_squares": LeastSquares.random}


def same_x0(B, d, seed=1):
    """B copies of one standard normal draw in R^d (every run starts at the same point)."""
    return torch.as_tensor(np.random.default_rng(seed).standard_normal((1, d))).expand(B, d).clone()


# -- tolerances --------------------------------------------------------------------------------------


def rel_err(a, b, floor=1.0) -> float:
    """max |a - b| / max(floor, max |b|): the error relative to the reference's scale (a
    trajectory's, a state's), never relative to a single tiny entry."""
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64).reshape(a.shape)
    return float((a - b).abs().max() / max(floor, float(b.abs().max()), 1e-300))


def assert_close(ours, ref, rtol=0.0, what="", *, atol=0.0, floor=0.0):
    """max |ours - ref| <= atol + rtol * max(floor, max |ref|). On failure the message names the
    first index along dim 0 that is off (the step, for a trajectory [T, ...])."""
    ours = torch.as_tensor(ours, dtype=torch.float64)
    ref = torch.as_tensor(ref, dtype=torch.float64).reshape(ours.shape)
    scale = max(floor, float(ref.abs().max()))
    err = (ours - ref).abs()
    tol = atol + rtol * scale
    if float(err.max()) > tol or bool(err.isnan().any()):
        bad = (err > tol) | err.isnan()
        where = f" first at index {int(bad.reshape(len(bad), -1).any(1).nonzero()[0][0])}" if ours.ndim else ""
        raise AssertionError(f"{what}: max |diff| {float(err.max()):.3e} > {tol:.3e} (scale {scale:.3e}){where}")


# -- runners -------------------------------------------------------------------------------------------


def run_steps(opt, prob, x0, T, hp, *, loss=False, **options):
    """T steps of a functional optimizer (a name, built with ``options``, or an instance) on full
    gradients of ``prob``, the loss passed when ``loss``: final state, iterates [T+1, B, d] (x0
    first) and stacked info {key: [T, B]}."""
    from ratecheck.optimizers import get

    opt = get(opt, **options) if isinstance(opt, str) else opt
    state = opt.init(x0, **hp)
    xs, infos = [state["x"]], []
    for _ in range(T):
        x = state["x"]
        state, info = opt.step(state, prob.grad(x), prob.value(x)) if loss else opt.step(state, prob.grad(x))
        xs.append(state["x"].clone())
        infos.append(info)
    return state, torch.stack(xs), {k: torch.stack([i[k] for i in infos]) for k in infos[0]}


def trajectory(opt, prob, x0, steps, **hp):
    """``run_steps`` with the loss passed and hp as keywords (``T`` among them for a schedule):
    iterates [steps+1, B, d] and info."""
    _, xs, info = run_steps(opt, prob, x0, steps, hp, loss=True)
    return xs, info


def run_torch(make_opt, prob, x0_row, T, scheduler=None, keys=()):
    """One torch.optim optimizer (``make_opt([param])``, optionally with ``scheduler(opt)``) on one
    parameter tensor, full gradients: iterates [T+1, d] (x0 first), the lr each step used, and
    param_groups[0]'s scalars ``keys`` after each step {key: [T]}."""
    p = torch.nn.Parameter(x0_row.clone())
    opt = make_opt([p])
    sched = scheduler(opt) if scheduler is not None else None
    xs, lrs, rec = [p.detach().clone()], [], {k: [] for k in keys}
    for _ in range(T):
        p.grad = prob.grad(p.detach()[None])[0].clone()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
        xs.append(p.detach().clone())
        for k in keys:
            rec[k].append(float(opt.param_groups[0][k]))
    return torch.stack(xs), lrs, {k: torch.tensor(v, dtype=torch.float64) for k, v in rec.items()}


def cross_check(name, hps, ref_make, pairs, prob_name, rtol, T, note="", **options):
    """Our ``name`` with the settings ``hps`` as one batch against one package optimizer per
    setting (``ref_make(params, h)``): iterates and, per (our info key, package group key) of
    ``pairs``, the scalars agree at every step within ``rtol`` of their scale over the run.
    Returns our iterates [T, B, d] and info."""
    prob = CROSS_CHECK_PROBLEMS[prob_name]()
    x0 = prob.x0(len(hps))
    hp = {k: torch.tensor([h[k] for h in hps], dtype=torch.float64) for k in hps[0]}
    _, xs, info = run_steps(name, prob, x0, T, hp, **options)
    xs = xs[1:]
    for b, h in enumerate(hps):
        rxs, _, rec = run_torch(lambda params: ref_make(params, h), prob, x0[b], T, keys=[r for _, r in pairs])
        tag = f"{name} {h}{note} on {prob_name}"
        assert_close(xs[:, b], rxs[1:], rtol, f"{tag}: x")
        for ours_key, ref_key in pairs:
            assert_close(info[ours_key][:, b], rec[ref_key], rtol, f"{tag}: {ours_key} vs {ref_key}")
    return xs, info


def run_on(pb, opt, hp, T, *, options=None, B=5, seed=0, scale=1.0, dtype=torch.float64):
    """The library runner on a library problem (an instance or a name) from ``pb.x0(B, scale,
    seed)``, iterates kept. ``hp`` may be a function (problem, D) -> hp, D = ||x0 - x*|| of the
    first run. Returns (problem, trace)."""
    from ratecheck.experiments.runner import run
    from ratecheck.optimizers import get as get_opt
    from ratecheck.problems import get as get_problem

    pb = get_problem(pb) if isinstance(pb, str) else pb
    x0 = pb.x0(B, scale=scale, seed=seed)
    if callable(hp):
        hp = hp(pb, float((x0[0] - pb.x_star_tensor(x0)).norm()))
    return pb, run(pb, get_opt(opt, **(options or {})), x0.to(dtype), T, hp=hp, keep_iterates=True)
