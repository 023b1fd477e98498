"""MDA, modernized dual averaging (Jelassi & Defazio, arXiv 2010.10502): identities and the derived bound.

The paper's theorem statements are unknown (reference/mda.md §3) and nothing of them is
asserted. Asserted, all [DERIVED] in docs/theory/mda.md:

- the exact dual-averaging identity with b_i = sqrt(i) (shared machinery: theory/madgrad.py);
- the "decaying uncentered L2" reading: in z-space, SGD with step lam_k/sqrt(k+1) on
  f + kappa_k/2 ||z - x0||^2, kappa_k = (sqrt(k+1) - sqrt k)/lam_k;
- the primal-averaging potential (lambda-weighted averaging);
- the convex bound of reference/mda.md §3.2 for lambda-weighted averaging, in its pathwise
  (observed) form and in closed form with G_k = max_{i<=k} ||g_i||:

      f(x_k) - f* <= [1/2 sqrt(k) R^2 + 1/2 lam_0^2 ||g_0||^2 + 1/2 sum_{1<=i<=k} lam_i^2 ||g_i||^2/sqrt(i)] / S_k
                  <= [1/2 sqrt(k) R^2 + 1/2 gamma^2 G_k^2 (1 + sum_{1<=i<=k} (i+1)/sqrt(i))] / (gamma sum_{1<=i<=k+1} sqrt(i)),  k >= 1.
"""

from __future__ import annotations

import math

import torch

from . import madgrad as M
from .base import Provenance, Result, register
from .momo import F64, col, hp, steps

PAPER = "Dual Averaging is Surprisingly Effective for Deep Learning Optimization (Jelassi & Defazio, 2020)"
ARXIV = "2010.10502"
DOC = "docs/theory/mda.md"


def observed_bound(trace, problem=None) -> torch.Tensor:
    """The pathwise bound [T, B] (row 0 = NaN: the bound needs k >= 1)."""
    T = steps(trace)
    gamma = hp(trace, "lr")
    lam = M.dual_weights(gamma, T)[:T]
    g2 = col(trace, "grad_norm") ** 2
    k = torch.arange(T, dtype=F64)[:, None]
    R = trace["dist"][0].to(F64)
    terms = torch.where(k >= 1, lam**2 * g2 / k.clamp(min=1).sqrt(), lam**2 * g2)
    num = 0.5 * k.sqrt() * R**2 + 0.5 * torch.cumsum(terms, 0)
    out = num / torch.cumsum(lam, 0)
    out[0] = math.nan
    return out


def closed_bound(trace, problem=None) -> torch.Tensor:
    """The closed form with G_k = max_{i<=k} ||g_i|| [T, B] (row 0 = NaN)."""
    T = steps(trace)
    gamma = hp(trace, "lr")
    k = torch.arange(T, dtype=F64)[:, None]
    R = trace["dist"][0].to(F64)
    G = torch.cummax(col(trace, "grad_norm"), 0).values
    i = torch.arange(1, T, dtype=F64)
    tail = torch.cat([torch.zeros(1, dtype=F64), torch.cumsum((i + 1) / i.sqrt(), 0)])[:, None]
    root = torch.cumsum(torch.arange(1, T + 1, dtype=F64).sqrt(), 0)[:, None]
    out = (0.5 * k.sqrt() * R**2 + 0.5 * gamma**2 * G**2 * (1 + tail)) / (gamma * root)
    out[0] = math.nan
    return out


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    return register(Result(key=f"mda.{key}", **kw))


MDA = ("mda",)

_R(
    "ftrl_identity", title="Exact dual-averaging identity with b_i = sqrt(i)", provenance=Provenance.DERIVED,
    source=f"{DOC}#identity (reference/mda.md §3.1, madgrad.md §5(b))", optimizers=MDA, kind="identity",
    iterate="none", oracle="any",
    statement="sum_{i<=k} <l_i, z_i - x*> = -<s_{k+1}, x* - x0> - ||s_{k+1}||^2/(2 sqrt k) + ||l_0||^2/2 "
              "+ sum_{1<=i<=k} ||l_i||^2/(2 sqrt i) - sum_{2<=i<=k} ||s_i||^2 (1/sqrt(i-1) - 1/sqrt i)/2",
    observed=lambda tr, pb: M.ftrl_sides(tr, pb)[0], bound=lambda tr, pb: M.ftrl_sides(tr, pb)[1],
    scale=lambda tr, pb: M.ftrl_sides(tr, pb)[2],
)
_R(
    "decaying_l2_form", title="MDA is SGD in z on f + kappa_k/2 ||z - x0||^2 (decaying uncentered L2)",
    provenance=Provenance.DERIVED, source=f"{DOC}#l2-form (reference/mda.md §2)", optimizers=MDA, kind="identity",
    iterate="none", oracle="any",
    statement="z_{k+1} = z_k - lam_k/sqrt(k+1) [g_k + kappa_k (z_k - x0)], kappa_k = (sqrt(k+1) - sqrt k)/lam_k",
    observed=lambda tr, pb: M.l2_form(tr, pb)[0], bound=lambda tr, pb: M.l2_form(tr, pb)[1],
    scale=lambda tr, pb: M.l2_form(tr, pb)[2],
)
_R(
    "primal_averaging_potential", title="Quasi-monotone (primal-averaging) potential is non-increasing",
    provenance=Provenance.DERIVED, source=f"{DOC}#bound (reference/mda.md §3.1)", optimizers=MDA, kind="lyapunov",
    iterate="weighted_average", oracle="deterministic", requires=frozenset({"convex"}),
    applies=lambda tr, pb: M.lambda_averaged(tr),
    statement="Phi_k = S_k (f(x_k) - f*) - sum_{i<=k} lam_i <grad f(x_i), z_i - x*> satisfies Phi_k <= Phi_{k-1}, Phi_0 <= 0",
    observed=lambda tr, pb: M.potential_sides(tr, pb)[0], bound=lambda tr, pb: M.potential_sides(tr, pb)[1],
    scale=lambda tr, pb: M.potential_sides(tr, pb)[2],
)
_R(
    "observed_bound", title="Pathwise convex bound of MDA with lambda-weighted averaging",
    provenance=Provenance.DERIVED, source=f"{DOC}#bound (reference/mda.md §3.2)", optimizers=MDA, kind="bound",
    iterate="weighted_average", oracle="deterministic", requires=frozenset({"convex"}),
    applies=lambda tr, pb: M.lambda_averaged(tr),
    statement="k >= 1: f(x_k) - f* <= [sqrt(k) R^2/2 + lam_0^2 ||g_0||^2/2 + sum_{1<=i<=k} lam_i^2 ||g_i||^2/(2 sqrt i)] / S_k",
    observed=lambda tr, pb: col(tr, "subopt"), bound=observed_bound,
)
_R(
    "closed_form_bound", title="Closed-form convex bound of MDA with lambda-weighted averaging",
    provenance=Provenance.DERIVED, source=f"{DOC}#bound (reference/mda.md §3.2)", optimizers=MDA, kind="bound",
    iterate="weighted_average", oracle="deterministic", requires=frozenset({"convex"}),
    applies=lambda tr, pb: M.lambda_averaged(tr),
    statement="k >= 1: f(x_k) - f* <= [sqrt(k) R^2/2 + gamma^2 G_k^2 (1 + sum_{1<=i<=k} (i+1)/sqrt i)/2] "
              "/ (gamma sum_{1<=i<=k+1} sqrt i),  G_k = max_{i<=k} ||g_i||",
    observed=lambda tr, pb: col(tr, "subopt"), bound=closed_bound,
)
