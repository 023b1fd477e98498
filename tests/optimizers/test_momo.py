"""MoMo and MoMo-Adam: trajectory cross-checks against momo-opt 0.1.0, test vectors, invariants.

Cross-checks: float64 CPU, one reference optimizer per run on a single parameter tensor, every
constructor argument passed explicitly; both implementations get the same gradient and loss
(evaluated at our iterate) at every step, and iterates and internals are compared after every
step with the tolerance RTOL below (relative to the quantity's scale).
"""

from __future__ import annotations

import math

import pytest
import torch

from ratecheck.errors import RatecheckError
from ratecheck.optimizers import get, names
from ratecheck.problems import get as get_problem

from tests._lib.core import LeastSquares, assert_close, same_x0

momo_ref = pytest.importorskip("momo")

T = 200
# Relative tolerance of the cross-checks: the two codes do the same float64 operations in a
# slightly different order (sums over the vector, EMA association), so they agree to a few
# ulps per step; 1e-10 leaves room for growth over 200 steps and would catch any wrong term.
RTOL = 1e-10


def _problems():
    l1 = get_problem("l1_distance", d=8, seed=3)
    return {"l1_distance": l1, "least_squares": LeastSquares.planted()}


def _close(ours, ref, what, step):
    assert_close(ours, ref, RTOL, f"{what} at step {step}")


def _x0(B, d, seed=1):
    return same_x0(B, d, seed) * 2.0


def _match_reference(problem, opt, runs, x0_seed, make_ref, state_keys, use_fstar):
    """Our batch of ``runs`` against one momo-opt optimizer per run (``make_ref(param, run, lb)``),
    fed the same gradient and loss: x, the loss average, each (our state key, package state key)
    of ``state_keys`` and, with use_fstar, the estimate lb agree after every step; then every run
    must have made progress (the runs left the trivial regime)."""
    hp = {k: torch.tensor([r[k] for r in runs]) for k in runs[0]}
    if use_fstar:  # a deliberately bad bound, so the estimate has work to do
        hp["lb"] = torch.tensor([-3.0, -1.0, -10.0])
    x0 = _x0(len(runs), problem.d, seed=x0_seed)
    state = opt.init(x0, **hp)
    params, refs = [], []
    for i in range(len(runs)):
        p = torch.nn.Parameter(x0[i].clone())
        refs.append(make_ref(p, runs[i], float(hp["lb"][i])))
        params.append(p)
    for t in range(T):
        x = state["x"]
        g, f = problem.grad(x), problem.value(x)
        state, info = opt.step(state, g, f)
        assert not bool(state["diverged"].any())
        for i, (p, ref) in enumerate(zip(params, refs)):
            p.grad = g[i].clone()
            ref.step(loss=f[i].clone())
            _close(state["x"][i], p.detach(), f"x[{i}]", t)
            _close(state["f_avg"][i], ref.loss_avg, f"f_avg[{i}]", t)
            for ours, theirs in state_keys:
                _close(state[ours][i], ref.state[p][theirs], f"{ours}[{i}]", t)
            if use_fstar:
                _close(state["lb"][i], ref.state["fstar"], f"lb[{i}]", t)
    assert bool((problem.value(state["x"]) < problem.value(x0)).all())


# -- MoMo ------------------------------------------------------------------------------------

MOMO_RUNS = [  # per-run hyper-parameters of one batch: a grid of lr, beta, lb, weight_decay
    dict(lr=1.0, beta=0.9, lb=0.0, weight_decay=0.0),
    dict(lr=10.0, beta=0.5, lb=-0.5, weight_decay=0.0),
    dict(lr=0.3, beta=0.99, lb=0.0, weight_decay=0.05),
]


@pytest.mark.parametrize("problem_name", ["l1_distance", "least_squares"])
@pytest.mark.parametrize("bias_correction,use_fstar", [(False, False), (True, False), (False, True), (True, True)])
def test_momo_matches_momo_opt(problem_name, bias_correction, use_fstar):
    opt = get("momo", bias_correction=bias_correction, use_fstar=use_fstar)

    def make(p, r, lb):
        return momo_ref.Momo([p], lr=r["lr"], weight_decay=r["weight_decay"], beta=r["beta"],
                             lb=lb, bias_correction=bias_correction, use_fstar=use_fstar)

    _match_reference(_problems()[problem_name], opt, MOMO_RUNS, 1, make, [("d", "grad_avg"), ("gamma", "grad_dot_w")], use_fstar)


MOMO_ADAM_RUNS = [
    dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, lb=0.0),
    dict(lr=1.0, beta1=0.5, beta2=0.9, eps=1e-6, weight_decay=0.0, lb=-0.2),
    dict(lr=0.1, beta1=0.95, beta2=0.99, eps=1e-8, weight_decay=0.02, lb=0.0),
]


@pytest.mark.parametrize("problem_name", ["l1_distance", "least_squares"])
@pytest.mark.parametrize("divide,use_fstar", [(True, False), (False, False), (True, True), (False, True)])
def test_momo_adam_matches_momo_opt(problem_name, divide, use_fstar):
    opt = get("momo_adam", divide=divide, use_fstar=use_fstar)

    def make(p, r, lb):
        return momo_ref.MomoAdam([p], lr=r["lr"], betas=(r["beta1"], r["beta2"]), eps=r["eps"],
                                 weight_decay=r["weight_decay"], lb=lb, divide=divide, use_fstar=use_fstar)

    _match_reference(_problems()[problem_name], opt, MOMO_ADAM_RUNS, 2, make,
                     [("d", "grad_avg"), ("v", "grad_avg_sq"), ("gamma", "grad_dot_w")], use_fstar)


# -- test vectors (docs/references/momo.md section 10, [DERIVED], reproduced independently) --

@pytest.mark.parametrize(
    "opts,hp,taus,x4",
    [
        ({}, {}, [0.21428571, 0.00661111, 0.00703944], [0.77249656, 0.54585837, 0.32008484]),
        ({}, {"weight_decay": 0.1}, [0.19285714, 0.0, 0.0], [0.60641838, 0.46152195, 0.31662552]),
        ({"bias_correction": True}, {}, [2.14285714, 0.32128578, 0.16594930], [0.69423770, 0.41709836, 0.16789646]),
        ({}, {"lr": 0.1}, [0.1, 0.1, 0.02945049], [0.77240063, 0.54849172, 0.32825559]),
        ({}, {"beta": 0.0}, [0.21428571, 0.26910299, 0.37120143], [0.36110407, 0.06797533, -0.00781805]),
    ],
)
def test_momo_test_vectors_quadratic(opts, hp, taus, x4):
    """f(x) = (x1^2 + 2 x2^2 + 3 x3^2)/2 from (1,1,1), alpha=1, beta=0.9, f*=0 unless changed."""
    h = torch.tensor([1.0, 2.0, 3.0])
    opt = get("momo", **opts)
    state = opt.init(torch.ones(1, 3), **{"lr": 1.0, "beta": 0.9, "lb": 0.0, **hp})
    got = []
    for _ in range(3):
        x = state["x"]
        state, info = opt.step(state, h * x, 0.5 * (h * x * x).sum(-1))
        got.append(float(info["tau"][0]))
    assert got == pytest.approx(taus, abs=1e-8)
    assert state["x"][0].tolist() == pytest.approx(x4, abs=1e-8)


# -- reductions and invariants (docs/references/momo.md sections 7.1-7.3, 9) -----------------

def test_momo_beta0_is_sps_max():
    """beta = 0: x+ = x - min(alpha, (f - f*)_+ / ||g||^2) g, with the SPS_max formula written here."""
    problem = LeastSquares.planted(seed=4)
    alphas = torch.tensor([0.05, 1.0, 100.0])
    lbs = torch.tensor([0.0, 0.1, -1.0])
    opt = get("momo")
    state = opt.init(_x0(3, problem.d), lr=alphas, beta=0.0, lb=lbs)
    x = state["x"].clone()
    for t in range(100):
        g, f = problem.grad(x), problem.value(x)
        state, _ = opt.step(state, g, f)
        step = torch.minimum(alphas, torch.clamp(f - lbs, min=0) / (g * g).sum(-1))
        x = x - step[:, None] * g
        torch.testing.assert_close(state["x"], x, rtol=1e-12, atol=1e-14)
    if "sps_max" in names():  # and the library's own SPS_max with c = 1, gamma_max = alpha
        sps = get("sps_max")
        s2 = sps.init(_x0(3, problem.d), gamma_max=alphas, c=1.0, f_star=lbs)
        for t in range(100):
            g = problem.grad(s2["x"])
            s2, _ = sps.step(s2, g, problem.value(s2["x"]))
        torch.testing.assert_close(s2["x"], state["x"], rtol=1e-12, atol=1e-14)


def test_capped_momo_is_sgd_with_ema_momentum_and_capped_momo_adam_is_adam():
    """A tiny lr keeps the step capped: MoMo = torch SGD(momentum=beta, dampening=beta) and
    MoMo-Adam = torch Adam at the same lr (momo.md 7.1, 3). The cap is asserted to bind."""
    problem = LeastSquares.planted(seed=5)
    x0 = _x0(1, problem.d, seed=6)
    for name, hp, make in [
        ("momo", dict(lr=1e-3, beta=0.8, lb=0.0),
         lambda p: torch.optim.SGD([p], lr=1e-3, momentum=0.8, dampening=0.8, weight_decay=0.0, nesterov=False)),
        ("momo_adam", dict(lr=1e-3, beta1=0.8, beta2=0.95, eps=1e-8, lb=0.0),
         lambda p: torch.optim.Adam([p], lr=1e-3, betas=(0.8, 0.95), eps=1e-8, weight_decay=0.0, amsgrad=False)),
    ]:
        opt = get(name)
        state = opt.init(x0, **hp)
        p = torch.nn.Parameter(x0[0].clone())
        ref = make(p)
        for t in range(300):
            x = state["x"]
            g = problem.grad(x)
            state, info = opt.step(state, g, problem.value(x))
            assert float(info["tau"][0]) == pytest.approx(1e-3 / float(info["rho"][0]), rel=1e-15)
            p.grad = g[0].clone()
            ref.step()
            _close(state["x"][0], p.detach(), f"{name} x", t)


@pytest.mark.parametrize("bias_correction", [False, True])
def test_momo_fejer_monotone_under_interpolation(bias_correction):
    """Lemma M1 (momo.md 7.2, [DERIVED]): convex + interpolation + f* known: the distance to x*
    never increases, and tau <= alpha / rho."""
    problem = LeastSquares.planted(seed=7, noise=0.0)
    opt = get("momo", bias_correction=bias_correction)
    alphas = torch.tensor([1e-2, 1.0, 1e2, 1e6])
    state = opt.init(_x0(4, problem.d), lr=alphas, beta=0.9, lb=0.0)
    dist = (state["x"] - problem.x_star).norm(dim=-1)
    for t in range(300):
        x = state["x"]
        state, info = opt.step(state, problem.grad(x), problem.value(x))
        new = (state["x"] - problem.x_star).norm(dim=-1)
        assert bool((new <= dist * (1 + 1e-12) + 1e-15).all()), t
        assert bool((info["tau"] >= 0).all() and (info["tau"] <= alphas / info["rho"] * (1 + 1e-15)).all())
        dist = new
    assert bool((dist < 0.5 * (_x0(1, problem.d) - problem.x_star).norm()).all())


def test_momo_star_estimate_floor_and_midpoint_rule():
    """E1 (estimate >= initial lb) and E2 (uncapped active step: the new estimate is
    max((h/rho + f*_k)/2, lb)) from momo.md section 5, lambda = 0."""
    problem = LeastSquares.planted(seed=8)
    opt = get("momo_star")
    lb0 = torch.tensor([-10.0, -1.0])
    state = opt.init(_x0(2, problem.d), lr=100.0, beta=0.9, lb=lb0)
    active = 0
    for t in range(300):
        x = state["x"]
        state, info = opt.step(state, problem.grad(x), problem.value(x))
        assert bool((info["lb_next"] >= lb0).all())
        uncapped = (info["tau"] < 100.0 / info["rho"]) & (info["tau"] > 0)
        mid = torch.maximum(0.5 * (info["h"] / info["rho"] + info["lb"]), lb0)
        assert torch.allclose(info["lb_next"][uncapped], mid[uncapped], rtol=1e-9, atol=1e-12)
        active += int(uncapped.sum())
    assert active > 100


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name,hp,match",
    [
        ("momo", {"lr": -1.0}, r"lr=-1.0 is out of range; allowed: \[0, inf\]"),
        ("momo", {"beta": 1.0}, r"beta=1.0 is out of range; allowed: \[0, 1\)"),
        ("momo", {"weight_decay": -0.1}, r"weight_decay"),
        ("momo", {"lb": math.inf}, r"lb=inf is out of range"),
        ("momo", {"lr": torch.ones(3)}, r"lr has shape \(3,\)"),
        ("momo", {"betas": (0.9, 0.99)}, r"unknown hyper-parameter\(s\) \['betas'\]"),
        ("momo_adam", {"beta2": 1.5}, r"beta2=1.5 is out of range"),
        ("momo_adam", {"eps": -1.0}, r"eps=-1.0 is out of range"),
        ("momo_adam", {"betas": (0.9, 0.99)}, r"pass beta1 and beta2 separately"),
    ],
)
def test_bad_hyperparameters_raise(name, hp, match):
    with pytest.raises(RatecheckError, match=match):
        get(name).init(torch.zeros(2, 3), **hp)


def test_bad_options_and_missing_loss_raise():
    with pytest.raises(RatecheckError, match=r"bias_correction='yes' is out of range; allowed: True, False"):
        get("momo", bias_correction="yes")
    with pytest.raises(RatecheckError, match="use_fstar is always True"):
        get("momo_star", use_fstar=False)
    opt = get("momo_adam")
    state = opt.init(torch.zeros(2, 3))
    with pytest.raises(RatecheckError, match="needs the loss"):
        opt.step(state, torch.ones(2, 3))
