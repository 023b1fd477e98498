"""Prodigy (Mishchenko & Defazio, arXiv 2306.06101): per-run inequalities, bounds, invariants.

Pure layer (time on dim 0, trailing batch dims): the Prodigy-GD step eta_k, the sums
Q_n = sum eta_k^2 ||g_k||^2 and S_n = sum d_k^2 lambda_k^2 ||g_k||^2, the inequalities P1-P4,
the computable suboptimality bound and its closed form, the code invariant I-P, the round-off
scales of these checks, the (unverified) Prodigy sequence lemma and the rate comparison with
D-Adaptation. Then ``Result`` objects that read them off a Trace through ``theory.access``.

Provenance (docs/references/prodigy.md): the paper's full text was not available. Its theorem
statements are [UNVERIFIED] (``T1_gd``, ``sequence_lemma``: registered, never asserted).
P0-P4, the two suboptimality bounds and I-P are [DERIVED], proved in docs/theory/prodigy.md.
``prodigy_da`` and ``dadapt_resetting`` are reconstructions [UNVERIFIED] of the paper's
algorithms: P0 on ``prodigy_da`` is proved by us for every dual-averaging variant with non-negative
weights, its rate (``da_computable_bound``, ``da_rate``) and the rates of ``dadapt_resetting``
(``resetting_epoch_bound``, ``resetting_rate``) for the algorithms as implemented ([DERIVED], never [PAPER]).

Roles: every asserted result is a lemma of a derived proof (P0-P4 of the bound, I-P of the
code invariant), THEOREM. The consequences d_{n+1} <= max(d_0, D) (resp. max(d_0, d_coef
D_inf)) are not separate checks: d is a running maximum of d_0 and the estimates (exact in
floating point), so they follow from the estimate's bound row by row.
"""

from __future__ import annotations

import math

import torch

from . import access as A
from .access import Unavailable
from .base import Assumption, Example, Provenance, Result, Sides, example, register
from .dadaptation import block_seq_bound, floor_log2_ratio, log2plus, sampled_values_at_opt

PAPER = "Prodigy: An Expeditiously Adaptive Parameter-Free Learner (Mishchenko & Defazio, ICML 2024)"
ARXIV = "2306.06101"
DOC = "docs/theory/prodigy.md"
REF = "docs/references/prodigy.md"
F64 = torch.float64


# ---------------------------------------------------------------------------------------------
# Pure layer
# ---------------------------------------------------------------------------------------------


def prodigy_steps(d, gnorm2, G, lam=None):
    """eta_k = d_k^2 lambda_k / sqrt(d_k^2 G^2 + sum_{i<=k} d_i^2 lambda_i^2 ||g_i||^2).
    [SECONDARY: the ICLR-2024 reviews quote this step, docs/references/prodigy.md §1]. lam defaults to 1."""
    lam = torch.ones_like(d) if lam is None else lam
    S = torch.cumsum(d**2 * lam**2 * gnorm2, dim=0)
    return d**2 * lam / torch.sqrt(d**2 * torch.as_tensor(G, dtype=d.dtype) ** 2 + S)


def q_sum(eta, gnorm2):
    """Q_n = sum_{k<=n} eta_k^2 ||g_k||^2."""
    return torch.cumsum(eta**2 * gnorm2, dim=0)


def s_sum(d, gnorm2, lam=None):
    """S_n = sum_{k<=n} d_k^2 lambda_k^2 ||g_k||^2."""
    lam = torch.ones_like(d) if lam is None else lam
    return torch.cumsum(d**2 * lam**2 * gnorm2, dim=0)


def weighted_mean(values, eta):
    """sum_{k<=n} eta_k v_k / sum_{k<=n} eta_k (>= v(xhat_n) for convex v, by Jensen)."""
    return torch.cumsum(eta * values, dim=0) / torch.cumsum(eta, dim=0)


def p1_bound(disp_next, numerator, D):
    """P1: sum_{k<=n} eta_k (f(x_k) - f*) <= D ||x_{n+1} - x0|| - sum_{k<=n} eta_k <g_k, x0 - x_k>.
    [DERIVED, docs/theory/prodigy.md#p0-p1]; any eta_k >= 0, convex f."""
    return D * disp_next - numerator


def p2_bound(d_next, Q):
    """P2: ||x_{n+1} - x0|| <= d_{n+1} + sqrt(d_{n+1}^2 + Q_n), when d_{n+1} >= dhat_{n+1}.
    [DERIVED, docs/theory/prodigy.md#p2]."""
    return d_next + torch.sqrt(d_next**2 + Q)


def p3_bound(d, G):
    """P3 (lambda = 1, Prodigy step): sum_{k<=n} eta_k >= sqrt(sum_{k<=n} d_k^2)/(sqrt 2 G),
    when G >= max ||g_k||. [DERIVED, docs/theory/prodigy.md#p3]."""
    return torch.sqrt(torch.cumsum(d**2, dim=0)) / (math.sqrt(2.0) * torch.as_tensor(G, dtype=d.dtype))


def p4_bound(d_next, S, d0, G):
    """P4: Q_n <= d_{n+1}^2 log(1 + S_n/(d_0^2 G^2)). [DERIVED, docs/theory/prodigy.md#p4]."""
    return d_next**2 * torch.log1p(S / (d0**2 * torch.as_tensor(G, dtype=S.dtype) ** 2))


def computable_bound(eta, d_next, Q, D):
    """f(xhat_n) - f* <= (D (d_{n+1} + sqrt(d_{n+1}^2 + Q_n)) + Q_n/2) / sum_{k<=n} eta_k,
    xhat_n the eta-weighted average. [DERIVED, docs/theory/prodigy.md#bound]."""
    return (D * p2_bound(d_next, Q) + 0.5 * Q) / torch.cumsum(eta, dim=0)


def closed_form_bound(d, d_next, S, d0, G, D):
    """sqrt2 D G d_{n+1} (1 + sqrt(1 + L) + L/2) / sqrt(sum_{k<=n} d_k^2), L = log(1 + S_n/(d_0^2 G^2)),
    when d_0 <= D and G >= max ||g_k||. [DERIVED, docs/theory/prodigy.md#bound]."""
    G = torch.as_tensor(G, dtype=d.dtype)
    L = torch.log1p(S / (d0**2 * G**2))
    return math.sqrt(2.0) * D * G * d_next * (1.0 + torch.sqrt(1.0 + L) + 0.5 * L) / torch.sqrt(torch.cumsum(d**2, dim=0))


def rate_pick(d, d_next):
    """t(n) = argmin_{k<=n} d_{k+1}/sqrt(sum_{i<=k} d_i^2) (first minimiser), over n (dim 0)."""
    return torch.cummin(d_next / torch.sqrt(torch.cumsum(d**2, dim=0)), dim=0).indices


def gd_rate_bound(n, D, G, d0):
    """Prodigy-GD rate at t = rate_pick (lambda = 1, d_0 <= D, G >= max ||g_k||):

        sum_{k<=t} eta_k (f(x_k)-f*)/sum_{k<=t} eta_k
            <= sqrt2 D G (1 + sqrt(1+L) + L/2) sqrt(2m/(n+2-m)),
        L = log(1 + (n+1) D^2/d_0^2),  m = floor(2 log2(D/d_0)) + 1,  n + 2 > m,

    i.e. O(DG log(n D/d_0) sqrt(log2(D/d_0) + 1)/sqrt(n)). Returns (bound, valid).
    [DERIVED, docs/theory/prodigy.md#rate: closed_form_bound at t, and the sequence lemma by levels
    (dadaptation.block_seq_bound) applied to d_k^2]."""
    n = torch.as_tensor(n, dtype=F64)
    m = floor_log2_ratio(D**2, d0**2) + 1.0
    ratio, valid = block_seq_bound(n, m)
    L = torch.log1p((n + 1) * (D / d0) ** 2)
    G = torch.as_tensor(G, dtype=F64)
    return math.sqrt(2.0) * D * G * (1.0 + torch.sqrt(1.0 + L) + 0.5 * L) * torch.sqrt(ratio), valid


def da_gammas(d, d_next, gnorm2, G):
    """gamma_0..gamma_{n+1} of the dual-averaging form, gamma_k = 1/sqrt(d_k^2 G^2 + sum_{i<k} d_i^2 ||g_i||^2)
    (gamma_0 = 1/(d_0 G), which is >= gamma_1 as Lemma 4 needs), [n+2, ...]. [DERIVED, docs/theory/prodigy.md#da-rate]."""
    G = torch.as_tensor(G, dtype=F64)
    A_prev = torch.cumsum(d**2 * gnorm2, dim=0)
    return torch.cat([(d[:1] * G).reciprocal(), torch.rsqrt(d_next**2 * G**2 + A_prev)], dim=0)


def da_q_sum(gamma, d, gnorm2):
    """Q_n = sum_{k<=n} gamma_k lambda_k^2 ||g_k||^2 with lambda_k = d_k^2 (gamma [n+2, ...])."""
    return torch.cumsum(gamma[:-1] * d**4 * gnorm2, dim=0)


def da_computable_bound(gamma, d, d_next, gnorm2, D):
    """sum_{k<=n} d_k^2 (f(x_k)-f*)/sum d_k^2 <= (D (d_{n+1} + sqrt(d_{n+1}^2 + gamma_{n+1} Q_n))/gamma_{n+1} + Q_n/2)/sum d_k^2,
    Q_n = sum_{k<=n} gamma_k d_k^4 ||g_k||^2, for x_k = x_0 - gamma_k s_k, gamma non-increasing, d_{n+1} >= dhat_{n+1}.
    [DERIVED, docs/theory/prodigy.md#da-rate]."""
    Q = da_q_sum(gamma, d, gnorm2)
    g1 = gamma[1:]
    return (D * (d_next + torch.sqrt(d_next**2 + g1 * Q)) / g1 + 0.5 * Q) / torch.cumsum(d**2, dim=0)


def da_rate_bound(n, D, G, d0):
    """Prodigy dual-averaging rate at t = rate_pick (d_0 <= D, G >= max ||g_k||):

        sum_{k<=t} d_k^2 (f(x_k)-f*)/sum_{k<=t} d_k^2 <= (2 + sqrt3) D G sqrt(rho (1 + rho)),
        rho = 2m/(n+2-m),  m = floor(2 log2(D/d_0)) + 1,  n + 2 > m,

    i.e. O(DG sqrt((log2(D/d_0) + 1)/n)): no log(n) factor. Returns (bound, valid).
    [DERIVED, docs/theory/prodigy.md#da-rate]."""
    n = torch.as_tensor(n, dtype=F64)
    m = floor_log2_ratio(D**2, d0**2) + 1.0
    rho, valid = block_seq_bound(n, m)
    G = torch.as_tensor(G, dtype=F64)
    return (2.0 + math.sqrt(3.0)) * D * G * torch.sqrt(rho * (1.0 + rho)), valid


def resetting_epoch_bound(D, d, G, J, r):
    """D-Adaptation with Resetting, G-variant: after J >= 1 steps of an epoch whose last step did not reset,
    the epoch's uniform average of f(x_j) - f* is at most (D (r + sqrt(r^2 + 2)) + d) G sqrt(J+1)/J
    (r = reset_factor, d the epoch's d). [DERIVED, docs/theory/prodigy.md#resetting-rate]."""
    r = torch.as_tensor(r, dtype=F64)
    return (D * (r + torch.sqrt(r**2 + 2.0)) + d) * G * torch.sqrt(J + 1.0) / J


def resetting_max_resets(D, d0, r):
    """An upper bound on the number of resets when d_0 <= D: each multiplies d by more than r and d <= D,
    so r^R < D/d_0, R <= ceil(log_r(D/d_0)) - 1 (log taken with a relative margin of 1e-12 against rounding)."""
    x = torch.log(D / d0) / torch.log(torch.as_tensor(r, dtype=F64))
    return torch.clamp(torch.ceil(x * (1.0 + 1e-12) + 1e-12) - 1.0, min=0.0)


def longest_epoch_rows(J, mean):
    """Row m <= n of the longest epoch prefix so far (max J_m), for each row n; among equally long
    prefixes the one with the largest mean. The rate's proof bounds every epoch prefix with
    J >= J_min (docs/theory/prodigy.md#resetting-rate), so each of the longest is covered; taking the
    worst of them (not the latest, as a plain cummax does) keeps the check as strong as its statement."""
    rows = torch.empty(J.shape, dtype=torch.long)
    cur = torch.zeros(J.shape[1:], dtype=torch.long)
    for n in range(J.shape[0]):
        Jc, mc = J.gather(0, cur[None])[0], mean.gather(0, cur[None])[0]
        cur = torch.where((J[n] > Jc) | ((J[n] == Jc) & (mean[n] > mc)), n, cur)
        rows[n] = cur
    return rows


def resetting_rate_bound(n, D, G, d0, r):
    """At step n, the longest epoch so far has J >= J_min = ceil((n+1)/(R+1)) - 1 steps before a reset,
    R = resetting_max_resets, so its average is at most (1 + r + sqrt(r^2+2)) D G sqrt(J_min+1)/J_min
    (d <= D): O(DG sqrt(log_r(D/d_0) + 1)/sqrt(n)). Returns (bound, valid: J_min >= 1).
    [DERIVED, docs/theory/prodigy.md#resetting-rate]."""
    n = torch.as_tensor(n, dtype=F64)
    R = resetting_max_resets(D, d0, r)
    J = torch.ceil((n + 1) / (R + 1)) - 1.0
    valid = J >= 1
    return resetting_epoch_bound(D, D, G, torch.where(valid, J, 1.0), r), valid


def theorem1_bound(d, d_next, D, G):
    """Theorem 1 as recalled, lambda = 1: sqrt2 D G (2 d_{n+1} + d_{n+1} log(n+2)) / sqrt(sum_{k<=n} d_k^2).
    [UNVERIFIED, docs/references/prodigy.md §5]: shown, never asserted."""
    n = torch.arange(d.shape[0], dtype=d.dtype).view(-1, *([1] * (d.ndim - 1)))
    return math.sqrt(2.0) * D * G * (2 * d_next + d_next * torch.log(n + 2)) / torch.sqrt(torch.cumsum(d**2, dim=0))


def code_invariant_bound(d0, d_coef, D_inf):
    """I-P: dhat_{k+1} <= d_coef ||x0 - x*||_inf, hence d_k <= max(d_0, d_coef ||x0 - x*||_inf),
    for the official (Adam) code with slice_p = 1 and safeguard_warmup = False.
    [DERIVED, docs/theory/prodigy.md#i-p]. Returns (dhat bound, d bound)."""
    b = d_coef * D_inf
    return b, torch.maximum(torch.as_tensor(d0, dtype=b.dtype), b)


def ema(values, beta):
    """y_{k+1} = beta y_k + values_k from y_0 = 0, rows y_1..y_T (the recursion of prodigyopt's r, s)."""
    out = torch.empty_like(values)
    acc = torch.zeros_like(values[0])
    for k in range(values.shape[0]):
        acc = beta * acc + values[k]
        out[k] = acc
    return out


# -- round-off scales (docs/theory/prodigy.md#round-off) ---------------------------------------------


def numerator_magnitude(w, gnorm, x0_mag, x_mag):
    """sum_{k<=n} w_k ||g_k|| (||x_0|| + ||x_k||): the size of the terms of the estimate's
    numerator sum_k w_k <g_k, x_0 - x_k> (its round-off is relative to this, not to the sum)."""
    return torch.cumsum(w * gnorm * (x0_mag + x_mag), dim=0)


def estimate_ratio_scale(ratio, num_mag, s_mag, s, dist):
    """Round-off scale of ratio = dhat/dist, dhat = num/s, whose proof is num <= dist ||s_exact||:
    (num_mag/dist + (1 + ratio) s_mag) / s, with num_mag the size of the numerator's terms and s_mag
    that of the terms whose rounding separates the recorded s from the exact one."""
    return (num_mag / dist + (1.0 + ratio.abs()) * s_mag) / s


def p2_scale(disp, d_next, Q, num_mag, x_mag):
    """Round-off scale of P2, in its units. P2 is the root form of s^2 - 2 d s - Q <= 0, whose terms
    have size 2 s X (s^2 from iterates of size X, s = ||x_{n+1} - x_0||), Q, 2 d s and 2 num_mag
    (d s >= dhat s = num); a violation tau of the quadratic puts s at most tau/r past the root r."""
    return (2 * disp * x_mag + Q + 2 * d_next * disp + 2 * num_mag) / p2_bound(d_next, Q)


def bound_chain_scale(eta, f_mag, disp, d_next, Q, num_mag, x_mag, D):
    """Round-off scale of the computable bound (units of f): the terms of P1 (sum eta |f|, D X,
    num_mag), of the GD identity (num_mag, s X, Q) and of P2 (D times its scale), over sum eta."""
    p1 = torch.cumsum(eta * f_mag, dim=0) + D * x_mag + num_mag
    identity = num_mag + disp * x_mag + Q
    return (p1 + identity + D * p2_scale(disp, d_next, Q, num_mag, x_mag)) / torch.cumsum(eta, dim=0)


# -- sequence lemma and rates -------------------------------------------------------------------------


def seq_lemma_ratio(d):
    """min_{t<N} d_{t+1}/sqrt(sum_{k<=t} d_k^2) for each N, from d_0..d_N. Returns [len(d)-1]
    (index N-1)."""
    r = d[1:] / torch.sqrt(torch.cumsum(d[:-1] ** 2, dim=0))
    return torch.cummin(r, dim=0).values


def seq_lemma_rhs(d):
    """Prodigy's sequence lemma, reconstructed: 4 sqrt(log2+(d_N/d_0))/sqrt(N) for
    N >= 2 log2(d_N/d_0). [UNVERIFIED]: shown, never asserted. Returns (rhs, valid)."""
    N = torch.arange(1, d.shape[0], dtype=d.dtype).view(-1, *([1] * (d.ndim - 1)))
    ratio = d[1:] / d[:1]
    return 4.0 * torch.sqrt(log2plus(ratio)) / torch.sqrt(N), N >= 2.0 * torch.log2(ratio)


def rate_comparison(n, D, G, d0):
    """Rates of the deterministic convex G-Lipschitz guarantees, as functions of n (shape of n).

    Keys and provenance (docs/references/prodigy.md §5):
    - "dadapt_da_v1":     8 DG log2(D/d0)/sqrt(n+1)          [PAPER, D-Adaptation v1 Thm 2; its proof is broken]
    - "dadapt_da_final":  16 DG log2+(D/d0)/sqrt(n+1)        [SECONDARY]
    - "dadapt_gd":        DG log(n+2)/sqrt(n+1), constant 1  [SECONDARY shape; constant UNVERIFIED]
    - "prodigy_gd":       DG log(n+2) sqrt(log2+(D/d0))/sqrt(n+1), constant 1 [SECONDARY shape]
    - "prodigy_da":       DG sqrt(log2+(D/d0))/sqrt(n+1), constant 1          [UNVERIFIED form]
    - "resetting":        DG sqrt(log2+(D/d0))/sqrt(n+1), constant 1          [UNVERIFIED]
    Where the constant is unknown it is set to 1: compare shapes, not values. The factor
    Prodigy gains over D-Adaptation (DA forms) is sqrt(log2+(D/d0)), as the v4 abstract says.
    """
    n = torch.as_tensor(n, dtype=F64)
    base = D * G / torch.sqrt(n + 1)
    lg = log2plus(torch.as_tensor(D / d0, dtype=F64))
    return {
        "dadapt_da_v1": 8.0 * base * math.log2(D / d0),
        "dadapt_da_final": 16.0 * base * lg,
        "dadapt_gd": base * torch.log(n + 2),
        "prodigy_gd": base * torch.log(n + 2) * torch.sqrt(lg),
        "prodigy_da": base * torch.sqrt(lg),
        "resetting": base * torch.sqrt(lg),
    }


# ---------------------------------------------------------------------------------------------
# Trace layer (row n = step n: d = d_n, d_next = d_{n+1}, lr = eta_n, d_hat = dhat_{n+1})
# ---------------------------------------------------------------------------------------------


def _disp(tr):
    """||x_{n+1} - x0||: from the iterates when kept (independent of the optimizer), else its s_norm."""
    try:
        return A.displacement(tr)
    except Unavailable:
        return A.col(tr, "s_norm")


def _x_mag(tr, pb):
    """(||x_0||, ||x_n|| at rows n, X_n): magnitudes of the iterates (plus ||x*||). X_n = ||x_0|| +
    max_{k<=n+1} ||x_k|| bounds the rounding that x_{n+1} - x_0 accumulated over the steps."""
    T = A.steps(tr)
    xm = A.dist_magnitude(tr, pb)
    return xm[0], xm[:T], xm[0] + A.running_max(xm[1 : T + 1])


def _gd(tr, pb) -> dict:
    """The GD-form quantities every GD result reads (one place, no recomputation per side)."""
    eta, gn = A.col(tr, "lr"), A.col(tr, "grad_norm")
    x0m, xm, X = _x_mag(tr, pb)
    return {"eta": eta, "gn": gn, "d": A.col(tr, "d"), "dn": A.col(tr, "d_next"), "disp": _disp(tr),
            "Q": q_sum(eta, gn**2), "D": A.D(tr), "X": X, "N": numerator_magnitude(eta, gn, x0m, xm)}


def _terms(tr):
    return A.step_index(tr) + 1


def _ones(tr):
    return torch.ones(A.steps(tr), tr.batch, dtype=F64)


def _p0_sides(tr, pb) -> Sides:
    """dhat_{n+1}/D <= 1. GD: weights eta_k, s = x_0 - x_{n+1} (iterates); DA: weights d_k^2,
    s = sum d_k^2 g_k (its recorded norm; the sum's terms have size d_k^2 ||g_k||)."""
    D, gn, d = A.D(tr), A.col(tr, "grad_norm"), A.col(tr, "d")
    x0m, xm, X = _x_mag(tr, pb)
    if A.optimizer(tr) == "prodigy_da":
        w, s = d**2, A.col(tr, "s_norm")
        s_mag = torch.cumsum(w * gn, dim=0)
    else:
        w, s, s_mag = A.col(tr, "lr"), _disp(tr), X
    ratio = A.col(tr, "d_hat") / D
    scale = estimate_ratio_scale(ratio, numerator_magnitude(w, gn, x0m, xm), s_mag, s, D)
    return Sides(ratio, _ones(tr), scale=scale, terms=_terms(tr), undefined="estimate undefined (no displacement yet)")


def _p1_sides(tr, pb) -> Sides:
    q = _gd(tr, pb)
    fmag = A.subopt_magnitude(tr, pb)[: A.steps(tr)]
    obs = torch.cumsum(q["eta"] * A.col(tr, "subopt"), dim=0)
    scale = torch.cumsum(q["eta"] * fmag, dim=0) + q["D"] * q["X"] + q["N"]
    return Sides(obs, p1_bound(q["disp"], A.col(tr, "numerator"), q["D"]), scale=scale, terms=_terms(tr))


def _p2_sides(tr, pb) -> Sides:
    q = _gd(tr, pb)
    return Sides(q["disp"], p2_bound(q["dn"], q["Q"]), scale=p2_scale(q["disp"], q["dn"], q["Q"], q["N"], q["X"]),
                 terms=_terms(tr))


def _p3_sides(tr, pb) -> Sides:
    return Sides(p3_bound(A.col(tr, "d"), A.hp(tr, "G")), torch.cumsum(A.col(tr, "lr"), dim=0), terms=_terms(tr))


def _p4_sides(tr, pb) -> Sides:
    d, gn2 = A.col(tr, "d"), A.col(tr, "grad_norm") ** 2
    bound = p4_bound(A.col(tr, "d_next"), s_sum(d, gn2), A.hp(tr, "d0"), A.hp(tr, "G"))
    return Sides(q_sum(A.col(tr, "lr"), gn2), bound, terms=_terms(tr))


def _bound_sides(tr, pb, which: str) -> Sides:
    """Observed: the eta-weighted mean of f(x_k) - f* (>= f(xhat_n) - f*); the bound, with the
    round-off scale of the derivation's chain (P1, GD identity, P2) in every case."""
    q = _gd(tr, pb)
    fmag = A.subopt_magnitude(tr, pb)[: A.steps(tr)]
    obs = weighted_mean(A.col(tr, "subopt"), q["eta"])
    if which == "computable":
        bound = computable_bound(q["eta"], q["dn"], q["Q"], q["D"])
    elif which == "closed_form":
        bound = closed_form_bound(q["d"], q["dn"], s_sum(q["d"], q["gn"] ** 2), A.hp(tr, "d0"), A.hp(tr, "G"), q["D"])
    else:
        bound = theorem1_bound(q["d"], q["dn"], q["D"], A.hp(tr, "G"))
    scale = bound_chain_scale(q["eta"], fmag, q["disp"], q["dn"], q["Q"], q["N"], q["X"], q["D"])
    return Sides(obs, bound, scale=scale, terms=_terms(tr))


def _ip_sides(tr, pb) -> Sides:
    """dhat_{k+1}/b <= 1, b = c d_coef D_inf, c = lr with safeguard_warmup (else 1).

    r and s are EMAs (rate beta3) of w_k <g_k, x0 - x_k> and v_k g_k with w_k = (d_k/d_0) dlr_k
    and v_k = (d_k/d_0) (d_k if safeguard_warmup else dlr_k); their terms' sizes are the same EMAs
    of w_k ||g_k|| (||x_0|| + ||x_k||) and of v_k ||g_k||_1 <= sqrt(dim) v_k ||g_k||."""
    d, dlr, gn = A.col(tr, "d"), A.col(tr, "lr"), A.col(tr, "grad_norm")
    d0, beta3 = A.hp(tr, "d0"), A.hp(tr, "beta3")
    guard = A.hp(tr, "safeguard_warmup") == 1
    c = torch.where(guard, A.hp(tr, "lr"), torch.ones_like(d0))
    dist = c * A.D_inf(tr, pb)
    ratio = A.col(tr, "d_hat") / (A.hp(tr, "d_coef") * dist)
    x0m, xm, _ = _x_mag(tr, pb)
    w = d / d0 * dlr
    v = d / d0 * torch.where(guard, d, dlr)
    r_mag = ema(w * gn * (x0m + xm), beta3)
    s_mag = ema(v * gn, beta3) * math.sqrt(pb.d)
    scale = estimate_ratio_scale(ratio, r_mag, s_mag, A.col(tr, "s_l1"), dist)
    return Sides(ratio, _ones(tr), scale=scale, terms=_terms(tr), undefined="estimate undefined (s = 0)")


def _rate_sides(tr, pb) -> Sides:
    eta, d, dn = A.col(tr, "lr"), A.col(tr, "d"), A.col(tr, "d_next")
    t = rate_pick(d, dn)
    obs = weighted_mean(A.col(tr, "subopt"), eta).gather(0, t)
    bnd, valid = gd_rate_bound(A.step_index(tr), A.D(tr), A.hp(tr, "G"), A.hp(tr, "d0"))
    size = weighted_mean(A.subopt_magnitude(tr, pb)[: A.steps(tr)], eta).gather(0, t)
    return Sides(obs, A.unchecked_where(valid, bnd), scale=size, terms=_terms(tr),
                 undefined="n + 2 <= m = floor(2 log2(D/d_0)) + 1")


def _ip_sampled_sides(tr, pb) -> Sides:
    """r_{k+1} + EMA_beta3(w_k (f(x_k, s_k) - f(x*, s_k))) <= c ||s_{k+1}||_1 D_inf, unnormalised
    (w_k = (d_k/d_0) dlr_k, the weights of r; c as in I-P)."""
    d, dlr, gn = A.col(tr, "d"), A.col(tr, "lr"), A.col(tr, "grad_norm")
    d0, beta3 = A.hp(tr, "d0"), A.hp(tr, "beta3")
    guard = A.hp(tr, "safeguard_warmup") == 1
    c = torch.where(guard, A.hp(tr, "lr"), torch.ones_like(d0))
    loss, at_opt = A.col(tr, "loss"), sampled_values_at_opt(tr, pb)
    w = d / d0 * dlr
    v = d / d0 * torch.where(guard, d, dlr)
    obs = A.col(tr, "numerator") + ema(w * (loss - at_opt), beta3)
    s_l1 = A.col(tr, "s_l1")
    dist = c * A.D_inf(tr, pb)
    x0m, xm, _ = _x_mag(tr, pb)
    # the terms: r's inner products (iterate rounding), the sampled losses, and s's entries times dist
    scale = (ema(w * gn * (x0m + xm), beta3) + ema(w * (loss.abs() + at_opt.abs()), beta3)
             + dist * ema(v * gn, beta3) * math.sqrt(pb.d))
    return Sides(obs, dist * s_l1, scale=scale, terms=_terms(tr))


def _seq_sides(tr, pb) -> Sides:
    d = torch.cat([A.col(tr, "d"), A.col(tr, "d_next")[-1:]], dim=0)
    rhs, ok = seq_lemma_rhs(d)
    return Sides(seq_lemma_ratio(d), A.unchecked_where(ok, rhs), terms=_terms(tr),
                 undefined="the lemma is stated for N >= 2 log2(d_N/d_0)")


def _da_bound_sides(tr, pb) -> Sides:
    """The chain 1-3 of docs/theory/prodigy.md#da-rate. Round-off: the convexity step and the estimate's
    numerator carry the rounding of x_k = x_0 - gamma_k s_k (N = numerator_magnitude); the quadratic
    gamma y^2 - 2 d y - Q <= 0 (y = ||s_{n+1}||) is then violated by up to u times its terms, which puts
    y at most that over gamma r past its root r (as P2): D times that, over sum d_k^2."""
    d, dn, gn = A.col(tr, "d"), A.col(tr, "d_next"), A.col(tr, "grad_norm")
    D, y = A.D(tr), A.col(tr, "s_norm")
    gamma = da_gammas(d, dn, gn**2, A.hp(tr, "G"))
    obs = weighted_mean(A.col(tr, "subopt"), d**2)
    bnd = da_computable_bound(gamma, d, dn, gn**2, D)
    x0m, xm, _ = _x_mag(tr, pb)
    N = numerator_magnitude(d**2, gn, x0m, xm)
    g1, Q = gamma[1:], da_q_sum(gamma, d, gn**2)
    root = (dn + torch.sqrt(dn**2 + g1 * Q)) / g1
    quad = g1 * y**2 + 2 * dn * y + Q + 2 * N
    fmag = A.subopt_magnitude(tr, pb)[: A.steps(tr)]
    E = torch.cumsum(d**2, dim=0)
    scale = (torch.cumsum(d**2 * fmag, dim=0) + N + D * y + D * quad / (g1 * root)) / E
    return Sides(obs, bnd, scale=scale, terms=_terms(tr))


def _da_rate_sides(tr, pb) -> Sides:
    d, dn = A.col(tr, "d"), A.col(tr, "d_next")
    t = rate_pick(d, dn)
    obs = weighted_mean(A.col(tr, "subopt"), d**2).gather(0, t)
    bnd, valid = da_rate_bound(A.step_index(tr), A.D(tr), A.hp(tr, "G"), A.hp(tr, "d0"))
    size = weighted_mean(A.subopt_magnitude(tr, pb)[: A.steps(tr)], d**2).gather(0, t)
    return Sides(obs, A.unchecked_where(valid, bnd), scale=size, terms=_terms(tr),
                 undefined="n + 2 <= m = floor(2 log2(D/d_0)) + 1")


def _da_l5_sides(tr, pb) -> Sides:
    """sum d_k^2 (f(x_k) - f*) against D ||s_{n+1}|| - num_n, per run (checked on the mean over seeds)."""
    d, gn, y = A.col(tr, "d"), A.col(tr, "grad_norm"), A.col(tr, "s_norm")
    obs = torch.cumsum(d**2 * A.col(tr, "subopt"), dim=0)
    bnd = A.D(tr) * y - A.col(tr, "numerator")
    x0m, xm, _ = _x_mag(tr, pb)
    fmag = A.subopt_magnitude(tr, pb)[: A.steps(tr)]
    scale = torch.cumsum(d**2 * fmag, dim=0) + numerator_magnitude(d**2, gn, x0m, xm) + (A.D(tr) + x0m) * y
    return Sides(obs, bnd, scale=scale, terms=_terms(tr))


def _epoch_means(tr, pb):
    """(J [T, B], mean of f(x_k) - f* over the current epoch's steps up to row n, its magnitude):
    J = the epoch's steps before a reset (0 on a row whose step reset: no bound there)."""
    T = A.steps(tr)
    reset = A.col(tr, "reset") > 0
    J = torch.where(reset, 0.0, A.col(tr, "epoch_len"))
    f, fmag = A.col(tr, "subopt"), A.subopt_magnitude(tr, pb)[:T]
    zero = torch.zeros_like(f[:1])
    cf, cm = torch.cat([zero, torch.cumsum(f, 0)]), torch.cat([zero, torch.cumsum(fmag, 0)])
    n = torch.arange(T)[:, None].expand_as(J)
    start = (n + 1 - J.to(torch.int64)).clamp(min=0)
    Js = J.clamp(min=1.0)
    mean = (cf[1:] - cf.gather(0, start)) / Js
    mag = (cm[1:] - cm.gather(0, start)) / Js
    return J, mean, mag


def _resetting_epoch_sides(tr, pb) -> Sides:
    J, mean, mag = _epoch_means(tr, pb)
    bnd = resetting_epoch_bound(A.D(tr), A.col(tr, "d"), A.hp(tr, "G"), J.clamp(min=1.0), A.hp(tr, "reset_factor"))
    return Sides(mean, torch.where(J >= 1, bnd, math.nan), scale=mag + bnd, terms=_terms(tr),
                 undefined="the step reset (the epoch ends on it)")


def _resetting_rate_sides(tr, pb) -> Sides:
    J, mean, mag = _epoch_means(tr, pb)
    best = longest_epoch_rows(J, mean)  # the longest epoch prefix so far (the worst of equally long ones)
    bnd, valid = resetting_rate_bound(A.step_index(tr), A.D(tr), A.hp(tr, "G"), A.hp(tr, "d0"), A.hp(tr, "reset_factor"))
    return Sides(mean.gather(0, best), A.unchecked_where(valid, bnd), scale=mag.gather(0, best), terms=_terms(tr),
                 undefined="ceil((n+1)/(R+1)) - 1 < 1: no epoch long enough yet")


# -- assumptions ----------------------------------------------------------------------------------


def _all(tr, value: bool) -> torch.Tensor:
    return torch.full((tr.batch,), bool(value))


G_BOUNDS_GRADS = Assumption("G >= max_k ||g_k||", lambda tr, pb: A.hp(tr, "G") >= A.col(tr, "grad_norm").nan_to_num(0.0).amax(dim=0))
D0_LE_D = Assumption("d0 <= D", lambda tr, pb: A.hp(tr, "d0") <= A.D(tr))
G_STEP_RESET = Assumption("G_term = True", lambda tr, pb: _all(tr, A.option(tr, "G_term", False)))
# I-P (docs/theory/prodigy.md#i-p): a sliced inner product is no subgradient inequality; coupled
# decay makes g the gradient of another objective; with safeguard_warmup, r and s share their
# weights up to the factor lr bc_k, a constant only without bias correction.
SLICE_P_1 = Assumption("slice_p = 1", lambda tr, pb: _all(tr, A.option(tr, "slice_p", 1) == 1))
DECAY_DECOUPLED = Assumption("weight_decay = 0 or decouple = 1",
                             lambda tr, pb: (A.hp(tr, "weight_decay") == 0) | (A.hp(tr, "decouple") == 1))
SAFEGUARD_CONST = Assumption("safeguard_warmup = 0 or use_bias_correction = 0",
                             lambda tr, pb: (A.hp(tr, "safeguard_warmup") == 0) | (A.hp(tr, "use_bias_correction") == 0))


# -- results --------------------------------------------------------------------------------------


def _R(key, **kw):
    kw.setdefault("requires", frozenset({"convex"}))
    return register(Result(key=f"prodigy.{key}", paper=PAPER, arxiv=ARXIV, **kw))


GD_ANY = ("prodigy_gd", "dadapt_gd")  # P1, P2 and the computable bound hold for any eta_k >= 0
WEIGHTED = "observed: the eta-weighted mean of f(x_k) - f*, an upper bound on f(xhat_n) - f* by Jensen."

_R(
    "P0_dhat_le_D", title="The estimate is a lower bound on D (P0)", provenance=Provenance.DERIVED, label="P0",
    source=f"{DOC}#p0-p1 ({REF} §4 and §2.2)", optimizers=("prodigy_gd", "prodigy_da"),
    kind="invariant", iterate="none", sides=_p0_sides,
    statement="dhat_{n+1} <= D (GD; and every dual-averaging variant with weights d_k^2, e.g. the reconstruction "
              "prodigy_da), hence d_{n+1} <= max(d_0, D)",
    notes="prodigy_da is an [UNVERIFIED] reconstruction; the statement is proved by us for any such variant.",
)
_R(
    "P1", title="Weighted suboptimality by the estimate's numerator (P1)", provenance=Provenance.DERIVED, label="P1",
    source=f"{DOC}#p0-p1", optimizers=GD_ANY, iterate="weighted_average", sides=_p1_sides,
    statement="sum_{k<=n} eta_k (f(x_k)-f*) <= D ||x_{n+1}-x0|| - sum_{k<=n} eta_k <g_k, x0-x_k>",
)
_R(
    "P2", title="Distance travelled is bounded by the estimate (P2)", provenance=Provenance.DERIVED, label="P2",
    source=f"{DOC}#p2", optimizers=GD_ANY, iterate="last", oracle="any", requires=frozenset(), sides=_p2_sides,
    statement="||x_{n+1}-x0|| <= d_{n+1} + sqrt(d_{n+1}^2 + Q_n), Q_n = sum eta_k^2||g_k||^2",
)
_R(
    "P3", title="The steps sum to at least sqrt(sum d_k^2)/(sqrt2 G) (P3)", provenance=Provenance.DERIVED, label="P3",
    source=f"{DOC}#p3", optimizers=("prodigy_gd",), iterate="none", oracle="any", requires=frozenset(),
    sides=_p3_sides, assumptions=(G_BOUNDS_GRADS,),
    statement="sqrt(sum_{k<=n} d_k^2)/(sqrt 2 G) <= sum_{k<=n} eta_k  (G >= max ||g_k||)",
)
_R(
    "P4", title="Q_n grows only logarithmically (P4)", provenance=Provenance.DERIVED, label="P4",
    source=f"{DOC}#p4", optimizers=("prodigy_gd",), iterate="none", oracle="any", requires=frozenset(),
    sides=_p4_sides, statement="Q_n <= d_{n+1}^2 log(1 + S_n/(d_0^2 G^2)), S_n = sum d_k^2||g_k||^2  (any G > 0)",
)
_R(
    "computable_bound", title="Computable suboptimality bound at every n", provenance=Provenance.DERIVED,
    source=f"{DOC}#bound", optimizers=GD_ANY, iterate="weighted_average",
    sides=lambda tr, pb: _bound_sides(tr, pb, "computable"),
    statement="f(xhat_n)-f* <= sum eta_k(f(x_k)-f*)/sum eta_k <= (D(d_{n+1} + sqrt(d_{n+1}^2+Q_n)) + Q_n/2)/sum_{k<=n} eta_k",
    notes=WEIGHTED + " Rows where x_{n+1} - x_0 is at the resolution of the iterates (tiny d_0) are below the "
                     "round-off resolution of the chain P1-P2 and unchecked.",
)
_R(
    "closed_form_bound", title="Closed-form bound (P3 + P4 + d <= D)", provenance=Provenance.DERIVED,
    source=f"{DOC}#bound", optimizers=("prodigy_gd",), iterate="weighted_average",
    sides=lambda tr, pb: _bound_sides(tr, pb, "closed_form"), assumptions=(D0_LE_D, G_BOUNDS_GRADS),
    statement="sum eta_k(f(x_k)-f*)/sum eta_k <= sqrt2 D G d_{n+1}(1 + sqrt(1+L) + L/2)/sqrt(sum_{k<=n} d_k^2), "
              "L = log(1 + S_n/(d_0^2G^2))  (d_0 <= D, G >= max||g_k||)",
    notes=WEIGHTED,
)
_R(
    "IP_code_invariant", title="prodigyopt code: dhat <= d_coef ||x0 - x*||_inf (I-P)", provenance=Provenance.DERIVED,
    label="I-P", source=f"{DOC}#i-p ({REF} §4)", optimizers=("prodigy_adam",), kind="invariant",
    iterate="none", sides=_ip_sides, assumptions=(SLICE_P_1, DECAY_DECOUPLED, SAFEGUARD_CONST),
    statement="dhat_{k+1} <= c d_coef ||x0 - x*||_inf, c = lr with safeguard_warmup, else 1; hence "
              "d_{k+1}, dmax_{k+1} <= max(d_0, c d_coef D_inf). Any beta1, beta2, beta3, eps, d_coef, growth_rate, "
              "bias correction (without safeguard_warmup), decoupled decay",
    notes="Holds for any iterate sequence (the Adam dynamics do not enter); deterministic convex f.",
)
_R(
    "gd_rate", title="Prodigy-GD rate with its log factor (closed form at t(n) + sequence lemma by levels)",
    provenance=Provenance.DERIVED, source=f"{DOC}#rate ({REF} §5: the shape the reviews quote)",
    optimizers=("prodigy_gd",), iterate="weighted_average", sides=_rate_sides, assumptions=(D0_LE_D, G_BOUNDS_GRADS),
    statement="t = argmin_{k<=n} d_{k+1}/sqrt(sum_{i<=k} d_i^2): sum_{k<=t} eta_k(f(x_k)-f*)/sum_{k<=t} eta_k <= "
              "sqrt2 D G (1 + sqrt(1+L) + L/2) sqrt(2m/(n+2-m)), L = log(1 + (n+1) D^2/d_0^2), "
              "m = floor(2 log2(D/d_0)) + 1, for n+2 > m  (d_0 <= D, G >= max ||g_k||)",
    notes=WEIGHTED + " Rate O(DG log(n D/d_0) sqrt(log2(D/d_0)+1)/sqrt(n)); the sequence lemma is ours, not the "
                     "paper's (UNVERIFIED sequence_lemma).",
)
_R(
    "da_computable_bound", title="Prodigy dual averaging: computable suboptimality bound at every n",
    provenance=Provenance.DERIVED, source=f"{DOC}#da-rate", optimizers=("prodigy_da",), iterate="weighted_average",
    sides=_da_bound_sides,
    statement="sum d_k^2 (f(x_k)-f*)/sum d_k^2 <= (D (d_{n+1} + sqrt(d_{n+1}^2 + gamma_{n+1} Q_n))/gamma_{n+1} + Q_n/2)"
              "/sum_{k<=n} d_k^2, Q_n = sum gamma_k d_k^4 ||g_k||^2, gamma_0 = 1/(d_0 G)  (any G > 0, any d_0)",
    notes="observed: the d^2-weighted mean of f(x_k) - f*, an upper bound on f at the d^2-weighted average iterate by "
          "Jensen. prodigy_da is an [UNVERIFIED] reconstruction; the bound is derived for the algorithm as implemented.",
)
_R(
    "da_rate", title="Prodigy dual averaging rate: O(DG sqrt(log2(D/d0)+1)/sqrt(n)), no log(n)",
    provenance=Provenance.DERIVED, source=f"{DOC}#da-rate", optimizers=("prodigy_da",), iterate="weighted_average",
    sides=_da_rate_sides, assumptions=(D0_LE_D, G_BOUNDS_GRADS),
    statement="t = argmin_{k<=n} d_{k+1}/sqrt(sum_{i<=k} d_i^2): sum_{k<=t} d_k^2(f(x_k)-f*)/sum_{k<=t} d_k^2 <= "
              "(2 + sqrt3) D G sqrt(rho (1 + rho)), rho = 2m/(n+2-m), m = floor(2 log2(D/d_0)) + 1, for n+2 > m  "
              "(d_0 <= D, G >= max ||g_k||)",
    notes="observed: the d^2-weighted mean of f(x_k) - f* up to t(n). Derived for the reconstruction prodigy_da.",
)
_R(
    "da_l5_expected", title="Prodigy dual averaging under minibatch gradients: step 1 of the DA rate in expectation",
    provenance=Provenance.DERIVED, source=f"{DOC}#da-rate", optimizers=("prodigy_da",), iterate="weighted_average",
    oracle="stochastic", in_expectation=True, sides=_da_l5_sides,
    statement="E sum_{k<=n} d_k^2 (f(x_k)-f*) <= E[D ||s_{n+1}|| - sum_{k<=n} d_k^2 <g_k, x0 - x_k>]  "
              "(every sample convex, E f(., s) = f; any G > 0, any d_0)",
    notes="d_k and x_k are fixed before the sample of step k is drawn; pathwise the sampled gaps f(x_k, s_k) - f(x*, s_k) "
          "replace f(x_k) - f*. The rest of the DA chain (the estimate's bound on ||s||) holds pathwise, but "
          "dhat <= D does not under minibatches, so the closed-form rate is not claimed there.",
)
_R(
    "resetting_epoch_bound", title="D-Adaptation with Resetting: the current epoch's average (G-variant)",
    provenance=Provenance.DERIVED, source=f"{DOC}#resetting-rate", optimizers=("dadapt_resetting",),
    iterate="average", sides=_resetting_epoch_sides, assumptions=(G_STEP_RESET, G_BOUNDS_GRADS),
    statement="after J >= 1 steps of an epoch (its last step not a reset): (1/J) sum_{epoch} (f(x_j)-f*) <= "
              "(D (r + sqrt(r^2+2)) + d) G sqrt(J+1)/J, r = reset_factor, d the epoch's d  (G_term, G >= max ||g_k||)",
    notes="dadapt_resetting is an [UNVERIFIED] reconstruction; derived for the algorithm as implemented. Any d_0.",
)
_R(
    "resetting_rate", title="D-Adaptation with Resetting: O(DG sqrt(log_r(D/d0)+1)/sqrt(n)) on the longest epoch",
    provenance=Provenance.DERIVED, source=f"{DOC}#resetting-rate", optimizers=("dadapt_resetting",),
    iterate="average", sides=_resetting_rate_sides, assumptions=(G_STEP_RESET, G_BOUNDS_GRADS, D0_LE_D),
    statement="the longest epoch up to step n has J >= J_min = ceil((n+1)/(R+1)) - 1 steps, R = ceil(log_r(D/d_0)) - 1 "
              "resets at most; its average (each one's, if several are equally long) of f(x_j)-f* <= "
              "(1 + r + sqrt(r^2+2)) D G sqrt(J_min+1)/J_min, for J_min >= 1  "
              "(G_term, G >= max ||g_k||, d_0 <= D)",
)
_R(
    "IP_sampled", title="prodigyopt code along a stochastic run: I-P with the sampled losses",
    provenance=Provenance.DERIVED, label="", source=f"{DOC}#i-p-sampled ({REF} §4)", optimizers=("prodigy_adam",),
    iterate="none", oracle="stochastic", sides=_ip_sampled_sides, assumptions=(SLICE_P_1, DECAY_DECOUPLED, SAFEGUARD_CONST),
    statement="r_{k+1} + sum_{i<=k} beta3^{k-i} (d_i/d_0) dlr_i (f(x_i, s_i) - f(x*, s_i)) <= c ||s_{k+1}||_1 ||x0 - x*||_inf, "
              "c = lr with safeguard_warmup, else 1  (every sample convex; same options as I-P)",
    notes="Pathwise under a minibatch oracle (no interpolation). dhat = d_coef r/||s||_1 <= c d_coef D_inf itself "
          "does not hold pathwise: the sampled gaps can be negative.",
)
_R(
    "sequence_lemma", title="Prodigy's sequence lemma (reconstruction)", provenance=Provenance.UNVERIFIED,
    source=f"{REF} §5 (constant 4 found empirically safe; exact form unknown)",
    optimizers=("prodigy_gd", "prodigy_da"), iterate="none", oracle="any", requires=frozenset(), sides=_seq_sides,
    statement="N >= 2 log2(d_N/d0): min_{t<N} d_{t+1}/sqrt(sum_{k<=t} d_k^2) <= 4 sqrt(log2+(d_N/d0))/sqrt(N)",
)
_R(
    "T1_gd", title="Prodigy GD rate (Theorem 1, shape as recalled)", provenance=Provenance.UNVERIFIED,
    label="Theorem 1", source=f"{REF} §5 [UNVERIFIED], lambda_k = 1", optimizers=("prodigy_gd",),
    iterate="weighted_average", sides=lambda tr, pb: _bound_sides(tr, pb, "theorem1"),
    assumptions=(D0_LE_D, G_BOUNDS_GRADS),
    statement="f(xhat_n)-f* <= sqrt2 D G (2 d_{n+1} + d_{n+1} log(n+2)) / sqrt(sum_{k<=n} d_k^2)  "
              "(f convex G-Lipschitz, G >= max ||g_k||, d_0 <= D)",
    notes=WEIGHTED,
)


# -- examples (tests/theory/test_every_result.py runs each in float64 and float32) --------------------

_D0 = lambda pb, D: {"d0": torch.tensor([1e-2, 0.1, 0.5, 1.0], dtype=F64) * D}  # noqa: E731

example(Example(("prodigy.P0_dhat_le_D", "prodigy.P1", "prodigy.P2", "prodigy.P3", "prodigy.P4",
                 "prodigy.computable_bound", "prodigy.closed_form_bound"), "l1_distance", "prodigy_gd", hp=_D0, T=150, runs=4))
example(Example(("prodigy.P0_dhat_le_D",), "l1_distance", "prodigy_da", hp=_D0, T=150, runs=4))
example(Example(("prodigy.P1", "prodigy.P2", "prodigy.computable_bound"), "max_affine", "dadapt_gd", hp=_D0, T=150, runs=4))
example(Example(("prodigy.IP_code_invariant",), "l1_distance", "prodigy_adam",
                hp={"d0": 1e-3, "beta1": torch.tensor([0.0, 0.5, 0.9, 0.9], dtype=F64), "d_coef": torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=F64),
                    "use_bias_correction": torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=F64),
                    "safeguard_warmup": torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=F64), "lr": torch.tensor([1.0, 1.0, 0.5, 3.0], dtype=F64),
                    "growth_rate": torch.tensor([math.inf, 1.02, math.inf, 1.5], dtype=F64),
                    "weight_decay": torch.tensor([0.0, 0.1, 0.0, 0.0], dtype=F64)}, T=150, runs=4))
# New coverage (issue 11): the GD rate, and I-P along stochastic runs (minibatch 8, 8 seeds).
example(Example(("prodigy.gd_rate",), "l1_distance", "prodigy_gd",
                hp=lambda pb, D: {"d0": torch.tensor([1e-3, 1e-2, 0.1, 1.0], dtype=F64) * D}, T=200, runs=4))
example(Example(("prodigy.gd_rate",), "lad", "prodigy_gd",
                hp=lambda pb, D: {"d0": torch.tensor([1e-2, 0.1, 0.5, 0.9], dtype=F64) * D}, T=200, runs=4))
example(Example(("prodigy.IP_sampled",), "least_squares", "prodigy_adam",
                hp={"d0": 1e-3, "lr": torch.tensor([0.1, 1.0] * 4, dtype=F64), "beta1": torch.tensor([0.9, 0.9, 0.0, 0.0] * 2, dtype=F64),
                    "use_bias_correction": torch.tensor([0.0] * 4 + [1.0] * 4, dtype=F64)}, T=150, runs=8, batch_size=8))
example(Example(("prodigy.IP_sampled",), "hinge_svm", "prodigy_adam",
                hp={"d0": 1e-3, "lr": torch.tensor([0.1, 1.0] * 4, dtype=F64), "safeguard_warmup": torch.tensor([0.0] * 4 + [1.0] * 4, dtype=F64)},
                T=150, runs=8, batch_size=8))
# New coverage (issue 11): the dual-averaging rate and D-Adaptation with Resetting.
example(Example(("prodigy.da_computable_bound", "prodigy.da_rate"), "l1_distance", "prodigy_da",
                hp=lambda pb, D: {"d0": torch.tensor([1e-3, 1e-2, 0.1, 1.0], dtype=F64) * D}, T=200, runs=4))
example(Example(("prodigy.da_computable_bound", "prodigy.da_rate"), "max_affine", "prodigy_da",
                hp=lambda pb, D: {"d0": torch.tensor([1e-3, 1e-2, 0.1, 0.5], dtype=F64) * D}, T=200, runs=4))
example(Example(("prodigy.da_l5_expected",), "lad", "prodigy_da", hp={"d0": 1e-2}, T=150, runs=8, batch_size=8))
example(Example(("prodigy.resetting_epoch_bound", "prodigy.resetting_rate"), "l1_distance", "dadapt_resetting",
                options={"G_term": True},
                hp=lambda pb, D: {"d0": torch.tensor([1e-3, 1e-2, 0.1, 0.5], dtype=F64) * D, "reset_factor": torch.tensor([2.0, 4.0, 8.0, 3.0], dtype=F64)},
                T=200, runs=4))
example(Example(("prodigy.resetting_epoch_bound", "prodigy.resetting_rate"), "max_affine", "dadapt_resetting",
                options={"G_term": True},
                hp=lambda pb, D: {"d0": torch.tensor([1e-3, 1e-2, 0.1, 0.5], dtype=F64) * D, "reset_factor": torch.tensor([2.0, 2.0, 4.0, 1.5], dtype=F64)},
                T=200, runs=4))
