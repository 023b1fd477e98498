"""Last-iterate bounds of SGD with a step-size schedule, as pure functions of sequences and results.

Defazio, Cutkosky, Mehta, Mishchenko, "Optimal linear decay learning rate schedules and further
refinements", arXiv 2310.07831 (notes: docs/references/linear_decay_refinement.md). The paper's
text was not available to us: every bound here is [DERIVED], proved in
docs/theory/linear_decay_refinement.md.

Indexing (0-based, as the runner records): iterates x_0..x_n, steps eta_0..eta_{n-1} with
x_{t+1} = x_t - eta_t g_t, gradient norms G_0..G_n where G_n is at the last iterate x_n (the
paper's x_1..x_T with T = n + 1). D = ||x_0 - x*||.

Array convention (as all of ``ratecheck.theory``): torch float64, time on dim 0, runs on the
trailing dims (anything array-like is accepted and converted). The first part is pure and used by
the CLI (``ratecheck pep``) and the notebooks; the second registers the results, whose ``Sides``
read the run through ``theory.access`` and call the first part.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import fmin_l_bfgs_b

from ratecheck.errors import RatecheckError

from . import access as A
from .base import Assumption, Example, Result, Sides, example, register

F64 = torch.float64


def _t(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=F64)


def _rcumsum(a: torch.Tensor) -> torch.Tensor:
    """Tail sums a_{k:n} over dim 0."""
    return torch.flip(torch.cumsum(torch.flip(a, (0,)), 0), (0,))


# -- the identity (note §2) ----------------------------------------------------------------------


def last_iterate_identity_rhs(q, w) -> torch.Tensor:
    """Weighted average plus tail corrections, which equals q_n exactly:

    q_n = (1/w_{0:n}) sum_t w_t q_t + sum_{k<n} (1/w_{k+1:n} - 1/w_{k:n}) sum_{t>=k} w_t (q_t - q_k)

    for any q [n+1, ...] and weights w_t >= 0 with w_n > 0. The step from which Theorems A and 10
    are proved (an algebraic identity of any sequence, so it is property-tested, not checked on
    runs). [DERIVED] docs/theory/linear_decay_refinement.md#identity
    """
    q, w = torch.broadcast_tensors(_t(q), _t(w))
    W = _rcumsum(w)  # W_k = w_{k:n}
    Tq = _rcumsum(w * q)  # sum_{t>=k} w_t q_t
    inner = Tq[:-1] - q[:-1] * W[:-1]
    coef = 1.0 / W[1:] - 1.0 / W[:-1]
    return Tq[0] / W[0] + (coef * inner).sum(0)


def one_step_rhs(dist, subopt, eta, gnorm) -> torch.Tensor:
    """||x_t - x*||^2 - 2 eta_t (f(x_t) - f*) + eta_t^2 ||g_t||^2, elementwise: the bound on
    ||x_{t+1} - x*||^2 for x_{t+1} = x_t - eta_t g_t, f convex. [DERIVED] (note §4, regret step)"""
    d, f, e, g = _t(dist), _t(subopt), _t(eta), _t(gnorm)
    return d * d - 2.0 * e * f + e * e * g * g


# -- Theorem A: any online learner (note §3) --------------------------------------------------------


def online_iterates(x, w) -> torch.Tensor:
    """The online learner z whose weighted averages are the query points x [n+1, B, d]:

    z_0 = x_0, z_{t+1} = z_t + (w_{0:n} / w_{t+1:n}) (x_{t+1} - x_t), weights w [n+1, B].
    Any sequence x is the query sequence of this z (Theorem A's averaging inverted). [DERIVED]
    """
    x, W = _t(x), _rcumsum(_t(w))
    steps = (W[0] / W[1:])[..., None] * (x[1:] - x[:-1])
    return torch.cat([x[:1], x[:1] + torch.cumsum(steps, 0)], 0)


def thm_a_rhs(g, z, w, x_star) -> torch.Tensor:
    """Theorem A's bound (1/w_{0:n}) sum_t w_t <g_t, z_t - x*> on f(x_n) - f* [B].

    g, z [n+1, B, d] (g_t a subgradient at x_t), w [n+1, B], x_star [d] or [B, d]. [DERIVED]
    """
    g, z, w = _t(g), _t(z), _t(w)
    return (w * (g * (z - _t(x_star))).sum(-1)).sum(0) / w.sum(0)


# -- Theorem B: SGD from weights (note §4) ---------------------------------------------------------


def schedule_from_weights(w, eta) -> torch.Tensor:
    """Steps eta_t = eta * w_t * w_{t+1:n} / w_{0:n}, t = 0..n-1 [n, ...] (the weight-derived schedule).

    With w = ones(n+1) this is linear decay eta * (n - t) / (n + 1). [DERIVED] (note §4).
    """
    w = _t(w)
    W = _rcumsum(w)
    return _t(eta) * w[:-1] * W[1:] / W[:1]


def weights_from_schedule(steps, eta) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (normalised to w_{0:n} = 1) that produce ``steps`` [n, ...] with OGD step ``eta``.

    With u_k = w_{k:n}: u_0 = 1 and eta_k = eta (u_k - u_{k+1}) u_{k+1}; we take the larger
    root u_{k+1} = (u_k + sqrt(u_k^2 - 4 eta_k / eta)) / 2. Returns (w [n+1, ...], feasible [...]);
    infeasible entries (eta too small for some step) hold NaN. [DERIVED]
    """
    steps, eta = _t(steps), _t(eta)
    n = steps.shape[0]
    shape = torch.broadcast_shapes(steps.shape[1:], eta.shape)
    u = torch.ones(shape, dtype=F64)
    us = [u]
    ok = torch.ones(shape, dtype=torch.bool)
    for k in range(n):
        disc = u * u - 4.0 * steps[k] / eta
        ok = ok & (disc >= -1e-12 * u * u)  # a double root (w_k = w_{k+1:n}) may round to just below 0
        u = 0.5 * (u + torch.sqrt(disc.clamp(min=0.0)))
        us.append(u)
    U = torch.stack(us, 0)
    w = torch.cat([U[:-1] - U[1:], U[-1:]], 0)
    return torch.where(ok, w, math.nan), ok


def bound_weighted(w, eta, D, gnorm) -> torch.Tensor:
    """(B): f(x_n) - f* <= (1 / (2 w_{0:n})) (D^2 / eta + eta sum_{t<=n} w_t^2 G_t^2).

    For SGD with the schedule ``schedule_from_weights(w, eta)``, any weights w >= 0 with w_n > 0;
    G_t = ||g_t|| observed (deterministic) or sqrt(E||g_t||^2) with weights independent of the
    noise. [DERIVED] (note §4).
    """
    w, g, eta = _t(w), _t(gnorm), _t(eta)
    return (_t(D) ** 2 / eta + eta * (w * w * g * g).sum(0)) / (2.0 * w.sum(0))


def bound_weighted_optimal_eta(w, D, gnorm) -> tuple[torch.Tensor, torch.Tensor]:
    """(eta*, bound) minimising (B) over eta: eta* = D / sqrt(sum w^2 G^2), bound D sqrt(sum w^2 G^2) / w_{0:n}."""
    w, g, D = _t(w), _t(gnorm), _t(D)
    s = torch.sqrt((w * w * g * g).sum(0))
    return D / s, D * s / w.sum(0)


def bound_weighted_best(steps, D, gnorm, n_grid: int = 32, n_refine: int = 40, return_eta: bool = False):
    """The smallest (B) over the weightings that produce the given ``steps`` [n, ...] (>= 0).

    Every nonnegative schedule is weight-derived in a one-parameter family of ways (parametrised
    here by the OGD step eta >= eta_min); each member gives a valid bound, so their minimum is
    one too. Grid search in log eta, then a zooming grid on the best cell. gnorm [n+1, ...], D [...].
    [DERIVED] docs/theory/linear_decay_refinement.md#theorem-b
    """
    steps, g, D = _t(steps), _t(gnorm), _t(D)
    n = steps.shape[0]
    lead = torch.broadcast_shapes(steps.shape[1:], g.shape[1:], D.shape)
    steps, g, D = steps.expand((n,) + lead), g.expand((n + 1,) + lead), D.expand(lead)
    if n == 0:
        out = D * g[0]  # f(x_0) - f* <= <g_0, x_0 - x*> <= D G_0
        return (out, torch.full_like(out, math.nan)) if return_eta else out
    # eta_min in log space: feasibility is monotone in eta (u_k <= 1, so eta >= 4 max eta_k). Each round
    # tries K points of [lo, hi] in one pass over the steps and keeps the sub-interval where feasibility
    # starts: 14 rounds shrink it by K^14 = 2^70, to the last ulp (near a double root the bound moves like
    # sqrt(eta - eta_min)).
    K = 32
    lo = torch.log(4.0 * steps.amax(0).clamp(min=1e-300))
    hi = lo + 40.0
    frac = torch.linspace(0.0, 1.0, K + 1, dtype=F64)[1:].reshape((K,) + (1,) * len(lead))
    for _ in range(14):
        pts = lo + (hi - lo) * frac
        _, ok = weights_from_schedule(steps, torch.exp(pts))
        j = ok.to(torch.int64).argmax(0, keepdim=True)  # the first feasible point
        below = torch.where(j > 0, pts.gather(0, (j - 1).clamp(min=0)), lo[None])[0]
        hi, lo = torch.where(ok.any(0), pts.gather(0, j)[0], hi), torch.where(ok.any(0), below, pts[-1])

    def val(log_eta):  # log_eta [m, ...]: m values of eta per run, in one pass over the steps
        e = torch.exp(log_eta)
        w, ok = weights_from_schedule(steps, e)
        return torch.where(ok, bound_weighted(w, e, D, g[:, None]), math.inf)

    grid = hi[None] + torch.linspace(0.0, 30.0, n_grid, dtype=F64).reshape((n_grid,) + (1,) * len(lead))
    vals = val(grid)
    i = vals.argmin(0, keepdim=True)
    best, arg = vals.gather(0, i)[0], grid.gather(0, i)[0]
    a = grid.gather(0, (i - 1).clamp(min=0))[0]
    b = grid.gather(0, (i + 1).clamp(max=n_grid - 1))[0]
    # refinement of the bracketing cell (the bound is unimodal in log eta there): 16 cells per round keep the
    # two around the smallest value, 1/8 of the width; n_refine / 4 rounds (10: 8^-10 of the cell)
    frac = torch.linspace(0.0, 1.0, 17, dtype=F64).reshape((17,) + (1,) * len(lead))
    for _ in range(max(n_refine // 4, 1)):
        pts = a + (b - a) * frac
        v = val(pts)
        i = v.argmin(0, keepdim=True)
        better = v.gather(0, i)[0] < best
        best, arg = torch.where(better, v.gather(0, i)[0], best), torch.where(better, pts.gather(0, i)[0], arg)
        a, b = pts.gather(0, (i - 1).clamp(min=0))[0], pts.gather(0, (i + 1).clamp(max=16))[0]
    if return_eta:
        return best, torch.exp(arg)
    return best


def noise_free_weighting(steps, D, G) -> tuple[torch.Tensor, torch.Tensor]:
    """(w [n+1, ...], eta [...]): a weighting that produces ``steps`` [n, ...], chosen without the noise.

    The weighting of ``bound_weighted_best`` when every norm were the constant ``G`` [...] (e.g.
    ||grad f(x_0)||, fixed before any sample is drawn); n = 0: w = 1, eta = D / G. (B) in
    expectation needs weights fixed in advance: then it is linear in the ||g_t||^2, and its mean
    over seeds is the bound with E||g_t||^2. Any feasible choice is valid; this one only makes the
    bound small for a flat norm profile. [DERIVED] docs/theory/linear_decay_refinement.md#theorem-b-in-expectation
    """
    steps, D, G = _t(steps), _t(D), _t(G)
    n = steps.shape[0]
    lead = torch.broadcast_shapes(steps.shape[1:], D.shape, G.shape)
    if n == 0:
        return torch.ones((1,) + lead, dtype=F64), (D / G).expand(lead)
    _, eta = bound_weighted_best(steps, D, G.expand((n + 1,) + lead), return_eta=True)
    w, _ = weights_from_schedule(steps, eta)  # NaN where infeasible (never: the search keeps feasible eta)
    return w, eta


def _golden_min(f, a: torch.Tensor, b: torch.Tensor, iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(smallest value of f seen, its argument) by a vectorised golden-section search on [a, b]."""
    r = (math.sqrt(5) - 1) / 2
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = f(c), f(d)
    best = torch.minimum(fc, fd)
    arg = torch.where(fc <= fd, c, d)
    for _ in range(iters):
        left = fc < fd  # minimum in [a, d]
        a, b = torch.where(left, a, c), torch.where(left, d, b)
        new = torch.where(left, b - r * (b - a), a + r * (b - a))
        fnew = f(new)
        c, d, fc, fd = (torch.where(left, new, d), torch.where(left, c, new),
                        torch.where(left, fnew, fd), torch.where(left, fc, fnew))
        arg = torch.where(fnew < best, new, arg)
        best = torch.minimum(best, fnew)
    return best, arg


# -- linear decay (note §5) -----------------------------------------------------------------------


def linear_decay_schedule(n: int, eta) -> torch.Tensor:
    """eta_t = eta (n - t) / (n + 1), t = 0..n-1 [n, ...]: (B) with w = 1, n steps to the last iterate x_n."""
    eta = _t(eta)
    shape = (n - torch.arange(n, dtype=F64)) / (n + 1)
    return eta[None] * shape.reshape((n,) + (1,) * eta.ndim)


def linear_decay_bound(eta, n: int, D, G) -> torch.Tensor:
    """D^2 / (2 eta (n+1)) + eta G^2 / 2 for linear decay with n steps; = D G / sqrt(n+1) at eta = D / (G sqrt(n+1)).

    [DERIVED] (note §5: the corollary of (B) with w = 1 and ||g_t|| <= G).
    """
    eta = _t(eta)
    return _t(D) ** 2 / (2.0 * eta * (n + 1)) + eta * _t(G) ** 2 / 2.0


# -- refined schedule (note §6) -------------------------------------------------------------------


def refined_schedule(gnorm, D) -> torch.Tensor:
    """Steps eta_t = (D / sqrt(S)) G_t^{-2} sum_{p>t} G_p^{-2} / S, t = 0..n-1, S = sum_{t<=n} G_t^{-2}.

    (B) with w_t = G_t^{-2} at its optimal eta. [DERIVED; CODE for the shape]
    """
    w = _t(gnorm) ** -2.0
    return schedule_from_weights(w, _t(D) / torch.sqrt(w.sum(0)))


def refined_bound(gnorm, D) -> torch.Tensor:
    """D / sqrt(sum_{t<=n} G_t^{-2}) (<= D sqrt(sum G_t^2) / (n+1) <= D max G / sqrt(n+1)). [DERIVED]"""
    return _t(D) / torch.sqrt((_t(gnorm) ** -2.0).sum(0))


def refined_shape(gnorm, power: float = 2.0) -> torch.Tensor:
    """The code's normalised refined schedule s_t = w_t w_{t+1:n} / max, w_t = G_t^{-power}, [n+1, ...] (s_n = 0).

    [CODE] facebookresearch/adaptive_scheduling find_schedule.py::find_closed_form_schedule
    (power 2 for l2 norms of SGD, 1 for l1 norms of Adam).
    """
    w = _t(gnorm) ** -float(power)
    W = _rcumsum(w)
    s = torch.cat([w[:-1] * W[1:], torch.zeros_like(w[:1])], 0)
    return s / s.amax(0, keepdim=True)


def refined_eta(gnorm, lr) -> torch.Tensor:
    """The OGD step eta of (B) for the steps lr * refined_shape(gnorm): eta = lr w_{0:n} / max_t w_t w_{t+1:n}.

    (refined_shape divides w_t w_{t+1:n} by its max; (B)'s schedule divides it by w_{0:n} / eta.)
    """
    return weights_eta(_t(gnorm) ** -2.0, lr)


def weights_eta(w, lr) -> torch.Tensor:
    """eta = lr w_{0:n} / max_t w_t w_{t+1:n}: the OGD step of (B) for steps lr * (w_t w_{t+1:n} normalised to max 1)."""
    w = _t(w)
    W = _rcumsum(w)
    return _t(lr) * W[0] / (w[:-1] * W[1:]).amax(0)


def transfer_bound(w, D, gnorm) -> torch.Tensor:
    """(B) at eta = D / sqrt(w_{0:n}) for weights w from other norms Ghat (w = Ghat^-2) and this run's G:

        (D / sqrt(w_{0:n})) (1 + rho) / 2,   rho = sum w_t^2 G_t^2 / w_{0:n}

    (rho = 1 when G = Ghat: the refined bound D / sqrt(sum G^-2)). [DERIVED] docs/theory/linear_decay_refinement.md#refined-transfer
    """
    w, g = _t(w), _t(gnorm)
    W = w.sum(0)
    return _t(D) / torch.sqrt(W) * (1.0 + (w * w * g * g).sum(0) / W) / 2.0


# -- Theorem 10 (note §7) -------------------------------------------------------------------------


def thm10_terms(eta, D, gnorm) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(t1, t2, t3) of the last-iterate bound for an arbitrary schedule, first form.

    ``eta`` [n+1, ...]: the n real steps and the free virtual step eta_n > 0.
    t1 = D^2 / (2 eta_{0:n}), t2 = sum eta_t^2 G_t^2 / (2 eta_{0:n}),
    t3 = 1/2 sum_{k<n} eta_k / eta_{k+1:n} * sum_{t>=k} eta_t^2 G_t^2 / eta_{k:n}. [DERIVED]
    """
    e, g = _t(eta), _t(gnorm)
    E = _rcumsum(e)
    Acc = _rcumsum(e * e * g * g)
    t1 = _t(D) ** 2 / (2 * E[0])
    t2 = Acc[0] / (2 * E[0])
    t3 = 0.5 * (e[:-1] / E[1:] * Acc[:-1] / E[:-1]).sum(0)
    return t1, t2, t3


def thm10_bound(eta, D, gnorm) -> torch.Tensor:
    """f(x_n) - f* <= D^2 / (2 eta_{0:n}) + 1/2 sum_{t<=n} eta_t^2 G_t^2 / eta_{min(t+1,n):n}.

    "Theorem 10" of arXiv 2310.07831 v2 (App. F) [DERIVED formula; SECONDARY numbering]. ``eta``
    [n+1, ...]: n real steps plus the virtual eta_n > 0 (any value gives a valid bound).
    """
    e, g = _t(eta), _t(gnorm)
    E = _rcumsum(e)
    den = torch.cat([E[1:], e[-1:]], 0)
    return _t(D) ** 2 / (2 * E[0]) + 0.5 * (e * e * g * g / den).sum(0)


def thm10_optimal_base(shape, D, gnorm) -> tuple[torch.Tensor, torch.Tensor]:
    """(s*, bound) for the schedule s * shape: s* = sqrt(t1 / (t2 + t3)), bound 2 sqrt(t1 (t2 + t3)) at s = 1.

    [SECONDARY] fabian-sp/lr-scheduling compute_optimal_base; [DERIVED] (t1 ~ 1/s, t2 + t3 ~ s).
    """
    t1, t2, t3 = thm10_terms(shape, D, gnorm)
    return torch.sqrt(t1 / (t2 + t3)), 2 * torch.sqrt(t1 * (t2 + t3))


def constant_step_thm10(T: int, D=1.0, G=1.0) -> tuple[float, float]:
    """(eta*, bound) of Theorem 10 for a constant step over T = n + 1 entries: D G sqrt((1 + H_{T-1}) / T). [DERIVED]"""
    H = sum(1.0 / k for k in range(1, T))
    return D / (G * math.sqrt(T * (1 + H))), D * G * math.sqrt((1 + H) / T)


def _virtual_bracket(steps: torch.Tensor, D: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """log of a reference virtual step [...]: the optimum lies within e^{+-30} of it."""
    gmax = g.nan_to_num(0.0).amax(0).clamp(min=0.0) if g.shape[0] else torch.zeros_like(D)
    big = steps.amax(0) if steps.shape[0] else torch.zeros_like(D)
    ref = torch.maximum(big, D / torch.where(gmax > 0, gmax, math.inf))
    return torch.log(torch.where(ref > 0, ref, 1.0))


def thm10_prefix_bounds(steps, D, gnorm, n_golden: int = 60, virtual=None) -> torch.Tensor:
    """Theorem 10 for every prefix: entry n bounds f(x_n) - f* using eta_0..eta_{n-1} and G_0..G_n.

    The virtual step eta_n is chosen per n by golden-section search on log eta_n (the bound is
    unimodal in it); any value is valid, so imprecision only loosens the bound. steps [T, ...],
    gnorm [T+1, ...] -> [T+1, ...]; NaN where G_n is NaN. ``virtual`` [T+1, ...]: use these
    virtual steps instead of optimising (needed in expectation, where the choice must not depend
    on the run's noise). [DERIVED]
    """
    steps, g, D = _t(steps), _t(gnorm), _t(D)
    T = steps.shape[0]
    lead = torch.broadcast_shapes(steps.shape[1:], g.shape[1:], D.shape)
    steps, g, D = steps.expand((T,) + lead), g.expand((T + 1,) + lead), D.expand(lead)
    C = torch.cat([torch.zeros((1,) + lead, dtype=F64), torch.cumsum(steps, 0)], 0)  # C_n = sum_{s<n} eta_s
    ones = (1,) * len(lead)
    mask = (torch.arange(T)[None, :] < torch.arange(T + 1)[:, None]).reshape((T + 1, T) + ones)  # [n, t]: t < n
    R = torch.where(mask, C[:, None] - C[None, 1:], 0.0)  # R[n, t] = sum_{s=t+1}^{n-1} eta_s
    Acc = torch.where(mask, (steps * steps * g[:T] ** 2)[None], 0.0)

    def val(v):  # v [T+1, ...]
        return D**2 / (2 * (C + v)) + 0.5 * (Acc / (R + v[:, None])).sum(1) + 0.5 * v * g * g

    if virtual is not None:
        return val(_t(virtual).expand((T + 1,) + lead))
    ref = _virtual_bracket(steps, D, g)[None].expand((T + 1,) + lead)
    return _golden_min(lambda u: val(torch.exp(u)), ref - 30.0, ref + 30.0, n_golden)[0]


def thm10_last_prefix(steps, D, gnorm, n_golden: int = 60, virtual=None) -> torch.Tensor:
    """Theorem 10 at the end of the sequence only: the last entry of ``thm10_prefix_bounds``.

    steps [n, ...], gnorm [n+1, ...] -> [...]. Costs O(n) per evaluation of the virtual step
    instead of the O(n^2) of all prefixes, so bounds at a few rows of a long run stay cheap.
    ``virtual`` [...]: a fixed virtual step instead of the optimised one. [DERIVED]
    """
    steps, g, D = _t(steps), _t(gnorm), _t(D)
    n = steps.shape[0]
    lead = torch.broadcast_shapes(steps.shape[1:], g.shape[1:], D.shape)
    steps, g, D = steps.expand((n,) + lead), g.expand((n + 1,) + lead), D.expand(lead)
    C = torch.cumsum(steps, 0)
    Cn = C[-1] if n else torch.zeros(lead, dtype=F64)
    R = Cn[None] - C  # R[t] = sum_{s=t+1}^{n-1} eta_s
    Acc = steps * steps * g[:n] ** 2
    Gn2 = g[n] ** 2

    def val(v):
        return D**2 / (2 * (Cn + v)) + 0.5 * (Acc / (R + v[None])).sum(0) + 0.5 * v * Gn2

    if virtual is not None:
        return val(_t(virtual).expand(lead))
    ref = _virtual_bracket(steps, D, g)
    return _golden_min(lambda u: val(torch.exp(u)), ref - 30.0, ref + 30.0, n_golden)[0]


def thm10_objective_and_grad(lam, D: float, gnorm) -> tuple[float, torch.Tensor]:
    """Theorem-10 bound of the schedule ``lam`` [n+1] (incl. the virtual step) and its gradient [n+1].

    d/d eta_j = -D^2 / (2 eta_{0:n}^2) + eta_j G_j^2 / R_j - (1/2)(sum_{t<j} a_t + [j = n] a_n),
    R_t = eta_{min(t+1,n):n}, a_t = eta_t^2 G_t^2 / R_t^2 (docs/theory/linear_decay_refinement.md#theorem-10).
    """
    lam, g2 = _t(lam), _t(gnorm) ** 2
    E = _rcumsum(lam)
    Rt = torch.cat([E[1:], lam[-1:]])
    f = D * D / (2 * E[0]) + 0.5 * (lam * lam * g2 / Rt).sum()
    a = lam * lam * g2 / Rt**2
    pref = torch.cat([torch.zeros(1, dtype=F64), torch.cumsum(a[:-1], 0)])  # sum_{t<j} a_t
    extra = torch.zeros_like(lam)
    extra[-1] = a[-1]
    return float(f), -D * D / (2 * E[0] ** 2) + lam * g2 / Rt - 0.5 * (pref + extra)


def optimal_schedule(gnorm, D: float = 1.0, floor: float = 1e-8, maxiter: int = 15000) -> tuple[torch.Tensor, float]:
    """The schedule [n+1] (last entry virtual) minimising the Theorem-10 bound for given norms [n+1].

    L-BFGS-B over eta_t >= ``floor`` from eta_t = D / sqrt(n+1), as in [CODE]
    facebookresearch/adaptive_scheduling find_schedule.py::find_schedule (m=20, factr=100,
    pgtol=1e-10); scipy's solver works on numpy arrays, converted at this boundary.
    Returns (eta, bound).
    """
    g = _t(gnorm)
    if g.ndim != 1 or g.numel() < 1 or not bool(torch.isfinite(g).all()) or bool((g <= 0).any()):
        raise RatecheckError(f"gnorm must be a 1-D array of positive finite norms; got shape {tuple(g.shape)}")

    def fg(x: np.ndarray):
        f, grad = thm10_objective_and_grad(torch.from_numpy(x), D, g)
        return f, grad.numpy()

    lam, f, _ = fmin_l_bfgs_b(
        fg, np.full(g.numel(), D / math.sqrt(g.numel())), bounds=[(floor, None)] * g.numel(),
        m=20, factr=100.0, pgtol=1e-10, maxls=100, maxfun=maxiter, maxiter=maxiter,
    )
    return torch.from_numpy(lam), float(f)


# =================================================================================================
# Registered results: the bounds above on a run of ``sgd`` (theory.access reads the trace).
# =================================================================================================

PAPER = "Optimal linear decay learning rate schedules and further refinements (Defazio, Cutkosky, Mehta, Mishchenko)"
ARXIV = "2310.07831"
DOC = "docs/theory/linear_decay_refinement.md"
NOTE = "docs/references/linear_decay_refinement.md"
MAX_ROWS = 200  # per-step bounds cost O(T^2); longer runs are checked at log-spaced rows (A.sparse_rows)


def precond_scale(trace) -> torch.Tensor | None:
    """a [B, d] of a ``psgd`` run (A = diag(a)), from its recorded init arguments (``a``, or the
    problem's ``coordinate_scale`` with precond='problem'); None for any other optimizer."""
    if A.optimizer(trace) != "psgd":
        return None
    key = "coordinate_scale" if A.option(trace, "precond", "given") == "problem" else "a"
    return torch.broadcast_to(torch.as_tensor(A.init_args(trace)[key], dtype=F64), A.x0(trace).shape)


def metric_norm(trace, g: torch.Tensor) -> torch.Tensor:
    """||g|| of gradients g [..., B, d] in the run's metric [..., B]: ||g||_{A^{-1}} = sqrt(sum_i g_i^2 / a_i)
    for ``psgd`` (SGD in the coordinates A^{1/2} x), the Euclidean norm otherwise."""
    a = precond_scale(trace)
    g = g.to(F64).cpu()
    return torch.linalg.vector_norm(g, dim=-1) if a is None else torch.sqrt((g * g / a).sum(-1))


def last_grad_norm(trace, problem) -> torch.Tensor:
    """||grad f(x_T)|| at the last iterate [B] (in the run's metric, ``metric_norm``): from the kept
    iterates, else the global Lipschitz G (G / sqrt(min_i a_i) for psgd), else NaN.

    The runner takes no gradient at x_T; any upper bound on ||g_T|| keeps the bounds valid.
    """
    try:
        xT = A.iterates(trace)[A.steps(trace)]
        return metric_norm(trace, problem.grad(xT))
    except A.Unavailable:
        pass
    if problem.G is not None and getattr(problem, "G_scope", "global") == "global":
        a = precond_scale(trace)
        G = torch.full((trace.batch,), float(problem.G), dtype=F64)
        return G if a is None else G / torch.sqrt(a.amin(-1))
    return torch.full((trace.batch,), math.nan, dtype=F64)


def run_arrays(trace, problem) -> dict:
    """What the bounds need from a run, time on dim 0: T, steps [T, B], gnorm [T+1, B] (the last
    from ``last_grad_norm``), D [B], subopt and dist [T+1, B]. For ``psgd`` the norms are those of
    its metric: gnorm = ||g_t||_{A^{-1}} (recorded ``dual_norm``) and D = ||x_0 - x*||_A."""
    T = A.steps(trace)
    a = precond_scale(trace)
    if a is None:
        g, D = A.col(trace, "grad_norm"), A.D(trace)
    else:
        x0 = A.x0(trace)
        g, D = A.col(trace, "dual_norm"), torch.sqrt((a * (x0 - problem.x_star_tensor(x0)) ** 2).sum(-1))
    return {
        "T": T,
        "steps": A.col(trace, "lr"),
        "gnorm": torch.cat([g, last_grad_norm(trace, problem)[None]], 0),
        "D": D,
        "dist": A.rows(trace, "dist"),
        "subopt": A.rows(trace, "subopt"),
    }


def _bound_sides(trace, problem, bound: torch.Tensor, undefined: str = "", bound_scale=None) -> Sides:
    """observed f(x_n) - f* against a bound accumulated over steps 0..n: round-off relative to
    |f(x_n)| + |f*| (the difference is formed from them) and to the bound's terms (``bound_scale``,
    default |bound|: a sum of nonnegative terms); n + 1 rounded steps went into x_n and the bound."""
    T = A.steps(trace)
    mag = bound.abs() if bound_scale is None else bound_scale
    return Sides(A.rows(trace, "subopt"), bound, scale=A.subopt_magnitude(trace, problem) + mag,
                 terms=torch.arange(T + 1, dtype=F64)[:, None] + 1, undefined=undefined)


def _no_weight_decay(trace, problem) -> torch.Tensor:
    return A.hp_or(trace, "weight_decay", 0.0) == 0


# The update of ``sgd`` is x - eta (g + wd x): with wd > 0 it is SGD on f + wd ||x||^2 / 2, whose
# gradient and minimiser are not the g and x* the bounds are evaluated with.
NO_WD = Assumption("weight_decay = 0", _no_weight_decay)


def _sgd_one_step_sides(trace, problem) -> Sides:
    """Row t+1: ||x_{t+1} - x*||^2 against ``one_step_rhs`` at row t; row 0 has no step before it."""
    a = run_arrays(trace, problem)
    d, dm = a["dist"], A.dist_magnitude(trace, problem)
    eta, g = a["steps"], a["gnorm"][:-1]
    nan = torch.full_like(d[:1], math.nan)
    obs = torch.cat([nan, d[1:] ** 2], 0)
    bnd = torch.cat([nan, one_step_rhs(d[:-1], a["subopt"][:-1], eta, g)], 0)
    # Each term's rounding: ||x - x*||^2 of a rounded iterate is off by about 2 ||x - x*|| u (||x|| + ||x*||),
    # 2 eta (f - f*) by u 2 eta (|f| + |f*|), eta^2 ||g||^2 by u eta^2 ||g||^2.
    terms = d[:-1] * dm[:-1] + 2 * eta * A.subopt_magnitude(trace, problem)[:-1] + (eta * g) ** 2 + d[1:] * dm[1:]
    return Sides(obs, bnd, scale=torch.cat([torch.zeros_like(d[:1]), terms], 0), terms=4,
                 undefined="row 0: no step before x_0", before=torch.cat([nan, d[:-1] ** 2], 0))


def _thm_a_sides(trace, problem) -> Sides:
    """Row T: Theorem A with the weights recovered from the run's steps (the best weighting of
    ``bound_weighted_best``) and z rebuilt from the kept iterates."""
    a = run_arrays(trace, problem)
    T = a["T"]
    x = A.iterates(trace)
    g = torch.cat([A.grads(trace, problem), problem.grad(x[T]).to(F64)[None]], 0)
    _, eta = bound_weighted_best(a["steps"], a["D"], a["gnorm"], return_eta=True)
    w, ok = weights_from_schedule(a["steps"], eta)
    z = online_iterates(x, w)
    xs = problem.x_star_tensor(x[0]).to(F64)
    bnd, mag = A.nan_rows(trace), A.nan_rows(trace)
    bnd[T] = torch.where(ok, thm_a_rhs(g, z, w, xs), math.nan)
    # <g_t, z_t - x*> is a difference of <g_t, z_t> and <g_t, x*>: round-off relative to both.
    gn, zn = torch.linalg.vector_norm(g, dim=-1), torch.linalg.vector_norm(z, dim=-1)
    mag[T] = (w * gn * (zn + A.x_star_norm(problem))).sum(0) / w.sum(0)
    return _bound_sides(trace, problem, bnd, "Theorem A bounds the last iterate only (row T)", mag)


def _thm_b_sides(trace, problem) -> Sides:
    """Rows n (6 log-spaced rows: each is its own horizon, and each costs a 1-D search):
    min over weightings producing lr_0..lr_{n-1} of (B) with G_0..G_n."""
    a = run_arrays(trace, problem)
    bnd = A.nan_rows(trace)
    for n in A.sparse_rows(trace, 6):
        bnd[n] = bound_weighted_best(a["steps"][:n], a["D"], a["gnorm"][: n + 1])
    return _bound_sides(trace, problem, bnd, "evaluated at 6 log-spaced rows (a search per row)")


def _is_sgd_linear(trace, problem) -> torch.Tensor:
    """Steps lr (T - k) / T (the 'linear' schedule with min_factor = 0 and the run's horizon: the
    schedule's own T and min_factor are init arguments the trace does not record)."""
    a = run_arrays(trace, problem)
    T, st = a["T"], a["steps"]
    want = linear_decay_schedule(T, st[0] * (T + 1) / T)
    tol = 8 * A.unit_roundoff(trace) * st[0].abs()
    return ((st - want).abs() <= tol).all(0) & (st[0] > 0)


def _linear_sides(trace, problem) -> Sides:
    """Row T: D^2 / (2 eta (T+1)) + eta G^2 / 2 with eta = lr_0 (T+1) / T (the 'linear' schedule is
    lr (T - k) / T = linear_decay_schedule(T, lr (T+1) / T))."""
    if problem.G is None or getattr(problem, "G_scope", "global") != "global":
        raise A.Unavailable("needs a global Lipschitz constant G")
    a = run_arrays(trace, problem)
    T = a["T"]
    bnd = A.nan_rows(trace)
    bnd[T] = linear_decay_bound(a["steps"][0] * (T + 1) / T, T, a["D"], float(problem.G))
    return _bound_sides(trace, problem, bnd, "the corollary bounds the last iterate only (row T)")


def _thm10_rows(steps, D, g, rows, virtual=None) -> tuple[torch.Tensor, str]:
    T = steps.shape[0]
    if len(rows) == T + 1:
        return thm10_prefix_bounds(steps, D, g, virtual=virtual), ""
    out = torch.full((T + 1,) + tuple(g.shape[1:]), math.nan, dtype=F64)
    for n in rows:
        out[n] = thm10_last_prefix(steps[:n], D, g[: n + 1], virtual=None if virtual is None else virtual[n])
    return out, f"evaluated at {len(rows)} log-spaced rows of those kept on disk (O(T^2) cost)"


def _thm10_sides(trace, problem) -> Sides:
    """Row n: Theorem 10 with lr_0..lr_{n-1}, ||g_0..g_n|| and the best virtual step."""
    a = run_arrays(trace, problem)
    bnd, why = _thm10_rows(a["steps"], a["D"], a["gnorm"], A.sparse_rows(trace, MAX_ROWS))
    return _bound_sides(trace, problem, bnd, why)


def _thm10_expected_sides(trace, problem) -> Sides:
    """Row n: Theorem 10 with ||g_t||^2 observed and the fixed virtual step lr_n (lr_{T-1} at row T).

    Linear in the ||g_t||^2 and D^2 with deterministic steps, so its mean over seeds is the
    theorem's bound with E||g_t||^2. Row T uses ||grad f(x_T)|| (``last_grad_norm``).
    """
    a = run_arrays(trace, problem)
    st = a["steps"]
    virtual = torch.cat([st, st[-1:]], 0)
    bnd, why = _thm10_rows(st, a["D"], a["gnorm"], A.sparse_rows(trace, MAX_ROWS), virtual=virtual)
    return _bound_sides(trace, problem, bnd, why)


def _thm_b_expected_sides(trace, problem) -> Sides:
    """Rows n (6 log-spaced rows, each its own horizon): (B) with the observed ||g_0..g_n|| and the
    ``noise_free_weighting`` of lr_0..lr_{n-1} for the constant norm ||grad f(x_0)|| (x_0 is fixed
    before any sample). Row T uses ||grad f(x_T)|| (``last_grad_norm``)."""
    a = run_arrays(trace, problem)
    x0 = A.x0(trace)
    g0 = metric_norm(trace, problem.grad(x0))
    g0 = torch.where(g0 > 0, g0, 1.0)  # x_0 = x*: any positive constant
    bnd = A.nan_rows(trace)
    for n in A.sparse_rows(trace, 6):
        w, eta = noise_free_weighting(a["steps"][:n], a["D"], g0)
        bnd[n] = bound_weighted(w, eta, a["D"], a["gnorm"][: n + 1])
    return _bound_sides(trace, problem, bnd, "evaluated at 6 log-spaced rows (a search per row)")


def _linear_expected_sides(trace, problem) -> Sides:
    """Row T: D^2 / (2 eta (T+1)) + eta G^2 / 2 with eta = lr_0 (T+1) / T and G^2 the run's mean of
    ||g_0||^2..||g_{T-1}||^2 (minibatch) and ||grad f(x_T)||^2: linear in the squared norms, so
    its mean over seeds is the corollary with G^2 = mean_t E||g_t||^2."""
    a = run_arrays(trace, problem)
    T = a["T"]
    G = torch.sqrt((a["gnorm"] ** 2).mean(0))
    bnd = A.nan_rows(trace)
    bnd[T] = linear_decay_bound(a["steps"][0] * (T + 1) / T, T, a["D"], G)
    return _bound_sides(trace, problem, bnd, "the corollary bounds the last iterate only (row T)")


def _own_refined(trace, problem) -> torch.Tensor:
    """The run's steps are lr * refined_shape of its OWN norms G_0..G_{T-1} (then lr_{T-1} = 0)."""
    a = run_arrays(trace, problem)
    g = a["gnorm"][:-1]
    positive = ((g > 0) & g.isfinite()).all(0)  # a zero norm (x_t = x* exactly) has no weight G^-2
    shape = refined_shape(torch.where(positive, g, 1.0))
    tol = 64 * A.unit_roundoff(trace)
    return positive & ((a["steps"] / A.hp(trace, "lr") - shape).abs() <= tol).all(0)


def _refined_sides(trace, problem) -> Sides:
    """Rows T-1 and T (x_T = x_{T-1}: the refined schedule's last step is 0): (B) with w_t = G_t^{-2}
    of the run's own norms and the OGD step its steps imply, D / sqrt(sum G_t^{-2}) at the optimal lr."""
    a = run_arrays(trace, problem)
    T = a["T"]
    g = a["gnorm"][:-1]
    b = bound_weighted(g**-2.0, refined_eta(g, A.hp(trace, "lr")), a["D"], g)
    bnd = A.nan_rows(trace)
    bnd[T - 1] = bnd[T] = b
    return _bound_sides(trace, problem, bnd, "(B) with the refined weights bounds the end of the schedule (rows T-1, T)")


def recorded_refinement(trace) -> tuple[torch.Tensor, torch.Tensor]:
    """(w [nvals, B], ok [B]): the weights Ghat_t^power the run's refined schedule was built from, on
    the refinement's grid of nvals points, rebuilt from its recorded init arguments (norms of an
    earlier run, power, tau, nvals, trim), and whether the run's steps are lr * that schedule
    resampled to T (with nvals = T no resampling: steps lr w_t w_{t+1:n} / max exactly, with
    w_{T-1} the last weight; either way lr_{T-1} = 0)."""
    from ratecheck.optimizers import get as get_opt
    from ratecheck.optimizers.refine import refined_schedule as build, smooth_norms

    T, B = A.steps(trace), trace.batch
    no = torch.zeros(B, dtype=torch.bool)
    if A.option(trace, "schedule") != "refined":
        return torch.full((T, B), math.nan, dtype=F64), no
    args = A.init_args(trace)
    p = {k: args[k] for k in ("tau", "nvals", "trim") if k in args}
    power = float(args.get("power", get_opt(A.optimizer(trace)).default_power))
    norms = torch.as_tensor(args["norms"], dtype=F64)
    norms = norms.expand(B, -1) if norms.ndim == 1 else norms
    ghat = smooth_norms(norms, **p)
    steps = build(norms, power=power, length=T, **p)
    lr = A.hp(trace, "lr")
    tol = 64 * A.unit_roundoff(trace)
    ok = ((A.col(trace, "lr") / lr - steps.T).abs() <= tol).all(0) & (lr > 0)
    return (ghat**power).T.contiguous(), ok


def transfer_weighting(w, steps, D) -> tuple[torch.Tensor, torch.Tensor]:
    """(w [n+1, ...], eta [...]) producing ``steps`` [n, ...] (>= 0) of a refined schedule that was
    resampled from the refinement's grid of m != n + 1 points (so it is no weight-derived schedule
    of the refinement's weights ``w`` [m, ...]): among the weightings that produce the steps, the one
    minimising (B) for the norms Ghat_t = w_t^{-1/2} of w resampled to n + 1 points (w itself would
    be that minimiser if it produced the steps). Chosen without this run's norms; (B) holds for
    every weighting that produces the steps. [DERIVED] docs/theory/linear_decay_refinement.md#refined-transfer
    """
    from ratecheck.optimizers.refine import _resample

    w, steps, D = _t(w), _t(steps), _t(D)
    n = steps.shape[0]
    flat = w.reshape(w.shape[0], -1).T.numpy()
    wn = torch.as_tensor(np.stack([_resample(r, n + 1) for r in flat], -1), dtype=F64).reshape((n + 1,) + w.shape[1:])
    _, eta = bound_weighted_best(steps, D, wn**-0.5, return_eta=True)
    return weights_from_schedule(steps, eta)[0], eta


def _refined_transfer_sides(trace, problem) -> Sides:
    """Rows T-1 and T (the last step is 0): (B) with the weighting ``transfer_weighting`` of the
    recorded refinement (its own weights when nvals = T) and this run's norms G_0..G_{T-1}."""
    a = run_arrays(trace, problem)
    T = a["T"]
    w, _ = recorded_refinement(trace)
    on_grid = w.shape[0] == T
    w, eta = (w, weights_eta(w, A.hp(trace, "lr"))) if on_grid else transfer_weighting(w, a["steps"][:-1], a["D"])
    b = bound_weighted(w, eta, a["D"], a["gnorm"][:-1])
    bnd = A.nan_rows(trace)
    bnd[T - 1] = bnd[T] = b
    why = "" if on_grid else "; the schedule was resampled (nvals != T): the weighting of its steps best for the refinement's norms"
    return _bound_sides(trace, problem, bnd, "(B) with the refinement's weights bounds the end of the schedule (rows T-1, T)" + why)


LINEAR = Assumption("schedule = 'linear'", lambda tr, pb: torch.tensor(A.option(tr, "schedule") == "linear"))
LINEAR_STEPS = Assumption("lr_k = lr (T-k)/T (min_factor = 0, schedule horizon = run horizon)", _is_sgd_linear)
# A refined schedule is built from an earlier run's norms, which (experiments: same seeds) saw
# the same samples: its steps are not independent of this run's noise, as the proofs in
# expectation need.
REFINED_RECORDED = Assumption("steps = lr * refined_schedule(recorded init norms) resampled to T",
                              lambda tr, pb: recorded_refinement(tr)[1])
STEPS_FIXED = Assumption("steps independent of the samples (schedule != 'refined')",
                         lambda tr, pb: torch.tensor(A.option(tr, "schedule") != "refined"))


def _R(**kw) -> Result:
    kw.setdefault("requires", frozenset({"convex"}))
    kw.setdefault("optimizers", ("sgd",))
    return register(Result(paper=PAPER, arxiv=ARXIV, **kw))


_R(key="schedules.sgd_one_step", title="SGD one-step distance inequality (regret step)",
   provenance="DERIVED", source=f"{DOC}#regret-step", kind="lyapunov", sides=_sgd_one_step_sides,
   statement="||x_{t+1} - x*||^2 <= ||x_t - x*||^2 - 2 eta_t (f(x_t) - f*) + eta_t^2 ||g_t||^2",
   assumptions=(NO_WD,))
_R(key="schedules.thm_a", title="Online learner to last iterate (Theorem A)",
   provenance="DERIVED", source=f"{DOC}#theorem-a", sides=_thm_a_sides,
   statement="f(x_T) - f* <= (1/w_{0:T}) sum_t w_t <g_t, z_t - x*>, z_{t+1} = z_t + (w_{0:T}/w_{t+1:T})(x_{t+1} - x_t) "
             "(any sequence x, so any weight decay; needs kept iterates)")
_R(key="schedules.thm_b", title="SGD with a weight-derived schedule (B), best weighting",
   provenance="DERIVED", source=f"{DOC}#theorem-b", sides=_thm_b_sides,
   statement="f(x_n) - f* <= min_w (1/(2 w_{0:n})) (D^2/eta + eta sum w_t^2 ||g_t||^2) over w with lr_t = eta w_t w_{t+1:n}/w_{0:n}",
   assumptions=(NO_WD,))
_R(key="schedules.linear_decay", title="Linear decay: D G / sqrt(T+1) (corollary of (B), w = 1)",
   provenance="DERIVED", source=f"{DOC}#linear-decay", sides=_linear_sides,
   requires=frozenset({"convex", "lipschitz"}),
   statement="lr_k = eta (T-k)/(T+1): f(x_T) - f* <= D^2/(2 eta (T+1)) + eta G^2/2 = D G / sqrt(T+1) at eta = D/(G sqrt(T+1))",
   assumptions=(NO_WD, LINEAR, LINEAR_STEPS))
_R(key="schedules.thm10", title="Last-iterate bound for an arbitrary schedule",
   label="Theorem 10 (v2, App. F)", provenance="DERIVED", source=f"{DOC}#theorem-10", sides=_thm10_sides,
   statement="f(x_n) - f* <= D^2/(2 eta_{0:n}) + 1/2 sum_{t<=n} eta_t^2 ||g_t||^2 / eta_{min(t+1,n):n}, eta_n free",
   assumptions=(NO_WD,))
_R(key="schedules.thm10_expected", title="Last-iterate bound for an arbitrary schedule, stochastic gradients",
   label="Theorem 10 (v2, App. F)", provenance="DERIVED", source=f"{DOC}#theorem-10", sides=_thm10_expected_sides,
   oracle="stochastic", in_expectation=True,
   statement="E[f(x_n) - f*] <= D^2/(2 eta_{0:n}) + 1/2 sum_{t<=n} eta_t^2 E||g_t||^2 / eta_{min(t+1,n):n}, eta_n = lr_n",
   assumptions=(NO_WD, STEPS_FIXED))
_R(key="schedules.thm_b_expected", title="SGD with a weight-derived schedule (B), stochastic gradients",
   provenance="DERIVED", source=f"{DOC}#theorem-b-in-expectation", sides=_thm_b_expected_sides,
   oracle="stochastic", in_expectation=True,
   statement="E[f(x_n) - f*] <= (1/(2 w_{0:n})) (D^2/eta + eta sum_{t<=n} w_t^2 E||g_t||^2), w, eta fixed in advance "
             "(noise_free_weighting of lr_0..lr_{n-1} for the constant norm ||grad f(x_0)||)",
   assumptions=(NO_WD, STEPS_FIXED))
_R(key="schedules.linear_decay_expected", title="Linear decay, stochastic gradients: D G / sqrt(T+1), G^2 = mean_t E||g_t||^2",
   provenance="DERIVED", source=f"{DOC}#linear-decay-in-expectation", sides=_linear_expected_sides,
   oracle="stochastic", in_expectation=True,
   statement="lr_k = eta (T-k)/(T+1): E[f(x_T) - f*] <= D^2/(2 eta (T+1)) + eta G^2/2, G^2 = (1/(T+1)) sum_{t<=T} E||g_t||^2 "
             "(= D G / sqrt(T+1) at eta = D/(G sqrt(T+1)))",
   assumptions=(NO_WD, LINEAR, LINEAR_STEPS))
_R(key="schedules.refined", title="Refined schedule: (B) with w = ||g_t||^-2, D / sqrt(sum ||g_t||^-2) at the optimal lr",
   provenance="DERIVED", source=f"{DOC}#refined", sides=_refined_sides,
   statement="lr_t = lr s_t, s = refined_shape(G_0..G_{T-1}) of the run's own norms: f(x_T) - f* <= (1/(2S))(D^2/eta + eta S), "
             "S = sum G_t^-2, eta = refined_eta; = D / sqrt(S) at eta = D / sqrt(S)",
   assumptions=(NO_WD, Assumption("steps = refined schedule of the run's own gradient norms "
                                  "(a schedule refined from other norms: schedules.thm_b, schedules.thm10)", _own_refined)))


_R(key="schedules.refined_transfer",
   title="Refined schedule from an earlier run's norms: (B) with the refinement's weights and this run's norms",
   provenance="DERIVED", source=f"{DOC}#refined-transfer", sides=_refined_transfer_sides,
   statement="lr_t = lr s_t, s = refined_schedule(Ghat) with Ghat the (smoothed) norms of an EARLIER run, w_t = Ghat_t^power: "
             "f(x_T) - f* <= (1/(2 w_{0:n})) (D^2/eta + eta sum_{t<=n} w_t^2 ||g_t||^2), eta = lr w_{0:n}/max_t w_t w_{t+1:n}, "
             "n = T-1; at eta = D/sqrt(w_{0:n}) and power -2: (D/sqrt(sum Ghat^-2)) (1 + rho)/2, rho = sum w_t^2 ||g_t||^2/w_{0:n}",
   assumptions=(NO_WD, REFINED_RECORDED),
   notes="Deterministic gradients (pathwise). The schedule's init arguments are read from trace.meta['init_args'] "
         "(recorded by runner.run). nvals = T keeps the weights on the run's grid; otherwise (sweeps: nvals = 10000) the "
         "schedule was resampled and the weighting is transfer_weighting: the one producing the steps that is best for "
         "the refinement's norms, fixed by the earlier run.")

# -- the per-coordinate form: psgd, SGD with a fixed diagonal preconditioner A = diag(a) ---------------
# SGD in the coordinates y = A^{1/2} x: every bound above holds with D_A = ||x_0 - x*||_A and the
# norms ||g_t||_{A^{-1}} (run_arrays reads them for psgd). docs/theory/linear_decay_refinement.md#preconditioned
PRE = "; A = diag(a) fixed before the run, D_A = ||x_0 - x*||_A, ||g||_{A^-1}^2 = sum_i g_i^2 / a_i"
_R(key="schedules.precond_thm_b", title="Preconditioned SGD: (B) in the A-norm, best weighting",
   provenance="DERIVED", source=f"{DOC}#preconditioned", sides=_thm_b_sides, optimizers=("psgd",),
   statement="x_{t+1} = x_t - lr_t A^{-1} g_t: f(x_n) - f* <= min_w (1/(2 w_{0:n})) (D_A^2/eta + eta sum w_t^2 ||g_t||_{A^-1}^2) "
             "over w with lr_t = eta w_t w_{t+1:n}/w_{0:n}" + PRE,
   assumptions=(NO_WD,))
_R(key="schedules.precond_thm_b_expected", title="Preconditioned SGD: (B) in the A-norm, stochastic gradients",
   provenance="DERIVED", source=f"{DOC}#preconditioned", sides=_thm_b_expected_sides, optimizers=("psgd",),
   oracle="stochastic", in_expectation=True,
   statement="E[f(x_n) - f*] <= (1/(2 w_{0:n})) (D_A^2/eta + eta sum_{t<=n} w_t^2 E||g_t||_{A^-1}^2), w, eta fixed in advance "
             "(noise_free_weighting for the constant norm ||grad f(x_0)||_{A^-1})" + PRE,
   assumptions=(NO_WD, STEPS_FIXED))
_R(key="schedules.precond_linear_decay", title="Preconditioned SGD, linear decay: D_A G_A / sqrt(T+1), G_A^2 = mean_t ||g_t||_{A^-1}^2",
   provenance="DERIVED", source=f"{DOC}#preconditioned", sides=_linear_expected_sides, optimizers=("psgd",),
   statement="lr_k = eta (T-k)/(T+1): f(x_T) - f* <= D_A^2/(2 eta (T+1)) + eta G_A^2/2, G_A^2 = (1/(T+1)) sum_{t<=T} ||g_t||_{A^-1}^2" + PRE,
   assumptions=(NO_WD, LINEAR, LINEAR_STEPS))
_R(key="schedules.precond_linear_decay_expected", title="Preconditioned SGD, linear decay, stochastic gradients",
   provenance="DERIVED", source=f"{DOC}#preconditioned", sides=_linear_expected_sides, optimizers=("psgd",),
   oracle="stochastic", in_expectation=True,
   statement="lr_k = eta (T-k)/(T+1): E[f(x_T) - f*] <= D_A^2/(2 eta (T+1)) + eta G_A^2/2, G_A^2 = (1/(T+1)) sum_{t<=T} E||g_t||_{A^-1}^2" + PRE,
   assumptions=(NO_WD, LINEAR, LINEAR_STEPS))
_R(key="schedules.precond_refined_transfer",
   title="Preconditioned SGD refined from an earlier run's norms (l2 or l1): (B) in the A-norm with the refinement's weights",
   provenance="DERIVED", source=f"{DOC}#preconditioned", sides=_refined_transfer_sides, optimizers=("psgd",),
   statement="as schedules.refined_transfer with D_A and this run's ||g_t||_{A^-1}; any norms of the earlier run "
             "(the authors' l1 norms with power -1 included: the weights need only be positive)" + PRE,
   assumptions=(NO_WD, REFINED_RECORDED))


# -- examples: small runs on which each result is checked (tests/theory/test_every_result.py) ------


def _eta_star(T: int):
    """lr of the 'linear' schedule at the corollary's optimal eta = D / (G sqrt(T+1))."""
    return lambda pb, D: {"lr": D / (float(pb.G) * math.sqrt(T + 1)) * T / (T + 1), "T": T}


def _refined_from_first_run(T: int, schedule: str = "linear", seed: int = 0):
    """hp for sgd schedule='refined': norms [B, T] from a first sgd run (``schedule``) from the starts of ``seed``."""

    def hp(pb, D):
        from ratecheck.experiments.runner import run
        from ratecheck.optimizers import get as get_opt

        lr = D / (float(pb.G) * math.sqrt(T + 1))
        x0 = pb.x0(4, seed=seed)
        first = run(pb, get_opt("sgd", schedule=schedule), x0, T, hp={"lr": lr, "T": T})
        return {"lr": lr, "T": T, "norms": first["grad_norm"][:T].T}  # norms with tau=0.1 smoothing, as the paper's code

    return hp


def _refined_second_run(T: int):
    """hp for sgd schedule='refined' on a SECOND run: norms [B, T] from a first 'linear' run from other starts
    (seed 1), smoothed as the paper's code does (tau = 0.1) on the run's grid (nvals = T)."""

    def hp(pb, D):
        h = _refined_from_first_run(T, seed=1)(pb, D)
        return {**h, "nvals": T, "tau": 0.1}

    return hp


example(Example(results=("schedules.refined_transfer", "schedules.thm10"), problem="l1_distance", optimizer="sgd",
                options={"schedule": "refined"}, hp=_refined_second_run(40), T=40))
example(Example(results=("schedules.refined_transfer",), problem="max_affine", optimizer="sgd",
                options={"schedule": "refined"}, hp=_refined_second_run(40), T=40))
example(Example(results=("schedules.sgd_one_step",), problem="abs_1d", optimizer="sgd",
                hp={"lr": torch.tensor([0.01, 0.13, 0.7, 3.0], dtype=torch.float64)}, T=50))
example(Example(results=("schedules.sgd_one_step", "schedules.thm10", "schedules.thm_b", "schedules.thm_a"),
                problem="l1_distance", optimizer="sgd", options={"schedule": "cosine"},
                hp=lambda pb, D: {"lr": D / (float(pb.G) * 10.0), "T": 80}, T=80))
example(Example(results=("schedules.linear_decay", "schedules.thm10", "schedules.thm_b", "schedules.thm_a"),
                problem="lad", optimizer="sgd", options={"schedule": "linear"}, hp=_eta_star(60), T=60))
example(Example(results=("schedules.refined", "schedules.thm10"), problem="abs_1d", optimizer="sgd",
                options={"schedule": "refined"}, hp=_refined_from_first_run(40), T=40))
example(Example(results=("schedules.thm10", "schedules.thm_b"), problem="max_affine", optimizer="sgd",
                options={"schedule": "refined"}, hp=_refined_from_first_run(40), T=40))
example(Example(results=("schedules.thm10_expected",), problem="lad", optimizer="sgd",
                options={"schedule": "linear"}, hp={"lr": 0.3, "T": 60}, T=60, runs=8, batch_size=4))
example(Example(results=("schedules.thm_b_expected", "schedules.linear_decay_expected"), problem="lad", optimizer="sgd",
                options={"schedule": "linear"}, hp=_eta_star(60), T=60, runs=8, batch_size=4))
example(Example(results=("schedules.thm_b_expected",), problem="least_squares", optimizer="sgd",
                options={"schedule": "cosine"}, hp=lambda pb, D: {"lr": 0.5 / float(pb.L), "T": 60}, T=60, runs=8, batch_size=4))


def _psgd_refined_from_l1(T: int, nvals: int | None = None, given: bool = False):
    """hp for psgd(schedule='refined'): the l1 norms ||g_t||_1 of a first linear-decay psgd run from other
    starts (seed 1), weights power -1 (the authors' Adam pipeline), tau = 0.1; a = the problem's
    coordinate_scale (precond='problem'), or ``given``: a = linspace(0.5, 2, d) passed as a=."""

    def hp(pb, D):
        from ratecheck.experiments.runner import run
        from ratecheck.optimizers import get as get_opt

        lr = D / (float(pb.G) * math.sqrt(T + 1))
        a = {"a": torch.linspace(0.5, 2.0, pb.d, dtype=F64)} if given else {}
        first = run(pb, get_opt("psgd", schedule="linear", precond="given" if given else "problem"), pb.x0(4, seed=1), T,
                    hp={"lr": lr, "T": T, **a})
        return {"lr": lr, "T": T, "norms": first["grad_l1"][:T].T, "power": -1.0, "tau": 0.1, "nvals": nvals or T, **a}

    return hp


_PSGD = {"precond": "problem"}
example(Example(results=("schedules.precond_thm_b", "schedules.precond_linear_decay"), problem="l1_distance", optimizer="psgd",
                options={**_PSGD, "schedule": "linear"}, hp=_eta_star(60), T=60))
example(Example(results=("schedules.precond_thm_b_expected", "schedules.precond_linear_decay_expected"), problem="lad",
                optimizer="psgd", options={**_PSGD, "schedule": "linear"}, hp=_eta_star(60), T=60, runs=8, batch_size=4))
example(Example(results=("schedules.precond_refined_transfer",), problem="l1_distance", optimizer="psgd",
                options={**_PSGD, "schedule": "refined"}, hp=_psgd_refined_from_l1(40), T=40))
example(Example(results=("schedules.precond_refined_transfer", "schedules.precond_thm_b"), problem="max_affine", optimizer="psgd",
                options={"schedule": "refined"},
                hp=_psgd_refined_from_l1(40, nvals=400, given=True), T=40))
example(Example(results=("schedules.refined_transfer",), problem="l1_distance", optimizer="sgd",
                options={"schedule": "refined"}, hp=lambda pb, D: {**_refined_second_run(40)(pb, D), "nvals": 400}, T=40))
