"""Schedules theory (arXiv 2310.07831): pure lemmas (property tests), regression targets of the
reference note, and every registered result checked on runs of the registered optimizers."""

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
from ratecheck.theory import applicable, check, get, names
from ratecheck.theory import schedules as S

pos = st.floats(0.05, 20.0)
HYP = settings(max_examples=40, deadline=None)


def vec(n_min=1, n_max=12, lo=0.05, hi=20.0):
    return st.integers(n_min, n_max).flatmap(lambda n: arrays(np.float64, n, elements=st.floats(lo, hi)))


# -- pure lemmas ---------------------------------------------------------------------------------


@HYP
@given(q=vec(1, 15, -5.0, 5.0), data=st.data())
def test_identity_holds_for_any_q_and_weights(q, data):
    w = data.draw(arrays(np.float64, q.size, elements=st.floats(0.0, 10.0)))
    w[-1] = data.draw(st.floats(0.01, 10.0))
    rhs = S.last_iterate_identity_rhs(q, w)
    assert abs(rhs - q[-1]) <= 1e-10 * (1 + np.abs(q).max())


def test_identity_is_not_the_plain_average():
    q, w = np.array([3.0, 1.0, 2.0]), np.ones(3)
    # Independent hand computation: avg 2, tail k=0: (1/2-1/3)*((1-3)+(2-3)) = -1/2, k=1: (1-1/2)*(2-1) = 1/2.
    assert S.last_iterate_identity_rhs(q, w) == pytest.approx(2.0 - 0.5 + 0.5, rel=1e-15)


@HYP
@given(w=vec(2, 12), eta=pos)
def test_weights_round_trip(w, eta):
    steps = S.schedule_from_weights(w, eta)
    assert steps.shape == (w.size - 1,) and np.all(steps > 0)
    rec, ok = S.weights_from_schedule(steps, eta * w.sum())
    assert ok
    # The larger root recovers w exactly when every w_k <= w_{k+1:n}; otherwise another valid weighting.
    again = S.schedule_from_weights(rec, eta * w.sum())
    np.testing.assert_allclose(again, steps, rtol=1e-9)


def test_linear_decay_is_unit_weights():
    n, eta = 7, 0.3
    np.testing.assert_allclose(S.schedule_from_weights(np.ones(n + 1), eta), eta * (n - np.arange(n)) / (n + 1), rtol=1e-15)
    g = np.full(n + 1, 2.0)
    assert S.bound_weighted(np.ones(n + 1), eta, 1.5, g) == pytest.approx(S.linear_decay_bound(eta, n, 1.5, 2.0), rel=1e-14)
    eta_star = 1.5 / (2.0 * math.sqrt(n + 1))
    assert S.linear_decay_bound(eta_star, n, 1.5, 2.0) == pytest.approx(1.5 * 2.0 / math.sqrt(n + 1), rel=1e-14)


@HYP
@given(w=vec(2, 10), g=vec(2, 10), D=pos)
def test_refined_weights_minimise_B(w, g, D):
    n = min(w.size, g.size)
    w, g = w[:n], g[:n]
    _, b_any = S.bound_weighted_optimal_eta(w, D, g)
    _, b_ref = S.bound_weighted_optimal_eta(g**-2.0, D, g)
    assert b_ref == pytest.approx(S.refined_bound(g, D), rel=1e-12)
    assert b_ref <= b_any * (1 + 1e-12)
    assert S.refined_bound(g, D) <= D * g.max() / math.sqrt(n) * (1 + 1e-12)


@HYP
@given(g=vec(2, 12), c=pos, D=pos)
def test_refined_schedule_properties(g, c, D):
    s = S.refined_shape(g)
    assert s[-1] == 0 and np.all(s >= 0) and s.max() == pytest.approx(1.0)
    np.testing.assert_allclose(S.refined_shape(c * g), s, rtol=1e-12, atol=1e-15)
    steps = S.refined_schedule(g, D)
    # (B) at the refined steps with the same norms is exactly D / sqrt(S).
    w = g**-2.0
    eta = D / math.sqrt(w.sum())
    np.testing.assert_allclose(steps, S.schedule_from_weights(w, eta), rtol=1e-14)
    assert S.bound_weighted(w, eta, D, g) == pytest.approx(S.refined_bound(g, D), rel=1e-12)


@pytest.mark.parametrize("n", [1, 5, 40])
def test_constant_norms_refine_to_linear_decay(n):
    s = S.refined_shape(np.full(n + 1, 3.7))
    np.testing.assert_allclose(s, 1 - np.arange(n + 1) / n, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(S.refined_schedule(np.full(n + 1, 2.0), 1.0), S.linear_decay_schedule(n, 1 / (2.0 * math.sqrt(n + 1))), rtol=1e-13)


@HYP
@given(e=vec(2, 12), g=vec(2, 12), D=pos)
def test_thm10_forms_agree(e, g, D):
    n = min(e.size, g.size)
    t1, t2, t3 = S.thm10_terms(e[:n], D, g[:n])
    assert t1 + t2 + t3 == pytest.approx(S.thm10_bound(e[:n], D, g[:n]), rel=1e-12)


@HYP
@given(e=vec(1, 10), g=vec(2, 11), D=pos, v=st.floats(1e-3, 1e3))
def test_thm10_prefix_uses_a_good_virtual_step(e, g, D, v):
    T = min(e.size, g.size - 1)
    e, g = e[:T], g[: T + 1]
    pb = S.thm10_prefix_bounds(e, D, g)
    for n in range(T + 1):
        fixed = S.thm10_bound(np.concatenate([e[:n], [v]]), D, g[: n + 1])
        assert pb[n] <= fixed * (1 + 1e-9)
    assert pb[0] == pytest.approx(D * g[0], rel=1e-9)  # min_v D^2/(2v) + v G_0^2 / 2


@HYP
@given(w=vec(2, 10), g=vec(2, 10), D=pos, eta=pos)
def test_best_weighting_is_at_most_any_covered_weighting(w, g, D, eta):
    # The recovered family (larger roots) contains every w with w_k <= w_{k+1:n}, e.g. nondecreasing w.
    n = min(w.size, g.size)
    w, g = np.sort(w[:n]), g[:n]
    steps = S.schedule_from_weights(w, eta)
    assert S.bound_weighted_best(steps, D, g) <= S.bound_weighted(w, eta, D, g) * (1 + 1e-7)


def test_best_weighting_is_exact_for_linear_decay():
    for n in (1, 10, 60):
        eta = 1 / math.sqrt(n + 1)
        got = S.bound_weighted_best(S.linear_decay_schedule(n, eta), 1.0, np.ones(n + 1))
        assert got == pytest.approx(1 / math.sqrt(n + 1), rel=1e-8)


# -- regression targets of the note (section 7), recomputed independently ----------------------


@pytest.mark.parametrize(
    "T,const,lin,cos",
    [(100, 2.4854, 2.0361, 2.0911), (200, 2.6216, 2.0216, 2.0754), (1000, 2.9128, 2.0060, 2.0632), (10000, 3.2844, 2.0008, 2.0605)],
)
def test_theorem10_table(T, const, lin, cos):
    t = np.arange(1, T + 1)
    g = np.ones(T)
    shapes = {const: np.ones(T), lin: 1 - t / (T + 1), cos: 0.5 * (1 + np.cos(np.pi * (t - 1) / T))}
    for target, shape in shapes.items():
        _, b = S.thm10_optimal_base(shape, 1.0, g)
        assert math.sqrt(T) * b == pytest.approx(target, abs=6e-5)
    assert math.sqrt(T) * S.constant_step_thm10(T)[1] == pytest.approx(const, abs=6e-5)


def test_optimal_schedule_beats_linear_and_matches_note():
    T = 200
    lam, val = S.optimal_schedule(np.ones(T))
    assert math.sqrt(T) * val == pytest.approx(2.0040, abs=2e-4)
    t = np.arange(1, T + 1)
    _, lin = S.thm10_optimal_base(1 - t / (T + 1), 1.0, np.ones(T))
    assert val < lin
    shape = lam / lam[0]
    for f, want in zip((0, 0.25, 0.5, 0.75, 0.95, 1.0), (1, 0.754, 0.504, 0.255, 0.061, 0.049)):
        assert shape[int(f * (T - 1))] == pytest.approx(want, abs=0.01)
    # Its value is the Theorem-10 bound of the returned schedule (not a separate number).
    assert S.thm10_bound(lam, 1.0, np.ones(T)) == pytest.approx(val, rel=1e-12)


def test_optimal_schedule_adapts_to_norms():
    g = np.concatenate([np.full(30, 5.0), np.ones(70)])
    lam, val = S.optimal_schedule(g)
    for shape in (np.ones(100), 1 - np.arange(1, 101) / 101):
        _, other = S.thm10_optimal_base(shape, 1.0, g)
        assert val <= other
    assert lam[:30].mean() < lam[30:60].mean()  # small steps while gradients are large


def test_optimal_schedule_rejects_bad_norms():
    with pytest.raises(ValueError, match="positive finite"):
        S.optimal_schedule(np.array([1.0, 0.0]))


# -- registered results on runs -------------------------------------------------------------------

CONVEX = ["l1_distance", "abs_1d", "max_affine", "nesterov_nonsmooth", "lad", "hinge_svm", "norm_residual",
          "quadratic", "nesterov_smooth", "huber", "least_squares", "logistic_iris"]
SCHEDULES = [
    ("constant", {}),
    ("linear", {}),
    ("cosine", {}),
    ("step", {"milestones": [10, 25], "gamma": 0.3}),
    ("warmup_linear", {"warmup": 5}),
]
LRS = [1e-3, 0.1, 3.0, 200.0]  # the last ones are adversarially large


def _problem(name):
    if name not in problem_names():
        pytest.skip(f"problem {name} not in the library")
    return get_problem(name)


def _run(p, schedule, params, T=30, lrs=LRS, seed=0):
    opt = get_opt("sgd", schedule=schedule)
    x0 = p.x0(len(lrs), seed=seed)
    return run(p, opt, x0, T, hp={"lr": torch.tensor(lrs), "T": T, **params}, keep_iterates=True)


MINE = [k for k in names() if k.startswith("schedules.")]
STOCHASTIC = ["schedules.thm10_expected"]


@pytest.mark.parametrize("name", CONVEX)
@pytest.mark.parametrize("schedule,params", SCHEDULES, ids=[s for s, _ in SCHEDULES])
def test_registered_results_hold_on_runs(name, schedule, params):
    p = _problem(name)
    tr = _run(p, schedule, params, seed=hash(name) % 97)
    results = [r for r in applicable("sgd", p) if r.key in MINE]
    assert any(r.key == "schedules.thm10" for r in results) == ("convex" in p.tags)
    for r in results:
        c = check(r, tr, p)
        assert c.asserted
        bad = c.checked & ~c.holds
        assert not bool(bad.any()), (r.key, name, schedule, c.worst_ratio, c.first_violation)


def test_every_schedules_result_is_checked_somewhere():
    p = _problem("l1_distance")
    T = 30
    seen = set()
    for schedule, params in SCHEDULES:
        tr = _run(p, schedule, params, T=T)
        for r in applicable("sgd", p):
            if r.key in MINE and bool(check(r, tr, p).checked.any()):
                seen.add(r.key)
    # The refined result applies when the steps are the refined schedule of the run's own norms:
    # l1_distance has constant norms ||w||, so that is linear decay with eta = D / (G sqrt(T+1)).
    x0 = p.x0(2, seed=3)
    D = float(torch.linalg.vector_norm(x0[0] - torch.as_tensor(p.x_star)))
    x0 = x0[:1]
    eta = D / (p.G * math.sqrt(T + 1))
    tr = run(p, get_opt("sgd", schedule="linear"), x0, T, hp={"lr": eta * T / (T + 1), "T": T}, keep_iterates=True)
    c = check(get("schedules.refined"), tr, p)
    assert bool(c.checked.all()) and c.all_hold
    assert float(c.bound[T, 0]) == pytest.approx(D * p.G / math.sqrt(T + 1), rel=1e-9)
    c_lin = check(get("schedules.linear_decay"), tr, p)
    assert bool(c_lin.checked.all()) and c_lin.all_hold
    assert float(c_lin.bound[T, 0]) == pytest.approx(D * p.G / math.sqrt(T + 1), rel=1e-12)
    seen.add("schedules.refined")
    assert seen == set(MINE) - set(STOCHASTIC)


@pytest.mark.parametrize("name", ["lad", "least_squares", "logistic_iris", "hinge_svm"])
def test_theorem10_in_expectation_on_stochastic_runs(name):
    p = _problem(name)
    if not p.is_finite_sum:
        pytest.skip(f"{name} has no stochastic oracle")
    B, T = 48, 25
    x0 = p.x0(1, seed=1).expand(B, -1).clone()
    lr = torch.tensor([0.01] * 16 + [0.3] * 16 + [20.0] * 16)  # three groups of 16 seeds
    for schedule in ("linear", "constant"):
        tr = run(p, get_opt("sgd", schedule=schedule), x0, T, hp={"lr": lr, "T": T}, batch_size=1, seeds=torch.arange(B))
        keys = [r.key for r in applicable("sgd", p, stochastic=True) if r.key in MINE]
        assert keys == STOCHASTIC
        c = check(get("schedules.thm10_expected"), tr, p)
        assert c.holds.shape == (3,) and c.all_hold, c.worst_ratio


def test_theorem_a_needs_iterates_and_is_tight_on_one_dimension():
    p = _problem("abs_1d")
    opt = get_opt("sgd", schedule="linear")
    x0 = torch.tensor([[2.0], [-0.3]])
    tr = run(p, opt, x0, 10, hp={"lr": 0.05, "T": 10}, keep_iterates=True)
    c = check(get("schedules.thm_a"), tr, p)
    assert c.all_hold and bool(c.checked.all())
    # Without crossing 0, f(x) = <g, x - x*> exactly: Theorem A's chain of inequalities is equality.
    assert float(c.worst_ratio[0]) == pytest.approx(1.0, rel=1e-9)
    tr2 = run(p, opt, x0, 10, hp={"lr": 0.05, "T": 10})
    assert torch.isnan(get("schedules.thm_a").bound(tr2, p)).all()


def test_theorem10_last_prefix_equals_the_last_entry_of_all_prefixes():
    from ratecheck.theory.schedules import thm10_last_prefix, thm10_prefix_bounds

    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 60):
        steps = rng.uniform(0.01, 1.0, (5, n))
        g = rng.uniform(0.1, 3.0, (5, n + 1))
        D = rng.uniform(0.5, 2.0, 5)
        full = thm10_prefix_bounds(steps, D, g)[:, -1]
        np.testing.assert_allclose(thm10_last_prefix(steps, D, g), full, rtol=1e-12)
        v = rng.uniform(0.01, 1.0, (5, n + 1))
        np.testing.assert_allclose(thm10_last_prefix(steps, D, g, virtual=v[:, -1]),
                                   thm10_prefix_bounds(steps, D, g, virtual=v)[:, -1], rtol=1e-12)
