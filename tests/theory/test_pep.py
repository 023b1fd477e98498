"""PEP worst cases (PEPit, Clarabel): agreement with tight closed forms, and the bracket
observed run <= PEP worst case <= paper bound, each within the stated solver accuracy
(pep.PEP_RTOL relative, pep.PEP_ATOL absolute). Small T by default; T = 50 is heavy."""

import math
import time

import numpy as np
import pytest
import torch

pytest.importorskip("PEPit")

from ratecheck.experiments.runner import run  # noqa: E402
from ratecheck.optimizers import get as get_opt  # noqa: E402
from ratecheck.problems import get as get_problem  # noqa: E402
from ratecheck.problems import names as problem_names  # noqa: E402
from ratecheck.theory import access as A  # noqa: E402
from ratecheck.theory import pep  # noqa: E402
from ratecheck.theory import schedules as S  # noqa: E402
from ratecheck.theory import spa as P  # noqa: E402

CLOSED = 1e-3  # agreement with tight closed forms, relative (issue 4)


def _ok(v):
    assert v.ok, v
    return v.value


@pytest.mark.parametrize("n,G,D", [(3, 1.0, 1.0), (8, 2.0, 0.5)])
def test_best_iterate_subgradient_is_G_D_over_sqrt_n_plus_1(n, G, D):
    gamma, tight = pep.subgradient_best_iterate_tight(n, D, G)
    v = _ok(pep.sgd_worst_case(np.full(n, gamma), D, G=G, best=True))
    assert v == pytest.approx(tight, rel=CLOSED)
    assert tight == pytest.approx(G * D / math.sqrt(n + 1))


@pytest.mark.parametrize("n", [1, 4, 10])
def test_gd_smooth_step_one_over_L_is_LD2_over_4n_plus_2(n):
    L, D = 3.0, 1.5
    v = _ok(pep.sgd_worst_case(np.full(n, 1 / L), D, L=L, function_class="smooth"))
    assert v == pytest.approx(L * D * D / (4 * n + 2), rel=CLOSED)


def test_uniform_primal_averaging_on_qg_is_L_over_2_n_plus_1():
    n, L, D = 5, 1.0, 1.0
    k = np.arange(n)
    c = 1 / (k + 2)  # c_{k+1} = 1/(k+2)
    tight = pep.spa_uniform_qg_tight(n, D, L)
    assert tight == pytest.approx(1 / 12)  # PEPit's doctest value 0.0833333
    assert _ok(pep.spa_worst_case(np.full(n, 1 / L), c, D, L=L, function_class="qg")) == pytest.approx(tight, rel=CLOSED)
    # the same method in heavy-ball form (alpha_k = 1/(L(k+2)), b_k = k/(k+2)), via the derived map
    alpha, b = (t.numpy() for t in P.heavy_ball_from_spa(np.full(n, 1 / L), c))
    np.testing.assert_allclose(alpha, 1 / (L * (k + 2)), rtol=1e-14)
    np.testing.assert_allclose(b, k / (k + 2), rtol=1e-14)
    assert _ok(pep.heavy_ball_worst_case(alpha, b, D, L=L, function_class="qg")) == pytest.approx(tight, rel=CLOSED)


@pytest.mark.parametrize("n,frac", [(6, 1.0), (10, 1.0), (10, 0.6)])
def test_linear_decay_bound_B_is_tight(n, frac):
    D, G = 1.0, 1.0
    eta = frac * D / (G * math.sqrt(n + 1))
    v = _ok(pep.sgd_worst_case(S.linear_decay_schedule(n, eta), D, G=G))
    assert v == pytest.approx(float(S.linear_decay_bound(eta, n, D, G)), rel=CLOSED)


def test_momentum_forms_have_one_worst_case():
    n, L, lr, beta = 5, 1.0, 0.3, 0.6
    v1 = _ok(pep.sgd_momentum_worst_case(np.full(n, lr), beta, 1.0, L=L))
    eta, c = P.spa_from_pytorch(np.full(n, lr), beta, stable=True)
    v2 = _ok(pep.spa_worst_case(eta, c, 1.0, L=L))
    alpha, b = P.heavy_ball_from_pytorch(np.full(n, lr), beta)
    v3 = _ok(pep.heavy_ball_worst_case(alpha, b, 1.0, L=L))
    assert pep.within_solver_tolerance(v2, v1) and pep.within_solver_tolerance(v3, v1)


def _problem(name):
    if name not in problem_names():
        pytest.skip(f"problem {name} not in the library")
    return get_problem(name)


@pytest.mark.parametrize("schedule", ["linear", "cosine", "constant"])
def test_observed_below_pep_below_bounds_lipschitz(schedule):
    p = _problem("l1_distance")
    T = 8
    x0 = p.x0(3, seed=5)
    lrs = torch.tensor([0.02, 0.3, 2.0])
    tr = run(p, get_opt("sgd", schedule=schedule), x0, T, hp={"lr": lrs, "T": T}, keep_iterates=True)
    for b in range(3):
        D, steps = float(A.D(tr)[b]), A.col(tr, "lr")[:, b]
        worst = _ok(pep.sgd_worst_case(steps, D, G=p.G))
        observed = float(A.rows(tr, "subopt")[T, b])
        assert pep.below_with_solver_tolerance(observed, worst)
        g_bound = torch.full((T + 1,), float(p.G), dtype=torch.float64)  # the PEP class allows any norms up to G
        thm10 = float(S.thm10_prefix_bounds(steps, D, g_bound)[-1])
        thm_b = float(S.bound_weighted_best(steps, D, g_bound))
        assert pep.below_with_solver_tolerance(worst, thm10)
        assert pep.below_with_solver_tolerance(worst, thm_b)
        if schedule == "linear":
            lin = float(S.linear_decay_bound(float(steps[0]) * (T + 1) / T, T, D, p.G))
            assert pep.below_with_solver_tolerance(worst, lin)  # tight near eta* (test above), not for huge steps


def test_observed_below_pep_smooth_momentum():
    p = _problem("quadratic")
    T, L = 8, float(p.L)
    x0 = p.x0(2, seed=2)
    tr = run(p, get_opt("sgd_momentum"), x0, T, hp={"lr": torch.tensor([0.2, 0.9]) / L, "momentum": 0.7})
    for b in range(2):
        D = float(tr["dist"][0, b])
        lr = tr["lr"][:T, b].numpy()
        worst = _ok(pep.sgd_momentum_worst_case(lr, 0.7, D, L=L))
        assert pep.below_with_solver_tolerance(float(tr["subopt"][T, b]), worst)
    tr = run(p, get_opt("sgd"), x0, T, hp={"lr": 1 / L})
    for b in range(2):
        D = float(tr["dist"][0, b])
        worst = pep.gd_smooth_tight(T, D, L)
        assert pep.below_with_solver_tolerance(float(tr["subopt"][T, b]), worst)


def test_bracket_for_the_cli():
    n = 6
    eta = S.linear_decay_schedule(n, 1 / math.sqrt(n + 1))
    out = pep.sgd_bracket(eta, 1.0, 1.0)
    assert out["status"] == "optimal"
    assert out["pep"] == pytest.approx(1 / math.sqrt(n + 1), rel=CLOSED)
    assert out["thm_b"] == pytest.approx(1 / math.sqrt(n + 1), rel=1e-8)
    assert pep.below_with_solver_tolerance(out["pep"], out["thm10"]) and out["thm10"] > 1.5 * out["thm_b"]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="function class"):
        pep.sgd_worst_case([0.1], 1.0, G=1.0, function_class="strongly")
    with pytest.raises(ValueError, match=r"G=None is out of range"):
        pep.sgd_worst_case([0.1], 1.0)
    with pytest.raises(ValueError, match="D=-1"):
        pep.sgd_worst_case([0.1], -1.0, G=1.0)
    with pytest.raises(ValueError, match="same length"):
        pep.spa_worst_case([0.1, 0.2], [0.5], L=1.0)


@pytest.mark.heavy
def test_linear_decay_T50_under_a_minute():
    """Beyond the default suite (PEPs of a few steps): the T = 50 linear-decay PEP solves within a
    minute and matches the closed form 1/sqrt(T+1)."""
    n = 50
    eta = 1 / math.sqrt(n + 1)
    t0 = time.perf_counter()
    v = _ok(pep.sgd_worst_case(S.linear_decay_schedule(n, eta), 1.0, G=1.0))
    assert time.perf_counter() - t0 < 60
    assert v == pytest.approx(1 / math.sqrt(n + 1), rel=CLOSED)
    assert pep.within_solver_tolerance(v, 1 / math.sqrt(n + 1))
