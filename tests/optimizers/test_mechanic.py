"""Mechanic: trajectory cross-checks against mechanic-pytorch 0.0.1, test vectors, invariants.

Cross-checks: float64 CPU (tests/conftest.py sets the default dtype, which mechanic-pytorch's
tuner state uses), one reference optimizer per run on a single parameter tensor, every argument
of ``mechanize`` and of the base passed explicitly; both implementations get the same gradient
(evaluated at our iterate) at every step, and iterates and tuner state (s, r, m, v per beta,
from ``opt.state['_mechanic']``) are compared after every step with the tolerance RTOL.
"""

from __future__ import annotations


import pytest
import torch

from ratecheck.errors import RatecheckError
from ratecheck.optimizers import get, names
from ratecheck.problems import get as get_problem

from tests._lib.core import LeastSquares, assert_close
from tests._lib.core import same_x0 as _x0

mp = pytest.importorskip("mechanic_pytorch")

T = 250
# Relative tolerance (to each quantity's scale) of the cross-checks. torch.optim.SGD's fused
# add_(alpha=) rounds differently from our SGD by an ulp, and the tuner feeds that back; the
# observed drift over 250 steps is far below this, while any wrong term shows at O(1).
RTOL = 1e-9


def _problem(name):
    return get_problem("l1_distance", d=8, seed=3) if name == "l1_distance" else LeastSquares.planted()


def _close(ours, ref, what, step):
    assert_close(ours, ref, RTOL, f"{what} at step {step}")


RUNS = [  # one batch sweeps base lr and the tuner's scalars
    dict(base_lr=1.0, s_decay=0.01, s_init=1e-8, eps=1e-8),
    dict(base_lr=0.1, s_decay=0.0, s_init=1e-6, eps=1e-8),
    dict(base_lr=3.0, s_decay=0.2, s_init=1e-4, eps=1e-6),
]
BETAS = {"default": (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999), "three": (0.5, 0.95, 1.0)}


def _run_against_reference(problem, opt, hp, make_ref, betas, store_delta, steps):
    B, d = len(RUNS), problem.d
    x0 = _x0(B, d)
    state = opt.init(x0, m_init=1e-6, **hp)
    params, refs = [], []
    for i in range(B):
        p = torch.nn.Parameter(x0[i].clone())
        r = RUNS[i]
        Mech = mp.mechanize(torch.optim.SGD if make_ref is None else make_ref[0], s_decay=r["s_decay"], betas=betas,
                            s_init=r["s_init"], eps=r["eps"], store_delta=store_delta, log_func=None, log_every=0)
        if make_ref is None:
            ref = Mech([p], lr=r["base_lr"], momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                       maximize=False, foreach=False)
        else:
            ref = make_ref[1](Mech, p, r)
        params.append(p)
        refs.append(ref)
    for t in range(steps):
        x = state["x"]
        g = problem.grad(x)
        state, info = opt.step(state, g)
        assert not bool(state["diverged"].any())
        for i, (p, ref) in enumerate(zip(params, refs)):
            p.grad = g[i].clone()
            ref.step()
            ms = ref.state["_mechanic"]
            _close(state["x"][i], p.detach(), f"x[{i}]", t)
            _close(state["s"][i], ms["s"], f"s[{i}]", t)
            _close(state["r"][i], ms["reward"], f"r[{i}]", t)
            _close(state["m"][i], ms["max_product"], f"m[{i}]", t)
            _close(state["v"][i], ms["sum_squared_products"], f"v[{i}]", t)
            _close(info["s_sum"][i], ms["s"].sum(), f"s_sum[{i}]", t)
    return x0, state


@pytest.mark.parametrize("problem_name", ["l1_distance", "least_squares"])
@pytest.mark.parametrize("betas_name", ["default", "three"])
@pytest.mark.parametrize("store_delta", [True, False])
def test_mechanic_sgd_matches_mechanic_pytorch(problem_name, betas_name, store_delta):
    problem = _problem(problem_name)
    betas = BETAS[betas_name]
    opt = get("mechanic", base="sgd", betas=betas, store_delta=store_delta)
    hp = {k: torch.tensor([r[k] for r in RUNS]) for k in RUNS[0]}
    x0, state = _run_against_reference(problem, opt, hp, None, betas, store_delta, T)
    # The scale must have grown by orders of magnitude from s_init: the tuner really ran.
    assert bool((state["s"].sum(-1) > 50 * hp["s_init"]).all())
    assert bool((problem.value(state["x"]) < problem.value(x0)).all())


@pytest.mark.skipif("adam" not in names(), reason="no 'adam' optimizer registered yet")
@pytest.mark.parametrize("problem_name", ["l1_distance", "least_squares"])
def test_mechanic_adam_matches_mechanic_pytorch(problem_name):
    problem = _problem(problem_name)
    opt = get("mechanic", base="adam", store_delta=True)
    hp = {k: torch.tensor([r[k] for r in RUNS]) for k in RUNS[0]}
    base_hp = set(opt.hyperparams) - {"s_decay", "s_init", "eps", "m_init", "base_lr"}
    extra = {}
    for name, value in (("base_beta1", 0.8), ("base_beta2", 0.95), ("base_eps", 1e-8), ("base_weight_decay", 0.0)):
        if name in base_hp:
            extra[name] = value
    if set(extra) != base_hp:
        pytest.skip(f"adam's hyper-parameters {sorted(base_hp)} are not the expected beta1/beta2/eps/weight_decay")

    def make(Mech, p, r):
        return Mech([p], lr=r["base_lr"], betas=(0.8, 0.95), eps=1e-8, weight_decay=0.0, amsgrad=False,
                    maximize=False, foreach=False)

    _run_against_reference(problem, opt, {**hp, **extra}, (torch.optim.Adam, make), BETAS["default"], True, T)


# -- test vectors ([DERIVED]/[CODE] in docs/references/mechanic.md sections 5.8 and 6) -------

def test_pytorch_defaults_test_vector():
    """f = ||x - (1,2)||^2 / 2 from 0, base SGD lr 1, defaults, store_delta=True (section 6)."""
    target = torch.tensor([1.0, 2.0])
    opt = get("mechanic", base="sgd", store_delta=True)
    state = opt.init(torch.zeros(1, 2), base_lr=1.0)
    rows = {1: (0.0, 9.814815e-07, (9.814815e-07, 1.962963e-06)),
            2: (-4.999995, 9.914815e-07, (1.9829620e-06, 3.9659240e-06)),
            3: (-9.999975, 1.331516e-06, (3.9945426e-06, 7.9890851e-06)),
            4: (-14.99993, 1.862928e-06, (7.4516986e-06, 1.4903397e-05)),
            6: (-24.99960, 3.721577e-06, (2.2329361e-05, 4.4658721e-05))}
    for t in range(1, 7):
        state, info = opt.step(state, state["x"] - target)
        if t in rows:
            h, S, x = rows[t]
            assert float(info["h"][0]) == pytest.approx(h, rel=2e-6, abs=1e-12)
            assert float(info["s_sum"][0]) == pytest.approx(S, rel=1e-6)
            assert state["x"][0].tolist() == pytest.approx(list(x), rel=1e-6)
    # Section 5.8: first-step scale beta_i * 1e-6 * s_init / (n eps).
    state = opt.init(torch.zeros(1, 2), base_lr=1.0)
    state, info = opt.step(state, -target[None])
    torch.testing.assert_close(state["s"][0], torch.tensor(opt.betas) * 1e-6 * 1e-8 / (6 * 1e-8), rtol=1e-12, atol=0)


def test_recomputed_delta_test_vector():
    """store_delta=False (mechanic-pytorch's default): h_2 = -4.949566, S_3 = 9.914815e-07,
    S_4 = 1.332374e-06 (section 6)."""
    target = torch.tensor([1.0, 2.0])
    opt = get("mechanic", base="sgd", store_delta=False)
    state = opt.init(torch.zeros(1, 2), base_lr=1.0)
    hs, Ss = [], []
    for _ in range(3):
        state, info = opt.step(state, state["x"] - target)
        hs.append(float(info["h"][0]))
        Ss.append(float(info["s_sum"][0]))
    assert hs[1] == pytest.approx(-4.949566, rel=1e-6)
    assert Ss[1] == pytest.approx(9.914815e-07, rel=1e-6)
    assert Ss[2] == pytest.approx(1.332374e-06, rel=1e-6)


def test_optax_variant_first_step():
    """optax test_mechanized (section 5.8, [CODE]): eps=1e-10, s_init=1e-8, weight_decay=1e-2,
    six betas, one step: m = 1e-10 (|h| + eps with h = 0), v = 0, s = s_init / 6 per beta."""
    opt = get("mechanic_optax", base="sgd")
    x0 = torch.tensor([[1.0, -2.0, 3.0]])
    state = opt.init(x0, base_lr=0.1, eps=1e-10, s_init=1e-8, s_decay=1e-2)
    state, info = opt.step(state, torch.tensor([[0.5, 1.0, -1.5]]))
    torch.testing.assert_close(state["m"][0], torch.full((6,), 1e-10), rtol=1e-12, atol=0)
    assert torch.equal(state["v"][0], torch.zeros(6))
    torch.testing.assert_close(state["s"][0], torch.full((6,), 1e-8 / 6), rtol=1e-7, atol=0)
    # The move is sum(s) times the base step: 1e-8 * 0.1 * g.
    torch.testing.assert_close(state["x"] - x0, -1e-9 * torch.tensor([[0.5, 1.0, -1.5]]), rtol=1e-6, atol=0)


def test_optax_variant_clips_h_and_keeps_reward_unclamped():
    """The optax tuner: m >= |h| + eps, the reward update uses h clipped to [-m_prev, m_prev],
    and the stored reward may go negative while the wealth uses max(r, 0)."""
    problem = get_problem("l1_distance", d=8, seed=3)  # overshoots make h > 0, so rewards turn negative
    opt = get("mechanic_optax", base="sgd")
    state = opt.init(_x0(1, problem.d), base_lr=0.5, s_decay=0.0)
    negative_reward = clipped = 0
    for t in range(300):
        m_prev, r_prev, s_prev = state["m"].clone(), state["r"].clone(), state["s"].clone()
        state, info = opt.step(state, problem.grad(state["x"]))
        h = info["h"][:, None]
        hc = torch.maximum(torch.minimum(h, m_prev), -m_prev)
        betas = state["betas"]
        torch.testing.assert_close(state["r"], betas * r_prev - hc * s_prev, rtol=1e-12, atol=1e-300)
        assert bool((state["m"] >= h.abs() + 1e-8 * (1 - 1e-12)).all())
        W = torch.stack([info[f"W_{i}"] for i in range(6)], -1)
        torch.testing.assert_close(W, 1e-6 / 6 * state["m"] + state["r"].clamp(min=0), rtol=1e-12, atol=0)
        negative_reward += int((state["r"] < 0).any())
        clipped += int((h.abs() > m_prev).any())
    assert clipped > 0 and negative_reward > 0


# -- invariants (docs/references/mechanic.md sections 4.2, 5) -------------------------------

def test_wealth_reward_and_scale_are_nonnegative():
    """Section 5.1-5.4 (pytorch semantics): r >= 0, W >= (s_init/n) m > 0, s >= 0, m >= |h|."""
    problem = get_problem("l1_distance", d=8, seed=5)
    opt = get("mechanic", base="sgd")
    s_init = torch.tensor([1e-8, 1e-4, 1e-2])
    state = opt.init(_x0(3, problem.d), base_lr=torch.tensor([1.0, 0.1, 10.0]), s_init=s_init, s_decay=0.05)
    for t in range(300):
        state, info = opt.step(state, problem.grad(state["x"]))
        W = torch.stack([info[f"W_{i}"] for i in range(6)], -1)
        assert bool((state["r"] >= 0).all() and (state["s"] >= 0).all())
        assert bool((W >= s_init[:, None] / 6 * state["m"] * (1 - 1e-14)).all() and (W > 0).all())
        assert bool((state["m"] >= info["h"].abs()[:, None]).all())


def test_scale_equivariance():
    """Section 5.7 ([DERIVED]): lambda = 0, SGD base, stored Delta: (eta, s_init, m0, eps) ->
    (c eta, s_init/c, c m0, c eps) leaves the iterates unchanged. Both runs get the same
    gradients (those at the first run's iterate). With c = 2^10 the only rounding difference is
    in u_t = (x_t - eta g_t) - x_t, so they agree to ~1e-15, while changing eta alone moves the
    iterates by orders of magnitude. (The note's "bit-identical" holds where u_t = -eta g_t is
    formed directly; mechanic-pytorch and this code take it as a difference of iterates.)"""
    problem = LeastSquares.planted(seed=4)
    c = 2.0**10
    opt = get("mechanic", base="sgd", store_delta=True)
    x0 = _x0(1, problem.d, seed=9)
    a = opt.init(x0, base_lr=0.5, s_init=1e-8, m_init=1e-6, eps=1e-8, s_decay=0.0)
    b = opt.init(x0, base_lr=0.5 * c, s_init=1e-8 / c, m_init=1e-6 * c, eps=1e-8 * c, s_decay=0.0)
    only_lr = opt.init(x0, base_lr=0.5 * c, s_init=1e-8, m_init=1e-6, eps=1e-8, s_decay=0.0)
    for t in range(300):
        g = problem.grad(a["x"])
        a, _ = opt.step(a, g)
        b, _ = opt.step(b, g)
        only_lr, _ = opt.step(only_lr, g)
        torch.testing.assert_close(b["x"], a["x"], rtol=1e-12, atol=0)
    assert float((only_lr["x"] - a["x"]).abs().max()) > 1.0


def test_regret_decomposition_identity():
    """Section 4.2 ([DERIVED], lambda = 0, stored Delta): for any x_ring and S_ring > 0,
    sum <g_t, x_t - x_ring> = sum h_t (S_t - S_ring) + S_ring sum <g_t, Delta_t - (x_ring - x_ref)/S_ring>,
    with Delta_t rebuilt here as the sum of the base's steps -lr g."""
    problem = LeastSquares.planted(seed=6)
    lr = 0.3
    opt = get("mechanic", base="sgd", store_delta=True)
    x0 = _x0(1, problem.d, seed=2)
    state = opt.init(x0, base_lr=lr, s_decay=0.0)
    x_ring = problem.x_star[None]
    S_rings = torch.tensor([1e-3, 0.1, 1.0, 10.0])
    lhs = 0.0
    tuner = torch.zeros(4, dtype=torch.float64)
    base = torch.zeros(4, dtype=torch.float64)
    delta = torch.zeros_like(x0)
    scale = 0.0
    for t in range(400):
        x = state["x"]
        g = problem.grad(x)
        state, info = opt.step(state, g)
        lhs += float((g * (x - x_ring)).sum())
        scale += float((g * (x - x_ring)).abs().sum())
        tuner += info["h"][0] * (info["s_sum_prev"][0] - S_rings)
        w = (x_ring - x0) / S_rings[:, None]
        base += ((delta - w) * g).sum(-1)
        delta = delta - lr * g
    rhs = tuner + S_rings * base
    assert torch.allclose(rhs, torch.full_like(rhs, lhs), rtol=0, atol=1e-10 * scale)


# -- nesting, options and bad input -----------------------------------------------------------

def test_base_instance_state_is_nested_and_frozen_with_its_run():
    base = get("sgd")
    opt = get("mechanic", base=base)
    assert opt.base is base and "base_lr" in opt.hyperparams and "base_lr" in opt.info_keys
    state = opt.init(torch.ones(3, 4), base_lr=torch.tensor([0.1, 0.2, 0.3]))
    torch.testing.assert_close(state["base"]["hp"]["lr"], torch.tensor([0.1, 0.2, 0.3]))
    state, _ = opt.step(state, torch.ones(3, 4))
    g = torch.ones(3, 4)
    g[1, 0] = float("nan")
    new, info = opt.step(state, g)
    assert info["diverged"].tolist() == [False, True, False]
    for key in ("x", "s", "r", "m", "v", "delta"):
        assert torch.equal(new[key][1], state[key][1]), key
        assert not torch.equal(new[key][0], state[key][0]) or key in ("r",), key
    assert torch.equal(new["base"]["x"], new["x"])
    torch.testing.assert_close(info["base_lr"], torch.tensor([0.1, 0.2, 0.3]))


def test_per_run_betas_override():
    """betas given at init as [B, n] equal separate runs with those betas as options (bit for bit;
    the l1 oracle is elementwise, so its gradients do not depend on the batch either)."""
    problem = get_problem("l1_distance", d=8, seed=1)
    x0 = _x0(2, problem.d)
    both = get("mechanic", base="sgd", betas=(0.9, 0.99))
    st = both.init(x0, base_lr=0.5, betas=torch.tensor([[0.9, 0.99], [0.5, 0.999]]))
    singles = [get("mechanic", base="sgd", betas=b) for b in ((0.9, 0.99), (0.5, 0.999))]
    sts = [o.init(x0[i:i + 1], base_lr=0.5) for i, o in enumerate(singles)]
    for t in range(50):
        st, _ = both.step(st, problem.grad(st["x"]))
        for i, o in enumerate(singles):
            sts[i], _ = o.step(sts[i], problem.grad(sts[i]["x"]))
            assert torch.equal(st["x"][i], sts[i]["x"][0])


@pytest.mark.parametrize(
    "options,match",
    [
        ({"variant": "jax"}, r"unknown Mechanic variant 'jax'"),
        ({"betas": (0.9, 1.5)}, r"betas entry=1.5 is out of range; allowed: \[0, 1\]"),
        ({"betas": ()}, r"betas is empty"),
        ({"base": "no_such_opt"}, r"unknown optimizer 'no_such_opt'"),
        ({"base": 3}, r"base must be an optimizer name or an Optimizer"),
        ({"store_delta": "yes"}, r"store_delta='yes' is out of range"),
    ],
)
def test_bad_options_raise(options, match):
    with pytest.raises(RatecheckError, match=match):
        get("mechanic", **options)


@pytest.mark.parametrize(
    "hp,match",
    [
        ({"base_lr": 1.0, "s_init": 0.0}, r"s_init=0.0 is out of range; allowed: \(0, inf\]"),
        ({"base_lr": 1.0, "eps": -1.0}, r"eps=-1.0 is out of range"),
        ({"base_lr": 1.0, "s_decay": -0.1}, r"s_decay=-0.1 is out of range"),
        ({"base_lr": -1.0}, r"base_lr=-1.0 is out of range"),
        ({}, r"'base_lr' is required"),
        ({"base_lr": 1.0, "lr": 1.0}, r"unknown hyper-parameter\(s\) \['lr'\].*prefix 'base_'"),
        ({"base_lr": 1.0, "betas": torch.ones(3, 6)}, r"betas has shape \(3, 6\); allowed: \[6\] or \[2, 6\]"),
    ],
)
def test_bad_hyperparameters_raise(hp, match):
    with pytest.raises(RatecheckError, match=match):
        get("mechanic", base="sgd").init(torch.zeros(2, 3), **hp)
