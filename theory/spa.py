"""SGD+momentum as stochastic primal averaging (SPA): the exact equivalence, Lyapunov inequalities, rate.

Defazio, "Momentum via primal averaging: theoretical insights and learning rate schedules for
non-convex optimization", arXiv 2010.00406. The paper's own Lyapunov function and constants were
not available to us (docs/references/spa_momentum.md §0, §4): the one-step inequality L1, the
Lyapunov function L2 and the rate are substitutes derived and proved in
docs/theory/spa_momentum.md, asserted as such, never as quotations. With minibatch gradients L2 is
checked in expectation telescoped over the steps (``spa.l2_expected``), where its slack outgrows the
zero-mean noise of the single steps; the per-step forms are proved but not registered.

Forms (k = 0, 1, ...; g_k the gradient used at x_k; docs/references/spa_momentum.md §1-2):

- PyTorch SGD+M (torch.optim.SGD, dampening tau): m_1 = g_0, m_{k+1} = beta_k m_k + (1 - tau) g_k,
  x_{k+1} = x_k - lr_k m_{k+1}; a step with beta_k = 0 is x_k - lr_k g_k (torch ignores the buffer
  and the dampening there, as ``optimizers/momentum.py`` does);
- heavy ball: x_{k+1} = x_k - alpha_k g_k + b_k (x_k - x_{k-1}), x_{-1} = x_0;
- SPA: z_0 = x_0, z_{k+1} = z_k - eta_k g_k, x_{k+1} = (1 - c_{k+1}) x_k + c_{k+1} z_{k+1}.

Sequences are torch float64 with time on dim 0 (trailing dims, e.g. runs, broadcast); ``c[k]``
holds c_{k+1}, the weight that forms x_{k+1} (the ``c`` the ``spa`` optimizer uses at step k).
"""

from __future__ import annotations

import math

import torch

from ratecheck.errors import out_of_range

from . import access as A
from .access import Unavailable
from .base import Assumption, Example, Provenance, Result, Role, Sides, example, register

F64 = torch.float64
PAPER = "Momentum via primal averaging (Defazio)"
ARXIV = "2010.00406"
DOC = "docs/theory/spa_momentum.md"
EPS_L2 = 1.0  # any eps > 0 is valid in L2; 1 is the note's choice behind the sqrt(2) remark


def _seq(v) -> torch.Tensor:
    return torch.as_tensor(v, dtype=F64)


def _like(v, ref: torch.Tensor) -> torch.Tensor:
    """``v`` (a scalar, a sequence [n] or [n, ...]) broadcast to ``ref``'s shape, time on dim 0."""
    t = _seq(v)
    if t.ndim:
        t = t.reshape(t.shape + (1,) * (ref.ndim - t.ndim))
    return torch.broadcast_to(t, ref.shape)


# -- exact equivalences (pure; docs/theory/spa_momentum.md#equivalence) ----------------------------


def heavy_ball_from_pytorch(lr, beta, dampening=0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, b) of the heavy ball equal to PyTorch SGD+M with steps lr_k, momentum beta_k, dampening tau.

    m_k = -s_{k-1} (x_k - x_{k-1}) / lr_{k-1}, with s_j = 1 - tau after a plain step j >= 1 (beta_j = 0:
    the step took g_j, the buffer kept (1 - tau) g_j) and s_j = 1 otherwise, gives
    alpha_k = lr_k (k = 0 or beta_k = 0), (1 - tau) lr_k (else); b_0 = 0, b_k = beta_k s_{k-1} lr_k / lr_{k-1}.
    [DERIVED] (docs/references/spa_momentum.md §2 for tau = 0; tau from the same line)
    """
    lr = _seq(lr)
    beta, tau = _like(beta, lr), _like(dampening, lr)
    plain = beta == 0
    first = torch.zeros_like(plain)
    first[:1] = True
    alpha = torch.where(plain | first, 1.0, 1.0 - tau) * lr
    s = torch.where(plain & ~first, 1.0 - tau, 1.0)
    b = torch.zeros_like(lr)
    b[1:] = beta[1:] * s[:-1] * lr[1:] / lr[:-1]
    return alpha, b


def heavy_ball_from_spa(eta, c) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, b): alpha_k = c_{k+1} eta_k, b_0 = 0, b_k = c_{k+1} (1 - c_k) / c_k. [DERIVED]

    From z_k - x_k = (1 - c_k)/c_k (x_k - x_{k-1}) (docs/references/spa_momentum.md §2).
    """
    eta, c = _seq(eta), _seq(c)
    b = torch.zeros_like(c)
    b[1:] = c[1:] * (1.0 - c[:-1]) / c[:-1]
    return c * eta, b


def spa_from_heavy_ball(alpha, b, c1) -> tuple[torch.Tensor, torch.Tensor]:
    """(eta, c) by the forward recursion c_{k+1} = b_k c_k / (1 - c_k), eta_k = alpha_k / c_{k+1}; c_1 free. [DERIVED]

    Where c_k = 1 (x_k = z_k: plain SGD so far) b_k must be 0 and c stays 1. The recursion's fixed
    point 1 - beta is unstable (slope 1/beta): round-off grows like beta^-k; see the backward form.
    """
    alpha = _seq(alpha)
    b = _like(b, alpha)
    c = torch.empty_like(alpha)
    if alpha.shape[0] == 0:
        return alpha.clone(), c
    c[0] = _like(c1, alpha[0])
    for k in range(1, alpha.shape[0]):
        prev = c[k - 1]
        full = prev == 1.0
        c[k] = torch.where(full, 1.0, b[k] * prev / torch.where(full, 1.0, 1.0 - prev))
    return alpha / c, c


def spa_from_heavy_ball_backward(alpha, b, c_last) -> tuple[torch.Tensor, torch.Tensor]:
    """(eta, c) fixed by the last weight: c_n = ``c_last``, c_k = c_{k+1} / (b_k + c_{k+1}), eta_k = alpha_k / c_{k+1}.

    The relation b_k = c_{k+1} (1 - c_k) / c_k solved for c_k: contracting (slope b / (b + c)^2), so
    round-off does not grow; every c_k lies in (0, 1] when b >= 0 and c_last in (0, 1]. [DERIVED]
    """
    alpha = _seq(alpha)
    b = _like(b, alpha)
    c = torch.empty_like(alpha)
    n = alpha.shape[0]
    if n == 0:
        return alpha.clone(), c
    c[n - 1] = _like(c_last, alpha[0])
    for k in range(n - 2, -1, -1):
        c[k] = c[k + 1] / (b[k + 1] + c[k + 1])
    return alpha / c, c


def spa_from_pytorch(lr, beta, dampening=0.0, stable: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(eta, c) of the SPA form of PyTorch SGD+M (via ``heavy_ball_from_pytorch``). [DERIVED]

    Constant (lr, beta), tau = 0: c = 1 - beta, eta = lr / (1 - beta). ``stable=False``: the note's
    forward recursion from c_1 = 1 - beta_0 (round-off grows like beta^-k; short runs and the
    step-drop illustration only); ``stable=True``: the backward form from c_n = 1 - beta_{n-1}, used
    by every check.
    """
    lr = _seq(lr)
    beta = _like(beta, lr)
    bad = (beta < 0) | (beta >= 1)
    if bool(bad.any()):
        raise out_of_range("beta", float(beta[bad][0]), "[0, 1)")
    alpha, b = heavy_ball_from_pytorch(lr, beta, dampening)
    if lr.shape[0] == 0:
        return alpha, alpha.clone()
    if stable:
        return spa_from_heavy_ball_backward(alpha, b, 1.0 - beta[-1])
    return spa_from_heavy_ball(alpha, b, 1.0 - beta[0])


def pytorch_from_spa(eta, c) -> tuple[torch.Tensor, torch.Tensor]:
    """(lr, beta) of PyTorch SGD+M (dampening 0) equal to SPA (eta, c): via the heavy ball,
    lr_k = c_{k+1} eta_k, beta_k = b_k lr_{k-1} / lr_k (beta_0 = 1 - c_1, which has no effect). [DERIVED]"""
    alpha, b = heavy_ball_from_spa(eta, c)
    beta = torch.empty_like(alpha)
    beta[:1] = 1.0 - _seq(c)[:1]
    beta[1:] = b[1:] * alpha[:-1] / alpha[1:]
    return alpha, beta


def spa_gap(x, c) -> torch.Tensor:
    """d_k = z_k - x_k of the SPA form from its iterates x_0..x_n [n+1, ..., dim] and weights c [n, ...]:
    d_0 = 0, d_k = (1 - c_k)/c_k (x_k - x_{k-1}) (``c[k-1]`` formed x_k). [DERIVED]"""
    x = _seq(x)
    w = (1.0 - _seq(c)) / _seq(c)
    d = torch.zeros_like(x)
    d[1:] = _like(w, x[1:, ..., 0])[..., None] * (x[1:] - x[:-1])
    return d


def _step_param(p, grads: torch.Tensor) -> torch.Tensor:
    """A per-step parameter (scalar, [n] or [n, ...]) shaped [n, ..., 1] to scale grads [n, ..., dim]."""
    return _like(p, grads[..., 0])[..., None]


def pytorch_iterates(x0, grads, lr, beta) -> tuple[torch.Tensor, torch.Tensor]:
    """x_0..x_n and buffers m_0..m_n (m_0 = 0) of PyTorch SGD+M (dampening 0) fed ``grads`` [n, ..., dim]."""
    grads = _seq(grads)
    lr, beta = _step_param(lr, grads), _step_param(beta, grads)
    x = _seq(x0).expand_as(grads[0]) if grads.shape[0] else _seq(x0)
    m = torch.zeros_like(x)
    xs, ms = [x], [m]
    for k in range(grads.shape[0]):
        m = beta[k] * m + grads[k]
        x = x - lr[k] * m
        xs.append(x)
        ms.append(m)
    return torch.stack(xs), torch.stack(ms)


def spa_iterates(x0, grads, eta, c) -> tuple[torch.Tensor, torch.Tensor]:
    """x_0..x_n and z_0..z_n of SPA fed ``grads`` [n, ..., dim]."""
    grads = _seq(grads)
    eta, c = _step_param(eta, grads), _step_param(c, grads)
    x = _seq(x0).expand_as(grads[0]) if grads.shape[0] else _seq(x0)
    z = x
    xs, zs = [x], [z]
    for k in range(grads.shape[0]):
        z = z - eta[k] * grads[k]
        x = (1.0 - c[k]) * x + c[k] * z
        xs.append(x)
        zs.append(z)
    return torch.stack(xs), torch.stack(zs)


def heavy_ball_iterates(x0, grads, alpha, b) -> torch.Tensor:
    """x_0..x_n of the heavy ball (x_{-1} = x_0) fed ``grads`` [n, ..., dim]."""
    grads = _seq(grads)
    alpha, b = _step_param(alpha, grads), _step_param(b, grads)
    x = _seq(x0).expand_as(grads[0]) if grads.shape[0] else _seq(x0)
    prev = x
    xs = [x]
    for k in range(grads.shape[0]):
        x, prev = x - alpha[k] * grads[k] + b[k] * (x - prev), x
        xs.append(x)
    return torch.stack(xs)


def step_drop_c(c0: float, beta: float, n: int) -> torch.Tensor:
    """c after a PyTorch lr drop (docs/references/spa_momentum.md §3): c_{k+1} = beta c_k / (1 - c_k), from ``c0``; n values."""
    out = [float(c0)]
    for _ in range(n - 1):
        out.append(beta * out[-1] / (1 - out[-1]))
    return torch.tensor(out, dtype=F64)


# -- Lyapunov inequalities and the rate (pure; docs/theory/spa_momentum.md#l1, #l2, #rate) ---------


def l1_rhs(f_x, grad_sq, corr, d_sq, eta, c, L, sigma_sq=0.0):
    """(L1) E f(x_{k+1}) <= f(x_k) - c eta (1 - L c eta / 2) ||grad||^2 + c (1 - L c eta) <grad, d_k>
    + L c^2 ||d_k||^2 / 2 + L c^2 eta^2 sigma^2 / 2, with d_k = z_k - x_k, (eta, c) = (eta_k, c_{k+1}). [DERIVED]"""
    return (f_x - c * eta * (1 - L * c * eta / 2) * grad_sq + c * (1 - L * c * eta) * corr
            + L * c * c * d_sq / 2 + L * c * c * eta * eta * sigma_sq / 2)


def lyapunov_l2(f_z, d_sq, eta, c, L, eps):
    """Lambda_k = f(z_k) + eta L^2 ||z_k - x_k||^2 / (2 eps c). [DERIVED]"""
    return f_z + eta * L * L * d_sq / (2 * eps * c)


def l2_coefficient(eta, c, L, eps):
    """A = 1 - eps/2 - L eta/2 - L^2 eta^2 (1-c)^2 / (2 eps c^2); the last term is 0 at c = 1 (any eps >= 0)."""
    eta, c, eps = _seq(eta), _seq(c), _seq(eps)
    return 1 - eps / 2 - L * eta / 2 - torch.where(c < 1, (L * eta * (1 - c)) ** 2 / (2 * eps * c * c), 0.0)


def l2_decrease(grad_sq, eta, c, L, eps, sigma_sq=0.0):
    """Right side minus Lambda_k of (L2): -eta A ||grad f(x_k)||^2 + L eta^2 (1 + L eta (1-c)^2/(eps c)) sigma^2 / 2. [DERIVED]"""
    A_ = l2_coefficient(eta, c, L, eps)
    return -eta * A_ * grad_sq + L * eta * eta / 2 * (1 + L * eta * (1 - c) ** 2 / (eps * c)) * sigma_sq


def best_eps(eta, c, L):
    """eps maximising the (L2) coefficient when sigma = 0: eps = L eta (1 - c) / c."""
    return L * _seq(eta) * (1 - _seq(c)) / _seq(c)


def rate_bound(f0_gap, K, eta, c, L, eps=None, sigma_sq=0.0) -> torch.Tensor:
    """(1/K) sum_{k<K} E||grad f(x_k)||^2 <= [f0_gap/(eta K) + L eta (1 + L eta (1-c)^2/(eps c)) sigma^2/2] / A.

    eps defaults to ``best_eps`` (exact for sigma = 0); NaN where A <= 0 (no guarantee). [DERIVED]
    c = 1 is the sharp GD bound [f0_gap/(eta K) + L eta sigma^2/2] / (1 - L eta/2).
    """
    eta, c = _seq(eta), _seq(c)
    eps = best_eps(eta, c, L) if eps is None else _seq(eps)
    A_ = l2_coefficient(eta, c, L, eps)
    noise = L * eta / 2 * (1 + torch.where(c < 1, L * eta * (1 - c) ** 2 / (eps * c), 0.0)) * sigma_sq
    val = (_seq(f0_gap) / (eta * _seq(K)) + noise) / A_
    return torch.where(A_ > 0, val, math.nan)


# =================================================================================================
# Registered results
# =================================================================================================

FORMS = ("sgd", "sgd_momentum", "heavy_ball", "spa")
MOMENTUM = ("sgd_momentum", "heavy_ball", "spa")


def _form(trace) -> str:
    # The access layer has no accessor for the optimizer's name; the form of the recorded
    # per-step parameters depends on it.
    opt = A.optimizer(trace)
    if opt not in FORMS:
        raise Unavailable(f"no SPA form known for optimizer {opt!r}; known: {', '.join(FORMS)}")
    return opt


def spa_params(trace) -> tuple[torch.Tensor, torch.Tensor]:
    """(eta [T, B], c [T, B]): each run's SPA form from its recorded per-step parameters.

    sgd: (lr, 1); spa: (lr, c) as recorded; sgd_momentum (lr, momentum, hp dampening) and heavy_ball
    (lr = alpha, momentum = b) in the backward (stable) representation with c_T = 1 - momentum_{T-1}
    (constant parameters give c = 1 - beta).
    """
    form = _form(trace)
    lr = A.col(trace, "lr")
    if form == "sgd":
        return lr, torch.ones_like(lr)
    if form == "spa":
        return lr, A.col(trace, "c")
    mom = A.col(trace, "momentum")
    if form == "sgd_momentum":
        alpha, b = heavy_ball_from_pytorch(lr, mom, A.hp_or(trace, "dampening", 0.0)[None, :])
    else:  # heavy ball: its beta_0 multiplies x_0 - x_{-1} = 0
        alpha, b = lr, torch.cat([torch.zeros_like(mom[:1]), mom[1:]])
    return spa_from_heavy_ball_backward(alpha, b, 1.0 - mom[-1])


def _smoothness(problem) -> float:
    if problem.L is None:
        raise Unavailable(f"{problem.name} has no smoothness constant L")
    return float(problem.L)


def _norm(v: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(v, dim=-1)


def _at_iterates(*per_step: torch.Tensor, first: float = math.nan) -> list[torch.Tensor]:
    """Step-n quantities [T, B] placed on row n+1 of [T+1, B], row 0 = ``first``: a statement about
    step n is checked on the row of the iterate x_{n+1} it produces, so that the check drops it with
    that iterate once the run has diverged or overflowed there."""
    return [torch.cat([torch.full_like(v[:1], first), v]) for v in per_step]


NO_STEP = "row 0 is x_0: no step taken yet"


def _grad_error_size(trace, problem) -> torch.Tensor:
    """[T+1, B]: the size of the terms a gradient at x_t is computed from, L (||x_t - x*|| + 2||x*||)
    (0 without L): the run's gradient, rounded in its dtype, differs from the float64 one by u times this."""
    return (problem.L or 0.0) * A.dist_magnitude(trace, problem)


def _equivalence_sides(trace, problem) -> Sides:
    """||x_n - x_n^replay|| (row n) against 0: the run's iterate VECTOR against the other form
    fed the run's own gradients (plus weight decay, as the optimizers add it). sgd_momentum and
    heavy_ball runs are replayed in SPA form (the stable representation), spa runs in PyTorch form.

    Scale: per step, the norms of the iterates and of z_{n+1} = x_{n+1} + d_{n+1} (what each form's
    rounding is relative to) and eta_n times the gradient's size and its computation's terms (the run's
    gradient was rounded in its dtype); accumulated over the steps 0..n-1 (n terms).
    """
    x = A.iterates(trace)
    T = A.steps(trace)
    g = A.grads(trace, problem) + A.hp_or(trace, "weight_decay", 0.0)[None, :, None] * x[:T]
    eta, c = spa_params(trace)
    if _form(trace) == "spa":
        replay, _ = pytorch_iterates(x[0], g, *pytorch_from_spa(eta, c))
    else:
        replay, _ = spa_iterates(x[0], g, eta, c)
    obs, = _at_iterates(_norm(x[1:] - replay[1:]))
    xn = _norm(x)
    zn = _norm(x + spa_gap(x, c))
    mag = xn[1:] + xn[:-1] + zn[1:] + eta * (_norm(g) + _grad_error_size(trace, problem)[:T])
    scale, terms = _at_iterates(torch.cumsum(mag, 0), A.step_index(trace) + 1, first=0.0)
    return Sides(obs, torch.zeros_like(obs), scale=scale, terms=terms.clamp(min=1), undefined=NO_STEP)


def _lyapunov_inputs(trace, problem):
    """x [T+1, B, dim], its norms, grad f(x_n) [T, B, dim], (eta, c) [T, B], d_n = z_n - x_n [T+1, B, dim]
    and the size of d's terms (1 - c)/c (||x_n|| + ||x_{n-1}||) [T+1, B] (d is an iterate difference)."""
    x = A.iterates(trace)
    T = A.steps(trace)
    eta, c = spa_params(trace)
    xn = _norm(x)
    dmag = torch.zeros_like(xn)
    dmag[1:] = (1 - c) / c * (xn[1:] + xn[:-1])
    return x, xn, A.grads(trace, problem), eta, c, spa_gap(x, c), dmag, T


def _minibatch_noise(trace, problem) -> torch.Tensor:
    """||g_k - grad f(x_k)||^2 [T, B] of the gradients g_k the run received (its minibatches, drawn
    again from its seeds; the full gradient when deterministic), recomputed in float64 at the kept
    iterates: the per-run sample of sigma_k^2 = E[||g_k - grad f(x_k)||^2 | x_k]."""
    g = A.received_grads(trace, problem).to(F64)
    return ((g - A.grads(trace, problem)) ** 2).sum(-1)


def _l1_sides(trace, problem, noisy: bool = False) -> Sides:
    """Row n+1: f(x_{n+1}) - f* against the L1 right side at step n with (eta_n, c_{n+1}).
    ``noisy``: the in-expectation form, with the run's own ||g_n - grad f(x_n)||^2 as the sample of sigma_n^2.

    Scale: the magnitudes of the right side's terms and of f(x) - f* (subopt_magnitude), plus the
    first-order effect of the run's rounding of the vectors the sides are built from: x_n, x_{n+1}
    (size ||x||, sensitivity ||grad|| + L ||x_{n+1} - x_n||), d_n (an iterate difference: size dmag,
    sensitivity c (1 + Lc eta)||grad|| + L c^2 ||d||) and the step's gradient (size L(||x - x*|| + 2||x*||)).
    """
    L = _smoothness(problem)
    x, xn, g, eta, c, d, dmag, T = _lyapunov_inputs(trace, problem)
    d, dmag = d[:T], dmag[:T]
    f = A.rows(trace, "subopt")
    gs, ds = (g * g).sum(-1), (d * d).sum(-1)
    sigma_sq = _minibatch_noise(trace, problem) if noisy else 0.0
    bnd = l1_rhs(f[:T], gs, (g * d).sum(-1), ds, eta, c, L, sigma_sq)
    gn, dn, ce = gs.sqrt(), ds.sqrt(), c * eta
    fmag = A.subopt_magnitude(trace, problem)
    terms = ce * (1 + L * ce / 2) * gs + c * (1 + L * ce) * gn * dn + L * c * c * ds / 2 + L * ce * ce * sigma_sq / 2
    rounding = ((gn + L * _norm(x[1:] - x[:-1])) * (xn[1:] + xn[:-1])
                + (c * (1 + L * ce) * gn + L * c * c * dn) * dmag
                + ce * gn * _grad_error_size(trace, problem)[:T])
    obs, bnd, scale = _at_iterates(f[1:], bnd, fmag[1:] + fmag[:-1] + terms + rounding)
    return Sides(obs, bnd, scale=scale, terms=6, undefined=NO_STEP)


def _l1_expected_sides(trace, problem) -> Sides:
    """Row n+1: f(x_{n+1}) - sum_{k<=n} (rhs_k - f(x_k)) against f(x_0) - f*: L1 with the run's own
    ||g_k - grad f(x_k)||^2 as sigma_k^2, summed over the steps 0..n (its f(x_k) telescope). The bound
    is the run's start; scale: both ends' f terms and the steps' scales summed, n+1 steps of 6 terms."""
    one = _l1_sides(trace, problem, noisy=True)
    f = A.rows(trace, "subopt")
    T = A.steps(trace)
    fmag = A.subopt_magnitude(trace, problem)
    step = one.bound[1:] - f[:T]  # rhs_k - f(x_k), the guaranteed change at step k
    obs, bnd = _at_iterates(f[1:] - torch.cumsum(step, 0), f[:1].expand_as(step))
    scale, terms = _at_iterates(torch.cumsum(one.scale[1:], 0) + fmag[:1], 6 * (A.step_index(trace) + 1).expand_as(step), first=0.0)
    return Sides(obs, bnd, scale=scale, terms=terms.clamp(min=1), undefined=NO_STEP)


def _constant_spa(trace) -> tuple[torch.Tensor, torch.Tensor]:
    """The constant (eta, c) [B] of runs with constant parameters (``CONSTANT`` holds)."""
    eta, c = spa_params(trace)
    return eta[0], c[0]


def _l2_terms(trace, problem, noisy: bool = False):
    """(Lambda_n [T+1, B] with eps = 1, the (L2) change bound at step n [T, B], the magnitude of
    Lambda_n's terms [T+1, B], that of step n's decrease terms [T, B]). ``noisy``: the in-expectation
    form, with the run's own ||g_n - grad f(x_n)||^2 as the sample of sigma_n^2."""
    L = _smoothness(problem)
    x, xn, g, _, _, d, dmag, T = _lyapunov_inputs(trace, problem)
    eta, c = _constant_spa(trace)
    z = x + d
    flat = z.reshape(-1, z.shape[-1])
    fs = float(problem.f_star)
    fz = problem.value(flat).reshape(z.shape[:2]).to(F64) - fs
    gz = _norm(problem.grad(flat).reshape(z.shape).to(F64))
    ds = (d * d).sum(-1)
    lam = lyapunov_l2(fz, ds, eta, c, L, EPS_L2)
    gs = (g * g).sum(-1)
    sigma_sq = _minibatch_noise(trace, problem) if noisy else 0.0
    change = l2_decrease(gs, eta, c, L, EPS_L2, sigma_sq)
    q = eta * L * L / (2 * EPS_L2 * c)
    own = fz.abs() + 2 * abs(fs) + q * ds + gz * (xn + dmag) + 2 * q * ds.sqrt() * dmag
    dec = (eta * gs * (1 + EPS_L2 / 2 + L * eta / 2 + (L * eta * (1 - c) / c) ** 2 / (2 * EPS_L2))
           + L * eta * eta / 2 * (1 + L * eta * (1 - c) ** 2 / (EPS_L2 * c)) * sigma_sq
           + eta * gz[1:] * _grad_error_size(trace, problem)[:T])
    return lam, change, own, dec


def _l2_sides(trace, problem) -> Sides:
    """Row n+1: Lambda_{n+1} against Lambda_n - eta A ||grad f(x_n)||^2 (eps = 1), z_n = x_n + d_n.

    Scale: the magnitudes of the terms (f(z) - f* as |f(z)| + 2|f*|, the ||d||^2 terms, the decrease's
    parts) plus the first-order effect of the run's rounding of z_n = x_n + d_n (size ||x_n|| + dmag_n,
    sensitivity ||grad f(z_n)||), of d_n in the ||d||^2 term, and of the step's gradient in z_{n+1}.
    """
    lam, change, own, dec = _l2_terms(trace, problem)
    obs, bnd, scale = _at_iterates(lam[1:], lam[:-1] + change, own[1:] + own[:-1] + dec)
    return Sides(obs, bnd, scale=scale, terms=8, undefined=NO_STEP)


def _l2_summed_sides(trace, problem) -> Sides:
    """Row n+1: Lambda_{n+1} + sum_{k<=n} (eta A ||grad f(x_k)||^2 - the noise term with the run's
    ||g_k - grad f(x_k)||^2) against Lambda_0: (L2) in expectation telescoped over the steps 0..n. The
    bound is the run's start, the same for every seed of a group, so the spread is the observed side's.
    Scale: both ends' Lambda terms and the steps' decrease terms summed; n+1 steps of 8 terms."""
    lam, change, own, dec = _l2_terms(trace, problem, noisy=True)
    obs, bnd = _at_iterates(lam[1:] - torch.cumsum(change, 0), lam[:1].expand_as(change))
    scale, terms = _at_iterates(own[1:] + own[:1] + torch.cumsum(dec, 0), 8 * (A.step_index(trace) + 1).expand_as(change), first=0.0)
    return Sides(obs, bnd, scale=scale, terms=terms.clamp(min=1), undefined=NO_STEP)


def _rate_sides(trace, problem, eps=None, noisy: bool = False) -> Sides:
    """Row n: (1/K) sum_{k<K} ||grad f(x_k)||^2, K = n+1, against ``rate_bound`` (eps: best, or fixed).

    ``noisy``: the in-expectation form: ||grad f(x_k)|| of the full gradient at the kept iterates
    (the recorded norm is the minibatch's) and sigma^2 = the run's mean of ||g_k - grad f(x_k)||^2
    over k < K (the bound is linear in it, with eps fixed in advance).

    Scale: the running mean (K positive terms) and the bound's sensitivity to its inputs: f(x_0) - f*
    (size subopt_magnitude), the noise term, and A (a difference of terms of total size Amag):
    (fmag_0/(eta K) + noise + |bound| Amag)/A.
    """
    L = _smoothness(problem)
    eta, c = _constant_spa(trace)
    K = A.step_index(trace) + 1
    if noisy:
        noise = _minibatch_noise(trace, problem)
        sigma_sq = torch.cumsum(noise, 0) / K
        obs = torch.cumsum((A.grads(trace, problem) ** 2).sum(-1), 0) / K
    else:
        sigma_sq = torch.zeros(())
        obs = torch.cumsum(A.col(trace, "grad_norm") ** 2, 0) / K
    f0 = A.rows(trace, "subopt")[0]
    bnd = rate_bound(f0, K, eta, c, L, eps, sigma_sq=sigma_sq)
    e = best_eps(eta, c, L) if eps is None else _seq(eps)
    coef = l2_coefficient(eta, c, L, e)
    amag = 2 - coef  # 1 + eps/2 + L eta/2 + momentum term: the same terms, all added
    fmag = A.subopt_magnitude(trace, problem)[0]
    noise_mag = rate_bound(torch.zeros_like(f0), K, eta, c, L, eps, sigma_sq=sigma_sq) if noisy else 0.0
    return Sides(obs, bnd, scale=obs + (fmag / (eta * K) + bnd.abs() * amag) / coef.abs() + noise_mag, terms=K)


def _rate_expected_sides(trace, problem) -> Sides:
    return _rate_sides(trace, problem, noisy=True)


def _sqrt2_sides(trace, problem) -> Sides:
    """The rate with eps = 1 (the route to the sqrt(2) remark)."""
    return _rate_sides(trace, problem, EPS_L2)


# -- assumptions: what the proofs do not cover ----------------------------------------------------


def _spa_form_exists(trace, problem) -> torch.Tensor:
    eta, c = spa_params(trace)
    return ((c > 0) & (c <= 1) & eta.isfinite()).all(dim=0)


def _constant(trace, problem) -> torch.Tensor:
    names = ["lr"] + [n for n in ("momentum", "c") if n in trace]
    return torch.stack([(A.col(trace, n) == A.col(trace, n)[:1]).all(dim=0) for n in names]).all(dim=0)


def _coefficient_positive(eps):
    def test(trace, problem):
        eta, c = _constant_spa(trace)
        e = best_eps(eta, c, _smoothness(problem)) if eps is None else eps
        return l2_coefficient(eta, c, _smoothness(problem), e) > 0
    return test


NO_NESTEROV = Assumption("nesterov = 0 (Nesterov's form is not a heavy-ball method)",
                         lambda tr, pb: A.hp_or(tr, "nesterov", 0.0) == 0)
NO_WEIGHT_DECAY = Assumption("weight_decay = 0 (the proof is for the gradient of f)",
                             lambda tr, pb: A.hp_or(tr, "weight_decay", 0.0) == 0)
NO_DAMPENING = Assumption("dampening = 0 (dampening makes eta_0 differ from the later eta_k)",
                          lambda tr, pb: A.hp_or(tr, "dampening", 0.0) == 0)
CONSTANT = Assumption("constant lr and momentum / c (no schedule)", _constant)
SPA_FORM = Assumption("SPA form with every c_k in (0, 1]", _spa_form_exists)
A_POSITIVE = Assumption("A = 1 - L eta/2 - L eta (1-c)/c > 0", _coefficient_positive(None))
A_POSITIVE_EPS1 = Assumption("A = 1/2 - L eta/2 - L^2 eta^2 (1-c)^2/(2c^2) > 0 (eps = 1)", _coefficient_positive(EPS_L2))
CONSTANT_PROOF = (NO_NESTEROV, NO_WEIGHT_DECAY, NO_DAMPENING, CONSTANT, SPA_FORM)


def _R(key: str, **kw) -> Result:
    kw.setdefault("oracle", "deterministic")
    return register(Result(key=f"spa.{key}", paper=PAPER, arxiv=ARXIV, **kw))


EQUIVALENCE = _R(
    "equivalence", title="PyTorch SGD+M, heavy ball and SPA iterates coincide (replayed from the run's gradients)",
    provenance=Provenance.DERIVED, role=Role.IMPLEMENTATION, source=f"{DOC}#equivalence", kind="identity",
    statement="x_k(run) = x_k(other form) as vectors; c_k = c_{k+1} / (b_{k+1} + c_{k+1}), eta_k = alpha_k / c_{k+1}, "
              "alpha, b from (lr, beta, dampening)",
    optimizers=MOMENTUM, sides=_equivalence_sides, assumptions=(NO_NESTEROV, SPA_FORM),
    notes="The identity is algebra (proved in the note, property-tested on the pure functions); on a run it "
          "tests that the optimizer implements the update it claims.")
L1 = _R(
    "l1_one_step", title="One-step descent with the momentum-correlation term (L1)",
    provenance=Provenance.DERIVED, source=f"{DOC}#l1", kind="lyapunov", requires=frozenset({"smooth"}),
    statement="f(x_{k+1}) <= f(x_k) - c eta (1 - Lc eta/2)||grad||^2 + c (1 - Lc eta) <grad, z_k - x_k> "
              "+ (L c^2/2)||z_k - x_k||^2, (eta, c) = (eta_k, c_{k+1})",
    optimizers=FORMS, sides=_l1_sides, assumptions=(NO_NESTEROV, NO_WEIGHT_DECAY, SPA_FORM))
L2 = _R(
    "l2_lyapunov", title="Lyapunov function f(z) + eta L^2 ||z - x||^2 / (2 eps c) (L2), eps = 1",
    provenance=Provenance.DERIVED, source=f"{DOC}#l2", kind="lyapunov", iterate="none", requires=frozenset({"smooth"}),
    statement="Lambda_{k+1} <= Lambda_k - eta (1 - eps/2 - L eta/2 - L^2 eta^2 (1-c)^2/(2 eps c^2)) ||grad f(x_k)||^2",
    optimizers=FORMS, sides=_l2_sides, assumptions=CONSTANT_PROOF)
RATE = _R(
    "rate", title="Average squared gradient norm of SGD+M on smooth non-convex f",
    provenance=Provenance.DERIVED, source=f"{DOC}#rate", iterate="average", requires=frozenset({"smooth"}),
    statement="(1/K) sum_{k<K} ||grad f(x_k)||^2 <= (f(x_0) - f*) / (eta K (1 - L eta/2 - L eta (1-c)/c)), "
              "eta = lr/(1-beta), c = 1-beta",
    optimizers=FORMS, sides=_rate_sides, assumptions=CONSTANT_PROOF + (A_POSITIVE,))
RATE_EXPECTED = _R(
    "rate_expected", title="Average squared gradient norm of SGD+M, stochastic gradients, in expectation",
    provenance=Provenance.DERIVED, source=f"{DOC}#rate-in-expectation", iterate="average", requires=frozenset({"smooth"}),
    oracle="stochastic", in_expectation=True,
    statement="(1/K) sum_{k<K} E||grad f(x_k)||^2 <= [(f(x_0) - f*)/(eta K) + (L eta/2)(2 - c) (1/K) sum_{k<K} E sigma_k^2] "
              "/ (1 - L eta/2 - L eta (1-c)/c), eps = L eta (1-c)/c",
    optimizers=FORMS, sides=_rate_expected_sides, assumptions=CONSTANT_PROOF + (A_POSITIVE,))
L2_EXPECTED = _R(
    "l2_expected", title="(L2) Lyapunov function in expectation with stochastic gradients, telescoped (eps = 1)",
    provenance=Provenance.DERIVED, source=f"{DOC}#l2-in-expectation", kind="lyapunov", iterate="none",
    requires=frozenset({"smooth"}), oracle="stochastic", in_expectation=True,
    statement="E[Lambda_{n+1} + sum_{k<=n} (eta A ||grad f(x_k)||^2 - (L eta^2/2)(1 + L eta (1-c)^2/(eps c)) sigma_k^2)] <= Lambda_0, "
              "Lambda_k = f(z_k) + eta L^2 ||z_k - x_k||^2/(2 eps c), A = 1 - eps/2 - L eta/2 - L^2 eta^2 (1-c)^2/(2 eps c^2)",
    optimizers=FORMS, sides=_l2_summed_sides, assumptions=CONSTANT_PROOF,
    notes="sigma_k^2 is sampled by the run's own ||g_k - grad f(x_k)||^2; checked on the mean over seeds.")
L1_EXPECTED = _R(
    "l1_expected", title="One-step inequality (L1) in expectation with stochastic gradients, summed over the steps",
    provenance=Provenance.DERIVED, source=f"{DOC}#l1-in-expectation", kind="lyapunov", requires=frozenset({"smooth"}),
    oracle="stochastic", in_expectation=True,
    statement="E[f(x_{n+1}) - sum_{k<=n} (rhs_k - f(x_k))] <= f(x_0), rhs_k = f(x_k) - c eta (1 - Lc eta/2)||grad f(x_k)||^2 "
              "+ c (1 - Lc eta) <grad f(x_k), z_k - x_k> + (L c^2/2)||z_k - x_k||^2 + (L c^2 eta^2/2) sigma_k^2, (eta, c) = (eta_k, c_{k+1})",
    optimizers=FORMS, sides=_l1_expected_sides, assumptions=(NO_NESTEROV, NO_WEIGHT_DECAY, SPA_FORM),
    notes="sigma_k^2 is sampled by the run's own ||g_k - grad f(x_k)||^2; checked summed over the steps on the mean over seeds.")
SQRT2 = _R(
    "sqrt2_gap", title="SGD+M within a factor sqrt(2) of SGD (eps = 1 route)",
    provenance=Provenance.UNVERIFIED, source=f"{DOC}#sqrt2", iterate="average", requires=frozenset({"smooth"}),
    statement="rate bound with eps = 1; whether this is the paper's route is unverified (SECONDARY blog wording)",
    optimizers=FORMS, sides=_sqrt2_sides, assumptions=CONSTANT_PROOF + (A_POSITIVE_EPS1,))


# -- examples: small runs on which each result is checked (float64 and float32) -------------------


def _per_run(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


example(Example(("spa.equivalence", "spa.l1_one_step"), "least_squares", "sgd_momentum", options={"schedule": "cosine"},
                hp=lambda pb, D: {"lr": _per_run(0.1, 0.5, 1.0, 0.3) / pb.L, "momentum": _per_run(0.9, 0.5, 0.8, 0.0),
                                  "dampening": _per_run(0.0, 0.3, 0.0, 0.5), "T": 100},
                T=100, runs=4))
example(Example(("spa.equivalence",), "least_squares", "sgd_momentum",
                hp=lambda pb, D: {"lr": _per_run(0.1, 0.5, 1.0, 0.3) / pb.L, "momentum": 0.9,
                                  "weight_decay": _per_run(0.0, 1e-2, 0.0, 1e-1)},
                T=100, runs=4))
example(Example(("spa.equivalence", "spa.l1_one_step"), "huber", "heavy_ball",
                hp=lambda pb, D: {"lr": _per_run(0.1, 0.5, 1.0, 0.3) / pb.L, "momentum": _per_run(0.9, 0.5, 0.7, 0.3)},
                T=100, runs=4))
example(Example(("spa.equivalence", "spa.l1_one_step", "spa.l2_lyapunov", "spa.rate"), "quadratic", "spa",
                hp=lambda pb, D: {"lr": _per_run(0.05, 0.2, 0.3, 0.6) / pb.L, "c": _per_run(1.0, 0.5, 0.6, 0.9)},
                T=100, runs=4))
example(Example(("spa.l1_one_step", "spa.l2_lyapunov", "spa.rate"), "huber", "sgd_momentum",
                hp=lambda pb, D: {"lr": _per_run(0.05, 0.2, 0.1, 0.4) / pb.L, "momentum": _per_run(0.5, 0.3, 0.0, 0.2)},
                T=100, runs=4))


def _groups(*values, size: int = 8) -> torch.Tensor:
    """Per-run values, each repeated for ``size`` seeds (one group per value for checks in expectation)."""
    return torch.tensor([v for v in values for _ in range(size)], dtype=F64)


example(Example(("spa.rate_expected",), "least_squares", "sgd_momentum",
                hp=lambda pb, D: {"lr": _groups(0.05, 0.2) / pb.L, "momentum": _groups(0.5, 0.3)},
                T=100, runs=16, batch_size=4))
# L2 in expectation, telescoped over the steps: 16 seeds per group (docs/theory/spa_momentum.md#l2-in-expectation).
example(Example(("spa.l2_expected",), "least_squares", "sgd_momentum",
                hp=lambda pb, D: {"lr": _groups(0.2, 0.05, size=16) / pb.L, "momentum": _groups(0.5, 0.9, size=16)},
                T=100, runs=32, batch_size=4))
# L1 in expectation, summed over the steps: 16 seeds per group (docs/theory/spa_momentum.md#l1-in-expectation).
example(Example(("spa.l1_expected",), "least_squares", "sgd_momentum",
                hp=lambda pb, D: {"lr": _groups(0.05, 0.2, size=16) / pb.L, "momentum": _groups(0.5, 0.3, size=16)},
                T=100, runs=32, batch_size=4))
