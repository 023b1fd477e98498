"""TAPS / MOTAPS (Gower, Defazio & Rabbat, arXiv 2106.11851): per-step Lyapunov checks.

The paper's theorems are unknown (reference/motaps.md §8); nothing of them is asserted. What
is asserted is [DERIVED] in docs/theory/motaps.md, each under the conditions of its proof:

- the bookkeeping of the targets: the optimizer's residual r_t = f_i(x_t) - alpha_i, its tau and
  its mean target agree with a shadow copy of alpha rebuilt from the recorded losses and
  gradient norms alone ([CODE] update, so that the Lyapunov checks below see the true alpha);
- the sample step (beta = 0, convex f_i, r_t >= 0, any gamma > 0):
      ||w_{t+1}-w*||^2 + (alpha_i^+ - alpha_i^*)^2 <= ||w_t-w*||^2 + (alpha_i - alpha_i^*)^2 - gamma (2-gamma) r_t^2/q_t,
  alpha_i^* = f_i(w*), q_t = ||grad f_i(w_t)||^2 + 1 (TAPS and MOTAPS alike: tau plays no role);
- TAPS with tau = f* (beta = 0, gamma in (0, 2]): V = ||w - w*||^2 + ||alpha - alpha^*||^2 decreases by at
  least gamma (2-gamma) r_t^2/q_t at every step with r_t >= 0, epoch-end target shifts included
  (each lowers V by exactly gamma (2-gamma) n (abar - tau)^2);
- MOTAPS: the once-per-epoch tau step never increases phi(tau) = n/2 (tau - abar)^2 + tau^2/2
  at the epoch's abar (tau_lr in [0, 2)).

Rows where a condition fails (r_t < 0, not an epoch end) are NaN (not checked).
Trace conventions: row t holds w_t's ``dist``, the sampled ``loss`` f_i(w_t), ``grad_norm``, and the
step's info ``r``, ``tau`` (after the step), ``alphabar`` (after the step), ``lr`` (gamma).
"""

from __future__ import annotations


import torch

from .base import per_trace, Provenance, Result, register
from .momo import F64, col, hp, nan_where, nxt, sample_indices, steps

PAPER = "Stochastic Polyak Stepsize with a Moving Target (Gower, Defazio & Rabbat, 2021)"
ARXIV = "2106.11851"
DOC = "docs/theory/motaps.md"
_CACHE = "_motaps_shadow"


def gamma_of(trace) -> torch.Tensor:
    """gamma = lr / (1 - beta) [B] (the code's momentum rescaling), from the hyper-parameters."""
    beta = hp(trace, "beta", 0.0)
    return hp(trace, "lr") * (1 + beta / (1 - beta))


def solution_targets(problem) -> torch.Tensor:
    """alpha^*_i = f_i(w*) for every data point [n]."""
    xs = torch.as_tensor(problem.x_star, dtype=F64)[None, :]
    return problem.component_values_each(xs, torch.arange(problem.n)[None, :])[0].to(F64)


def shadow(trace, problem) -> dict[str, torch.Tensor]:
    """Replay the target updates from the recorded losses and gradient norms only.

    Returns [T, B] tensors: ``a_old`` (alpha_i before step t), ``r``, ``tau``, ``abar`` (after step
    t), ``abar_pre`` (the mean target at an epoch end, before the shift), ``a_star`` (alpha^*_i of
    the sampled point), ``dist_alpha`` (||alpha_t - alpha^*||^2 before step t) and
    ``dist_alpha_next`` (after step t, epoch shift included)."""
    T, B, n = steps(trace), trace.batch, problem.n
    # Cached per (problem, recorded data): observed, bound and scale each need the replay.
    key = (id(problem), problem.name, id(trace.data.get("loss")), tuple(sorted((k, v.data_ptr()) for k, v in trace.meta.get("hp", {}).items())))
    cached = trace.meta.get(_CACHE)
    if cached is not None and cached[0] == key:
        return cached[1]
    idx = sample_indices(trace, problem)[..., 0]  # [T, B]
    loss, q = col(trace, "loss"), col(trace, "grad_norm") ** 2 + 1
    gamma = gamma_of(trace)
    name = trace.meta.get("optimizer")
    lam = hp(trace, "tau_lr") if name == "motaps" else torch.zeros(B, dtype=F64)
    tau = hp(trace, "tau0", 0.0) if name == "motaps" else torch.full((B,), float(problem.f_star), dtype=F64)
    star = solution_targets(problem)
    alpha = torch.zeros(B, n, dtype=F64)
    out = {k: torch.empty(T, B, dtype=F64) for k in ("a_old", "r", "tau", "abar", "abar_pre", "a_star", "dist_alpha", "dist_alpha_next")}
    rows = torch.arange(B)
    for t in range(T):
        i = idx[t]
        out["dist_alpha"][t] = ((alpha - star) ** 2).sum(-1)
        a_old = alpha[rows, i]
        r = loss[t] - a_old
        alpha = alpha.clone()
        alpha[rows, i] = a_old + gamma * r / q[t]
        abar = alpha.mean(-1)
        out["abar_pre"][t] = abar
        if (t + 1) % n == 0:
            tau = (1 - lam) * tau + lam * (n / (n + 1)) * abar
            alpha = alpha + (gamma * (tau - abar))[:, None]
            abar = alpha.mean(-1)
        out["a_old"][t], out["r"][t], out["tau"][t], out["abar"][t] = a_old, r, tau, abar
        out["a_star"][t] = star[i]
        out["dist_alpha_next"][t] = ((alpha - star) ** 2).sum(-1)
    trace.meta[_CACHE] = (key, out)
    return out


def epoch_end(trace, problem) -> torch.Tensor:
    """[T, 1] bool: step t ends an epoch ((t+1) % n == 0)."""
    t = torch.arange(steps(trace))
    return ((t + 1) % problem.n == 0)[:, None]


@per_trace
def bookkeeping(trace, problem):
    """(sum of |recorded - replayed| over r, tau, abar; 0; size of those quantities), [T, B] each."""
    sh = shadow(trace, problem)
    diff = (col(trace, "r") - sh["r"]).abs() + (col(trace, "tau") - sh["tau"]).abs() + (col(trace, "alphabar") - sh["abar"]).abs()
    size = sh["r"].abs() + sh["tau"].abs() + sh["abar"].abs() + col(trace, "loss").abs() + sh["a_old"].abs()
    return diff, torch.zeros_like(diff), size


@per_trace
def sample_step_sides(trace, problem):
    """Both sides of the sample-step inequality (rows with r_t < 0: NaN), and the terms' size."""
    sh = shadow(trace, problem)
    r = col(trace, "r")
    gamma = gamma_of(trace)
    q = col(trace, "grad_norm") ** 2 + 1
    a_old = col(trace, "loss") - r  # the optimizer's own alpha_i (r is what it computed)
    a_new = a_old + gamma * r / q
    a_star = sh["a_star"]
    left = nxt(trace, "dist") ** 2 + (a_new - a_star) ** 2 + gamma * (2 - gamma) * r**2 / q
    right = col(trace, "dist") ** 2 + (a_old - a_star) ** 2
    size = left.abs() + right.abs() + 2 * gamma.abs() * r**2 / q
    ok = r >= 0
    return nan_where(ok, left), nan_where(ok, right), size


@per_trace
def lyapunov_sides(trace, problem):
    """TAPS: V_{t+1} + gamma(2-gamma) r_t^2/q_t vs V_t with the replayed alpha (rows r_t < 0: NaN)."""
    sh = shadow(trace, problem)
    r = col(trace, "r")
    gamma = gamma_of(trace)
    q = col(trace, "grad_norm") ** 2 + 1
    left = nxt(trace, "dist") ** 2 + sh["dist_alpha_next"] + gamma * (2 - gamma) * r**2 / q
    right = col(trace, "dist") ** 2 + sh["dist_alpha"]
    ok = r >= 0
    return nan_where(ok, left), nan_where(ok, right), left.abs() + right.abs()


def phi(tau: torch.Tensor, abar: torch.Tensor, n: int) -> torch.Tensor:
    """phi(tau) = n/2 (tau - abar)^2 + tau^2/2 [DERIVED, motaps.md §4]."""
    return 0.5 * n * (tau - abar) ** 2 + 0.5 * tau**2


@per_trace
def phi_sides(trace, problem):
    sh = shadow(trace, problem)
    tau_new = col(trace, "tau")
    tau_old = torch.cat([hp(trace, "tau0", 0.0)[None, :], tau_new[:-1]])
    n = problem.n
    new, old = phi(tau_new, sh["abar_pre"], n), phi(tau_old, sh["abar_pre"], n)
    end = epoch_end(trace, problem).expand_as(new)
    return nan_where(end, new), nan_where(end, old), new.abs() + old.abs()


def _beta0(trace, problem):
    return hp(trace, "beta", 0.0) == 0


def _taps_lyapunov_applies(trace, problem):
    g = gamma_of(trace)
    return _beta0(trace, problem) & (g > 0) & (g <= 2)


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    kw.setdefault("oracle", "stochastic")
    return register(Result(key=key, **kw))


BOTH = ("taps", "motaps")

_R(
    "motaps.target_bookkeeping", title="The targets follow the code's update (replayed from losses and gradient norms)",
    provenance=Provenance.CODE, source="gowerrobert/StochOpt-py algorithms.py::taps (reference/motaps.md §2)",
    optimizers=BOTH, kind="identity", iterate="none", requires=frozenset({"finite_sum"}),
    statement="r_t = f_i(w_t) - alpha_i, tau_t and abar_t equal their replay: alpha_i += gamma r/q at the sampled point, "
              "once per epoch tau = (1-lam) tau + lam n/(n+1) abar and alpha += gamma (tau - abar)",
    observed=lambda tr, pb: bookkeeping(tr, pb)[0], bound=lambda tr, pb: bookkeeping(tr, pb)[1],
    scale=lambda tr, pb: bookkeeping(tr, pb)[2],
    notes="The replay uses the runner's loss and gradient norm and the recorded seeds, never the optimizer's alpha.",
)
_R(
    "motaps.sample_step", title="Sample-step Lyapunov inequality (beta = 0, convex f_i, r >= 0)",
    provenance=Provenance.DERIVED, source=f"{DOC}#sample-step (reference/motaps.md §5.2)", optimizers=BOTH,
    kind="lyapunov", iterate="last", requires=frozenset({"convex", "finite_sum"}), applies=_beta0,
    statement="r_t >= 0: ||w_{t+1}-w*||^2 + (alpha_i^+ - f_i(w*))^2 <= ||w_t-w*||^2 + (alpha_i - f_i(w*))^2 - gamma(2-gamma) r_t^2/q_t",
    observed=lambda tr, pb: sample_step_sides(tr, pb)[0], bound=lambda tr, pb: sample_step_sides(tr, pb)[1],
    scale=lambda tr, pb: sample_step_sides(tr, pb)[2],
    notes="Holds for every gamma > 0 (a decrease only for gamma < 2); rows with r_t < 0 are not covered by the proof.",
)
_R(
    "motaps.taps_lyapunov", title="TAPS (tau = f*): V = ||w-w*||^2 + ||alpha-alpha*||^2 decreases at every step with r >= 0",
    provenance=Provenance.DERIVED, source=f"{DOC}#taps-lyapunov (reference/motaps.md §5.2)", optimizers=("taps",),
    kind="lyapunov", iterate="last", requires=frozenset({"convex", "finite_sum"}), applies=_taps_lyapunov_applies,
    statement="beta = 0, gamma in (0, 2], r_t >= 0: V_{t+1} <= V_t - gamma(2-gamma) r_t^2/q_t  (epoch shifts included)",
    observed=lambda tr, pb: lyapunov_sides(tr, pb)[0], bound=lambda tr, pb: lyapunov_sides(tr, pb)[1],
    scale=lambda tr, pb: lyapunov_sides(tr, pb)[2],
    notes="alpha is the replay validated by motaps.target_bookkeeping.",
)
_R(
    "motaps.tau_step_descends", title="MOTAPS: the epoch tau step never increases phi(tau) = n/2 (tau - abar)^2 + tau^2/2",
    provenance=Provenance.DERIVED, source=f"{DOC}#moving-target (reference/motaps.md §4, §5.3)", optimizers=("motaps",),
    kind="lyapunov", iterate="none", requires=frozenset({"finite_sum"}),
    statement="at an epoch end, with abar the epoch's mean target: phi(tau_new) <= phi(tau_old)  (tau_lr in [0, 2))",
    observed=lambda tr, pb: phi_sides(tr, pb)[0], bound=lambda tr, pb: phi_sides(tr, pb)[1],
    scale=lambda tr, pb: phi_sides(tr, pb)[2],
)
