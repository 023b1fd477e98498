"""Momentum: PyTorch form vs torch.optim.SGD, and the exact PyTorch <-> heavy ball <-> SPA identities.

Cross-checks: float64, 250 steps, two problems, every hyper-parameter explicit, relative
tolerance 1e-13 (torch's fused add differs by an ulp). Identities (reference note
spa_momentum.md §2, [DERIVED]): iterates equal to relative 1e-11 over 250 steps (the
conversions divide by step sizes, so they are exact only up to round-off).
"""

from __future__ import annotations


import pytest
import torch
from torch.optim import lr_scheduler as S

from ratecheck.optimizers import get
from ratecheck.optimizers import momentum as M
from ratecheck.optimizers import schedules
from ratecheck.problems import get as get_problem

from tests._lib.core import least_squares, rel_err, run_torch, trajectory

T = 250
TOL = 1e-13
ID_TOL = 1e-11


@pytest.fixture(params=["l1", "lsq"])
def problem(request):
    if request.param == "l1":
        return get_problem("l1_distance", d=10, seed=1)
    return least_squares(n=30, d=8, seed=2, interpolating=False)


@pytest.mark.parametrize(
    "lr,mom,damp,nest,wd",
    [(0.02, 0.9, 0.0, False, 0.0), (0.03, 0.7, 0.3, False, 0.01), (0.01, 0.8, 0.0, True, 0.005), (0.02, 0.0, 0.5, False, 0.0)],
)
def test_pytorch_form_matches_torch_sgd(problem, lr, mom, damp, nest, wd):
    x0 = problem.x0(1, seed=4)
    make = lambda ps: torch.optim.SGD(ps, lr=lr, momentum=mom, dampening=damp, nesterov=nest, weight_decay=wd, foreach=False)  # noqa: E731
    tx, _, _ = run_torch(make, problem, x0[0], T)
    fx, info = trajectory(get("sgd_momentum"), problem, x0, T, lr=lr, momentum=mom, dampening=damp, nesterov=nest, weight_decay=wd)
    assert rel_err(fx[:, 0], tx) < TOL
    assert torch.equal(info["momentum"][:, 0], torch.full((T,), mom))


def test_pytorch_form_with_schedule_matches_torch(problem):
    x0 = problem.x0(1, seed=4)
    make = lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.9, dampening=0.1, nesterov=False, weight_decay=0.0, foreach=False)  # noqa: E731
    tx, lrs, _ = run_torch(make, problem, x0[0], T, lambda o: S.CosineAnnealingLR(o, T_max=T, eta_min=0.0))
    fx, info = trajectory(get("sgd_momentum", schedule="cosine"), problem, x0, T, lr=0.02, momentum=0.9, dampening=0.1, T=T)
    assert rel_err(fx[:, 0], tx) < TOL and rel_err(info["lr"][:, 0], torch.tensor(lrs)) < TOL


def _pytorch_run(problem, x0, lr_seq, mom, damp=0.0):
    base = float(lr_seq[0])
    return trajectory(get("sgd_momentum", schedule="custom"), problem, x0, T, lr=base, lr_schedule=lr_seq / base, momentum=mom, dampening=damp)


LR_SEQUENCES = {
    "constant": lambda: torch.full((T,), 0.02),
    "warmup_cosine": lambda: 0.02 * schedules.warmup_cosine(T, 25, min_factor=0.05),
    "step_drop": lambda: 0.02 * schedules.step(T, [100, 180], 0.1),
    "cosine": lambda: 0.02 * schedules.cosine(T, min_factor=0.05),
}


@pytest.mark.parametrize("seq", list(LR_SEQUENCES))
@pytest.mark.parametrize("damp", [0.0, 0.25])
def test_pytorch_equals_heavy_ball_under_conversion(problem, seq, damp):
    lr_seq = LR_SEQUENCES[seq]()
    x0 = problem.x0(1, seed=5)
    px, _ = _pytorch_run(problem, x0, lr_seq, 0.85, damp)
    alpha, beta = M.pytorch_to_heavy_ball(lr_seq, 0.85, damp)
    hx, info = trajectory(get("heavy_ball", schedule="custom"), problem, x0, T, **M.as_hp(lr=alpha, momentum=beta))
    assert rel_err(hx, px) < ID_TOL
    assert rel_err(info["lr"][:, 0], alpha) < 1e-15


@pytest.mark.parametrize("seq", ["constant", "step_drop", "cosine"])
def test_pytorch_equals_spa_under_conversion(problem, seq):
    lr_seq = LR_SEQUENCES[seq]()
    x0 = problem.x0(1, seed=6)
    px, _ = _pytorch_run(problem, x0, lr_seq, 0.9)
    eta, c = M.pytorch_to_spa(lr_seq, 0.9)
    if seq == "step_drop":
        assert float(c.min()) < 1e-6  # the note's point: a PyTorch drop makes c collapse in SPA form
    sx, _ = trajectory(get("spa", schedule="custom"), problem, x0, T, **M.as_hp(lr=eta, c=c))
    assert rel_err(sx, px) < ID_TOL
    # and back: SPA -> PyTorch recovers the sequences
    lr_back, mom_back = M.spa_to_pytorch(eta, c)
    assert rel_err(lr_back, lr_seq) < 1e-12 and rel_err(mom_back[1:], torch.full((T - 1,), 0.9)) < 1e-9


def test_warmup_has_no_spa_form():
    """A rising PyTorch lr pushes c_k past 1 (the fixed point 1 - beta is unstable, note §3)."""
    with pytest.raises(ValueError, match=r"no SPA form: c_\d+=.* leaves the allowed range \(0, 1\]"):
        M.pytorch_to_spa(LR_SEQUENCES["warmup_cosine"](), 0.9)


def test_constant_spa_parameters_and_gap_is_scaled_buffer(problem):
    lr, mu = 0.02, 0.9
    eta, c = M.constant_pytorch_to_spa(lr, mu)
    assert eta == pytest.approx(0.2, rel=1e-15) and c == pytest.approx(0.1, rel=1e-15)
    x0 = problem.x0(1, seed=7)
    opt_p, opt_s = get("sgd_momentum"), get("spa")
    sp, ss = opt_p.init(x0, lr=lr, momentum=mu), opt_s.init(x0, lr=eta, c=c)
    for _ in range(T):
        g = problem.grad(sp["x"])
        sp, _ = opt_p.step(sp, g)
        ss, _ = opt_s.step(ss, problem.grad(ss["x"]))
        assert rel_err(ss["x"], sp["x"]) < ID_TOL
        # z_k - x_k = -(lr mu / (1 - mu)) b_k   (note §2)
        assert rel_err(ss["z"] - ss["x"], -(lr * mu / (1 - mu)) * sp["buf"]) < 1e-10


def test_step_drop_numbers_of_the_note():
    """Note §3: lr 0.05 -> 0.005 at k0 with beta = 0.9: c goes 0.1 -> 0.01 -> 0.00909, reaches
    1.69e-9 150 steps after the drop (note's c_{k0+150}, our c[k0+149]) with eta ~ 3.0e6."""
    k0 = 100
    lr = torch.full((400,), 0.05)
    lr[k0:] = 0.005
    eta, c = M.pytorch_to_spa(lr, 0.9)
    assert c[k0 - 1].item() == pytest.approx(0.1, rel=1e-12)
    assert c[k0].item() == pytest.approx(0.01, rel=1e-12)
    assert c[k0 + 1].item() == pytest.approx(0.009090909, rel=1e-6)
    assert c[k0 + 149].item() == pytest.approx(1.69e-9, rel=5e-3)
    assert eta[k0 + 149].item() == pytest.approx(3.0e6, rel=2e-2)
    assert eta[k0].item() == pytest.approx(eta[k0 - 1].item(), rel=1e-12)  # eta is unchanged at the drop


def test_spa_with_c_one_is_sgd(problem):
    x0 = problem.x0(2, seed=8)
    sx, _ = trajectory(get("spa"), problem, x0, 50, lr=0.03, c=1.0)
    gx, _ = trajectory(get("sgd"), problem, x0, 50, lr=0.03)
    assert torch.equal(sx, gx)


def test_heavy_ball_to_spa_round_trip():
    g = torch.Generator().manual_seed(1)
    alpha = 0.01 + torch.rand(2, 40, generator=g, dtype=torch.float64) * 0.05
    beta = torch.full((2, 40), 0.8)
    beta[:, 20:] = 0.6  # a drop in beta: c falls towards 0 but stays positive over 20 steps
    eta, c = M.heavy_ball_to_spa(alpha, beta, c0=0.2)
    a2, b2 = M.spa_to_heavy_ball(eta, c)
    assert rel_err(a2, alpha) < 1e-12 and rel_err(b2[:, 1:], beta[:, 1:]) < 1e-12


def test_pep_primal_averaging_is_heavy_ball_with_k_over_k_plus_2():
    """Note §5.6: SPA with c_k = 1/(k+1) (our c[k] = 1/(k+2)) and eta = 1/L is heavy ball with
    alpha_k = 1/(L (k+2)), beta_k = k/(k+2) (PEPit's heavy_ball_momentum_qg_convex)."""
    L, n = 2.0, 30
    k = torch.arange(n, dtype=torch.float64)
    alpha, beta = M.spa_to_heavy_ball(torch.full((n,), 1 / L), 1 / (k + 2))
    assert rel_err(alpha, 1 / (L * (k + 2))) < 1e-15
    assert rel_err(beta[1:], k[1:] / (k[1:] + 2)) < 1e-15


@pytest.mark.parametrize(
    "name,hp,match",
    [
        ("sgd_momentum", {"lr": 0.1, "momentum": 1.0}, r"momentum=1.0 is out of range; allowed: \[0, 1\)"),
        ("sgd_momentum", {"lr": 0.1, "nesterov": True, "dampening": 0.1}, "nesterov=1 requires momentum > 0 and dampening = 0"),
        ("sgd_momentum", {"lr": 0.1, "nesterov": 0.5}, r"nesterov=0.5 is out of range; allowed: 0 or 1"),
        ("sgd_momentum", {"lr": 0.1, "dampening": 1.5}, r"dampening=1.5 is out of range; allowed: \[0, 1\]"),
        ("heavy_ball", {"lr": -1.0}, r"lr=-1.0 is out of range"),
        ("spa", {"lr": 0.1, "c": 0.0}, r"c=0.0 is out of range; allowed: \(0, 1\]"),
        ("spa", {"lr": 0.1, "c": 0.5, "c_schedule": torch.tensor([1.0, 3.0])}, r"effective c = c \* c_schedule\[k\]=1.5 is out of range; allowed: \(0, 1\]"),
    ],
)
def test_bad_hyperparameters(name, hp, match):
    with pytest.raises(ValueError, match=match):
        get(name).init(torch.zeros(2, 3), **hp)


def test_conversion_input_errors():
    with pytest.raises(ValueError, match=r"lr entry=0.0 is out of range; allowed: \(0, inf\)"):
        M.pytorch_to_heavy_ball(torch.tensor([0.1, 0.0]), 0.9)
    with pytest.raises(ValueError, match="has no SPA form"):
        M.heavy_ball_to_spa(torch.ones(3), torch.tensor([0.0, 0.5, 0.5]), c0=1.0)
    with pytest.raises(ValueError, match="not a multiple of its first value"):
        M.as_hp(momentum=torch.tensor([0.0, 0.5]))
