"""Prodigy (Mishchenko & Defazio, arXiv 2306.06101): per-run inequalities, bounds, invariants.

Pure layer (time on dim 0, trailing batch dims): the Prodigy-GD step eta_k, the sums
Q_n = sum eta_k^2 ||g_k||^2 and S_n = sum d_k^2 lambda_k^2 ||g_k||^2, the inequalities P0-P4,
the computable suboptimality bound and its closed form, the code invariant I-P, the
(unverified) Prodigy sequence lemma and the rate comparison with D-Adaptation.
Then ``Result`` objects that read them off a Trace of a ``prodigy_*`` run.

Provenance follows /shared/reference/prodigy.md: the paper's theorem statements are
[UNVERIFIED] (never asserted); P0-P4, the bound and I-P are [DERIVED]
(docs/theory/prodigy.md); the Adam version is [CODE] (konstmish/prodigy 1.1.2).
"""

from __future__ import annotations

import math

import torch

from .dadaptation import log2plus

PAPER = "Prodigy: An Expeditiously Adaptive Parameter-Free Learner (Mishchenko & Defazio, ICML 2024)"
ARXIV = "2306.06101"
DOC = "docs/theory/prodigy.md"


# ---------------------------------------------------------------------------------------------
# Pure layer
# ---------------------------------------------------------------------------------------------


def prodigy_steps(d, gnorm2, G, lam=None):
    """eta_k = d_k^2 lambda_k / sqrt(d_k^2 G^2 + sum_{i<=k} d_i^2 lambda_i^2 ||g_i||^2).
    [SECONDARY: the ICLR-2024 reviews quote this step]. lam defaults to 1."""
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


def code_invariant_bound(d0, d_coef, D_inf):
    """I-P: dhat_{k+1} <= d_coef ||x0 - x*||_inf, hence d_k <= max(d_0, d_coef ||x0 - x*||_inf),
    for the official (Adam) code with slice_p = 1 and safeguard_warmup = False.
    [DERIVED, docs/theory/prodigy.md#i-p]. Returns (dhat bound, d bound)."""
    b = d_coef * D_inf
    return b, torch.maximum(torch.as_tensor(d0, dtype=b.dtype), b)


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

    Keys and provenance (prodigy.md §5):
    - "dadapt_da_v1":     8 DG log2(D/d0)/sqrt(n+1)          [PAPER, D-Adaptation v1 Thm 2; its proof is broken]
    - "dadapt_da_final":  16 DG log2+(D/d0)/sqrt(n+1)        [SECONDARY]
    - "dadapt_gd":        DG log(n+2)/sqrt(n+1), constant 1  [SECONDARY shape; constant UNVERIFIED]
    - "prodigy_gd":       DG log(n+2) sqrt(log2+(D/d0))/sqrt(n+1), constant 1 [SECONDARY shape]
    - "prodigy_da":       DG sqrt(log2+(D/d0))/sqrt(n+1), constant 1          [UNVERIFIED form]
    - "resetting":        DG sqrt(log2+(D/d0))/sqrt(n+1), constant 1          [UNVERIFIED]
    Where the constant is unknown it is set to 1: compare shapes, not values. The factor
    Prodigy gains over D-Adaptation (DA forms) is sqrt(log2+(D/d0)), as the v4 abstract says.
    """
    n = torch.as_tensor(n, dtype=torch.float64)
    base = D * G / torch.sqrt(n + 1)
    lg = log2plus(torch.as_tensor(D / d0, dtype=torch.float64))
    return {
        "dadapt_da_v1": 8.0 * base * math.log2(D / d0),
        "dadapt_da_final": 16.0 * base * lg,
        "dadapt_gd": base * torch.log(n + 2),
        "prodigy_gd": base * torch.log(n + 2) * torch.sqrt(lg),
        "prodigy_da": base * torch.sqrt(lg),
        "resetting": base * torch.sqrt(lg),
    }


# ---------------------------------------------------------------------------------------------
# Trace layer (row n = step n; see theory/dadaptation.py for the conventions)
# ---------------------------------------------------------------------------------------------

from .base import per_trace, Provenance, Result, register  # noqa: E402
from .dadaptation import D_inf_of, D_of, col, displacement, estimate_ratio, has_hp, hp, steps, well_conditioned  # noqa: E402


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    kw.setdefault("requires", frozenset({"convex"}))
    return register(Result(key=f"prodigy.{key}", **kw))


def _disp(tr):
    """||x_{n+1} - x0||: from the iterates when kept (independent of the optimizer), else its s_norm."""
    return displacement(tr) if "x" in tr.iterates else col(tr, "s_norm")


def _Q(tr):
    return q_sum(col(tr, "lr"), col(tr, "grad_norm") ** 2)


def _S(tr):
    return s_sum(col(tr, "d"), col(tr, "grad_norm") ** 2)


def _G_ok(tr, pb):
    if not has_hp(tr, "G"):
        return torch.zeros(tr.batch, dtype=torch.bool)
    return hp(tr, "G") >= col(tr, "grad_norm").nan_to_num(0.0).amax(dim=0)


def _d0_le_D(tr, pb):
    return hp(tr, "d0") <= D_of(tr)


def _ones(tr, pb):
    return torch.ones(steps(tr), tr.batch, dtype=torch.float64)


GD_ANY = ("prodigy_gd", "dadapt_gd")  # P1, P2 and the computable bound hold for any eta_k >= 0

_R(
    "P0_dhat_le_D", title="The estimate is a lower bound on D (P0)", provenance=Provenance.DERIVED, label="P0",
    source=f"{DOC}#p0-p1 (reference/prodigy.md §4 and §2.2)", optimizers=("prodigy_gd", "prodigy_da"),
    kind="invariant", iterate="none",
    statement="max(dhat_{n+1}/D, d_{n+1}/max(d_0, D)) <= 1 (GD; and the DA reconstruction, for any variant)",
    observed=lambda tr, pb: estimate_ratio(tr, D_of(tr)), bound=_ones,
)
_R(
    "P1", title="Weighted suboptimality by the estimate's numerator (P1)", provenance=Provenance.DERIVED, label="P1",
    source=f"{DOC}#p0-p1", optimizers=GD_ANY, iterate="weighted_average",
    statement="sum_{k<=n} eta_k (f(x_k)-f*) <= D ||x_{n+1}-x0|| - sum_{k<=n} eta_k <g_k, x0-x_k>",
    observed=lambda tr, pb: torch.cumsum(col(tr, "lr") * col(tr, "subopt"), 0),
    bound=lambda tr, pb: p1_bound(_disp(tr), col(tr, "numerator"), D_of(tr)),
)
_R(
    "P2", title="Distance travelled is bounded by the estimate (P2)", provenance=Provenance.DERIVED, label="P2",
    source=f"{DOC}#p2", optimizers=GD_ANY, iterate="last", oracle="any", requires=frozenset(),
    statement="||x_{n+1}-x0|| <= d_{n+1} + sqrt(d_{n+1}^2 + Q_n), Q_n = sum eta_k^2||g_k||^2",
    observed=lambda tr, pb: _disp(tr), bound=lambda tr, pb: p2_bound(col(tr, "d_next"), _Q(tr)),
)
_R(
    "P3", title="The steps sum to at least sqrt(sum d_k^2)/(sqrt2 G) (P3)", provenance=Provenance.DERIVED, label="P3",
    source=f"{DOC}#p3", optimizers=("prodigy_gd",), iterate="none", oracle="any", requires=frozenset(), applies=_G_ok,
    statement="sqrt(sum_{k<=n} d_k^2)/(sqrt 2 G) <= sum_{k<=n} eta_k  (G >= max ||g_k||)",
    observed=lambda tr, pb: p3_bound(col(tr, "d"), hp(tr, "G")), bound=lambda tr, pb: torch.cumsum(col(tr, "lr"), 0),
)
_R(
    "P4", title="Q_n grows only logarithmically (P4)", provenance=Provenance.DERIVED, label="P4",
    source=f"{DOC}#p4", optimizers=("prodigy_gd",), iterate="none", oracle="any", requires=frozenset(),
    statement="Q_n <= d_{n+1}^2 log(1 + S_n/(d_0^2 G^2)), S_n = sum d_k^2||g_k||^2",
    observed=lambda tr, pb: _Q(tr),
    bound=lambda tr, pb: p4_bound(col(tr, "d_next"), _S(tr), hp(tr, "d0"), hp(tr, "G") if has_hp(tr, "G") else math.nan),
    applies=lambda tr, pb: torch.full((tr.batch,), has_hp(tr, "G")),
)
_R(
    "computable_bound", title="Computable suboptimality bound at every n", provenance=Provenance.DERIVED,
    label="", source=f"{DOC}#bound", optimizers=GD_ANY, iterate="weighted_average",
    statement="f(xhat_n)-f* <= sum eta_k(f(x_k)-f*)/sum eta_k <= (D(d_{n+1} + sqrt(d_{n+1}^2+Q_n)) + Q_n/2)/sum_{k<=n} eta_k",
    observed=lambda tr, pb: torch.cumsum(col(tr, "lr") * col(tr, "subopt"), 0) / torch.cumsum(col(tr, "lr"), 0),
    bound=lambda tr, pb: torch.where(well_conditioned(tr, pb, _disp(tr)),
                                     computable_bound(col(tr, "lr"), col(tr, "d_next"), _Q(tr), D_of(tr)), math.inf),
    notes="observed is the eta-weighted average of f(x_k)-f*, an upper bound on f(xhat_n)-f* by Jensen. The bound is "
          "tight to first order on |x|; rows where x_{n+1}-x0 is below float64 resolution (tiny d_0) are unchecked "
          "(dadaptation.well_conditioned).",
)
_R(
    "closed_form_bound", title="Closed-form bound (P3 + P4 + d <= D)", provenance=Provenance.DERIVED, label="",
    source=f"{DOC}#bound", optimizers=("prodigy_gd",), iterate="weighted_average",
    applies=lambda tr, pb: _G_ok(tr, pb) & _d0_le_D(tr, pb),
    statement="sum eta_k(f(x_k)-f*)/sum eta_k <= sqrt2 D G d_{n+1}(1 + sqrt(1+L) + L/2)/sqrt(sum_{k<=n} d_k^2), "
              "L = log(1 + S_n/(d_0^2G^2))  (d_0 <= D, G >= max||g_k||)",
    observed=lambda tr, pb: torch.cumsum(col(tr, "lr") * col(tr, "subopt"), 0) / torch.cumsum(col(tr, "lr"), 0),
    bound=lambda tr, pb: closed_form_bound(col(tr, "d"), col(tr, "d_next"), _S(tr), hp(tr, "d0"),
                                           hp(tr, "G") if has_hp(tr, "G") else math.nan, D_of(tr)),
)


def _ip_scale(tr):
    """d_coef, times lr where safeguard_warmup removes lr from s (allowed only without bias correction)."""
    sg = hp(tr, "safeguard_warmup") == 1
    return hp(tr, "d_coef") * torch.where(sg, hp(tr, "lr"), torch.ones_like(hp(tr, "lr")))


def _ip_applies(tr, pb):
    opts = tr.meta.get("options", {})
    sliced = int(opts.get("slice_p", 1)) != 1
    sg_ok = (hp(tr, "safeguard_warmup") == 0) | (hp(tr, "use_bias_correction") == 0)
    decay_ok = (hp(tr, "weight_decay") == 0) | (hp(tr, "decouple") == 1)
    return sg_ok & decay_ok & torch.tensor(not sliced)


def _ip_observed(tr, pb):
    b = _ip_scale(tr) * D_inf_of(tr, pb)
    d0 = hp(tr, "d0")
    return torch.fmax(torch.fmax(col(tr, "d_hat") / b, col(tr, "d_next") / torch.maximum(d0, b)),
                      col(tr, "d_max") / torch.maximum(d0, b))


_R(
    "IP_code_invariant", title="prodigyopt code: dhat <= d_coef ||x0 - x*||_inf (I-P)", provenance=Provenance.DERIVED,
    label="I-P", source=f"{DOC}#i-p (reference/prodigy.md §4)", optimizers=("prodigy_adam",), kind="invariant",
    iterate="none", applies=_ip_applies,
    statement="max(dhat_{k+1}/b, d_{k+1}/max(d_0,b), dmax_{k+1}/max(d_0,b)) <= 1, b = d_coef D_inf "
              "(slice_p = 1; safeguard_warmup only with constant lr and no bias correction, then b = lr d_coef D_inf; "
              "weight decay decoupled or 0)",
    observed=_ip_observed, bound=_ones,
    notes="Holds for any iterate sequence (the Adam dynamics do not enter). slice_p is a constructor option: "
          "read from trace.meta['options'] when the runner records it.",
)


@per_trace
def _seq(tr, pb):
    d = torch.cat([col(tr, "d"), col(tr, "d_next")[-1:]], dim=0)
    lhs = seq_lemma_ratio(d)
    rhs, ok = seq_lemma_rhs(d)
    return lhs, torch.where(ok, rhs, torch.full_like(rhs, math.inf))


_R(
    "sequence_lemma", title="Prodigy's sequence lemma (reconstruction)", provenance=Provenance.UNVERIFIED,
    label="", source="reference/prodigy.md §5 (constant 4 found empirically safe; exact form unknown)",
    optimizers=("prodigy_gd", "prodigy_da"), iterate="none", oracle="any", requires=frozenset(),
    statement="N >= 2 log2(d_N/d0): min_{t<N} d_{t+1}/sqrt(sum_{k<=t} d_k^2) <= 4 sqrt(log2+(d_N/d0))/sqrt(N)",
    observed=lambda tr, pb: _seq(tr, pb)[0], bound=lambda tr, pb: _seq(tr, pb)[1],
)


def _thm1(tr, pb):
    d, dn = col(tr, "d"), col(tr, "d_next")
    n = torch.arange(steps(tr), dtype=torch.float64)[:, None]
    G = hp(tr, "G") if has_hp(tr, "G") else math.nan
    return math.sqrt(2.0) * D_of(tr) * G * (2 * dn + dn * torch.log(n + 2)) / torch.sqrt(torch.cumsum(d**2, 0))


_R(
    "T1_gd", title="Prodigy GD rate (Theorem 1, shape as recalled)", provenance=Provenance.UNVERIFIED, label="Theorem 1",
    source="reference/prodigy.md §5 [UNVERIFIED], lambda_k = 1", optimizers=("prodigy_gd",), iterate="weighted_average",
    statement="f(xhat_n)-f* <= sqrt2 D G (2 d_{n+1} + d_{n+1} log(n+2)) / sqrt(sum_{k<=n} d_k^2)",
    observed=lambda tr, pb: torch.cumsum(col(tr, "lr") * col(tr, "subopt"), 0) / torch.cumsum(col(tr, "lr"), 0),
    bound=_thm1,
)
