"""MDA theory (theory/mda.py): the dual-averaging identity, the decaying-L2 form, the potential
and the derived convex bound, on runs of every applicable problem of the library."""

import math

import os
import sys

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.problems import names as problem_names
from ratecheck.theory import check, get, names
from ratecheck.theory import mda as MD

sys.path.insert(0, os.path.dirname(__file__))
from _theory_testlib import DEFAULT, checked_results  # noqa: E402

LR = torch.tensor([1e-3, 1e-2, 0.1, 1.0, 10.0, 1e3])


def assert_results_hold(p, T, seed):
    seen = set()
    runs = [("lambda", {"lr": LR}, None), ("constant", {"lr": LR, "momentum": torch.tensor([0.9, 0.0, 0.5, 0.9, 0.99, 0.9])}, None)]
    if p.is_finite_sum:
        runs.append(("lambda", {"lr": LR}, 3))
    for averaging, hp, bs in runs:
        tr = run(p, get_opt("mda", averaging=averaging), p.x0(6, seed=seed, scale=1.0 + seed), T, hp=hp, batch_size=bs,
                 keep_iterates=True, seeds=torch.arange(6) + 3 * seed)
        seen |= checked_results("mda", p, tr, "mda.", f"{averaging} bs={bs}", stochastic=bs is not None).keys()
    return seen


@pytest.mark.parametrize("name", DEFAULT)
def test_results_hold_on_every_problem(name):
    p = get_problem(name)
    seen = assert_results_hold(p, 40, seed=0)
    assert {"mda.ftrl_identity", "mda.decaying_l2_form"} <= seen
    if "convex" in p.tags:
        assert {"mda.observed_bound", "mda.closed_form_bound", "mda.primal_averaging_potential"} <= seen


@pytest.mark.heavy
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", problem_names())
def test_results_hold_heavy(name, seed):
    assert_results_hold(get_problem(name), 2000, seed)


def test_every_mda_result_is_checked():
    keys = {k for k in names() if k.startswith("mda.")}
    assert keys == {"mda.ftrl_identity", "mda.decaying_l2_form", "mda.primal_averaging_potential", "mda.observed_bound",
                    "mda.closed_form_bound"}
    assert assert_results_hold(get_problem("max_affine"), 30, seed=0) == keys


def test_bound_needs_lambda_averaging():
    """With constant averaging the bound is not applied; on this run it indeed fails (the
    averaging condition is needed), while the lambda-averaged run satisfies it."""
    p = get_problem("l1_distance")
    x0 = p.x0(1, seed=0)
    const = run(p, get_opt("mda"), x0, 400, hp={"lr": 1.0, "momentum": 0.0})
    r = get("mda.observed_bound")
    c = check(r, const, p)
    assert not c.checked.any() and not c.holds.all()
    lam = run(p, get_opt("mda", averaging="lambda"), x0, 400, hp={"lr": 1.0})
    assert check(r, lam, p).all_hold


def test_closed_form_by_hand():
    """k = 1 of the closed form: (sqrt(1) R^2/2 + gamma^2 G^2 (1 + 2)/2) / (gamma (1 + sqrt 2))."""
    from ratecheck.experiments.trace import Trace

    data = {"grad_norm": torch.tensor([[3.0], [2.0], [math.nan]]), "dist": torch.tensor([[4.0], [1.0], [1.0]])}
    tr = Trace(torch.arange(3), data, {"hp": {"lr": torch.tensor([0.5])}})
    b = MD.closed_bound(tr)
    assert math.isnan(b[0, 0])
    assert float(b[1, 0]) == pytest.approx((0.5 * 16 + 0.5 * 0.25 * 9 * 3) / (0.5 * (1 + math.sqrt(2))))
    o = MD.observed_bound(tr)
    lam0, lam1 = 0.5, 0.5 * math.sqrt(2)
    assert float(o[1, 0]) == pytest.approx((0.5 * 16 + 0.5 * lam0**2 * 9 + 0.5 * lam1**2 * 4) / (lam0 + lam1))
