"""SGD and its schedules against torch.optim.SGD + torch.optim.lr_scheduler, step by step.

float64, every hyper-parameter passed explicitly, 250 steps, two problems (weighted l1 distance,
and a noisy least squares built in the test). Tolerance: relative 1e-13 on the iterates (the
torch schedulers use recursive "chainable" formulas, so their lrs differ from the closed forms
by round-off; torch's fused add differs by an ulp).
"""

from __future__ import annotations


import pytest
import torch
from torch.optim import lr_scheduler as S

from ratecheck.optimizers import get
from ratecheck.problems import get as get_problem

from tests._lib.core import least_squares, rel_err, run_torch, trajectory

TOL = 1e-13
T = 250
LR = 0.03


@pytest.fixture(params=["l1", "lsq"])
def problem(request):
    if request.param == "l1":
        return get_problem("l1_distance", d=10, seed=1)
    return least_squares(n=30, d=8, seed=2, interpolating=False)


def _compare(problem, make_torch, scheduler, options, hp):
    x0 = problem.x0(1, seed=4)
    tx, lrs, _ = run_torch(make_torch, problem, x0[0], T, scheduler)
    fx, info = trajectory(get("sgd", **options), problem, x0, T, **hp)
    assert rel_err(fx[:, 0], tx) < TOL
    assert rel_err(info["lr"][:, 0], torch.tensor(lrs)) < TOL
    assert not torch.equal(tx[-1], tx[0])


def _sgd(wd=0.0):
    return lambda ps: torch.optim.SGD(ps, lr=LR, momentum=0.0, dampening=0.0, weight_decay=wd, nesterov=False, foreach=False)


def test_constant_with_weight_decay(problem):
    _compare(problem, _sgd(0.01), None, {}, {"lr": LR, "weight_decay": 0.01})


def test_linear_decay_vs_LinearLR(problem):
    _compare(problem, _sgd(), lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=T),
             {"schedule": "linear"}, {"lr": LR, "T": T})


def test_linear_with_floor_vs_LinearLR(problem):
    _compare(problem, _sgd(), lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=T),
             {"schedule": "linear"}, {"lr": LR, "T": T, "min_factor": 0.2})


def test_cosine_vs_CosineAnnealingLR(problem):
    _compare(problem, _sgd(), lambda o: S.CosineAnnealingLR(o, T_max=T, eta_min=0.1 * LR),
             {"schedule": "cosine"}, {"lr": LR, "T": T, "min_factor": 0.1})


def test_step_vs_MultiStepLR(problem):
    _compare(problem, _sgd(), lambda o: S.MultiStepLR(o, milestones=[50, 120, 120], gamma=0.3),
             {"schedule": "step"}, {"lr": LR, "T": T, "milestones": [50, 120, 120], "gamma": 0.3})


def test_warmup_cosine_vs_SequentialLR(problem):
    W = 20
    sched = lambda o: S.SequentialLR(  # noqa: E731
        o, [S.LinearLR(o, start_factor=1 / W, end_factor=1.0, total_iters=W - 1), S.CosineAnnealingLR(o, T_max=T - W, eta_min=0.0)], [W]
    )
    _compare(problem, _sgd(), sched, {"schedule": "warmup_cosine"}, {"lr": LR, "T": T, "warmup": W})


def test_warmup_polynomial_vs_SequentialLR(problem):
    W = 30
    sched = lambda o: S.SequentialLR(  # noqa: E731
        o, [S.LinearLR(o, start_factor=1 / W, end_factor=1.0, total_iters=W - 1), S.PolynomialLR(o, total_iters=T - W, power=2.0)], [W]
    )
    _compare(problem, _sgd(), sched, {"schedule": "warmup_linear"}, {"lr": LR, "T": T, "warmup": W, "power": 2.0})


def test_custom_array_vs_LambdaLR(problem):
    g = torch.Generator().manual_seed(0)
    m = torch.rand(T, generator=g, dtype=torch.float64)
    _compare(problem, _sgd(), lambda o: S.LambdaLR(o, lambda k: float(m[k]) if k < T else 0.0),
             {"schedule": "custom"}, {"lr": LR, "lr_schedule": m})


def test_refined_kind_with_constant_norms_is_linear_decay():
    prob = get_problem("l1_distance", d=5, seed=0)
    n = 80
    _, info = trajectory(get("sgd", schedule="refined"), prob, prob.x0(2), n, lr=0.5, norms=torch.full((n,), 3.0), T=n)
    expected = 0.5 * (1.0 - torch.arange(n, dtype=torch.float64) / (n - 1))
    assert rel_err(info["lr"][:, 0], expected) < 1e-12 and rel_err(info["lr"][:, 1], expected) < 1e-12


def test_per_run_schedule_rows_and_lrs():
    prob = get_problem("l1_distance", d=5, seed=0)
    m = torch.stack([torch.linspace(1, 0, 20), torch.ones(20)])
    _, info = trajectory(get("sgd", schedule="custom"), prob, prob.x0(2), 20, lr=torch.tensor([0.1, 0.2]), lr_schedule=m)
    assert torch.equal(info["lr"][:, 0], 0.1 * m[0]) and torch.equal(info["lr"][:, 1], 0.2 * m[1])


def test_lr_schedule_with_the_default_schedule_is_custom():
    opt = get("sgd")
    s = opt.init(torch.zeros(2, 3), lr=0.5, lr_schedule=torch.tensor([1.0, 0.25]))
    s, i0 = opt.step(s, torch.ones(2, 3))
    s, i1 = opt.step(s, torch.ones(2, 3))
    assert i0["lr"].tolist() == [0.5, 0.5] and i1["lr"].tolist() == [0.125, 0.125]
    with pytest.raises(ValueError, match="beyond"):
        opt.step(s, torch.ones(2, 3))


def test_step_beyond_schedule_raises():
    opt = get("sgd", schedule="cosine")
    s = opt.init(torch.zeros(2, 3), lr=0.1, T=3)
    for _ in range(3):
        s, _ = opt.step(s, torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"step k=3 is beyond the lr schedule's length T=3"):
        opt.step(s, torch.ones(2, 3))
    s = get("sgd").init(torch.zeros(2, 3), lr=0.1, T=1)  # a constant schedule with a horizon also stops
    s, _ = get("sgd").step(s, torch.ones(2, 3))
    with pytest.raises(ValueError, match="beyond"):
        get("sgd").step(s, torch.ones(2, 3))


@pytest.mark.parametrize(
    "options,hp,match",
    [
        ({"schedule": "linear"}, {"lr": 0.1}, "needs the horizon T"),
        ({"schedule": "linear"}, {"lr": 0.1, "T": 0}, r"T=0 is out of range; allowed: integers >= 1"),
        ({"schedule": "custom"}, {"lr": 0.1, "lr_schedule": torch.ones(5), "T": 6}, r"lr_schedule length=5 is out of range; allowed: a length >= T = 6"),
        ({"schedule": "custom"}, {"lr": 0.1, "lr_schedule": -torch.ones(5)}, r"lr_schedule entry=-1.0 is out of range; allowed: finite values >= 0"),
        ({"schedule": "custom"}, {"lr": 0.1, "lr_schedule": torch.ones(3, 5)}, r"shape \(3, 5\); allowed: \[T\] or \[2, T\]"),
        ({"schedule": "custom"}, {"lr": 0.1}, "needs lr_schedule"),
        ({"schedule": "linear"}, {"lr": 0.1, "T": 5, "lr_schedule": torch.ones(5)}, "needs schedule='custom'"),
        ({"schedule": "linear"}, {"lr": 0.1, "T": 5, "milestones": [2]}, r"\['milestones'\] not parameters of schedule 'linear'"),
        ({"schedule": "warmup_cosine"}, {"lr": 0.1, "T": 5, "warmup": 5}, r"warmup=5 is out of range; allowed: integers in \[0, T\)"),
        ({"schedule": "cosine"}, {"lr": 0.1, "T": 5, "min_factor": 1.5}, r"min_factor=1.5 is out of range; allowed: \[0, 1\]"),
        ({"schedule": "step"}, {"lr": 0.1, "T": 5, "milestones": [2], "gamma": 0.0}, r"gamma=0.0 is out of range"),
        ({"schedule": "refined"}, {"lr": 0.1, "T": 5}, "needs norms"),
        ({}, {"lr": -0.1}, r"sgd: lr=-0.1 is out of range; allowed: \(0, inf\]"),
        ({}, {"lr": 0.1, "weight_decay": -1.0}, r"weight_decay=-1.0 is out of range; allowed: \[0, inf\]"),
        ({}, {"lr": 0.1, "c_schedule": torch.ones(3)}, "c_schedule is not accepted"),
    ],
)
def test_bad_input_names_parameter_and_range(options, hp, match):
    with pytest.raises(ValueError, match=match):
        get("sgd", **options).init(torch.zeros(2, 3), **hp)


def test_unknown_schedule_kind():
    with pytest.raises(ValueError, match="unknown schedule 'exp'; known schedules: .*linear"):
        get("sgd", schedule="exp")


# -- psgd: SGD with a fixed diagonal preconditioner --------------------------------------------------


@pytest.mark.parametrize("wd", [0.0, 0.02])
def test_psgd_matches_plain_loop(problem, wd):
    """float64: psgd (per-run a [B, d], linear schedule) against x <- x - lr (1 - k/T) (g + wd x) / a,
    run by run; its dual_norm and grad_l1 against the same loop's gradients."""
    B = 3
    x0 = problem.x0(B, seed=4)
    a = 0.5 + torch.rand(B, problem.d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lr = torch.tensor([0.01, 0.03, 0.1], dtype=torch.float64)
    xs, info = trajectory(get("psgd", schedule="linear"), problem, x0, T, lr=lr, a=a, T=T, weight_decay=wd)
    for b in range(B):
        x = x0[b : b + 1].clone()
        for k in range(T):
            g = problem.grad(x)
            assert torch.allclose(info["dual_norm"][k, b], torch.sqrt((g * g / a[b]).sum()), rtol=TOL, atol=0)
            assert torch.allclose(info["grad_l1"][k, b], g.abs().sum(), rtol=TOL, atol=0)
            x = x - lr[b] * (1.0 - k / T) * (g + wd * x) / a[b]
            assert rel_err(xs[k + 1, b], x[0]) < TOL
    assert not torch.equal(xs[-1], xs[0])


def test_psgd_problem_scale_and_scalar_a():
    """precond='problem' uses the problem's coordinate_scale (l1_distance: its weights w); a scalar a
    is SGD with lr / a."""
    pb = get_problem("l1_distance", d=6, seed=2)
    x0 = pb.x0(2, seed=1)
    opt = get("psgd", precond="problem")
    assert opt.problem_kwargs == ("coordinate_scale",)
    xs, _ = trajectory(opt, pb, x0, 20, lr=0.05, coordinate_scale=pb.coordinate_scale)
    xw, _ = trajectory(get("psgd"), pb, x0, 20, lr=0.05, a=torch.as_tensor(pb.coordinate_scale))
    assert torch.equal(xs, xw)
    xa, _ = trajectory(get("psgd"), pb, x0, 20, lr=0.1, a=2.0)
    xg, _ = trajectory(get("sgd"), pb, x0, 20, lr=0.05)
    assert rel_err(xa, xg) < TOL


@pytest.mark.parametrize(
    "options,hp,match",
    [
        ({}, {"lr": 0.1}, r"psgd needs a= \(or precond='problem'\); allowed: a scalar, \[3\] or \[2, 3\]"),
        ({}, {"lr": 0.1, "a": torch.ones(4)}, r"a has shape \(4,\); allowed: a scalar, \[3\] or \[2, 3\]"),
        ({}, {"lr": 0.1, "a": torch.tensor([1.0, 0.0, 1.0])}, r"psgd: a entry=0.0 is out of range; allowed: finite values > 0"),
        ({"precond": "problem"}, {"lr": 0.1, "coordinate_scale": None}, "the problem has no coordinate_scale"),
        ({"precond": "problem"}, {"lr": 0.1, "a": 1.0}, r"a= is not accepted with precond='problem'"),
    ],
)
def test_psgd_bad_input(options, hp, match):
    with pytest.raises(ValueError, match=match):
        get("psgd", **options).init(torch.zeros(2, 3), **hp)


def test_psgd_unknown_precond():
    with pytest.raises(ValueError, match="unknown precond 'adam'"):
        get("psgd", precond="adam")
