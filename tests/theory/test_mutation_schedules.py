"""Mutation tests: deliberately wrong variants must make at least one check FAIL.

Mutants: a step size doubled relative to what the bound assumes (the optimizer steps 2 lr but
records lr; a schedule run at twice the step the bound was computed for), a bound with a constant
halved (``check(..., perturb=)`` on the result's ``Sides``, or the problem's L halved), and momentum applied in the wrong form (EMA/dampened buffer, lr inside the buffer,
silent Nesterov, SPA averaging with the stale z, heavy ball with a frozen x_{k-1}). Every test
also runs the correct variant on the same data and asserts that it passes, so a failure is due
to the mutation alone.
"""

import copy
import dataclasses
import math

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.optimizers.base import per_run as col
from ratecheck.problems import get as get_problem
from ratecheck.problems import names as problem_names
from ratecheck.theory import check
from ratecheck.theory import schedules as S
from ratecheck.theory.base import RESULTS


def get(key):
    """A registered result, importing only the module that defines it (others are ported separately)."""
    import importlib

    importlib.import_module(f"ratecheck.theory.{key.split('.')[0]}")
    return RESULTS._items[key]


def _problem(name):
    if name not in problem_names():
        pytest.skip(f"problem {name} not in the library")
    return get_problem(name)


def _fails(result, trace, problem) -> bool:
    c = check(result, trace, problem)
    return bool((c.checked & ~c.holds).any())


def _passes(result, trace, problem) -> bool:
    return check(result, trace, problem).all_hold


def _halved(trace, problem, result) -> bool:
    """The result with its bound halved (a constant halved) fails somewhere."""
    c = check(result, trace, problem, perturb=lambda s: dataclasses.replace(s, bound=0.5 * s.bound))
    return bool(c.violated.any())


def _mutant(name, step, **options):
    """An instance of the registered optimizer ``name`` whose _step is replaced (same name/meta)."""
    opt = get_opt(name, **options)
    opt._step = step.__get__(opt)
    return opt


# -- a step size doubled --------------------------------------------------------------------------


def test_doubled_step_breaks_the_one_step_inequality():
    p = _problem("abs_1d")

    def doubled(self, state, grad, loss):
        lr = self._at(state, "lr")
        return {**{k: v for k, v in state.items() if k not in ("k", "hp", "diverged")}, "x": state["x"] - 2 * col(lr) * grad}, {"lr": lr}

    x0 = torch.tensor([[1.0], [-2.0]], dtype=torch.float64)
    hp = {"lr": torch.tensor([0.3, 0.7], dtype=torch.float64)}
    r = get("schedules.sgd_one_step")
    assert _passes(r, run(p, get_opt("sgd"), x0, 30, hp=hp), p)
    assert _fails(r, run(p, _mutant("sgd", doubled), x0, 30, hp=hp), p)


def test_doubled_linear_decay_exceeds_the_bound_it_was_computed_for():
    pep = pytest.importorskip("ratecheck.theory.pep")
    pytest.importorskip("PEPit")
    n, D, G = 8, 1.0, 1.0
    eta = D / (G * math.sqrt(n + 1))
    bound = float(S.linear_decay_bound(eta, n, D, G))
    right = pep.sgd_worst_case(S.linear_decay_schedule(n, eta), D, G=G)
    wrong = pep.sgd_worst_case(S.linear_decay_schedule(n, 2 * eta), D, G=G)
    assert right.ok and wrong.ok
    assert pep.below_with_solver_tolerance(right.value, bound)
    assert not pep.below_with_solver_tolerance(wrong.value, bound)


# -- a bound with a constant halved ------------------------------------------------------------


def test_halved_linear_decay_constant_is_below_the_exact_worst_case():
    pep = pytest.importorskip("ratecheck.theory.pep")
    pytest.importorskip("PEPit")
    n, D, G = 8, 1.0, 1.0
    eta = D / (G * math.sqrt(n + 1))
    worst = pep.sgd_worst_case(S.linear_decay_schedule(n, eta), D, G=G).value
    halved_first = D**2 / (4 * eta * (n + 1)) + eta * G**2 / 2  # D^2/(2 eta T) -> D^2/(4 eta T)
    halved_second = D**2 / (2 * eta * (n + 1)) + eta * G**2 / 4
    assert pep.below_with_solver_tolerance(worst, float(S.linear_decay_bound(eta, n, D, G)))
    assert not pep.below_with_solver_tolerance(worst, halved_first)
    assert not pep.below_with_solver_tolerance(worst, halved_second)


@pytest.mark.parametrize("key", ["schedules.thm10", "schedules.thm_b", "schedules.thm_a"])
def test_halved_schedule_bounds_fail_on_runs(key):
    p = _problem("l1_distance")
    tr = run(p, get_opt("sgd", schedule="linear"), p.x0(4, seed=1), 20,
             hp={"lr": torch.tensor([0.01, 0.1, 1.0, 10.0], dtype=torch.float64), "T": 20}, keep_iterates=True)
    assert _passes(get(key), tr, p)
    assert _halved(tr, p, get(key))


def test_halved_refined_bound_fails_on_a_refined_run():
    p = _problem("abs_1d")
    T = 30
    x0 = p.x0(4, seed=5)
    first = run(p, get_opt("sgd", schedule="linear"), x0, T, hp={"lr": 0.05, "T": T})
    tr = run(p, get_opt("sgd", schedule="refined"), x0, T,
             hp={"lr": torch.tensor([0.01, 0.1, 0.3, 1.0], dtype=torch.float64), "T": T, "norms": first["grad_norm"][:T].T})
    r = get("schedules.refined")
    assert _passes(r, tr, p)
    assert _halved(tr, p, r)


def test_halved_refined_bound_is_below_the_exact_worst_case():
    # With norms known to be G, the refined schedule is linear decay at eta* and its bound
    # D / sqrt(sum G^-2) is attained by the worst case; half of it is not a bound.
    pep = pytest.importorskip("ratecheck.theory.pep")
    pytest.importorskip("PEPit")
    n, D, G = 8, 1.0, 2.0
    norms = torch.full((n + 1,), G, dtype=torch.float64)
    worst = pep.sgd_worst_case(S.refined_schedule(norms, D), D, G=G).value
    refined = float(S.refined_bound(norms, D))
    assert pep.below_with_solver_tolerance(worst, refined)
    assert not pep.below_with_solver_tolerance(worst, 0.5 * refined)


@pytest.mark.parametrize("key", ["spa.rate", "spa.l1_one_step"])
def test_halved_spa_constants_fail(key):
    p = _problem("quadratic")
    opt_hp = {"lr": torch.tensor([0.05, 0.3], dtype=torch.float64) / p.L, "momentum": 0.5}
    tr = run(p, get_opt("sgd_momentum"), p.x0(2, seed=4), 30, hp=opt_hp, keep_iterates=True)
    r = get(key)
    assert _passes(r, tr, p)
    if key == "spa.rate":
        assert _halved(tr, p, r)
    else:  # L -> L/2 in the smoothness terms: the quadratic's top eigen-direction makes L1 tight
        half_L = copy.copy(p)
        half_L.L = float(p.L) / 2
        assert _fails(r, tr, half_L)


# -- momentum applied in the wrong form ------------------------------------------------------------


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
    ("spa", stale_z, {}, {"lr": 0.2, "c": 0.3}),
    ("heavy_ball", frozen_prev, {}, {"lr": 0.05, "momentum": 0.6}),
]


@pytest.mark.parametrize("name,step,options,hp", WRONG, ids=[w[1].__name__ for w in WRONG])
def test_wrong_momentum_form_breaks_the_equivalence(name, step, options, hp):
    from ratecheck.optimizers import names as opt_names

    if name not in opt_names():
        pytest.skip(f"optimizer {name} not in the library")
    p = _problem("quadratic")
    x0 = p.x0(2, seed=7)
    r = get("spa.equivalence")
    assert _passes(r, run(p, get_opt(name, **options), x0, 25, hp=hp, keep_iterates=True), p)
    assert _fails(r, run(p, _mutant(name, step, **options), x0, 25, hp=hp, keep_iterates=True), p)


def test_lr_in_buffer_is_invisible_at_constant_lr():
    # Documented blind spot: with a constant lr the two buffer conventions give the same iterates,
    # so no check can (or should) tell them apart; the schedule above is what exposes it.
    p = _problem("quadratic")
    x0 = p.x0(2, seed=7)
    hp = {"lr": 0.05, "momentum": 0.8}
    tr = run(p, _mutant("sgd_momentum", lr_in_buffer), x0, 25, hp=hp, keep_iterates=True)
    assert _passes(get("spa.equivalence"), tr, p)
    ref = run(p, get_opt("sgd_momentum"), x0, 25, hp=hp, keep_iterates=True)
    torch.testing.assert_close(tr.iterates["x"], ref.iterates["x"], rtol=1e-12, atol=1e-14)
