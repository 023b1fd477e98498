"""Schedule arrays: torch.optim.lr_scheduler factors and property tests (hypothesis)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ratecheck.optimizers import schedules as S


def _torch_factors(make_sched, T: int) -> torch.Tensor:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = make_sched(opt)
    out = []
    for _ in range(T):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("T", [1, 7, 300])
def test_linear_and_cosine_match_torch_schedulers(T):
    L = torch.optim.lr_scheduler
    assert torch.allclose(S.linear(T), _torch_factors(lambda o: L.LinearLR(o, 1.0, 0.0, total_iters=T), T), rtol=0, atol=1e-14)
    assert torch.allclose(S.linear(T, 0.3), _torch_factors(lambda o: L.LinearLR(o, 1.0, 0.3, total_iters=T), T), rtol=0, atol=1e-14)
    assert torch.allclose(S.cosine(T, 0.1), _torch_factors(lambda o: L.CosineAnnealingLR(o, T_max=T, eta_min=0.1), T), rtol=0, atol=1e-14)
    ms = [T // 3, T // 2]
    assert torch.allclose(S.step(T, ms, 0.5), _torch_factors(lambda o: L.MultiStepLR(o, ms, 0.5), T), rtol=0, atol=1e-15)


def test_linear_decay_is_one_minus_t_over_T():
    assert torch.equal(S.linear(4), torch.tensor([1.0, 0.75, 0.5, 0.25]))
    assert torch.equal(S.warmup_linear(6, 2), torch.tensor([0.5, 1.0, 1.0, 0.75, 0.5, 0.25]))


def test_make_dispatch_and_errors():
    assert torch.equal(S.make("cosine", 10), S.cosine(10))
    assert torch.equal(S.make("custom", 3, values=[1.0, 0.5, 0.25, 9.0]), torch.tensor([1.0, 0.5, 0.25]))
    with pytest.raises(ValueError, match="unknown schedule 'poly'"):
        S.make("poly", 3)
    with pytest.raises(ValueError, match=r"\['gamma'\] not parameters of schedule 'cosine'"):
        S.make("cosine", 3, gamma=0.1)
    with pytest.raises(ValueError, match=r"milestones=\[-1\] is out of range"):
        S.step(5, [-1])
    with pytest.raises(ValueError, match=r"lr_schedule length=2 is out of range; allowed: a length >= T = 3"):
        S.custom([1.0, 1.0], T=3)
    with pytest.raises(ValueError, match=r"lr_schedule entry=nan is out of range"):
        S.custom([1.0, math.nan])


T_ = st.integers(1, 400)
MF = st.floats(0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(T=T_, mf=MF)
def test_decays_start_at_one_stay_in_range_and_never_rise(T, mf):
    for m in (S.linear(T, mf), S.cosine(T, mf)):
        assert m.shape == (T,) and m[0].item() == 1.0
        assert bool((m >= mf - 1e-15).all()) and bool((m <= 1.0).all())
        assert bool((m[1:] <= m[:-1] + 1e-15).all())


@settings(max_examples=60, deadline=None)
@given(T=st.integers(2, 400), data=st.data())
def test_warmup_rises_to_one_then_decays(T, data):
    W = data.draw(st.integers(0, T - 1))
    power = data.draw(st.floats(0.1, 4.0))
    mf = data.draw(MF)
    for m in (S.warmup_linear(T, W, power, mf), S.warmup_cosine(T, W, mf)):
        assert bool((m[:W] > 0).all()) and bool((m[1:W] > m[: max(W - 1, 0)]).all())
        assert m.max().item() == 1.0 and m[W].item() == 1.0
        assert bool((m[W + 1 :] <= m[W:-1] + 1e-15).all()) and bool((m >= 0).all())
        if W:
            assert m[W - 1].item() == 1.0  # (k+1)/W reaches 1 at the last warm-up step


@settings(max_examples=60, deadline=None)
@given(T=T_, ms=st.lists(st.integers(0, 500), max_size=5), gamma=st.floats(0.01, 0.99))
def test_step_schedule_is_piecewise_constant_powers_of_gamma(T, ms, gamma):
    m = S.step(T, ms, gamma)
    k = torch.arange(T)
    count = torch.tensor([sum(1 for x in ms if x <= int(i)) for i in k], dtype=torch.float64)
    assert torch.allclose(m, torch.tensor(gamma, dtype=torch.float64) ** count, rtol=1e-14, atol=0)
    assert bool((m[1:] <= m[:-1]).all())
