"""MADGRAD (Defazio & Jelassi, arXiv 2101.11075): dual-averaging identity, z-space (decaying L2)
form, primal-averaging potential and the derived convex bound.

The paper's theorem (its constant 6, its c_k) is [UNVERIFIED] (docs/references/madgrad.md §4.2)
and not registered. Everything asserted is [DERIVED], proved in docs/theory/madgrad.md. The
machinery is shared with MDA (theory/mda.py), the same dual averaging with b_i = sqrt(i).

Notation. lam_i the dual weights, l_i = lam_i g_i, s_i = sum_{l<i} l_l, z_0 = x_0 and
z_i = x_0 - s_i / b_i (i >= 1) with per-coordinate denominators b_i:

- ``madgrad`` (authors' code): lam_i = lr' sqrt(i+1) with lr' = lr + eps (the code's quirk),
  b_i = nu_i^(1/3) + eps, nu_i = sum_{l<i} lam_l g_l^2 (b_0 = eps); coupled weight decay is
  part of g;
- ``madgrad_paper``: lam_i = lr sqrt(i+1), b_i = (lam_i G^2 + nu_i)^(1/3);
- ``mda``: lam_i = lr sqrt(i+1), b_i = sqrt(i).

The iterate is x_{k+1} = (1 - c_{k+1}) x_k + c_{k+1} z_{k+1}, so z_{k+1} is recovered from two
recorded iterates (c = the recorded ``c`` where the optimizer logs it, else 1 - momentum). The
identities thus test the optimizer's actual z against sums rebuilt from the gradients it received
(recomputed from the iterates; minibatch ones from the recorded seeds).

Also: the convex bound for any averaging c_k (the code's constant momentum included) on the
weighted sum sum_k w_k (f(x_k) - f*), pathwise and in expectation; the closed form in expectation;
MirrorMADGRAD's one-step Lyapunov inequality (docs/theory/madgrad.md#any-averaging, #in-expectation,
#mirror-lyapunov).

Roles: the FTRL identity is a lemma of the analysis (step (ii) of the bound's proof) comparing
two different computations (the optimizer's z against the rebuilt sums): THEOREM. The z-space
form is the update rewritten: IMPLEMENTATION. The potential (convexity) and the bounds: THEOREM.
"""

from __future__ import annotations

import math

import torch

from . import access as A
from .base import Assumption, Example, Provenance, Result, Role, Sides, example, register

F64 = torch.float64
PAPER = "Adaptivity without Compromise: MADGRAD (Defazio & Jelassi, JMLR 2022)"
ARXIV = "2101.11075"
DOC = "docs/theory/madgrad.md"
REF = "docs/references/madgrad.md"


# -- pure functions of sequences (time on dim 0, then [B] or [B, d]) -----------------------------


def dual_weights(lr: torch.Tensor, T: int) -> torch.Tensor:
    """lam_i = lr sqrt(i+1), i = 0..T [T+1, B]."""
    i = torch.arange(T + 1, dtype=F64)[:, None]
    return lr[None, :] * torch.sqrt(i + 1)


def _inverse(b: torch.Tensor) -> torch.Tensor:
    # b = 0 only on coordinates that never moved (eps = 0, no gradient yet): there s = 0 and
    # z = x0, so the weighted norms ||s||^2_{1/b} have no contribution; 1/b is taken as 0.
    return torch.where(b > 0, 1.0 / torch.where(b > 0, b, 1.0), torch.zeros_like(b))


def ftrl_identity(ell: torch.Tensor, z: torch.Tensor, x0: torch.Tensor, u: torch.Tensor, b: torch.Tensor):
    """Both sides of the exact dual-averaging identity for k = 1..T-1, and the size of the terms.

        sum_{i<=k} <l_i, z_i - u> = -<s_{k+1}, u - x0> - 1/2 ||s_{k+1}||^2_{1/b_k} + 1/2 ||l_0||^2_{1/b_1}
                                    + 1/2 sum_{1<=i<=k} ||l_i||^2_{1/b_i} - 1/2 sum_{2<=i<=k} ||s_i||^2_{1/b_{i-1} - 1/b_i}

    ell [T, B, d] (l_i), z [T, B, d] (z_i, i = 0..T-1), b [T+1, B, d] (b_i; 1/b = 0 where b = 0).
    Any positive b, monotone or not. Returns (lhs, rhs, size), each [T, B], row 0 = NaN (the
    identity is stated for k >= 1); ``size`` sums the magnitudes of the terms.
    [DERIVED, docs/theory/madgrad.md#ftrl-identity; docs/references/madgrad.md §5(b)]"""
    T = ell.shape[0]
    binv = _inverse(b)
    s = torch.cat([torch.zeros_like(ell[:1]), torch.cumsum(ell, dim=0)], dim=0)  # s_0..s_T
    lhs_terms = (ell * (z - u)).sum(-1)
    lhs = torch.cumsum(lhs_terms, 0)
    k = torch.arange(T)
    s_next = s[1:]  # s_{k+1}
    lin = -(s_next * (u - x0)).sum(-1)
    quad = -0.5 * (s_next**2 * binv[k]).sum(-1)
    first = 0.5 * (ell[0] ** 2 * binv[1]).sum(-1)
    own = torch.cumsum(torch.where(k[:, None] >= 1, 0.5 * (ell**2 * binv[:T]).sum(-1), torch.zeros_like(lhs)), 0)
    # i = 2..k: ||s_i||^2 weighted by 1/b_{i-1} - 1/b_i, the term for i at row i - 1 of the cumsum.
    drift = torch.zeros_like(lhs)
    if T > 2:
        i = torch.arange(2, T)
        drift[2:] = torch.cumsum((s[i] ** 2 * (binv[i - 1] - binv[i])).sum(-1), 0)
    rhs = lin + quad + first + own - 0.5 * drift
    size = torch.cumsum(lhs_terms.abs() + (ell.abs() * (z.abs() + u.abs())).sum(-1), 0) + lin.abs() - quad + first + own + 0.5 * drift.abs()
    nan = torch.full_like(lhs[:1], math.nan)
    return torch.cat([nan, lhs[1:]]), torch.cat([nan, rhs[1:]]), size


def decaying_l2_residual(z: torch.Tensor, x0: torch.Tensor, g: torch.Tensor, lam: torch.Tensor, b: torch.Tensor):
    """||z_{k+1} - [z_k - lam_k g_k / b_{k+1} - (1 - b_k/b_{k+1}) (z_k - x0)]|| for k = 0..K-1 [K, B],
    and the size of the terms.

    The z-space form of dual averaging: SGD with step lam_k/b_{k+1} plus a pull toward x0 of
    weight 1 - b_k/b_{k+1}. z [K+1, B, d] (z_0..z_K), g [>=K, B, d], lam [>=K, B],
    b [>=K+1, B, d] (b_{k+1} = 0: a coordinate that never moved, no step and no pull).
    [DERIVED, docs/theory/madgrad.md#momentum-form; docs/references/madgrad.md §5(c)]"""
    K = z.shape[0] - 1
    bn = b[1 : K + 1]
    safe = torch.where(bn > 0, bn, 1.0)
    rho = torch.where(bn > 0, b[:K] / safe, torch.ones_like(bn))
    step = torch.where(bn > 0, lam[:K, :, None] * g[:K] / safe, torch.zeros_like(bn))
    pred = z[:-1] - step - (1 - rho) * (z[:-1] - x0)
    res = torch.linalg.vector_norm(z[1:] - pred, dim=-1)
    nz = torch.linalg.vector_norm(z, dim=-1)
    size = nz[1:] + nz[:-1] + torch.linalg.vector_norm(x0, dim=-1) + torch.linalg.vector_norm(step, dim=-1)
    return res, size


def potential_values(S: torch.Tensor, f: torch.Tensor, lam: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """Phi_k = S_k f_k - sum_{i<=k} lam_i inner_i [T, B] (f_k = f(x_k) - f(u), inner_i = <grad f(x_i), z_i - u>)."""
    return S * f - torch.cumsum(lam * inner, 0)


def potential_step(S: torch.Tensor, f: torch.Tensor, lam: torch.Tensor, inner: torch.Tensor):
    """Phi_k <= Phi_{k-1} (Phi_{-1} = 0) written without cancellation: (S_k f_k, S_{k-1} f_{k-1} + lam_k inner_k).

    observed - bound = Phi_k - Phi_{k-1} exactly; where it holds, 0 <= observed <= bound when
    f >= f(u), so observed/bound lies in [0, 1] (the potential itself is <= 0 and can be ~0).
    [DERIVED, docs/theory/madgrad.md#potential; docs/references/madgrad.md §5(a)]"""
    zero = torch.zeros_like(S[:1])
    prev = torch.cat([zero, (S * f)[:-1]])
    return S * f, prev + lam * inner


def observed_bound(dx2: torch.Tensor, d: torch.Tensor, ell: torch.Tensor) -> torch.Tensor:
    """B_k [T, B] = 1/2 sum_j dx2_j d_kj + 1/2 sum_{i<=k} sum_j ell_ij^2 / d_ij (divide by S_k for the bound).

    dx2 [B, d] = (x*_j - x0_j)^2, d [>=T, B, d] the denominators d_0.., ell [T, B, d] = lam_i g_i.
    [DERIVED, docs/theory/madgrad.md#convex-bound; docs/references/madgrad.md §4.3]"""
    T = ell.shape[0]
    return 0.5 * (dx2 * d[:T]).sum(-1) + 0.5 * torch.cumsum((ell**2 / d[:T]).sum(-1), 0)


def ftrl_bound(dx2: torch.Tensor, b: torch.Tensor, ell: torch.Tensor) -> torch.Tensor:
    """B_k [T, B] = 1/2 sum_j dx2_j b_kj + 1/2 ||l_0||^2_{1/b_1} + 1/2 sum_{1<=i<=k} ||l_i||^2_{1/b_i}, row 0 = NaN.

    The consequence of the FTRL identity for non-decreasing b (any positive denominators: b_i = sqrt i
    of MDA, nu_i^(1/3) + eps of the code, d_i of the analysed MADGRAD); dx2 [B, d] = (x*_j - x0_j)^2,
    b [>=T+1, B, d], ell [T, B, d] = lam_i g_i. [DERIVED, docs/theory/madgrad.md#ftrl-identity]"""
    T = ell.shape[0]
    binv = _inverse(b)
    own = (ell**2 * binv[:T]).sum(-1)
    own[0] = (ell[0] ** 2 * binv[1]).sum(-1)
    out = 0.5 * (dx2 * b[:T]).sum(-1) + 0.5 * torch.cumsum(own, 0)
    return torch.cat([torch.full_like(out[:1], math.nan), out[1:]])


def averaged_values(lam: torch.Tensor, c: torch.Tensor, f: torch.Tensor, fmag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sum_{k<=K} w_k f_k [T, B] for x_k = (1 - c_k) x_{k-1} + c_k z_k (c_0 = 1), and the size of its terms.

    w_k = lam_k / c_k - lam_{k+1} (1 - c_{k+1}) / c_{k+1} (k < K), w_K = lam_K / c_K, so that
    sum_k w_k = S_K; the sum is formed as sum_{k<=K} [lam_k f_k / c_k - lam_k (1 - c_k) f_{k-1} / c_k].
    With c_k = lam_k / S_k it telescopes to S_K f_K. lam, c, f, fmag [T, B] (c[0] = 1; fmag the
    magnitude f_k was formed from, for the size of the terms).

    Size (docs/theory/madgrad.md#averaging-roundoff): the sum's own arithmetic on the recorded values,
    sum_{k<=K} (a_k |f_k| + b_k |f_{k-1}|), plus the error of each recorded f_k (relative to fmag_k)
    times its net coefficient in row K: |a_k - b_{k+1}| = |w_k| for k < K, a_K for k = K (the two
    terms holding f_k cancel, to 0 when c_k = lam_k / S_k), and b_0 for f_0 (0 when c_0 = 1).
    [DERIVED, docs/theory/madgrad.md#any-averaging]"""
    a = lam / c
    b = lam * (1 - c) / c

    def prev(v):
        return torch.cat([v[:1], v[:-1]])

    arithmetic = torch.cumsum(a * f.abs() + b * prev(f).abs(), 0)
    net = (a[:-1] - b[1:]).abs() * fmag[:-1]  # f_k's net coefficient once row K > k has added both its terms
    settled = torch.cat([torch.zeros_like(net[:1]), torch.cumsum(net, 0)]) + b[:1] * fmag[:1]
    return torch.cumsum(a * f - b * prev(f), 0), arithmetic + settled + a * fmag


def mirror_lyapunov(f: torch.Tensor, c: torch.Tensor, z: torch.Tensor, u: torch.Tensor, g: torch.Tensor, eta: torch.Tensor):
    """Both sides of MirrorMADGRAD's one-step Lyapunov inequality at k = 0..T-1 [T, B]:

        f_k / c + 1/2 ||z_{k+1} - u||^2_{1/eta_k} <= (1 - c)/c f_{k-1} + 1/2 ||z_k - u||^2_{1/eta_k} + 1/2 ||g_k||^2_{eta_k}

    (f_{-1} = f_0), i.e. f_k + Psi_k <= Psi'_{k-1} + 1/2 ||g_k||^2_{eta_k} with Psi_k = (1-c)/c f_k + 1/2 ||z_{k+1} - u||^2_{1/eta_k}.
    f [T, B] (f(x_k) - f(u)), c [B], z [T+1, B, d] (z_0..z_T), g [T, B, d], eta [T, B, d] the per-coordinate
    steps z_{k+1} = z_k - eta_k g_k (1/eta = 0 where eta = 0: no move, g = 0 there).
    [DERIVED, docs/theory/madgrad.md#mirror-lyapunov]"""
    T = f.shape[0]
    inv = _inverse(eta)
    prev = torch.cat([f[:1], f[:-1]])
    new = 0.5 * ((z[1 : T + 1] - u) ** 2 * inv).sum(-1)
    old = 0.5 * ((z[:T] - u) ** 2 * inv).sum(-1)
    return f / c + new, (1 - c) / c * prev + old + 0.5 * (g**2 * eta).sum(-1)


def closed_form_bound(R, G, dim: int, lam, S):
    """1/2 R^2 G^(2/3) S_k^(-2/3) + 3/4 dim G^(4/3) lam_k S_k^(-1/3) [DERIVED, docs/theory/madgrad.md#convex-bound]."""
    return 0.5 * R**2 * G ** (2 / 3) * S ** (-2 / 3) + 0.75 * dim * G ** (4 / 3) * lam * S ** (-1 / 3)


def tuned_lr(R, G, dim: int, m):
    """gamma* = sqrt(2/3) R^(3/2) / (m^(3/4) dim^(3/4) G^(1/2)) for the horizon m = k+1."""
    return math.sqrt(2 / 3) * R**1.5 / (m**0.75 * dim**0.75 * G**0.5)


def tuned_rate(R, G, dim: int, m):
    """3/2 R G sqrt(dim) / sqrt(m): the closed form at gamma*(m), row k = m - 1."""
    return 1.5 * R * G * math.sqrt(dim) / m**0.5


# -- trace layer -----------------------------------------------------------------------------------



def effective_grads(trace, problem) -> torch.Tensor:
    """The gradients the method accumulated [T, B, d]: with coupled weight decay, g + wd x."""
    g = A.received_grads(trace, problem)
    wd = A.hp_or(trace, "weight_decay", 0.0)
    if bool((wd != 0).any()):
        decoupled = A.hp_or(trace, "decouple_decay", 0.0) != 0
        x = A.iterates(trace)[: A.steps(trace)]
        g = torch.where(decoupled[None, :, None], g, g + wd[None, :, None] * x)
    return g


def weights_of(trace) -> torch.Tensor:
    """lam_i, i = 0..T [T+1, B], from the hyper-parameters (``madgrad``: the code's lr + eps, lr > 0)."""
    lr = A.hp(trace, "lr")
    if A.optimizer(trace) == "madgrad":
        lr = torch.where(lr != 0, lr + A.hp(trace, "eps"), lr)
    return dual_weights(lr, A.steps(trace))


def denominators(trace, g: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """b_0..b_T [T+1, B, d] of the method that produced the trace (module docstring)."""
    T, B, d = g.shape
    nu = torch.cat([torch.zeros_like(g[:1]), torch.cumsum(lam[:T, :, None] * g * g, 0)], 0)
    name = A.optimizer(trace)
    if name == "madgrad":
        return nu.pow(1 / 3) + A.hp(trace, "eps")[None, :, None]
    if name == "madgrad_paper":
        return (lam[:, :, None] * A.hp(trace, "G")[None, :, None] ** 2 + nu).pow(1 / 3)
    i = torch.arange(T + 1, dtype=F64)[:, None, None]
    return torch.sqrt(i).expand(T + 1, B, d)


def averaging_c(trace) -> torch.Tensor:
    """c_{k+1} for k = 0..T-1 [T, B]: the recorded ``c`` where logged, else 1 - momentum."""
    if "c" in trace:
        return A.col(trace, "c")
    return (1 - A.hp(trace, "momentum")).expand(A.steps(trace), -1)


def dual_iterates(trace) -> torch.Tensor:
    """z_0..z_T [T+1, B, d] recovered from x_{k+1} = (1 - c_{k+1}) x_k + c_{k+1} z_{k+1}."""
    x = A.iterates(trace)
    c = averaging_c(trace)[..., None]
    return torch.cat([x[:1], (x[1:] - (1 - c) * x[:-1]) / c], dim=0)


def recovery_size(trace) -> torch.Tensor:
    """Round-off scale of z_0..z_T as recovered [T+1, B]: 0 for z_0 = x_0, (||x_{k+1}|| + ||x_k||)/c_{k+1}
    for z_{k+1} (the optimizer rounded x_{k+1}; dividing by c_{k+1} magnifies it)."""
    nx = torch.linalg.vector_norm(A.iterates(trace), dim=-1)
    return torch.cat([torch.zeros_like(nx[:1]), (nx[1:] + nx[:-1]) / averaging_c(trace)])


def _x_star(problem) -> torch.Tensor:
    return torch.as_tensor(problem.x_star, dtype=F64)


# -- assumptions --------------------------------------------------------------------------------------


def _runs(trace, value: bool) -> torch.Tensor:
    return torch.full((trace.batch,), bool(value))


NO_DECOUPLED_DECAY = Assumption(
    "decouple_decay = 0 or weight_decay = 0",  # decoupled decay shrinks x outside the dual sums: no dual-averaging form
    lambda tr, pb: (A.hp_or(tr, "decouple_decay", 0.0) == 0) | (A.hp_or(tr, "weight_decay", 0.0) == 0),
)
LAMBDA_AVERAGING = Assumption(
    "averaging = 'lambda'",  # x_k = S_k^-1 sum lam_i z_i: the potential's telescoping needs c_k = lam_k/S_k
    lambda tr, pb: _runs(tr, A.option(tr, "averaging", None) == "lambda"),
)
CONSTANT_AVERAGING = Assumption(
    "constant c (averaging = 'constant')",  # madgrad (code) has no other; lambda-weighted: the observed_bound results
    lambda tr, pb: _runs(tr, A.option(tr, "averaging", "constant") == "constant"),
)
NO_WEIGHT_DECAY = Assumption("weight_decay = 0", lambda tr, pb: A.hp_or(tr, "weight_decay", 0.0) == 0)
POSITIVE_DENOMINATORS = Assumption(
    "eps > 0 (positive, non-decreasing denominators)",  # eps = 0: b = 0 until a coordinate's first gradient
    lambda tr, pb: A.hp_or(tr, "eps", 1.0) > 0,
)
G_BOUNDS_RECEIVED = Assumption(
    "G >= max_{k,j} |g_kj| of the sampled gradients along the run",
    lambda tr, pb: A.hp(tr, "G") >= A.received_grads(tr, pb).abs().amax(dim=-1).amax(dim=0),
)
G_BOUNDS_COORDINATES = Assumption(
    "G >= max_{k,j} |g_kj| along the run",
    lambda tr, pb: A.hp(tr, "G") >= A.grads(tr, pb).abs().amax(dim=-1).amax(dim=0),
)


# -- sides (one call per result: both sides, scale, terms) ------------------------------------------


def _sides(obs, bnd, scale, terms, undefined="") -> Sides:
    """Sides with rows whose terms overflowed (scale = inf: x_{k+1} blew up before the run is
    flagged diverged at row k + 1) set to NaN: an overflowed term carries no information."""
    ok = scale.isfinite()
    return Sides(A.unchecked_where(ok, obs), A.unchecked_where(ok, bnd), scale=scale, terms=terms, undefined=undefined)


def ftrl_sides(trace, problem) -> Sides:
    """The FTRL identity with u = x*, z from the optimizer's iterates, s and b rebuilt."""
    T = A.steps(trace)
    g = effective_grads(trace, problem)
    lam = weights_of(trace)
    ell = lam[:T, :, None] * g
    lhs, rhs, size = ftrl_identity(ell, dual_iterates(trace)[:T], A.iterates(trace)[:1], _x_star(problem), denominators(trace, g, lam))
    # Each <l_i, z_i - x*> carries the recovery round-off of z_i.
    size = size + torch.cumsum(torch.linalg.vector_norm(ell, dim=-1) * recovery_size(trace)[:T], 0)
    return _sides(lhs, rhs, size, A.step_index(trace) + 1, "the identity is stated for k >= 1")


def l2_form(trace, problem) -> Sides:
    """(||residual of the z-space form||, 0) at rows k = 0..T-1.

    ``terms`` = k + 1: z_k encodes the optimizer's running sums s and nu (k + 1 rounded terms in
    the run's dtype) while b is rebuilt here, so their accumulated round-off shows in the residual."""
    T = A.steps(trace)
    g = effective_grads(trace, problem)
    lam = weights_of(trace)
    rec = recovery_size(trace)
    res, size = decaying_l2_residual(dual_iterates(trace), A.iterates(trace)[:1], g, lam, denominators(trace, g, lam))
    return _sides(res, torch.zeros(T, trace.batch, dtype=F64), size + rec[1:] + rec[:-1], A.step_index(trace) + 1)


def _potential_parts(trace, problem):
    """(S, f, lam, inner, g, z) at rows 0..T-1 with u = x*, full gradients."""
    T = A.steps(trace)
    lam = weights_of(trace)[:T]
    g = A.grads(trace, problem)
    z = dual_iterates(trace)[:T]
    inner = (g * (z - _x_star(problem))).sum(-1)
    return torch.cumsum(lam, 0), A.col(trace, "subopt"), lam, inner, g, z


def potential(trace, problem) -> torch.Tensor:
    """Phi_k = S_k (f(x_k) - f*) - sum_{i<=k} lam_i <grad f(x_i), z_i - x*> [T, B] (full gradients)."""
    S, f, lam, inner, _, _ = _potential_parts(trace, problem)
    return potential_values(S, f, lam, inner)


def potential_sides(trace, problem) -> Sides:
    """Phi_k <= Phi_{k-1} as S_k f_k <= S_{k-1} f_{k-1} + lam_k <grad f(x_k), z_k - x*>.

    NaN on runs without lambda-weighted averaging: Phi weighs f(x_k) by S_k because x_k is then
    S_k^-1 sum lam_i z_i; for another average it is not the iterate's potential (and its ratio is
    meaningless). ``terms`` = k + 1: the optimizer's c_k = lam_k/S_k divides by its own running
    sum S_k (k + 1 rounded terms), while S_k is rebuilt here."""
    S, f, lam, inner, g, z = _potential_parts(trace, problem)
    obs, bnd = potential_step(S, f, lam, inner)
    averaged = LAMBDA_AVERAGING.test(trace, problem)[None, :]
    obs, bnd = A.unchecked_where(averaged, obs), A.unchecked_where(averaged, bnd)
    fmag = A.subopt_magnitude(trace, problem)[: f.shape[0]]
    Sf = S * fmag
    reach = torch.linalg.vector_norm(z, dim=-1) + A.x_star_norm(problem) + recovery_size(trace)[: f.shape[0]]
    scale = Sf + torch.cat([torch.zeros_like(Sf[:1]), Sf[:-1]]) + lam * torch.linalg.vector_norm(g, dim=-1) * reach
    return _sides(obs, bnd, scale, A.step_index(trace) + 1, "needs averaging = 'lambda'")


def weighted_sides_from(trace, problem, bound: torch.Tensor, ell_norm: torch.Tensor) -> Sides:
    """(sum_{k<=K} w_k (f(x_k) - f*)) / S_K against ``bound`` (= B_K / S_K [T, B]) for the run's own c_k.

    f: the full objective at the iterates; ``ell_norm`` [T, B] = lam_k ||g_k||. ``terms`` = K + 1
    (cumulative sums). The scale adds lam_k ||g_k|| (||x_k|| + ||x_{k-1}||) / c_k: the proof uses
    x_k = (1 - c_k) x_{k-1} + c_k z_k, which the optimizer's rounded iterates satisfy up to that."""
    T = A.steps(trace)
    lam = weights_of(trace)[:T]
    c = torch.cat([torch.ones_like(lam[:1]), averaging_c(trace)[: T - 1]])
    obs, size = averaged_values(lam, c, A.col(trace, "subopt"), A.subopt_magnitude(trace, problem)[:T])
    nx = A.dist_magnitude(trace, problem)[:T]
    size = size + torch.cumsum(ell_norm * (nx + torch.cat([nx[:1], nx[:-1]])) / c, 0)
    S = torch.cumsum(lam, 0)
    return _sides(obs / S, bound, size / S, A.step_index(trace) + 1, "the bound is stated for K >= 1")


def weighted_sides(trace, problem) -> Sides:
    """``weighted_sides_from`` with B_K of the method's per-coordinate denominators, built from the
    gradients it received (minibatch ones under a stochastic oracle)."""
    T = A.steps(trace)
    lam = weights_of(trace)
    g = A.received_grads(trace, problem)
    ell = lam[:T, :, None] * g
    dx2 = (_x_star(problem) - A.x0(trace)) ** 2
    bnd = ftrl_bound(dx2, denominators(trace, g, lam), ell) / torch.cumsum(lam[:T], 0)
    return weighted_sides_from(trace, problem, bnd, torch.linalg.vector_norm(ell, dim=-1))


def mirror_steps(trace, g: torch.Tensor) -> torch.Tensor:
    """eta_k [T, B, d] of MirrorMADGRAD: lr' (k+1)^(1/3) / (v_{k+1}^(1/3) + eps), v_{k+1} = (k+1)^(-1/2)
    sum_{i<=k} sqrt(i+1) g_i^2 (0 where the denominator is 0: the code does not move there)."""
    T = g.shape[0]
    k = torch.arange(T, dtype=F64)[:, None, None]
    v = torch.cumsum((k + 1).sqrt() * g * g, 0) / (k + 1).sqrt()
    lr, eps = A.hp(trace, "lr"), A.hp(trace, "eps")
    lr = torch.where(lr != 0, lr + eps, lr)[None, :, None]
    den = v.pow(1 / 3) + eps[None, :, None]
    return torch.where(den > 0, lr * (k + 1).pow(1 / 3) / torch.where(den > 0, den, 1.0), torch.zeros_like(den))


def mirror_sides(trace, problem) -> Sides:
    """MirrorMADGRAD's one-step Lyapunov inequality with u = x*, z recovered from the iterates, eta rebuilt
    from the gradients the run received (minibatch ones under a stochastic oracle).

    ``terms`` = k + 1: eta_k is rebuilt from a sum over k + 1 squared gradients the optimizer also
    accumulated in the run's dtype; the scale adds the recovery round-off of z inside the weighted norms."""
    T = A.steps(trace)
    g = A.received_grads(trace, problem)
    eta = mirror_steps(trace, g)
    z = dual_iterates(trace)
    xs = _x_star(problem)
    c = 1 - A.hp(trace, "momentum")
    obs, bnd = mirror_lyapunov(A.col(trace, "subopt"), c, z, xs, g, eta)
    fmag = A.subopt_magnitude(trace, problem)[:T]
    rec = recovery_size(trace)[:, :, None]
    inv = _inverse(eta)
    spread = 0.5 * (((z[1 : T + 1] - xs).abs() + rec[1 : T + 1]) ** 2 * inv).sum(-1) + 0.5 * (((z[:T] - xs).abs() + rec[:T]) ** 2 * inv).sum(-1)
    scale = fmag / c + (1 - c) / c * torch.cat([fmag[:1], fmag[:-1]]) + spread
    return _sides(obs, bnd, scale, A.step_index(trace) + 1)


def _bound_scale(trace, problem):
    """Magnitude of f(x_k) - f* and rows' terms: x_k averages k + 1 rounded dual points."""
    return A.subopt_magnitude(trace, problem)[: A.steps(trace)], A.step_index(trace) + 1


def _observed_sides(trace, problem) -> Sides:
    T = A.steps(trace)
    g = A.grads(trace, problem)
    lam = weights_of(trace)
    dx2 = (_x_star(problem) - A.iterates(trace)[0]) ** 2
    bnd = observed_bound(dx2, denominators(trace, g, lam), lam[:T, :, None] * g) / torch.cumsum(lam[:T], 0)
    scale, terms = _bound_scale(trace, problem)
    return Sides(A.col(trace, "subopt"), bnd, scale=scale, terms=terms)


def _closed_sides(trace, problem) -> Sides:
    lam = weights_of(trace)[: A.steps(trace)]
    bnd = closed_form_bound(A.D(trace), A.hp(trace, "G"), problem.d, lam, torch.cumsum(lam, 0))
    scale, terms = _bound_scale(trace, problem)
    return Sides(A.col(trace, "subopt"), bnd, scale=scale, terms=terms)


def _tuned_sides(trace, problem) -> Sides:
    """The tuned rate at the row k = m - 1 whose horizon m the run's lr is gamma*(m) for, NaN elsewhere.

    lr and R carry the run's rounding (R is a norm over d entries, raised to 3/2): lr is matched to
    gamma*(m) within 64 u. At a relative offset delta from gamma* the closed form exceeds its
    minimum by O(delta^2), far inside the slack of sum_{i<=m} sqrt(i) >= 2/3 m^(3/2) used in the
    proof, and neighbouring horizons differ by 3/(4m) >> 64 u (m < 10^5)."""
    R, G = A.D(trace), A.hp(trace, "G")
    m = A.step_index(trace) + 1
    gstar = tuned_lr(R, G, problem.d, m)
    at = (A.hp(trace, "lr") - gstar).abs() <= 64 * A.unit_roundoff(trace) * gstar
    scale, terms = _bound_scale(trace, problem)
    return Sides(A.col(trace, "subopt"), A.unchecked_where(at, tuned_rate(R, G, problem.d, m)), scale=scale, terms=terms,
                 undefined="lr is gamma*(m) for no horizon m <= T")


# -- results --------------------------------------------------------------------------------------


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    return register(Result(key=f"madgrad.{key}", provenance=Provenance.DERIVED, **kw))


BOTH = ("madgrad", "madgrad_paper")
BOUND_ASSUMPTIONS = (LAMBDA_AVERAGING, G_BOUNDS_COORDINATES)

_R(
    "ftrl_identity", title="Exact dual-averaging (FTRL) identity, any denominators",
    source=f"{DOC}#ftrl-identity ({REF} §5(b))", optimizers=BOTH, kind="identity", iterate="none", oracle="any",
    statement="k >= 1: sum_{i<=k} <l_i, z_i - x*> = -<s_{k+1}, x* - x0> - ||s_{k+1}||^2_{1/b_k}/2 + ||l_0||^2_{1/b_1}/2 "
              "+ sum_{1<=i<=k} ||l_i||^2_{1/b_i}/2 - sum_{2<=i<=k} ||s_i||^2_{1/b_{i-1}-1/b_i}/2,  l_i = lam_i g_i",
    sides=ftrl_sides, assumptions=(NO_DECOUPLED_DECAY,),
    notes="A lemma of the bound's proof (step ii): the optimizer's z (from its iterates) against the sums rebuilt "
          "from the gradients. eps, the lr + eps quirk and coupled weight decay are modelled (any weights, any b > 0).",
)
_R(
    "decaying_l2_form", title="MADGRAD is SGD in z with a decaying L2 pull toward x0 (momentum form)",
    source=f"{DOC}#momentum-form ({REF} §5(c))", optimizers=BOTH, kind="identity", iterate="none", oracle="any",
    role=Role.IMPLEMENTATION, sides=l2_form, assumptions=(NO_DECOUPLED_DECAY,),
    statement="z_{k+1} = z_k - lam_k g_k / b_{k+1} - (1 - b_k/b_{k+1}) (z_k - x0)  (residual norm = 0)",
    notes="The update rewritten: true by construction.",
)
_R(
    "primal_averaging_potential", title="Quasi-monotone (primal-averaging) potential is non-increasing",
    source=f"{DOC}#potential ({REF} §5(a))", optimizers=("madgrad_paper",), kind="lyapunov",
    iterate="weighted_average", oracle="deterministic", requires=frozenset({"convex"}), sides=potential_sides,
    assumptions=(LAMBDA_AVERAGING,),
    statement="Phi_k = S_k (f(x_k) - f*) - sum_{i<=k} lam_i <grad f(x_i), z_i - x*> is non-increasing, Phi_{-1} = 0; "
              "checked as S_k (f(x_k) - f*) <= S_{k-1} (f(x_{k-1}) - f*) + lam_k <grad f(x_k), z_k - x*>",
)
_R(
    "observed_bound", title="Pathwise convex bound B_k/S_k of the analysed MADGRAD",
    source=f"{DOC}#convex-bound ({REF} §4.3)", optimizers=("madgrad_paper",), iterate="weighted_average",
    requires=frozenset({"convex"}), sides=_observed_sides, assumptions=BOUND_ASSUMPTIONS,
    statement="f(x_k) - f* <= [1/2 sum_j (x*_j - x0_j)^2 d_kj + 1/2 sum_{i<=k} sum_j lam_i^2 g_ij^2/d_ij] / S_k",
    notes="x_k is the lambda-weighted average of z_0..z_k (the optimizer's own iterate).",
)
_R(
    "closed_form_bound", title="Closed-form convex bound of the analysed MADGRAD",
    source=f"{DOC}#convex-bound ({REF} §4.3)", optimizers=("madgrad_paper",), iterate="weighted_average",
    requires=frozenset({"convex"}), sides=_closed_sides, assumptions=BOUND_ASSUMPTIONS,
    statement="f(x_k) - f* <= 1/2 R^2 G^(2/3) S_k^(-2/3) + 3/4 dim G^(4/3) lam_k S_k^(-1/3)",
)
_R(
    "tuned_rate", title="With the tuned gamma*: f(x_k) - f* <= 3/2 R G sqrt(dim) / sqrt(k+1)",
    source=f"{DOC}#convex-bound ({REF} §4.3)", optimizers=("madgrad_paper",), iterate="weighted_average",
    requires=frozenset({"convex"}), sides=_tuned_sides, assumptions=BOUND_ASSUMPTIONS,
    statement="lr = gamma*(k+1) = sqrt(2/3) R^(3/2)/((k+1)^(3/4) dim^(3/4) G^(1/2)): f(x_k) - f* <= 3/2 R G sqrt(dim)/sqrt(k+1)",
    notes="Checked only at the row k whose horizon the run's lr was tuned for (NaN elsewhere).",
)

_WEIGHTED = ("K >= 1: sum_{k<=K} w_k (f(x_k) - f*) / S_K <= [1/2 sum_j (x*_j - x0_j)^2 b_Kj + 1/2 ||l_0||^2_{1/b_1} "
             "+ 1/2 sum_{1<=i<=K} ||l_i||^2_{1/b_i}] / S_K, w_k = lam_k/c_k - lam_{k+1}(1-c_{k+1})/c_{k+1} (k < K), "
             "w_K = lam_K/c_K, sum_k w_k = S_K")
WEIGHTED_ASSUMPTIONS = (NO_WEIGHT_DECAY, POSITIVE_DENOMINATORS)
_R(
    "momentum_bound", title="Convex bound of MADGRAD with constant momentum (the practical form): weighted iterates",
    source=f"{DOC}#any-averaging", optimizers=BOTH, iterate="weighted_average", requires=frozenset({"convex"}),
    sides=weighted_sides, assumptions=WEIGHTED_ASSUMPTIONS + (CONSTANT_AVERAGING,), statement=_WEIGHTED,
    notes="c = 1 - momentum; the weights w_k of the early iterates are negative when c is small (f(x_0) enters "
          "the bound, as in momentum methods). lambda-weighted averaging: madgrad.observed_bound.",
)
_R(
    "momentum_bound_expected", title="Convex bound of MADGRAD, any averaging, stochastic gradients, in expectation",
    source=f"{DOC}#in-expectation", optimizers=BOTH, iterate="weighted_average", requires=frozenset({"convex"}),
    oracle="stochastic", in_expectation=True, sides=weighted_sides, assumptions=WEIGHTED_ASSUMPTIONS,
    statement="E[sum_k w_k (f(x_k) - f*)] / S_K <= E[B_K] / S_K, B_K of madgrad.momentum_bound with the sampled "
              "gradients (lambda-weighted averaging: E[f(x_K) - f*] <= E[B_K] / S_K)",
)
_R(
    "closed_form_expected", title="Closed-form convex bound of the analysed MADGRAD, stochastic gradients, in expectation",
    source=f"{DOC}#in-expectation", optimizers=("madgrad_paper",), iterate="weighted_average",
    requires=frozenset({"convex"}), oracle="stochastic", in_expectation=True, sides=_closed_sides,
    assumptions=(LAMBDA_AVERAGING, G_BOUNDS_RECEIVED),
    statement="E[f(x_k) - f*] <= 1/2 R^2 G^(2/3) S_k^(-2/3) + 3/4 dim G^(4/3) lam_k S_k^(-1/3), |g_kj| <= G for "
              "every sampled gradient",
)
_R(
    "mirror_lyapunov", title="MirrorMADGRAD: one-step Lyapunov inequality (primal averaging + per-coordinate mirror step)",
    source=f"{DOC}#mirror-lyapunov", optimizers=("mirror_madgrad",), kind="lyapunov", iterate="none",
    requires=frozenset({"convex"}), sides=mirror_sides, assumptions=(NO_WEIGHT_DECAY,),
    statement="f_k + Psi_k <= Psi'_{k-1} + 1/2 sum_j eta_kj g_kj^2, Psi_k = (1-c)/c f_k + 1/2 sum_j (z_{k+1,j} - x*_j)^2/eta_kj, "
              "Psi'_{k-1} = (1-c)/c f_{k-1} + 1/2 sum_j (z_kj - x*_j)^2/eta_kj (f_{-1} = f_0), f_k = f(x_k) - f*, "
              "eta_kj = lr' (k+1)^(1/3) / (v_{k+1,j}^(1/3) + eps)",
    notes="Psi'_{k-1} weighs z_k with the new steps eta_k: the metric changes every step, so this is a per-step "
          "inequality, not a telescoping potential (no rate follows without a bound on the metric drift).",
)
_R(
    "mirror_lyapunov_expected", title="MirrorMADGRAD: one-step Lyapunov inequality, stochastic gradients, in expectation",
    source=f"{DOC}#mirror-lyapunov", optimizers=("mirror_madgrad",), kind="lyapunov", iterate="none",
    requires=frozenset({"convex"}), oracle="stochastic", in_expectation=True, sides=mirror_sides,
    assumptions=(NO_WEIGHT_DECAY,),
    statement="E[f_k + Psi_k] <= E[Psi'_{k-1} + 1/2 sum_j eta_kj g_kj^2] with the sampled g_k (eta_k built from them), "
              "f_k = f(x_k) - f* of the full objective",
)


def seed_groups(*values, size: int = 8) -> torch.Tensor:
    """Per-run values, each repeated for ``size`` seeds (one group per value for checks in expectation)."""
    return torch.tensor([v for v in values for _ in range(size)], dtype=F64)


# -- examples (tests/theory/test_every_result.py runs each in float64 and float32) --------------------

example(Example(("madgrad.ftrl_identity", "madgrad.decaying_l2_form"), "l1_distance", "madgrad",
                hp={"lr": torch.tensor([1e-2, 0.1, 1.0, 0.1], dtype=F64), "momentum": torch.tensor([0.9, 0.9, 0.5, 0.0], dtype=F64),
                    "eps": torch.tensor([1e-6, 1e-6, 1e-6, 1e-2], dtype=F64), "weight_decay": torch.tensor([0.0, 1e-2, 0.0, 0.0], dtype=F64)},
                T=100, runs=4))
example(Example(("madgrad.ftrl_identity", "madgrad.decaying_l2_form"), "logistic", "madgrad",
                hp={"lr": torch.tensor([1e-2, 0.1, 1e-2, 0.1, 1e-2, 0.1, 1e-2, 0.1], dtype=F64), "momentum": 0.9},
                T=60, runs=8, batch_size=16))
example(Example(("madgrad.ftrl_identity", "madgrad.decaying_l2_form", "madgrad.primal_averaging_potential",
                 "madgrad.observed_bound", "madgrad.closed_form_bound"), "l1_distance", "madgrad_paper",
                hp=lambda pb, D: {"lr": torch.tensor([1e-2, 0.1, 1.0, 10.0], dtype=F64), "G": float(pb.G)}, T=150, runs=4))
# G from the problem's Lipschitz constant (it bounds every coordinate), and gamma* from each run's own R and G:
# a falsify search on another instance then starts from a G and a gamma* of that instance.
example(Example(("madgrad.tuned_rate",), "l1_distance", "madgrad_paper",
                hp=lambda pb, D: {"G": float(pb.G) * torch.tensor([1.0, 1.5, 2.5, 5.0], dtype=F64)},
                derived=lambda pb, D, hp: {"lr": tuned_lr(D, hp["G"], pb.d, 150)}, T=150, runs=4))
example(Example(("madgrad.tuned_rate",), "l1_distance", "madgrad_paper",  # a short horizon: row 1 is checked
                hp=lambda pb, D: {"G": float(pb.G) * torch.tensor([1.0, 1.5, 2.5, 5.0], dtype=F64)},
                derived=lambda pb, D, hp: {"lr": tuned_lr(D, hp["G"], pb.d, 2)}, T=8, runs=4))
example(Example(("madgrad.momentum_bound",), "l1_distance", "madgrad",
                hp={"lr": torch.tensor([1e-2, 0.1, 1.0, 0.1], dtype=F64), "momentum": torch.tensor([0.9, 0.9, 0.5, 0.0], dtype=F64),
                    "eps": torch.tensor([1e-6, 1e-6, 1e-6, 1e-2], dtype=F64)}, T=100, runs=4))
example(Example(("madgrad.momentum_bound",), "max_affine", "madgrad_paper", options={"averaging": "constant"},
                hp={"lr": torch.tensor([1e-2, 0.1, 1.0, 0.1], dtype=F64), "momentum": torch.tensor([0.9, 0.9, 0.5, 0.0], dtype=F64), "G": 2.0},
                T=100, runs=4))
example(Example(("madgrad.momentum_bound_expected",), "lad", "madgrad",
                hp={"lr": seed_groups(0.01, 0.1), "momentum": 0.9}, T=60, runs=16, batch_size=4))
# G = max |A_ij| bounds every coordinate of a sampled LAD gradient (1/b) sum_i sign(r_i) a_i
example(Example(("madgrad.momentum_bound_expected",), "lad", "madgrad_paper",
                hp=lambda pb, D: {"lr": seed_groups(0.01, 0.1), "G": float(abs(pb.A).max())}, T=60, runs=16, batch_size=4))
# The closed form's bound depends on R, G and lr only: 4 seeds per lr and 30 steps suffice (a falsify candidate
# costs T x seeds runs; on the tight 1-D instances the worst row is near k = 12, docs/falsify.md#madgrad-planted).
example(Example(("madgrad.closed_form_expected",), "lad", "madgrad_paper",
                hp=lambda pb, D: {"lr": seed_groups(0.01, 0.1, size=4), "G": float(abs(pb.A).max())}, T=30, runs=8, batch_size=4))
example(Example(("madgrad.mirror_lyapunov",), "l1_distance", "mirror_madgrad",
                hp={"lr": torch.tensor([1e-2, 0.1, 1.0, 0.1], dtype=F64), "momentum": torch.tensor([0.9, 0.9, 0.5, 0.0], dtype=F64)}, T=100, runs=4))
example(Example(("madgrad.mirror_lyapunov",), "huber", "mirror_madgrad",
                hp={"lr": torch.tensor([1e-2, 0.1, 1.0, 0.1], dtype=F64), "momentum": 0.9, "eps": 1e-8}, T=100, runs=4))
example(Example(("madgrad.mirror_lyapunov_expected",), "lad", "mirror_madgrad",
                hp={"lr": seed_groups(0.01, 0.1), "momentum": 0.9}, T=60, runs=16, batch_size=4))
