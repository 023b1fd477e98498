"""MoMo (Schaipp et al., arXiv 2305.07583): Fejér monotonicity, its corollaries and invariants.

The paper's own convergence theorem was not available (docs/references/momo.md §13), so every
asserted result here is [DERIVED] in docs/theory/momo.md from the authors' update (momo-opt
0.1.0, [CODE]) or read directly off that update.

Notation (docs/theory/momo.md#notation): row t of a trace holds ||x_t - x*|| (``dist``) and the
info of the step that produced x_{t+1} (``tau``, ``h``, ``rho``, ``lb``, ``d_norm_sq``, ...). With
a_t = (h_t - rho_t lb_t)_+ and D = ||x_0 - x*||:

- M1   ||x_{t+1} - x*||^2 + tau_t a_t <= ||x_t - x*||^2        (convex, lb >= f(x*, s) for every s, lambda = 0)
- M1b  sum_{k<=t} tau_k a_k <= D^2
- M1c  min_{k<=t} a_k <= max(G_t D / sqrt(t+1), D^2 / (alpha (t+1))),  G_t = max_{k<=t} ||g_k||
- Polyak (beta = 0, deterministic, L-smooth): min_{k<=t} f(x_k) - f* <= D^2 / ((t+1) min(alpha, 1/(2L)))
- MoMo* (beta = 0, interpolation, online lb): sum_{k<=t} tau_k (f(x_k, s_k) - f*)
      <= D^2 + 2 alpha [(f* - lb_1)_+ + R_t min((f*)_+/2, (f* - lb_1)_+)],  R_t the resets so far

and four properties of the update itself (Role.IMPLEMENTATION: a min, a clamp, a max).

Round-off (docs/theory/momo.md#round-off). h_t = fbar_t + <d_t, x_t> - gamma_t is a difference
of EMAs that can be much larger than h_t (with beta = 0 the two inner products cancel exactly),
so the magnitude of the model gap is bounded from recorded columns: EMA(|f|) + ||x_t|| EMA(||g||)
+ EMA(||g_j|| ||x_j||) + rho_t |lb_t| (``model_magnitude``), and the EMAs carry the round-off of
their own updates, 2u sum_j beta^(t-j) EMA_j (``carried_gap_error``, ``Sides.carried``). A squared
distance of a rounded iterate carries round-off ~ u ||x_t - x*|| (||x_t|| + ||x*||) (``A.dist_magnitude``).
"""

from __future__ import annotations

import torch

from . import access as A
from .base import Assumption, Example, Provenance, Result, Role, Sides, example, register
from .dadaptation import sampled_values_at_opt

F64 = torch.float64
PAPER = "MoMo: Momentum Models for Adaptive Learning Rates (Schaipp, Ohana, Eickenberg, Defazio, Gower, ICML 2024)"
ARXIV = "2305.07583"
DOC = "docs/theory/momo.md"
REF = "docs/references/momo.md"


# -- pure functions of sequences (time on dim 0, runs on dim 1) ------------------------------------


def model_gap(h: torch.Tensor, rho: torch.Tensor, lb: torch.Tensor) -> torch.Tensor:
    """a_t = (h_t - rho_t lb_t)_+, the model's height above its floor."""
    return torch.clamp(h - rho * lb, min=0.0)


def ema(v: torch.Tensor, beta: torch.Tensor, first_sample: bool) -> torch.Tensor:
    """The update's EMA of a sequence v [T, B] (or [T, ..., B]) with weight beta [B]:
    e_t = beta e_{t-1} + (1-beta) v_t, started at e_0 = v_0 (momo-opt's first-sample start) or at
    e_{-1} = 0 (bias correction, MoMo-Adam; the weights then sum to rho_t = 1 - beta^(t+1))."""
    out = torch.empty_like(v)
    c = 1 - beta
    e = v[0] if first_sample else c * v[0]
    out[0] = e
    for t in range(1, v.shape[0]):
        e = beta * e + c * v[t]
        out[t] = e
    return out


def magnitude_emas(loss, grad_norm, x_norm, beta, first_sample: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(EMA(|f|), EMA(||g||), EMA(||g|| ||x||)) [T, B] each: the three sequences stacked through one
    ``ema`` loop over t (each entry gets the same operations as alone, so the same bits)."""
    f, g, gx = ema(torch.stack((loss.abs(), grad_norm, grad_norm * x_norm), dim=1), beta, first_sample).unbind(1)
    return f, g, gx


def model_magnitude(loss, grad_norm, x_norm, rho, lb, beta, first_sample: bool, emas=None) -> torch.Tensor:
    """An upper bound on the magnitudes of the terms whose sum is h_t - rho_t lb_t [T, B]:
    |fbar_t| <= EMA(|f|), |<d_t, x_t>| <= ||x_t|| EMA(||g||), |gamma_t| <= EMA(||g_j|| ||x_j||),
    and rho_t |lb_t| (``x_norm`` >= ||x_t||). The computed gap's round-off is relative to this.
    ``emas``: ``magnitude_emas`` of the same arguments, if already computed."""
    f, g, gx = magnitude_emas(loss, grad_norm, x_norm, beta, first_sample) if emas is None else emas
    return f + x_norm * g + gx + rho * lb.abs()


def ema_history(e: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """acc_t = sum_{j<=t} beta^(t-j) e_j [T, B] (acc_t = beta acc_{t-1} + e_t)."""
    out = torch.empty_like(e)
    acc = e[0]
    out[0] = acc
    for t in range(1, e.shape[0]):
        acc = beta * acc + e[t]
        out[t] = acc
    return out


def carried_gap_error(loss, grad_norm, x_norm, beta, first_sample: bool, x_star_norm: float, emas=None) -> torch.Tensor:
    """A bound, in units of u, on the error delta_t that the EMAs' own arithmetic leaves in the gap's
    inequality h_t - rho_t lb_t <= <d_t, x_t - x*> [T, B] (docs/theory/momo.md#round-off): the
    update e_j = beta e_{j-1} + (1 - beta) v_j errs by <= 2u EMA(|v|)_j and the error decays by beta
    per step, so fbar_t, gamma_t and <d_t, x*> carry 2u acc_t of EMA(|f|), EMA(||g|| ||x||) and
    ||x*|| EMA(||g||). ``emas``: ``magnitude_emas`` of the same arguments, if already computed."""
    emas = magnitude_emas(loss, grad_norm, x_norm, beta, first_sample) if emas is None else emas
    f_acc, g_acc, gx_acc = ema_history(torch.stack(emas, dim=1), beta).unbind(1)
    return 2.0 * (f_acc + gx_acc + x_star_norm * g_acc)


def fejer_sides(dist: torch.Tensor, tau: torch.Tensor, gap: torch.Tensor):
    """Lemma M1 at t = 0..T-1: (||x_{t+1}-x*||^2 + tau_t a_t, ||x_t-x*||^2); dist holds rows 0..T."""
    return dist[1:] ** 2 + tau * gap, dist[:-1] ** 2


def min_gap_bound(grad_norm: torch.Tensor, D: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """M1c: max(G_t D / sqrt(t+1), D^2 / (alpha (t+1))), G_t = max_{k<=t} ||g_k||, [T, B]."""
    K = torch.arange(1, grad_norm.shape[0] + 1, dtype=F64)[:, None]
    G = A.running_max(grad_norm)
    return torch.maximum(G * D / K.sqrt(), D**2 / (alpha * K))


def polyak_bound(D: torch.Tensor, alpha: torch.Tensor, L: float, T: int) -> torch.Tensor:
    """D^2 / ((t+1) min(alpha, 1/(2L))) at t = 0..T-1 [T, B] (SPS_max with beta = 0, L-smooth)."""
    K = torch.arange(1, T + 1, dtype=F64)[:, None]
    return D**2 / (K * torch.clamp(alpha, max=1.0 / (2.0 * L)))


def noisy_fejer_bound(dist_prev: torch.Tensor, tau: torch.Tensor, at_opt_avg: torch.Tensor, rho: torch.Tensor,
                      lb: torch.Tensor) -> torch.Tensor:
    """Lemma M1 without interpolation: ||x_t - x*||^2 + 2 tau_t (Fbar_t - rho_t lb_t), Fbar_t the update's
    EMA of f(x*, s_j) over the samples drawn (weights summing to rho_t). [DERIVED, docs/theory/momo.md#lemma-m1-noisy]."""
    return dist_prev**2 + 2.0 * tau * (at_opt_avg - rho * lb)


def avg_gap_bound(step_norm: torch.Tensor, D: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """M1d: D^2/(alpha K) + G_K D/sqrt(K) at K = t+1 = 1..T, G_K = max_{k<K} step_norm_k (||d_k||, or
    any bound on it such as max ||g_k||), [T, B]. [DERIVED, docs/theory/momo.md#average-gap]."""
    K = torch.arange(1, step_norm.shape[0] + 1, dtype=F64)[:, None]
    return D**2 / (alpha * K) + A.running_max(step_norm) * D / K.sqrt()


def star_rate_bound(D: torch.Tensor, alpha: torch.Tensor, f_star: float, lb0: torch.Tensor, resets: torch.Tensor) -> torch.Tensor:
    """MoMo* (beta = 0, interpolation): D^2 + 2 alpha [(f* - lb_1)_+ + R_t min((f*)_+/2, (f* - lb_1)_+)], with R_t [T, B]
    the number of resets up to row t. [DERIVED, docs/theory/momo.md#momo-star-rate]"""
    first = torch.clamp(f_star - lb0, min=0.0)
    per_reset = torch.clamp(torch.clamp(torch.as_tensor(f_star, dtype=F64), min=0.0) / 2, max=first)
    return D**2 + 2.0 * alpha * (first + resets * per_reset)


def resets(lb: torch.Tensor, lb_next: torch.Tensor) -> torch.Tensor:
    """R_t [T, B]: how many steps 1..t began with ResetStar changing the estimate (lb_t != lb_next_{t-1})."""
    changed = torch.zeros_like(lb)
    changed[1:] = (lb[1:] != lb_next[:-1]).to(lb.dtype)
    return torch.cumsum(changed, dim=0)


def sup_component_value_at_opt(problem, sampled: bool) -> float:
    """sup_s f(x*, s) over what the oracle can return: f* for full gradients (``sampled`` False)
    or an interpolating finite sum (every f_i is minimised at x*, f_i(x*) = f*), else max_i f_i(x*)."""
    if not sampled or not problem.is_finite_sum or "interpolating" in problem.tags:
        return float(problem.f_star)
    xs = torch.as_tensor(problem.x_star, dtype=F64)[None, :]
    return float(problem.component_values_each(xs, torch.arange(problem.n)[None, :]).max())


# -- reading a MoMo trace ----------------------------------------------------------------------------


def _ema_weights(trace) -> tuple[torch.Tensor, bool]:
    """(beta [B], first-sample start?) of the run's EMAs: MoMo-Adam uses beta1 with zero start;
    MoMo uses beta, zero-started only with bias_correction."""
    if A.has_hp(trace, "beta1"):
        return A.hp(trace, "beta1"), False
    return A.hp(trace, "beta"), not A.option(trace, "bias_correction", False)


def _gap_terms(trace, problem):
    """(a_t, magnitude of the terms of h_t - rho_t lb_t, the EMAs' carried error in units of u) [T, B]."""
    h, rho, lb = A.col(trace, "h"), A.col(trace, "rho"), A.col(trace, "lb")
    beta, first = _ema_weights(trace)
    T = A.steps(trace)
    x_norm = A.dist_magnitude(trace, problem)[:T]
    loss, grad_norm = A.col(trace, "loss"), A.col(trace, "grad_norm")
    emas = magnitude_emas(loss, grad_norm, x_norm, beta, first)
    mag = model_magnitude(loss, grad_norm, x_norm, rho, lb, beta, first, emas)
    carried = carried_gap_error(loss, grad_norm, x_norm, beta, first, A.x_star_norm(problem), emas)
    return model_gap(h, rho, lb), mag, carried


def _fejer_terms(trace, problem):
    """(tau_t a_t, M1's two sides, the magnitude of what step t adds (tau_t times the gap's
    terms, and the rounding of x_{t+1} in ||x_{t+1} - x*||^2), that of ||x_t - x*||^2, and the
    EMAs' carried error 2 tau_t delta_t), [T, B] each."""
    tau = A.col(trace, "tau")
    gap, mag, carried = _gap_terms(trace, problem)
    dist = A.rows(trace, "dist")
    sq_mag = dist * A.dist_magnitude(trace, problem)  # round-off of ||x - x*||^2 at a rounded x
    obs, bnd = fejer_sides(dist, tau, gap)
    # an error delta in the gap's inequality moves M1's left side by up to 2 tau |delta| (repeat the proof)
    return tau * gap, obs, bnd, tau * mag + sq_mag[1:], sq_mag[:-1], 2.0 * tau * carried


def _fejer(trace, problem) -> Sides:
    _, obs, bnd, step_mag, prev_mag, carried = _fejer_terms(trace, problem)
    return Sides(obs, bnd, scale=step_mag + prev_mag, before=A.rows(trace, "dist")[:-1] ** 2, carried=carried)


def _sum_scale(trace, problem):
    """(sum_{k<=t} tau_k a_k, the magnitude of the terms of M1 telescoped up to row t, their carried error)."""
    decrease, _, _, step_mag, prev_mag, carried = _fejer_terms(trace, problem)
    return torch.cumsum(decrease, dim=0), torch.cumsum(step_mag, dim=0) + prev_mag[:1], torch.cumsum(carried, dim=0)


def _fejer_sum(trace, problem) -> Sides:
    obs, scale, carried = _sum_scale(trace, problem)
    bnd = (A.D(trace) ** 2).expand_as(obs)
    return Sides(obs, bnd, scale=scale, terms=A.step_index(trace) + 1, carried=carried)


def _min_gap(trace, problem) -> Sides:
    gap, mag, _ = _gap_terms(trace, problem)
    best = torch.cummin(gap, dim=0)
    D = A.D(trace)
    bnd = min_gap_bound(A.col(trace, "grad_norm"), D, A.hp(trace, "lr"))
    _, sum_scale, sum_carried = _sum_scale(trace, problem)
    # The bound is M1b's D^2 pushed through a monotone map: its round-off is M1b's, relative to D^2.
    scale = mag.gather(0, best.indices) + bnd * sum_scale / D**2
    return Sides(best.values, bnd, scale=scale, terms=A.step_index(trace) + 1, carried=bnd * sum_carried / D**2)


def _polyak(trace, problem) -> Sides:
    if problem.L is None:
        raise A.Unavailable(f"{problem.name} has no smoothness constant L")
    T = A.steps(trace)
    D = A.D(trace)
    f = A.col(trace, "subopt")
    bnd = polyak_bound(D, A.hp(trace, "lr"), problem.L, T)
    _, sum_scale, sum_carried = _sum_scale(trace, problem)
    # Each f(x_k) - f* enters the telescoped sum with the round-off of |f(x_k)| + |f*|.
    f_mag = torch.cumsum(A.subopt_magnitude(trace, problem)[:T], dim=0) / (A.step_index(trace) + 1)
    scale = f_mag + bnd * sum_scale / D**2
    return Sides(torch.cummin(f, dim=0).values, bnd, scale=scale, terms=A.step_index(trace) + 1,
                 carried=bnd * sum_carried / D**2)


def _noisy_fejer(trace, problem) -> Sides:
    tau, rho, lb = A.col(trace, "tau"), A.col(trace, "rho"), A.col(trace, "lb")
    beta, first = _ema_weights(trace)
    at_opt = sampled_values_at_opt(trace, problem)
    Fbar = ema(at_opt, beta, first)
    decrease, obs, _, step_mag, prev_mag, carried = _fejer_terms(trace, problem)
    dist = A.rows(trace, "dist")
    bnd = noisy_fejer_bound(dist[:-1], tau, Fbar, rho, lb)
    # the model gap's terms (step_mag), the squared distances, and 2 tau (|Fbar| + rho |lb|)
    scale = step_mag + prev_mag + 2.0 * tau * (ema(at_opt.abs(), beta, first) + rho * lb.abs())
    # d_t = 0: no step, and the claim is not made (tau_t = alpha/rho_t with a_t = 0 and Fbar_t < rho_t lb_t)
    bnd = A.unchecked_where(A.col(trace, "d_norm_sq") > 0, bnd)
    return Sides(obs, bnd, scale=scale, undefined="d_t = 0: no step", before=dist[:-1] ** 2, carried=carried)


def _avg_gap(trace, problem) -> Sides:
    gap, mag, _ = _gap_terms(trace, problem)
    K = A.step_index(trace) + 1
    D = A.D(trace)
    bnd = avg_gap_bound(A.col(trace, "d_norm_sq").sqrt(), D, A.hp(trace, "lr"))
    _, sum_scale, sum_carried = _sum_scale(trace, problem)
    # the gaps' own terms, and M1b's D^2 pushed through the (monotone) Cauchy-Schwarz step
    scale = torch.cumsum(mag, dim=0) / K + bnd * sum_scale / D**2
    return Sides(torch.cumsum(gap, dim=0) / K, bnd, scale=scale, terms=K, carried=bnd * sum_carried / D**2)


def _polyak_interp(trace, problem) -> Sides:
    K = A.step_index(trace) + 1
    D = A.D(trace)
    bnd = avg_gap_bound(A.col(trace, "grad_norm"), D, A.hp(trace, "lr"))
    _, sum_scale, sum_carried = _sum_scale(trace, problem)
    f_mag = torch.cumsum(A.subopt_magnitude(trace, problem)[: A.steps(trace)], dim=0) / K
    return Sides(torch.cumsum(A.col(trace, "subopt"), dim=0) / K, bnd, scale=f_mag + bnd * sum_scale / D**2, terms=K,
                 carried=bnd * sum_carried / D**2)


def _star_rate(trace, problem) -> Sides:
    tau, loss, lb = A.col(trace, "tau"), A.col(trace, "loss"), A.col(trace, "lb")
    fs = float(problem.f_star)
    obs = torch.cumsum(tau * (loss - fs), dim=0)
    alpha, lb0 = A.hp(trace, "lr"), A.hp(trace, "lb")
    bnd = star_rate_bound(A.D(trace), alpha, fs, lb0, resets(lb, A.col(trace, "lb_next")))
    _, sum_scale, sum_carried = _sum_scale(trace, problem)
    # M1' summed (its terms: sum_scale), tau_k times the sampled losses' and f*'s size, and the bound's own terms
    scale = sum_scale + torch.cumsum(tau * (loss.abs() + abs(fs) + lb.abs()), dim=0) + 2.0 * alpha * (abs(fs) + lb0.abs())
    return Sides(obs, bnd, scale=scale, terms=A.step_index(trace) + 1, carried=sum_carried)


def _tau_range(trace, problem) -> Sides:
    # 0 <= tau <= cap  <=>  |tau - cap/2| <= cap/2: both ends in one inequality.
    cap = A.hp(trace, "lr") / A.col(trace, "rho")
    return Sides((A.col(trace, "tau") - cap / 2).abs(), cap / 2)


def _floor(trace, problem) -> Sides:
    tau, rho, lb, dn = A.col(trace, "tau"), A.col(trace, "rho"), A.col(trace, "lb"), A.col(trace, "d_norm_sq")
    _, mag, _ = _gap_terms(trace, problem)  # the computed h_t itself: no carried error
    # d_t = 0: tau_t = alpha/rho_t whatever the model says (the clamp max(nom, 0)/||d||^2 is infinite) and x
    # does not move, so there is no floor to stay above (the falsify search found such rows, h_t < rho_t lb_t).
    bnd = A.unchecked_where((tau > 0) & (dn > 0), A.col(trace, "h") - tau * dn)
    return Sides(rho * lb, bnd, scale=mag + tau * dn, undefined="no step (tau_t = 0 or d_t = 0)")


def _estimate_floor(trace, problem) -> Sides:
    nxt = A.col(trace, "lb_next")
    return Sides(A.hp(trace, "lb").expand_as(nxt), nxt)


def _estimate_monotone(trace, problem) -> Sides:
    h, rho, lb, tau, dn = (A.col(trace, k) for k in ("h", "rho", "lb", "tau", "d_norm_sq"))
    _, mag, _ = _gap_terms(trace, problem)
    bnd = A.unchecked_where(h >= rho * lb, A.col(trace, "lb_next"))
    return Sides(lb, bnd, scale=(mag + tau * dn) / rho, undefined="h_t < rho_t lb_t: the reset may lower the estimate")


# -- assumptions --------------------------------------------------------------------------------------



def _rounded_to_run(trace, value: float) -> float:
    """``value`` less the rounding of a hyper-parameter stored in the run's dtype."""
    return value - A.unit_roundoff(trace) * abs(value)


NO_WEIGHT_DECAY = Assumption("weight_decay = 0", lambda tr, pb: A.hp_or(tr, "weight_decay", 0.0) == 0)
LB_DOMINATES = Assumption(
    # Deterministic oracle: lb >= f*; a sampled one: lb >= f_i(x*) for every i (interpolation with lb = f*).
    "lb >= f(x*, s) for every sample s",
    lambda tr, pb: A.hp(tr, "lb") >= _rounded_to_run(tr, sup_component_value_at_opt(pb, A.stochastic(tr))),
)
BETA_ZERO = Assumption("beta = 0", lambda tr, pb: A.hp(tr, "beta") == 0)
INTERPOLATION = Assumption(
    # every sample is minimised at x*: full gradients, or a finite sum tagged interpolating
    "f(x*, s) = f* for every sample s",
    lambda tr, pb: torch.tensor(sup_component_value_at_opt(pb, A.stochastic(tr)) <= float(pb.f_star)).expand(tr.batch))
LB_IS_F_STAR = Assumption(
    "lb = f*", lambda tr, pb: (A.hp(tr, "lb") - pb.f_star).abs() <= A.unit_roundoff(tr) * abs(pb.f_star))


# -- results ------------------------------------------------------------------------------------------


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    return register(Result(key=f"momo.{key}", provenance=Provenance.DERIVED, **kw))


MOMO = ("momo",)
ALL_MOMO = ("momo", "momo_adam", "momo_star", "momo_adam_star")
STAR = ("momo_star", "momo_adam_star")
FEJER_ASSUMPTIONS = (NO_WEIGHT_DECAY, LB_DOMINATES)

_R(
    "fejer", title="MoMo never moves away from a solution (Lemma M1)",
    source=f"{DOC}#lemma-m1 ({REF} §7.2)", optimizers=MOMO, kind="lyapunov", iterate="last",
    oracle="any", requires=frozenset({"convex"}), sides=_fejer, assumptions=FEJER_ASSUMPTIONS,
    statement="||x_{t+1}-x*||^2 <= ||x_t-x*||^2 - tau_t (h_t - rho_t lb)_+  "
              "(convex samples, lb >= f(x*, s) for all s, weight_decay = 0; any beta, alpha, weight scheme)",
    notes="Under a stochastic oracle lb must dominate every sample loss at x*: interpolation with lb = f* = 0 "
          "(the note's condition) or any larger lb.",
)
_R(
    "fejer_sum", title="Sum of the model decrease is at most D^2 (Corollary M1b)",
    source=f"{DOC}#corollaries", optimizers=MOMO, kind="bound", iterate="none", oracle="any",
    requires=frozenset({"convex"}), sides=_fejer_sum, assumptions=FEJER_ASSUMPTIONS,
    statement="sum_{k<=t} tau_k (h_k - rho_k lb)_+ <= ||x_0 - x*||^2",
)
_R(
    "min_model_gap", title="Best model gap decays like max(GD/sqrt K, D^2/(alpha K)) (Corollary M1c)",
    source=f"{DOC}#corollaries", optimizers=MOMO, kind="bound", iterate="best",
    oracle="any", requires=frozenset({"convex"}), sides=_min_gap, assumptions=FEJER_ASSUMPTIONS,
    statement="min_{k<=t} (h_k - rho_k lb)_+ <= max(G_t D/sqrt(t+1), D^2/(alpha (t+1))), G_t = max_{k<=t} ||g_k||",
    notes=f"beta = 0: the sampled gap f(x_k, s_k) - lb; beta > 0: only the model gap ({REF} §7.2).",
)
_R(
    "polyak_smooth", title="beta = 0 (SPS_max) on an L-smooth convex f: best gap <= D^2/(K min(alpha, 1/(2L)))",
    source=f"{DOC}#sps-max ({REF} §7.3)", optimizers=MOMO, kind="bound", iterate="best", oracle="deterministic",
    requires=frozenset({"convex", "smooth"}), sides=_polyak, assumptions=(BETA_ZERO, NO_WEIGHT_DECAY, LB_IS_F_STAR),
    statement="beta = 0, lb = f*, weight_decay = 0, full gradients: min_{k<=t} f(x_k) - f* <= D^2/((t+1) min(alpha, 1/(2L)))",
    notes="alpha = inf gives the Polyak-step bound 2 L D^2 / K.",
)
_R(
    "fejer_noisy", title="MoMo without interpolation: Lemma M1 with the samples' losses at x* (M1')",
    source=f"{DOC}#lemma-m1-noisy ({REF} §7.2)", optimizers=("momo", "momo_star"), kind="lyapunov", iterate="last",
    oracle="any", requires=frozenset({"convex"}), sides=_noisy_fejer, assumptions=(NO_WEIGHT_DECAY,),
    statement="d_t != 0: ||x_{t+1}-x*||^2 + tau_t (h_t - rho_t lb_t)_+ <= ||x_t-x*||^2 + 2 tau_t (Fbar_t - rho_t lb_t), "
              "Fbar_t = EMA of f(x*, s_j) over the samples drawn  (every sample convex, weight_decay = 0; any lb, beta, "
              "alpha, bias correction, online lb estimate)",
    notes="Pathwise. With lb >= f(x*, s) for every s the last term is <= 0: Lemma M1. Full gradients: Fbar_t = rho_t f*.",
)
_R(
    "avg_model_gap", title="Average model gap decays like D^2/(alpha K) + G D/sqrt(K) (Corollary M1d)",
    source=f"{DOC}#average-gap", optimizers=MOMO, kind="bound", iterate="none", oracle="any",
    requires=frozenset({"convex"}), sides=_avg_gap, assumptions=FEJER_ASSUMPTIONS,
    statement="(1/K) sum_{k<K} (h_k - rho_k lb)_+ <= D^2/(alpha K) + G_K D/sqrt(K), G_K = max_{k<K} ||d_k||  "
              "(convex samples, lb >= f(x*, s) for every s, weight_decay = 0; any beta, bias correction)",
    notes="Pathwise, for interpolating finite sums under a minibatch oracle too. beta = 0: the gap is the sampled "
          "f(x_k, s_k) - lb.",
)
_R(
    "polyak_interp_rate", title="beta = 0 (SPS_max), interpolation: E[average f(x_k) - f*] <= E[D^2/(alpha K) + G_K D/sqrt K]",
    source=f"{DOC}#average-gap", optimizers=MOMO, kind="bound", iterate="average", oracle="stochastic",
    in_expectation=True, requires=frozenset({"convex"}), sides=_polyak_interp,
    assumptions=(BETA_ZERO, NO_WEIGHT_DECAY, LB_IS_F_STAR, LB_DOMINATES),
    statement="beta = 0, lb = f* = f(x*, s) for every s (interpolation), weight_decay = 0, uniform minibatches: "
              "E[(1/K) sum_{k<K} f(x_k) - f*] <= E[D^2/(alpha K) + G_K D/sqrt(K)], G_K = max_{k<K} ||g_k|| (sampled)",
    notes="In expectation over the samples (checked on the mean over seeds); the Polyak step alpha = inf gives G_K D/sqrt(K).",
)
_R(
    "star_rate", title="MoMo* (beta = 0, interpolation): the tau-weighted gap sum stays below D^2 plus the estimate's deficit",
    source=f"{DOC}#momo-star-rate", optimizers=("momo_star",), kind="bound", iterate="weighted_average", oracle="any",
    requires=frozenset({"convex"}), sides=_star_rate, assumptions=(BETA_ZERO, NO_WEIGHT_DECAY, INTERPOLATION),
    statement="beta = 0, weight_decay = 0, f(x*, s) = f* for every s, any lb_1: sum_{k<=t} tau_k (f(x_k, s_k) - f*) <= "
              "D^2 + 2 alpha [(f* - lb_1)_+ + R_t min((f*)_+/2, (f* - lb_1)_+)], R_t the resets up to step t; "
              "full gradients: f(xbar_t) - f* <= that / sum_{k<=t} tau_k, xbar_t the tau-weighted average",
    notes="Pathwise. The online estimate's deficit f* - lb_k at least halves at every step and a reset restarts it at "
          "most at (f*)_+/2; with f* <= 0 (e.g. interpolation of non-negative losses at 0) resets cost nothing.",
)
_R(
    "tau_range", title="The step is non-negative and capped: 0 <= tau_t <= alpha/rho_t", role=Role.IMPLEMENTATION,
    source=f"{DOC}#invariants ({REF} §9, read off momo-opt's update)", optimizers=ALL_MOMO,
    kind="invariant", iterate="none", oracle="any", sides=_tau_range,
    statement="0 <= tau_t <= alpha / rho_t, checked as |tau_t - alpha/(2 rho_t)| <= alpha/(2 rho_t)",
    notes="tau = min(alpha/rho, max(nom, 0)/||d||^2): a min and a clamp (every option, any weight decay).",
)
_R(
    "stays_above_floor", title="An active step never goes below the floor of the model", role=Role.IMPLEMENTATION,
    source=f"{DOC}#invariants ({REF} §9)", optimizers=ALL_MOMO,
    kind="invariant", iterate="none", oracle="any", sides=_floor, assumptions=(NO_WEIGHT_DECAY,),
    statement="weight_decay = 0, tau_t > 0, d_t != 0: rho_t lb_t <= h_t - tau_t ||d_t||^2  (equality when uncapped)",
    notes="The left side of the model's linear piece at x_{t+1} is h_t - tau_t ||d_t||^2 (P-norm for MoMo-Adam); "
          "tau_t <= max(nom_t, 0)/||d_t||^2 with nom_t = h_t - rho_t lb_t when weight_decay = 0.",
)
_R(
    "estimate_floor", title="MoMo*: the lower-bound estimate never drops below the initial lb (E1)",
    role=Role.IMPLEMENTATION, source=f"{DOC}#momo-star ({REF} §5)", optimizers=STAR,
    kind="invariant", iterate="none", oracle="any", sides=_estimate_floor,
    statement="lb_{t+1} >= lb_1  (both ResetStar and EstimateStar end in max(., lb_1))",
)
_R(
    "estimate_monotone", title="MoMo*: between resets the estimate does not decrease (E3)",
    role=Role.IMPLEMENTATION, source=f"{DOC}#momo-star ({REF} §5)", optimizers=STAR,
    kind="invariant", iterate="none", oracle="any", sides=_estimate_monotone, assumptions=(NO_WEIGHT_DECAY,),
    statement="weight_decay = 0 and h_t >= rho_t lb_t (after the reset): lb_{t+1} >= lb_t",
    notes="From the clamp tau_t ||d_t||^2 <= h_t - rho_t lb_t and the max in EstimateStar.",
)


# -- examples (tests/theory/test_every_result.py runs each in float64 and float32) -----------------------

_LR = torch.tensor([0.01, 0.05, 0.2, 1.0], dtype=F64)
example(Example(("momo.fejer", "momo.fejer_sum", "momo.min_model_gap", "momo.tau_range", "momo.stays_above_floor"),
                "l1_distance", "momo", hp={"lr": _LR, "beta": torch.tensor([0.0, 0.5, 0.9, 0.9], dtype=F64), "lb": 0.0},
                T=100, runs=4))
example(Example(("momo.fejer", "momo.fejer_sum", "momo.min_model_gap", "momo.tau_range", "momo.stays_above_floor"),
                "least_squares_interp", "momo", hp={"lr": torch.cat([_LR, _LR]) * 10, "beta": 0.9, "lb": 0.0},
                options={"bias_correction": True}, T=100, runs=8, batch_size=4))
example(Example(("momo.polyak_smooth", "momo.tau_range"), "quadratic", "momo",
                hp={"lr": torch.tensor([0.01, 0.1, 1.0, 1e6], dtype=F64), "beta": 0.0, "lb": 0.0}, T=100, runs=4))
example(Example(("momo.tau_range", "momo.stays_above_floor"), "huber", "momo_adam",
                hp=lambda pb, D: {"lr": torch.tensor([1e-2, 0.1, 1.0, 10.0], dtype=F64), "lb": pb.f_star}, T=100, runs=4))
example(Example(("momo.estimate_floor", "momo.estimate_monotone", "momo.tau_range", "momo.stays_above_floor"),
                "least_squares", "momo_star", hp={"lr": 1.0, "beta": 0.9, "lb": torch.tensor([-10.0, -1.0, 0.0, 0.05], dtype=F64)},
                T=100, runs=4))
example(Example(("momo.estimate_floor", "momo.estimate_monotone"), "logistic", "momo_adam_star",
                hp={"lr": torch.tensor([1e-2, 0.1, 1.0, 10.0], dtype=F64), "lb": -1.0}, T=100, runs=4))
# New coverage (issue 11): M1 without interpolation (demo-like: lb = 0 below the samples' losses at x*), the
# average gap and the Polyak rate in expectation on an interpolating finite sum (8 seeds per group).
example(Example(("momo.fejer_noisy",), "least_squares", "momo",
                hp={"lr": torch.cat([_LR, _LR]) * 10, "beta": torch.tensor([0.0, 0.5, 0.9, 0.99] * 2, dtype=F64), "lb": 0.0},
                options={"bias_correction": True}, T=100, runs=8, batch_size=8))
example(Example(("momo.fejer_noisy",), "hinge_svm", "momo_star",
                hp={"lr": torch.cat([_LR, _LR]) * 10, "beta": 0.9, "lb": torch.tensor([-1.0, 0.0] * 4, dtype=F64)},
                T=100, runs=8, batch_size=8))
example(Example(("momo.avg_model_gap", "momo.fejer_noisy"), "least_squares_interp", "momo",
                hp={"lr": torch.cat([_LR, _LR]) * 10, "beta": torch.tensor([0.0, 0.5, 0.9, 0.9] * 2, dtype=F64), "lb": 0.0},
                T=100, runs=8, batch_size=4))
example(Example(("momo.avg_model_gap",), "l1_distance", "momo",
                hp={"lr": _LR, "beta": torch.tensor([0.0, 0.5, 0.9, 0.0], dtype=F64), "lb": 0.0}, T=100, runs=4))
example(Example(("momo.star_rate",), "least_squares_interp", "momo_star",
                hp={"lr": torch.tensor([0.1, 1.0, 10.0, 1e3] * 2, dtype=F64), "beta": 0.0, "lb": torch.tensor([-10.0, -1.0, 0.0, -0.1] * 2, dtype=F64)},
                T=100, runs=8, batch_size=4))
example(Example(("momo.star_rate",), "least_squares", "momo_star",
                hp={"lr": torch.tensor([0.1, 1.0, 10.0, 1e3], dtype=F64), "beta": 0.0, "lb": torch.tensor([-10.0, -1.0, 0.0, 0.05], dtype=F64)},
                T=100, runs=4))
example(Example(("momo.polyak_interp_rate",), "least_squares_interp", "momo",
                hp={"lr": torch.tensor([1.0] * 8 + [100.0] * 8, dtype=F64), "beta": 0.0, "lb": 0.0}, T=100, runs=16, batch_size=4))
