"""SGD+M as primal averaging (arXiv 2010.00406): exact equivalences (property tests), the SPA
behaviour of step drops, the Lyapunov inequalities pathwise, and the registered results on runs."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.problems import names as problem_names
from ratecheck.theory import Provenance, applicable, check, get, names
from ratecheck.theory import spa as P

HYP = settings(max_examples=40, deadline=None)


def _grads(seed, n, d=3):
    return np.random.default_rng(seed).standard_normal((n, d))


# -- exact equivalences -------------------------------------------------------------------------


@HYP
@given(seed=st.integers(0, 10**6), beta=st.floats(0.0, 0.99), stable=st.booleans(), data=st.data())
def test_pytorch_equals_spa_and_heavy_ball_time_varying_lr(seed, beta, stable, data):
    # The note's forward recursion amplifies round-off by 1/beta per step: keep it short there.
    n = data.draw(st.integers(1, 60 if stable else 12))
    lr = data.draw(arrays(np.float64, n, elements=st.floats(1e-3, 2.0)))
    g = _grads(seed, n)
    x0 = np.random.default_rng(seed + 1).standard_normal(3)
    xp, _ = P.pytorch_iterates(x0, g, lr, beta)
    eta, c = P.spa_from_pytorch(lr, beta, stable=stable)
    assert np.all((c > 0) & (c <= 1)) or not stable
    xs, _ = P.spa_iterates(x0, g, eta, c)
    alpha, b = P.heavy_ball_from_pytorch(lr, beta)
    xh = P.heavy_ball_iterates(x0, g, alpha, b)
    scale = 1 + np.abs(xp).max()
    np.testing.assert_allclose(xs, xp, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(xh, xp, rtol=0, atol=1e-12 * scale)


@HYP
@given(seed=st.integers(0, 10**6), data=st.data())
def test_spa_to_pytorch_round_trip(seed, data):
    n = data.draw(st.integers(1, 30))
    eta = data.draw(arrays(np.float64, n, elements=st.floats(1e-2, 3.0)))
    c = data.draw(arrays(np.float64, n, elements=st.floats(0.05, 1.0)))
    g = _grads(seed, n)
    x0 = np.zeros(3)
    xs, _ = P.spa_iterates(x0, g, eta, c)
    lr, beta = P.pytorch_from_spa(eta, c)
    xp, _ = P.pytorch_iterates(x0, g, lr, beta)
    np.testing.assert_allclose(xp, xs, rtol=0, atol=1e-9 * (1 + np.abs(xs).max()))


@HYP
@given(seed=st.integers(0, 10**6), lr=st.floats(1e-3, 1.0), beta=st.floats(0.0, 0.99))
def test_constant_parameters_gap_is_rescaled_buffer(seed, lr, beta):
    n = 25
    g = _grads(seed, n)
    x0 = np.ones(3)
    xp, m = P.pytorch_iterates(x0, g, np.full(n, lr), beta)
    eta, c = P.spa_from_pytorch(np.full(n, lr), beta, stable=True)
    np.testing.assert_allclose(c, 1 - beta, rtol=1e-12)
    np.testing.assert_allclose(eta, lr / (1 - beta), rtol=1e-12)
    xs, z = P.spa_iterates(x0, g, eta, c)
    np.testing.assert_allclose(z - xs, -(lr * beta / (1 - beta)) * m, rtol=0, atol=1e-10 * (1 + np.abs(z).max()))


def test_step_drop_numbers_of_the_note():
    beta, k0 = 0.9, 50
    lr = np.concatenate([np.full(k0, 0.05), np.full(200, 0.005)])
    eta, c = P.spa_from_pytorch(lr, beta)
    assert c[k0 - 1] == pytest.approx(0.1, rel=1e-12)
    assert c[k0] == pytest.approx(0.01, rel=1e-12)  # (beta/10)(1-beta)/beta
    assert c[k0 + 1] == pytest.approx(0.9 * 0.01 / 0.99, rel=1e-12)
    assert eta[k0] == pytest.approx(eta[k0 - 1], rel=1e-12)  # eta unchanged at the drop
    # The note's c_{k0+150} is c[k0 + 149] here (c[k] holds c_{k+1}).
    assert c[k0 + 149] == pytest.approx(1.69e-9, rel=1e-2)
    assert eta[k0 + 149] == pytest.approx(3.0e6, rel=2e-2)
    # Asymptotically geometric with ratio beta, and matching the closed recursion.
    assert c[k0 + 150] / c[k0 + 149] == pytest.approx(beta, rel=1e-6)
    np.testing.assert_allclose(P.step_drop_c(0.01, beta, 151), c[k0 : k0 + 151], rtol=1e-12)


# -- Lyapunov inequalities, pathwise on a smooth non-convex function ------------------------------


def _cauchy(a):
    """f(x) = sum log(1 + (x - a)^2): non-convex, L = 2, f* = 0 at a."""
    return (lambda x: np.log1p((x - a) ** 2).sum(-1)), (lambda x: 2 * (x - a) / (1 + (x - a) ** 2))


@HYP
@given(seed=st.integers(0, 10**6), Leta=st.floats(0.01, 3.0), c=st.floats(0.02, 1.0), eps=st.floats(0.01, 5.0))
def test_l1_and_l2_hold_pathwise(seed, Leta, c, eps):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(4)
    f, grad = _cauchy(a)
    L = 2.0
    eta = Leta / L
    x = z = a + 3 * rng.standard_normal(4)
    for _ in range(30):
        g = grad(x)
        d = z - x
        lam = P.lyapunov_l2(f(z), d @ d, eta, c, L, eps)
        z_new = z - eta * g
        x_new = (1 - c) * x + c * z_new
        rhs1 = P.l1_rhs(f(x), g @ g, g @ d, d @ d, eta, c, L)
        d_new = z_new - x_new
        lam_new = P.lyapunov_l2(f(z_new), d_new @ d_new, eta, c, L, eps)
        tol = 1e-9 * (abs(lam) + abs(f(x)) + eta * (g @ g) + L * (d @ d) + 1)
        assert f(x_new) <= rhs1 + tol
        assert lam_new <= lam + P.l2_decrease(g @ g, eta, c, L, eps) + tol
        x, z = x_new, z_new


def test_rate_reduces_to_sharp_gd_bound():
    L, eta, K, f0 = 2.0, 0.3, 17, 1.7
    assert P.rate_bound(f0, K, eta, 1.0, L) == pytest.approx(f0 / (eta * K * (1 - L * eta / 2)), rel=1e-14)
    eta, c = 0.05, 0.1
    A = 1 - L * eta / 2 - L * eta * (1 - c) / c
    assert P.rate_bound(f0, K, eta, c, L) == pytest.approx(f0 / (eta * K * A), rel=1e-12)
    # the best eps is at least as good as eps = 1
    assert P.rate_bound(f0, K, eta, c, L) <= P.rate_bound(f0, K, eta, c, L, eps=1.0)
    assert np.isnan(P.rate_bound(f0, K, 1.0, 0.1, L))  # A <= 0: no guarantee


# -- registered results on runs -------------------------------------------------------------------

SMOOTH = ["quadratic", "nesterov_smooth", "least_squares", "logistic_iris", "robust_cauchy", "huber"]
RUNS = [
    ("sgd", {}, {"lr": [1e-3, 0.1, 0.9, 50.0]}),
    ("sgd_momentum", {}, {"lr": [1e-3, 0.02, 0.3, 50.0], "momentum": [0.0, 0.5, 0.9, 0.99]}),
    ("sgd_momentum", {"schedule": "linear"}, {"lr": [1e-3, 0.02, 0.3, 5.0], "momentum": 0.9}),
    ("heavy_ball", {}, {"lr": [1e-3, 0.05, 0.3, 5.0], "momentum": [0.0, 0.5, 0.9, 0.7]}),
    ("spa", {}, {"lr": [1e-3, 0.05, 0.5, 50.0], "c": [1.0, 0.5, 0.1, 0.02]}),
    ("spa", {"schedule": "cosine"}, {"lr": [1e-3, 0.05, 0.5, 5.0], "c": 0.2}),
]
MINE = [k for k in names() if k.startswith("spa.")]


def _problem(name):
    if name not in problem_names():
        pytest.skip(f"problem {name} not in the library")
    return get_problem(name)


def _run(p, opt, options, hp, T=30, seed=0):
    from ratecheck.optimizers import names as opt_names

    if opt not in opt_names():
        pytest.skip(f"optimizer {opt} not in the library")
    hp = {k: torch.tensor(v) if isinstance(v, list) else v for k, v in hp.items()}
    if options.get("schedule", "constant") != "constant":
        hp["T"] = T
    return run(p, get_opt(opt, **options), p.x0(4, seed=seed), T, hp=hp, keep_iterates=True)


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("opt,options,hp", RUNS, ids=[f"{o}-{x.get('schedule', 'constant')}" for o, x, _ in RUNS])
def test_registered_results_hold_on_runs(name, opt, options, hp):
    p = _problem(name)
    tr = _run(p, opt, options, hp, seed=len(name))
    for r in applicable(opt, p):
        if r.key not in MINE:
            continue
        c = check(r, tr, p)
        if not c.asserted:
            assert r.provenance is Provenance.UNVERIFIED
            continue
        bad = c.checked & ~c.holds
        assert not bool(bad.any()), (r.key, name, opt, c.worst_ratio, c.first_violation)


def test_every_spa_result_is_checked_somewhere():
    p = _problem("quadratic")
    seen = set()
    for opt, options, hp in RUNS:
        tr = _run(p, opt, options, hp)
        for r in applicable(opt, p):
            if r.key in MINE and bool(check(r, tr, p).checked.any()):
                seen.add(r.key)
    assert seen == set(MINE)


def test_unverified_result_is_flagged_not_asserted():
    r = get("spa.sqrt2_gap")
    assert r.provenance is Provenance.UNVERIFIED and not r.provenance.assertable


def test_l1_is_tight_on_a_quadratic_along_the_top_eigenvector():
    # f = (L/2) x^2 in 1-D: the smoothness upper bound is an equality, so L1 holds with equality.
    from ratecheck.problems.base import Certificate, Problem

    class Q(Problem):
        def _value(self, x):
            return 1.5 * (x * x).sum(-1)

        def _grad(self, x):
            return 3.0 * x

    p = Q(name="q1", d=1, f_star=0.0, x_star=np.zeros(1), tags=frozenset({"convex", "smooth"}),
          certificate=Certificate("closed form"), L=3.0)
    tr = run(p, get_opt("sgd_momentum"), torch.tensor([[1.0]]), 20, hp={"lr": 0.05, "momentum": 0.8}, keep_iterates=True)
    c = check(get("spa.l1_one_step"), tr, p)
    assert c.all_hold
    assert float(c.worst_ratio[0]) == pytest.approx(1.0, rel=1e-9)
    eta, cc = P.spa_params(tr)
    assert np.allclose(eta, 0.05 / 0.2, rtol=1e-12) and np.allclose(cc, 0.2, rtol=1e-12)
    assert math.isfinite(float(c.bound[5, 0]))
