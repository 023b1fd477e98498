"""Mechanic (Cutkosky, Defazio & Mehta, arXiv 2306.00144): regret reduction and tuner invariants.

The paper's text was not available (reference/mechanic.md): its tuner-regret theorem is
[UNVERIFIED] and not asserted. What is asserted:

- the tuner's invariants read off the authors' update ([DERIVED] from [CODE]): wealth never
  below (s_init/n) m_t >= 0, reward r_t >= 0 (PyTorch variant), scales s_{t+1,i} >= 0,
  m_t >= |h_t| and v_t >= h_t^2;
- the exact regret decomposition for lambda = 0 ([DERIVED], docs/theory/mechanic.md):
      sum_t <g_t, x_t - x*> = sum_t h_t (S_t - S0) + S0 sum_t <g_t, Delta_t - (x* - x_ref)/S0>
  (checked with S0 = 1; Delta_t is rebuilt from the SGD base, not read from the optimizer);
- with an SGD base at constant lr eta, online-to-batch and the base-regret bound:
      f(xbar_t) - f* <= [ sum_{k<=t} h_k (S_k - S0_t) + D sqrt(sum_{k<=t} ||g_k||^2) ] / (t+1),
  S0_t = D / (eta sqrt(sum_{k<=t} ||g_k||^2)), xbar_t the uniform average of x_0..x_t;
- the exact scale symmetry (eta, s_init, m_0, eps) -> (c eta, s_init/c, c m_0, c eps), a
  statement about two runs, given here as ``rescaled_hp`` and tested in the test suite;
- the growth of the scale from s_init for one tuner with beta = 1 and constant progress
  (``growth_steps``, the exact recursion of reference/mechanic.md §4.5).

Trace conventions: row t holds x_t and the info of the step that produced x_{t+1}: ``h`` = h_t,
``s_sum_prev`` = S_t (the scale x_t was played at), ``s_sum`` = S_{t+1}, per tuner ``s_i``,
``r_i``, ``m_i``, ``v_i``, ``W_i`` after the step, and the base's ``base_lr``.

All results assume the package's default ``store_delta=True`` (Mechanic's state keeps Delta_t
exactly); a trace from ``runner.run`` does not record that option (a sweep records it in
``meta["options"]``, which is then honoured; see docs/theory/mechanic.md).
"""

from __future__ import annotations

import math

import torch

from .base import per_trace, Provenance, Result, register
from .momo import D_of, F64, all_runs, col, grads, hp, iterates, steps

PAPER = "Mechanic: A Learning Rate Tuner (Cutkosky, Defazio & Mehta, NeurIPS 2023)"
ARXIV = "2306.00144"
DOC = "docs/theory/mechanic.md"
BOTH = ("mechanic", "mechanic_optax")
_SGD_BASE_HP = {"base_lr", "base_weight_decay"}


# ---------------------------------------------------------------------------------------------
# Pure functions.
# ---------------------------------------------------------------------------------------------


def n_tuners(trace) -> int:
    n = 0
    while f"s_{n}" in trace:
        n += 1
    return n


def per_tuner(trace, q: str) -> torch.Tensor:
    """[T, B, n] of a per-tuner info quantity (``s``, ``r``, ``m``, ``v``, ``W``)."""
    return torch.stack([col(trace, f"{q}_{i}") for i in range(n_tuners(trace))], dim=-1)


def rescaled_hp(hp: dict, c: float) -> dict:
    """The hyper-parameters of the rescaled run: (eta, s_init, m_0, eps) -> (c eta, s_init/c, c m_0, c eps).

    With lambda = 0, an SGD base and store_delta=True both runs play identical iterates
    [DERIVED, reference/mechanic.md §5.7]; with c a power of two, identical to the last bit."""
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
    [DERIVED, reference/mechanic.md §4.5]. Returns the first t with s_{t+1} >= target (-1 if none
    within ``limit``)."""
    s, r = 0.0, 0.0
    for t in range(1, limit):
        r = r + s
        s = (s_init + r) / math.sqrt(t)
        if s >= target:
            return t
    return -1


# ---------------------------------------------------------------------------------------------
# Trace layer.
# ---------------------------------------------------------------------------------------------


def _sgd_base_no_decay(trace, problem) -> torch.Tensor:
    """[B]: lambda = 0 and the base looks like plain SGD (its only hyper-parameters are lr and
    weight_decay = 0, and its step is constant)."""
    names = {k for k in trace.meta.get("hp", {}) if k.startswith("base_")}
    sgd_like = names <= _SGD_BASE_HP and "base_lr" in trace
    # Sweeps record the optimizer's options: then the base and store_delta are known exactly.
    options = trace.meta.get("options") or {}
    if options.get("store_delta", True) is not True or options.get("base", "sgd") != "sgd":
        sgd_like = False
    if not sgd_like:
        return all_runs(trace, False)
    lr = col(trace, "base_lr")
    const = (lr == lr[:1]).all(dim=0)
    return (hp(trace, "s_decay") == 0) & (hp(trace, "base_weight_decay", 0.0) == 0) & const


def base_displacements(trace, g: torch.Tensor) -> torch.Tensor:
    """Delta_t = -sum_{k<t} eta_k g_k [T, B, d] for an SGD base (Delta_0 = 0)."""
    steps_ = -col(trace, "base_lr")[..., None] * g
    return torch.cat([torch.zeros_like(steps_[:1]), torch.cumsum(steps_, dim=0)[:-1]], dim=0)


@per_trace
def regret_sides(trace, problem, S0: float = 1.0):
    """Both sides of the decomposition, cumulated over t, and the size of their terms.

    left:  sum_{k<=t} <g_k, x_k - x*>
    right: sum_{k<=t} h_k (S_k - S0) + S0 sum_{k<=t} <g_k, Delta_k - (x* - x_ref)/S0>"""
    T = steps(trace)
    g = grads(trace, problem)
    x = iterates(trace)[:T]
    xs = torch.as_tensor(problem.x_star, dtype=F64)
    x_ref = x[:1]
    delta = base_displacements(trace, g)
    h, S = col(trace, "h"), col(trace, "s_sum_prev")
    left_terms = (g * (x - xs)).sum(-1)
    tuner = h * (S - S0)
    base = S0 * (g * (delta - (xs - x_ref) / S0)).sum(-1)
    size = (g.abs() * ((x - xs).abs() + S0 * delta.abs() + (xs - x_ref).abs())).sum(-1) + (h * S).abs() + S0 * h.abs()
    return torch.cumsum(left_terms, 0), torch.cumsum(tuner + base, 0), torch.cumsum(size, 0)


def sgd_bound(trace) -> torch.Tensor:
    """[R^tuner_t(S0_t) + D sqrt(sum_{k<=t} ||g_k||^2)] / (t+1) with the balancing S0_t [T, B]."""
    T = steps(trace)
    g2 = torch.cumsum(col(trace, "grad_norm") ** 2, 0)
    D = D_of(trace)
    eta = col(trace, "base_lr")
    S0 = D / (eta * g2.sqrt())
    h, S = col(trace, "h"), col(trace, "s_sum_prev")
    tuner = torch.cumsum(h * S, 0) - S0 * torch.cumsum(h, 0)
    K = torch.arange(1, T + 1, dtype=F64)[:, None]
    return (tuner + D * g2.sqrt()) / K


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    return register(Result(key=f"mechanic.{key}", **kw))


def _wealth_gap(tr):
    n = n_tuners(tr)
    floor = hp(tr, "s_init")[None, :, None] / n * per_tuner(tr, "m")
    return (floor - per_tuner(tr, "W")).amax(dim=-1)


_R(
    "wealth_floor", title="Wealth is never below (s_init/n) m_t >= 0", provenance=Provenance.DERIVED,
    source=f"{DOC}#invariants (reference/mechanic.md §5.2, both variants)", optimizers=BOTH, kind="invariant",
    iterate="none", oracle="any",
    statement="for every tuner i: W_{t,i} >= (s_init/n) m_{t,i} >= 0",
    observed=lambda tr, pb: torch.where(per_tuner(tr, "m").amin(dim=-1) < 0, math.inf, _wealth_gap(tr)),
    bound=lambda tr, pb: torch.zeros(steps(tr), tr.batch, dtype=F64),
    scale=lambda tr, pb: per_tuner(tr, "W").abs().amax(dim=-1),
)
_R(
    "reward_nonneg", title="The stored reward is non-negative (PyTorch variant)", provenance=Provenance.DERIVED,
    source=f"{DOC}#invariants (reference/mechanic.md §5.1: clamped when stored, mechanic-pytorch only)",
    optimizers=("mechanic",), kind="invariant", iterate="none", oracle="any",
    statement="r_{t,i} >= 0 for every tuner", observed=lambda tr, pb: -per_tuner(tr, "r").amin(dim=-1),
    bound=lambda tr, pb: torch.zeros(steps(tr), tr.batch, dtype=F64),
)
_R(
    "scale_nonneg", title="Every tuner's scale is non-negative, so the clamp max(S, 0) never binds",
    provenance=Provenance.DERIVED, source=f"{DOC}#invariants (reference/mechanic.md §5.3)", optimizers=BOTH,
    kind="invariant", iterate="none", oracle="any",
    statement="s_{t+1,i} >= 0 for every tuner, hence S_{t+1} >= 0",
    observed=lambda tr, pb: -per_tuner(tr, "s").amin(dim=-1),
    bound=lambda tr, pb: torch.zeros(steps(tr), tr.batch, dtype=F64),
)


def _m_v_gap(tr):
    h = col(tr, "h")[..., None]
    eps = hp(tr, "eps")[None, :, None] if tr.meta.get("optimizer") == "mechanic_optax" else 0.0
    gm = (h.abs() + eps - per_tuner(tr, "m")).amax(dim=-1)
    gv = (h * h - per_tuner(tr, "v")).amax(dim=-1)
    return torch.maximum(gm, gv)


_R(
    "max_and_sum_of_squares", title="m_t >= |h_t| (optax: |h_t| + eps) and v_t >= h_t^2 for every tuner",
    provenance=Provenance.DERIVED, source=f"{DOC}#invariants (reference/mechanic.md §5.4)", optimizers=BOTH,
    kind="invariant", iterate="none", oracle="any",
    statement="m_{t,i} >= |h_t| (+ eps in the optax variant) and v_{t,i} >= h_t^2",
    observed=lambda tr, pb: _m_v_gap(tr), bound=lambda tr, pb: torch.zeros(steps(tr), tr.batch, dtype=F64),
    scale=lambda tr, pb: col(tr, "h").abs() + col(tr, "h") ** 2,
)
_R(
    "regret_decomposition", title="Regret = tuner regret + S0 x base regret (exact, lambda = 0)",
    provenance=Provenance.DERIVED, source=f"{DOC}#regret-decomposition (reference/mechanic.md §4.2)",
    optimizers=BOTH, kind="identity", iterate="none", oracle="any", applies=_sgd_base_no_decay,
    statement="sum_t <g_t, x_t - x*> = sum_t h_t (S_t - S0) + S0 sum_t <g_t, Delta_t - (x* - x_ref)/S0>  (S0 = 1, "
              "Delta_t = -sum_{k<t} eta_k g_k of the SGD base, s_decay = 0, store_delta=True)",
    observed=lambda tr, pb: regret_sides(tr, pb)[0], bound=lambda tr, pb: regret_sides(tr, pb)[1],
    scale=lambda tr, pb: regret_sides(tr, pb)[2],
    notes="Needs keep_iterates=True; gradients are recomputed (minibatch ones from the recorded seeds).",
)
_R(
    "sgd_average_bound", title="Average-iterate bound of Mechanic over SGD (reduction + OGD regret + online-to-batch)",
    provenance=Provenance.DERIVED, source=f"{DOC}#sgd-bound (reference/mechanic.md §4.1, §4.3)", optimizers=BOTH,
    kind="bound", iterate="average", oracle="deterministic", requires=frozenset({"convex"}),
    applies=_sgd_base_no_decay,
    statement="f(xbar_t) - f* <= [sum_{k<=t} h_k (S_k - S0_t) + D sqrt(sum_{k<=t} ||g_k||^2)] / (t+1), "
              "S0_t = D / (eta sqrt(sum_{k<=t} ||g_k||^2))  (SGD base, constant eta, s_decay = 0)",
    observed=lambda tr, pb: col(tr, "subopt_avg"), bound=lambda tr, pb: sgd_bound(tr),
    notes="The tuner-regret term is read from the run (h_t, S_t); the paper's bound on it is [UNVERIFIED].",
)
