"""Adam and AdaGrad against torch.optim; AdaGrad-Norm and SPS_max by exact properties.

Cross-checks: float64, 250 steps, two problems, every hyper-parameter explicit (non-default),
relative tolerance 1e-13 on the iterates (Adam: 1e-12, since torch computes beta^t with pow
and this package with a running product, a few ulps apart). The Adam settings avoid an
oscillating regime: with beta1 = 0 near x* the step is about lr/eps times the gradient, and with
lr L / eps >= 2 (L = 1.84 on the least squares) the iterates oscillate and amplify an ulp
difference (lr 0.01, eps 1e-3: one ulp at step 18 grows to 5.6e-4 by step 150 on an AVX2 CPU,
while another CPU's rounding happened to stay equal), which no tolerance tied to round-off can
absorb; with eps = 0.1 (lr L / eps = 0.18) the largest difference over 250 steps is 1.9e-16.
"""

from __future__ import annotations


import pytest
import torch
from torch.optim import lr_scheduler as S

from ratecheck.optimizers import get
from ratecheck.problems import get as get_problem

from tests._lib.core import least_squares, rel_err, run_torch, trajectory

T = 250


@pytest.fixture(params=["l1", "lsq"])
def problem(request):
    if request.param == "l1":
        return get_problem("l1_distance", d=10, seed=1)
    return least_squares(n=30, d=8, seed=2, interpolating=False)


@pytest.mark.parametrize("lr,b1,b2,eps,wd", [(0.02, 0.8, 0.99, 1e-6, 0.01), (0.01, 0.0, 0.9, 0.1, 0.0), (1e-3, 0.9, 0.999, 1e-8, 0.0)])
def test_adam_matches_torch(problem, lr, b1, b2, eps, wd):
    x0 = problem.x0(1, seed=4)
    make = lambda ps: torch.optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=False, maximize=False, foreach=False)  # noqa: E731
    tx, _, _ = run_torch(make, problem, x0[0], T)
    fx, _ = trajectory(get("adam"), problem, x0, T, lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd)
    assert rel_err(fx[:, 0], tx) < 1e-12
    assert not torch.equal(tx[-1], tx[0])


def test_adam_with_linear_decay_matches_torch(problem):
    x0 = problem.x0(1, seed=4)
    make = lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.85, 0.98), eps=1e-7, weight_decay=0.0, amsgrad=False, foreach=False)  # noqa: E731
    tx, lrs, _ = run_torch(make, problem, x0[0], T, lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=T))
    fx, info = trajectory(get("adam", schedule="linear"), problem, x0, T, lr=0.05, betas=(0.85, 0.98), eps=1e-7, T=T)
    assert rel_err(fx[:, 0], tx) < 1e-12 and rel_err(info["lr"][:, 0], torch.tensor(lrs)) < 1e-13


@pytest.mark.parametrize("lr,lr_decay,wd,acc,eps", [(0.2, 0.01, 0.01, 0.1, 1e-8), (0.5, 0.0, 0.0, 0.0, 1e-10)])
def test_adagrad_matches_torch(problem, lr, lr_decay, wd, acc, eps):
    x0 = problem.x0(1, seed=4)
    make = lambda ps: torch.optim.Adagrad(ps, lr=lr, lr_decay=lr_decay, weight_decay=wd, initial_accumulator_value=acc, eps=eps, foreach=False)  # noqa: E731
    tx, _, _ = run_torch(make, problem, x0[0], T)
    fx, info = trajectory(get("adagrad"), problem, x0, T, lr=lr, lr_decay=lr_decay, weight_decay=wd, initial_accumulator_value=acc, eps=eps)
    assert rel_err(fx[:, 0], tx) < 1e-13
    k = torch.arange(T, dtype=torch.float64)
    assert rel_err(info["lr"][:, 0], lr / (1 + k * lr_decay)) < 1e-15


def test_adagrad_norm_in_one_dimension_is_torch_adagrad():
    prob = least_squares(n=10, d=1, seed=5, interpolating=False)
    x0 = prob.x0(1, seed=1)
    make = lambda ps: torch.optim.Adagrad(ps, lr=0.7, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.3, eps=1e-9, foreach=False)  # noqa: E731
    tx, _, _ = run_torch(make, prob, x0[0], T)
    fx, info = trajectory(get("adagrad_norm"), prob, x0, T, lr=0.7, initial_accumulator_value=0.3, eps=1e-9)
    assert rel_err(fx[:, 0], tx) < 1e-13


def test_adagrad_norm_is_invariant_to_gradient_scale(problem):
    """With b_0 = eps = 0, x_{k+1} = x_k - eta g_k / ||g_{0..k}||: scaling f by 4 (exact) changes nothing."""

    class Scaled:
        def grad(self, x):
            return 4.0 * problem.grad(x)

        def value(self, x):
            return 4.0 * problem.value(x)

    x0 = problem.x0(2, seed=3)
    a, ia = trajectory(get("adagrad_norm"), problem, x0, T, lr=0.3, initial_accumulator_value=0.0, eps=0.0)
    b, ib = trajectory(get("adagrad_norm"), Scaled(), x0, T, lr=0.3, initial_accumulator_value=0.0, eps=0.0)
    assert torch.equal(a, b)
    assert torch.equal(4.0 * ia["b"], ib["b"])


def test_sps_max_with_c_one_solves_abs_in_one_step():
    """f = w|x - t| in 1-D: the Polyak step (f - f*)/||g||^2 = |x - t|/w lands on t exactly."""
    prob = get_problem("abs_1d")
    opt = get("sps_max")
    x0 = torch.tensor([[3.0], [-0.5], [1e-3]])
    s = opt.init(x0, gamma_max=100.0, c=1.0, f_star=0.0)
    s, info = opt.step(s, prob.grad(x0), prob.value(x0))
    assert torch.equal(s["x"], torch.zeros(3, 1))
    assert torch.equal(info["lr"], x0.abs()[:, 0])


def test_sps_max_polyak_distance_decrease(problem):
    """Deterministic Polyak step (c = 1, f_star = f*, no cap) on a convex f:
    ||x_{k+1} - x*||^2 <= ||x_k - x*||^2 - (f(x_k) - f*)^2 / ||g_k||^2 (Polyak 1987)."""
    opt = get("sps_max")
    x = problem.x0(3, seed=2)
    s = opt.init(x, gamma_max=1e6, c=1.0, f_star=problem.f_star)
    checked = 0
    for _ in range(100):
        x, f, g = s["x"], problem.value(s["x"]), problem.grad(s["x"])
        gap = f - problem.f_star
        if float(gap.min()) < 1e-8:  # below this the inequality is lost in round-off of f - f*
            break
        s, info = opt.step(s, g, f)
        before, after = problem.dist_to_opt(x) ** 2, problem.dist_to_opt(s["x"]) ** 2
        assert bool((after <= before - gap**2 / (g * g).sum(-1) + 1e-12 * before).all())
        checked += 1
    assert checked >= 5


def test_sps_max_caps_and_handles_zero_gradient():
    opt = get("sps_max")
    s = opt.init(torch.ones(2, 3), gamma_max=0.01, c=0.5)
    g = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    s, info = opt.step(s, g, torch.tensor([5.0, 5.0]))
    assert info["lr"].tolist() == [0.01, 0.01] and info["polyak"][0].item() == 10.0
    assert info["polyak"][1].item() == float("inf") and not bool(s["diverged"].any())
    assert torch.equal(s["x"][1], torch.ones(3))


@pytest.mark.parametrize(
    "name,hp,match",
    [
        ("adam", {"lr": -1.0}, r"adam: lr=-1.0 is out of range; allowed: \(0, inf\]"),
        ("adam", {"beta1": 1.0}, r"adam: beta1=1.0 is out of range; allowed: \[0, 1\)"),
        ("adam", {"betas": (0.9, -0.1)}, r"adam: beta2=-0.1 is out of range; allowed: \[0, 1\)"),
        ("adam", {"betas": (0.9,)}, r"betas=\(0.9,\) is out of range"),
        ("adam", {"lr": torch.ones(3)}, r"lr has shape \(3,\); allowed: a scalar or shape \[2\]"),
        ("adagrad", {"lr_decay": -0.1}, r"lr_decay=-0.1 is out of range; allowed: \[0, inf\]"),
        ("adagrad_norm", {"lr": 0.1, "eps": -1.0}, r"eps=-1.0 is out of range"),
        ("sps_max", {"gamma_max": 0.0}, r"gamma_max=0.0 is out of range; allowed: \(0, inf\]"),
        ("sps_max", {"gamma_max": 1.0, "c": -2.0}, r"c=-2.0 is out of range"),
    ],
)
def test_bad_hyperparameters(name, hp, match):
    with pytest.raises(ValueError, match=match):
        get(name).init(torch.zeros(2, 3), **hp)


def test_sps_needs_loss():
    opt = get("sps_max")
    with pytest.raises(ValueError, match="needs the loss"):
        opt.step(opt.init(torch.zeros(1, 2), gamma_max=1.0), torch.ones(1, 2))
