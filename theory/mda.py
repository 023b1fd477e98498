"""MDA, modernized dual averaging (Jelassi & Defazio, arXiv 2010.10502): identities and the derived bound.

The paper's theorem statements are unknown (docs/references/mda.md §3) and nothing of them is
asserted. Asserted, all [DERIVED] in docs/theory/mda.md:

- the exact dual-averaging identity with b_i = sqrt(i) (shared machinery: theory/madgrad.py),
  a lemma of the bound's proof: THEOREM;
- the "decaying uncentered L2" reading, the update rewritten: in z-space, SGD with step
  lam_k/sqrt(k+1) on f + kappa_k/2 ||z - x0||^2, kappa_k = (sqrt(k+1) - sqrt k)/lam_k: IMPLEMENTATION;
- the primal-averaging potential (lambda-weighted averaging): THEOREM;
- the convex bound of docs/references/mda.md §3.2 for lambda-weighted averaging, in its pathwise
  (observed) form and in closed form with G_k = max_{i<=k} ||g_i||, k >= 1:

      f(x_k) - f* <= [1/2 sqrt(k) R^2 + 1/2 lam_0^2 ||g_0||^2 + 1/2 sum_{1<=i<=k} lam_i^2 ||g_i||^2/sqrt(i)] / S_k
                  <= [1/2 sqrt(k) R^2 + 1/2 gamma^2 G_k^2 (1 + sum_{1<=i<=k} (i+1)/sqrt(i))] / (gamma sum_{1<=i<=k+1} sqrt(i)).

- the same bound for constant c on the weighted sum sum_k w_k (f(x_k) - f*) (sum_k w_k = S_k), and
  for either averaging in expectation (docs/theory/mda.md#constant-c, #in-expectation).

The ``mda`` optimizer has no weight decay and no eps; its only option that changes the update is
``averaging`` (the potential and the bounds on f(x_k) need ``averaging="lambda"``; the identities
and the weighted bounds hold for any c_k, read from the recorded ``c``).
"""

from __future__ import annotations

import torch

from . import access as A
from . import madgrad as M
from .base import Example, Provenance, Result, Role, Sides, example, register

PAPER = "Dual Averaging is Surprisingly Effective for Deep Learning Optimization (Jelassi & Defazio, 2020)"
ARXIV = "2010.10502"
DOC = "docs/theory/mda.md"
REF = "docs/references/mda.md"
UNDEFINED = "the bound is stated for k >= 1 (b_0 = sqrt 0)"


# -- pure functions of sequences (time on dim 0, runs on dim 1) ------------------------------------


def observed_bound(lam: torch.Tensor, g2: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """The pathwise bound [T, B] from lam_k [T, B], ||g_k||^2 [T, B] and R [B]; row 0 = NaN (k >= 1).
    [DERIVED, docs/theory/mda.md#bound]"""
    k = torch.arange(lam.shape[0], dtype=A.F64)[:, None]
    terms = torch.where(k >= 1, lam**2 * g2 / k.clamp(min=1).sqrt(), lam**2 * g2)
    out = (0.5 * k.sqrt() * R**2 + 0.5 * torch.cumsum(terms, 0)) / torch.cumsum(lam, 0)
    return A.unchecked_where(k >= 1, out)


def closed_bound(gamma: torch.Tensor, G: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """The closed form [T, B] from gamma [B], G_k = max_{i<=k} ||g_i|| [T, B] and R [B]; row 0 = NaN.
    [DERIVED, docs/theory/mda.md#bound]"""
    T = G.shape[0]
    k = torch.arange(T, dtype=A.F64)[:, None]
    i = torch.arange(1, T, dtype=A.F64)
    tail = torch.cat([torch.zeros(1, dtype=A.F64), torch.cumsum((i + 1) / i.sqrt(), 0)])[:, None]
    root = torch.cumsum(torch.arange(1, T + 1, dtype=A.F64).sqrt(), 0)[:, None]
    out = (0.5 * k.sqrt() * R**2 + 0.5 * gamma**2 * G**2 * (1 + tail)) / (gamma * root)
    return A.unchecked_where(k >= 1, out)


# -- trace layer ------------------------------------------------------------------------------------


def _bound_inputs(trace, problem):
    """(gamma, ||g_k||^2, R, magnitude of f(x_k) - f*, terms) of a deterministic run."""
    T = A.steps(trace)
    return (A.hp(trace, "lr"), A.col(trace, "grad_norm") ** 2, A.D(trace),
            A.subopt_magnitude(trace, problem)[:T], A.step_index(trace) + 1)


def _observed_sides(trace, problem) -> Sides:
    gamma, g2, R, fmag, terms = _bound_inputs(trace, problem)
    bnd = observed_bound(M.dual_weights(gamma, A.steps(trace))[:-1], g2, R)
    return Sides(A.col(trace, "subopt"), bnd, scale=fmag, terms=terms, undefined=UNDEFINED)


def _closed_sides(trace, problem) -> Sides:
    gamma, g2, R, fmag, terms = _bound_inputs(trace, problem)
    bnd = closed_bound(gamma, A.running_max(g2.sqrt()), R)
    return Sides(A.col(trace, "subopt"), bnd, scale=fmag, terms=terms, undefined=UNDEFINED)


def _weighted_sides(trace, problem) -> Sides:
    """The weighted form (madgrad.weighted_sides_from) with the isotropic B_K of b_i = sqrt i, from the
    recorded norms of the gradients the run received (no iterates needed)."""
    gamma, g2, R, _, _ = _bound_inputs(trace, problem)
    lam = M.dual_weights(gamma, A.steps(trace))[:-1]
    return M.weighted_sides_from(trace, problem, observed_bound(lam, g2, R), lam * g2.sqrt())


# -- results ----------------------------------------------------------------------------------------


def _R(key, **kw):
    kw.setdefault("paper", PAPER)
    kw.setdefault("arxiv", ARXIV)
    return register(Result(key=f"mda.{key}", provenance=Provenance.DERIVED, **kw))


MDA = ("mda",)

_R(
    "ftrl_identity", title="Exact dual-averaging identity with b_i = sqrt(i)",
    source=f"{DOC}#identity ({REF} §3.1, docs/references/madgrad.md §5(b))", optimizers=MDA, kind="identity",
    iterate="none", oracle="any", sides=M.ftrl_sides,
    statement="k >= 1: sum_{i<=k} <l_i, z_i - x*> = -<s_{k+1}, x* - x0> - ||s_{k+1}||^2/(2 sqrt k) + ||l_0||^2/2 "
              "+ sum_{1<=i<=k} ||l_i||^2/(2 sqrt i) - sum_{2<=i<=k} ||s_i||^2 (1/sqrt(i-1) - 1/sqrt i)/2",
    notes="A lemma of the bound's proof: the optimizer's z (from its iterates) against the sums rebuilt from the gradients.",
)
_R(
    "decaying_l2_form", title="MDA is SGD in z on f + kappa_k/2 ||z - x0||^2 (decaying uncentered L2)",
    source=f"{DOC}#l2-form ({REF} §2)", optimizers=MDA, kind="identity", iterate="none", oracle="any",
    role=Role.IMPLEMENTATION, sides=M.l2_form,
    statement="z_{k+1} = z_k - lam_k/sqrt(k+1) [g_k + kappa_k (z_k - x0)], kappa_k = (sqrt(k+1) - sqrt k)/lam_k",
    notes="The update rewritten: true by construction.",
)
_R(
    "primal_averaging_potential", title="Quasi-monotone (primal-averaging) potential is non-increasing",
    source=f"{DOC}#bound ({REF} §3.1)", optimizers=MDA, kind="lyapunov", iterate="weighted_average",
    oracle="deterministic", requires=frozenset({"convex"}), sides=M.potential_sides, assumptions=(M.LAMBDA_AVERAGING,),
    statement="Phi_k = S_k (f(x_k) - f*) - sum_{i<=k} lam_i <grad f(x_i), z_i - x*> is non-increasing, Phi_{-1} = 0; "
              "checked as S_k (f(x_k) - f*) <= S_{k-1} (f(x_{k-1}) - f*) + lam_k <grad f(x_k), z_k - x*>",
)
_R(
    "observed_bound", title="Pathwise convex bound of MDA with lambda-weighted averaging",
    source=f"{DOC}#bound ({REF} §3.2)", optimizers=MDA, iterate="weighted_average", requires=frozenset({"convex"}),
    sides=_observed_sides, assumptions=(M.LAMBDA_AVERAGING,),
    statement="k >= 1: f(x_k) - f* <= [sqrt(k) R^2/2 + lam_0^2 ||g_0||^2/2 + sum_{1<=i<=k} lam_i^2 ||g_i||^2/(2 sqrt i)] / S_k",
)
_R(
    "closed_form_bound", title="Closed-form convex bound of MDA with lambda-weighted averaging",
    source=f"{DOC}#bound ({REF} §3.2)", optimizers=MDA, iterate="weighted_average", requires=frozenset({"convex"}),
    sides=_closed_sides, assumptions=(M.LAMBDA_AVERAGING,),
    statement="k >= 1: f(x_k) - f* <= [sqrt(k) R^2/2 + gamma^2 G_k^2 (1 + sum_{1<=i<=k} (i+1)/sqrt i)/2] "
              "/ (gamma sum_{1<=i<=k+1} sqrt i),  G_k = max_{i<=k} ||g_i||",
)
_R(
    "momentum_bound", title="Convex bound of MDA with constant c (the practical form): weighted iterates",
    source=f"{DOC}#constant-c", optimizers=MDA, iterate="weighted_average", requires=frozenset({"convex"}),
    sides=_weighted_sides, assumptions=(M.CONSTANT_AVERAGING,),
    statement="K >= 1: sum_{k<=K} w_k (f(x_k) - f*) / S_K <= [sqrt(K) R^2/2 + lam_0^2 ||g_0||^2/2 "
              "+ sum_{1<=i<=K} lam_i^2 ||g_i||^2/(2 sqrt i)] / S_K, w_k = (lam_k - (1-c) lam_{k+1})/c (0 < k < K), "
              "w_0 = lam_0 - (1-c) lam_1/c, w_K = lam_K/c, sum_k w_k = S_K",
    notes="c = 1 - momentum. The early weights are negative when c is small: f(x_0) - f* enters the bound.",
)
_R(
    "bound_expected", title="Convex bound of MDA, any averaging, stochastic gradients, in expectation",
    source=f"{DOC}#in-expectation", optimizers=MDA, iterate="weighted_average", requires=frozenset({"convex"}),
    oracle="stochastic", in_expectation=True, sides=_weighted_sides,
    statement="E[sum_k w_k (f(x_k) - f*)] / S_K <= E[sqrt(K) R^2/2 + lam_0^2 ||g_0||^2/2 + sum_{1<=i<=K} lam_i^2 "
              "||g_i||^2/(2 sqrt i)] / S_K with the sampled g_i (lambda-weighted averaging: w = S_K at k = K, else 0)",
)


# -- examples (tests/theory/test_every_result.py runs each in float64 and float32) --------------------

example(Example(("mda.ftrl_identity", "mda.decaying_l2_form"), "huber", "mda",
                hp={"lr": torch.tensor([1e-2, 0.1, 1.0, 10.0], dtype=torch.float64), "momentum": torch.tensor([0.9, 0.5, 0.0, 0.9], dtype=torch.float64)},
                T=100, runs=4))
example(Example(("mda.ftrl_identity", "mda.decaying_l2_form"), "logistic", "mda", options={"averaging": "lambda"},
                hp={"lr": torch.tensor([1e-2, 0.1, 1e-2, 0.1, 1e-2, 0.1, 1e-2, 0.1], dtype=torch.float64)}, T=60, runs=8, batch_size=16))
example(Example(("mda.ftrl_identity", "mda.decaying_l2_form", "mda.primal_averaging_potential", "mda.observed_bound",
                 "mda.closed_form_bound"), "l1_distance", "mda", options={"averaging": "lambda"},
                hp={"lr": torch.tensor([1e-2, 0.1, 1.0, 10.0], dtype=torch.float64)}, T=150, runs=4))
# ||g_k|| varies along the run here (constant on l1_distance, where both bounds coincide).
example(Example(("mda.primal_averaging_potential", "mda.observed_bound", "mda.closed_form_bound"), "max_affine", "mda",
                options={"averaging": "lambda"}, hp={"lr": torch.tensor([1e-3, 1e-2, 0.1, 1.0], dtype=torch.float64)}, T=150, runs=4))
example(Example(("mda.momentum_bound",), "l1_distance", "mda",
                hp={"lr": torch.tensor([1e-2, 0.1, 1.0, 0.1], dtype=torch.float64), "momentum": torch.tensor([0.9, 0.9, 0.5, 0.0], dtype=torch.float64)}, T=150, runs=4))
example(Example(("mda.momentum_bound",), "max_affine", "mda",
                hp={"lr": torch.tensor([1e-3, 1e-2, 0.1, 1.0], dtype=torch.float64), "momentum": 0.9}, T=150, runs=4))
example(Example(("mda.bound_expected",), "lad", "mda", hp={"lr": M.seed_groups(0.01, 0.1), "momentum": 0.9},
                T=60, runs=16, batch_size=4))
example(Example(("mda.bound_expected",), "lad", "mda", options={"averaging": "lambda"}, hp={"lr": M.seed_groups(0.01, 0.1)},
                T=60, runs=16, batch_size=4))
