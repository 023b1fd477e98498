"""MADGRAD (Defazio & Jelassi, arXiv 2101.11075): dual-averaging identity, primal-averaging
potential, momentum form and the derived convex bound.

The paper's theorem (its constant 6, its c_k) is [UNVERIFIED] (reference/madgrad.md §4.2) and
not asserted. Everything asserted is [DERIVED] in docs/theory/madgrad.md. The machinery is
shared with MDA (theory/mda.py), which is the same dual averaging with b_i = sqrt(i).

Notation. lam_i the dual weights, s^(i) = sum_{l<i} lam_l g_l, z_0 = x_0 and z_i = x_0 - s^(i)/b_i
(i >= 1) with per-coordinate denominators b_i:

- ``madgrad`` (authors' code): lam_i = lr' sqrt(i+1) with lr' = lr + eps, b_i = nu_i^(1/3) + eps,
  nu_i = sum_{l<i} lam_l g_l^2 (b_0 = eps);
- ``madgrad_paper``: lam_i = lr sqrt(i+1), b_i = (lam_i G^2 + nu_i)^(1/3);
- ``mda``: lam_i = lr sqrt(i+1), b_i = sqrt(i).

The iterate is x_{k+1} = (1 - c_{k+1}) x_k + c_{k+1} z_{k+1}, so z_{k+1} is recovered from two
recorded iterates; c = 1 - momentum, or the recorded ``c`` (= c_{k+1}) where the optimizer logs it.
Every identity below thus tests the optimizer's actual z against sums rebuilt from the
gradients (recomputed from the iterates; minibatch ones from the recorded seeds).
"""

from __future__ import annotations

import math

import torch

from .base import per_trace, Provenance, Result, register
from .momo import F64, all_runs, col, grads, hp, iterates, nan_where, steps

PAPER = "Adaptivity without Compromise: MADGRAD (Defazio & Jelassi, JMLR 2022)"
ARXIV = "2101.11075"
DOC = "docs/theory/madgrad.md"


# ---------------------------------------------------------------------------------------------
# Pure layer: time on dim 0, then [B, d].
# ---------------------------------------------------------------------------------------------


def dual_weights(lr: torch.Tensor, T: int) -> torch.Tensor:
    """lam_i = lr sqrt(i+1), i = 0..T [T+1, B]."""
    i = torch.arange(T + 1, dtype=F64)[:, None]
    return lr[None, :] * torch.sqrt(i + 1)


def dual_sums(lam: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """s^(i) = sum_{l<i} lam_l g_l for i = 0..T [T+1, B, d] (lam [>=T, B], g [T, B, d])."""
    T = g.shape[0]
    inc = lam[:T, :, None] * g
    return torch.cat([torch.zeros_like(inc[:1]), torch.cumsum(inc, dim=0)], dim=0)


def ftrl_identity(ell: torch.Tensor, z: torch.Tensor, x0: torch.Tensor, u: torch.Tensor, b: torch.Tensor):
    """Both sides of the exact dual-averaging identity for k = 1..T-1, and the size of the terms.

        sum_{i<=k} <l_i, z_i - u> = -<s_{k+1}, u - x0> - 1/2 ||s_{k+1}||^2_{1/b_k} + 1/2 ||l_0||^2_{1/b_1}
                                    + 1/2 sum_{1<=i<=k} ||l_i||^2_{1/b_i} - 1/2 sum_{2<=i<=k} ||s_i||^2_{1/b_{i-1} - 1/b_i}

    ell [T, B, d] (l_i), z [T, B, d] (z_i, i = 0..T-1), b [T+1, B, d] (b_i; zero entries are
    coordinates that never moved: 1/b is taken as 0 there). Any positive b, monotone or not.
    Returns (lhs, rhs, size), each [T, B] with row 0 = NaN. [DERIVED, madgrad.md §5(b)]."""
    T = ell.shape[0]
    binv = torch.where(b > 0, 1.0 / torch.where(b > 0, b, 1.0), torch.zeros_like(b))
    s = torch.cat([torch.zeros_like(ell[:1]), torch.cumsum(ell, dim=0)], dim=0)  # s_0..s_T
    lhs_terms = (ell * (z - u)).sum(-1)
    lhs = torch.cumsum(lhs_terms, 0)
    k = torch.arange(T)
    s_next = s[1:]  # s_{k+1}
    lin = -(s_next * (u - x0)).sum(-1)
    quad = -0.5 * (s_next**2 * binv[k]).sum(-1)
    first = 0.5 * (ell[0] ** 2 * binv[1]).sum(-1)
    own = torch.where(k[:, None] >= 1, 0.5 * (ell**2 * binv[:T]).sum(-1), torch.zeros_like(lhs))
    own = torch.cumsum(own, 0)
    # i = 2..k: ||s_i||^2 weighted by 1/b_{i-1} - 1/b_i, indexed by i as row i-1 of the cumsum.
    drift = torch.zeros_like(lhs)
    if T > 2:
        i = torch.arange(2, T)
        terms = (s[i] ** 2 * (binv[i - 1] - binv[i])).sum(-1)
        drift[2:] = torch.cumsum(terms, 0)
    rhs = lin + quad + first + own - 0.5 * drift
    size = torch.cumsum(lhs_terms.abs() + (ell.abs() * (z.abs() + u.abs())).sum(-1), 0) + lin.abs() - quad + first + own + 0.5 * drift.abs()
    nan = torch.full_like(lhs[:1], math.nan)
    return torch.cat([nan, lhs[1:]]), torch.cat([nan, rhs[1:]]), size


def decaying_l2_residual(z: torch.Tensor, x0: torch.Tensor, g: torch.Tensor, lam: torch.Tensor, b: torch.Tensor):
    """||z_{k+1} - [z_k - lam_k g_k / b_{k+1} - (1 - b_k/b_{k+1}) (z_k - x0)]|| [T-1, B] and the size of the terms.

    The z-space form of dual averaging: SGD with step lam_k/b_{k+1} plus a pull toward x0 of
    weight 1 - b_k/b_{k+1} (madgrad.md §5(c), mda.md §2). z [T, B, d] (z_0..z_{T-1}),
    g [T, B, d], lam [T, B], b [T+1, B, d]. [DERIVED]."""
    T = z.shape[0]
    bn = b[1:T]
    safe = torch.where(bn > 0, bn, 1.0)
    rho = torch.where(bn > 0, b[: T - 1] / safe, torch.ones_like(bn))
    step = torch.where(bn > 0, lam[: T - 1, :, None] * g[: T - 1] / safe, torch.zeros_like(bn))
    pred = z[:-1] - step - (1 - rho) * (z[:-1] - x0)
    res = torch.linalg.vector_norm(z[1:] - pred, dim=-1)
    size = torch.linalg.vector_norm(z[1:], dim=-1) + torch.linalg.vector_norm(z[:-1], dim=-1) + torch.linalg.vector_norm(x0, dim=-1) + torch.linalg.vector_norm(step, dim=-1)
    return res, size


def closed_form_bound(R, G, dim: int, lam, S):
    """1/2 R^2 G^(2/3) S_k^(-2/3) + 3/4 dim G^(4/3) lam_k S_k^(-1/3) [DERIVED, madgrad.md §4.3]."""
    return 0.5 * R**2 * G ** (2 / 3) * S ** (-2 / 3) + 0.75 * dim * G ** (4 / 3) * lam * S ** (-1 / 3)


def tuned_lr(R, G, dim: int, m):
    """gamma* = sqrt(2/3) R^(3/2) / (m^(3/4) dim^(3/4) G^(1/2)) for the horizon m = k+1."""
    return math.sqrt(2 / 3) * R**1.5 / (m**0.75 * dim**0.75 * G**0.5)


# ---------------------------------------------------------------------------------------------
# Trace layer.
# ---------------------------------------------------------------------------------------------


def _name(trace) -> str:
    return trace.meta.get("optimizer", "")


def effective_grads(trace, problem) -> torch.Tensor:
    """The gradients the method accumulated [T, B, d]: with coupled weight decay, g + wd x."""
    g = grads(trace, problem)
    wd = hp(trace, "weight_decay", 0.0)
    if bool((wd != 0).any()):
        decoupled = hp(trace, "decouple_decay", 0.0) != 0
        x = iterates(trace)[: steps(trace)]
        g = torch.where(decoupled[None, :, None], g, g + wd[None, :, None] * x)
    return g


def weights_of(trace) -> torch.Tensor:
    """lam_i, i = 0..T [T+1, B], recomputed from the hyper-parameters (madgrad: lr + eps quirk)."""
    lr = hp(trace, "lr")
    if _name(trace) == "madgrad":
        eps = hp(trace, "eps")
        lr = torch.where(lr != 0, lr + eps, lr)
    return dual_weights(lr, steps(trace))


def denominators(trace, g: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """b_0..b_T [T+1, B, d] of the method that produced the trace (module docstring)."""
    T, B, d = g.shape
    nu = torch.cat([torch.zeros_like(g[:1]), torch.cumsum(lam[:T, :, None] * g * g, 0)], 0)
    name = _name(trace)
    if name == "madgrad":
        return nu.pow(1 / 3) + hp(trace, "eps")[None, :, None]
    if name == "madgrad_paper":
        return (lam[:, :, None] * hp(trace, "G")[None, :, None] ** 2 + nu).pow(1 / 3)
    i = torch.arange(T + 1, dtype=F64)[:, None, None]
    return torch.sqrt(i).expand(T + 1, B, d)


def averaging_c(trace) -> torch.Tensor:
    """c_{k+1} for k = 0..T-1 [T, B]: the recorded ``c`` where logged, else 1 - momentum."""
    if "c" in trace:
        return col(trace, "c")
    return (1 - hp(trace, "momentum")).expand(steps(trace), -1)


def dual_iterates(trace) -> torch.Tensor:
    """z_0..z_T [T+1, B, d] recovered from x_{k+1} = (1 - c_{k+1}) x_k + c_{k+1} z_{k+1}."""
    x = iterates(trace)
    c = averaging_c(trace)[..., None]
    z = (x[1:] - (1 - c) * x[:-1]) / c
    return torch.cat([x[:1], z], dim=0)


def recovery_size(trace) -> torch.Tensor:
    """Round-off scale of the recovered z_{k+1}: (||x_{k+1}|| + ||x_k||)/c_{k+1} [T, B]."""
    x = iterates(trace)
    nx = torch.linalg.vector_norm(x, dim=-1)
    return (nx[1:] + nx[:-1]) / averaging_c(trace)


def lambda_averaged(trace, problem=None) -> torch.Tensor:
    """[B]: the run used lambda-weighted averaging, c_{k+1} = lam_{k+1}/S_{k+1} (recomputed)."""
    if "c" not in trace:
        return all_runs(trace, False)
    lam = weights_of(trace)
    S = torch.cumsum(lam, 0)
    want = lam[1:] / S[1:]
    return ((col(trace, "c") - want).abs() <= 1e-12 * want).all(dim=0)


@per_trace
def ftrl_sides(trace, problem):
    T = steps(trace)
    g = effective_grads(trace, problem)
    lam = weights_of(trace)
    b = denominators(trace, g, lam)
    z = dual_iterates(trace)[:T]
    x0 = iterates(trace)[:1]
    u = torch.as_tensor(problem.x_star, dtype=F64)
    lhs, rhs, size = ftrl_identity(lam[:T, :, None] * g, z, x0, u, b)
    ell_norm = torch.linalg.vector_norm(lam[:T, :, None] * g, dim=-1)
    size = size + torch.cumsum(ell_norm * torch.cat([torch.zeros_like(recovery_size(trace)[:1]), recovery_size(trace)[: T - 1]]), 0)
    return lhs, rhs, size


@per_trace
def l2_form(trace, problem):
    """(residual, 0, size) of the decaying-L2 form at rows k = 0..T-2, NaN at row T-1."""
    T = steps(trace)
    g = effective_grads(trace, problem)
    lam = weights_of(trace)
    b = denominators(trace, g, lam)
    z = dual_iterates(trace)[:T]
    res, size = decaying_l2_residual(z, iterates(trace)[:1], g, lam, b)
    size = size + recovery_size(trace)[: T - 1] + torch.cat([torch.zeros_like(size[:1]), recovery_size(trace)[: T - 2]])
    pad = torch.full_like(res[:1], math.nan)
    return torch.cat([res, pad]), torch.zeros(T, trace.batch, dtype=F64), torch.cat([size, pad])


def potential(trace, problem) -> torch.Tensor:
    """Phi_k = S_k (f(x_k) - f*) - sum_{i<=k} lam_i <grad f(x_i), z_i - x*> [T, B] (full gradients)."""
    T = steps(trace)
    lam = weights_of(trace)[:T]
    g = grads(trace, problem)
    z = dual_iterates(trace)[:T]
    xs = torch.as_tensor(problem.x_star, dtype=F64)
    S = torch.cumsum(lam, 0)
    return S * col(trace, "subopt") - torch.cumsum(lam * (g * (z - xs)).sum(-1), 0)


@per_trace
def potential_sides(trace, problem):
    phi = potential(trace, problem)
    prev = torch.cat([torch.zeros_like(phi[:1]), phi[:-1]])
    T = steps(trace)
    lam = weights_of(trace)[:T]
    g = grads(trace, problem)
    z = dual_iterates(trace)[:T]
    xs_norm = float(torch.linalg.vector_norm(torch.as_tensor(problem.x_star, dtype=F64)))
    rec = torch.cat([torch.zeros_like(recovery_size(trace)[:1]), recovery_size(trace)[: T - 1]])
    size = torch.cumsum(lam * torch.linalg.vector_norm(g, dim=-1) * (torch.linalg.vector_norm(z, dim=-1) + xs_norm + rec), 0)
    size = size + torch.cumsum(lam, 0) * col(trace, "subopt").abs()
    return phi, prev, size


def observed_bound(trace, problem) -> torch.Tensor:
    """B_k / S_k [T, B] (madgrad_paper): 1/2 sum_j (x*_j - x0_j)^2 d_kj + 1/2 sum_{i<=k} sum_j lam_i^2 g_ij^2 / d_ij."""
    T = steps(trace)
    g = grads(trace, problem)
    lam = weights_of(trace)
    d = denominators(trace, g, lam)
    x0 = iterates(trace)[0]
    xs = torch.as_tensor(problem.x_star, dtype=F64)
    dist_term = 0.5 * ((xs - x0) ** 2 * d[:T]).sum(-1)
    grad_term = 0.5 * torch.cumsum((lam[:T, :, None] ** 2 * g**2 / d[:T]).sum(-1), 0)
    return (dist_term + grad_term) / torch.cumsum(lam[:T], 0)


def _bounded_coords(trace, problem) -> torch.Tensor:
    """[B]: G >= max |g_kj| over the run (and lambda-weighted averaging)."""
    g = grads(trace, problem)
    return (hp(trace, "G") >= g.abs().amax(dim=-1).amax(dim=0)) & lambda_averaged(trace)


def _closed(trace, problem):
    T = steps(trace)
    lam = weights_of(trace)[:T]
    return closed_form_bound(trace["dist"][0].to(F64), hp(trace, "G"), problem.d, lam, torch.cumsum(lam, 0))


def _tuned(trace, problem):
    T = steps(trace)
    R, G = trace["dist"][0].to(F64), hp(trace, "G")
    m = torch.arange(1, T + 1, dtype=F64)[:, None]
    gstar = math.sqrt(2 / 3) * R**1.5 / (m**0.75 * problem.d**0.75 * G**0.5)
    at = (hp(trace, "lr") - gstar).abs() <= 1e-12 * gstar
    return nan_where(at, 1.5 * R * G * math.sqrt(problem.d) / m.sqrt())


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    return register(Result(key=f"madgrad.{key}", **kw))


def _no_decoupled_decay(trace, problem):
    decoupled = (hp(trace, "decouple_decay", 0.0) != 0) & (hp(trace, "weight_decay", 0.0) != 0)
    return ~decoupled


_R(
    "ftrl_identity", title="Exact dual-averaging (FTRL) identity, any denominators", provenance=Provenance.DERIVED,
    source=f"{DOC}#ftrl-identity (reference/madgrad.md §5(b))", optimizers=("madgrad", "madgrad_paper"),
    kind="identity", iterate="none", oracle="any", applies=_no_decoupled_decay,
    statement="sum_{i<=k} <l_i, z_i - x*> = -<s_{k+1}, x* - x0> - ||s_{k+1}||^2_{1/b_k}/2 + ||l_0||^2_{1/b_1}/2 "
              "+ sum_{1<=i<=k} ||l_i||^2_{1/b_i}/2 - sum_{2<=i<=k} ||s_i||^2_{1/b_{i-1}-1/b_i}/2,  l_i = lam_i g_i",
    observed=lambda tr, pb: ftrl_sides(tr, pb)[0], bound=lambda tr, pb: ftrl_sides(tr, pb)[1],
    scale=lambda tr, pb: ftrl_sides(tr, pb)[2],
    notes="z_i is recovered from the recorded iterates; decoupled weight decay has no dual-averaging form.",
)
_R(
    "decaying_l2_form", title="MADGRAD is SGD in z with a decaying L2 pull toward x0 (momentum form)",
    provenance=Provenance.DERIVED, source=f"{DOC}#momentum-form (reference/madgrad.md §5(c))",
    optimizers=("madgrad", "madgrad_paper"), kind="identity", iterate="none", oracle="any",
    applies=_no_decoupled_decay,
    statement="z_{k+1} = z_k - lam_k g_k / b_{k+1} - (1 - b_k/b_{k+1}) (z_k - x0)  (residual norm = 0)",
    observed=lambda tr, pb: l2_form(tr, pb)[0], bound=lambda tr, pb: l2_form(tr, pb)[1],
    scale=lambda tr, pb: l2_form(tr, pb)[2],
)
_R(
    "primal_averaging_potential", title="Quasi-monotone (primal-averaging) potential is non-increasing",
    provenance=Provenance.DERIVED, source=f"{DOC}#potential (reference/madgrad.md §5(a))",
    optimizers=("madgrad_paper",), kind="lyapunov", iterate="weighted_average", oracle="deterministic",
    requires=frozenset({"convex"}), applies=lambda tr, pb: lambda_averaged(tr),
    statement="Phi_k = S_k (f(x_k) - f*) - sum_{i<=k} lam_i <grad f(x_i), z_i - x*> satisfies Phi_k <= Phi_{k-1}, Phi_0 <= 0",
    observed=lambda tr, pb: potential_sides(tr, pb)[0], bound=lambda tr, pb: potential_sides(tr, pb)[1],
    scale=lambda tr, pb: potential_sides(tr, pb)[2],
)
_R(
    "observed_bound", title="Pathwise convex bound B_k/S_k of the analysed MADGRAD", provenance=Provenance.DERIVED,
    source=f"{DOC}#convex-bound (reference/madgrad.md §4.3)", optimizers=("madgrad_paper",), kind="bound",
    iterate="weighted_average", oracle="deterministic", requires=frozenset({"convex"}), applies=_bounded_coords,
    statement="f(x_k) - f* <= [1/2 sum_j (x*_j - x0_j)^2 d_kj + 1/2 sum_{i<=k} sum_j lam_i^2 g_ij^2/d_ij] / S_k  "
              "(G >= max |g_ij|, lambda-weighted averaging)",
    observed=lambda tr, pb: col(tr, "subopt"), bound=observed_bound,
    notes="x_k is the lambda-weighted average of z_0..z_k (the optimizer's own iterate).",
)
_R(
    "closed_form_bound", title="Closed-form convex bound of the analysed MADGRAD", provenance=Provenance.DERIVED,
    source=f"{DOC}#convex-bound (reference/madgrad.md §4.3)", optimizers=("madgrad_paper",), kind="bound",
    iterate="weighted_average", oracle="deterministic", requires=frozenset({"convex"}), applies=_bounded_coords,
    statement="f(x_k) - f* <= 1/2 R^2 G^(2/3) S_k^(-2/3) + 3/4 dim G^(4/3) lam_k S_k^(-1/3)",
    observed=lambda tr, pb: col(tr, "subopt"), bound=_closed,
)
_R(
    "tuned_rate", title="With the tuned gamma*: f(x_k) - f* <= 3/2 R G sqrt(dim) / sqrt(k+1)",
    provenance=Provenance.DERIVED, source=f"{DOC}#convex-bound (reference/madgrad.md §4.3)",
    optimizers=("madgrad_paper",), kind="bound", iterate="weighted_average", oracle="deterministic",
    requires=frozenset({"convex"}), applies=_bounded_coords,
    statement="lr = gamma*(k+1) = sqrt(2/3) R^(3/2)/((k+1)^(3/4) dim^(3/4) G^(1/2)): f(x_k) - f* <= 3/2 R G sqrt(dim)/sqrt(k+1)",
    observed=lambda tr, pb: col(tr, "subopt"), bound=_tuned,
    notes="Checked only at the row k whose horizon the run's lr was tuned for (NaN elsewhere).",
)
