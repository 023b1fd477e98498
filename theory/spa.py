"""SGD+momentum as stochastic primal averaging (SPA): equivalences, Lyapunov inequalities, rate.

Defazio, "Momentum via primal averaging: theoretical insights and learning rate schedules for
non-convex optimization", arXiv 2010.00406. The paper's own Lyapunov function and constants are
not available to us; L1/L2 and the rate below are substitutes derived (with proofs) in
docs/theory/spa_momentum.md and are asserted as such, not as quotations.

Forms (k = 0, 1, ...; g_k = gradient at x_k):
- PyTorch SGD+M: m_{k+1} = beta m_k + g_k (m_0 = 0), x_{k+1} = x_k - lr_k m_{k+1};
- heavy ball:    x_{k+1} = x_k - alpha_k g_k + b_k (x_k - x_{k-1});
- SPA:           z_{k+1} = z_k - eta_k g_k (z_0 = x_0), x_{k+1} = (1 - c_{k+1}) x_k + c_{k+1} z_{k+1}.
Arrays: ``c[k]`` holds c_{k+1}, the weight that forms x_{k+1}.
"""

from __future__ import annotations

import numpy as np
import torch

from ratecheck.errors import RatecheckError, out_of_range

from .base import Result, register

PAPER = "Momentum via primal averaging (Defazio)"
ARXIV = "2010.00406"
DOC = "docs/theory/spa_momentum.md"


# -- exact equivalences (pure; section 2 of the note) -------------------------------------------


def spa_from_pytorch(lr, beta, dampening: float = 0.0, stable: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(eta, c) of the SPA form of PyTorch SGD+M with steps lr_0..lr_{n-1} and momentum beta (scalar or per step).

    Via heavy ball: alpha_0 = lr_0, alpha_k = (1 - tau) lr_k, b_k = beta_k lr_k / lr_{k-1}; then
    c_1 = 1 - beta_0, c_{k+1} = b_k c_k / (1 - c_k), eta_k = alpha_k / c_{k+1}. Constant (lr, beta),
    tau = 0: c = 1 - beta, eta = lr / (1 - beta). [DERIVED] (note section 2; tau from the same line)

    The forward recursion has the unstable fixed point 1 - beta (slope 1/beta): round-off grows
    like beta^-k. ``stable=True`` uses the other exact representation fixed by the last weight
    instead (``spa_from_heavy_ball_backward``, slope beta); use it for long runs.
    """
    lr = np.asarray(lr, dtype=np.float64)
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), lr.shape)
    if np.any((beta < 0) | (beta >= 1)):
        raise out_of_range("beta", float(beta[(beta < 0) | (beta >= 1)][0]), "[0, 1)")
    alpha, b = heavy_ball_from_pytorch(lr, beta)
    alpha[..., 1:] *= 1.0 - dampening
    if lr.shape[-1] and np.all(beta == 0):
        return alpha, np.ones_like(lr)
    if stable:
        return spa_from_heavy_ball_backward(alpha, b, 1.0 - beta[..., -1])
    return spa_from_heavy_ball(alpha, b, 1.0 - beta[..., 0])


def heavy_ball_from_spa(eta, c) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, b): alpha_k = c_{k+1} eta_k, b_k = c_{k+1} (1 - c_k) / c_k (b_0 = 0). [DERIVED]"""
    eta, c = np.asarray(eta, dtype=np.float64), np.asarray(c, dtype=np.float64)
    b = np.zeros_like(c)
    b[..., 1:] = c[..., 1:] * (1.0 - c[..., :-1]) / c[..., :-1]
    return c * eta, b


def heavy_ball_from_pytorch(lr, beta) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, b): alpha_k = lr_k, b_k = beta_k lr_k / lr_{k-1} (b_0 = 0). [DERIVED]"""
    lr = np.asarray(lr, dtype=np.float64)
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), lr.shape)
    b = np.zeros_like(lr)
    b[..., 1:] = beta[..., 1:] * lr[..., 1:] / lr[..., :-1]
    return lr.copy(), b


def spa_from_heavy_ball(alpha, b, c1) -> tuple[np.ndarray, np.ndarray]:
    """Inverse map: c_{k+1} = b_k c_k / (1 - c_k), eta_k = alpha_k / c_{k+1}; c_1 is free. [DERIVED]"""
    alpha, b = np.asarray(alpha, dtype=np.float64), np.asarray(b, dtype=np.float64)
    c = np.empty_like(alpha)
    if alpha.shape[-1] == 0:
        return alpha.copy(), c
    c[..., 0] = c1
    for k in range(1, alpha.shape[-1]):
        prev = c[..., k - 1]
        full = prev == 1.0  # x_k = z_k: plain SGD so far; b_k must be 0 and c stays 1
        with np.errstate(divide="ignore", invalid="ignore"):
            c[..., k] = np.where(full, 1.0, b[..., k] * prev / (1.0 - prev))
    return alpha / c, c


def spa_from_heavy_ball_backward(alpha, b, c_last) -> tuple[np.ndarray, np.ndarray]:
    """The SPA form fixed by its last weight: c_n = ``c_last``, c_k = c_{k+1} / (b_k + c_{k+1}), eta_k = alpha_k / c_{k+1}.

    The same relation b_k = c_{k+1} (1 - c_k) / c_k solved for c_k; contracting (slope b/(b+c)^2),
    so round-off does not grow. Every c_k lies in (0, 1] when b >= 0. [DERIVED]
    """
    alpha, b = np.asarray(alpha, dtype=np.float64), np.asarray(b, dtype=np.float64)
    c = np.empty_like(alpha)
    n = alpha.shape[-1]
    if n == 0:
        return alpha.copy(), c
    c[..., n - 1] = c_last
    for k in range(n - 2, -1, -1):
        c[..., k] = c[..., k + 1] / (b[..., k + 1] + c[..., k + 1])
    return alpha / c, c


def pytorch_from_spa(eta, c) -> tuple[np.ndarray, np.ndarray]:
    """(lr, beta) of PyTorch SGD+M equal to SPA (eta, c): via heavy ball, lr_k = c_{k+1} eta_k,
    beta_k = b_k lr_{k-1} / lr_k (beta_0 = 1 - c_1, which has no effect). [DERIVED]"""
    alpha, b = heavy_ball_from_spa(eta, c)
    beta = np.empty_like(alpha)
    beta[..., :1] = 1.0 - np.asarray(c)[..., :1]
    beta[..., 1:] = b[..., 1:] * alpha[..., :-1] / alpha[..., 1:]
    return alpha, beta


def pytorch_iterates(x0, grads, lr, beta) -> tuple[np.ndarray, np.ndarray]:
    """x_0..x_n and buffers m_0..m_n of PyTorch SGD+M (m_0 = 0) fed the gradients ``grads`` [n, .., d].

    ``lr`` and ``beta`` are [n] (or scalars for beta) shared by every leading index."""
    x, m = np.asarray(x0, dtype=np.float64), np.zeros_like(np.asarray(x0, dtype=np.float64))
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), np.shape(lr))
    xs, ms = [x], [m]
    for k, g in enumerate(grads):
        m = beta[k] * m + g
        x = x - lr[k] * m
        xs.append(x)
        ms.append(m)
    return np.stack(xs), np.stack(ms)


def spa_iterates(x0, grads, eta, c) -> tuple[np.ndarray, np.ndarray]:
    """x_0..x_n and z_0..z_n of SPA fed the gradients ``grads`` [n, .., d]."""
    x = np.asarray(x0, dtype=np.float64)
    z = x.copy()
    xs, zs = [x], [z]
    for k, g in enumerate(grads):
        z = z - eta[k] * g
        x = (1 - c[k]) * x + c[k] * z
        xs.append(x)
        zs.append(z)
    return np.stack(xs), np.stack(zs)


def heavy_ball_iterates(x0, grads, alpha, b) -> np.ndarray:
    x = np.asarray(x0, dtype=np.float64)
    prev = x
    xs = [x]
    for k, g in enumerate(grads):
        x, prev = x - alpha[k] * g + b[k] * (x - prev), x
        xs.append(x)
    return np.stack(xs)


def step_drop_c(c0: float, beta: float, n: int) -> np.ndarray:
    """c after a PyTorch lr drop (section 3): c_{k+1} = beta c_k / (1 - c_k), from c_0 = ``c0``; n values."""
    out = [c0]
    for _ in range(n - 1):
        out.append(beta * out[-1] / (1 - out[-1]))
    return np.array(out)


# -- Lyapunov inequalities (pure; section 4) ------------------------------------------------------


def l1_rhs(f_x, grad_sq, corr, d_sq, eta, c, L, sigma_sq=0.0):
    """(L1) E f(x_{k+1}) <= f(x_k) - c eta (1 - L c eta / 2) ||grad||^2 + c (1 - L c eta) <grad, d_k>
    + L c^2 ||d_k||^2 / 2 + L c^2 eta^2 sigma^2 / 2, with d_k = z_k - x_k. [DERIVED]"""
    return (f_x - c * eta * (1 - L * c * eta / 2) * grad_sq + c * (1 - L * c * eta) * corr
            + L * c * c * d_sq / 2 + L * c * c * eta * eta * sigma_sq / 2)


def lyapunov_l2(f_z, d_sq, eta, c, L, eps):
    """Lambda_k = f(z_k) + eta L^2 ||z_k - x_k||^2 / (2 eps c). [DERIVED]"""
    return f_z + eta * L * L * d_sq / (2 * eps * c)


def l2_decrease(grad_sq, eta, c, L, eps, sigma_sq=0.0):
    """Right side minus Lambda_k of (L2): -eta A ||grad f(x_k)||^2 + L eta^2 (1 + L eta (1-c)^2/(eps c)) sigma^2 / 2,
    A = 1 - eps/2 - L eta/2 - L^2 eta^2 (1-c)^2 / (2 eps c^2). [DERIVED]"""
    A = l2_coefficient(eta, c, L, eps)
    return -eta * A * grad_sq + L * eta * eta / 2 * (1 + L * eta * (1 - c) ** 2 / (eps * c)) * sigma_sq


def l2_coefficient(eta, c, L, eps):
    return 1 - eps / 2 - L * eta / 2 - (L * eta * (1 - c)) ** 2 / (2 * eps * c * c)


def best_eps(eta, c, L):
    """eps maximising the (L2) coefficient when sigma = 0: eps = L eta (1 - c) / c."""
    return L * eta * (1 - c) / c


def rate_bound(f0_gap, K, eta, c, L, eps=None, sigma_sq=0.0):
    """(1/K) sum_{k<K} E||grad f(x_k)||^2 <= [f0_gap/(eta K) + L eta (1 + L eta (1-c)^2/(eps c)) sigma^2/2] / A.

    eps defaults to ``best_eps`` (exact for sigma = 0); NaN where A <= 0 (no guarantee). [DERIVED]
    c = 1, eps -> 0 is the sharp SGD bound [f0_gap/(eta K) + L eta sigma^2/2] / (1 - L eta/2).
    """
    eta, c = np.asarray(eta, dtype=np.float64), np.asarray(c, dtype=np.float64)
    if eps is None:
        eps = best_eps(eta, c, L)
    eps = np.asarray(eps, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        A = 1 - eps / 2 - L * eta / 2 - np.where(c < 1, (L * eta * (1 - c)) ** 2 / (2 * eps * c * c), 0.0)
        noise = L * eta / 2 * (1 + np.where(c < 1, L * eta * (1 - c) ** 2 / (eps * c), 0.0)) * sigma_sq
        val = (f0_gap / (eta * K) + noise) / A
    return np.where(A > 0, val, np.nan)


# =============================================================================================
# Registered results (deterministic runs on smooth problems)
# =============================================================================================


FORMS = ("sgd", "sgd_momentum", "heavy_ball", "spa")


def _rows(trace, name: str) -> np.ndarray:
    """Per-step info [T, B] as numpy."""
    return trace[name][: trace.horizon].to(torch.float64).cpu().numpy()


def _hp(trace, name: str, default: float = 0.0) -> np.ndarray:
    hp = trace.meta.get("hp", {})
    return hp[name].to(torch.float64).cpu().numpy() if name in hp else np.full(trace.batch, default)


def spa_params(trace) -> tuple[np.ndarray, np.ndarray]:
    """(eta [T, B], c [T, B]): each run's SPA form from its recorded per-step parameters.

    sgd: (lr, 1); sgd_momentum: info lr and momentum, hp dampening; heavy_ball: info lr (alpha)
    and momentum (beta); both in the stable representation with c_T = 1 - beta_{T-1} (constant
    parameters give exactly c = 1 - beta); spa: info lr (eta) and c.
    """
    opt = trace.meta.get("optimizer")
    if opt not in FORMS:
        raise RatecheckError(f"no SPA form known for optimizer {opt!r}; known: {', '.join(FORMS)}")
    lr = _rows(trace, "lr")
    if opt == "sgd":
        return lr, np.ones_like(lr)
    if opt == "spa":
        return lr, _rows(trace, "c")
    mom = _rows(trace, "momentum")
    eta, c = np.empty_like(lr), np.empty_like(lr)
    for b in range(lr.shape[1]):
        if opt == "sgd_momentum":
            eta[:, b], c[:, b] = spa_from_pytorch(lr[:, b], mom[:, b], float(_hp(trace, "dampening")[b]), stable=True)
        else:
            eta[:, b], c[:, b] = spa_from_heavy_ball_backward(lr[:, b], mom[:, b], 1.0 - mom[-1, b])
    return eta, c


def _need_iterates(trace) -> torch.Tensor | None:
    x = trace.iterates.get("x") if trace.iterates else None
    return None if x is None else x.to(torch.float64)


def _grads(trace, problem, x: torch.Tensor) -> torch.Tensor:
    """Gradients the run used at x_0..x_T (recomputed; weight decay added as the optimizers do)."""
    g = torch.stack([problem.grad(x[k]) for k in range(x.shape[0])])
    wd = torch.from_numpy(_hp(trace, "weight_decay"))
    return g + wd[None, :, None] * x


def _spa_traj(trace, problem):
    """(x of the run, x of the other form, z or buffer magnitude source) from the run's gradients.

    sgd_momentum / heavy_ball runs are replayed in SPA form; spa runs in PyTorch form."""
    x = _need_iterates(trace)
    if x is None:
        return None
    g = _grads(trace, problem, x)
    eta, c = (torch.from_numpy(a) for a in spa_params(trace))
    if trace.meta.get("optimizer") == "spa":
        lr, beta = (torch.from_numpy(a) for a in pytorch_from_spa(eta.T.numpy(), c.T.numpy()))
        lr, beta = lr.T, beta.T
        xs, ms = [x[0]], [torch.zeros_like(x[0])]
        for k in range(x.shape[0] - 1):
            m = beta[k][:, None] * ms[-1] + g[k]
            xs.append(xs[-1] - lr[k][:, None] * m)
            ms.append(m)
        xs = torch.stack(xs)
        aux = torch.stack([lr[k - 1][:, None] * ms[k] / (1 - beta[k - 1])[:, None] if k else torch.zeros_like(x[0]) for k in range(x.shape[0])])
        return x, xs, aux.norm(dim=-1)
    xs, zs = [x[0]], [x[0]]
    for k in range(x.shape[0] - 1):
        z = zs[-1] - eta[k][:, None] * g[k]
        xs.append((1 - c[k])[:, None] * xs[-1] + c[k][:, None] * z)
        zs.append(z)
    xs, zs = torch.stack(xs), torch.stack(zs)
    return x, xs, torch.linalg.vector_norm(zs - problem.x_star_tensor(x[0]), dim=-1)


def equivalence_bound(trace, problem) -> torch.Tensor:
    """||x_k^SPA - x*|| of the SPA recursion fed the run's own gradients (NaN without iterates)."""
    out = _spa_traj(trace, problem)
    if out is None:
        return torch.full_like(trace["dist"], torch.nan, dtype=torch.float64)
    _, xs, _ = out
    return torch.linalg.vector_norm(xs - problem.x_star_tensor(xs[0]), dim=-1)


def equivalence_scale(trace, problem) -> torch.Tensor:
    """Running sum of ||x_j - x*|| plus the magnitude of the auxiliary sequence (z or the scaled
    buffer): round-off in both recursions grows with these."""
    out = _spa_traj(trace, problem)
    if out is None:
        return torch.zeros_like(trace["dist"], dtype=torch.float64)
    _, xs, aux = out
    mag = torch.linalg.vector_norm(xs - problem.x_star_tensor(xs[0]), dim=-1) + aux
    return torch.cumsum(mag, 0)


def _dist(trace, problem) -> torch.Tensor:
    return trace["dist"].to(torch.float64)


def _shift(v: torch.Tensor) -> torch.Tensor:
    """Value for step k placed on row k+1 (the row of the iterate it bounds)."""
    return torch.cat([torch.full_like(v[:1], torch.nan), v[:-1]])


def _lyap_parts(trace, problem):
    """x_k, grad f(x_k), d_k = z_k - x_k = (1-c)/c (x_k - x_{k-1}) (d_0 = 0), and the constant (eta, c) [B]."""
    x = _need_iterates(trace)
    if x is None:
        return None
    eta, c = spa_params(trace)
    eta, cc = torch.from_numpy(eta[0]), torch.from_numpy(c[0])
    g = torch.stack([problem.grad(x[k]) for k in range(x.shape[0])])
    dx = torch.cat([torch.zeros_like(x[:1]), x[1:] - x[:-1]])
    d = ((1 - cc) / cc)[None, :, None] * dx
    return x, g, d, eta, cc


def l1_observed(trace, problem) -> torch.Tensor:
    s = trace["subopt"].to(torch.float64).clone()
    s[0] = torch.nan
    return s


def l1_bound(trace, problem) -> torch.Tensor:
    parts = _lyap_parts(trace, problem)
    if parts is None:
        return torch.full_like(trace["subopt"], torch.nan, dtype=torch.float64)
    x, g, d, eta, c = parts
    f = trace["subopt"].to(torch.float64)
    L = float(problem.L)
    rhs = l1_rhs(f, (g * g).sum(-1), (g * d).sum(-1), (d * d).sum(-1), eta, c, L)
    return _shift(rhs)


def l1_scale(trace, problem) -> torch.Tensor:
    parts = _lyap_parts(trace, problem)
    if parts is None:
        return torch.zeros_like(trace["subopt"], dtype=torch.float64)
    x, g, d, eta, c = parts
    f = trace["subopt"].to(torch.float64).abs()
    L = float(problem.L)
    gs, ds = (g * g).sum(-1), (d * d).sum(-1)
    mag = f + c * eta * gs * (1 + L * c * eta) + c * (1 + L * c * eta) * gs.sqrt() * ds.sqrt() + L * c * c * ds
    return _shift(mag)


EPS_L2 = 1.0  # any eps > 0 is valid; 1 is the note's choice for the sqrt(2) remark


def _lambda(trace, problem):
    parts = _lyap_parts(trace, problem)
    if parts is None:
        return None
    x, g, d, eta, c = parts
    L = float(problem.L)
    fz = problem.value((x + d).reshape(-1, x.shape[-1])).reshape(x.shape[:2]) - problem.f_star
    lam = lyapunov_l2(fz, (d * d).sum(-1), eta, c, L, EPS_L2)
    return lam, (g * g).sum(-1), eta, c, L, fz


def l2_observed(trace, problem) -> torch.Tensor:
    out = _lambda(trace, problem)
    if out is None:
        return torch.full_like(trace["subopt"], torch.nan, dtype=torch.float64)
    lam = out[0].clone()
    lam[0] = torch.nan
    return lam


def l2_bound(trace, problem) -> torch.Tensor:
    out = _lambda(trace, problem)
    if out is None:
        return torch.full_like(trace["subopt"], torch.nan, dtype=torch.float64)
    lam, gs, eta, c, L, _ = out
    return _shift(lam + l2_decrease(gs, eta, c, L, EPS_L2))


def l2_scale(trace, problem) -> torch.Tensor:
    out = _lambda(trace, problem)
    if out is None:
        return torch.zeros_like(trace["subopt"], dtype=torch.float64)
    lam, gs, eta, c, L, fz = out
    return _shift(fz.abs() + lam.abs() + eta * gs * (1 + L * eta + (L * eta * (1 - c) / c) ** 2))


def rate_observed(trace, problem) -> torch.Tensor:
    """Row K: (1/K) sum_{k<K} ||grad f(x_k)||^2 (row 0: NaN)."""
    g2 = trace["grad_norm"].to(torch.float64) ** 2
    K = torch.arange(1, g2.shape[0], dtype=torch.float64)[:, None]
    mean = torch.cumsum(g2[:-1], 0) / K
    return torch.cat([torch.full_like(g2[:1], torch.nan), mean])


def _rate(trace, problem, eps_fixed):
    eta, c = spa_params(trace)
    f0 = trace["subopt"][0].to(torch.float64).numpy()
    K = np.arange(1, trace.steps.shape[0])[:, None].astype(np.float64)
    eps = None if eps_fixed is None else np.full(eta.shape[1], eps_fixed)
    val = rate_bound(f0[None, :], K, eta[0][None, :], c[0][None, :], float(problem.L), eps)
    out = np.concatenate([np.full((1, eta.shape[1]), np.nan), val], 0)
    return torch.from_numpy(out)


def rate_bound_rows(trace, problem) -> torch.Tensor:
    return _rate(trace, problem, None)


def sqrt2_rows(trace, problem) -> torch.Tensor:
    return _rate(trace, problem, 1.0)


def _no_wd(trace) -> np.ndarray:
    return _hp(trace, "weight_decay") == 0


def constant_applies(trace, problem) -> torch.Tensor:
    """Constant (eta, c) in SPA form, no weight decay or Nesterov, and a known L."""
    eta, c = spa_params(trace)
    const = np.all(np.abs(eta - eta[:1]) <= 1e-12 * np.abs(eta[:1]), 0) & np.all(np.abs(c - c[:1]) <= 1e-12, 0)
    ok = const & (eta[0] > 0) & _no_wd(trace) & (_hp(trace, "nesterov") == 0) & (problem.L is not None)
    return torch.from_numpy(ok)


def equivalence_applies(trace, problem) -> torch.Tensor:
    """Iterates kept, no Nesterov (not a heavy-ball method), every c_k in (0, 1]."""
    has_x = _need_iterates(trace) is not None
    _, c = spa_params(trace)
    ok = np.all((c > 0) & (c <= 1), 0) & (_hp(trace, "nesterov") == 0) & has_x
    return torch.from_numpy(ok)


def rate_applies(trace, problem) -> torch.Tensor:
    ok = constant_applies(trace, problem).numpy()
    if problem.L is None:
        return torch.from_numpy(ok)
    eta, c = spa_params(trace)
    A = rate_bound(1.0, 1.0, eta[0], c[0], float(problem.L))
    return torch.from_numpy(ok & np.isfinite(A))


MOMENTUM = ("sgd_momentum", "heavy_ball", "spa")
_common = dict(paper=PAPER, arxiv=ARXIV, oracle="deterministic", requires=frozenset({"smooth"}))

register(Result(
    key="spa.equivalence", title="PyTorch SGD+M equals SPA with (eta, c) from the lr sequence",
    provenance="DERIVED", source=f"{DOC}#equivalence", kind="identity", iterate="last",
    statement="x_k(SGD+M) = x_k(SPA), c_1 = 1-beta, c_{k+1} = beta (lr_k/lr_{k-1}) c_k/(1-c_k), eta_k = lr_k/c_{k+1}",
    optimizers=MOMENTUM, observed=_dist, bound=equivalence_bound, scale=equivalence_scale,
    applies=equivalence_applies, paper=PAPER, arxiv=ARXIV, oracle="deterministic",
))
register(Result(
    key="spa.l1_one_step", title="One-step descent with the momentum-correlation term (L1)",
    provenance="DERIVED", source=f"{DOC}#l1", kind="lyapunov", iterate="last",
    statement="f(x_{k+1}) <= f(x_k) - c eta (1 - Lc eta/2)||grad||^2 + c (1 - Lc eta) <grad, z_k - x_k> + (L c^2/2)||z_k - x_k||^2",
    optimizers=("sgd",) + MOMENTUM, observed=l1_observed, bound=l1_bound, scale=l1_scale,
    applies=constant_applies, **_common,
))
register(Result(
    key="spa.l2_lyapunov", title="Lyapunov function f(z) + eta L^2 ||z - x||^2 / (2 eps c) (L2), eps = 1",
    provenance="DERIVED", source=f"{DOC}#l2", kind="lyapunov", iterate="none",
    statement="Lambda_{k+1} <= Lambda_k - eta (1 - eps/2 - L eta/2 - L^2 eta^2 (1-c)^2/(2 eps c^2)) ||grad f(x_k)||^2",
    optimizers=("sgd",) + MOMENTUM, observed=l2_observed, bound=l2_bound, scale=l2_scale,
    applies=constant_applies, **_common,
))
register(Result(
    key="spa.rate", title="Average squared gradient norm of SGD+M on smooth non-convex f",
    provenance="DERIVED", source=f"{DOC}#rate", iterate="average",
    statement="(1/K) sum_{k<K} ||grad f(x_k)||^2 <= (f(x_0) - f*) / (eta K (1 - L eta/2 - L eta (1-c)/c)), eta = lr/(1-beta), c = 1-beta",
    optimizers=("sgd",) + MOMENTUM, observed=rate_observed, bound=rate_bound_rows,
    applies=rate_applies, **_common,
))
register(Result(
    key="spa.sqrt2_gap", title="SGD+M within a factor sqrt(2) of SGD (eps = 1 route)",
    provenance="UNVERIFIED", source=f"{DOC}#sqrt2 (paper's route unknown; SECONDARY blog wording)",
    iterate="average",
    statement="rate bound with eps = 1; whether this is the paper's route is unverified",
    optimizers=("sgd",) + MOMENTUM, observed=rate_observed, bound=sqrt2_rows,
    applies=rate_applies, **_common,
))
