"""The runner donates the state from two steps back to each optimizer step (``step(..., out=)``):
its records equal those of a run whose steps allocate every output, bit for bit in float64, for
deterministic and stochastic oracles (the latter keep x at checkpoints, which must not be
donated)."""

from __future__ import annotations

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import base, get
from tests._lib.core import least_squares

PROBLEM = least_squares(n=40, d=6, seed=3)


@pytest.mark.parametrize("name", ["adam", "dadapt_adam_code", "mechanic", "momo_adam"])
@pytest.mark.parametrize("stochastic", [False, True], ids=["full", "minibatch"])
def test_donating_runner_records_the_same_bits(monkeypatch, name, stochastic):
    kw = {"batch_size": 3, "checkpoints": torch.tensor([0, 5, 17, 40, 60])} if stochastic else {}
    x0 = PROBLEM.x0(4, seed=1)
    donated = run(PROBLEM, get(name), x0, 60, hp=dict(get(name).example_hp), **kw).data
    step = base.Optimizer.step
    monkeypatch.setattr(base.Optimizer, "step", lambda self, s, g, loss=None, idx=None, out=None: step(self, s, g, loss, idx))
    fresh = run(PROBLEM, get(name), x0, 60, hp=dict(get(name).example_hp), **kw).data
    assert set(donated) == set(fresh)
    for k, v in fresh.items():
        torch.testing.assert_close(donated[k], v, rtol=0, atol=0, equal_nan=True, msg=f"{name}: {k}")
