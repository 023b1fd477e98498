"""D-Adaptation (Defazio & Mishchenko, arXiv 2301.07733): bounds, identities and invariants.

Two layers:

1. Pure functions of sequences (time on dim 0, any trailing batch dims): the AdaGrad-norm
   step sequence gamma_k, the terms of Lemmas 4/5/7/9, Proposition 8, the sequence lemma
   (Lemma 11, v1 and final forms), the fixed-n reading of Theorem 10 and of Theorem 18,
   Theorem 2 (as provable, and as printed), the lower bound on d (``step_sum_factor``,
   ``d_lower_bound``), and the coordinate-wise (Algorithm 2) quantities (Lemmas 13, 15, Prop. 14, ...).
   They take arrays, not traces, so property tests can drive them with random inputs.
2. ``Result`` objects registered with ``ratecheck.theory``: each reads a run of a ``dadapt_*``
   optimizer through ``theory.access`` and compares its two sides with those functions.

Notation (docs/theory/dadaptation.md): D = ||x0 - x*||_2, D_inf = ||x0 - x*||_inf,
g_k the (sub)gradient at x_k, S_k = sum_{i<=k} ||g_i||^2, lambda_k the dual weights
(lambda_k = d_k in Algorithm 1), s_{k+1} = sum_{i<=k} lambda_i g_i,
log2+(x) = max(1, log2 x).

Provenance follows docs/references/dadaptation.md: [PAPER] = arXiv v1 text; [SECONDARY]
= the final version known from independent summaries; [CODE] = facebookresearch/dadaptation
v3.2; [DERIVED] = proved in docs/theory/dadaptation.md.

Options that change the update are assumptions of the results that need them: ``G_term`` of
``dadapt_da`` (step (1) with G: P8 (4), Lemma 7', Theorem 2; without G: Theorem 10), and
``momentum``/``weight_decay`` of ``dadapt_sgd_code``. ``option`` I/II of ``dadapt_da`` changes
which estimate raises d; every result below holds for both (the proofs use only d_{n+1} >=
dhat_{n+1}, monotonicity and d_{n+1} <= max(d_0, D)).
"""

from __future__ import annotations

import math

import torch

from . import access as A
from .base import Assumption, Example, Provenance, Result, Role, Sides, example, register

PAPER = "Learning-Rate-Free Learning by D-Adaptation (Defazio & Mishchenko, ICML 2023)"
ARXIV = "2301.07733"
DOC = "docs/theory/dadaptation.md"
REF = "docs/references/dadaptation.md"
SQRT3P1 = 1.0 + math.sqrt(3.0)


# ---------------------------------------------------------------------------------------------
# Pure layer: sequences in, per-n quantities out.
# ---------------------------------------------------------------------------------------------


def log2plus(x: torch.Tensor) -> torch.Tensor:
    """log2+(x) = max(1, log2 x) (the final version's convention)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return torch.clamp(torch.log2(x), min=1.0)


def adagrad_norm_gammas(gnorm2: torch.Tensor, G: torch.Tensor | float | None = None) -> torch.Tensor:
    """The step sequence gamma_0..gamma_{n+1} of Algorithm 1 from ||g_0||^2..||g_n||^2.

    Without G: gamma_{k+1} = 1/sqrt(S_k) and gamma_0 = 1/||g_0|| (= gamma_1).
    G-variant, "step size (1)": gamma_{k+1} = 1/sqrt(G^2 + S_k), gamma_0 = 1/G.
    [PAPER, v1 Algorithm 1 and eq. (1)]. Returns shape [n+2, ...].
    """
    S = torch.cumsum(gnorm2, dim=0)
    if G is None:
        tail = S.rsqrt()
        head = tail[:1]
    else:
        G2 = torch.as_tensor(G, dtype=gnorm2.dtype) ** 2
        tail = (G2 + S).rsqrt()
        head = (G2 * torch.ones_like(gnorm2[:1])).rsqrt()
    return torch.cat([head, tail], dim=0)


def dual_sums(lam: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """s_0..s_{n+1} with s_0 = 0 and s_{k+1} = s_k + lambda_k g_k; g is [n+1, ..., dim]."""
    steps = lam[..., None] * g
    zero = torch.zeros_like(steps[:1])
    return torch.cat([zero, torch.cumsum(steps, dim=0)], dim=0)


def lemma4_rhs(gamma, lam, gnorm2, s_norm_next):
    """Right side of Lemma 4: -gamma_{n+1}/2 ||s_{n+1}||^2 + sum_{k<=n} gamma_k/2 lambda_k^2 ||g_k||^2
    + 1/2 sum_{k<=n} (gamma_{k+1} - gamma_k) ||s_{k+1}||^2, over n. [PAPER, v1 Lemma 4]."""
    return (
        -0.5 * gamma[1:] * s_norm_next**2
        + torch.cumsum(0.5 * gamma[:-1] * lam**2 * gnorm2, dim=0)
        + 0.5 * torch.cumsum((gamma[1:] - gamma[:-1]) * s_norm_next**2, dim=0)
    )


def lemma4_sides(gamma, lam, gnorm2, gs_inner, s_norm_next):
    """Both sides of Lemma 4 (an exact identity, for any weights and any gamma):

        -sum_{k<=n} gamma_k lambda_k <g_k, s_k>
          = -gamma_{n+1}/2 ||s_{n+1}||^2 + sum_{k<=n} gamma_k/2 lambda_k^2 ||g_k||^2
            + 1/2 sum_{k<=n} (gamma_{k+1} - gamma_k) ||s_{k+1}||^2.

    gamma [n+2], lam/gnorm2/gs_inner [n+1] (gs_inner_k = <g_k, s_k>), s_norm_next [n+1]
    (||s_{k+1}||). Returns (lhs, rhs), each [n+1] over n. [PAPER, v1 Lemma 4].
    """
    lhs = -torch.cumsum(gamma[:-1] * lam * gs_inner, dim=0)
    return lhs, lemma4_rhs(gamma, lam, gnorm2, s_norm_next)


def lemma5_bound(gamma, lam, gnorm2, s_norm_next, D):
    """Lemma 5's right side: D||s_{n+1}|| + sum_{k<=n} gamma_k/2 lambda_k^2||g_k||^2
    - gamma_{n+1}/2 ||s_{n+1}||^2, which bounds sum_{k<=n} lambda_k (f(x_k) - f*).
    [PAPER, v1 Lemma 5]; needs convexity, x_k = x0 - gamma_k s_k, gamma non-increasing."""
    return D * s_norm_next + torch.cumsum(0.5 * gamma[:-1] * lam**2 * gnorm2, dim=0) - 0.5 * gamma[1:] * s_norm_next**2


def lemma5_sharp_bound(numerator, s_norm_next, D):
    """The intermediate form in the proof of Lemma 5: D||s_{n+1}|| - sum_{k<=n} lambda_k gamma_k <g_k, s_k>
    (``numerator`` = that sum). [PAPER, v1 proof of Lemma 5]."""
    return D * s_norm_next - numerator


def lemma7_bound(gamma, lam, gnorm2, d_next):
    """Lemma 7: ||s_{n+1}|| <= 2 d_{n+1}/gamma_{n+1} + sum_{k<=n} gamma_k lambda_k^2 ||g_k||^2 / (2 d_{n+1}).
    [PAPER, v1 Lemma 7]; holds whenever d_{n+1} >= dhat_{n+1} (Option I or II)."""
    return 2.0 * d_next / gamma[1:] + torch.cumsum(gamma[:-1] * lam**2 * gnorm2, dim=0) / (2.0 * d_next)


def lemma7p_bound(d):
    """Lemma 7' (G-variant, lambda_k = d_k): ||x_n - x0|| = gamma_n ||s_n|| <= (1 + sqrt 3) d_n.
    [DERIVED, docs/theory/dadaptation.md#lemma-7-prime]."""
    return SQRT3P1 * d


def step_sum_factor(gnorm2, G=None):
    """c_n >= gamma_{n+1} sum_{k<=n} gamma_k ||g_k||^2 in closed form, over n, for Algorithm 1's step:

    G-variant (G >= max ||g_k||): c_n = 2 (Proposition 8 (4));
    no-G step: c_n = 2 + G_n^2/(||g_0|| sqrt(S_n)) <= 2 + G_n^2/||g_0||^2, G_n = max_{k<=n} ||g_k||
    (the step sum of Theorem 10's proof divided by sqrt(S_n)).
    [DERIVED, docs/theory/dadaptation.md#lower-bound-on-d]."""
    if G is not None:
        return torch.full_like(gnorm2, 2.0)
    S = torch.cumsum(gnorm2, dim=0)
    Gn2 = torch.cummax(gnorm2, dim=0).values
    return 2.0 + Gn2 / (torch.sqrt(gnorm2[:1]) * torch.sqrt(S))


def d_lower_factor(c):
    """kappa_n = 1 + sqrt(1 + c_n): ||x_{n+1} - x0|| <= kappa_n d_{n+1} when gamma_{n+1} sum gamma_k ||g_k||^2 <= c_n.
    [DERIVED, docs/theory/dadaptation.md#lower-bound-on-d]."""
    return 1.0 + torch.sqrt(1.0 + c)


def d_lower_bound(D, dist_next, kappa):
    """The lower bound on d_{n+1}: (D - ||x_{n+1} - x*||)/kappa_n (triangle inequality on the displacement bound).
    [DERIVED, docs/theory/dadaptation.md#lower-bound-on-d]."""
    return (D - dist_next) / kappa


def prop8_sum(gnorm2, G):
    """Proposition 8 (3), left side: sum_{k<=n} ||g_k||^2 / sqrt(G^2 + sum_{i<k} ||g_i||^2);
    right side 2 sqrt(sum_{k<=n} ||g_k||^2). Needs G >= max_k ||g_k||. [PAPER, v1 Prop. 8]."""
    S = torch.cumsum(gnorm2, dim=0)
    prev = S - gnorm2
    lhs = torch.cumsum(gnorm2 / torch.sqrt(torch.as_tensor(G, dtype=gnorm2.dtype) ** 2 + prev), dim=0)
    return lhs, 2.0 * torch.sqrt(S)


def prop8_4_sides(gamma, gnorm2):
    """Proposition 8 (4): sum_{k<=n} gamma_k/2 ||g_k||^2 <= 1/gamma_{n+1}, for the G-variant
    gamma (with G >= max ||g_k||). Returns (lhs, rhs) over n. [PAPER, v1 Prop. 8]."""
    return torch.cumsum(0.5 * gamma[:-1] * gnorm2, dim=0), 1.0 / gamma[1:]


def lemma9_bound(gamma, gnorm2, d_next, D):
    """Lemma 9: sum_{k<=n} d_k (f(x_k) - f*) <= 2 D d_{n+1}/gamma_{n+1} + D d_{n+1} sum_{k<=n} gamma_k ||g_k||^2.
    [PAPER, v1 Lemma 9]; needs d_{n+1} <= D (i.e. d_0 <= D)."""
    return 2.0 * D * d_next / gamma[1:] + D * d_next * torch.cumsum(gamma[:-1] * gnorm2, dim=0)


def settle_index(d, d_next):
    """nhat(n) = min{m <= n : d_m >= d_{n+1}/2} for a non-decreasing d (time on dim 0).

    Theorem 10's "n >= 2 nhat" needs only the steps up to n, so this is the fixed-n reading
    of its condition (docs/theory/dadaptation.md#theorem-10). Returns int64, shape like d.
    """
    # d is non-decreasing, so the first m with d_m >= d_{n+1}/2 is a sorted search; cummax
    # guards against round-off in a recorded d (it is the identity on a monotone sequence).
    seq = torch.cummax(d, dim=0).values.movedim(0, -1).contiguous()
    val = (0.5 * d_next).movedim(0, -1).contiguous()
    return torch.searchsorted(seq, val, side="left").movedim(-1, 0)


def theorem10_bound(n, D, G, g0_norm, const=16.0, const2=8.0):
    """Theorem 10 (explicit Theorem 1), for Algorithm 1 without G and n >= 2 nhat:
    weighted average of f(x_k) - f* <= 16 DG/sqrt(n+1) + 8 DG^2/((n+1)||g_0||).
    [PAPER, v1 Theorem 10, with the proof's constant 16; v1 then prints 12 for f(xhat_n),
    a typo; our per-n reading with G = G_n is DERIVED, docs/theory/dadaptation.md#theorem-10].
    ``n`` is a tensor of step indices broadcast against the rest."""
    n = torch.as_tensor(n, dtype=torch.float64)
    return const * D * G / torch.sqrt(n + 1) + const2 * D * G**2 / ((n + 1) * g0_norm)


def seq_lemma_ratio(d):
    """min_{n<=N} d_{n+1} / sum_{k<=n} d_k, for each N, from d_0..d_{N+1} (dim 0).
    Returns shape [len(d) - 1] (index N)."""
    r = d[1:] / torch.cumsum(d[:-1], dim=0)
    return torch.cummin(r, dim=0).values


def seq_lemma_final_rhs(d):
    """Lemma 11 (final version): 4 log2+(d_{N+1}/d_0)/(N+1), valid when N+1 >= 2 log2(d_{N+1}/d_0).
    Returns (rhs, valid), both [len(d) - 1]. [SECONDARY]."""
    N = torch.arange(d.shape[0] - 1, dtype=d.dtype).view(-1, *([1] * (d.ndim - 1)))
    ratio = d[1:] / d[:1]
    rhs = 4.0 * log2plus(ratio) / (N + 1)
    valid = (N + 1) >= 2.0 * torch.log2(ratio)
    return rhs, valid


def seq_lemma_v1_rhs(d):
    """Lemma 11 as printed in v1: 2 log2(d_{N+1}/d_0)/(N+1), claimed for N >= log2(d_N/d_0).
    FALSE as stated (a constant sequence gives rhs 0). Returns (rhs, valid). [PAPER, v1]."""
    N = torch.arange(d.shape[0] - 1, dtype=d.dtype).view(-1, *([1] * (d.ndim - 1)))
    rhs = 2.0 * torch.log2(d[1:] / d[:1]) / (N + 1)
    valid = N >= torch.log2(d[:-1] / d[:1])
    return rhs, valid


def theorem2_pick(d, d_next):
    """t(n) = argmin_{k<=n} d_{k+1} / sum_{i<=k} d_i (first minimiser), over n."""
    r = d_next / torch.cumsum(d, dim=0)
    return torch.cummin(r, dim=0).indices


def theorem2_bound(n, S_t, G, D, d0):
    """Theorem 2 as the proof gives it (G-variant, G >= max ||g_k||, d_0 <= D):

        f(xhat_t) - f* <= 16 log2+(D/d0)/(n+1) D sqrt(G^2 + S_t),   for n + 1 >= 2 log2(D/d0),

    S_t = sum_{k<=t} ||g_k||^2 at t = theorem2_pick. Returns (bound, valid).
    [SECONDARY: Lemma 9 + Prop. 8 (4) + Lemma 11 (final); docs/theory/dadaptation.md#theorem-2]."""
    n = torch.as_tensor(n, dtype=torch.float64)
    bound = 16.0 * log2plus(D / d0) / (n + 1) * D * torch.sqrt(G**2 + S_t)
    return bound, (n + 1) >= 2.0 * torch.log2(D / d0)


def theorem2_G_bound(n, G, D, d0):
    """Theorem 2 in DG form, as the proof gives it: with sqrt(G^2 + S_t) <= G sqrt(t+2) <= G sqrt(n+2),

        f(xhat_t) - f* <= 16 D G log2+(D/d0) sqrt(n+2)/(n+1),   for n + 1 >= 2 log2(D/d0).

    (The printed 1/sqrt(n+1) in place of sqrt(n+2)/(n+1) does not follow from the proof.)
    Returns (bound, valid). [SECONDARY + DERIVED, docs/theory/dadaptation.md#theorem-2-dg-form]."""
    n = torch.as_tensor(n, dtype=torch.float64)
    bound = 16.0 * D * G * log2plus(D / d0) * torch.sqrt(n + 2) / (n + 1)
    return bound, (n + 1) >= 2.0 * torch.log2(D / d0)


def theorem2_final_as_printed(n, S_t, D, d0):
    """Theorem 2 as the final version is quoted (no G^2 under the root):
    16 log2+(D/d0)/(n+1) D sqrt(S_t), for n >= 2 log2(D/d0). Returns (bound, valid).

    FALSE for the G-variant step it is stated for: with G far above the gradient norms the
    iterates barely move, f(xhat_t) - f* stays near f(x_0) - f* while this bound decays like
    1/sqrt(n+1) (abs_1d, G = 1e4, d_0 = D/2, n = 999: ratio 1.93; docs/theory/dadaptation.md#theorem-2).
    Kept for falsification searches. [SECONDARY statement]."""
    n = torch.as_tensor(n, dtype=torch.float64)
    return 16.0 * log2plus(D / d0) / (n + 1) * D * torch.sqrt(S_t), n >= 2.0 * torch.log2(D / d0)


def theorem2_v1_bound(n, S_t, D, d0):
    """Theorem 2 as printed in v1: 8 log2(D/d0)/(n+1) D sqrt(S_t), claimed for n >= log2(D/d0).
    FALSE (it rests on the false v1 Lemma 11; the bound is 0 at d_0 = D). Returns (bound, valid). [PAPER, v1]."""
    n = torch.as_tensor(n, dtype=torch.float64)
    lg = torch.log2(D / d0)
    return 8.0 * lg / (n + 1) * D * torch.sqrt(S_t), n >= lg


def gd_log_sum(gnorm2, G):
    """sum_{k<=n} ||g_k||^2 / (G^2 + S_k) and its bound log((G^2 + S_n)/G^2) <= log(n+2)
    (the log factor of the GD form). Needs G >= max ||g_k||. [DERIVED, docs/references/dadaptation.md §1.4]."""
    G2 = torch.as_tensor(G, dtype=gnorm2.dtype) ** 2
    S = torch.cumsum(gnorm2, dim=0)
    lhs = torch.cumsum(gnorm2 / (G2 + S), dim=0)
    return lhs, torch.log1p(S / G2)  # log1p: exact to round-off also when S << G^2


def gd_identity_rhs(eta, gnorm2, disp_norm_next):
    """Right side of the GD identity: 1/2 ||x_{n+1} - x0||^2 - 1/2 sum_{k<=n} eta_k^2 ||g_k||^2.
    [DERIVED, docs/references/dadaptation.md §1.3]."""
    return 0.5 * disp_norm_next**2 - 0.5 * torch.cumsum(eta**2 * gnorm2, dim=0)


def gd_identity_sides(eta, gnorm2, gx_inner, disp_norm_next):
    """GD form: sum_{k<=n} eta_k <g_k, x0 - x_k> = 1/2 ||x_{n+1} - x0||^2 - 1/2 sum_{k<=n} eta_k^2 ||g_k||^2
    for x_{k+1} = x_k - eta_k g_k. [DERIVED, docs/references/dadaptation.md §1.3]. Returns (lhs, rhs)."""
    return torch.cumsum(eta * gx_inner, dim=0), gd_identity_rhs(eta, gnorm2, disp_norm_next)


def floor_log2_ratio(a, b):
    """floor(log2(a/b)) for a >= b > 0, exactly in floating point: a >= 2^j b is an exact comparison
    (scaling by 2^j is exact), so the level count of a monotone sequence is not off by one at a power of 2."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    j = torch.floor(torch.log2(a / b))
    j = torch.where(a < torch.ldexp(b, j.to(torch.int64)), j - 1, j)  # log2 rounded up past the level
    return torch.where(a >= torch.ldexp(b, (j + 1).to(torch.int64)), j + 1, j)  # ... or down below it


def block_seq_bound(n, m):
    """The sequence lemma by levels [DERIVED, docs/theory/dadaptation.md#sequence-lemma-by-levels]: for
    positive non-decreasing d_0..d_{n+1} whose levels floor(log2(d_k/d_0)) take at most m values,

        min_{k<=n} d_{k+1} / sum_{i<=k} d_i <= 2m/(n+2-m),   when n + 2 > m.

    Returns (bound, valid). m = floor(log2(d_{n+1}/d_0)) + 1, or any larger m (e.g. with D >= d_{n+1})."""
    n = torch.as_tensor(n, dtype=torch.float64)
    m = torch.as_tensor(m, dtype=torch.float64)
    valid = n + 2 > m
    return 2.0 * m / torch.where(valid, n + 2 - m, torch.ones_like(n + m)), valid


def gd_rate_bound(n, D, G, d0):
    """GD-form D-Adaptation rate at t = theorem2_pick (G-variant, G >= max ||g_k||, d_0 <= D):

        sum_{k<=t} lam_k (f(x_k)-f*)/sum_{k<=t} lam_k
            <= 2 m D G sqrt(n+2) (1 + sqrt(1 + log(n+2)) + log(n+2)/2) / (n+2-m),
        m = floor(log2(D/d_0)) + 1,  n + 2 > m.

    O(DG log2(D/d_0) log(n)/sqrt(n)). Returns (bound, valid).
    [DERIVED, docs/theory/dadaptation.md#gd-rate: Prodigy's chain P1-P2, gd_log_sum, block_seq_bound]."""
    n = torch.as_tensor(n, dtype=torch.float64)
    m = floor_log2_ratio(D, d0) + 1.0
    ratio, valid = block_seq_bound(n, m)
    L = torch.log(n + 2)
    return D * G * torch.sqrt(n + 2) * (1.0 + torch.sqrt(1.0 + L) + 0.5 * L) * ratio, valid


# -- Algorithm 2 (coordinate-wise, l_inf) -------------------------------------------------------


def adagrad_diag(g: torch.Tensor, G_inf) -> torch.Tensor:
    """a_0..a_{n+1} with a_0 = G_inf and a_{k+1,j} = sqrt(G_inf^2 + sum_{i<=k} g_{ij}^2). [PAPER, v1 App. C]."""
    G2 = torch.as_tensor(G_inf, dtype=g.dtype)[..., None] ** 2 if torch.as_tensor(G_inf).ndim else torch.as_tensor(G_inf, dtype=g.dtype) ** 2
    acc = torch.cumsum(g**2, dim=0)
    head = torch.sqrt(G2 + torch.zeros_like(g[:1]))
    return torch.cat([head, torch.sqrt(G2 + acc)], dim=0)


def lemma17_bound(d_next, a_l1_next):
    """Lemma 17: ||s_{n+1}||_1 <= 3 d_{n+1} ||a_{n+1}||_1 (with a_0 = G_inf). [PAPER, v1 Lemma 17]."""
    return 3.0 * d_next * a_l1_next


def lemma13_rhs(s_weighted_sq, weighted_sq):
    """Lemma 13's right side: -1/2 ||s_{n+1}||^2_{A_{n+1}^{-1}} + 1/2 sum_{k<=n} lambda_k^2 ||g_k||^2_{A_k^{-1}},
    which bounds -sum_{k<=n} lambda_k <g_k, A_k^{-1} s_k> when A_{k+1} >= A_k. [PAPER, v1 Lemma 13]."""
    return 0.5 * (weighted_sq - s_weighted_sq)


def lemma15_bound(s_l1, s_weighted_sq, weighted_sq, D_inf):
    """Lemma 15: sum_{k<=n} lambda_k (f(x_k) - f*) <= ||s_{n+1}||_1 D_inf + Lemma 13's right side.
    [PAPER, v1 Lemma 15]."""
    return s_l1 * D_inf + lemma13_rhs(s_weighted_sq, weighted_sq)


def prop14_sides(g, a):
    """Proposition 14, summed over coordinates: sum_{k<=n} ||g_k||^2_{A_k^{-1}} <= 2 ||a_{n+1}||_1, for
    a = adagrad_diag(g, G_inf) with G_inf >= |g_kj|. g [n+1, ..., p], a [n+2, ..., p]. Returns (lhs, rhs) over n.
    [PAPER, v1 Proposition 14 (Duchi et al.)]."""
    lhs = torch.cumsum((g**2 / a[:-1]).sum(dim=-1), dim=0)
    return lhs, 2.0 * a[1:].sum(dim=-1)


def alg2_weighted_bound(d, d_next, a_l1_next, D_inf):
    """Per-n bound for Algorithm 2: sum_{k<=n} d_k (f(x_k)-f*) / sum_{k<=n} d_k
    <= 4 D_inf d_{n+1} ||a_{n+1}||_1 / sum_{k<=n} d_k, when d_0 <= D_inf.
    [DERIVED from v1 Lemmas 15, 17 and Prop. 14; docs/theory/dadaptation.md#algorithm-2]."""
    return 4.0 * D_inf * d_next * a_l1_next / torch.cumsum(d, dim=0)


def theorem18_bound(n, a_l1_next, D_inf):
    """Theorem 18 (= Theorem 3): for n >= 2 nhat, f(xhat_n) - f* <= 16 ||a_{n+1}||_1 D_inf/(n+1).
    [PAPER, v1 Theorem 18; our per-n reading is DERIVED, docs/theory/dadaptation.md#algorithm-2]."""
    n = torch.as_tensor(n, dtype=torch.float64)
    return 16.0 * a_l1_next * D_inf / (n + 1)


# ---------------------------------------------------------------------------------------------
# Registered results. Rows n = 0..T-1 are steps: ``d`` = d_n, ``d_next`` = d_{n+1}, ``s_norm`` =
# ||s_{n+1}||, ``numerator`` = sum_{k<=n} d_k gamma_k <g_k, s_k>, ``gamma`` = gamma_n, ``lr`` =
# gamma_{n+1}; ``subopt`` and ``grad_norm`` are measured at x_n.
#
# Round-off (docs/theory/README.md#tolerance): ``scale`` is the size of the terms each side was
# formed from. Besides the sums themselves, every convexity step f(x_k) - f* <= <g_k, x_k - x*>
# with x_k - x_0 = -gamma_k s_k carries the rounding of the iterates, ||delta_k|| <= u (||x_0|| +
# ||x_k||) <= u (m_0 + m_k), m = access.dist_magnitude: it enters as sum lambda_k ||g_k|| (m_0 + m_k)
# (``_convexity_size``). Rows where that exceeds 1% of the sides (a displacement below the
# round-off of the iterates, e.g. a tiny d_0 early on) are not informative: no information, not
# a pass.
# ---------------------------------------------------------------------------------------------


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    kw.setdefault("requires", frozenset({"convex"}))
    return register(Result(key=f"dadaptation.{key}", **kw))


def _flag(name: str, value: bool):
    """An assumption test: the constructor option ``name`` equals ``value`` (default: G_term iff the run has G)."""
    def test(tr, pb):
        on = bool(A.option(tr, name, A.has_hp(tr, "G")))
        return torch.full((tr.batch,), on == value, dtype=torch.bool)
    return test


def _hp_is_zero(name: str):
    return lambda tr, pb: A.hp_or(tr, name, 0.0) == 0.0


D0_LE_D = Assumption("d0 <= D", lambda tr, pb: A.hp(tr, "d0") <= A.D(tr))
D0_LE_DINF = Assumption("d0 <= D_inf", lambda tr, pb: A.hp(tr, "d0") <= A.D_inf(tr, pb))
G_STEP = Assumption("G_term = True (step 1/sqrt(G^2 + S_k))", _flag("G_term", True))
NO_G_STEP = Assumption("G_term = False (step 1/sqrt(S_k))", _flag("G_term", False))
G_BOUNDS = Assumption("G >= max_k ||g_k||",
                      lambda tr, pb: A.hp_or(tr, "G", math.nan) >= A.col(tr, "grad_norm").nan_to_num(0.0).amax(dim=0))
G_INF_BOUNDS = Assumption("G_inf >= max_k ||g_k||_inf",
                          lambda tr, pb: A.hp(tr, "G_inf") >= A.running_max(A.col(tr, "g_inf").nan_to_num(0.0))[-1])
MOMENTUM_0 = Assumption("momentum = 0", _hp_is_zero("momentum"))
WEIGHT_DECAY_0 = Assumption("weight_decay = 0", _hp_is_zero("weight_decay"))


def _terms(tr):
    """Rounded terms accumulated into row n of a cumulative sum over steps 0..n."""
    return A.step_index(tr) + 1


def _gammas(tr) -> torch.Tensor:
    """gamma_0..gamma_T of Algorithm 1 recomputed from the recorded gradient norms (and the run's
    G for the G-variant), [T+1, B]; independent of the optimizer's own bookkeeping."""
    G = A.hp(tr, "G") if A.has_hp(tr, "G") else None
    return adagrad_norm_gammas(A.col(tr, "grad_norm") ** 2, G)


def _iterate_size(tr, pb) -> torch.Tensor:
    """m_t >= ||x_t|| + ||x*|| at rows 0..T [T+1, B]: the size the iterates' round-off is relative to."""
    return A.dist_magnitude(tr, pb)


def _convexity_size(tr, pb, lam, g_size) -> torch.Tensor:
    """sum_{k<=n} lambda_k g_size_k (m_0 + m_k): the round-off of sum lambda_k <g_k, x_k - x_0> from the
    rounding of the iterates (g_size_k bounds the dual norm of g_k), [T, B]."""
    m = _iterate_size(tr, pb)
    return torch.cumsum(lam * g_size * (m[:1] + m[: A.steps(tr)]), dim=0)


def _l4_terms(tr, gam) -> torch.Tensor:
    """sum_{k<=n} gamma_k d_k^2 ||g_k||^2 + (gamma_k + gamma_{k+1}) ||s_{k+1}||^2: the size of the terms of
    Lemma 4 (it also bounds |sum d_k gamma_k <g_k, s_k>| by 2|ab| <= a^2 + b^2), [T, B]."""
    d, gn2, sn = A.col(tr, "d"), A.col(tr, "grad_norm") ** 2, A.col(tr, "s_norm")
    return torch.cumsum(gam[:-1] * d**2 * gn2 + (gam[1:] + gam[:-1]) * sn**2, dim=0)


def _estimate_size(tr, gam) -> torch.Tensor:
    """Size of the terms of dhat_{n+1} (Option I) and dtilde_{n+1} (Option II):
    (gamma_{n+1}||s_{n+1}||^2 + Lemma 4's terms) / (2||s_{n+1}||), [T, B]."""
    sn = A.col(tr, "s_norm")
    return (gam[1:] * sn**2 + _l4_terms(tr, gam)) / (2.0 * sn)


def _weighted_size(tr, pb, lam) -> torch.Tensor:
    """Size of sum_{k<=n} lambda_k (f(x_k) - f*) and of its convexity step, [T, B]."""
    fmag = A.subopt_magnitude(tr, pb)[: A.steps(tr)]
    return torch.cumsum(lam * fmag, dim=0) + _convexity_size(tr, pb, lam, A.col(tr, "grad_norm"))


def _average_size(tr, pb) -> torch.Tensor:
    """Size of the terms of the d-weighted average of f(x_k) - f*, [T, B]. The rate results (Theorems
    10, 18, 2) compare it with a closed form of positive terms; the round-off of their proofs is that
    of the lemma they rest on (L9, alg2_weighted_bound), which is checked with it."""
    return A.weighted_average(A.subopt_magnitude(tr, pb)[: A.steps(tr)], A.col(tr, "d"))


def _settled(tr) -> torch.Tensor:
    """n >= 2 nhat(n) (the fixed-n reading of Theorems 10 and 18), [T, B]."""
    d, dn = A.col(tr, "d"), A.col(tr, "d_next")
    return A.step_index(tr) >= 2 * settle_index(d, dn).to(torch.float64)


def sampled_values_at_opt(tr, pb) -> torch.Tensor:
    """f(x*, s_n) [T, B]: the loss at x* of the sample each step n drew (f* for full gradients).

    The indices are drawn again from the run's seeds (``access.indices_by_step``)."""
    T = A.steps(tr)
    if not A.stochastic(tr):
        return torch.full((T, tr.batch), float(pb.f_star), dtype=torch.float64)
    xs = torch.as_tensor(pb.x_star, dtype=torch.float64)[None, :].expand(tr.batch, -1)
    return torch.stack([pb.component_value(xs, idx) for idx in A.indices_by_step(tr, pb)]).to(torch.float64)


DA = ("dadapt_da",)

# -- Algorithm 1: the estimate is a lower bound ----------------------------------------------------


def _da_estimate_error(tr, pb) -> torch.Tensor:
    """Round-off size of both estimates of dadapt_da against D: their terms, and the iterate
    rounding that enters through the convexity step divided by ||s_{n+1}||, [T, B]."""
    d, gn, sn = A.col(tr, "d"), A.col(tr, "grad_norm"), A.col(tr, "s_norm")
    return _estimate_size(tr, _gammas(tr)) + _convexity_size(tr, pb, d, gn) / sn


def _t6_sides(tr, pb) -> Sides:
    est = torch.fmax(A.col(tr, "d_hat_I"), A.col(tr, "d_hat_II"))
    D = A.D(tr).expand_as(est)
    m0 = _iterate_size(tr, pb)[0]
    return Sides(est, D, scale=_da_estimate_error(tr, pb) + m0, terms=_terms(tr),
                 undefined="||s_{n+1}|| = 0: no estimate yet")


_R(
    "T6_dhat_le_D", title="Both estimates are lower bounds on D: dhat_{n+1} <= D and dtilde_{n+1} <= D",
    provenance=Provenance.PAPER, label="Theorem 6", source=f"{REF} §2.2 (arXiv v1, Theorem 6, and App. E.1 for Option II)",
    statement="max(dhat_{n+1}, dtilde_{n+1}) <= ||x0 - x*||  (either option, with or without G)",
    optimizers=DA, kind="invariant", iterate="none", sides=_t6_sides,
)


def _t6_d_sides(tr, pb) -> Sides:
    dn = A.col(tr, "d_next")
    bound = torch.maximum(A.hp(tr, "d0"), A.D(tr)).expand_as(dn)
    # d_{n+1} is d_0 or an earlier rounded estimate: its round-off is that of the largest one.
    err = A.running_max(_da_estimate_error(tr, pb).nan_to_num(0.0, posinf=0.0))
    return Sides(dn, bound, scale=err + _iterate_size(tr, pb)[0], terms=_terms(tr))


_R(
    "T6_d_le_max_d0_D", title="d_{n+1} <= max(d_0, D)",
    provenance=Provenance.PAPER, label="Theorem 6", source=f"{REF} §2.2 (arXiv v1, Theorem 6)",
    statement="d_{n+1} <= max(d_0, D)  (either option, with or without G)", optimizers=DA,
    kind="invariant", iterate="none", sides=_t6_d_sides,
)


def _resetting_sides(tr, pb) -> Sides:
    dn = A.col(tr, "d_next")
    bound = torch.maximum(A.hp(tr, "d0"), A.D(tr)).expand_as(dn)
    # The epoch's estimate is not recorded at a reset (s restarts); its terms are bounded by the
    # displacement the step would have taken, and its iterate round-off by sqrt(epoch length)
    # times the iterates' size (docs/theory/dadaptation.md#resetting): both at most
    # sqrt(n+1) times the largest iterate size so far.
    m = _iterate_size(tr, pb)
    size = A.running_max(m[: A.steps(tr)]) + m[:1]
    return Sides(dn, bound, scale=A.running_max(dn) + torch.sqrt(_terms(tr)) * size, terms=_terms(tr))


_R(
    "resetting_d_le_max_d0_D", title="D-Adaptation with Resetting (our reconstruction): d_{n+1} <= max(d_0, D)",
    provenance=Provenance.DERIVED, label="", source=f"{DOC}#resetting (docs/references/prodigy.md §2.4)",
    statement="d_{n+1} <= max(d_0, D): each epoch is Algorithm 1 with constant weights from x_0, so Theorem 6 "
              "(general weights) bounds the estimate a reset adopts",
    optimizers=("dadapt_resetting",), kind="invariant", iterate="none", sides=_resetting_sides,
    notes="dadapt_resetting is an UNVERIFIED reconstruction of the Prodigy paper's design; the bound is derived "
          "for the algorithm as implemented.",
)


def _option_sides(tr, pb) -> Sides:
    return Sides(A.col(tr, "d_hat_I"), A.col(tr, "d_hat_II"), scale=_estimate_size(tr, _gammas(tr)), terms=_terms(tr))


_R(
    "option_II_ge_I", title="Option II's estimate dominates Option I's (Lemma 4)", provenance=Provenance.PAPER,
    label="Lemma 4, App. E.1", source=f"{REF} §2.2 (arXiv v1, Lemma 4: last term <= 0 for non-increasing gamma; App. E.1)",
    statement="dhat_{n+1} <= dtilde_{n+1} (both computed on the same run)", optimizers=DA, kind="invariant",
    iterate="none", oracle="any", requires=frozenset(), sides=_option_sides,
)
_R(
    "d_monotone", title="d_k is non-decreasing", provenance=Provenance.PAPER, label="Algorithm 1",
    source=f"{REF} §1.1 (arXiv v1, Algorithm 1: d_(k+1) = max(d_k, dhat_(k+1)); code: max(d, min(dhat, d growth_rate)))",
    statement="d_n <= d_{n+1}", role=Role.IMPLEMENTATION,
    optimizers=DA + ("dadapt_adagrad", "dadapt_gd", "dadapt_sgd_code", "dadapt_adam_code", "dadapt_adagrad_code"),
    kind="invariant", iterate="none", requires=frozenset(), oracle="any",
    sides=lambda tr, pb: Sides(A.col(tr, "d"), A.col(tr, "d_next")),
    notes="a max by construction (every option, growth_rate, momentum and weight decay): a test of the code.",
)

# -- Algorithm 1: Lemmas 4-9 ---------------------------------------------------------------------------


def _l4_sides(tr, pb) -> Sides:
    gam = _gammas(tr)
    rhs = lemma4_rhs(gam, A.col(tr, "d"), A.col(tr, "grad_norm") ** 2, A.col(tr, "s_norm"))
    return Sides(-A.col(tr, "numerator"), rhs, scale=_l4_terms(tr, gam), terms=_terms(tr))


_R(
    "L4_identity", title="Exact identity behind the estimate (Lemma 4)",
    provenance=Provenance.PAPER, label="Lemma 4", source=f"{REF} §2.2 (arXiv v1, Lemma 4)",
    statement="-sum gamma_k d_k <g_k,s_k> = -gamma_{n+1}/2 ||s_{n+1}||^2 + sum gamma_k/2 d_k^2||g_k||^2 "
              "+ 1/2 sum (gamma_{k+1}-gamma_k)||s_{k+1}||^2",
    optimizers=DA, kind="identity", iterate="none", oracle="any", requires=frozenset(), sides=_l4_sides,
    notes="gamma is recomputed from the recorded gradient norms; the left side is the optimizer's numerator.",
)


def _l5_sides(tr, pb) -> Sides:
    gam, d, gn2, sn = _gammas(tr), A.col(tr, "d"), A.col(tr, "grad_norm") ** 2, A.col(tr, "s_norm")
    obs = torch.cumsum(d * A.col(tr, "subopt"), dim=0)
    bnd = lemma5_bound(gam, d, gn2, sn, A.D(tr))
    m0 = _iterate_size(tr, pb)[0]
    # The sharp form's numerator is rewritten by Lemma 4, exact up to the rounding of s (_l4_terms).
    scale = _weighted_size(tr, pb, d) + m0 * sn + 0.5 * gam[1:] * sn**2 + _l4_terms(tr, gam)
    return Sides(obs, bnd, scale=scale, terms=_terms(tr))


_R(
    "L5", title="Weighted suboptimality bound (Lemma 5)", provenance=Provenance.PAPER, label="Lemma 5",
    source=f"{REF} §2.2 (arXiv v1, Lemma 5)", iterate="weighted_average", optimizers=DA,
    statement="sum_{k<=n} d_k (f(x_k)-f*) <= D||s_{n+1}|| + sum gamma_k/2 d_k^2||g_k||^2 - gamma_{n+1}/2||s_{n+1}||^2",
    sides=_l5_sides,
)


def _l5_sharp_sides(tr, pb) -> Sides:
    d, sn = A.col(tr, "d"), A.col(tr, "s_norm")
    obs = torch.cumsum(d * A.col(tr, "subopt"), dim=0)
    bnd = lemma5_sharp_bound(A.col(tr, "numerator"), sn, A.D(tr))
    m0 = _iterate_size(tr, pb)[0]
    scale = _weighted_size(tr, pb, d) + m0 * sn + 0.5 * _l4_terms(tr, _gammas(tr))
    return Sides(obs, bnd, scale=scale, terms=_terms(tr))


_R(
    "L5_sharp", title="Lemma 5, the sharper intermediate form", provenance=Provenance.PAPER, label="Lemma 5 (proof)",
    source=f"{REF} §2.2 (arXiv v1, proof of Lemma 5)", iterate="weighted_average", optimizers=DA,
    statement="sum_{k<=n} d_k (f(x_k)-f*) <= D||s_{n+1}|| - sum_{k<=n} d_k gamma_k <g_k, s_k>",
    sides=_l5_sharp_sides,
)


def _l5_sampled_sides(tr, pb) -> Sides:
    d, sn = A.col(tr, "d"), A.col(tr, "s_norm")
    loss, at_opt = A.col(tr, "loss"), sampled_values_at_opt(tr, pb)
    obs = torch.cumsum(d * (loss - at_opt), dim=0)
    bnd = lemma5_sharp_bound(A.col(tr, "numerator"), sn, A.D(tr))
    m0 = _iterate_size(tr, pb)[0]
    # f(x_k, s_k) - f(x*, s_k) is a difference of |loss| and |f(x*, s_k)|; the rest as in L5_sharp.
    scale = (torch.cumsum(d * (loss.abs() + at_opt.abs()), dim=0) + _convexity_size(tr, pb, d, A.col(tr, "grad_norm"))
             + m0 * sn + 0.5 * _l4_terms(tr, _gammas(tr)))
    return Sides(obs, bnd, scale=scale, terms=_terms(tr))


_R(
    "L5_sharp_sampled", title="Lemma 5 (sharp form) along a stochastic run, on the sampled losses",
    provenance=Provenance.DERIVED, label="", source=f"{DOC}#stochastic-lemma-5 ({REF} §2.2: v1 proof of Lemma 5)",
    iterate="weighted_average", optimizers=DA, oracle="stochastic",
    statement="sum_{k<=n} d_k (f(x_k, s_k) - f(x*, s_k)) <= D||s_{n+1}|| - sum_{k<=n} d_k gamma_k <g_k, s_k>, "
              "g_k a subgradient of the sample f(., s_k) at x_k  (every sample convex; any option, with or without G)",
    sides=_l5_sampled_sides,
    notes="Pathwise: no interpolation, no expectation. Taking expectations (d_k, x_k do not depend on s_k) gives "
          "E sum d_k (f(x_k) - f*) <= E[D||s_{n+1}|| - numerator]. The estimate bound dhat_{n+1} <= D does NOT follow: "
          "the sampled gaps can be negative (counterexample in the theory page).",
)


_R(
    "L5_expected", title="Lemma 5 (sharp form) in expectation under minibatch gradients",
    provenance=Provenance.DERIVED, label="", source=f"{DOC}#stochastic-lemma-5 ({REF} §2.2: v1 proof of Lemma 5)",
    iterate="weighted_average", optimizers=DA, oracle="stochastic", in_expectation=True,
    statement="E sum_{k<=n} d_k (f(x_k)-f*) <= E[D||s_{n+1}|| - sum_{k<=n} d_k gamma_k <g_k, s_k>]  "
              "(every sample convex, E f(., s) = f; any option, with or without G)",
    sides=_l5_sharp_sides,
    notes="The sides of L5_sharp, per run; the check is on their mean over seeds. d_k and x_k are fixed before the sample s_k is drawn, so E d_k (f(x_k, s_k) - f(x*, s_k)) = "
          "E d_k (f(x_k) - f*); with L5_sharp_sampled (pathwise). Needs f(x_k) at every step (no checkpoints).",
)


def _l7_estimate_error(tr, gam) -> torch.Tensor:
    """Round-off of the L7 bound on ||s_{n+1}||: an estimate error e moves it by 2e/gamma_{n+1}."""
    return 2.0 * _estimate_size(tr, gam) / gam[1:]


def _l7_sides(tr, pb) -> Sides:
    gam = _gammas(tr)
    bnd = lemma7_bound(gam, A.col(tr, "d"), A.col(tr, "grad_norm") ** 2, A.col(tr, "d_next"))
    return Sides(A.col(tr, "s_norm"), bnd, scale=_l7_estimate_error(tr, gam), terms=_terms(tr))


_R(
    "L7", title="The dual sum is bounded by the estimate (Lemma 7)", provenance=Provenance.PAPER, label="Lemma 7",
    source=f"{REF} §2.2 (arXiv v1, Lemma 7)", iterate="none", optimizers=DA, oracle="any", requires=frozenset(),
    statement="||s_{n+1}|| <= 2 d_{n+1}/gamma_{n+1} + sum_{k<=n} gamma_k d_k^2 ||g_k||^2 / (2 d_{n+1})",
    sides=_l7_sides,
)


def _l7p_sides(tr, pb) -> Sides:
    m = _iterate_size(tr, pb)
    T = A.steps(tr)
    # x_{n+1} - x_0 is a difference of iterates: its round-off is relative to their size.
    scale = m[:1] + m[1 : T + 1] + SQRT3P1 * _estimate_size(tr, _gammas(tr))
    return Sides(A.displacement(tr), lemma7p_bound(A.col(tr, "d_next")), scale=scale, terms=_terms(tr))


_R(
    "L7_prime", title="Distance travelled is at most (1+sqrt3) d (G-variant)", provenance=Provenance.DERIVED,
    label="Lemma 7'", source=f"{DOC}#lemma-7-prime ({REF} §2.2)", iterate="last", optimizers=DA,
    oracle="any", requires=frozenset(), assumptions=(G_STEP, G_BOUNDS),
    statement="||x_{n+1} - x0|| <= (1 + sqrt 3) d_{n+1}  (G-variant step, G >= max ||g_k||)",
    sides=_l7p_sides,
)


def _g_term_on(tr) -> bool:
    return bool(A.option(tr, "G_term", A.has_hp(tr, "G")))


def _d_lower_sides(tr, pb) -> Sides:
    gn2 = A.col(tr, "grad_norm") ** 2
    kappa = d_lower_factor(step_sum_factor(gn2, A.hp(tr, "G") if _g_term_on(tr) else None))
    m, T = _iterate_size(tr, pb), A.steps(tr)
    obs = d_lower_bound(A.D(tr), A.rows(tr, "dist")[1 : T + 1], kappa)
    # D and ||x_{n+1} - x*|| carry the rounding of x_0 and x_{n+1}; d_{n+1} >= the rounded estimate,
    # whose error e moves the displacement bound by kappa e.
    scale = (m[:1] + m[1 : T + 1]) / kappa + _estimate_size(tr, _gammas(tr))
    return Sides(obs, A.col(tr, "d_next"), scale=scale, terms=_terms(tr))


_R(
    "d_lower", title="d approaches D: d_{n+1} >= (D - ||x_{n+1} - x*||)/(1 + sqrt(1 + c_n))",
    provenance=Provenance.DERIVED, label="", source=f"{DOC}#lower-bound-on-d ({REF} §2.2: v1 Lemmas 4 and 7)",
    iterate="last", optimizers=DA, oracle="any", requires=frozenset(),
    assumptions=(Assumption("G_term = False, or G >= max_k ||g_k||",
                            lambda tr, pb: ~torch.as_tensor(_g_term_on(tr)) | G_BOUNDS.test(tr, pb)),),
    statement="(D - ||x_{n+1} - x*||)/(1 + sqrt(1 + c_n)) <= d_{n+1}, c_n = 2 (G-variant, G >= max ||g_k||) or "
              "2 + G_n^2/(||g_0|| sqrt(S_n)) (no-G step), G_n = max_{k<=n} ||g_k||  (either option; any oracle, "
              "no convexity)",
    sides=_d_lower_sides,
    notes="Pathwise under minibatches too: it uses only d_{n+1} >= dhat_{n+1} and Lemma 4 (algebra), not the "
          "convexity step that fails there (T6 is false under minibatches). With d_{n+1} <= max(d_0, D) "
          "(deterministic): D - ||x_{n+1} - x*|| <= kappa_n d_{n+1} <= kappa_n D.",
)


def _p8_sides(tr, pb) -> Sides:
    gamma = torch.cat([A.col(tr, "gamma"), A.col(tr, "lr")[-1:]], dim=0)  # gamma_0..gamma_T as the optimizer used them
    lhs, rhs = prop8_4_sides(gamma, A.col(tr, "grad_norm") ** 2)
    return Sides(lhs, rhs, terms=_terms(tr))


_R(
    "P8_4", title="AdaGrad-norm step sum (Proposition 8 (4))", provenance=Provenance.PAPER, label="Proposition 8",
    source=f"{REF} §2.2 (arXiv v1, Proposition 8, Streeter & McMahan)", iterate="none", optimizers=DA, oracle="any",
    requires=frozenset(), assumptions=(G_STEP, G_BOUNDS),
    statement="sum_{k<=n} gamma_k/2 ||g_k||^2 <= 1/gamma_{n+1}  (G-variant, G >= max ||g_k||)",
    sides=_p8_sides, notes="uses the optimizer's own gamma_k and gamma_{n+1}.",
)


def _l9_parts(tr, pb):
    """(sum d_k (f(x_k)-f*), Lemma 9's bound, the size of both) [T, B] each."""
    gam, d, dn = _gammas(tr), A.col(tr, "d"), A.col(tr, "d_next")
    D = A.D(tr)
    obs = torch.cumsum(d * A.col(tr, "subopt"), dim=0)
    bnd = lemma9_bound(gam, A.col(tr, "grad_norm") ** 2, dn, D)
    m0 = _iterate_size(tr, pb)[0]
    # D carries the round-off of ||x_0 - x*|| (size m_0); the L7 step carries the estimate's.
    size = _weighted_size(tr, pb, d) + bnd * m0 / D + D * _l7_estimate_error(tr, gam)
    return obs, bnd, size


def _l9_sides(tr, pb) -> Sides:
    obs, bnd, size = _l9_parts(tr, pb)
    return Sides(obs, bnd, scale=size, terms=_terms(tr))


_R(
    "L9", title="Weighted suboptimality in terms of d_{n+1} (Lemma 9)", provenance=Provenance.PAPER, label="Lemma 9",
    source=f"{REF} §2.2 (arXiv v1, Lemma 9)", iterate="weighted_average", optimizers=DA, assumptions=(D0_LE_D,),
    statement="sum_{k<=n} d_k (f(x_k)-f*) <= 2 D d_{n+1}/gamma_{n+1} + D d_{n+1} sum_{k<=n} gamma_k ||g_k||^2  (d_0 <= D)",
    sides=_l9_sides,
    notes="Divided by sum_{k<=n} d_k this is the computable bound on the d-weighted average (and by Jensen on "
          "f(xhat_n) - f*) at every n: the same check, so it is not registered twice.",
)

# -- Algorithm 1: rates ----------------------------------------------------------------------------------


def _t10_sides(tr, pb) -> Sides:
    d, gn = A.col(tr, "d"), A.col(tr, "grad_norm")
    obs = A.weighted_average(A.col(tr, "subopt"), d)
    bnd = theorem10_bound(A.step_index(tr), A.D(tr), A.running_max(gn), gn[0])
    return Sides(obs, A.unchecked_where(_settled(tr), bnd), scale=_average_size(tr, pb), terms=_terms(tr),
                 undefined="n < 2 nhat(n): d has not settled")


_R(
    "T10", title="Explicit O(DG/sqrt(n+1)) rate once d has settled (Theorem 10, per-n reading)",
    provenance=Provenance.DERIVED, label="Theorem 10",
    source=f"{DOC}#theorem-10 ({REF} §2.1: v1 Theorem 10, constant 16 as in its proof; v1's 12 is a typo)",
    iterate="weighted_average", optimizers=DA, assumptions=(NO_G_STEP, D0_LE_D),
    statement="for n >= 2 nhat(n), nhat(n) = min{m : d_m >= d_{n+1}/2}: sum d_k(f(x_k)-f*)/sum d_k "
              "<= 16 D G_n/sqrt(n+1) + 8 D G_n^2/((n+1)||g_0||), G_n = max_{k<=n} ||g_k||  (no-G step, d_0 <= D)",
    sides=_t10_sides,
    notes="Our reading: the running G_n and the fixed-n condition n >= 2 nhat(n) (v1 states it for G = sup ||g|| and "
          "n >= 2 nhat with nhat the time after which d stays within a factor 2).",
)


def _t2_parts(tr, pb):
    """(observed, S_t, n, size) of Theorem 2: the d-weighted average of f(x_k) - f* up to t(n)
    (>= f(xhat_t) - f* by Jensen; the quantity the proof bounds), S_t = sum_{k<=t} ||g_k||^2."""
    d, dn = A.col(tr, "d"), A.col(tr, "d_next")
    t = theorem2_pick(d, dn)
    obs = A.weighted_average(A.col(tr, "subopt"), d).gather(0, t)
    S_t = torch.cumsum(A.col(tr, "grad_norm") ** 2, dim=0).gather(0, t)
    return obs, S_t, A.step_index(tr), _average_size(tr, pb).gather(0, t)


UNDEFINED_T2 = "n + 1 < 2 log2(D/d_0)"
_T2 = dict(iterate="weighted_average", optimizers=DA, assumptions=(G_STEP, G_BOUNDS, D0_LE_D))


def _t2_sides(tr, pb) -> Sides:
    obs, S_t, n, size = _t2_parts(tr, pb)
    bnd, valid = theorem2_bound(n, S_t, A.hp_or(tr, "G", math.nan), A.D(tr), A.hp(tr, "d0"))
    return Sides(obs, A.unchecked_where(valid, bnd), scale=size, terms=_terms(tr), undefined=UNDEFINED_T2)


_R(
    "T2_final", title="Non-asymptotic log-factor rate (Theorem 2, final version, with the G^2 of step (1) kept)",
    provenance=Provenance.SECONDARY, label="Theorem 2",
    source=f"{DOC}#theorem-2 ({REF} §2.1: final version via independent summaries; uses Lemma 11 final [SECONDARY])",
    statement="n+1 >= 2 log2(D/d0): f(xhat_t)-f* <= 16 log2+(D/d0)/(n+1) D sqrt(G^2 + sum_{k<=t}||g_k||^2), "
              "t = argmin_{k<=n} d_{k+1}/sum_{i<=k} d_i  (G-variant, G >= max ||g_k||, d_0 <= D)",
    sides=_t2_sides,
    notes="The quoted final statement has sqrt(sum ||g_k||^2) without G^2 and is false for the G-variant step "
          "(theorem2_final_as_printed; counterexample in the theory page).",
    **_T2,
)


def _t2_G_sides(tr, pb) -> Sides:
    obs, _, n, size = _t2_parts(tr, pb)
    bnd, valid = theorem2_G_bound(n, A.hp_or(tr, "G", math.nan), A.D(tr), A.hp(tr, "d0"))
    return Sides(obs, A.unchecked_where(valid, bnd), scale=size, terms=_terms(tr), undefined=UNDEFINED_T2)


_R(
    "T2_final_G", title="Non-asymptotic log-factor rate in DG form (Theorem 2, as the proof gives it)",
    provenance=Provenance.SECONDARY, label="Theorem 2",
    source=f"{DOC}#theorem-2-dg-form ({REF} §2.1; printed with 1/sqrt(n+1))",
    statement="n+1 >= 2 log2(D/d0): f(xhat_t)-f* <= 16 D G log2+(D/d0) sqrt(n+2)/(n+1)  (G-variant, G >= max ||g_k||, d_0 <= D)",
    sides=_t2_G_sides, **_T2,
)


def _t2_v1_sides(tr, pb) -> Sides:
    obs, S_t, n, size = _t2_parts(tr, pb)
    bnd, valid = theorem2_v1_bound(n, S_t, A.D(tr), A.hp(tr, "d0"))
    return Sides(obs, A.unchecked_where(valid, bnd), scale=size, terms=_terms(tr), undefined="n < log2(D/d_0)")


_R(
    "T2_v1", title="Non-asymptotic log-factor rate, as printed in v1 (Theorem 2)", provenance=Provenance.PAPER,
    label="Theorem 2 (v1)", source=f"{REF} §2.1 (arXiv v1, Theorem 2)", role=Role.ERRATUM,
    statement="n >= log2(D/d0): f(xhat_t)-f* <= 8 log2(D/d0)/(n+1) D sqrt(sum_{k<=t}||g_k||^2), "
              "t = argmin_{k<=n} d_{k+1}/sum_{i<=k} d_i  (G-variant, d_0 <= D)",
    sides=_t2_v1_sides,
    notes="relies on v1 Lemma 11, which is false as stated; the bound is 0 at d_0 = D and fails near it.",
    **_T2,
)

# -- GD form and the authors' SGD code ------------------------------------------------------------------


def _gd_dhat_sides(tr, pb) -> Sides:
    lam, gn, sn = A.col(tr, "lr"), A.col(tr, "grad_norm"), A.col(tr, "s_norm")
    m = _iterate_size(tr, pb)
    D = A.D(tr)
    # numerator <= <sum lam_k g_k, x_0 - x*> and sum lam_k g_k = x_0 - x_{n+1} up to the rounding of
    # every iterate update (sum_k u m_{k+1}).
    err = (_convexity_size(tr, pb, lam, gn) + D * torch.cumsum(m[1 : A.steps(tr) + 1], dim=0)) / sn
    dhat = A.col(tr, "d_hat")
    return Sides(dhat, D.expand_as(dhat), scale=err + m[0], terms=_terms(tr), undefined="x_{n+1} = x_0: no estimate yet")


_R(
    "gd_dhat_le_D", title="GD-form estimate is a lower bound on D", provenance=Provenance.DERIVED,
    label="", source=f"{DOC}#gd-form ({REF} §1.4, docs/references/prodigy.md §4)",
    statement="dhat_{n+1} = sum_{k<=n} lambda_k <g_k, x0-x_k>/||x_{n+1}-x0|| <= D  (any steps lambda_k >= 0: with or without G)",
    optimizers=("dadapt_gd",), kind="invariant", iterate="none", sides=_gd_dhat_sides,
)


def _gd_identity_sides(tr, pb) -> Sides:
    eta, gn = A.col(tr, "lr"), A.col(tr, "grad_norm")
    disp = A.displacement(tr)
    m = _iterate_size(tr, pb)
    m_next = m[1 : A.steps(tr) + 1]
    # The terms, the rounding of x_0 - x_k in each inner product, and that of every update
    # x_{k+1} = x_k - eta_k g_k (2<s_{k+1}, delta_k>/2 per step) and of the final difference.
    scale = (torch.cumsum(eta**2 * gn**2 + disp * m_next, dim=0) + _convexity_size(tr, pb, eta, gn)
             + disp * (m[:1] + m_next))
    return Sides(A.col(tr, "numerator"), gd_identity_rhs(eta, gn**2, disp), scale=scale, terms=_terms(tr))


_R(
    "gd_identity", title="GD identity: the estimate's numerator in closed form", provenance=Provenance.DERIVED,
    label="", source=f"{DOC}#gd-form ({REF} §1.3)",
    statement="sum_{k<=n} eta_k <g_k, x0-x_k> = ||x_{n+1}-x0||^2/2 - sum_{k<=n} eta_k^2||g_k||^2/2  (any steps eta_k)",
    optimizers=("dadapt_gd", "prodigy_gd"), kind="identity", iterate="none", oracle="any", requires=frozenset(),
    sides=_gd_identity_sides, notes="x_{n+1} from the recorded iterates (keep_iterates=True).",
)


def _gd_rate_sides(tr, pb) -> Sides:
    lam, d, dn = A.col(tr, "lr"), A.col(tr, "d"), A.col(tr, "d_next")
    t = theorem2_pick(d, dn)
    obs = A.weighted_average(A.col(tr, "subopt"), lam).gather(0, t)
    bnd, valid = gd_rate_bound(A.step_index(tr), A.D(tr), A.hp_or(tr, "G", math.nan), A.hp(tr, "d0"))
    size = A.weighted_average(A.subopt_magnitude(tr, pb)[: A.steps(tr)], lam).gather(0, t)
    return Sides(obs, A.unchecked_where(valid, bnd), scale=size, terms=_terms(tr),
                 undefined="n + 2 <= m = floor(log2(D/d_0)) + 1")


_R(
    "gd_rate", title="GD-form rate with its log factor: O(DG log2(D/d0) log(n)/sqrt(n))",
    provenance=Provenance.DERIVED, label="", source=f"{DOC}#gd-rate ({REF} §1.4; chain of docs/theory/prodigy.md#bound)",
    iterate="weighted_average", optimizers=("dadapt_gd",), assumptions=(G_STEP, G_BOUNDS, D0_LE_D),
    statement="t = argmin_{k<=n} d_{k+1}/sum_{i<=k} d_i: sum_{k<=t} lam_k (f(x_k)-f*)/sum_{k<=t} lam_k <= "
              "2 m D G sqrt(n+2) (1 + sqrt(1+log(n+2)) + log(n+2)/2)/(n+2-m), m = floor(log2(D/d_0)) + 1, for n+2 > m  "
              "(G-variant, G >= max ||g_k||, d_0 <= D)",
    sides=_gd_rate_sides,
    notes="observed: the lam-weighted mean of f(x_k) - f* up to t(n), an upper bound on f at the lam-weighted "
          "average iterate by Jensen. The sequence lemma is ours (levels of d), not the paper's Lemma 11.",
)


def _code_sgd_sides(tr, pb) -> Sides:
    dlr, gn, sn = A.col(tr, "lr"), A.col(tr, "grad_norm"), A.col(tr, "s_norm")
    m0 = _iterate_size(tr, pb)[0]
    dhat = A.col(tr, "d_hat")
    scale = 2.0 * (_convexity_size(tr, pb, dlr, gn) / sn + m0)
    return Sides(dhat, 2.0 * A.D(tr).expand_as(dhat), scale=scale, terms=_terms(tr), undefined="||s_{n+1}|| = 0")


_R(
    "code_sgd_d_le_2D", title="DAdaptSGD code (momentum 0, no weight decay): dhat <= 2D",
    provenance=Provenance.DERIVED, label="", source=f"{DOC}#code-invariant ({REF} §3.1)",
    statement="dhat_{k+1} = 2 num_{k+1}/||s_{k+1}|| <= 2D (so d_{k+1} <= max(d_0, 2D)); any lr > 0 and growth_rate",
    optimizers=("dadapt_sgd_code",), kind="invariant", iterate="none", assumptions=(MOMENTUM_0, WEIGHT_DECAY_0),
    sides=_code_sgd_sides,
    notes=f"Not an invariant with momentum > 0: gradients are taken at the averaged x, not at z = x0 - s "
          f"({REF} §3.1 saw d = 2.7D and 4.2D with momentum 0.9).",
)

# -- Algorithm 2 (coordinate-wise) -------------------------------------------------------------------


AG = ("dadapt_adagrad",)


def _ag_estimate_size(tr) -> torch.Tensor:
    """Size of the terms of Algorithm 2's dhat_{n+1}: (||s||^2_{A^-1} + sum d_i^2||g_i||^2_{A_i^-1}) / (2||s||_1)."""
    return (A.col(tr, "s_weighted_sq") + A.col(tr, "weighted_sq")) / (2.0 * A.col(tr, "s_l1"))


def _ag_convexity_size(tr, pb) -> torch.Tensor:
    """The iterate rounding in sum d_k <g_k, x_k - x_0> with ||g_k||_1 <= p ||g_k||_inf, [T, B]."""
    p = A.x0(tr).shape[-1]
    return _convexity_size(tr, pb, A.col(tr, "d"), p * A.col(tr, "g_inf"))


def _t16_sides(tr, pb) -> Sides:
    dhat = A.col(tr, "d_hat")
    scale = _ag_estimate_size(tr) + _ag_convexity_size(tr, pb) / A.col(tr, "s_l1") + _iterate_size(tr, pb)[0]
    return Sides(dhat, A.D_inf(tr, pb).expand_as(dhat), scale=scale, terms=_terms(tr), undefined="||s_{n+1}||_1 = 0")


_R(
    "T16_dhat_le_Dinf", title="Algorithm 2's estimate is a lower bound on D_inf (Theorem 16)",
    provenance=Provenance.PAPER, label="Theorem 16", source=f"{REF} §2.2 (arXiv v1, Theorem 16)",
    statement="dhat_{n+1} <= D_inf", optimizers=AG, kind="invariant", iterate="none", sides=_t16_sides,
)


def _l17_sides(tr, pb) -> Sides:
    dn, a = A.col(tr, "d_next"), A.col(tr, "a_l1")
    # d_{n+1} >= the rounded estimate: an estimate error e moves the bound by 3 e ||a_{n+1}||_1.
    return Sides(A.col(tr, "s_l1"), lemma17_bound(dn, a), scale=3.0 * a * _ag_estimate_size(tr), terms=_terms(tr))


_R(
    "L17", title="||s_{n+1}||_1 <= 3 d_{n+1} ||a_{n+1}||_1 (Lemma 17)", provenance=Provenance.PAPER, label="Lemma 17",
    source=f"{REF} §2.2 (arXiv v1, Lemma 17; needs a_0 = G_inf >= |g_kj|, Prop. 14)", optimizers=AG, iterate="none",
    assumptions=(G_INF_BOUNDS,), statement="||s_{n+1}||_1 <= 3 d_{n+1} ||a_{n+1}||_1  (G_inf >= max_k ||g_k||_inf)",
    sides=_l17_sides, notes="max_k ||g_k||_inf from the optimizer's recorded g_inf (no iterates needed).",
)


def _ag_grads(tr, pb):
    """(g_k [T, B, p] the optimizer received, a_0..a_T [T+1, B, p] recomputed from them and G_inf)."""
    g = A.received_grads(tr, pb).to(torch.float64)
    return g, adagrad_diag(g, A.hp(tr, "G_inf"))


def _l13_sides(tr, pb) -> Sides:
    g, _ = _ag_grads(tr, pb)
    x, T = A.iterates(tr), A.steps(tr)
    d = A.col(tr, "d")
    # -sum d_k <g_k, A_k^{-1} s_k> with x_k - x_0 = -A_k^{-1} s_k (the iterates' rounding: _ag_convexity_size)
    obs = torch.cumsum(d * (g * (x[:T] - x[:1])).sum(dim=-1), dim=0)
    bnd = lemma13_rhs(A.col(tr, "s_weighted_sq"), A.col(tr, "weighted_sq"))
    scale = A.col(tr, "s_weighted_sq") + A.col(tr, "weighted_sq") + _ag_convexity_size(tr, pb)
    return Sides(obs, bnd, scale=scale, terms=_terms(tr))


_R(
    "L13", title="Algorithm 2's dual-averaging inequality (Lemma 13)", provenance=Provenance.PAPER, label="Lemma 13",
    source=f"{REF} §2.2 (arXiv v1, Lemma 13: A_(k+1) >= A_k)", optimizers=AG, iterate="none", oracle="any",
    requires=frozenset(),
    statement="-sum_{k<=n} d_k <g_k, A_k^{-1} s_k> <= -1/2 ||s_{n+1}||^2_{A_{n+1}^{-1}} + 1/2 sum_{k<=n} d_k^2 ||g_k||^2_{A_k^{-1}}",
    sides=_l13_sides, notes="the left side from the kept iterates (x_k - x_0 = -A_k^{-1} s_k) and the received gradients.",
)


def _p14_sides(tr, pb) -> Sides:
    g, a = _ag_grads(tr, pb)
    lhs, rhs = prop14_sides(g, a)
    return Sides(lhs, rhs, terms=_terms(tr))


_R(
    "P14", title="AdaGrad step sum, coordinate-wise (Proposition 14)", provenance=Provenance.PAPER, label="Proposition 14",
    source=f"{REF} §2.2 (arXiv v1, Proposition 14, Duchi et al.; needed by Lemma 17)", optimizers=AG, iterate="none",
    oracle="any", requires=frozenset(), assumptions=(G_INF_BOUNDS,),
    statement="sum_{k<=n} ||g_k||^2_{A_k^{-1}} <= 2 ||a_{n+1}||_1  (a_0 = G_inf >= max_k ||g_k||_inf)",
    sides=_p14_sides, notes="a_k recomputed from the received gradients (adagrad_diag), independent of the optimizer's state.",
)


def _l15_sides(tr, pb) -> Sides:
    d = A.col(tr, "d")
    obs = torch.cumsum(d * A.col(tr, "subopt"), dim=0)
    sw, ws, sl1 = A.col(tr, "s_weighted_sq"), A.col(tr, "weighted_sq"), A.col(tr, "s_l1")
    Dinf = A.D_inf(tr, pb)
    bnd = lemma15_bound(sl1, sw, ws, Dinf)
    fmag = A.subopt_magnitude(tr, pb)[: A.steps(tr)]
    scale = torch.cumsum(d * fmag, dim=0) + _ag_convexity_size(tr, pb) + sl1 * (Dinf + _iterate_size(tr, pb)[0]) + sw + ws
    return Sides(obs, bnd, scale=scale, terms=_terms(tr))


_R(
    "L15", title="Algorithm 2's weighted suboptimality bound (Lemma 15)", provenance=Provenance.PAPER, label="Lemma 15",
    source=f"{REF} §2.2 (arXiv v1, Lemma 15)", optimizers=AG, iterate="weighted_average",
    statement="sum_{k<=n} d_k (f(x_k)-f*) <= ||s_{n+1}||_1 D_inf - 1/2 ||s_{n+1}||^2_{A_{n+1}^{-1}} "
              "+ 1/2 sum_{k<=n} d_k^2 ||g_k||^2_{A_k^{-1}}",
    sides=_l15_sides,
)


def _alg2_size(tr, pb) -> torch.Tensor:
    """Size of the terms of the Algorithm 2 weighted-average bounds, divided by sum d_k, [T, B]."""
    d = A.col(tr, "d")
    fmag = A.subopt_magnitude(tr, pb)[: A.steps(tr)]
    size = (torch.cumsum(d * fmag, dim=0) + _ag_convexity_size(tr, pb)
            + A.D_inf(tr, pb) * 3.0 * A.col(tr, "a_l1") * _ag_estimate_size(tr))
    return size / torch.cumsum(d, dim=0)


def _alg2_sides(tr, pb) -> Sides:
    d, dn = A.col(tr, "d"), A.col(tr, "d_next")
    obs = A.weighted_average(A.col(tr, "subopt"), d)
    bnd = alg2_weighted_bound(d, dn, A.col(tr, "a_l1"), A.D_inf(tr, pb))
    return Sides(obs, bnd, scale=_alg2_size(tr, pb), terms=_terms(tr))


_AG_RATE = (G_INF_BOUNDS, D0_LE_DINF)
_R(
    "alg2_weighted_bound", title="Computable per-n bound for Algorithm 2", provenance=Provenance.DERIVED,
    label="", source=f"{DOC}#algorithm-2 ({REF} §2.2: from v1 Lemmas 15, 17 and Prop. 14)", optimizers=AG,
    iterate="weighted_average", assumptions=_AG_RATE,
    statement="sum d_k(f(x_k)-f*)/sum d_k <= 4 D_inf d_{n+1} ||a_{n+1}||_1 / sum_{k<=n} d_k  "
              "(d_0 <= D_inf, G_inf >= max_k ||g_k||_inf)",
    sides=_alg2_sides,
)


def _t18_sides(tr, pb) -> Sides:
    d = A.col(tr, "d")
    obs = A.weighted_average(A.col(tr, "subopt"), d)
    bnd = theorem18_bound(A.step_index(tr), A.col(tr, "a_l1"), A.D_inf(tr, pb))
    return Sides(obs, A.unchecked_where(_settled(tr), bnd), scale=_average_size(tr, pb), terms=_terms(tr),
                 undefined="n < 2 nhat(n): d has not settled")


_R(
    "T18", title="Algorithm 2 rate once d has settled (Theorem 18 = Theorem 3, per-n reading)",
    provenance=Provenance.DERIVED, label="Theorem 18", source=f"{DOC}#algorithm-2 ({REF} §2.1: v1 Theorems 3 and 18)",
    optimizers=AG, iterate="weighted_average", assumptions=_AG_RATE,
    statement="for n >= 2 nhat(n): sum d_k(f(x_k)-f*)/sum d_k <= 16 ||a_{n+1}||_1 D_inf/(n+1)  "
              "(d_0 <= D_inf, G_inf >= max_k ||g_k||_inf)",
    sides=_t18_sides, notes=f"fixed-n reading of n >= 2 nhat as for Theorem 10 ({DOC}#algorithm-2).",
)


# -- Examples: small runs on which each result is checked (tests/theory/test_every_result.py) ----------


def _d0s(*fractions):
    """hp builder: d_0 = fraction * D per run (plus ``extra``)."""
    def hp(pb, D, **extra):
        return {"d0": torch.tensor(fractions, dtype=torch.float64) * D, **extra}
    return hp


_DA_ALL = ("dadaptation.d_lower", "dadaptation.T6_dhat_le_D", "dadaptation.T6_d_le_max_d0_D", "dadaptation.option_II_ge_I",
           "dadaptation.d_monotone", "dadaptation.L4_identity", "dadaptation.L5", "dadaptation.L5_sharp",
           "dadaptation.L7", "dadaptation.L9")
_DA_G = ("dadaptation.L7_prime", "dadaptation.P8_4", "dadaptation.T2_final", "dadaptation.T2_final_G")
for _pname in ("l1_distance", "max_affine"):
    example(Example(_DA_ALL + ("dadaptation.T10",), _pname, "dadapt_da", options={"option": "I"},
                    hp=_d0s(1e-3, 1e-2, 0.1, 0.5), T=150, runs=4))
    example(Example(_DA_ALL + _DA_G, _pname, "dadapt_da", options={"option": "II", "G_term": True},
                    hp=lambda pb, D: _d0s(1e-3, 1e-2, 0.1, 0.5)(pb, D, G=pb.G), T=150, runs=4))
# v1 Theorem 2 near d_0 = D: log2(D/d_0) ~ 0.01 makes its bound ~ 0 while f(xhat_t) - f* is not.
example(Example(("dadaptation.T2_v1",), "l1_distance", "dadapt_da", options={"G_term": True},
                hp=lambda pb, D: {"d0": 0.99 * D, "G": pb.G}, T=100, runs=4))
example(Example(("dadaptation.gd_dhat_le_D", "dadaptation.gd_identity", "dadaptation.d_monotone"), "quadratic",
                "dadapt_gd", hp=lambda pb, D: _d0s(1e-3, 1e-2, 0.1, 0.5)(pb, D, G=pb.G), T=150, runs=4))
example(Example(("dadaptation.gd_dhat_le_D", "dadaptation.gd_identity"), "lad", "dadapt_gd",
                options={"G_term": False}, hp=_d0s(1e-3, 1e-2, 0.1, 0.5), T=150, runs=4))
example(Example(("dadaptation.gd_identity",), "l1_distance", "prodigy_gd",
                hp=lambda pb, D: _d0s(1e-3, 1e-2, 0.1, 0.5)(pb, D, G=pb.G), T=150, runs=4))
example(Example(("dadaptation.code_sgd_d_le_2D", "dadaptation.d_monotone"), "l1_distance", "dadapt_sgd_code",
                hp=lambda pb, D: _d0s(1e-3, 1e-2, 0.1, 0.5)(pb, D, lr=torch.tensor([1.0, 10.0, 0.1, 1.0], dtype=torch.float64),
                                                        growth_rate=torch.tensor([math.inf, 1.02, math.inf, 2.0], dtype=torch.float64)),
                T=150, runs=4))
example(Example(("dadaptation.T16_dhat_le_Dinf", "dadaptation.L17", "dadaptation.alg2_weighted_bound",
                 "dadaptation.T18", "dadaptation.d_monotone", "dadaptation.L13", "dadaptation.P14", "dadaptation.L15"),
                "l1_distance", "dadapt_adagrad",
                hp=lambda pb, D: _d0s(1e-4, 1e-3, 1e-2, 0.05)(pb, D, G_inf=pb.G), T=150, runs=4))
example(Example(("dadaptation.resetting_d_le_max_d0_D",), "l1_distance", "dadapt_resetting",
                hp=_d0s(1e-3, 1e-2, 0.1, 0.5), T=150, runs=4))
# New coverage (issue 11): the GD-form rate, and Lemma 5 along stochastic runs (minibatch 4, 8 seeds).
example(Example(("dadaptation.gd_rate",), "l1_distance", "dadapt_gd",
                hp=lambda pb, D: _d0s(1e-3, 1e-2, 0.1, 0.5)(pb, D, G=pb.G), T=200, runs=4))
example(Example(("dadaptation.gd_rate",), "max_affine", "dadapt_gd",
                hp=lambda pb, D: _d0s(1e-3, 1e-2, 0.1, 0.5)(pb, D, G=pb.G), T=200, runs=4))
example(Example(("dadaptation.L5_sharp_sampled",), "least_squares", "dadapt_da",
                hp=_d0s(1e-3, 1e-2, 0.1, 0.5, 1e-3, 1e-2, 0.1, 0.5), T=150, runs=8, batch_size=4))
example(Example(("dadaptation.L5_sharp_sampled",), "hinge_svm", "dadapt_da", options={"option": "II", "G_term": True},
                hp=lambda pb, D: _d0s(1e-3, 1e-2, 0.1, 0.5, 1e-3, 1e-2, 0.1, 0.5)(pb, D, G=pb.G), T=150, runs=8, batch_size=8))
# The lower bound on d along stochastic runs (no-G and G-variant, minibatch 4, 8 seeds), and Algorithm 2's
# Lemma 13 and Proposition 14 under a minibatch oracle (both algebra on the received gradients).
example(Example(("dadaptation.d_lower",), "least_squares", "dadapt_da",
                hp=_d0s(1e-3, 1e-2, 0.1, 0.5, 1e-3, 1e-2, 0.1, 0.5), T=150, runs=8, batch_size=4))
# Lemma 5 in expectation: one hyper-parameter group of 8 seeds (minibatch 4).
example(Example(("dadaptation.L5_expected",), "least_squares", "dadapt_da", hp={"d0": 1e-2}, T=150, runs=8, batch_size=4))
example(Example(("dadaptation.d_lower",), "hinge_svm", "dadapt_da", options={"option": "II", "G_term": True},
                hp=lambda pb, D: _d0s(1e-3, 1e-2, 0.1, 0.5, 1e-3, 1e-2, 0.1, 0.5)(pb, D, G=pb.G), T=150, runs=8, batch_size=8))
example(Example(("dadaptation.L13", "dadaptation.P14"), "hinge_svm", "dadapt_adagrad",
                hp=lambda pb, D: _d0s(1e-4, 1e-3, 1e-2, 0.05)(pb, D, G_inf=pb.G), T=100, runs=4, batch_size=4))
