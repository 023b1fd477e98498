"""D-Adaptation (Defazio & Mishchenko, arXiv 2301.07733): bounds, identities and invariants.

Two layers:

1. Pure functions of sequences (time on dim 0, any trailing batch dims): the AdaGrad-norm
   step sequence gamma_k, the terms of Lemmas 4/5/7/9, Proposition 8, the sequence lemma
   (Lemma 11, v1 and final forms), the fixed-n reading of Theorem 10 and of Theorem 18, the
   non-asymptotic Theorem 2, and the coordinate-wise (Algorithm 2) quantities. They take
   arrays, not traces, so property tests can drive them with random inputs.
2. ``Result`` objects registered with ``ratecheck.theory``: each maps a Trace (what a run of
   a ``dadapt_*`` optimizer recorded) onto one of those functions.

Notation (docs/theory/dadaptation.md): D = ||x0 - x*||_2, D_inf = ||x0 - x*||_inf,
g_k the (sub)gradient at x_k, S_k = sum_{i<=k} ||g_i||^2, lambda_k the dual weights
(lambda_k = d_k in Algorithm 1), s_{k+1} = sum_{i<=k} lambda_i g_i,
log2+(x) = max(1, log2 x).

Provenance follows /shared/reference/dadaptation.md: [PAPER] = arXiv v1 text; [SECONDARY]
= the final version known from independent summaries; [CODE] = facebookresearch/dadaptation
v3.2; [DERIVED] = proved in docs/theory/dadaptation.md.
"""

from __future__ import annotations

import math

import torch

from ratecheck.errors import RatecheckError

from .base import per_trace, Provenance, Result, register

PAPER = "Learning-Rate-Free Learning by D-Adaptation (Defazio & Mishchenko, ICML 2023)"
ARXIV = "2301.07733"
DOC = "docs/theory/dadaptation.md"
SQRT3P1 = 1.0 + math.sqrt(3.0)


# ---------------------------------------------------------------------------------------------
# Pure layer: sequences in, per-n quantities out.
# ---------------------------------------------------------------------------------------------


def log2plus(x: torch.Tensor) -> torch.Tensor:
    """log2+(x) = max(1, log2 x) (the final version's convention)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return torch.clamp(torch.log2(x), min=1.0)


def adagrad_norm_gammas(gnorm2: torch.Tensor, G: torch.Tensor | float | None = None) -> torch.Tensor:
    """The step sequence gamma_0..gamma_{n+1} of Algorithm 1 from ||g_0||^2..||g_n||^2.

    Without G: gamma_{k+1} = 1/sqrt(S_k) and gamma_0 = 1/||g_0|| (= gamma_1).
    G-variant, "step size (1)": gamma_{k+1} = 1/sqrt(G^2 + S_k), gamma_0 = 1/G.
    [PAPER, v1 Algorithm 1 and eq. (1)]. Returns shape [n+2, ...].
    """
    S = torch.cumsum(gnorm2, dim=0)
    if G is None:
        tail = S.rsqrt()
        head = tail[:1]
    else:
        G2 = torch.as_tensor(G, dtype=gnorm2.dtype) ** 2
        tail = (G2 + S).rsqrt()
        head = (G2 * torch.ones_like(gnorm2[:1])).rsqrt()
    return torch.cat([head, tail], dim=0)


def dual_sums(lam: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """s_0..s_{n+1} with s_0 = 0 and s_{k+1} = s_k + lambda_k g_k; g is [n+1, ..., dim]."""
    steps = lam[..., None] * g
    zero = torch.zeros_like(steps[:1])
    return torch.cat([zero, torch.cumsum(steps, dim=0)], dim=0)


def lemma4_sides(gamma, lam, gnorm2, gs_inner, s_norm_next):
    """Both sides of Lemma 4 (an exact identity, for any weights and any gamma):

        -sum_{k<=n} gamma_k lambda_k <g_k, s_k>
          = -gamma_{n+1}/2 ||s_{n+1}||^2 + sum_{k<=n} gamma_k/2 lambda_k^2 ||g_k||^2
            + 1/2 sum_{k<=n} (gamma_{k+1} - gamma_k) ||s_{k+1}||^2.

    gamma [n+2], lam/gnorm2/gs_inner [n+1] (gs_inner_k = <g_k, s_k>), s_norm_next [n+1]
    (||s_{k+1}||). Returns (lhs, rhs), each [n+1] over n. [PAPER, v1 Lemma 4].
    """
    lhs = -torch.cumsum(gamma[:-1] * lam * gs_inner, dim=0)
    rhs = (
        -0.5 * gamma[1:] * s_norm_next**2
        + torch.cumsum(0.5 * gamma[:-1] * lam**2 * gnorm2, dim=0)
        + 0.5 * torch.cumsum((gamma[1:] - gamma[:-1]) * s_norm_next**2, dim=0)
    )
    return lhs, rhs


def lemma5_bound(gamma, lam, gnorm2, s_norm_next, D):
    """Lemma 5's right side: D||s_{n+1}|| + sum_{k<=n} gamma_k/2 lambda_k^2||g_k||^2
    - gamma_{n+1}/2 ||s_{n+1}||^2, which bounds sum_{k<=n} lambda_k (f(x_k) - f*).
    [PAPER, v1 Lemma 5]; needs convexity, x_k = x0 - gamma_k s_k, gamma non-increasing."""
    return D * s_norm_next + torch.cumsum(0.5 * gamma[:-1] * lam**2 * gnorm2, dim=0) - 0.5 * gamma[1:] * s_norm_next**2


def lemma7_bound(gamma, lam, gnorm2, d_next):
    """Lemma 7: ||s_{n+1}|| <= 2 d_{n+1}/gamma_{n+1} + sum_{k<=n} gamma_k lambda_k^2 ||g_k||^2 / (2 d_{n+1}).
    [PAPER, v1 Lemma 7]; holds whenever d_{n+1} >= dhat_{n+1} (Option I or II)."""
    return 2.0 * d_next / gamma[1:] + torch.cumsum(gamma[:-1] * lam**2 * gnorm2, dim=0) / (2.0 * d_next)


def lemma7p_bound(d):
    """Lemma 7' (G-variant, lambda_k = d_k): ||x_n - x0|| = gamma_n ||s_n|| <= (1 + sqrt 3) d_n.
    [DERIVED, docs/theory/dadaptation.md#lemma-7]."""
    return SQRT3P1 * d


def prop8_sum(gnorm2, G):
    """Proposition 8 (3), left side: sum_{k<=n} ||g_k||^2 / sqrt(G^2 + sum_{i<k} ||g_i||^2);
    right side 2 sqrt(sum_{k<=n} ||g_k||^2). Needs G >= max_k ||g_k||. [PAPER, v1 Prop. 8]."""
    S = torch.cumsum(gnorm2, dim=0)
    prev = S - gnorm2
    lhs = torch.cumsum(gnorm2 / torch.sqrt(torch.as_tensor(G, dtype=gnorm2.dtype) ** 2 + prev), dim=0)
    return lhs, 2.0 * torch.sqrt(S)


def prop8_4_sides(gamma, gnorm2):
    """Proposition 8 (4): sum_{k<=n} gamma_k/2 ||g_k||^2 <= 1/gamma_{n+1}, for the G-variant
    gamma (with G >= max ||g_k||). Returns (lhs, rhs) over n. [PAPER, v1 Prop. 8]."""
    return torch.cumsum(0.5 * gamma[:-1] * gnorm2, dim=0), 1.0 / gamma[1:]


def lemma9_bound(gamma, gnorm2, d_next, D):
    """Lemma 9: sum_{k<=n} d_k (f(x_k) - f*) <= 2 D d_{n+1}/gamma_{n+1} + D d_{n+1} sum_{k<=n} gamma_k ||g_k||^2.
    [PAPER, v1 Lemma 9]; needs d_{n+1} <= D (i.e. d_0 <= D)."""
    return 2.0 * D * d_next / gamma[1:] + D * d_next * torch.cumsum(gamma[:-1] * gnorm2, dim=0)


def weighted_average_bound(gamma, gnorm2, d, d_next, D):
    """The computable per-n bound on the d-weighted average of f(x_k) - f* (hence, by Jensen,
    on f(xhat_n) - f*): Lemma 9's right side / sum_{k<=n} d_k.  [PAPER, v1 Lemma 9 + Jensen]."""
    return lemma9_bound(gamma, gnorm2, d_next, D) / torch.cumsum(d, dim=0)


def weighted_average(values, weights):
    """sum_{k<=n} w_k v_k / sum_{k<=n} w_k, over n (dim 0)."""
    return torch.cumsum(weights * values, dim=0) / torch.cumsum(weights, dim=0)


def settle_index(d, d_next):
    """nhat(n) = min{m <= n : d_m >= d_{n+1}/2} for a non-decreasing d (time on dim 0).

    Theorem 10's "n >= 2 nhat" needs only the steps up to n, so this is the fixed-n reading
    of its condition (docs/theory/dadaptation.md#theorem-10). Returns int64, shape like d.
    """
    # d is non-decreasing, so the first m with d_m >= d_{n+1}/2 is a sorted search; cummax
    # guards against round-off in a recorded d (it is the identity on a monotone sequence).
    seq = torch.cummax(d, dim=0).values.movedim(0, -1).contiguous()
    val = (0.5 * d_next).movedim(0, -1).contiguous()
    return torch.searchsorted(seq, val, side="left").movedim(-1, 0)


def theorem10_bound(n, D, G, g0_norm, const=16.0, const2=8.0):
    """Theorem 10 (explicit Theorem 1), for Algorithm 1 without G and n >= 2 nhat:
    weighted average of f(x_k) - f* <= 16 DG/sqrt(n+1) + 8 DG^2/((n+1)||g_0||).
    [PAPER, v1 Theorem 10, with the proof's constant 16; v1 then prints 12 for f(xhat_n),
    a typo]. ``n`` is a tensor of step indices broadcast against the rest."""
    n = torch.as_tensor(n, dtype=torch.float64)
    return const * D * G / torch.sqrt(n + 1) + const2 * D * G**2 / ((n + 1) * g0_norm)


def seq_lemma_ratio(d):
    """min_{n<=N} d_{n+1} / sum_{k<=n} d_k, for each N, from d_0..d_{N+1} (dim 0).
    Returns shape [len(d) - 1] (index N)."""
    r = d[1:] / torch.cumsum(d[:-1], dim=0)
    return torch.cummin(r, dim=0).values


def seq_lemma_final_rhs(d):
    """Lemma 11 (final version): 4 log2+(d_{N+1}/d_0)/(N+1), valid when N+1 >= 2 log2(d_{N+1}/d_0).
    Returns (rhs, valid), both [len(d) - 1]. [SECONDARY]."""
    N = torch.arange(d.shape[0] - 1, dtype=d.dtype).view(-1, *([1] * (d.ndim - 1)))
    ratio = d[1:] / d[:1]
    rhs = 4.0 * log2plus(ratio) / (N + 1)
    valid = (N + 1) >= 2.0 * torch.log2(ratio)
    return rhs, valid


def seq_lemma_v1_rhs(d):
    """Lemma 11 as printed in v1: 2 log2(d_{N+1}/d_0)/(N+1), claimed for N >= log2(d_N/d_0).
    FALSE as stated (a constant sequence gives rhs 0). Returns (rhs, valid). [PAPER, v1]."""
    N = torch.arange(d.shape[0] - 1, dtype=d.dtype).view(-1, *([1] * (d.ndim - 1)))
    rhs = 2.0 * torch.log2(d[1:] / d[:1]) / (N + 1)
    valid = N >= torch.log2(d[:-1] / d[:1])
    return rhs, valid


def theorem2_pick(d, d_next):
    """t(n) = argmin_{k<=n} d_{k+1} / sum_{i<=k} d_i (first minimiser), over n."""
    r = d_next / torch.cumsum(d, dim=0)
    return torch.cummin(r, dim=0).indices


def gd_log_sum(gnorm2, G):
    """sum_{k<=n} ||g_k||^2 / (G^2 + S_k) and its bound log((G^2 + S_n)/G^2) <= log(n+2)
    (the log factor of the GD form). Needs G >= max ||g_k||. [DERIVED, dadaptation.md §1.4]."""
    G2 = torch.as_tensor(G, dtype=gnorm2.dtype) ** 2
    S = torch.cumsum(gnorm2, dim=0)
    lhs = torch.cumsum(gnorm2 / (G2 + S), dim=0)
    return lhs, torch.log((G2 + S) / G2)


def gd_identity_sides(eta, gnorm2, gx_inner, disp_norm_next):
    """GD form: sum_{k<=n} eta_k <g_k, x0 - x_k> = 1/2 ||x_{n+1} - x0||^2 - 1/2 sum_{k<=n} eta_k^2 ||g_k||^2
    for x_{k+1} = x_k - eta_k g_k. [DERIVED, dadaptation.md §1.3]. Returns (lhs, rhs)."""
    lhs = torch.cumsum(eta * gx_inner, dim=0)
    rhs = 0.5 * disp_norm_next**2 - 0.5 * torch.cumsum(eta**2 * gnorm2, dim=0)
    return lhs, rhs


# -- Algorithm 2 (coordinate-wise, l_inf) -------------------------------------------------------


def adagrad_diag(g: torch.Tensor, G_inf) -> torch.Tensor:
    """a_0..a_{n+1} with a_0 = G_inf and a_{k+1,j} = sqrt(G_inf^2 + sum_{i<=k} g_{ij}^2). [PAPER, v1 App. C]."""
    G2 = torch.as_tensor(G_inf, dtype=g.dtype)[..., None] ** 2 if torch.as_tensor(G_inf).ndim else torch.as_tensor(G_inf, dtype=g.dtype) ** 2
    acc = torch.cumsum(g**2, dim=0)
    head = torch.sqrt(G2 + torch.zeros_like(g[:1]))
    return torch.cat([head, torch.sqrt(G2 + acc)], dim=0)


def lemma17_bound(d_next, a_l1_next):
    """Lemma 17: ||s_{n+1}||_1 <= 3 d_{n+1} ||a_{n+1}||_1 (with a_0 = G_inf). [PAPER, v1 Lemma 17]."""
    return 3.0 * d_next * a_l1_next


def alg2_weighted_bound(d, d_next, a_l1_next, D_inf):
    """Per-n bound for Algorithm 2: sum_{k<=n} d_k (f(x_k)-f*) / sum_{k<=n} d_k
    <= 4 D_inf d_{n+1} ||a_{n+1}||_1 / sum_{k<=n} d_k, when d_0 <= D_inf.
    [DERIVED from v1 Lemmas 15, 17 and Prop. 14; docs/theory/dadaptation.md#algorithm-2]."""
    return 4.0 * D_inf * d_next * a_l1_next / torch.cumsum(d, dim=0)


def theorem18_bound(n, a_l1_next, D_inf):
    """Theorem 18 (= Theorem 3): for n >= 2 nhat, f(xhat_n) - f* <= 16 ||a_{n+1}||_1 D_inf/(n+1).
    [PAPER, v1 Theorem 18]."""
    n = torch.as_tensor(n, dtype=torch.float64)
    return 16.0 * a_l1_next * D_inf / (n + 1)


# ---------------------------------------------------------------------------------------------
# Trace layer: what a run recorded -> the sequences above. Rows n = 0..T-1 are steps; info at
# row n is what step n produced (d = d_n, d_next = d_{n+1}, ...); runner quantities at row n
# are measured at x_n (subopt, grad_norm of g_n).
# ---------------------------------------------------------------------------------------------


def steps(trace) -> int:
    """Number of steps T of a full (not subsampled) trace; cumulative sums need every step."""
    T = int(trace.steps.shape[0]) - 1
    if T < 1 or not torch.equal(trace.steps.cpu(), torch.arange(T + 1)):
        raise RatecheckError("D-Adaptation/Prodigy results need every step recorded; got a subsampled trace (steps "
                             f"{trace.steps[:5].tolist()}...); allowed: a full trace from runner.run")
    return T


def col(trace, name: str) -> torch.Tensor:
    """A recorded quantity at the step rows 0..T-1, float64 [T, B]."""
    return trace[name][: steps(trace)].to(torch.float64)


def hp(trace, name: str) -> torch.Tensor:
    return trace.meta["hp"][name].to(torch.float64)


def has_hp(trace, name: str) -> bool:
    return name in trace.meta.get("hp", {})


def hp_or_nan(trace, name: str) -> torch.Tensor:
    """A hyper-parameter [B], or NaN where the run has none (its result is then not applied)."""
    return hp(trace, name) if has_hp(trace, name) else torch.full((trace.batch,), math.nan, dtype=torch.float64)


def D_of(trace) -> torch.Tensor:
    """D = ||x_0 - x*|| [B], from the runner's distance at row 0."""
    return trace["dist"][0].to(torch.float64)


def x0_of(trace) -> torch.Tensor:
    """x_0 [B, d]: the runner stores it in the trace's metadata (or the kept iterates have it)."""
    if trace.meta.get("x0") is not None:
        return trace.meta["x0"].to(torch.float64)
    if "x" not in trace.iterates:
        raise RatecheckError("this result needs x_0 (an l_inf distance or displacement); run with keep_iterates=True")
    return trace.iterates["x"][0].to(torch.float64)


def D_inf_of(trace, problem) -> torch.Tensor:
    """D_inf = ||x_0 - x*||_inf [B] (from a recorded ``dist_inf`` if any, else from x_0)."""
    if "dist_inf" in trace:
        return trace["dist_inf"][0].to(torch.float64)
    x0 = x0_of(trace)
    return (x0 - problem.x_star_tensor(x0)).abs().amax(dim=-1)


def displacement(trace) -> torch.Tensor:
    """||x_{n+1} - x_0|| at rows n = 0..T-1, from the recorded iterates [T, B]."""
    T = steps(trace)
    x = trace.iterates["x"].to(torch.float64) if "x" in trace.iterates else None
    if x is None:
        raise RatecheckError("this result needs the iterates; run with keep_iterates=True")
    return torch.linalg.vector_norm(x[1 : T + 1] - x[:1], dim=-1)


def grads_of(trace, problem) -> torch.Tensor:
    """g_n = grad f(x_n) [T, B, d], recomputed from the iterates (deterministic runs only)."""
    T = steps(trace)
    x = trace.iterates["x"][:T].to(torch.float64) if "x" in trace.iterates else None
    if x is None:
        raise RatecheckError("this result needs the iterates; run with keep_iterates=True")
    return problem.grad(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def running_G(trace) -> torch.Tensor:
    """G_n = max_{k<=n} ||g_k|| [T, B]: the tightest Lipschitz constant valid up to step n."""
    return torch.cummax(col(trace, "grad_norm"), dim=0).values


def gammas_of(trace) -> torch.Tensor:
    """gamma_0..gamma_T of Algorithm 1 recomputed from the recorded gradient norms (and the
    run's G for the G-variant), [T+1, B]; independent of the optimizer's own bookkeeping."""
    gn2 = col(trace, "grad_norm") ** 2
    return adagrad_norm_gammas(gn2, hp(trace, "G") if has_hp(trace, "G") else None)


def step_index(trace) -> torch.Tensor:
    """n as float64 [T, 1]."""
    return torch.arange(steps(trace), dtype=torch.float64)[:, None]


def no_bound_where(ok: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
    """+inf (nothing to check) at steps where a result's condition on n does not hold."""
    return torch.where(ok, bound, torch.full_like(bound, math.inf))


def _d0_le_D(trace, problem):
    return hp(trace, "d0") <= D_of(trace)


def _G_variant(trace, problem):
    B = trace.batch
    ok = torch.full((B,), has_hp(trace, "G"), dtype=torch.bool)
    if not has_hp(trace, "G"):
        return ok
    gmax = col(trace, "grad_norm").nan_to_num(0.0).amax(dim=0)
    return hp(trace, "G") >= gmax


def _no_G(trace, problem):
    return torch.full((trace.batch,), not has_hp(trace, "G"), dtype=torch.bool)


def _hp_is(name, value):
    def f(trace, problem):
        if not has_hp(trace, name):
            return torch.full((trace.batch,), value == 0.0, dtype=torch.bool)
        return hp(trace, name) == value
    return f


def estimate_ratio(trace, dist, scale: float | torch.Tensor = 1.0) -> torch.Tensor:
    """max(dhat_{n+1}/(scale dist), d_{n+1}/max(d_0, scale dist)) [T, B]: both halves of a
    "the estimate is a lower bound" invariant as one ratio that must stay <= 1 (NaN dhat,
    an undefined estimate, is ignored)."""
    b = scale * dist
    return torch.fmax(col(trace, "d_hat") / b, col(trace, "d_next") / torch.maximum(hp(trace, "d0"), b))


def well_conditioned(trace, problem, disp: torch.Tensor) -> torch.Tensor:
    """[T, B] bool: the displacement ||x_{n+1} - x0|| is known to relative accuracy RTOL/10.

    x_{n+1} - x0 is a difference of two iterates, so its round-off is about
    eps (||x0|| + ||x_{n+1}||) whatever the displacement; with a tiny d_0 the first steps are at
    the float64 resolution of x0 and an estimate computed from them is off by far more than
    RTOL. Such rows are not checkable (they are reported as unchecked, never as passing bounds
    with a looser tolerance). ||x|| is bounded by ||x*|| + ||x - x*|| from the recorded distances.
    """
    from .base import RTOL

    T = steps(trace)
    xs = float(torch.linalg.vector_norm(torch.as_tensor(problem.x_star, dtype=torch.float64)))
    size = 2 * xs + trace["dist"][0].to(torch.float64) + trace["dist"][1 : T + 1].to(torch.float64)
    return disp >= (10 * torch.finfo(torch.float64).eps / RTOL) * size


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    kw.setdefault("requires", frozenset({"convex"}))
    return register(Result(key=f"dadaptation.{key}", **kw))


def _weighted_subopt(trace):
    return torch.cumsum(col(trace, "d") * col(trace, "subopt"), dim=0)


DA = ("dadapt_da",)

# -- Algorithm 1 ---------------------------------------------------------------------------------

_R(
    "T6_dhat_le_D", title="Both estimates are lower bounds on D: dhat_{n+1} <= D and dtilde_{n+1} <= D",
    provenance=Provenance.PAPER, label="Theorem 6", source="arXiv v1, Theorem 6 (and App. E.1 for Option II)",
    statement="max(dhat_{n+1}, dtilde_{n+1}) <= ||x0 - x*||", optimizers=DA, kind="invariant", iterate="none",
    observed=lambda tr, pb: torch.fmax(col(tr, "d_hat_I"), col(tr, "d_hat_II")),
    bound=lambda tr, pb: D_of(tr).expand(steps(tr), -1),
)
_R(
    "T6_d_le_max_d0_D", title="d_{n+1} <= max(d_0, D), non-decreasing",
    provenance=Provenance.PAPER, label="Theorem 6", source="arXiv v1, Theorem 6",
    statement="d_{n+1} <= max(d_0, D)", optimizers=DA + ("dadapt_resetting",), kind="invariant", iterate="none",
    observed=lambda tr, pb: col(tr, "d_next"),
    bound=lambda tr, pb: torch.maximum(hp(tr, "d0"), D_of(tr)).expand(steps(tr), -1),
    notes="dadapt_resetting: Algorithm 1 with constant weights inside each epoch, so Theorem 6 (general weights) "
          "bounds every estimate that becomes d; the Resetting algorithm itself is [UNVERIFIED].",
)
_R(
    "option_II_ge_I", title="Option II's estimate dominates Option I's (Lemma 4)", provenance=Provenance.PAPER,
    label="Lemma 4, App. E.1", source="arXiv v1, Lemma 4 (last term <= 0 for non-increasing gamma) and App. E.1",
    statement="dhat_{n+1} <= dtilde_{n+1} (both computed on the same run)", optimizers=DA, kind="invariant",
    iterate="none", oracle="any", requires=frozenset(),
    observed=lambda tr, pb: col(tr, "d_hat_I"), bound=lambda tr, pb: col(tr, "d_hat_II"),
)
_R(
    "d_monotone", title="d_k is non-decreasing", provenance=Provenance.PAPER, label="Algorithm 1",
    source="arXiv v1, Algorithm 1 (d_{k+1} = max(d_k, dhat_{k+1}))", statement="d_n <= d_{n+1}",
    optimizers=DA + ("dadapt_adagrad", "dadapt_gd", "dadapt_sgd_code", "dadapt_adam_code", "dadapt_adagrad_code"),
    kind="invariant", iterate="none", requires=frozenset(),
    observed=lambda tr, pb: col(tr, "d"), bound=lambda tr, pb: col(tr, "d_next"), oracle="any",
)


@per_trace
def _l4_scale(tr):
    g, gn2, d, sn = gammas_of(tr), col(tr, "grad_norm") ** 2, col(tr, "d"), col(tr, "s_norm")
    return torch.cumsum(g[:-1] * d**2 * gn2 + (g[1:] + g[:-1]) * sn**2, dim=0)


@per_trace
def _l4(tr):
    gam = gammas_of(tr)
    d, gn2, sn = col(tr, "d"), col(tr, "grad_norm") ** 2, col(tr, "s_norm")
    rhs = -0.5 * gam[1:] * sn**2 + torch.cumsum(0.5 * gam[:-1] * d**2 * gn2, 0) + 0.5 * torch.cumsum((gam[1:] - gam[:-1]) * sn**2, 0)
    return -col(tr, "numerator"), rhs


_R(
    "L4_identity", title="Exact identity behind the estimate (Lemma 4)",
    provenance=Provenance.PAPER, label="Lemma 4", source="arXiv v1, Lemma 4",
    statement="-sum gamma_k d_k <g_k,s_k> = -gamma_{n+1}/2 ||s_{n+1}||^2 + sum gamma_k/2 d_k^2||g_k||^2 "
              "+ 1/2 sum (gamma_{k+1}-gamma_k)||s_{k+1}||^2 (both sides divided by the size of the terms)",
    optimizers=DA, kind="identity", iterate="none", oracle="any", requires=frozenset(),
    observed=lambda tr, pb: _l4(tr)[0] / _l4_scale(tr), bound=lambda tr, pb: _l4(tr)[1] / _l4_scale(tr),
    notes="gamma is recomputed from the recorded gradient norms; the left side is the optimizer's numerator.",
)
_R(
    "L5", title="Weighted suboptimality bound (Lemma 5)", provenance=Provenance.PAPER, label="Lemma 5",
    source="arXiv v1, Lemma 5", iterate="weighted_average", optimizers=DA,
    statement="sum_{k<=n} d_k (f(x_k)-f*) <= D||s_{n+1}|| + sum gamma_k/2 d_k^2||g_k||^2 - gamma_{n+1}/2||s_{n+1}||^2",
    observed=lambda tr, pb: _weighted_subopt(tr),
    bound=lambda tr, pb: lemma5_bound(gammas_of(tr), col(tr, "d"), col(tr, "grad_norm") ** 2, col(tr, "s_norm"), D_of(tr)),
)
_R(
    "L5_sharp", title="Lemma 5, the sharper intermediate form", provenance=Provenance.PAPER, label="Lemma 5 (proof)",
    source="arXiv v1, proof of Lemma 5", iterate="weighted_average", optimizers=DA,
    statement="sum_{k<=n} d_k (f(x_k)-f*) <= D||s_{n+1}|| - sum_{k<=n} d_k gamma_k <g_k, s_k>",
    observed=lambda tr, pb: _weighted_subopt(tr),
    bound=lambda tr, pb: D_of(tr) * col(tr, "s_norm") - col(tr, "numerator"),
)
_R(
    "L7", title="The dual sum is bounded by the estimate (Lemma 7)", provenance=Provenance.PAPER, label="Lemma 7",
    source="arXiv v1, Lemma 7", iterate="none", optimizers=DA, oracle="any", requires=frozenset(),
    statement="||s_{n+1}|| <= 2 d_{n+1}/gamma_{n+1} + sum_{k<=n} gamma_k d_k^2 ||g_k||^2 / (2 d_{n+1})",
    observed=lambda tr, pb: col(tr, "s_norm"),
    bound=lambda tr, pb: lemma7_bound(gammas_of(tr), col(tr, "d"), col(tr, "grad_norm") ** 2, col(tr, "d_next")),
)
_R(
    "L7_prime", title="Distance travelled is at most (1+sqrt3) d (G-variant)", provenance=Provenance.DERIVED,
    label="Lemma 7'", source=f"{DOC}#lemma-7-prime (reference/dadaptation.md §2.2)", iterate="last", optimizers=DA,
    oracle="any", requires=frozenset(), applies=_G_variant,
    statement="||x_{n+1} - x0|| <= (1 + sqrt 3) d_{n+1}  (G-variant step, G >= max ||g_k||)",
    observed=lambda tr, pb: displacement(tr) if "x" in tr.iterates else col(tr, "lr") * col(tr, "s_norm"),
    bound=lambda tr, pb: lemma7p_bound(col(tr, "d_next")),
)
_R(
    "P8_4", title="AdaGrad-norm step sum (Proposition 8 (4))", provenance=Provenance.PAPER, label="Proposition 8",
    source="arXiv v1, Proposition 8 (Streeter & McMahan)", iterate="none", optimizers=DA, oracle="any",
    requires=frozenset(), applies=_G_variant,
    statement="sum_{k<=n} gamma_k/2 ||g_k||^2 <= 1/gamma_{n+1}  (G-variant, G >= max ||g_k||)",
    observed=lambda tr, pb: torch.cumsum(0.5 * col(tr, "gamma") * col(tr, "grad_norm") ** 2, 0),
    bound=lambda tr, pb: 1.0 / col(tr, "lr"),
    notes="uses the optimizer's own gamma_k and gamma_{n+1}.",
)
_R(
    "L9", title="Weighted suboptimality in terms of d_{n+1} (Lemma 9)", provenance=Provenance.PAPER, label="Lemma 9",
    source="arXiv v1, Lemma 9", iterate="weighted_average", optimizers=DA, applies=_d0_le_D,
    statement="sum_{k<=n} d_k (f(x_k)-f*) <= 2 D d_{n+1}/gamma_{n+1} + D d_{n+1} sum_{k<=n} gamma_k ||g_k||^2  (d_0 <= D)",
    observed=lambda tr, pb: _weighted_subopt(tr),
    bound=lambda tr, pb: lemma9_bound(gammas_of(tr), col(tr, "grad_norm") ** 2, col(tr, "d_next"), D_of(tr)),
)
_R(
    "weighted_average_bound", title="Computable bound on the weighted average at every n",
    provenance=Provenance.PAPER, label="Lemma 9 + Jensen", source="arXiv v1, Lemma 9 and the proof of Theorem 10",
    iterate="weighted_average", optimizers=DA, applies=_d0_le_D,
    statement="f(xhat_n)-f* <= sum d_k(f(x_k)-f*)/sum d_k <= Lemma 9's right side / sum_{k<=n} d_k  (d_0 <= D)",
    observed=lambda tr, pb: weighted_average(col(tr, "subopt"), col(tr, "d")),
    bound=lambda tr, pb: weighted_average_bound(gammas_of(tr), col(tr, "grad_norm") ** 2, col(tr, "d"), col(tr, "d_next"), D_of(tr)),
    notes="observed is the d-weighted average of f(x_k)-f*, which upper-bounds f(xhat_n)-f* by Jensen.",
)


def _t10_bound(tr, pb):
    d, dn = col(tr, "d"), col(tr, "d_next")
    n = step_index(tr)
    settled = n >= 2 * settle_index(d, dn).to(torch.float64)
    b = theorem10_bound(n, D_of(tr), running_G(tr), col(tr, "grad_norm")[0])
    return no_bound_where(settled, b)


_R(
    "T10", title="Explicit O(DG/sqrt(n+1)) rate once d has settled (Theorem 10)", provenance=Provenance.PAPER,
    label="Theorem 10", source="arXiv v1, Theorem 10 (constant 16 as in its proof; v1's 12 is a typo)",
    iterate="weighted_average", optimizers=DA, applies=lambda tr, pb: _d0_le_D(tr, pb) & _no_G(tr, pb),
    statement="for n >= 2 nhat(n), nhat(n) = min{m : d_m >= d_{n+1}/2}: sum d_k(f(x_k)-f*)/sum d_k "
              "<= 16 D G_n/sqrt(n+1) + 8 D G_n^2/((n+1)||g_0||), G_n = max_{k<=n} ||g_k||  (no-G step, d_0 <= D)",
    observed=lambda tr, pb: weighted_average(col(tr, "subopt"), col(tr, "d")), bound=_t10_bound,
    notes=f"Checked at every n where n >= 2 nhat(n) (the fixed-n reading of the condition, {DOC}#theorem-10); "
          "+inf (unchecked) elsewhere.",
)


@per_trace
def _t2(tr, pb, form):
    d, dn = col(tr, "d"), col(tr, "d_next")
    t = theorem2_pick(d, dn)
    W = weighted_average(col(tr, "subopt"), d)
    obs = W.gather(0, t)
    n = step_index(tr)
    D, d0 = D_of(tr), hp(tr, "d0")
    S_t = torch.cumsum(col(tr, "grad_norm") ** 2, 0).gather(0, t)
    lg2 = torch.log2(D / d0)
    if form == "v1":
        ok = n >= lg2
        b = 8.0 * lg2 / (n + 1) * D * torch.sqrt(S_t)
    elif form == "final":
        ok = n >= 2 * lg2
        b = 16.0 * log2plus(D / d0) / (n + 1) * D * torch.sqrt(S_t)
    elif form == "final_G":
        ok = n >= 2 * lg2
        b = 16.0 * D * hp_or_nan(tr, "G") * log2plus(D / d0) / torch.sqrt(n + 1)
    else:  # "derived": the chain L9 -> P8(4) -> Lemma 11 (final), with G^2 kept
        ok = (n + 1) >= 2 * lg2
        b = 16.0 * log2plus(D / d0) / (n + 1) * D * torch.sqrt(hp_or_nan(tr, "G") ** 2 + S_t)
    return obs, no_bound_where(ok, b)


_T2_COMMON = dict(iterate="weighted_average", optimizers=DA,
                  applies=lambda tr, pb: _d0_le_D(tr, pb) & _G_variant(tr, pb))
_R(
    "T2_v1", title="Non-asymptotic log-factor rate, as printed in v1 (Theorem 2)", provenance=Provenance.PAPER,
    label="Theorem 2 (v1)", source="arXiv v1, Theorem 2",
    statement="n >= log2(D/d0): f(xhat_t)-f* <= 8 log2(D/d0)/(n+1) D sqrt(sum_{k<=t}||g_k||^2), "
              "t = argmin_{k<=n} d_{k+1}/sum_{i<=k} d_i  (G-variant, d_0 <= D)",
    observed=lambda tr, pb: _t2(tr, pb, "v1")[0], bound=lambda tr, pb: _t2(tr, pb, "v1")[1],
    extra={"erratum": "relies on v1 Lemma 11, which is false as stated; the bound is 0 at d_0 = D and fails there"},
    **_T2_COMMON,
)
_R(
    "T2_final", title="Non-asymptotic log-factor rate, final version (Theorem 2)", provenance=Provenance.SECONDARY,
    label="Theorem 2", source="final (ICML) version via independent summaries (reference/dadaptation.md §2.1)",
    statement="n >= 2 log2(D/d0): f(xhat_t)-f* <= 16 log2+(D/d0)/(n+1) D sqrt(sum_{k<=t}||g_k||^2)  (G-variant, d_0 <= D)",
    observed=lambda tr, pb: _t2(tr, pb, "final")[0], bound=lambda tr, pb: _t2(tr, pb, "final")[1], **_T2_COMMON,
)
_R(
    "T2_final_G", title="Non-asymptotic log-factor rate in DG form (Theorem 2)", provenance=Provenance.SECONDARY,
    label="Theorem 2", source="final (ICML) version via independent summaries (reference/dadaptation.md §2.1)",
    statement="n >= 2 log2(D/d0): f(xhat_t)-f* <= 16 D G log2+(D/d0)/sqrt(n+1)  (G-variant, d_0 <= D)",
    observed=lambda tr, pb: _t2(tr, pb, "final_G")[0], bound=lambda tr, pb: _t2(tr, pb, "final_G")[1], **_T2_COMMON,
)
_R(
    "T2_derived", title="Non-asymptotic log-factor rate, the chain Lemma 9 + Prop. 8 + Lemma 11 (final)",
    provenance=Provenance.SECONDARY, label="Theorem 2 (proof)", source=f"{DOC}#theorem-2 (uses the [SECONDARY] Lemma 11)",
    statement="n+1 >= 2 log2(D/d0): f(xhat_t)-f* <= 16 log2+(D/d0)/(n+1) D sqrt(G^2 + sum_{k<=t}||g_k||^2)",
    observed=lambda tr, pb: _t2(tr, pb, "derived")[0], bound=lambda tr, pb: _t2(tr, pb, "derived")[1], **_T2_COMMON,
)

# -- GD form and the authors' SGD code ------------------------------------------------------------

_R(
    "gd_dhat_le_D", title="GD-form estimate is a lower bound on D", provenance=Provenance.DERIVED,
    label="", source=f"{DOC}#gd-form (reference/dadaptation.md §1.4, prodigy.md §4 P0)",
    statement="max(dhat_{n+1}/D, d_{n+1}/max(d_0, D)) <= 1, dhat_{n+1} = sum_{k<=n} lambda_k <g_k, x0-x_k>/||x_{n+1}-x0||",
    optimizers=("dadapt_gd",), kind="invariant", iterate="none",
    observed=lambda tr, pb: estimate_ratio(tr, D_of(tr)), bound=lambda tr, pb: torch.ones(steps(tr), tr.batch),
)


@per_trace
def _gd_identity(tr):
    eta, gn2 = col(tr, "lr"), col(tr, "grad_norm") ** 2
    disp = displacement(tr) if "x" in tr.iterates else col(tr, "s_norm")
    lhs, rhs = col(tr, "numerator"), 0.5 * disp**2 - 0.5 * torch.cumsum(eta**2 * gn2, 0)
    # Round-off of x_{n+1} - x0 scales with the iterates' norms, not with the displacement.
    if "x" in tr.iterates:
        x = tr.iterates["x"].to(torch.float64)
        size = torch.linalg.vector_norm(x[1 : steps(tr) + 1], dim=-1) + torch.linalg.vector_norm(x[:1], dim=-1)
    else:
        size = disp
    scale = torch.cumsum(eta**2 * gn2, 0) + disp * size
    return lhs / scale, rhs / scale


_R(
    "gd_identity", title="GD identity: the estimate's numerator in closed form", provenance=Provenance.DERIVED,
    label="", source=f"{DOC}#gd-form (reference/dadaptation.md §1.3)",
    statement="sum_{k<=n} eta_k <g_k, x0-x_k> = ||x_{n+1}-x0||^2/2 - sum_{k<=n} eta_k^2||g_k||^2/2 "
              "(divided by the size of the terms)",
    optimizers=("dadapt_gd", "prodigy_gd"), kind="identity", iterate="none", oracle="any", requires=frozenset(),
    observed=lambda tr, pb: _gd_identity(tr)[0], bound=lambda tr, pb: _gd_identity(tr)[1],
    notes="x_{n+1} from the recorded iterates when kept, else the optimizer's s_norm.",
)
_R(
    "code_sgd_d_le_2D", title="DAdaptSGD code (momentum 0): dhat <= 2D and d <= max(d_0, 2D)",
    provenance=Provenance.DERIVED, label="", source=f"{DOC}#code-invariant (reference/dadaptation.md §3.1)",
    statement="momentum = 0, weight_decay = 0, any lr > 0 and growth_rate: max(dhat_{k+1}/(2D), d_{k+1}/max(d_0, 2D)) <= 1",
    optimizers=("dadapt_sgd_code",), kind="invariant", iterate="none",
    applies=lambda tr, pb: _hp_is("momentum", 0.0)(tr, pb) & _hp_is("weight_decay", 0.0)(tr, pb),
    observed=lambda tr, pb: estimate_ratio(tr, D_of(tr), 2.0), bound=lambda tr, pb: torch.ones(steps(tr), tr.batch),
    notes="Not an invariant with momentum > 0: gradients are taken at the averaged x, not at z = x0 - s "
          "(reference/dadaptation.md §3.1 saw d = 2.7D and 4.2D with momentum 0.9).",
)

# -- Algorithm 2 (coordinate-wise) -------------------------------------------------------------------


def _G_inf_ok(trace, problem):
    g = grads_of(trace, problem)
    return hp(trace, "G_inf") >= g.abs().amax(dim=-1).nan_to_num(0.0).amax(dim=0)


def _d0_le_Dinf(trace, problem):
    return hp(trace, "d0") <= D_inf_of(trace, problem)


AG = ("dadapt_adagrad",)
_R(
    "T16_dhat_le_Dinf", title="Algorithm 2's estimate is a lower bound on D_inf (Theorem 16)",
    provenance=Provenance.PAPER, label="Theorem 16", source="arXiv v1, Theorem 16",
    statement="max(dhat_{n+1}/D_inf, d_{n+1}/max(d_0, D_inf)) <= 1", optimizers=AG,
    kind="invariant", iterate="none",
    observed=lambda tr, pb: estimate_ratio(tr, D_inf_of(tr, pb)), bound=lambda tr, pb: torch.ones(steps(tr), tr.batch),
)
_R(
    "L17", title="||s_{n+1}||_1 <= 3 d_{n+1} ||a_{n+1}||_1 (Lemma 17)", provenance=Provenance.PAPER, label="Lemma 17",
    source="arXiv v1, Lemma 17 (needs a_0 = G_inf >= |g_kj|, Prop. 14)", optimizers=AG, iterate="none",
    applies=_G_inf_ok, statement="||s_{n+1}||_1 <= 3 d_{n+1} ||a_{n+1}||_1  (G_inf >= max |g_kj|)",
    observed=lambda tr, pb: col(tr, "s_l1"), bound=lambda tr, pb: lemma17_bound(col(tr, "d_next"), col(tr, "a_l1")),
)
_R(
    "alg2_weighted_bound", title="Computable per-n bound for Algorithm 2", provenance=Provenance.DERIVED,
    label="", source=f"{DOC}#algorithm-2 (from v1 Lemmas 15, 17 and Prop. 14)", optimizers=AG,
    iterate="weighted_average", applies=lambda tr, pb: _G_inf_ok(tr, pb) & _d0_le_Dinf(tr, pb),
    statement="sum d_k(f(x_k)-f*)/sum d_k <= 4 D_inf d_{n+1} ||a_{n+1}||_1 / sum_{k<=n} d_k  (d_0 <= D_inf, G_inf >= max|g_kj|)",
    observed=lambda tr, pb: weighted_average(col(tr, "subopt"), col(tr, "d")),
    bound=lambda tr, pb: alg2_weighted_bound(col(tr, "d"), col(tr, "d_next"), col(tr, "a_l1"), D_inf_of(tr, pb)),
)


def _t18_bound(tr, pb):
    d, dn = col(tr, "d"), col(tr, "d_next")
    n = step_index(tr)
    settled = n >= 2 * settle_index(d, dn).to(torch.float64)
    return no_bound_where(settled, theorem18_bound(n, col(tr, "a_l1"), D_inf_of(tr, pb)))


_R(
    "T18", title="Algorithm 2 rate once d has settled (Theorem 18 = Theorem 3)", provenance=Provenance.PAPER,
    label="Theorem 18", source="arXiv v1, Theorems 3 and 18", optimizers=AG, iterate="weighted_average",
    applies=lambda tr, pb: _G_inf_ok(tr, pb) & _d0_le_Dinf(tr, pb),
    statement="for n >= 2 nhat(n): sum d_k(f(x_k)-f*)/sum d_k <= 16 ||a_{n+1}||_1 D_inf/(n+1)",
    observed=lambda tr, pb: weighted_average(col(tr, "subopt"), col(tr, "d")), bound=_t18_bound,
    notes=f"fixed-n reading of n >= 2 nhat as for Theorem 10 ({DOC}#algorithm-2).",
)
