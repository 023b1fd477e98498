"""Mechanic (Cutkosky, Defazio & Mehta, arXiv 2306.00144): regret reduction and tuner invariants.

The paper's text was not available (docs/references/mechanic.md): its tuner-regret theorem is
[UNVERIFIED] and not registered (the parameter-free form it is reported to have is false for the code's
tuner: docs/theory/mechanic.md#tuner-regret). What is checked, all [DERIVED] in docs/theory/mechanic.md:

- the tuner's invariants read off the authors' update (mechanic-pytorch 0.0.1, optax contrib,
  [CODE]): wealth never below (s_init/n) m_t, reward r_t >= 0 (PyTorch variant), scales
  s_{t+1,i} >= 0, m_t >= |h_t| and v_t >= h_t^2. Each is a max, a clamp or a non-negative
  recursion of the update: Role.IMPLEMENTATION (tests of the code, for any base and options);
- the exact regret decomposition for lambda = 0, a lemma of the derivation (THEOREM):
      sum_t <g_t, x_t - x*> = sum_t h_t (S_t - S0) + S0 sum_t <g_t, Delta_t - (x* - x_ref)/S0>
  (checked with S0 = 1; Delta_t is rebuilt from the SGD base, not read from the optimizer);
- with an SGD base at constant lr eta, online-to-batch and the base-regret bound (THEOREM):
      f(xbar_t) - f* <= [ sum_{k<=t} h_k (S_k - S0_t) + D sqrt(sum_{k<=t} ||g_k||^2) ] / (t+1),
  S0_t = D / (eta sqrt(sum_{k<=t} ||g_k||^2)), xbar_t the uniform average of x_0..x_t;
- against the best fixed scale of the base (THEOREM, pathwise and in expectation), for G_t-Lipschitz
  losses, G_t = max_{k<=t} ||g_k||:
      f(xbar_t) - f* <= sum_{k<=t} h_k (S_k - s_t) / (t+1) + D G_t / sqrt(t+1),  s_t = D / (eta G_t sqrt(t+1)),
  D G_t / sqrt(t+1) being the guarantee of SGD at its best fixed scale s_t (why this reading of
  "the best fixed scale" and not separate runs or the best scale in hindsight: the page, #best-scale);
- the PyTorch tuner's regret against every fixed scale u >= 0, bounded from its inputs alone
  (``tuner_regret_bound``: h, betas, s_init, m_init, eps), and the best-scale bound with it plugged in;
- the exact scale symmetry (eta, s_init, m_0, eps) -> (c eta, s_init/c, c m_0, c eps), a
  statement about two runs, given here as ``rescaled_hp`` and tested in the test suite;
- the growth of the scale from s_init for one tuner with beta = 1 and constant progress
  (``growth_steps``, the exact recursion of docs/references/mechanic.md §4.5).

What the two theorems need beyond the update, as named assumptions: lambda (``s_decay``) = 0,
``store_delta=True`` (x_t = x_ref + S_t Delta_t exactly), an SGD base (``base`` = "sgd") without
weight decay (so that Delta_t = -sum_{k<t} eta_k g_k), and for the bound a constant base step.
The variant (pytorch/optax) and the tuners' betas do not enter either proof.

Trace conventions: row t holds x_t and the info of the step that produced x_{t+1}: ``h`` = h_t,
``s_sum_prev`` = S_t (the scale x_t was played at), ``s_sum`` = S_{t+1}, per tuner ``s_i``,
``r_i``, ``m_i``, ``v_i``, ``W_i`` after the step, and the base's ``base_lr``.
"""

from __future__ import annotations

import math

import torch

from ratecheck.optimizers.mechanic import DEFAULT_BETAS

from . import access as A
from .base import Assumption, Example, Provenance, Result, Role, Sides, example, register

PAPER = "Mechanic: A Learning Rate Tuner (Cutkosky, Defazio & Mehta, NeurIPS 2023)"
ARXIV = "2306.00144"
DOC = "docs/theory/mechanic.md"
REF = "docs/references/mechanic.md"
BOTH = ("mechanic", "mechanic_optax")
F64 = torch.float64


# ---------------------------------------------------------------------------------------------
# Pure functions of sequences (time on dim 0).
# ---------------------------------------------------------------------------------------------


def rescaled_hp(hp: dict, c: float) -> dict:
    """The hyper-parameters of the rescaled run: (eta, s_init, m_0, eps) -> (c eta, s_init/c, c m_0, c eps).

    With lambda = 0, an SGD base and store_delta=True both runs play identical iterates
    [DERIVED, docs/references/mechanic.md §5 (item 7)]; with c a power of two, identical to the last bit."""
    out = dict(hp)
    out["base_lr"] = hp["base_lr"] * c
    out["s_init"] = hp["s_init"] / c
    out["m_init"] = hp["m_init"] * c
    out["eps"] = hp["eps"] * c
    return out


def growth_steps(s_init: float, target: float, limit: int = 100_000) -> int:
    """Steps until one tuner's scale reaches ``target`` under constant progress.

    One tuner (n = 1), beta = 1, lambda = 0, eps ignored, h_t = -c at every informative step:
    m_t = c, v_t = t c^2, r_t = r_{t-1} + c s_t, W_t = s_init c + r_t, s_{t+1} = W_t / sqrt(v_t),
    i.e. s_{t+1} = (s_init + sum_{k<=t} s_k) / sqrt(t), independent of c
    [DERIVED, docs/references/mechanic.md §4.5]. Returns the first t with s_{t+1} >= target (-1 if
    none within ``limit``)."""
    s, r = 0.0, 0.0
    for t in range(1, limit):
        r = r + s
        s = (s_init + r) / math.sqrt(t)
        if s >= target:
            return t
    return -1


def base_displacements(eta: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Delta_t = -sum_{k<t} eta_k g_k [T, B, d] of an SGD base (Delta_0 = 0); eta [T, B], g [T, B, d]."""
    steps = -eta[..., None] * g
    return torch.cat([torch.zeros_like(steps[:1]), torch.cumsum(steps, dim=0)[:-1]], dim=0)


def regret_sides(g, x, x_star, x_ref, delta, h, S, S0: float = 1.0):
    """Both sides of the decomposition, cumulated over t, and the size of their terms.

        left:  sum_{k<=t} <g_k, x_k - x*>
        right: sum_{k<=t} h_k (S_k - S0) + S0 sum_{k<=t} <g_k, Delta_k - (x* - x_ref)/S0>

    g, x, delta [T, B, d]; x_star, x_ref [d] or [B, d]; h, S [T, B]. The size adds, per step, the
    magnitudes of every product (elementwise, cancellation in the inner products) and
    ||g_k|| max_{j<=k} ||x_j||: the optimizer's Delta_k sums k base steps, each a difference of
    two iterates rounded relative to their size, while Delta_k here is the exact sum.
    [DERIVED, docs/theory/mechanic.md#regret-decomposition]"""
    left_terms = (g * (x - x_star)).sum(-1)
    tuner = h * (S - S0)
    base = S0 * (g * (delta - (x_star - x_ref) / S0)).sum(-1)
    xn = torch.linalg.vector_norm(x, dim=-1)
    size = ((g.abs() * ((x - x_star).abs() + S0 * delta.abs() + (x_star - x_ref).abs())).sum(-1)
            + (h * S).abs() + S0 * h.abs() + torch.linalg.vector_norm(g, dim=-1) * torch.cummax(xn, dim=0).values)
    return torch.cumsum(left_terms, 0), torch.cumsum(tuner + base, 0), torch.cumsum(size, 0)


def sgd_bound(h, S, gnorm2, eta, D):
    """[R^tuner_t(S0_t) + D sqrt(sum_{k<=t} ||g_k||^2)] / (t+1) with the balancing S0_t [T, B]
    (constant eta; h, S, gnorm2, eta [T, B], D [B]). [DERIVED, docs/theory/mechanic.md#sgd-bound]"""
    g2 = torch.cumsum(gnorm2, 0)
    S0 = D / (eta * g2.sqrt())
    tuner = torch.cumsum(h * S, 0) - S0 * torch.cumsum(h, 0)
    K = torch.arange(1, h.shape[0] + 1, dtype=h.dtype).view(-1, *([1] * (h.ndim - 1)))
    return (tuner + D * g2.sqrt()) / K


def sgd_bound_scale(h, S, gnorm2, eta, D):
    """Size of the terms of ``sgd_bound`` (sum |h_k| (S_k + S0_t) + D sqrt(sum ||g_k||^2)) / (t+1)."""
    g2 = torch.cumsum(gnorm2, 0)
    S0 = D / (eta * g2.sqrt())
    K = torch.arange(1, h.shape[0] + 1, dtype=h.dtype).view(-1, *([1] * (h.ndim - 1)))
    return (torch.cumsum((h * S).abs(), 0) + S0 * torch.cumsum(h.abs(), 0) + D * g2.sqrt()) / K


def best_scale_bound(h, S, gnorm, eta, D) -> tuple[torch.Tensor, torch.Tensor]:
    """[R^tuner_t(s_t) + D G_t sqrt(t+1)] / (t+1) [T, B]: the tuner's regret against the best fixed
    scale s_t = D / (eta G_t sqrt(t+1)) of the base, plus that scale's guarantee D G_t / sqrt(t+1)
    (constant eta; G_t = max_{k<=t} ||g_k||; h, S, gnorm, eta [T, B], D [B]); and the size of its
    terms, (sum_{k<=t} |h_k| (S_k + s_t)) / (t+1) + D G_t / sqrt(t+1).
    [DERIVED, docs/theory/mechanic.md#best-scale]"""
    G = torch.cummax(gnorm, 0).values
    K = torch.arange(1, h.shape[0] + 1, dtype=h.dtype).view(-1, *([1] * (h.ndim - 1)))
    s = D / (eta * G * K.sqrt())
    guarantee = D * G / K.sqrt()
    tuner = torch.cumsum(h * S, 0) - s * torch.cumsum(h, 0)
    size = (torch.cumsum((h * S).abs(), 0) + s * torch.cumsum(h.abs(), 0)) / K + guarantee
    return tuner / K + guarantee, size


def tuner_regret_bound(h, betas, s_init, m_init, eps) -> torch.Tensor:
    """B_t >= sum_{k<=t} h_k S_k = R_t(0) [T, B] of the PyTorch tuner, from its inputs alone.

    h [T, B] (h_0 first); betas [B, n] (or [n]); s_init, m_init, eps [B]. With a = s_init/n,
    per tuner m_k = max(beta m_{k-1}, |h_k|), v_k = beta^2 v_{k-1} + h_k^2 (m_{-1} = m_init,
    v_{-1} = 0), rho_k = |h_k| / (sqrt(v_{k-1}) + eps) (rho_0 = 0: s_0 = 0) and the input-only
    ceiling rbar_k = beta rbar_{k-1} + rho_k (a m_{k-1} + rbar_{k-1}) on the reward:
        B_t = sum_i sum_{k<=t} [ rho_k a m_{k-1} + max(rho_k - beta, 0) rbar_{k-1} ].
    Against any fixed u >= 0, R_t(u) = R_t(0) - u sum_{k<=t} h_k <= B_t - u sum_{k<=t} h_k. Any h
    (any base, lambda, store_delta), betas in [0, 1]. [DERIVED, docs/theory/mechanic.md#tuner-regret]"""
    h = h.to(F64)
    T, B = h.shape
    b = torch.as_tensor(betas, dtype=F64).expand(B, -1)
    n = b.shape[-1]
    a = (torch.as_tensor(s_init, dtype=F64) / n).expand(B)[:, None]
    m = torch.as_tensor(m_init, dtype=F64).expand(B)[:, None].expand(B, n).clone()
    e = torch.as_tensor(eps, dtype=F64).expand(B)[:, None]
    v = torch.zeros(B, n, dtype=F64)
    rbar = torch.zeros(B, n, dtype=F64)
    out = torch.zeros(T, B, dtype=F64)
    total = torch.zeros(B, dtype=F64)
    for k in range(T):
        hk = h[k].abs()[:, None]
        rho = hk / (v.sqrt() + e) if k > 0 else torch.zeros(B, n, dtype=F64)
        total = total + (rho * a * m + (rho - b).clamp(min=0.0) * rbar).sum(-1)
        out[k] = total
        rbar = b * rbar + rho * (a * m + rbar)
        m = torch.maximum(b * m, hk)
        v = b * b * v + hk * hk
    return out


def max_ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """max_i num_i/den_i over the last dim (tuners) [T, B]: num/den <= 1 states den >= num >= 0.
    0/0 (a tuner with nothing yet) carries no information (NaN unless another tuner has some);
    num > 0 = den is +inf (a violation)."""
    r = torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.where(num > 0, math.inf, math.nan))
    out = torch.where(r.isnan(), -math.inf, r).amax(dim=-1)
    return torch.where(out == -math.inf, math.nan, out)


# ---------------------------------------------------------------------------------------------
# Trace layer.
# ---------------------------------------------------------------------------------------------


def n_tuners(trace) -> int:
    n = 0
    while f"s_{n}" in trace:
        n += 1
    return n


def per_tuner(trace, q: str) -> torch.Tensor:
    """[T, B, n] of a per-tuner info quantity (``s``, ``r``, ``m``, ``v``, ``W``)."""
    return torch.stack([A.col(trace, f"{q}_{i}") for i in range(n_tuners(trace))], dim=-1)


def _zeros(tr) -> torch.Tensor:
    return torch.zeros(A.steps(tr), tr.batch, dtype=F64)


def _wealth_sides(tr, pb) -> Sides:
    """max_i (s_init/n) m_{t,i} / W_{t,i} <= 1 (a ratio: informative also where r_t = 0 and W is the floor)."""
    floor = A.hp(tr, "s_init")[None, :, None] / n_tuners(tr) * per_tuner(tr, "m")
    return Sides(max_ratio(floor, per_tuner(tr, "W")), torch.ones(A.steps(tr), tr.batch, dtype=F64))


def _reward_sides(tr, pb) -> Sides:
    """max_i (W_{t,i} - r_{t,i}) / W_{t,i} <= 1, i.e. r >= 0 relative to the wealth it is part of
    (the clamp makes r = 0 exactly on many rows: a bare -r <= 0 would have no scale there)."""
    W = per_tuner(tr, "W")
    return Sides(max_ratio(W - per_tuner(tr, "r"), W), torch.ones(A.steps(tr), tr.batch, dtype=F64))


def _scale_sides(tr, pb) -> Sides:
    """max_i -s_{t+1,i} / sum_j |s_{t+1,j}| <= 0: each scale's sign, relative to the total scale."""
    s = per_tuner(tr, "s")
    return Sides(-s.amin(dim=-1) / s.abs().sum(dim=-1), _zeros(tr))


def _m_v_sides(tr, pb) -> Sides:
    """max_i max((|h_t| + eps_optax)/m_{t,i}, h_t^2/v_{t,i}) <= 1."""
    h = A.col(tr, "h")[..., None]
    eps = A.hp(tr, "eps")[None, :, None] if A.optimizer(tr) == "mechanic_optax" else 0.0
    m = max_ratio(h.abs() + eps, per_tuner(tr, "m"))
    v = max_ratio(h * h, per_tuner(tr, "v"))
    return Sides(torch.fmax(m, v), torch.ones(A.steps(tr), tr.batch, dtype=F64))


def _decomposition_sides(tr, pb) -> Sides:
    T = A.steps(tr)
    g = A.received_grads(tr, pb)
    x = A.iterates(tr)[:T]
    xs = torch.as_tensor(pb.x_star, dtype=F64)
    delta = base_displacements(A.col(tr, "base_lr"), g)
    left, right, size = regret_sides(g, x, xs, x[0], delta, A.col(tr, "h"), A.col(tr, "s_sum_prev"))
    return Sides(left, right, scale=size, terms=A.step_index(tr) + 1)


def _sgd_bound_sides(tr, pb) -> Sides:
    """observed: f(xbar_t) - f* of the runner's uniform average (x_0..x_t, t + 1 rounded terms)."""
    h, S, gn2, eta, D = A.col(tr, "h"), A.col(tr, "s_sum_prev"), A.col(tr, "grad_norm") ** 2, A.col(tr, "base_lr"), A.D(tr)
    T = A.steps(tr)
    f_mag = A.subopt_magnitude(tr, pb, iterate="average")[:T]
    # The average's round-off (t + 1 terms of size max ||x_j||) moves f by at most max ||g|| times it.
    avg = A.running_max(A.col(tr, "grad_norm")) * A.running_max(A.dist_magnitude(tr, pb)[:T])
    scale = f_mag + avg + sgd_bound_scale(h, S, gn2, eta, D)
    return Sides(A.rows(tr, "subopt_avg")[:T], sgd_bound(h, S, gn2, eta, D), scale=scale, terms=A.step_index(tr) + 1)


def _best_scale_sides(tr, pb) -> Sides:
    """observed: f(xbar_t) - f* of the runner's uniform average; bound: ``best_scale_bound`` with the
    norms of the gradients the run received (minibatch ones under a stochastic oracle)."""
    h, S, gn, eta, D = A.col(tr, "h"), A.col(tr, "s_sum_prev"), A.col(tr, "grad_norm"), A.col(tr, "base_lr"), A.D(tr)
    T = A.steps(tr)
    f_mag = A.subopt_magnitude(tr, pb, iterate="average")[:T]
    avg = A.running_max(gn) * A.running_max(A.dist_magnitude(tr, pb)[:T])
    bound, size = best_scale_bound(h, S, gn, eta, D)
    return Sides(A.rows(tr, "subopt_avg")[:T], bound, scale=f_mag + avg + size, terms=A.step_index(tr) + 1)


def _betas(tr) -> torch.Tensor:
    """The run's tuner betas [B, n]: ``init(..., betas=...)`` if given, else the constructor option."""
    b = A.init_args(tr).get("betas", A.option(tr, "betas", DEFAULT_BETAS))
    return torch.as_tensor(b, dtype=F64).cpu().expand(tr.batch, -1)


def _tuner_bound(tr) -> torch.Tensor:
    return tuner_regret_bound(A.col(tr, "h"), _betas(tr), A.hp(tr, "s_init"), A.hp(tr, "m_init"), A.hp(tr, "eps"))


def _tuner_regret_sides(tr, pb) -> Sides:
    """observed: R_t(0) = sum_{k<=t} h_k S_k; bound: ``tuner_regret_bound``. Every u >= 0 adds the same
    -u sum h_k to both sides, so u = 0 decides them all."""
    h = A.col(tr, "h")
    hS = h * A.col(tr, "s_sum_prev")
    # Rows before the first h_k != 0 (h_0 = 0: Delta_0 = 0) carry no information: both sides are 0.
    bound = torch.where(torch.cumsum(h.abs(), 0) > 0, _tuner_bound(tr), math.nan)
    return Sides(torch.cumsum(hS, 0), bound, scale=torch.cumsum(hS.abs(), 0) + bound.abs(), terms=A.step_index(tr) + 1)


def _best_scale_tuner_sides(tr, pb) -> Sides:
    """``_best_scale_sides`` with the run's tuner regret R_t(0) replaced by its bound B_t."""
    sides = _best_scale_sides(tr, pb)
    K = (A.step_index(tr) + 1).to(F64)
    hS = torch.cumsum(A.col(tr, "h") * A.col(tr, "s_sum_prev"), 0)
    bound = _tuner_bound(tr)
    return Sides(sides.observed, sides.bound + (bound - hS) / K, scale=sides.scale + (bound + hS.abs()) / K,
                 terms=sides.terms)


# -- assumptions (docs/theory/mechanic.md#assumptions) ----------------------------------------------


def _all(tr, value: bool) -> torch.Tensor:
    return torch.full((tr.batch,), bool(value))


def _base_name(tr) -> str:
    base = A.option(tr, "base", "sgd")
    return base if isinstance(base, str) else getattr(base, "name", type(base).__name__)


NO_S_DECAY = Assumption("s_decay = 0", lambda tr, pb: A.hp(tr, "s_decay") == 0)
STORE_DELTA = Assumption("store_delta = True", lambda tr, pb: _all(tr, A.option(tr, "store_delta", True) is True))
SGD_BASE = Assumption("base = sgd", lambda tr, pb: _all(tr, _base_name(tr) == "sgd"))
NO_BASE_DECAY = Assumption("base weight_decay = 0", lambda tr, pb: A.hp_or(tr, "base_weight_decay", 0.0) == 0)
CONST_BASE_LR = Assumption("constant base lr", lambda tr, pb: (A.col(tr, "base_lr") == A.col(tr, "base_lr")[:1]).all(dim=0))
REDUCTION = (NO_S_DECAY, STORE_DELTA, SGD_BASE, NO_BASE_DECAY)


# -- results --------------------------------------------------------------------------------------


def _R(key, **kw):
    return register(Result(key=f"mechanic.{key}", paper=PAPER, arxiv=ARXIV, provenance=Provenance.DERIVED, **kw))


_R(
    "wealth_floor", title="Wealth is never below (s_init/n) m_t", role=Role.IMPLEMENTATION,
    source=f"{DOC}#invariants ({REF} §5 (item 2), both variants)", optimizers=BOTH, kind="invariant",
    iterate="none", oracle="any", sides=_wealth_sides,
    statement="for every tuner i: (s_init/n) m_{t,i} / W_{t,i} <= 1  (W_t = (s_init/n) m_t + max(r_t, 0))",
)
_R(
    "reward_nonneg", title="The stored reward is non-negative (PyTorch variant)", role=Role.IMPLEMENTATION,
    source=f"{DOC}#invariants ({REF} §5 (item 1): clamped when stored, mechanic-pytorch only)",
    optimizers=("mechanic",), kind="invariant", iterate="none", oracle="any", sides=_reward_sides,
    statement="r_{t,i} >= 0 for every tuner, checked relative to the wealth: (W_{t,i} - r_{t,i}) / W_{t,i} <= 1",
)
_R(
    "scale_nonneg", title="Every tuner's scale is non-negative, so the clamp max(S, 0) never binds",
    role=Role.IMPLEMENTATION, source=f"{DOC}#invariants ({REF} §5 (item 3))", optimizers=BOTH,
    kind="invariant", iterate="none", oracle="any", sides=_scale_sides,
    statement="s_{t+1,i} >= 0 for every tuner, hence S_{t+1} >= 0 (checked as -s_{t+1,i} / sum_j |s_{t+1,j}| <= 0)",
)
_R(
    "max_and_sum_of_squares", title="m_t >= |h_t| (optax: |h_t| + eps) and v_t >= h_t^2 for every tuner",
    role=Role.IMPLEMENTATION, source=f"{DOC}#invariants ({REF} §5 (item 4))", optimizers=BOTH,
    kind="invariant", iterate="none", oracle="any", sides=_m_v_sides,
    statement="max((|h_t| (+ eps in the optax variant))/m_{t,i}, h_t^2/v_{t,i}) <= 1",
)
_R(
    "regret_decomposition", title="Regret = tuner regret + S0 x base regret (exact, lambda = 0)",
    source=f"{DOC}#regret-decomposition ({REF} §4.2)", optimizers=BOTH, kind="identity", iterate="none",
    oracle="any", sides=_decomposition_sides, assumptions=REDUCTION,
    statement="sum_t <g_t, x_t - x*> = sum_t h_t (S_t - S0) + S0 sum_t <g_t, Delta_t - (x* - x_ref)/S0>  (S0 = 1, "
              "Delta_t = -sum_{k<t} eta_k g_k of the SGD base)",
    notes="Needs keep_iterates=True; gradients are recomputed (minibatch ones from the recorded seeds). Any variant, "
          "betas and base lr schedule.",
)
_R(
    "sgd_average_bound", title="Average-iterate bound of Mechanic over SGD (reduction + OGD regret + online-to-batch)",
    source=f"{DOC}#sgd-bound ({REF} §4.1, §4.3)", optimizers=BOTH, kind="bound", iterate="average",
    oracle="deterministic", requires=frozenset({"convex"}), sides=_sgd_bound_sides,
    assumptions=REDUCTION + (CONST_BASE_LR,),
    statement="f(xbar_t) - f* <= [sum_{k<=t} h_k (S_k - S0_t) + D sqrt(sum_{k<=t} ||g_k||^2)] / (t+1), "
              "S0_t = D / (eta sqrt(sum_{k<=t} ||g_k||^2))",
    notes="The tuner-regret term is read from the run (h_t, S_t); the paper's bound on it is [UNVERIFIED].",
)
_BEST = ("f(xbar_t) - f* <= [sum_{k<=t} h_k (S_k - s_t)] / (t+1) + D G_t / sqrt(t+1), s_t = D / (eta G_t sqrt(t+1)), "
         "G_t = max_{k<=t} ||g_k||: the tuner's regret against the best fixed scale s_t of the base, plus the guarantee "
         "of SGD at that fixed scale (lr s_t eta)")
_R(
    "best_scale_bound", title="Mechanic(SGD) is within the tuner's regret of SGD at its best fixed scale",
    source=f"{DOC}#best-scale ({REF} §4.1, §4.3)", optimizers=BOTH, kind="bound", iterate="average",
    oracle="deterministic", requires=frozenset({"convex"}), sides=_best_scale_sides,
    assumptions=REDUCTION + (CONST_BASE_LR,), statement=_BEST,
    notes="The tuner's regret against s_t is read from the run (h_t, S_t); the paper's bound on it is [UNVERIFIED].",
)
_R(
    "best_scale_bound_expected", title="Mechanic(SGD) within the tuner's regret of SGD at its best fixed scale, in expectation",
    source=f"{DOC}#best-scale-in-expectation ({REF} §4.1, §4.3)", optimizers=BOTH, kind="bound", iterate="average",
    oracle="stochastic", in_expectation=True, requires=frozenset({"convex"}), sides=_best_scale_sides,
    assumptions=REDUCTION + (CONST_BASE_LR,),
    statement="E[f(xbar_t) - f*] <= E[ [sum_{k<=t} h_k (S_k - s_t)] / (t+1) + D G_t / sqrt(t+1) ], the minibatch "
              "gradients' h_k and G_t = max_{k<=t} ||g_k|| (s_t as in mechanic.best_scale_bound)",
    notes="The pathwise inequality holds for the minibatch losses <g_k, .>; online-to-batch needs E[g_k | past] = grad f(x_k).",
)
_R(
    "tuner_regret", title="The PyTorch tuner's regret against every fixed scale, from its inputs alone",
    source=f"{DOC}#tuner-regret ({REF} §5)", optimizers=("mechanic",), kind="bound", iterate="none", oracle="any",
    sides=_tuner_regret_sides,
    statement="for every u >= 0: sum_{k<=t} h_k (S_k - u) <= B_t - u sum_{k<=t} h_k, B_t = sum_i sum_{k<=t} "
              "[rho_{k,i} (s_init/n) m_{k-1,i} + max(rho_{k,i} - beta_i, 0) rbar_{k-1,i}], rho_{k,i} = |h_k| / "
              "(sqrt(v_{k-1,i}) + eps), m, v the max / decayed sum of squares of h, rbar_k = beta rbar_{k-1} + "
              "rho_k ((s_init/n) m_{k-1} + rbar_{k-1}) (mechanic.tuner_regret_bound)",
    notes="Any base, lambda, store_delta and betas in [0, 1]; not the optax variant (unclamped reward, h clipping). "
          "No bound of the parameter-free form O(s_init max|h|) at u = 0 holds for this tuner (docs page).",
)
_R(
    "best_scale_tuner_bound", title="Mechanic(SGD) within a run-independent tuner regret of SGD at its best fixed scale",
    source=f"{DOC}#tuner-regret ({REF} §4.1, §4.3)", optimizers=("mechanic",), kind="bound", iterate="average",
    oracle="deterministic", requires=frozenset({"convex"}), sides=_best_scale_tuner_sides,
    assumptions=REDUCTION + (CONST_BASE_LR,),
    statement="f(xbar_t) - f* <= [B_t - s_t sum_{k<=t} h_k] / (t+1) + D G_t / sqrt(t+1) (B_t of mechanic.tuner_regret, "
              "s_t and G_t of mechanic.best_scale_bound)",
)


# -- examples (tests/theory/test_every_result.py runs each in float64 and float32) --------------------

_HP = {"base_lr": torch.tensor([1e-2, 0.1, 1.0, 10.0], dtype=F64), "s_decay": 0.0}
_ALL = tuple(f"mechanic.{k}" for k in ("wealth_floor", "scale_nonneg", "max_and_sum_of_squares", "regret_decomposition",
                                      "sgd_average_bound", "best_scale_bound"))
example(Example(_ALL + ("mechanic.reward_nonneg", "mechanic.tuner_regret", "mechanic.best_scale_tuner_bound"), "quadratic", "mechanic", hp=_HP, T=150, runs=4))
example(Example(_ALL, "l1_distance", "mechanic_optax", hp=_HP, T=150, runs=4))
example(Example(("mechanic.regret_decomposition",), "least_squares", "mechanic", hp=dict(_HP, base_lr=torch.full((8,), 0.5, dtype=F64)),
                T=100, runs=8, batch_size=8))
example(Example(("mechanic.best_scale_bound_expected",), "least_squares", "mechanic",
                hp=dict(_HP, base_lr=torch.tensor([0.1] * 8 + [1.0] * 8, dtype=F64)), T=100, runs=16, batch_size=8))
