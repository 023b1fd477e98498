"""The refined schedule (arXiv 2310.07831; reference note linear_decay_refinement.md §4, §6, §9-10).

Oracles: constant norms give linear decay (note §6, [DERIVED]); invariance to scaling the norms
(exact for powers of two); Theorem A's construction (weighted OGD averaged into x) produces the
same iterates as SGD with the refined step sizes (note §3-4, [DERIVED]); bound (B) holds for a
second run using weights from a first run (note §6); the synthetic warm-up profile of the
authors' synthetic_sched_grid.py peaks near 12-15% of the run (note §10, [CODE]).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.ndimage import gaussian_filter1d

from ratecheck.optimizers import get
from ratecheck.optimizers.refine import (
    ADAM_POWER,
    filter_width,
    optimal_steps,
    refined_schedule,
    schedule_from_weights,
    smooth_norms,
)
from ratecheck.problems import get as get_problem


@pytest.mark.parametrize("n", [2, 7, 500])
@pytest.mark.parametrize("kw", [{}, {"tau": 0.0, "nvals": 50}, {"power": ADAM_POWER, "nvals": 1000}])
def test_constant_norms_give_linear_decay(n, kw):
    expected = 1.0 - np.arange(n) / (n - 1)
    # linear resampling (np.interp) of a linear function is exact up to an ulp
    assert np.allclose(refined_schedule(np.ones(n), **kw), expected, rtol=0, atol=1e-15)
    assert np.allclose(refined_schedule(np.full(n, 0.37), **kw), expected, rtol=0, atol=1e-12)


def test_filter_width_matches_the_code():
    assert filter_width(0.1, 10_000) == 1001 and filter_width(0.0, 10_000) == 1 and filter_width(0.1, 50) == 5


@settings(max_examples=40, deadline=None)
@given(g=arrays(np.float64, st.integers(3, 120), elements=st.floats(1e-3, 1e3)), e=st.integers(-20, 20), tau=st.sampled_from([0.0, 0.05, 0.3]))
def test_properties_and_scale_invariance(g, e, tau):
    s = refined_schedule(g, tau=tau, nvals=300)
    assert s.shape == g.shape and s[-1] == 0.0 and bool((s >= 0).all()) and bool((s <= 1.0 + 1e-15).all())
    assert np.array_equal(refined_schedule(g * 2.0**e, tau=tau, nvals=300), s)  # exact for powers of two
    raw = schedule_from_weights(g**-2.0)
    assert raw.max() == 1.0 and raw[-1] == 0.0


@settings(max_examples=40, deadline=None)
@given(g=arrays(np.float64, st.integers(3, 120), elements=st.floats(0.5, 2.0)), c=st.floats(0.01, 100.0), tau=st.sampled_from([0.0, 0.05, 0.3]))
def test_scale_invariance_up_to_round_off(g, c, tau):
    # Norms within a factor 4 of each other keep the tail sums well conditioned (with norms
    # spread over 1e5, the round-off of the cumulative sums alone reaches 1e-9).
    assert np.allclose(refined_schedule(g * c, tau=tau, nvals=300), refined_schedule(g, tau=tau, nvals=300), rtol=0, atol=1e-13)


def test_no_smoothing_on_the_native_grid_is_the_closed_form():
    g = np.random.default_rng(0).uniform(0.5, 2.0, 64)
    assert np.array_equal(refined_schedule(g, tau=0.0, nvals=64), schedule_from_weights(g**-2.0))
    assert np.array_equal(refined_schedule(g, power=-1.0, tau=0.0, nvals=64), schedule_from_weights(g**-1.0))


def test_rows_are_independent_and_types_round_trip():
    rng = np.random.default_rng(1)
    g = rng.uniform(0.5, 2.0, (3, 90))
    s = refined_schedule(g, nvals=400)
    for b in range(3):
        assert np.array_equal(s[b], refined_schedule(g[b], nvals=400))
    t = refined_schedule(torch.as_tensor(g), nvals=400, length=30)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64 and t.shape == (3, 30)
    assert isinstance(smooth_norms(g[0], nvals=100), np.ndarray)


def test_median_filter_removes_spikes_and_trim_drops_ends():
    g = np.ones(200)
    g[50] = 1e6  # one spike: invisible after a width-21 median filter
    assert np.array_equal(smooth_norms(g, tau=0.1, nvals=200), np.ones(200))
    g2 = np.concatenate([[1e9, 1e9], np.ones(100), [np.inf, 1e-9, 1e-9]])  # the code drops inf, then trims 2
    assert np.allclose(refined_schedule(g2, trim=2, tau=0.0, nvals=100), 1.0 - np.arange(100) / 99, rtol=0, atol=1e-15)


def test_theorem_a_construction_gives_the_refined_sgd_iterates():
    """x_t = (w_{t:T} z_t + sum_{p<t} w_p z_p)/w_{1:T} with z_{t+1} = z_t - eta w_t g_t (g at x_t)
    equals SGD with eta_t = eta w_t w_{t+1:T}/w_{1:T}; the refined schedule is that shape."""
    prob = get_problem("l1_distance", d=6, seed=2)
    T = 80
    w = np.random.default_rng(3).uniform(0.2, 3.0, T)
    s = schedule_from_weights(w)  # normalised: eta_t = scale * s_t
    eta = 0.05
    W = w.sum()
    scale = eta * w[0] * w[1:].sum() / W / s[0]
    # SGD with the refined shape
    opt = get("sgd", schedule="custom")
    x0 = prob.x0(1, seed=1)
    st_ = opt.init(x0, lr=scale, lr_schedule=torch.as_tensor(s))
    xs = [st_["x"]]
    for _ in range(T - 1):
        st_, _ = opt.step(st_, prob.grad(st_["x"]))
        xs.append(st_["x"])
    # Theorem A's construction
    zs = [x0.clone()]
    x = x0.clone()
    for t in range(T):
        x = (w[t:].sum() * zs[t] + sum(w[p] * zs[p] for p in range(t))) / W
        assert torch.allclose(x, xs[t], rtol=0, atol=1e-12), f"step {t}"
        zs.append(zs[t] - eta * w[t] * prob.grad(x))


def test_bound_B_holds_for_a_second_run_with_weights_from_a_first():
    """Note §6/§12.6: steps from run-1 norms (optimal_steps), run 2 satisfies bound (B) with its own norms."""
    prob = get_problem("l1_distance", d=8, seed=4)
    T = 120
    x0 = prob.x0(1, seed=2)
    D = float(prob.dist_to_opt(x0))
    # run 1: linear decay, log ||g_t|| at x_1..x_T
    opt = get("sgd", schedule="linear")
    s = opt.init(x0, lr=0.05, T=T)
    norms1 = []
    for _ in range(T):
        norms1.append(float(prob.grad(s["x"]).norm()))
        s, _ = opt.step(s, prob.grad(s["x"]))
    steps = optimal_steps(np.array(norms1), D)
    assert steps[-1] == 0.0
    # run 2 with those steps
    opt2 = get("sgd", schedule="custom")
    s2 = opt2.init(x0, lr=1.0, lr_schedule=torch.as_tensor(steps))
    g2 = []
    for _ in range(T - 1):
        g = prob.grad(s2["x"])
        g2.append(float(g.norm()))
        s2, _ = opt2.step(s2, g)
    g2.append(float(prob.grad(s2["x"]).norm()))
    w = np.array(norms1) ** -2.0
    eta = D / np.sqrt(w.sum())
    bound = (D**2 / eta + eta * np.sum(w**2 * np.array(g2) ** 2)) / (2 * w.sum())
    gap = float(prob.value(s2["x"]) - prob.f_star)
    assert gap <= bound * (1 + 1e-12)
    assert gap > 1e-3 * bound  # the run has not reached the optimum: the check is not vacuous


def _synthetic_profile(values):
    n = 2000
    x = np.linspace(0, 1, n)
    g = gaussian_filter1d(np.interp(x, [0, 0.003, 0.02, 0.03, 0.1, 1], values), sigma=40.0, mode="nearest")
    return schedule_from_weights(g**-2.0)


def test_synthetic_grid_of_the_authors():
    """Note §10: the flat profile is linear decay; the warm-up profiles peak near 12-15% of the
    run, and a late rise of the norms decays faster than a late fall."""
    flat = _synthetic_profile([1, 1, 1, 1, 1, 1])
    assert np.allclose(flat[[0, 99, 199, 999, 1799]], [1.0, 0.95, 0.90, 0.50, 0.10], atol=1e-3)
    ends = {}
    for last in (2.0, 1.0, 0.7):
        s = _synthetic_profile([15, 6, 4, 2, 1, last])
        peak = np.argmax(s) / (len(s) - 1)
        assert 0.10 <= peak <= 0.17, (last, peak)
        ends[last] = s[len(s) // 2]
    assert ends[2.0] < ends[1.0] < ends[0.7]


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: refined_schedule(np.array([1.0, 0.0, 1.0])), r"entry=0.0 is out of range; allowed: \(0, inf\)"),
        (lambda: refined_schedule(np.ones(5), power=1.0), r"power=1.0 is out of range"),
        (lambda: refined_schedule(np.ones(5), tau=2.0), r"tau=2.0 is out of range; allowed: \[0, 1\]"),
        (lambda: refined_schedule(np.ones(1)), r"shape \(1,\); allowed: \[n\] or \[B, n\] with n >= 2"),
        (lambda: refined_schedule(np.ones(5), trim=2), r"1 finite entries after trim=2"),
        (lambda: optimal_steps(np.ones(5), -1.0), r"D=-1.0 is out of range"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
