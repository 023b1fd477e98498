"""Last-iterate bounds of SGD with a step-size schedule, as array functions and registered results.

Defazio, Cutkosky, Mehta, Mishchenko, "Optimal linear decay learning rate schedules and further
refinements", arXiv 2310.07831. Proofs of every bound here: docs/theory/linear_decay_refinement.md.

Indexing (0-based, as the runner records): iterates x_0..x_n, steps eta_0..eta_{n-1} with
x_{t+1} = x_t - eta_t g_t, gradient norms G_0..G_n where G_n is at the last iterate x_n (the
paper's x_1..x_T with T = n + 1). D = ||x_0 - x*||.

The first part is pure: numpy arrays whose last axis is time, broadcasting over leading axes
(runs), usable from the CLI and notebooks. The second part registers the results; their
evaluate functions read a Trace and call the pure layer.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import fmin_l_bfgs_b

import torch

from ratecheck.errors import RatecheckError

from .base import Result, register


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _rcumsum(a: np.ndarray) -> np.ndarray:
    """Tail sums a_{k:n} along the last axis."""
    return np.ascontiguousarray(np.flip(np.cumsum(np.flip(a, -1), -1), -1))


# -- the identity (section 2) ----------------------------------------------------------------


def last_iterate_identity_rhs(q, w) -> np.ndarray:
    """Weighted average plus tail corrections, which equals q_n exactly.

    q_n = (1/w_{0:n}) sum_t w_t q_t + sum_{k<n} (1/w_{k+1:n} - 1/w_{k:n}) sum_{t>=k} w_t (q_t - q_k)

    for any q and weights w_t >= 0 with w_n > 0. [DERIVED] (note section 2).
    """
    q, w = _arr(q), _arr(w)
    W = _rcumsum(w)  # W_k = w_{k:n}
    Tq = _rcumsum(w * q)  # sum_{t>=k} w_t q_t
    inner = Tq[..., :-1] - q[..., :-1] * W[..., :-1]
    coef = 1.0 / W[..., 1:] - 1.0 / W[..., :-1]
    return Tq[..., 0] / W[..., 0] + (coef * inner).sum(-1)


# -- Theorem B: SGD from weights ------------------------------------------------------------


def schedule_from_weights(w, eta) -> np.ndarray:
    """Steps eta_t = eta * w_t * w_{t+1:n} / w_{0:n}, t = 0..n-1 (the weight-derived schedule).

    With w = ones(n+1) this is linear decay eta * (n - t) / (n + 1). [DERIVED] (note section 4).
    """
    w = _arr(w)
    W = _rcumsum(w)
    return np.asarray(eta)[..., None] * w[..., :-1] * W[..., 1:] / W[..., :1]


def weights_from_schedule(steps, eta) -> tuple[np.ndarray, np.ndarray]:
    """Weights (normalised to w_{0:n} = 1) that produce ``steps`` with OGD step ``eta``.

    With u_k = w_{k:n}: u_0 = 1 and eta_k = eta (u_k - u_{k+1}) u_{k+1}; we take the larger
    root u_{k+1} = (u_k + sqrt(u_k^2 - 4 eta_k / eta)) / 2. Returns (w [.., n+1], feasible [..]);
    infeasible entries (eta too small for some step) hold NaN. [DERIVED]
    """
    steps = _arr(steps)
    eta = np.asarray(eta, dtype=np.float64)
    n = steps.shape[-1]
    shape = np.broadcast_shapes(steps.shape[:-1], eta.shape)
    u = np.ones(shape)
    us = [u]
    ok = np.ones(shape, dtype=bool)
    for k in range(n):
        disc = u * u - 4.0 * steps[..., k] / eta
        ok &= disc >= -1e-12 * u * u  # a double root (w_k = w_{k+1:n}) may round to just below 0
        u = 0.5 * (u + np.sqrt(np.maximum(disc, 0.0)))
        us.append(u)
    U = np.stack(us, -1)
    w = np.concatenate([U[..., :-1] - U[..., 1:], U[..., -1:]], -1)
    w = np.where(ok[..., None], w, np.nan)
    return w, ok


def bound_weighted(w, eta, D, gnorm) -> np.ndarray:
    """(B): f(x_n) - f* <= (1 / (2 w_{0:n})) (D^2 / eta + eta sum_{t<=n} w_t^2 G_t^2).

    For SGD with the schedule ``schedule_from_weights(w, eta)``; G_t = ||g_t|| observed
    (deterministic) or sqrt(E||g_t||^2) with weights independent of the noise. [DERIVED]
    (note section 4).
    """
    w, g = _arr(w), _arr(gnorm)
    eta, D = np.asarray(eta, dtype=np.float64), np.asarray(D, dtype=np.float64)
    return (D**2 / eta + eta * (w * w * g * g).sum(-1)) / (2.0 * w.sum(-1))


def bound_weighted_optimal_eta(w, D, gnorm) -> tuple[np.ndarray, np.ndarray]:
    """(eta*, bound) minimising (B) over eta: eta* = D / sqrt(sum w^2 G^2), bound D sqrt(sum w^2 G^2) / w_{0:n}."""
    w, g = _arr(w), _arr(gnorm)
    s = np.sqrt((w * w * g * g).sum(-1))
    return np.asarray(D) / s, np.asarray(D) * s / w.sum(-1)


def bound_weighted_best(steps, D, gnorm, n_grid: int = 32, n_refine: int = 40, return_eta: bool = False):
    """The smallest (B) over all weightings that produce the given positive ``steps``.

    Every positive schedule is weight-derived in a one-parameter family of ways (parametrised
    here by the OGD step eta >= eta_min); each member gives a valid bound, so their minimum is
    one too. Grid search in log eta, then golden-section refinement. [DERIVED]
    """
    steps, g = _arr(steps), _arr(gnorm)
    D = np.asarray(D, dtype=np.float64)
    lead = np.broadcast_shapes(steps.shape[:-1], g.shape[:-1], D.shape)
    steps = np.broadcast_to(steps, lead + steps.shape[-1:])
    g = np.broadcast_to(g, lead + g.shape[-1:])
    D = np.broadcast_to(D, lead)
    if steps.shape[-1] == 0:
        out = D * g[..., 0]  # f(x_0) - f* <= <g_0, x_0 - x*> <= D G_0
        return (out, np.full(out.shape, np.nan)) if return_eta else out
    # eta_min by bisection in log space: feasibility is monotone in eta.
    lo = np.log(4.0 * steps.max(-1))  # u_k <= 1 so eta >= 4 max eta_k is necessary
    hi = lo + 40.0
    for _ in range(64):  # to the last ulp: near a double root the bound moves like sqrt(eta - eta_min)
        mid = 0.5 * (lo + hi)
        _, ok = weights_from_schedule(steps, np.exp(mid))
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)

    def val(log_eta):
        e = np.exp(log_eta)
        w, ok = weights_from_schedule(steps, e)
        return np.where(ok, bound_weighted(w, e, D, g), np.inf)

    grid = hi[..., None] + np.linspace(0.0, 30.0, n_grid)
    vals = np.stack([val(grid[..., i]) for i in range(n_grid)], -1)
    i = vals.argmin(-1)
    best = np.take_along_axis(vals, i[..., None], -1)[..., 0]
    a = np.take_along_axis(grid, np.maximum(i - 1, 0)[..., None], -1)[..., 0]
    b = np.take_along_axis(grid, np.minimum(i + 1, n_grid - 1)[..., None], -1)[..., 0]
    ref, arg = _golden_min(val, a, b, n_refine, with_arg=True)
    out = np.minimum(best, ref)
    if return_eta:
        return out, np.exp(np.where(ref <= best, arg, np.take_along_axis(grid, i[..., None], -1)[..., 0]))
    return out


def _golden_min(f, a: np.ndarray, b: np.ndarray, iters: int, with_arg: bool = False):
    """Smallest value of f seen by a vectorised golden-section search on [a, b] (elementwise)."""
    r = (math.sqrt(5) - 1) / 2
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = f(c), f(d)
    best = np.minimum(fc, fd)
    arg = np.where(fc <= fd, c, d)
    for _ in range(iters):
        left = fc < fd  # minimum in [a, d]
        a, b = np.where(left, a, c), np.where(left, d, b)
        new = np.where(left, b - r * (b - a), a + r * (b - a))
        fnew = f(new)
        c, d, fc, fd = (np.where(left, new, d), np.where(left, c, new),
                        np.where(left, fnew, fd), np.where(left, fc, fnew))
        arg = np.where(fnew < best, new, arg)
        best = np.minimum(best, fnew)
    return (best, arg) if with_arg else best


def linear_decay_schedule(n: int, eta) -> np.ndarray:
    """eta_t = eta (n - t) / (n + 1), t = 0..n-1: (B) with w = 1, n steps to the last iterate x_n."""
    return np.asarray(eta, dtype=np.float64)[..., None] * (n - np.arange(n)) / (n + 1)


def linear_decay_bound(eta, n: int, D, G) -> np.ndarray:
    """D^2 / (2 eta (n+1)) + eta G^2 / 2 for linear decay with n steps; = D G / sqrt(n+1) at eta = D / (G sqrt(n+1)).

    [DERIVED] (note section 5, the corollary of (B) with w = 1 and ||g_t|| <= G).
    """
    eta = np.asarray(eta, dtype=np.float64)
    return np.asarray(D) ** 2 / (2.0 * eta * (n + 1)) + eta * np.asarray(G) ** 2 / 2.0


# -- refined schedule (section 6) ---------------------------------------------------------------


def refined_schedule(gnorm, D) -> np.ndarray:
    """Steps eta_t = (D / sqrt(S)) G_t^{-2} sum_{p>t} G_p^{-2} / S, t = 0..n-1, S = sum_{t<=n} G_t^{-2}.

    (B) with w_t = G_t^{-2} at its optimal eta. [DERIVED; CODE for the shape]
    """
    g = _arr(gnorm)
    w = g**-2.0
    S = w.sum(-1)
    return schedule_from_weights(w, np.asarray(D) / np.sqrt(S))


def refined_bound(gnorm, D) -> np.ndarray:
    """D / sqrt(sum_{t<=n} G_t^{-2}) (<= D sqrt(sum G_t^2) / (n+1) <= D max G / sqrt(n+1)). [DERIVED]"""
    g = _arr(gnorm)
    return np.asarray(D) / np.sqrt((g**-2.0).sum(-1))


def refined_shape(gnorm, power: float = 2.0) -> np.ndarray:
    """The code's normalised refined schedule s_t = w_t w_{t+1:n} / max, w_t = G_t^{-power}, length n+1 (s_n = 0).

    [CODE] facebookresearch/adaptive_scheduling find_schedule.py::find_closed_form_schedule
    (power 2 for l2 norms of SGD, 1 for l1 norms of Adam).
    """
    w = _arr(gnorm) ** -float(power)
    W = _rcumsum(w)
    s = np.concatenate([w[..., :-1] * W[..., 1:], np.zeros(w.shape[:-1] + (1,))], -1)
    return s / s.max(-1, keepdims=True)


# -- Theorem 10 (section 7) -------------------------------------------------------------------


def thm10_terms(eta, D, gnorm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t1, t2, t3) of the last-iterate bound for an arbitrary schedule, first form.

    ``eta`` has n+1 entries: the n real steps and the free virtual step eta_n > 0.
    t1 = D^2 / (2 eta_{0:n}), t2 = sum eta_t^2 G_t^2 / (2 eta_{0:n}),
    t3 = 1/2 sum_{k<n} eta_k / eta_{k+1:n} * sum_{t>=k} eta_t^2 G_t^2 / eta_{k:n}. [DERIVED]
    """
    e, g = _arr(eta), _arr(gnorm)
    E = _rcumsum(e)
    a = e * e * g * g
    A = _rcumsum(a)
    t1 = np.asarray(D) ** 2 / (2 * E[..., 0])
    t2 = A[..., 0] / (2 * E[..., 0])
    t3 = 0.5 * (e[..., :-1] / E[..., 1:] * A[..., :-1] / E[..., :-1]).sum(-1)
    return t1, t2, t3


def thm10_bound(eta, D, gnorm) -> np.ndarray:
    """f(x_n) - f* <= D^2 / (2 eta_{0:n}) + 1/2 sum_{t<=n} eta_t^2 G_t^2 / eta_{min(t+1,n):n}.

    "Theorem 10" of arXiv 2310.07831 v2 (App. F) [DERIVED formula; SECONDARY numbering]. ``eta``:
    n real steps plus the virtual eta_n > 0 (any value gives a valid bound).
    """
    e, g = _arr(eta), _arr(gnorm)
    E = _rcumsum(e)
    den = np.concatenate([E[..., 1:], e[..., -1:]], -1)
    return np.asarray(D) ** 2 / (2 * E[..., 0]) + 0.5 * (e * e * g * g / den).sum(-1)


def thm10_optimal_base(shape, D, gnorm) -> tuple[np.ndarray, np.ndarray]:
    """(s*, bound) for the schedule s * shape: s* = sqrt(t1 / (t2 + t3)), bound 2 sqrt(t1 (t2 + t3)) at s = 1.

    [SECONDARY] fabian-sp/lr-scheduling compute_optimal_base; [DERIVED] (t1 ~ 1/s, t2 + t3 ~ s).
    """
    t1, t2, t3 = thm10_terms(shape, D, gnorm)
    return np.sqrt(t1 / (t2 + t3)), 2 * np.sqrt(t1 * (t2 + t3))


def constant_step_thm10(T: int, D=1.0, G=1.0) -> tuple[float, float]:
    """(eta*, bound) of Theorem 10 for a constant step over T = n + 1 entries: D G sqrt((1 + H_{T-1}) / T). [DERIVED]"""
    H = sum(1.0 / k for k in range(1, T))
    return D / (G * math.sqrt(T * (1 + H))), D * G * math.sqrt((1 + H) / T)


def thm10_prefix_bounds(steps, D, gnorm, n_golden: int = 60, virtual=None) -> np.ndarray:
    """Theorem 10 for every prefix: entry n bounds f(x_n) - f* using eta_0..eta_{n-1} and G_0..G_n.

    The virtual step eta_n is chosen per n by golden-section search on log eta_n (the bound is
    unimodal in it); any value is valid, so imprecision only loosens the bound. steps [.., T],
    gnorm [.., T+1] -> [.., T+1]. NaN where G_n is NaN. ``virtual`` [.., T+1]: use these virtual
    steps instead of optimising (needed in expectation, where the choice must not depend on the
    run's noise). [DERIVED]
    """
    steps, g = _arr(steps), _arr(gnorm)
    T = steps.shape[-1]
    lead = np.broadcast_shapes(steps.shape[:-1], g.shape[:-1], np.shape(D))
    steps = np.broadcast_to(steps, lead + (T,))
    g = np.broadcast_to(g, lead + (T + 1,))
    D = np.broadcast_to(np.asarray(D, dtype=np.float64), lead)
    C = np.concatenate([np.zeros(lead + (1,)), np.cumsum(steps, -1)], -1)  # C_k = sum_{s<k} eta_s
    a = steps * steps * g[..., :T] ** 2  # a_t, t < T
    n_idx = np.arange(T + 1)
    t_idx = np.arange(T)
    mask = t_idx[None, :] < n_idx[:, None]  # [n, t]: t < n
    # R[n, t] = C_n - C_{t+1} = sum_{s=t+1}^{n-1} eta_s for t < n
    R = C[..., :, None] - C[..., None, 1:]
    R = np.where(mask, R, 0.0)
    A = np.where(mask, a[..., None, :], 0.0)
    E = C  # sum of real steps up to n
    Gn2 = g**2

    def val(v):  # v [.., T+1]
        return D[..., None] ** 2 / (2 * (E + v)) + 0.5 * (A / (R + v[..., None])).sum(-1) + 0.5 * v * Gn2

    if virtual is not None:
        return val(np.broadcast_to(np.asarray(virtual, dtype=np.float64), lead + (T + 1,)))
    # Bracket for log eta_n: the optimum lies between the smallest useful step and D / min G.
    gmax = np.nanmax(g, -1, initial=0.0)
    ref = np.maximum(np.max(steps, -1, initial=0.0), D / np.where(gmax > 0, gmax, np.inf))
    ref = np.where(ref > 0, ref, 1.0)[..., None]
    lo = np.broadcast_to(np.log(ref) - 30.0, lead + (T + 1,))
    hi = np.broadcast_to(np.log(ref) + 30.0, lead + (T + 1,))
    return _golden_min(lambda u: val(np.exp(u)), lo, hi, n_golden)


def thm10_last_prefix(steps, D, gnorm, n_golden: int = 60, virtual=None) -> np.ndarray:
    """Theorem 10 at the end of the sequence only: the last entry of ``thm10_prefix_bounds``.

    steps [.., n], gnorm [.., n+1] -> [..]. Costs O(n) per evaluation of the virtual step
    instead of the O(n^2) of all prefixes, so bounds at a few rows of a long run stay cheap.
    ``virtual`` [..]: a fixed virtual step instead of the optimised one. [DERIVED]
    """
    steps, g = _arr(steps), _arr(gnorm)
    n = steps.shape[-1]
    lead = np.broadcast_shapes(steps.shape[:-1], g.shape[:-1], np.shape(D))
    steps = np.broadcast_to(steps, lead + (n,))
    g = np.broadcast_to(g, lead + (n + 1,))
    D = np.broadcast_to(np.asarray(D, dtype=np.float64), lead)
    C = np.cumsum(steps, -1)  # C[t] = sum_{s<=t} eta_s
    Cn = C[..., -1] if n else np.zeros(lead)
    R = Cn[..., None] - C  # R[t] = sum_{s=t+1}^{n-1} eta_s
    A = steps * steps * g[..., :n] ** 2
    Gn2 = g[..., n] ** 2

    def val(v):
        return D**2 / (2 * (Cn + v)) + 0.5 * (A / (R + v[..., None])).sum(-1) + 0.5 * v * Gn2

    if virtual is not None:
        return val(np.broadcast_to(np.asarray(virtual, dtype=np.float64), lead))
    gmax = np.nanmax(g, -1, initial=0.0)
    ref = np.maximum(np.max(steps, -1, initial=0.0), D / np.where(gmax > 0, gmax, np.inf))
    ref = np.where(ref > 0, ref, 1.0)
    return _golden_min(lambda u: val(np.exp(u)), np.log(ref) - 30.0, np.log(ref) + 30.0, n_golden)


def thm10_objective_and_grad(lam: np.ndarray, D: float, gnorm: np.ndarray) -> tuple[float, np.ndarray]:
    """Theorem-10 bound of the schedule ``lam`` (n+1 entries incl. the virtual step) and its gradient."""
    g2 = _arr(gnorm) ** 2
    n1 = lam.shape[0]
    E = _rcumsum(lam)
    Rt = np.concatenate([E[1:], lam[-1:]])
    Lam = E[0]
    f = D * D / (2 * Lam) + 0.5 * (lam * lam * g2 / Rt).sum()
    a = lam * lam * g2 / Rt**2  # d/dR of -(1/2) lam^2 g^2 / R, up to sign
    pref = np.concatenate([[0.0], np.cumsum(a[:-1])])  # sum_{t<j} a_t (t < n)
    extra = np.zeros(n1)
    extra[-1] = a[-1]
    grad = -D * D / (2 * Lam**2) + lam * g2 / Rt - 0.5 * (pref + extra)
    return float(f), grad


def optimal_schedule(gnorm, D: float = 1.0, floor: float = 1e-8, maxiter: int = 15000) -> tuple[np.ndarray, float]:
    """The schedule minimising the Theorem-10 bound for given gradient norms (n+1 entries, last virtual).

    L-BFGS-B over eta_t >= ``floor`` from eta_t = D / sqrt(n+1), as in [CODE]
    facebookresearch/adaptive_scheduling find_schedule.py::find_schedule (m=20, factr=100,
    pgtol=1e-10). Returns (eta, bound).
    """
    g = _arr(gnorm)
    if g.ndim != 1 or g.size < 1 or not np.all(np.isfinite(g)) or np.any(g <= 0):
        raise RatecheckError(f"gnorm must be a 1-D array of positive finite norms; got shape {g.shape}")
    x0 = np.full(g.size, D / math.sqrt(g.size))
    lam, f, _ = fmin_l_bfgs_b(
        lambda x: thm10_objective_and_grad(x, D, g), x0, bounds=[(floor, None)] * g.size,
        m=20, factr=100.0, pgtol=1e-10, maxls=100, maxfun=maxiter, maxiter=maxiter,
    )
    return lam, float(f)


# =============================================================================================
# Registered results: evaluate the bounds above on a Trace (deterministic SGD runs).
# =============================================================================================

PAPER = "Optimal linear decay learning rate schedules and further refinements (Defazio, Cutkosky, Mehta, Mishchenko)"
ARXIV = "2310.07831"
DOC = "docs/theory/linear_decay_refinement.md"
MAX_ROWS = 200  # per-step bounds cost O(T^2); longer runs are checked at log-spaced rows


def _np(t: torch.Tensor) -> np.ndarray:
    """Trace quantity [T', B] -> numpy [B, T'] float64."""
    return t.detach().to(torch.float64).cpu().numpy().T.copy()


def _tensor(a: np.ndarray) -> torch.Tensor:
    """numpy [B, T'] -> Tensor [T', B]."""
    return torch.from_numpy(np.ascontiguousarray(a.T))


def _full(trace) -> int:
    """Horizon T of a trace that recorded every step (rows 0..T); bounds need the whole sequence."""
    T = trace.horizon
    if trace.steps.shape[0] != T + 1 or not torch.equal(trace.steps.cpu(), torch.arange(T + 1)):
        raise RatecheckError("schedule bounds need every step recorded (rows 0..T); got a subsampled trace")
    return T


def _rows(T: int, n: int = MAX_ROWS) -> np.ndarray:
    if T + 1 <= n:
        return np.arange(T + 1)
    r = np.unique(np.round(np.logspace(0, np.log10(T + 1), n)).astype(int) - 1)
    return np.unique(np.concatenate([[0, T], np.clip(r, 0, T)]))


def last_grad_norm(trace, problem) -> np.ndarray:
    """||g_T|| at the last iterate [B]: from the kept iterates, else the global Lipschitz G, else NaN.

    The runner takes no gradient at x_T; any upper bound on ||g_T|| keeps the bounds valid.
    """
    x = trace.iterates.get("x") if trace.iterates else None
    if x is not None:
        xT = x[-1].to(torch.float64)
        return torch.linalg.vector_norm(problem.grad(xT), dim=-1).cpu().numpy()
    B = trace.batch
    if problem.G is not None and getattr(problem, "G_scope", "global") == "global":
        return np.full(B, float(problem.G))
    return np.full(B, np.nan)


def run_arrays(trace, problem) -> dict[str, np.ndarray]:
    """Per-run arrays [B, .] the bounds need: steps (T), gnorm (T+1, last from ``last_grad_norm``), D, subopt, dist."""
    T = _full(trace)
    g = _np(trace["grad_norm"])
    g[:, T] = last_grad_norm(trace, problem)
    return {
        "T": T,
        "steps": _np(trace["lr"])[:, :T],
        "gnorm": g,
        "D": _np(trace["dist"])[:, 0],
        "dist": _np(trace["dist"]),
        "subopt": _np(trace["subopt"]),
    }


def _nan_like(trace) -> np.ndarray:
    return np.full((trace.batch, trace.steps.shape[0]), np.nan)


def _subopt(trace, problem) -> torch.Tensor:
    return trace["subopt"].to(torch.float64)


# -- evaluate functions (trace, problem) -> [T', B] --------------------------------------------


def _identity(trace, problem, absolute: bool) -> torch.Tensor:
    a = run_arrays(trace, problem)
    out = _nan_like(trace)
    q, st = a["subopt"], a["steps"]
    with np.errstate(all="ignore"):
        for n in _rows(a["T"]):
            w = np.concatenate([st[:, :n], st[:, max(n - 1, 0) : max(n, 1)] if n > 0 else np.ones((q.shape[0], 1))], 1)
            if absolute:  # the same sums with |q_t| + |q_k|: the size of what cancels
                qa = np.abs(q[:, : n + 1])
                W = _rcumsum(w)
                Tq = _rcumsum(w * qa)
                coef = 1.0 / W[:, 1:] - 1.0 / W[:, :-1]
                out[:, n] = Tq[:, 0] / W[:, 0] + (coef * (Tq[:, :-1] + qa[:, :-1] * W[:, :-1])).sum(-1)
            else:
                out[:, n] = last_iterate_identity_rhs(q[:, : n + 1], w)
    return _tensor(out)


def identity_rhs(trace, problem) -> torch.Tensor:
    """Row n: the identity's right side with q = subopt_0..n and w_t = lr_t (w_n = lr_{n-1})."""
    return _identity(trace, problem, False)


def identity_scale(trace, problem) -> torch.Tensor:
    return _identity(trace, problem, True)


def one_step_observed(trace, problem) -> torch.Tensor:
    d = trace["dist"].to(torch.float64) ** 2
    d[0] = torch.nan
    return d


def one_step_bound(trace, problem) -> torch.Tensor:
    """Row t+1: ||x_t - x*||^2 - 2 eta_t (f(x_t) - f*) + eta_t^2 ||g_t||^2."""
    d = trace["dist"].to(torch.float64)
    lr, f, g = (trace[k].to(torch.float64) for k in ("lr", "subopt", "grad_norm"))
    prev = d**2 - 2 * lr * f + lr**2 * g**2
    return torch.cat([torch.full_like(prev[:1], torch.nan), prev[:-1]])


def one_step_scale(trace, problem) -> torch.Tensor:
    """Magnitude of the terms of the one-step inequality (they cancel when eta is large)."""
    d = trace["dist"].to(torch.float64)
    lr, f, g = (trace[k].to(torch.float64) for k in ("lr", "subopt", "grad_norm"))
    mag = d**2 + 2 * lr * f.abs() + lr**2 * g**2
    return torch.cat([torch.zeros_like(mag[:1]), mag[:-1]])


def thm_a_bound(trace, problem) -> torch.Tensor:
    """Row T: (1/w_{0:T}) sum_t w_t <g_t, z_t - x*>, weights recovered from the schedule, z from x."""
    a = run_arrays(trace, problem)
    out = _nan_like(trace)
    x = trace.iterates.get("x") if trace.iterates else None
    if x is None:
        return _tensor(out)
    x = x.to(torch.float64)
    T = a["T"]
    with np.errstate(all="ignore"):
        _, eta = bound_weighted_best(a["steps"], a["D"], a["gnorm"], return_eta=True)
        w, ok = weights_from_schedule(a["steps"], eta)  # [B, T+1], sum = 1
    W = torch.from_numpy(_rcumsum(w)).T  # [T+1, B] tails w_{k:T}
    wt = torch.from_numpy(w).T
    z = [x[0]]
    for t in range(T):
        z.append(z[-1] + (1.0 / W[t + 1])[:, None] * (x[t + 1] - x[t]))
    xs = problem.x_star_tensor(x[0])
    rhs = torch.zeros(x.shape[1], dtype=torch.float64)
    for t in range(T + 1):
        g = problem.grad(x[t])
        rhs = rhs + wt[t] * ((g * (z[t] - xs)).sum(-1))
    out[:, T] = np.where(ok, rhs.numpy(), np.nan)
    return _tensor(out)


def thm_b_bound(trace, problem) -> torch.Tensor:
    """Rows n (log-spaced when long): min over weightings producing lr_0..lr_{n-1} of (B)."""
    a = run_arrays(trace, problem)
    out = _nan_like(trace)
    with np.errstate(all="ignore"):
        for n in _rows(a["T"], 6):
            out[:, n] = bound_weighted_best(a["steps"][:, :n], a["D"], a["gnorm"][:, : n + 1])
    return _tensor(out)


def _is_linear(steps: np.ndarray) -> np.ndarray:
    """Runs whose steps are lr_0 (T - k) / T, k < T (the sgd 'linear' schedule), to 1e-12 relative."""
    T = steps.shape[1]
    shape = (T - np.arange(T)) / T
    return np.all(np.abs(steps - steps[:, :1] * shape) <= 1e-12 * np.abs(steps[:, :1]), axis=1) & (steps[:, 0] > 0)


def linear_applies(trace, problem) -> torch.Tensor:
    a = run_arrays(trace, problem)
    has_G = problem.G is not None and getattr(problem, "G_scope", "global") == "global"
    return torch.from_numpy(_is_linear(a["steps"]) & has_G)


def linear_bound(trace, problem) -> torch.Tensor:
    """Row T: D^2 / (2 eta (T+1)) + eta G^2 / 2 with eta = lr_0 (T+1) / T (= D G / sqrt(T+1) at the optimal eta)."""
    a = run_arrays(trace, problem)
    out = _nan_like(trace)
    T = a["T"]
    if problem.G is not None:
        eta = a["steps"][:, 0] * (T + 1) / T
        val = linear_decay_bound(eta, T, a["D"], float(problem.G))
        out[:, T] = np.where(_is_linear(a["steps"]), val, np.nan)
    return _tensor(out)


def thm10_every_step(trace, problem) -> torch.Tensor:
    """Row n: Theorem 10 with lr_0..lr_{n-1}, ||g_0..g_n|| and the best virtual step."""
    a = run_arrays(trace, problem)
    out = _nan_like(trace)
    rows = _rows(a["T"])
    with np.errstate(all="ignore"):
        if len(rows) == a["T"] + 1:
            out = thm10_prefix_bounds(a["steps"], a["D"], a["gnorm"])
        else:
            for n in rows:
                out[:, n] = thm10_last_prefix(a["steps"][:, :n], a["D"], a["gnorm"][:, : n + 1])
    return _tensor(out)


def thm10_expected_bound(trace, problem) -> torch.Tensor:
    """Row n: Theorem 10 with ||g_t||^2 observed and the fixed virtual step lr_n (lr_{T-1} at row T).

    Linear in the ||g_t||^2 and D^2 with deterministic steps, so its mean over seeds is the
    theorem's bound with E||g_t||^2. Row T needs ||g_T||: the global Lipschitz G, else NaN.
    """
    T = _full(trace)
    g = _np(trace["grad_norm"])
    has_G = problem.G is not None and getattr(problem, "G_scope", "global") == "global"
    g[:, T] = float(problem.G) if has_G else np.nan
    lr = _np(trace["lr"])
    v = lr.copy()
    v[:, T] = lr[:, T - 1]
    D = _np(trace["dist"])[:, 0]
    rows = _rows(T)
    with np.errstate(all="ignore"):
        if len(rows) == T + 1:
            return _tensor(thm10_prefix_bounds(lr[:, :T], D, g, virtual=v))
        out = _nan_like(trace)
        for n in rows:
            out[:, n] = thm10_last_prefix(lr[:, :n], D, g[:, : n + 1], virtual=v[:, n])
    return _tensor(out)


def refined_applies(trace, problem) -> torch.Tensor:
    """Runs whose lr is the optimal refined schedule of their own norms (norms known in advance)."""
    a = run_arrays(trace, problem)
    with np.errstate(all="ignore"):
        ref = refined_schedule(a["gnorm"], a["D"])
        ok = np.all(np.abs(a["steps"] - ref) <= 1e-9 * np.abs(ref), axis=1)
    return torch.from_numpy(ok & np.all(np.isfinite(a["gnorm"]), axis=1))


def refined_bound_rows(trace, problem) -> torch.Tensor:
    a = run_arrays(trace, problem)
    out = _nan_like(trace)
    with np.errstate(all="ignore"):
        out[:, a["T"]] = np.where(refined_applies(trace, problem).numpy(), refined_bound(a["gnorm"], a["D"]), np.nan)
    return _tensor(out)


_common = dict(paper=PAPER, arxiv=ARXIV, optimizers=("sgd",), requires=frozenset({"convex"}), oracle="deterministic")

register(Result(
    key="schedules.identity", title="Last iterate = weighted average + tail corrections",
    provenance="DERIVED", source=f"{DOC}#identity", kind="identity", iterate="last",
    statement="q_n = (1/w_{0:n}) sum w_t q_t + sum_{k<n} (1/w_{k+1:n} - 1/w_{k:n}) sum_{t>=k} w_t (q_t - q_k), q = f(x_t) - f*, w = lr",
    observed=_subopt, bound=identity_rhs, scale=identity_scale, **{**_common, "requires": frozenset()},
))
register(Result(
    key="schedules.sgd_one_step", title="SGD one-step distance inequality (regret step)",
    provenance="DERIVED", source=f"{DOC}#regret-step", kind="lyapunov", iterate="last",
    statement="||x_{t+1} - x*||^2 <= ||x_t - x*||^2 - 2 eta_t (f(x_t) - f*) + eta_t^2 ||g_t||^2",
    observed=one_step_observed, bound=one_step_bound, scale=one_step_scale, **_common,
))
register(Result(
    key="schedules.thm_a", title="Online learner to last iterate (Theorem A)",
    provenance="DERIVED", source=f"{DOC}#theorem-a", iterate="last",
    statement="f(x_T) - f* <= (1/w_{1:T}) sum_t w_t <g_t, z_t - x*>, z_{t+1} = z_t - eta w_t g_t (needs kept iterates)",
    observed=_subopt, bound=thm_a_bound, **_common,
))
register(Result(
    key="schedules.thm_b", title="SGD with a weight-derived schedule (B), best weighting",
    provenance="DERIVED", source=f"{DOC}#theorem-b", iterate="last",
    statement="f(x_n) - f* <= min_w (1/(2 w_{0:n})) (D^2/eta + eta sum w_t^2 ||g_t||^2) over w with lr_t = eta w_t w_{t+1:n}/w_{0:n}",
    observed=_subopt, bound=thm_b_bound, **_common,
))
register(Result(
    key="schedules.linear_decay", title="Linear decay: D G / sqrt(T) (corollary of (B), w = 1)",
    provenance="DERIVED", source=f"{DOC}#linear-decay", iterate="last",
    statement="lr_k = eta (T-k)/(T+1): f(x_T) - f* <= D^2/(2 eta (T+1)) + eta G^2/2 = D G / sqrt(T+1) at eta = D/(G sqrt(T+1))",
    observed=_subopt, bound=linear_bound, applies=linear_applies,
    **{**_common, "requires": frozenset({"convex", "lipschitz"})},
))
register(Result(
    key="schedules.thm10", title="Last-iterate bound for an arbitrary schedule",
    label="Theorem 10 (v2, App. F)", provenance="DERIVED", source=f"{DOC}#theorem-10", iterate="last",
    statement="f(x_n) - f* <= D^2/(2 eta_{0:n}) + 1/2 sum_{t<=n} eta_t^2 ||g_t||^2 / eta_{min(t+1,n):n}, eta_n free",
    observed=_subopt, bound=thm10_every_step, **_common,
))
register(Result(
    key="schedules.thm10_expected", title="Last-iterate bound for an arbitrary schedule, stochastic gradients",
    label="Theorem 10 (v2, App. F)", provenance="DERIVED", source=f"{DOC}#theorem-10", iterate="last",
    statement="E[f(x_n) - f*] <= D^2/(2 eta_{0:n}) + 1/2 sum_{t<=n} eta_t^2 E||g_t||^2 / eta_{min(t+1,n):n}, eta_n = lr_n",
    observed=_subopt, bound=thm10_expected_bound, in_expectation=True,
    **{**_common, "oracle": "stochastic"},
))
register(Result(
    key="schedules.refined", title="Refined schedule: D / sqrt(sum ||g_t||^-2)",
    provenance="DERIVED", source=f"{DOC}#refined", iterate="last",
    statement="lr_t = (D/sqrt(S)) G_t^-2 sum_{p>t} G_p^-2 / S, S = sum G_t^-2: f(x_T) - f* <= D / sqrt(S)",
    observed=_subopt, bound=refined_bound_rows, applies=refined_applies, **_common,
))
