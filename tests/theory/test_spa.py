"""SGD+M as primal averaging (arXiv 2010.00406): the exact equivalences (property tests of the pure
functions), the step-drop behaviour in SPA form, the Lyapunov inequalities pathwise, and the
registered results on runs: vectors compared (not norms), roles, the options the proofs do not
cover, the stable conversion and mutants that must fail (the examples in float64 and float32:
tests/theory/test_every_result.py)."""

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ratecheck.experiments.runner import run
from ratecheck.experiments.trace import Trace
from ratecheck.optimizers import get as get_opt
from ratecheck.optimizers.base import per_run as col
from ratecheck.problems import get as get_problem
from ratecheck.problems import names as problem_names
from ratecheck.theory import Provenance, Role, check
from ratecheck.theory import spa as P
from ratecheck.theory.base import why_not_applicable
from tests._lib.core import assert_close, run_on

HYP = settings(max_examples=40, deadline=None)
F64 = torch.float64
MINE = (P.EQUIVALENCE, P.L1, P.L2, P.RATE, P.SQRT2)


def _grads(seed, n, d=3):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _close(a, b, atol):
    assert_close(a, b, atol=atol)


# -- exact equivalences (pure functions) ----------------------------------------------------------


@HYP
@given(seed=st.integers(0, 10**6), beta=st.floats(0.0, 0.99), stable=st.booleans(), data=st.data())
def test_pytorch_equals_spa_and_heavy_ball_time_varying_lr(seed, beta, stable, data):
    # The note's forward recursion amplifies round-off by 1/beta per step: keep it short there.
    assume(stable or beta >= 0.5)  # the forward form's round-off grows like beta^-n
    n = data.draw(st.integers(1, 60 if stable else 12))
    lr = torch.tensor(data.draw(st.lists(st.floats(1e-3, 2.0), min_size=n, max_size=n)), dtype=F64)
    g = _grads(seed, n)
    x0 = _grads(seed + 1, 1)[0]
    xp, _ = P.pytorch_iterates(x0, g, lr, beta)
    eta, c = P.spa_from_pytorch(lr, beta, stable=stable)
    assert bool(((c > 0) & (c <= 1)).all()) or not stable
    xs, zs = P.spa_iterates(x0, g, eta, c)
    alpha, b = P.heavy_ball_from_pytorch(lr, beta)
    xh = P.heavy_ball_iterates(x0, g, alpha, b)
    # Round-off: each of the n steps rounds the iterates (size |x|, and |z| for SPA's dual
    # sequence); heavy ball multiplies the rounded difference x_k - x_{k-1} by b_k, which is
    # large after a drop of lr (b_k = beta lr_k / lr_{k-1}).
    # The forward recursion (stable=False) also amplifies by 1/beta per step.
    u, size = torch.finfo(F64).eps / 2, 1 + float(xp.abs().max())
    amp = (1 + float(b.max())) * (1.0 if stable else beta ** -n)
    _close(xs, xp, 8 * n * u * amp * (size + float(zs.abs().max())))
    _close(xh, xp, 8 * n * u * (1 + float(b.max())) * size)


@HYP
@given(seed=st.integers(0, 10**6), tau=st.floats(0.0, 0.9), data=st.data())
def test_dampening_and_zero_momentum_steps_match_the_optimizer(seed, tau, data):
    # torch.optim.SGD semantics (optimizers/momentum.py): the first step and steps with momentum 0
    # take the undamped gradient; the buffer keeps (1 - tau) of a plain step's gradient.
    n = data.draw(st.integers(2, 25))
    mom = torch.tensor(data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=n, max_size=n)), dtype=F64)
    lr = torch.tensor(data.draw(st.lists(st.floats(1e-2, 1.0), min_size=n, max_size=n)), dtype=F64)
    p = get_problem("quadratic")
    x0 = p.x0(1, seed=seed % 1000)
    hp = {"lr": 1.0, "lr_schedule": lr, "momentum": 0.9, "momentum_schedule": mom, "dampening": tau, "T": n}
    tr = run(p, get_opt("sgd_momentum", schedule="custom"), x0, n, hp=hp, keep_iterates=True)
    lr, mom = tr["lr"][:n, 0].to(F64), tr["momentum"][:n, 0].to(F64)
    x = tr.iterates["x"].to(F64)[:, 0]
    g = p.grad(x[:n])
    alpha, b = P.heavy_ball_from_pytorch(lr, mom, tau)
    _close(P.heavy_ball_iterates(x[0], g, alpha, b), x, 1e-11 * (1 + float(x.abs().max())))
    eta, c = P.spa_from_pytorch(lr, mom, tau, stable=True)
    _close(P.spa_iterates(x[0], g, eta, c)[0], x, 1e-11 * (1 + float(x.abs().max())))


@HYP
@given(seed=st.integers(0, 10**6), data=st.data())
def test_spa_to_pytorch_round_trip(seed, data):
    n = data.draw(st.integers(1, 30))
    eta = torch.tensor(data.draw(st.lists(st.floats(1e-2, 3.0), min_size=n, max_size=n)), dtype=F64)
    c = torch.tensor(data.draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)), dtype=F64)
    g = _grads(seed, n)
    xs, zs = P.spa_iterates(torch.zeros(3, dtype=F64), g, eta, c)
    xp, _ = P.pytorch_iterates(torch.zeros(3, dtype=F64), g, *P.pytorch_from_spa(eta, c))
    _close(xp, xs, 1e-9 * (1 + float(xs.abs().max())))
    _close(P.spa_gap(xs, c), zs - xs, 1e-9 * (1 + float(zs.abs().max())))  # d_k from the iterates alone


@HYP
@given(seed=st.integers(0, 10**6), lr=st.floats(1e-3, 1.0), beta=st.floats(0.0, 0.99))
def test_constant_parameters_gap_is_rescaled_buffer(seed, lr, beta):
    n = 25
    g = _grads(seed, n)
    x0 = torch.ones(3, dtype=F64)
    xp, m = P.pytorch_iterates(x0, g, torch.full((n,), lr, dtype=F64), beta)
    eta, c = P.spa_from_pytorch(torch.full((n,), lr, dtype=F64), beta, stable=True)
    assert torch.allclose(c, torch.full_like(c, 1 - beta), rtol=1e-12, atol=0)
    assert torch.allclose(eta, torch.full_like(eta, lr / (1 - beta)), rtol=1e-12, atol=0)
    xs, z = P.spa_iterates(x0, g, eta, c)
    _close(z - xs, -(lr * beta / (1 - beta)) * m, 1e-10 * (1 + float(z.abs().max())))


def test_batched_sequences_are_time_first():
    # [T, B] parameters and [T, B, d] gradients: each run's replay equals its own 1-D replay.
    T, B = 7, 3
    lr = torch.rand(T, B, generator=torch.Generator().manual_seed(0), dtype=F64) + 0.1
    beta = torch.tensor([0.0, 0.5, 0.9], dtype=F64)[None, :].expand(T, B)
    g = torch.randn(T, B, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    eta, c = P.spa_from_pytorch(lr, beta, stable=True)
    xs, _ = P.spa_iterates(torch.zeros(B, 2, dtype=F64), g, eta, c)
    for b in range(B):
        e1, c1 = P.spa_from_pytorch(lr[:, b], beta[:, b], stable=True)
        assert torch.equal(e1, eta[:, b]) and torch.equal(c1, c[:, b])
        _close(P.spa_iterates(torch.zeros(2, dtype=F64), g[:, b], e1, c1)[0], xs[:, b], 0.0)


def test_step_drop_numbers_of_the_note():
    beta, k0 = 0.9, 50
    lr = torch.cat([torch.full((k0,), 0.05, dtype=F64), torch.full((200,), 0.005, dtype=F64)])
    eta, c = P.spa_from_pytorch(lr, beta)
    assert float(c[k0 - 1]) == pytest.approx(0.1, rel=1e-12)
    assert float(c[k0]) == pytest.approx(0.01, rel=1e-12)  # (beta/10)(1-beta)/beta
    assert float(c[k0 + 1]) == pytest.approx(0.9 * 0.01 / 0.99, rel=1e-12)
    assert float(eta[k0]) == pytest.approx(float(eta[k0 - 1]), rel=1e-12)  # eta unchanged at the drop
    # The note's c_{k0+150} is c[k0 + 149] here (c[k] holds c_{k+1}).
    assert float(c[k0 + 149]) == pytest.approx(1.69e-9, rel=1e-2)
    assert float(eta[k0 + 149]) == pytest.approx(3.0e6, rel=2e-2)
    assert float(c[k0 + 150] / c[k0 + 149]) == pytest.approx(beta, rel=1e-6)
    assert torch.allclose(P.step_drop_c(0.01, beta, 151), c[k0 : k0 + 151], rtol=1e-12, atol=0)


def test_checks_use_the_stable_conversion():
    # Constant (lr, beta = 0.3): the forward recursion's round-off grows like 0.3^-k; c_k collapses
    # to ~1e-88 by step 200; the backward form spa_params uses stays at 1 - beta to round-off.
    p = get_problem("quadratic")
    tr = run(p, get_opt("sgd_momentum"), p.x0(2, seed=1), 200, hp={"lr": 0.1, "momentum": 0.3}, keep_iterates=True)
    lr = tr["lr"][:200, 0].to(F64)
    _, c_fwd = P.spa_from_pytorch(lr, 0.3)
    assert float(c_fwd[-1]) < 1e-80
    eta, c = P.spa_params(tr)
    assert float((c - 0.7).abs().max()) <= 1e-14 and float((eta - 0.1 / 0.7).abs().max()) <= 1e-14
    assert bool(check(P.EQUIVALENCE, tr, p).checked.all()) and check(P.EQUIVALENCE, tr, p).all_hold


# -- Lyapunov inequalities, pathwise on a smooth non-convex function (pure functions) -------------


def _cauchy(a):
    """f(x) = sum log(1 + (x - a)^2): non-convex, L = 2, f* = 0 at a."""
    return (lambda x: torch.log1p((x - a) ** 2).sum(-1)), (lambda x: 2 * (x - a) / (1 + (x - a) ** 2))


@HYP
@given(seed=st.integers(0, 10**6), Leta=st.floats(0.01, 3.0), c=st.floats(0.02, 1.0), eps=st.floats(0.01, 5.0))
def test_l1_and_l2_hold_pathwise(seed, Leta, c, eps):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(4, generator=gen, dtype=F64)
    f, grad = _cauchy(a)
    L = 2.0
    eta = Leta / L
    x = z = a + 3 * torch.randn(4, generator=gen, dtype=F64)
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
    assert float(P.rate_bound(f0, K, eta, 1.0, L)) == pytest.approx(f0 / (eta * K * (1 - L * eta / 2)), rel=1e-14)
    eta, c = 0.05, 0.1
    A = 1 - L * eta / 2 - L * eta * (1 - c) / c
    assert float(P.rate_bound(f0, K, eta, c, L)) == pytest.approx(f0 / (eta * K * A), rel=1e-12)
    assert float(P.rate_bound(f0, K, eta, c, L)) <= float(P.rate_bound(f0, K, eta, c, L, eps=1.0))  # best eps
    assert math.isnan(float(P.rate_bound(f0, K, 1.0, 0.1, L)))  # A <= 0: no guarantee


# -- registered results on runs -------------------------------------------------------------------

SMOOTH = ["quadratic", "nesterov_smooth", "least_squares", "logistic_iris", "robust_cauchy", "huber"]
RUNS = [
    ("sgd", {}, {"lr": [1e-3, 0.1, 0.9, 50.0]}),
    ("sgd_momentum", {}, {"lr": [1e-3, 0.02, 0.3, 50.0], "momentum": [0.0, 0.5, 0.9, 0.99]}),
    ("sgd_momentum", {"schedule": "linear"}, {"lr": [1e-3, 0.02, 0.3, 5.0], "momentum": 0.9, "dampening": [0.0, 0.1, 0.5, 0.0]}),
    ("heavy_ball", {}, {"lr": [1e-3, 0.05, 0.3, 5.0], "momentum": [0.0, 0.5, 0.9, 0.7]}),
    ("spa", {}, {"lr": [1e-3, 0.05, 0.5, 50.0], "c": [1.0, 0.5, 0.1, 0.02]}),
    ("spa", {"schedule": "cosine"}, {"lr": [1e-3, 0.05, 0.5, 5.0], "c": 0.2}),
]


def _problem(name):
    if name not in problem_names():
        pytest.skip(f"problem {name} not in the library")
    return get_problem(name)


def _run(p, opt, options, hp, T=30, seed=0, dtype=F64):
    hp = {k: torch.tensor(v) if isinstance(v, list) else v for k, v in hp.items()}
    if options.get("schedule", "constant") != "constant":
        hp["T"] = T
    return run_on(p, opt, hp, T, options=options, B=4, seed=seed, dtype=dtype)[1]


def _mine(opt, p):
    return [r for r in MINE if why_not_applicable(r, opt, p, stochastic=False) is None]


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("opt,options,hp", RUNS, ids=[f"{o}-{x.get('schedule', 'constant')}" for o, x, _ in RUNS])
def test_registered_results_hold_on_runs(name, opt, options, hp):
    p = _problem(name)
    tr = _run(p, opt, options, hp, seed=len(name))
    for r in _mine(opt, p):
        c = check(r, tr, p)
        if not r.asserted:
            assert r.provenance is Provenance.UNVERIFIED
            continue
        assert not bool(c.violated.any()), (r.key, name, opt, c.worst_ratio, c.first_violation)


def test_every_spa_result_is_checked_somewhere():
    p = _problem("quadratic")
    seen = set()
    for opt, options, hp in RUNS:
        tr = _run(p, opt, options, hp)
        seen |= {r.key for r in _mine(opt, p) if bool(check(r, tr, p).checked.any())}
    assert seen == {r.key for r in MINE}


def test_roles_and_provenance():
    # The replay is the update computed in the other form: a test of the optimizer's code. L1, L2 and
    # the rate are (derived) theorems; the sqrt(2) route is shown, never asserted.
    assert P.EQUIVALENCE.role is Role.IMPLEMENTATION and P.EQUIVALENCE.kind == "identity"
    assert all(r.role is Role.THEOREM and r.provenance is Provenance.DERIVED for r in (P.L1, P.L2, P.RATE))
    assert P.SQRT2.provenance is Provenance.UNVERIFIED and not P.SQRT2.asserted


# -- audit point 1: the equivalence compares vectors ----------------------------------------------


def _with_last_iterate(tr, new_last):
    x = tr.iterates["x"].clone()
    x[-1] = new_last
    return Trace(tr.steps, dict(tr.data), dict(tr.meta), {**tr.iterates, "x": x})


@pytest.mark.parametrize("wrong", ["sign_flip", "permutation"])
def test_equivalence_catches_a_wrong_iterate_with_the_right_norm(wrong):
    p = _problem("least_squares")
    tr = _run(p, "sgd_momentum", {}, {"lr": [0.1, 0.3, 0.5, 1.0], "momentum": 0.8}, T=30)
    assert check(P.EQUIVALENCE, tr, p).all_hold
    x = tr.iterates["x"].to(F64)
    xs = p.x_star_tensor(x[-1])
    e = x[-1] - xs
    e_wrong = -e if wrong == "sign_flip" else e.roll(1, dims=-1)  # ||x_T - x*|| unchanged
    bad = _with_last_iterate(tr, xs + e_wrong)
    # The old check compared ||x_T(run) - x*|| with ||x_T(replay) - x*||: equal here up to round-off.
    eta, c = P.spa_params(bad)
    g = p.grad(x[:-1].reshape(-1, x.shape[-1])).reshape(x[:-1].shape)
    replay, _ = P.spa_iterates(x[0], g, eta, c)
    old_gap = (torch.linalg.vector_norm(bad.iterates["x"].to(F64)[-1] - xs, dim=-1)
               - torch.linalg.vector_norm(replay[-1] - xs, dim=-1)).abs()
    assert float(old_gap.max()) <= 1e-12 * float(torch.linalg.vector_norm(x[-1], dim=-1).max())
    c_bad = check(P.EQUIVALENCE, bad, p)
    assert bool(c_bad.violated.all())
    assert c_bad.first_violation.tolist() == [30] * 4  # row n holds x_n


# -- audit point 3: options and hyper-parameters the proofs do not cover --------------------------


def _reasons(r, tr, p):
    c = check(r, tr, p)
    return c.checked.tolist(), c.reasons


def test_nesterov_is_not_a_heavy_ball_method():
    p = _problem("quadratic")
    tr = _run(p, "sgd_momentum", {}, {"lr": 0.1, "momentum": 0.9, "nesterov": [0.0, 1.0, 0.0, 1.0]})
    for r in (P.EQUIVALENCE, P.L1, P.L2, P.RATE):
        checked, reasons = _reasons(r, tr, p)
        assert checked[1] is False and checked[3] is False, r.key
        assert reasons[1].startswith("assumption false: nesterov = 0"), (r.key, reasons)


def test_dampening_is_covered_by_the_conversion_but_not_by_the_constant_proofs():
    p = _problem("quadratic")
    tr = _run(p, "sgd_momentum", {}, {"lr": 0.2, "momentum": 0.5, "dampening": [0.0, 0.5, 0.0, 0.9]})
    for r in (P.EQUIVALENCE, P.L1):  # per-step statements: dampening only rescales eta_k
        assert check(r, tr, p).checked.all() and check(r, tr, p).all_hold, r.key
    for r in (P.L2, P.RATE):  # a constant (eta, c) is assumed: dampening makes eta_0 differ
        checked, reasons = _reasons(r, tr, p)
        assert checked == [True, False, True, False], r.key
        assert reasons[1] == "assumption false: dampening = 0 (dampening makes eta_0 differ from the later eta_k)"


def test_weight_decay_and_schedules_are_named():
    p = _problem("quadratic")
    tr = _run(p, "sgd_momentum", {}, {"lr": 0.2, "momentum": 0.5, "weight_decay": [0.0, 0.1, 0.0, 0.0]})
    assert check(P.EQUIVALENCE, tr, p).all_hold and bool(check(P.EQUIVALENCE, tr, p).checked.all())  # replay adds wd x
    for r in (P.L1, P.L2, P.RATE):
        checked, reasons = _reasons(r, tr, p)
        assert checked == [True, False, True, True] and reasons[1].startswith("assumption false: weight_decay = 0"), r.key
    tr = _run(p, "sgd_momentum", {"schedule": "linear"}, {"lr": 0.2, "momentum": 0.5})
    assert check(P.L1, tr, p).all_hold and bool(check(P.L1, tr, p).checked.all())  # L1 is per step
    for r in (P.L2, P.RATE):
        checked, reasons = _reasons(r, tr, p)
        assert not any(checked) and reasons[0] == "assumption false: constant lr and momentum / c (no schedule)", r.key


def test_rate_needs_a_positive_coefficient():
    p = _problem("quadratic")
    tr = _run(p, "sgd_momentum", {}, {"lr": [0.1, 0.1, 0.01, 0.01], "momentum": [0.5, 0.9, 0.5, 0.9]})
    checked, reasons = _reasons(P.RATE, tr, p)
    # L eta (1/2 + (1-c)/c) = 0.1/0.5 * 1.5, 0.1/0.1 * 9.5, 0.01/0.5 * 1.5, 0.01/0.1 * 9.5
    assert checked == [True, False, True, True]
    assert reasons[1].startswith("assumption false: A = 1 - L eta/2")


# -- audit point 4: one call, both sides, from the pure functions ---------------------------------


def test_sides_come_from_the_pure_functions():
    p = _problem("quadratic")
    tr = _run(p, "spa", {}, {"lr": [0.05, 0.2, 0.3, 0.6], "c": [1.0, 0.5, 0.6, 0.9]})
    x = tr.iterates["x"].to(F64)
    T = 30
    g = p.grad(x[:T].reshape(-1, x.shape[-1])).reshape(x[:T].shape)
    eta, c = P.spa_params(tr)
    _, z = P.spa_iterates(x[0], g, eta, c)
    d = z - x  # the SPA gap from an independent replay, not from spa_gap
    f = tr["subopt"].to(F64)
    s = P.L1.sides(tr, p)
    want = P.l1_rhs(f[:T], (g * g).sum(-1), (g * d[:T]).sum(-1), (d[:T] * d[:T]).sum(-1), eta, c, float(p.L))
    _close(s.bound[1:], want, 1e-12 * float(want.abs().max()))
    assert torch.equal(s.observed[1:], f[1:]) and s.scale is not None and s.scale.shape == s.bound.shape
    assert s.observed[0].isnan().all() and s.bound[0].isnan().all()  # row n+1: step n, on the row of x_{n+1}
    r = P.RATE.sides(tr, p)
    K = torch.arange(1, T + 1, dtype=F64)[:, None]
    assert torch.allclose(r.bound, P.rate_bound(f[0], K, eta[0], c[0], float(p.L)), rtol=1e-14, atol=0)
    assert torch.equal(torch.as_tensor(r.terms), K.expand_as(r.terms))
    e = P.EQUIVALENCE.sides(tr, p)
    assert torch.equal(e.bound, torch.zeros_like(e.observed)) and bool((e.scale[1:] >= e.scale[:-1]).all())


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
    tr = run(p, get_opt("sgd_momentum"), torch.tensor([[1.0]], dtype=F64), 20, hp={"lr": 0.05, "momentum": 0.8}, keep_iterates=True)
    c = check(P.L1, tr, p)
    assert c.all_hold
    assert float(c.worst_ratio[0]) == pytest.approx(1.0, rel=1e-9)
    eta, cc = P.spa_params(tr)
    assert torch.allclose(eta, torch.full_like(eta, 0.25), rtol=1e-12) and torch.allclose(cc, torch.full_like(cc, 0.2), rtol=1e-12)


# -- mutants: wrong constants and wrong momentum forms must fail ----------------------------------


def _fails(result, trace, problem) -> bool:
    return bool(check(result, trace, problem).violated.any())


def _passes(result, trace, problem) -> bool:
    c = check(result, trace, problem)
    return bool(c.checked.any()) and c.all_hold


def test_halved_spa_constants_fail():
    p = _problem("quadratic")
    tr = run(p, get_opt("sgd_momentum"), p.x0(2, seed=4), 30, hp={"lr": torch.tensor([0.05, 0.3]) / p.L, "momentum": 0.5},
             keep_iterates=True)
    for r in (P.RATE, P.L1):
        assert _passes(r, tr, p)
    halved = dataclasses.replace(P.RATE, key="spa.rate.halved", sides=lambda t, pb: dataclasses.replace(
        P.RATE.sides(t, pb), bound=0.5 * P.RATE.sides(t, pb).bound))
    assert _fails(halved, tr, p)
    # L -> L/2 in L1: the quadratic's top eigen-direction makes L1 tight
    half_L = copy.copy(p)
    half_L.L = p.L / 2
    assert _fails(P.L1, tr, half_L)


def _rest(state):
    return {k: v for k, v in state.items() if k not in ("k", "hp", "diverged")}


def ema_buffer(self, state, grad, loss):  # m = beta m + (1 - beta) g, sold as PyTorch form
    lr, mu = self._at(state, "lr"), self._at(state, "momentum")
    buf = torch.where(torch.tensor(state["k"] == 0), (1 - col(mu)) * grad, col(mu) * state["buf"] + (1 - col(mu)) * grad)
    return {**_rest(state), "x": state["x"] - col(lr) * buf, "buf": buf}, {"lr": lr, "momentum": mu}


def lr_in_buffer(self, state, grad, loss):  # m = beta m + lr g, x -= m (differs once lr varies)
    lr, mu = self._at(state, "lr"), self._at(state, "momentum")
    buf = col(mu) * state["buf"] + col(lr) * grad
    return {**_rest(state), "x": state["x"] - buf, "buf": buf}, {"lr": lr, "momentum": mu}


def silent_nesterov(self, state, grad, loss):
    lr, mu = self._at(state, "lr"), self._at(state, "momentum")
    buf = col(mu) * state["buf"] + grad
    return {**_rest(state), "x": state["x"] - col(lr) * (grad + col(mu) * buf), "buf": buf}, {"lr": lr, "momentum": mu}


def damped_first_step(self, state, grad, loss):  # (1 - tau) g_0 in the first buffer, unlike torch
    lr, mu = self._at(state, "lr"), self._at(state, "momentum")
    buf = col(mu) * state["buf"] + col(1 - state["hp"]["dampening"]) * grad
    return {**_rest(state), "x": state["x"] - col(lr) * buf, "buf": buf}, {"lr": lr, "momentum": mu}


def stale_z(self, state, grad, loss):  # x_{k+1} = (1-c) x_k + c z_k instead of c z_{k+1}
    eta, c = self._at(state, "lr"), self._at(state, "c")
    z = state["z"] - col(eta) * grad
    return {**_rest(state), "x": col(1 - c) * state["x"] + col(c) * state["z"], "z": z}, {"lr": eta, "c": c}


def frozen_prev(self, state, grad, loss):  # heavy ball whose x_{k-1} is never updated
    a, b = self._at(state, "lr"), self._at(state, "momentum")
    x = state["x"]
    return {**_rest(state), "x": x - col(a) * grad + col(b) * (x - state["x_prev"])}, {"lr": a, "momentum": b}


WRONG = [
    ("sgd_momentum", ema_buffer, {}, {"lr": 0.05, "momentum": 0.8}),
    ("sgd_momentum", lr_in_buffer, {"schedule": "linear"}, {"lr": 0.05, "momentum": 0.8, "T": 25}),
    ("sgd_momentum", silent_nesterov, {}, {"lr": 0.05, "momentum": 0.8}),
    ("sgd_momentum", damped_first_step, {}, {"lr": 0.05, "momentum": 0.8, "dampening": 0.5}),
    ("spa", stale_z, {}, {"lr": 0.2, "c": 0.3}),
    ("heavy_ball", frozen_prev, {}, {"lr": 0.05, "momentum": 0.6}),
]


def _mutant(name, step, **options):
    opt = get_opt(name, **options)
    opt._step = step.__get__(opt)
    return opt


@pytest.mark.parametrize("name,step,options,hp", WRONG, ids=[w[1].__name__ for w in WRONG])
def test_wrong_momentum_form_breaks_the_equivalence(name, step, options, hp):
    p = _problem("quadratic")
    x0 = p.x0(2, seed=7)
    assert _passes(P.EQUIVALENCE, run(p, get_opt(name, **options), x0, 25, hp=hp, keep_iterates=True), p)
    assert _fails(P.EQUIVALENCE, run(p, _mutant(name, step, **options), x0, 25, hp=hp, keep_iterates=True), p)


def test_lr_in_buffer_is_invisible_at_constant_lr():
    # Documented blind spot: with a constant lr the two buffer conventions give the same iterates,
    # so no check can (or should) tell them apart; the schedule above is what exposes it.
    p = _problem("quadratic")
    x0 = p.x0(2, seed=7)
    hp = {"lr": 0.05, "momentum": 0.8}
    tr = run(p, _mutant("sgd_momentum", lr_in_buffer), x0, 25, hp=hp, keep_iterates=True)
    assert _passes(P.EQUIVALENCE, tr, p)
    ref = run(p, get_opt("sgd_momentum"), x0, 25, hp=hp, keep_iterates=True)
    _close(tr.iterates["x"], ref.iterates["x"], 1e-12 * float(ref.iterates["x"].abs().max()))
