"""The torch.optim adapter: param groups as runs, lr schedulers, closures, options, errors."""

from __future__ import annotations

import pytest
import torch
from torch.optim import lr_scheduler as S

from ratecheck.optimizers import TorchAdapter, get, torch_optimizer
from ratecheck.problems import get as get_problem

PROB = get_problem("l1_distance", d=6, seed=0)


def _grad(p):
    return PROB.grad(p.detach()[None])[0]


def test_param_groups_are_independent_runs():
    x0 = PROB.x0(2, seed=1)
    ps = [torch.nn.Parameter(x0[0].clone()), torch.nn.Parameter(x0[1].clone())]
    opt = torch_optimizer("sgd_momentum", [{"params": [ps[0]], "lr": 0.05}, {"params": [ps[1]], "lr": 0.01, "momentum": 0.5}], momentum=0.9)
    f = get("sgd_momentum")
    s = f.init(x0, lr=torch.tensor([0.05, 0.01]), momentum=torch.tensor([0.9, 0.5]))
    for _ in range(40):
        for p in ps:
            p.grad = _grad(p)
        opt.step()
        s, info = f.step(s, PROB.grad(s["x"]))
        assert torch.equal(torch.stack([p.detach() for p in ps]), s["x"])
    assert torch.equal(opt.param_groups[1]["info"]["momentum"], torch.tensor([0.5]))


def test_torch_lr_scheduler_drives_the_adapter_like_torch_sgd():
    x0 = PROB.x0(1, seed=2)[0]
    p, q = torch.nn.Parameter(x0.clone()), torch.nn.Parameter(x0.clone())
    ours = torch_optimizer("sgd_momentum", [p], lr=0.05, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0)
    ref = torch.optim.SGD([q], lr=0.05, momentum=0.9, foreach=False)
    s1, s2 = S.CosineAnnealingLR(ours, T_max=60), S.CosineAnnealingLR(ref, T_max=60)
    for _ in range(60):
        p.grad, q.grad = _grad(p), _grad(q)
        ours.step()
        ref.step()
        s1.step()
        s2.step()
    assert torch.allclose(p, q, rtol=0, atol=1e-14) and not torch.equal(p.detach(), x0)


def test_schedule_option_and_horizon_through_the_adapter():
    p = torch.nn.Parameter(torch.ones(3))
    opt = TorchAdapter([p], "sgd", {"schedule": "linear"}, lr=0.1, T=2)
    for _ in range(2):
        p.grad = torch.ones(3)
        opt.step()
    assert opt.param_groups[0]["info"]["lr"].item() == pytest.approx(0.05)
    p.grad = torch.ones(3)
    with pytest.raises(ValueError, match="beyond the lr schedule's length T=2"):
        opt.step()


def test_closure_gives_the_loss_to_polyak():
    p = torch.nn.Parameter(torch.tensor([3.0]))
    opt = torch_optimizer("sps_max", [p], gamma_max=10.0, c=1.0)

    def closure():
        opt.zero_grad()
        loss = p.abs().sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert p.item() == 0.0  # one exact Polyak step on |x|
    with pytest.raises(ValueError, match="needs the loss"):
        p.grad = torch.ones(1)
        opt.step()


def test_needs_indices_error_and_unknown_option():
    p = torch.nn.Parameter(torch.zeros(2))
    p.grad = torch.ones(2)
    opt = torch_optimizer("taps", [p], lr=0.5, n=4, f_star=0.0)
    with pytest.raises(ValueError, match="needs the minibatch's sample indices"):
        opt.step(loss=torch.tensor(1.0))
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        q = torch.nn.Parameter(torch.zeros(2))
        q.grad = torch.ones(2)
        torch_optimizer("sgd", [q], lr=0.1, betas=(0.9, 0.9)).step()


def test_float32_parameters_stay_float32():
    p = torch.nn.Parameter(torch.ones(4, dtype=torch.float32))
    opt = torch_optimizer("adam", [p], lr=0.01)
    p.grad = torch.ones(4, dtype=torch.float32)
    opt.step()
    assert p.dtype == torch.float32 and opt.state["ratecheck_group_0"]["m"].dtype == torch.float32
