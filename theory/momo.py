"""MoMo (Schaipp et al., arXiv 2305.07583): Fejér monotonicity, its corollaries and invariants.

The paper's own convergence theorem was not available (reference/momo.md §13), so every
asserted result here is [DERIVED] in docs/theory/momo.md from the authors' update (momo-opt
0.1.0, [CODE]) or read directly off that update.

Trace conventions (experiments/trace.py): row t holds x_t's distance ``dist`` and the info of
the step that produced x_{t+1} (``tau``, ``h``, ``rho``, ``lb``, ...). With a_t = (h_t - rho_t lb_t)_+
and D = ||x_0 - x*||:

- M1   ||x_{t+1} - x*||^2 + tau_t a_t <= ||x_t - x*||^2        (convex, lb >= f(x*, s) for every s, lambda = 0)
- M1b  sum_{k<=t} tau_k a_k <= D^2
- M1c  min_{k<=t} a_k <= max(G_t D / sqrt(t+1), D^2 / (alpha (t+1))),  G_t = max_{k<=t} ||g_k||
- Polyak (beta = 0, deterministic, L-smooth): min_{k<=t} f(x_k) - f* <= D^2 / ((t+1) min(alpha, 1/(2L)))

This module also holds the small trace helpers shared by the other adaptive-method modules
(mechanic, madgrad, mda, motaps).
"""

from __future__ import annotations

import math

import torch

from ratecheck.errors import RatecheckError

from .base import per_trace, ATOL, Provenance, Result, register

PAPER = "MoMo: Momentum Models for Adaptive Learning Rates (Schaipp, Ohana, Eickenberg, Defazio, Gower, ICML 2024)"
ARXIV = "2305.07583"
DOC = "docs/theory/momo.md"
F64 = torch.float64


# ---------------------------------------------------------------------------------------------
# Trace helpers (shared by the adaptive-method modules).
# ---------------------------------------------------------------------------------------------


def steps(trace) -> int:
    """T of a full trace; per-step sums need every step recorded."""
    T = int(trace.steps.shape[0]) - 1
    if T < 1 or not torch.equal(trace.steps.cpu(), torch.arange(T + 1)):
        raise RatecheckError(f"this result needs every step recorded; got steps {trace.steps[:5].tolist()}...; "
                             "allowed: a full trace from runner.run (no subsampling)")
    return T


def col(trace, name: str) -> torch.Tensor:
    """A recorded quantity at the step rows 0..T-1, float64 [T, B]."""
    return trace[name][: steps(trace)].to(F64)


def nxt(trace, name: str) -> torch.Tensor:
    """A runner quantity at rows 1..T (the iterate a step produced), float64 [T, B]."""
    return trace[name][1 : steps(trace) + 1].to(F64)


def has_hp(trace, name: str) -> bool:
    return name in trace.meta.get("hp", {})


def hp(trace, name: str, default: float | None = None) -> torch.Tensor:
    """Per-run hyper-parameter [B] (float64); ``default`` when the run has none."""
    if has_hp(trace, name):
        return trace.meta["hp"][name].to(F64)
    if default is None:
        raise RatecheckError(f"trace has no hyper-parameter {name!r}; recorded: {sorted(trace.meta.get('hp', {}))}")
    return torch.full((trace.batch,), float(default), dtype=F64)


def D_of(trace) -> torch.Tensor:
    """D = ||x_0 - x*|| [B]."""
    return trace["dist"][0].to(F64)


def stochastic(trace) -> bool:
    return trace.meta.get("batch_size") is not None


def all_runs(trace, value: bool) -> torch.Tensor:
    return torch.full((trace.batch,), bool(value), dtype=torch.bool)


def iterates(trace) -> torch.Tensor:
    """x_0..x_T [T+1, B, d] (float64); needs keep_iterates=True."""
    if "x" not in trace.iterates:
        raise RatecheckError("this result needs the iterates; run with keep_iterates=True")
    return trace.iterates["x"].to(F64)


def sample_indices(trace, problem) -> torch.Tensor:
    """The minibatch indices [T, B, m] the runner drew (recomputed from the recorded seeds)."""
    T = steps(trace)
    seeds = trace.meta["seeds"]
    m = trace.meta["batch_size"]
    return torch.stack([problem.sample_indices(seeds, t, m) for t in range(T)])


def grads(trace, problem) -> torch.Tensor:
    """g_t [T, B, d], the gradients the optimizer received, recomputed from the iterates (the
    full gradient, or the minibatch gradient of the recorded seeds under a stochastic oracle)."""
    x = iterates(trace)[: steps(trace)]
    T, B, d = x.shape
    if not stochastic(trace):
        return problem.grad(x.reshape(T * B, d)).reshape(T, B, d)
    idx = sample_indices(trace, problem)
    return torch.stack([problem.component_grad(x[t], idx[t]) for t in range(T)])


def nan_where(mask: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """NaN (row not checked) where ``mask`` is False."""
    return torch.where(mask, value, torch.full_like(value, math.nan))


def sup_component_value_at_opt(problem) -> float:
    """max_i f_i(x*) for a finite sum (the largest sample loss at the solution), else f*."""
    if not problem.is_finite_sum:
        return float(problem.f_star)
    xs = torch.as_tensor(problem.x_star, dtype=F64)[None, :]
    idx = torch.arange(problem.n)[None, :]
    return float(problem.component_values_each(xs, idx).max())


# ---------------------------------------------------------------------------------------------
# Applicability.
# ---------------------------------------------------------------------------------------------


def lb_dominates_solution(trace, problem) -> torch.Tensor:
    """[B]: lb >= f(x*, s) for every sample s the oracle can draw, and no weight decay.

    Deterministic oracle: lb >= f*. Stochastic: lb >= max_i f_i(x*), which under interpolation
    with lb = f* = 0 is the note's condition; ATOL absorbs the round-off of f_i(x*) = 0."""
    top = sup_component_value_at_opt(problem) if stochastic(trace) else float(problem.f_star)
    return (hp(trace, "lb") >= top - ATOL) & (hp(trace, "weight_decay", 0.0) == 0)


def _polyak_applies(trace, problem):
    ok = (hp(trace, "beta", 0.0) == 0) & (hp(trace, "weight_decay", 0.0) == 0)
    return ok & ((hp(trace, "lb") - problem.f_star).abs() <= ATOL) & all_runs(trace, problem.L is not None)


# ---------------------------------------------------------------------------------------------
# Quantities.
# ---------------------------------------------------------------------------------------------


def model_gap(trace) -> torch.Tensor:
    """a_t = (h_t - rho_t lb_t)_+ [T, B]."""
    return torch.clamp(col(trace, "h") - col(trace, "rho") * col(trace, "lb"), min=0.0)


def gap_size(trace) -> torch.Tensor:
    """|h_t| + rho_t |lb_t| [T, B]: the magnitude of the terms whose difference is the model gap
    (near the solution a_t is a cancellation of O(|f*|) numbers)."""
    return col(trace, "h").abs() + col(trace, "rho") * col(trace, "lb").abs()


@per_trace
def fejer_sides(trace):
    """(||x_{t+1}-x*||^2 + tau_t a_t, ||x_t-x*||^2), each [T, B] (Lemma M1)."""
    return nxt(trace, "dist") ** 2 + col(trace, "tau") * model_gap(trace), col(trace, "dist") ** 2


def min_gap_bound(trace) -> torch.Tensor:
    """max(G_t D/sqrt(t+1), D^2/(alpha (t+1))) with G_t the running max gradient norm (M1c)."""
    T = steps(trace)
    K = torch.arange(1, T + 1, dtype=F64)[:, None]
    G = torch.cummax(col(trace, "grad_norm"), dim=0).values
    D = D_of(trace)
    return torch.maximum(G * D / K.sqrt(), D**2 / (hp(trace, "lr") * K))


def polyak_bound(trace, problem) -> torch.Tensor:
    """D^2 / ((t+1) min(alpha, 1/(2L))) [T, B] (deterministic Polyak/SPS_max, beta = 0)."""
    T = steps(trace)
    K = torch.arange(1, T + 1, dtype=F64)[:, None]
    L = problem.L if problem.L is not None else math.nan
    a_eff = torch.minimum(hp(trace, "lr"), torch.tensor(1.0 / (2.0 * L), dtype=F64))
    return D_of(trace) ** 2 / (K * a_eff)


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    return register(Result(key=f"momo.{key}", **kw))


MOMO = ("momo",)
ALL_MOMO = ("momo", "momo_adam", "momo_star", "momo_adam_star")

_R(
    "fejer", title="MoMo never moves away from a solution (Lemma M1)", provenance=Provenance.DERIVED,
    source=f"{DOC}#lemma-m1 (reference/momo.md §7.2)", optimizers=MOMO, kind="lyapunov", iterate="last",
    oracle="any", requires=frozenset({"convex"}), applies=lb_dominates_solution,
    statement="||x_{t+1}-x*||^2 <= ||x_t-x*||^2 - tau_t (h_t - rho_t lb)_+  "
              "(convex samples, lb >= f(x*, s) for all s, weight_decay = 0; any beta, alpha, weight scheme)",
    observed=lambda tr, pb: fejer_sides(tr)[0], bound=lambda tr, pb: fejer_sides(tr)[1],
    scale=lambda tr, pb: col(tr, "dist") ** 2 + nxt(tr, "dist") ** 2 + col(tr, "tau") * gap_size(tr),
    notes="Under a stochastic oracle lb must dominate every sample loss at x*: interpolation with lb = f* = 0 "
          "(the note's condition) or any larger lb.",
)
_R(
    "fejer_sum", title="Sum of the model decrease is at most D^2 (Corollary M1b)", provenance=Provenance.DERIVED,
    source=f"{DOC}#corollaries", optimizers=MOMO, kind="bound", iterate="none", oracle="any",
    requires=frozenset({"convex"}), applies=lb_dominates_solution,
    statement="sum_{k<=t} tau_k (h_k - rho_k lb)_+ <= ||x_0 - x*||^2",
    observed=lambda tr, pb: torch.cumsum(col(tr, "tau") * model_gap(tr), dim=0),
    bound=lambda tr, pb: (D_of(tr) ** 2).expand(steps(tr), -1),
    scale=lambda tr, pb: torch.cumsum(col(tr, "tau") * gap_size(tr), dim=0),
)
_R(
    "min_model_gap", title="Best model gap decays like max(GD/sqrt K, D^2/(alpha K)) (Corollary M1c)",
    provenance=Provenance.DERIVED, source=f"{DOC}#corollaries", optimizers=MOMO, kind="bound", iterate="best",
    oracle="any", requires=frozenset({"convex"}), applies=lb_dominates_solution,
    statement="min_{k<=t} (h_k - rho_k lb)_+ <= max(G_t D/sqrt(t+1), D^2/(alpha (t+1))), G_t = max_{k<=t} ||g_k||",
    observed=lambda tr, pb: torch.cummin(model_gap(tr), dim=0).values, bound=lambda tr, pb: min_gap_bound(tr),
    scale=lambda tr, pb: gap_size(tr),
    notes="beta = 0: the sampled gap f(x_k, s_k) - lb; beta > 0: only the model gap (reference/momo.md §7.2).",
)
_R(
    "polyak_smooth", title="beta = 0 (SPS_max) on an L-smooth convex f: best gap <= D^2/(K min(alpha, 1/(2L)))",
    provenance=Provenance.DERIVED, source=f"{DOC}#sps-max (reference/momo.md §7.3)", optimizers=MOMO,
    kind="bound", iterate="best", oracle="deterministic", requires=frozenset({"convex", "smooth"}),
    applies=_polyak_applies,
    statement="beta = 0, lb = f*, weight_decay = 0, full gradients: min_{k<=t} f(x_k) - f* <= D^2/((t+1) min(alpha, 1/(2L)))",
    observed=lambda tr, pb: torch.cummin(col(tr, "subopt"), dim=0).values, bound=polyak_bound,
    notes="alpha = inf gives the Polyak-step bound 2 L D^2 / K.",
)
_R(
    "tau_range", title="The step is non-negative and capped: 0 <= tau_t <= alpha/rho_t", provenance=Provenance.DERIVED,
    source=f"{DOC}#invariants (reference/momo.md §9.1, read off momo-opt's update)", optimizers=ALL_MOMO,
    kind="invariant", iterate="none", oracle="any",
    statement="0 <= tau_t <= alpha / rho_t",
    observed=lambda tr, pb: torch.where(col(tr, "tau") < 0, math.inf, col(tr, "tau")),
    bound=lambda tr, pb: hp(tr, "lr") / col(tr, "rho"),
)
_R(
    "stays_above_floor", title="An active step never goes below the floor of the model",
    provenance=Provenance.DERIVED, source=f"{DOC}#invariants (reference/momo.md §9.4)", optimizers=ALL_MOMO,
    kind="invariant", iterate="none", oracle="any", applies=lambda tr, pb: hp(tr, "weight_decay", 0.0) == 0,
    statement="weight_decay = 0, tau_t > 0: rho_t lb_t <= h_t - tau_t ||d_t||^2  (equality when uncapped)",
    observed=lambda tr, pb: nan_where(col(tr, "tau") > 0, col(tr, "rho") * col(tr, "lb")),
    bound=lambda tr, pb: col(tr, "h") - col(tr, "tau") * col(tr, "d_norm_sq"),
    scale=lambda tr, pb: gap_size(tr) + col(tr, "tau") * col(tr, "d_norm_sq"),
    notes="The left side of the model's linear piece at x_{t+1} is h_t - tau_t ||d_t||^2 (P-norm for MoMo-Adam).",
)
_R(
    "estimate_floor", title="MoMo*: the lower-bound estimate never drops below the initial lb (E1)",
    provenance=Provenance.DERIVED, source=f"{DOC}#momo-star (reference/momo.md §5 E1)",
    optimizers=("momo_star", "momo_adam_star"), kind="invariant", iterate="none", oracle="any",
    statement="lb_{t+1} >= lb_1", observed=lambda tr, pb: hp(tr, "lb").expand(steps(tr), -1),
    bound=lambda tr, pb: col(tr, "lb_next"),
)
_R(
    "estimate_monotone", title="MoMo*: between resets the estimate does not decrease (E3)",
    provenance=Provenance.DERIVED, source=f"{DOC}#momo-star (reference/momo.md §5 E3)",
    optimizers=("momo_star", "momo_adam_star"), kind="invariant", iterate="none", oracle="any",
    applies=lambda tr, pb: hp(tr, "weight_decay", 0.0) == 0,
    statement="weight_decay = 0 and h_t >= rho_t lb_t (after the reset): lb_{t+1} >= lb_t",
    observed=lambda tr, pb: nan_where(col(tr, "h") >= col(tr, "rho") * col(tr, "lb"), col(tr, "lb")),
    bound=lambda tr, pb: col(tr, "lb_next"),
    scale=lambda tr, pb: col(tr, "h").abs() / col(tr, "rho"),
)
