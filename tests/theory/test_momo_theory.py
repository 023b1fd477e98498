"""MoMo theory (theory/momo.py): Fejér monotonicity and its corollaries, the beta = 0 Polyak bound
and the update's invariants, checked on runs of every applicable problem of the library."""

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
from ratecheck.theory import momo as M

sys.path.insert(0, os.path.dirname(__file__))
from _theory_testlib import DEFAULT, checked_results  # noqa: E402


def configs(p, seed):
    """(optimizer, options, hp, batch_size): adversarial lr (1e6), tiny lr, lb above f*, a bad lb."""
    f = p.f_star
    base = {"lr": torch.tensor([1e-2, 1.0, 1e6, 1.0, 10.0, 1.0]), "beta": torch.tensor([0.0, 0.9, 0.9, 0.99, 0.0, 0.5]),
            "lb": torch.tensor([f, f, f, f, f, f + 1.0])}
    out = [("momo", {}, base), ("momo", {"bias_correction": True}, base),
           ("momo_star", {}, {"lr": torch.tensor([1.0, 100.0, 1e-2]), "beta": 0.9, "lb": torch.tensor([f - 10.0, f, f - 1.0])}),
           ("momo_adam", {}, {"lr": torch.tensor([1e-2, 1.0, 1e3]), "beta1": torch.tensor([0.9, 0.0, 0.9]), "lb": f})]
    runs = [(o, kw, h, None) for (o, kw, h) in out]
    if p.is_finite_sum:  # minibatches: the interpolation condition decides which runs apply
        runs += [(o, kw, h, 1 + seed % 3) for (o, kw, h) in out[1:3]]
    return runs


def assert_results_hold(p, T, seed):
    seen = set()
    for opt, kw, hp, bs in configs(p, seed):
        o = get_opt(opt, **kw)
        B = next(v for v in hp.values() if isinstance(v, torch.Tensor)).shape[0]
        tr = run(p, o, p.x0(B, seed=seed, scale=1.0 + seed), T, hp=hp, batch_size=bs, seeds=torch.arange(B) + 100 * seed)
        seen |= checked_results(opt, p, tr, "momo.", f"{opt}{kw} bs={bs}", stochastic=bs is not None).keys()
    return seen


@pytest.mark.parametrize("name", DEFAULT)
def test_results_hold_on_every_problem(name):
    p = get_problem(name)
    seen = assert_results_hold(p, 50, seed=0)
    if "convex" in p.tags:
        assert "momo.fejer" in seen and "momo.min_model_gap" in seen
    if {"convex", "smooth"} <= p.tags and p.L is not None:
        assert "momo.polyak_smooth" in seen


@pytest.mark.heavy
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", problem_names())
def test_results_hold_heavy(name, seed):
    assert_results_hold(get_problem(name), 600, seed)


def test_every_momo_result_is_registered_and_checked():
    keys = {k for k in names() if k.startswith("momo.")}
    assert keys == {"momo.fejer", "momo.fejer_sum", "momo.min_model_gap", "momo.polyak_smooth", "momo.tau_range",
                    "momo.stays_above_floor", "momo.estimate_floor", "momo.estimate_monotone"}
    seen = set()
    for name in ("least_squares_interp", "quadratic", "l1_distance"):
        seen |= assert_results_hold(get_problem(name), 60, seed=0)
    assert seen == keys


def test_interpolation_is_what_makes_stochastic_runs_fejer():
    """Without interpolation the stochastic oracle gives samples with f_i(x*) > lb: the result is
    then not applied, and its inequality does fail on such a run (the condition is needed)."""
    p = get_problem("least_squares")
    tr = run(p, get_opt("momo"), p.x0(4, seed=0, scale=0.05), 400, hp={"lr": 10.0, "beta": 0.0, "lb": 0.0}, batch_size=1)
    c = check(get("momo.fejer"), tr, p)
    assert not c.checked.any()
    assert (~c.holds).any()


def test_polyak_bound_is_tight_enough_to_fail_when_halved():
    p = get_problem("quadratic")
    tr = run(p, get_opt("momo"), p.x0(3, seed=0), 200, hp={"lr": torch.tensor([1e6, 0.01, 0.1]), "beta": 0.0, "lb": p.f_star})
    r = get("momo.polyak_smooth")
    assert check(r, tr, p).all_hold
    obs = r.observed(tr, p)
    assert (obs > r.bound(tr, p) / 20).any()  # the bound is within a small factor somewhere


@pytest.mark.parametrize("c", [4.0, 0.25])
def test_scale_invariance_of_the_iterates(c):
    """(f, f*, alpha, lambda) -> (c f, c f*, alpha/c, c lambda) leaves the iterates unchanged [DERIVED, momo.md]."""
    p = get_problem("logistic")
    x0 = p.x0(3, seed=0)
    hp = {"lr": torch.tensor([0.5, 5.0, 50.0]), "beta": 0.9, "lb": 0.01, "weight_decay": torch.tensor([0.0, 1e-2, 1e-1])}
    hp_c = {**hp, "lr": hp["lr"] / c, "lb": 0.01 * c, "weight_decay": hp["weight_decay"] * c}
    o = get_opt("momo")
    s1, s2 = o.init(x0, **hp), o.init(x0, **hp_c)
    for _ in range(50):
        x = s1["x"]
        s1, _ = o.step(s1, p.grad(x), p.value(x))
        x = s2["x"]
        s2, _ = o.step(s2, c * p.grad(x), c * p.value(x))
    torch.testing.assert_close(s1["x"], s2["x"], rtol=1e-12, atol=1e-14)


def test_min_gap_bound_by_hand():
    """M1c's right side at one row, computed by hand from its definition."""
    from ratecheck.experiments.trace import Trace

    T = 3
    data = {"grad_norm": torch.tensor([[2.0], [3.0], [1.0], [math.nan]]), "dist": torch.tensor([[5.0], [4.0], [3.0], [2.0]])}
    tr = Trace(torch.arange(T + 1), data, {"hp": {"lr": torch.tensor([0.5])}})
    b = M.min_gap_bound(tr)
    assert b[0, 0] == pytest.approx(max(2 * 5 / 1, 25 / (0.5 * 1)))
    assert b[2, 0] == pytest.approx(max(3 * 5 / math.sqrt(3), 25 / (0.5 * 3)))
