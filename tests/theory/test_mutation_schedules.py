"""Mutation tests: deliberately wrong variants must make at least one check FAIL.

Mutants: a step size doubled relative to what the bound assumes (the optimizer steps 2 lr but
records lr; a schedule run at twice the step the bound was computed for), a bound with a constant
halved (``check(..., perturb=)`` on the result's ``Sides``). The SPA mutants (halved SPA
constants, momentum applied in the wrong form) are in tests/theory/test_spa.py. Every test
also runs the correct variant on the same data and asserts that it passes, so a failure is due
to the mutation alone.
"""

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
    return RESULTS.get(key)


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
