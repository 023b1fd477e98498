"""TAPS / MOTAPS (Gower, Defazio & Rabbat, arXiv 2106.11851): per-step Lyapunov checks.

The paper's theorems are unknown (docs/references/motaps.md §8); nothing of them is asserted.
What is asserted is [DERIVED] in docs/theory/motaps.md, each under the conditions of its proof:

- the bookkeeping of the targets (Role.IMPLEMENTATION): the optimizer's residual
  r_t = f_i(w_t) - alpha_i, its tau and its mean target agree with a replay of alpha from the
  recorded losses, gradient norms and sampled indices alone ([CODE] update), so that the
  Lyapunov check below sees the true alpha;
- the sample step (beta = 0, convex f_i, r_t >= 0, any gamma > 0):
      ||w_{t+1}-w*||^2 + (alpha_i^+ - alpha_i^*)^2 <= ||w_t-w*||^2 + (alpha_i - alpha_i^*)^2 - gamma (2-gamma) r_t^2/q_t,
  alpha_i^* = f_i(w*), q_t = ||grad f_i(w_t)||^2 + 1 (TAPS and MOTAPS alike: tau plays no role);
- TAPS with tau = f* (beta = 0, gamma in (0, 2]): V = ||w - w*||^2 + ||alpha - alpha^*||^2 decreases by at
  least gamma (2-gamma) r_t^2/q_t at every step with r_t >= 0, epoch-end target shifts included
  (each lowers V by exactly gamma (2-gamma) n (abar - tau)^2);
- TAPS and MOTAPS (beta = 0, any gamma > 0, any tau): the same V at every step with r_t >= 0, up to the
  target's error at epoch ends: V_{t+1} <= V_t - gamma (2-gamma) r_t^2/q_t + [end] (2 n gamma (tau - abar)(tau - f*)
  - n gamma (2-gamma)(tau - abar)^2), tau the new target, abar the mean target before the shift;
- TAPS and MOTAPS (beta = 0, convex f_i, 0 < gamma < 2): a pathwise rate of the average positive residual,
      (1/T) sum_{t<T} (r_t^+)^2/q_t <= (V_0 + sum_{t<T} U_t + sum_{epoch ends} E) / (gamma (2-gamma) T),
  U_t what a step with r_t < 0 can add to V (from the run), E the target's error term above; for TAPS, at the
  rows before a run's first step with r_t < 0, the clean rate V_0 / (gamma (2-gamma) T);
- MOTAPS (Role.IMPLEMENTATION: a gradient step on a quadratic): the once-per-epoch tau step never
  increases phi(tau) = n/2 (tau - abar)^2 + tau^2/2 at the epoch's abar (tau_lr in [0, 2]).

Rows where a condition fails (r_t < 0, not an epoch end) are NaN (not checked).
Trace conventions: row t holds w_t's ``dist``, the sampled ``loss`` f_i(w_t), ``grad_norm``, and the
step's info ``r``, ``idx`` (the sampled i), ``tau`` and ``alphabar`` (after the step).
"""

from __future__ import annotations

import torch

from . import access as A
from .base import Assumption, Example, Provenance, Result, Role, Sides, example, register

F64 = torch.float64
PAPER = "Stochastic Polyak Stepsize with a Moving Target (Gower, Defazio & Rabbat, 2021)"
ARXIV = "2106.11851"
DOC = "docs/theory/motaps.md"
REF = "docs/references/motaps.md"


# -- pure functions of sequences (time on dim 0, runs on dim 1) ------------------------------------


def step_size(lr: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """gamma = lr (1 + beta / (1 - beta)) = lr / (1 - beta), the code's momentum rescaling."""
    return lr * (1 + beta / (1 - beta))


def solution_targets(problem) -> torch.Tensor:
    """alpha^*_i = f_i(w*) for every data point [n]."""
    xs = torch.as_tensor(problem.x_star, dtype=F64)[None, :]
    return problem.component_values_each(xs, torch.arange(problem.n)[None, :])[0].to(F64)


def epoch_end(T: int, n: int) -> torch.Tensor:
    """[T, 1] bool: step t ends an epoch ((t+1) % n == 0), where the targets are corrected."""
    return ((torch.arange(T) + 1) % n == 0)[:, None]


def replay(loss, grad_norm, idx, gamma, lam, tau0, star) -> dict[str, torch.Tensor]:
    """Replay the target updates of the code from the sampled losses f_i(w_t) [T, B], gradient
    norms [T, B] and indices idx [T, B] alone (gamma, lam = tau_lr, tau0 [B]; star = alpha^* [n]):

        alpha_i += gamma r/q at the sampled i (r = f_i(w_t) - alpha_i, q = ||grad f_i||^2 + 1);
        at an epoch end: tau = (1-lam) tau + lam n/(n+1) abar, alpha += gamma (tau - abar).

    Returns [T, B] tensors: ``a_old`` (alpha_i before step t), ``r``, ``tau``, ``abar`` (after step t),
    ``abar_pre`` (the mean target before an epoch end's correction), ``a_star`` (alpha^*_i of the
    sampled point), ``dist_alpha`` / ``dist_alpha_next`` (||alpha - alpha^*||^2 before / after
    step t), and for the round-off: ``alpha_mag`` / ``alpha_mag_next`` (sum_i |alpha_i - alpha^*_i|
    (|alpha_i| + |alpha^*_i| + m_i), m_i the summed magnitudes of the terms added into alpha_i),
    ``a_old_mag`` (|alpha_i| + m_i at the sampled i), ``abar_mag`` (|abar| + mean_i m_i) and
    ``tau_mag`` (|tau| + m_tau).

    m carries the rounding forward to first order: a sample step multiplies alpha_i's earlier error
    by d alpha_i^+ / d alpha_i = 1 - gamma/q, an epoch end adds gamma times the errors of tau and
    abar to every alpha_i and mixes abar's error into tau's. A factor is never taken below 1, so
    for gamma/q <= 2 this is the plain sum of the terms' magnitudes; for a larger step (gamma up
    to any value the method allows) the earlier errors grow as the run does.
    """
    T, B = loss.shape
    n = star.shape[0]
    q = grad_norm**2 + 1
    alpha = torch.zeros(B, n, dtype=F64)
    mag = torch.zeros(B, n, dtype=F64)
    tau = tau0.clone()
    keys = ("a_old", "r", "tau", "abar", "abar_pre", "a_star", "dist_alpha", "dist_alpha_next",
            "alpha_mag", "alpha_mag_next", "a_old_mag", "abar_mag", "tau_mag")
    mag_tau = torch.zeros(B, dtype=F64)
    out = {k: torch.empty(T, B, dtype=F64) for k in keys}
    rows = torch.arange(B)

    def spread(a, m):
        dev = a - star
        return (dev**2).sum(-1), (dev.abs() * (a.abs() + star.abs() + m)).sum(-1)

    out["dist_alpha"][0], out["alpha_mag"][0] = spread(alpha, mag)
    for t in range(T):
        i = idx[t]
        a_old = alpha[rows, i]
        out["a_old_mag"][t] = a_old.abs() + mag[rows, i]
        r = loss[t] - a_old
        alpha[rows, i] = a_old + gamma * r / q[t]
        grow = (1 - gamma / q[t]).abs().clamp(min=1.0)  # how the step carries alpha_i's earlier error
        mag[rows, i] = grow * mag[rows, i] + gamma * (loss[t].abs() + a_old.abs()) / q[t]  # + r's terms, scaled as the step
        abar = alpha.mean(-1)
        out["abar_pre"][t] = abar
        if (t + 1) % n == 0:
            err_abar = mag.mean(-1)
            tau = (1 - lam) * tau + lam * (n / (n + 1)) * abar
            mag_tau = (1 - lam).abs().clamp(min=1.0) * mag_tau + lam * (err_abar + abar.abs()) + tau.abs()
            alpha += (gamma * (tau - abar))[:, None]
            mag += (gamma * (tau.abs() + abar.abs() + mag_tau + err_abar))[:, None]
            abar = alpha.mean(-1)
        out["a_old"][t], out["r"][t], out["tau"][t], out["abar"][t] = a_old, r, tau, abar
        out["a_star"][t] = star[i]
        out["abar_mag"][t] = abar.abs() + mag.mean(-1)
        out["tau_mag"][t] = tau.abs() + mag_tau
        out["dist_alpha_next"][t], out["alpha_mag_next"][t] = spread(alpha, mag)
        if t + 1 < T:
            out["dist_alpha"][t + 1], out["alpha_mag"][t + 1] = out["dist_alpha_next"][t], out["alpha_mag_next"][t]
    return out


def sample_step_sides(dist, loss, r, grad_norm, gamma, a_star):
    """Both sides of the sample-step inequality at t = 0..T-1 (dist holds rows 0..T), with the
    optimizer's own alpha_i = f_i(w_t) - r_t and alpha_i^+ = alpha_i + gamma r_t/q_t:

        left  = ||w_{t+1}-w*||^2 + (alpha_i^+ - alpha_i^*)^2 + gamma (2-gamma) r_t^2/q_t
        right = ||w_t-w*||^2 + (alpha_i - alpha_i^*)^2.
    """
    q = grad_norm**2 + 1
    a_old = loss - r
    a_new = a_old + gamma * r / q
    left = dist[1:] ** 2 + (a_new - a_star) ** 2 + gamma * (2 - gamma) * r**2 / q
    return left, dist[:-1] ** 2 + (a_old - a_star) ** 2


def lyapunov_sides(dist, dist_alpha, dist_alpha_next, r, grad_norm, gamma):
    """TAPS: (V_{t+1} + gamma (2-gamma) r_t^2/q_t, V_t), V = ||w - w*||^2 + ||alpha - alpha^*||^2."""
    q = grad_norm**2 + 1
    return dist[1:] ** 2 + dist_alpha_next + gamma * (2 - gamma) * r**2 / q, dist[:-1] ** 2 + dist_alpha


def target_error_term(tau, abar_pre, f_star, gamma, n: int) -> torch.Tensor:
    """What an epoch end adds to V = ||w - w*||^2 + ||alpha - alpha^*||^2 (exactly), with tau the new target
    and abar_pre the mean target before the shift alpha += gamma (tau - abar_pre):

        2 n gamma (tau - abar_pre)(tau - f*) - n gamma (2 - gamma)(tau - abar_pre)^2

    (<= 0 when tau lies between f* and abar_pre; TAPS, tau = f*: - n gamma (2 - gamma)(abar - f*)^2)."""
    e = tau - abar_pre
    return 2 * n * gamma * e * (tau - f_star) - n * gamma * (2 - gamma) * e**2


def moving_target_sides(dist, dist_alpha, dist_alpha_next, r, grad_norm, gamma, end_term):
    """MOTAPS: (V_{t+1} + gamma (2-gamma) r_t^2/q_t, V_t + end_term_t), V = ||w - w*||^2 + ||alpha - alpha^*||^2,
    ``end_term`` = ``target_error_term`` at epoch ends and 0 elsewhere."""
    left, right = lyapunov_sides(dist, dist_alpha, dist_alpha_next, r, grad_norm, gamma)
    return left, right + end_term


def r_negative_increase(dist, loss, r, grad_norm, gamma, a_star) -> torch.Tensor:
    """What a sample step with r_t < 0 can add to V, computed from the run (0 where r_t >= 0):

        U_t = (2 gamma |r_t| (||grad f_i(w_t)|| ||w_t - w*|| - h_t) - gamma (2-gamma) r_t^2) / q_t,

    h_t = f_i(w_t) - f_i(w*) the sampled gap (dist holds rows 0..T; Cauchy-Schwarz bounds
    <grad f_i(w_t), w_t - w*>)."""
    q = grad_norm**2 + 1
    h = loss - a_star
    inc = (2 * gamma * r.abs() * (grad_norm * dist[:-1] - h) - gamma * (2 - gamma) * r**2) / q
    return torch.where(r < 0, inc, torch.zeros_like(inc))


def residual_rate_sides(r, grad_norm, gamma, v0, extra):
    """Average positive residual vs its bound, rows t = 0..T-1 (steps 0..t):

        (1/(t+1)) sum_{s<=t} (r_s^+)^2/q_s  <=  (V_0 + sum_{s<=t} extra_s) / (gamma (2-gamma) (t+1)),

    ``extra`` = ``r_negative_increase`` + the epoch ends' ``target_error_term`` (0 elsewhere)."""
    q = grad_norm**2 + 1
    t = torch.arange(1, r.shape[0] + 1, dtype=r.dtype)[:, None]
    observed = torch.cumsum(r.clamp(min=0) ** 2 / q, dim=0) / t
    return observed, (v0 + torch.cumsum(extra, dim=0)) / (gamma * (2 - gamma) * t)


def phi(tau: torch.Tensor, abar: torch.Tensor, n: int) -> torch.Tensor:
    """phi(tau) = n/2 (tau - abar)^2 + tau^2/2 [DERIVED, docs/references/motaps.md §4]."""
    return 0.5 * n * (tau - abar) ** 2 + 0.5 * tau**2


# -- reading a TAPS/MOTAPS trace ---------------------------------------------------------------------


def gamma_of(trace) -> torch.Tensor:
    """gamma [B] of a run, from its hyper-parameters."""
    return step_size(A.hp(trace, "lr"), A.hp_or(trace, "beta", 0.0))


def _tau0(trace, problem) -> torch.Tensor:
    """MOTAPS starts from its tau0; TAPS's target is the problem's f* throughout."""
    return A.hp(trace, "tau0") if A.has_hp(trace, "tau0") else torch.full((trace.batch,), float(problem.f_star), dtype=F64)


def shadow(trace, problem) -> dict[str, torch.Tensor]:
    """``replay`` on a trace: the recorded losses, gradient norms and sampled indices."""
    if not problem.is_finite_sum:
        raise A.Unavailable(f"{problem.name} is not a finite sum: no per-point targets")
    return replay(A.col(trace, "loss"), A.col(trace, "grad_norm"), A.col(trace, "idx").long(), gamma_of(trace),
                  A.hp_or(trace, "tau_lr", 0.0), _tau0(trace, problem), solution_targets(problem))


def _sq_mag(trace, problem) -> torch.Tensor:
    """Round-off size of ||w_t - w*||^2 at a rounded iterate, rows 0..T."""
    return A.rows(trace, "dist") * A.dist_magnitude(trace, problem)


def _bookkeeping(trace, problem) -> Sides:
    sh = shadow(trace, problem)
    r, tau, abar, loss = A.col(trace, "r"), A.col(trace, "tau"), A.col(trace, "alphabar"), A.col(trace, "loss")
    diff = (r - sh["r"]).abs() + (tau - sh["tau"]).abs() + (abar - sh["abar"]).abs()
    # alpha_i and abar accumulate every update since the start: t+1 rounded terms.
    size = r.abs() + loss.abs() + sh["a_old_mag"] + sh["tau_mag"] + sh["abar_mag"]
    return Sides(diff, torch.zeros_like(diff), scale=size, terms=A.step_index(trace) + 1)


def _step_mag(r, loss, grad_norm, gamma, a_old):
    """Magnitude of the terms of one sample step: 2 gamma r^2/q and r = f_i - alpha_i's own terms."""
    q = grad_norm**2 + 1
    return gamma * (2 * r**2 + r.abs() * (loss.abs() + a_old.abs())) / q


def _sample_step(trace, problem) -> Sides:
    sh = shadow(trace, problem)
    r, loss, gn, dist = A.col(trace, "r"), A.col(trace, "loss"), A.col(trace, "grad_norm"), A.rows(trace, "dist")
    gamma = gamma_of(trace)
    left, right = sample_step_sides(dist, loss, r, gn, gamma, sh["a_star"])
    a_old = loss - r
    a_new = a_old + gamma * r / (gn**2 + 1)
    ref = loss.abs() + r.abs() + sh["a_star"].abs()  # a_old = f_i - r carries their rounding
    sq = _sq_mag(trace, problem)
    scale = (sq[1:] + sq[:-1] + (a_old - sh["a_star"]).abs() * (a_old.abs() + ref)
             + (a_new - sh["a_star"]).abs() * (a_new.abs() + ref) + _step_mag(r, loss, gn, gamma, a_old))
    ok = r >= 0
    return Sides(A.unchecked_where(ok, left), A.unchecked_where(ok, right), scale=scale,
                 undefined="r_t < 0: convexity gives no sign and the code does not clip r")


def _taps_lyapunov(trace, problem) -> Sides:
    sh = shadow(trace, problem)
    r, loss, gn, dist = A.col(trace, "r"), A.col(trace, "loss"), A.col(trace, "grad_norm"), A.rows(trace, "dist")
    gamma = gamma_of(trace)
    left, right = lyapunov_sides(dist, sh["dist_alpha"], sh["dist_alpha_next"], r, gn, gamma)
    sq = _sq_mag(trace, problem)
    scale = sq[1:] + sq[:-1] + sh["alpha_mag"] + sh["alpha_mag_next"] + _step_mag(r, loss, gn, gamma, sh["a_old"])
    ok = r >= 0
    # The replayed alpha accumulates t+1 rounded updates.
    return Sides(A.unchecked_where(ok, left), A.unchecked_where(ok, right), scale=scale,
                 terms=A.step_index(trace) + 1, undefined="r_t < 0: convexity gives no sign and the code does not clip r")


def _end_term(trace, problem, sh):
    """``target_error_term`` at the epoch ends (0 elsewhere) and its round-off size: its own parts and
    its sensitivity to the rounding of tau and abar (accumulated like alpha)."""
    gamma, n, fs = gamma_of(trace), problem.n, float(problem.f_star)
    tau, abar = A.col(trace, "tau"), sh["abar_pre"]
    end = epoch_end(A.steps(trace), n).expand_as(tau)
    e = (tau - abar).abs()
    mag = n * gamma.abs() * (e * (2 * (tau - fs).abs() + (2 - gamma).abs() * e)
                             + (2 * ((tau - fs).abs() + e) + 2 * (2 - gamma).abs() * e) * (tau.abs() + sh["abar_mag"] + abs(fs)))
    return torch.where(end, target_error_term(tau, abar, fs, gamma, n), 0.0), torch.where(end, mag, 0.0)


def _moving_target_lyapunov(trace, problem) -> Sides:
    sh = shadow(trace, problem)
    r, loss, gn, dist = A.col(trace, "r"), A.col(trace, "loss"), A.col(trace, "grad_norm"), A.rows(trace, "dist")
    gamma = gamma_of(trace)
    term, end_mag = _end_term(trace, problem, sh)
    left, right = moving_target_sides(dist, sh["dist_alpha"], sh["dist_alpha_next"], r, gn, gamma, term)
    sq = _sq_mag(trace, problem)
    scale = sq[1:] + sq[:-1] + sh["alpha_mag"] + sh["alpha_mag_next"] + _step_mag(r, loss, gn, gamma, sh["a_old"]) + end_mag
    ok = r >= 0
    return Sides(A.unchecked_where(ok, left), A.unchecked_where(ok, right), scale=scale,
                 terms=A.step_index(trace) + 1, undefined="r_t < 0: convexity gives no sign and the code does not clip r")


def _rate_parts(trace, problem):
    """Both sides of the residual rate, its round-off size, and the clean bound V_0 / (gamma (2-gamma) (t+1))."""
    sh = shadow(trace, problem)
    r, loss, gn, dist = A.col(trace, "r"), A.col(trace, "loss"), A.col(trace, "grad_norm"), A.rows(trace, "dist")
    gamma = gamma_of(trace)
    term, end_mag = _end_term(trace, problem, sh)
    inc = r_negative_increase(dist, loss, r, gn, gamma, sh["a_star"])
    sq = _sq_mag(trace, problem)
    v0 = dist[0] ** 2 + sh["dist_alpha"][0]
    observed, bound = residual_rate_sides(r, gn, gamma, v0, inc + term)
    q = gn**2 + 1
    c = gamma * (2 - gamma)
    # per step: U_t's parts, and r_t's own rounding (f_i - alpha_i, alpha_i accumulated) in r^2/q and U_t
    step = (2 * gamma * r.abs() * (gn * dist[:-1] + loss.abs() + sh["a_star"].abs()) + gamma * (2 - gamma).abs() * r**2
            + (c.abs() + 4 * gamma) * r.abs() * (loss.abs() + sh["a_old_mag"])) / q + end_mag
    t = A.step_index(trace) + 1
    clean = v0 / (c * t)
    scale = ((sq[0] + sh["alpha_mag"][0] + torch.cumsum(step, dim=0)) / (c * t)
             + torch.maximum(bound.abs(), clean.abs()) * (2 + gamma) / (2 - gamma))
    return observed, bound, clean, scale, t, r


def _residual_rate(trace, problem) -> Sides:
    observed, bound, _, scale, t, _ = _rate_parts(trace, problem)
    return Sides(observed, bound, scale=scale, terms=t)


def _taps_clean_rate(trace, problem) -> Sides:
    observed, _, clean, scale, t, r = _rate_parts(trace, problem)
    none_yet = torch.cumsum((r < 0).to(F64), dim=0) == 0
    return Sides(observed, A.unchecked_where(none_yet, clean), scale=scale, terms=t,
                 undefined="a step with r_s < 0 before this row: the clean rate needs none (motaps.residual_rate covers it)")


def phi_sides(trace, problem) -> Sides:
    """phi(tau_new) vs phi(tau_old) at each epoch end, at the epoch's mean target (other rows NaN)."""
    sh = shadow(trace, problem)
    n = problem.n
    tau_new = A.col(trace, "tau")
    tau_old = torch.cat([_tau0(trace, problem)[None, :], tau_new[:-1]])
    abar = sh["abar_pre"]
    new, old = phi(tau_new, abar, n), phi(tau_old, abar, n)
    end = epoch_end(A.steps(trace), n).expand_as(new)
    # |phi'| <= n |tau - abar| + |tau| times the rounding of tau and of the optimizer's own abar.
    slope = n * (tau_new - abar).abs() + tau_new.abs() + n * (tau_old - abar).abs() + tau_old.abs()
    scale = slope * (tau_new.abs() + tau_old.abs() + sh["abar_mag"])
    return Sides(A.unchecked_where(end, new), A.unchecked_where(end, old), scale=scale,
                 terms=A.step_index(trace) + 1, undefined="tau moves only at epoch ends")


# -- assumptions --------------------------------------------------------------------------------------


BETA_ZERO = Assumption(
    "beta = 0",  # with momentum the gradient point w and the moved point z differ
    lambda tr, pb: A.hp_or(tr, "beta", 0.0) == 0)
GAMMA_AT_MOST_2 = Assumption(
    "0 < gamma <= 2",  # the epoch shift lowers V only for gamma (2 - gamma) >= 0
    lambda tr, pb: (gamma_of(tr) > 0) & (gamma_of(tr) <= 2))
GAMMA_BELOW_2 = Assumption(
    "0 < gamma < 2",  # the rate divides by gamma (2 - gamma)
    lambda tr, pb: (gamma_of(tr) > 0) & (gamma_of(tr) < 2))
TAU_LR_AT_MOST_2 = Assumption(
    "0 <= tau_lr <= 2",  # a gradient step of size tau_lr/(n+1) on a quadratic of curvature n+1
    lambda tr, pb: (A.hp(tr, "tau_lr") >= 0) & (A.hp(tr, "tau_lr") <= 2))


# -- results ------------------------------------------------------------------------------------------


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    return register(Result(key=f"motaps.{key}", oracle="stochastic", **kw))


BOTH = ("taps", "motaps")

_R(
    "target_bookkeeping", title="The targets follow the code's update (replayed from losses, gradient norms, indices)",
    provenance=Provenance.CODE, role=Role.IMPLEMENTATION, source=f"{REF} §2 (gowerrobert/StochOpt-py algorithms.py::taps)",
    optimizers=BOTH, kind="identity", iterate="none", requires=frozenset({"finite_sum"}), sides=_bookkeeping,
    statement="r_t = f_i(w_t) - alpha_i, tau_t and abar_t equal their replay: alpha_i += gamma r/q at the sampled point, "
              "once per epoch tau = (1-lam) tau + lam n/(n+1) abar and alpha += gamma (tau - abar)",
    notes="The replay uses the runner's loss and gradient norm and the recorded index, never the optimizer's alpha.",
)
_R(
    "sample_step", title="Sample-step Lyapunov inequality (beta = 0, convex f_i, r >= 0)",
    provenance=Provenance.DERIVED, source=f"{DOC}#sample-step ({REF} §5.2)", optimizers=BOTH,
    kind="lyapunov", iterate="last", requires=frozenset({"convex", "finite_sum"}), sides=_sample_step,
    assumptions=(BETA_ZERO,),
    statement="r_t >= 0: ||w_{t+1}-w*||^2 + (alpha_i^+ - f_i(w*))^2 <= ||w_t-w*||^2 + (alpha_i - f_i(w*))^2 - gamma(2-gamma) r_t^2/q_t",
    notes="Holds for every gamma > 0 (a decrease only for gamma < 2) and any tau (the epoch correction moves alpha "
          "after the sample step); rows with r_t < 0 are not covered by the proof.",
)
_R(
    "taps_lyapunov", title="TAPS (tau = f*): V = ||w-w*||^2 + ||alpha-alpha*||^2 decreases at every step with r >= 0",
    provenance=Provenance.DERIVED, source=f"{DOC}#taps-lyapunov ({REF} §5.2)", optimizers=("taps",),
    kind="lyapunov", iterate="last", requires=frozenset({"convex", "finite_sum"}), sides=_taps_lyapunov,
    assumptions=(BETA_ZERO, GAMMA_AT_MOST_2),
    statement="beta = 0, gamma in (0, 2], r_t >= 0: V_{t+1} <= V_t - gamma(2-gamma) r_t^2/q_t  (epoch shifts included)",
    notes="alpha is the replay validated by motaps.target_bookkeeping.",
)
_R(
    "moving_target_lyapunov", title="MOTAPS: V = ||w-w*||^2 + ||alpha-alpha*||^2 decreases at every step with r >= 0, "
                                    "up to the target's error at epoch ends",
    provenance=Provenance.DERIVED, source=f"{DOC}#motaps-lyapunov ({REF} §5.2)", optimizers=BOTH,
    kind="lyapunov", iterate="last", requires=frozenset({"convex", "finite_sum"}), sides=_moving_target_lyapunov,
    assumptions=(BETA_ZERO,),
    statement="beta = 0, r_t >= 0: V_{t+1} <= V_t - gamma(2-gamma) r_t^2/q_t - [epoch end] n gamma (tau_t - abar_t)"
              "((2-gamma)(tau_t - abar_t) - 2 (tau_t - f*)), abar_t the mean target before the shift, tau_t the new target",
    notes="A decrease at every sample step (gamma < 2) and at every epoch end where tau_t lies between f* and abar_t; "
          "with tau = f* (TAPS) it is motaps.taps_lyapunov. alpha is the replay validated by motaps.target_bookkeeping.",
)
_R(
    "residual_rate", title="TAPS and MOTAPS: average positive residual <= (V_0 + the run's r<0 and target-error terms) / (gamma(2-gamma) T)",
    provenance=Provenance.DERIVED, source=f"{DOC}#residual-rate", optimizers=BOTH,
    kind="bound", iterate="average", requires=frozenset({"convex", "finite_sum"}), sides=_residual_rate,
    assumptions=(BETA_ZERO, GAMMA_BELOW_2),
    statement="beta = 0, 0 < gamma < 2: (1/T) sum_{t<T} (r_t^+)^2/q_t <= (V_0 + sum_{t<T, r_t<0} U_t + sum_{epoch ends} E_k) / (gamma(2-gamma) T), "
              "U_t = (2 gamma |r_t| (||g_t|| ||w_t-w*|| - h_t) - gamma(2-gamma) r_t^2)/q_t, h_t = f_i(w_t) - f_i(w*), "
              "E_k = motaps.moving_target_lyapunov's target-error term (<= 0 for TAPS)",
    notes="Pathwise, every T. The extra terms are computed from the run, so the bound can fail. Interpolation is not needed "
          "(under it h_t >= 0 and U_t <= 2 gamma |r_t| ||g_t|| ||w_t-w*||/q_t); with no step r_t < 0 and tau = f* (TAPS) it is "
          "the clean rate V_0 / (gamma(2-gamma) T). A rate on the residuals r_t = f_i(w_t) - alpha_i, not on f(w_t) - f*.",
)
_R(
    "taps_clean_rate", title="TAPS (tau = f*): O(1/T) rate of the residuals while no step has r_t < 0",
    provenance=Provenance.DERIVED, source=f"{DOC}#residual-rate", optimizers=("taps",),
    kind="bound", iterate="average", requires=frozenset({"convex", "finite_sum"}), sides=_taps_clean_rate,
    assumptions=(BETA_ZERO, GAMMA_BELOW_2),
    statement="beta = 0, 0 < gamma < 2, r_s >= 0 for every s < T: (1/T) sum_{t<T} r_t^2/q_t <= V_0 / (gamma(2-gamma) T), "
              "V_0 = ||w_0-w*||^2 + ||alpha_0-alpha*||^2",
    notes="The corollary of motaps.residual_rate when every U_t = 0 and (TAPS) every epoch term is <= 0. Rows after the "
          "run's first step with r_t < 0 are not checked: no hyper-parameter rules such steps out.",
)
_R(
    "tau_step_descends", title="MOTAPS: the epoch tau step never increases phi(tau) = n/2 (tau - abar)^2 + tau^2/2",
    provenance=Provenance.DERIVED, role=Role.IMPLEMENTATION, source=f"{DOC}#moving-target ({REF} §4, §5.3)",
    optimizers=("motaps",), kind="lyapunov", iterate="none", requires=frozenset({"finite_sum"}), sides=phi_sides,
    assumptions=(TAU_LR_AT_MOST_2,),
    statement="at an epoch end, with abar the epoch's mean target: phi(tau_new) <= phi(tau_old)  (tau_lr in [0, 2])",
    notes="The tau update is a gradient step of size tau_lr/(n+1) on phi, a quadratic of curvature n+1.",
)


# -- examples (tests/theory/test_every_result.py runs each in float64 and float32) -----------------------

example(Example(("motaps.target_bookkeeping", "motaps.sample_step", "motaps.taps_lyapunov", "motaps.residual_rate",
                 "motaps.taps_clean_rate"), "lad", "taps",
                hp={"lr": torch.tensor([0.1, 0.5, 1.0, 1.5, 1.99, 0.5, 1.0, 1.5], dtype=F64)}, T=130, runs=8, batch_size=1))
example(Example(("motaps.target_bookkeeping", "motaps.sample_step", "motaps.tau_step_descends", "motaps.moving_target_lyapunov",
                 "motaps.residual_rate"),
                "lad", "motaps",
                hp={"lr": torch.tensor([0.1, 0.5, 1.0, 1.5, 0.5, 1.0, 1.5, 5.0], dtype=F64),
                    "tau_lr": torch.tensor([0.01, 0.5, 1.0, 1.9, 0.1, 0.9, 1.5, 1.0], dtype=F64),
                    "tau0": torch.tensor([0.0, -1.0, 5.0, 0.0, 0.0, 2.0, 0.0, 100.0], dtype=F64)},
                T=180, runs=8, batch_size=1))
