"""The runner donates the state from two steps back to each optimizer step (``step(..., out=)``):
its records equal those of a run whose steps allocate every output, bit for bit in float64, for
deterministic and stochastic oracles (the latter keep x at checkpoints, which must not be
donated). Runs whose x is smaller than ``runner.DONATE_MIN_BYTES`` are not donated (the
bookkeeping costs more than a fresh small block); the bit-for-bit test lowers that size to 0."""

from __future__ import annotations

import pytest
import torch

from ratecheck.experiments import runner
from ratecheck.experiments.runner import run
from ratecheck.optimizers import base, get
from tests._lib.core import least_squares

PROBLEM = least_squares(n=40, d=6, seed=3)


@pytest.mark.parametrize("name", ["adam", "dadapt_adam_code", "mechanic", "momo_adam"])
@pytest.mark.parametrize("stochastic", [False, True], ids=["full", "minibatch"])
def test_donating_runner_records_the_same_bits(monkeypatch, name, stochastic):
    monkeypatch.setattr(runner, "DONATE_MIN_BYTES", 0)  # donate at this test's small size
    kw = {"batch_size": 3, "checkpoints": torch.tensor([0, 5, 17, 40, 60])} if stochastic else {}
    x0 = PROBLEM.x0(4, seed=1)
    donated = run(PROBLEM, get(name), x0, 60, hp=dict(get(name).example_hp), **kw).data
    step = base.Optimizer.step
    monkeypatch.setattr(base.Optimizer, "step", lambda self, s, g, loss=None, idx=None, out=None: step(self, s, g, loss, idx))
    fresh = run(PROBLEM, get(name), x0, 60, hp=dict(get(name).example_hp), **kw).data
    assert set(donated) == set(fresh)
    for k, v in fresh.items():
        torch.testing.assert_close(donated[k], v, rtol=0, atol=0, equal_nan=True, msg=f"{name}: {k}")


@pytest.mark.parametrize("d,donates", [(6, False), (600, True)])
def test_runner_donates_from_the_size_threshold_on(monkeypatch, d, donates):
    """[4 x 6] float64 (192 bytes) is below ``DONATE_MIN_BYTES`` (128 KiB): every step gets
    ``out=None``; with the threshold lowered to the size of [4 x 600] (19200 bytes) every step
    from the second on gets the older state (the input of the step before)."""
    problem = least_squares(n=10, d=d, seed=3)
    x0 = problem.x0(4, seed=1)
    if donates:
        monkeypatch.setattr(runner, "DONATE_MIN_BYTES", x0.numel() * x0.element_size())
    outs = []
    step = base.Optimizer.step

    def spy(self, s, g, loss=None, idx=None, out=None):
        outs.append(out)
        return step(self, s, g, loss, idx, out=out)

    monkeypatch.setattr(base.Optimizer, "step", spy)
    run(problem, get("adam"), x0, 6, hp={"lr": 0.01})
    assert len(outs) == 6
    assert outs[0] is None
    assert all((o is not None) == donates for o in outs[1:]), [o is not None for o in outs]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=["f64", "f32", "bf16"])
@pytest.mark.parametrize("stochastic", [False, True], ids=["full", "minibatch"])
def test_deferred_norms_record_the_same_bits(monkeypatch, dtype, stochastic):
    """A small CPU run (below ``DONATE_MIN_BYTES``) keeps x_t and g_t of up to CHUNK steps and
    reduces them per block (distances, gradient norms); its records, the averages at the
    checkpoints included, equal those of the per-step path (forced here by lowering
    the threshold to 0, where the runner donates and reduces every step) bit for bit, with
    checkpoints inside and across blocks. Also checks that the two paths were taken."""
    kw = {"batch_size": 3} if stochastic else {}
    x0 = PROBLEM.x0(4, seed=1, dtype=dtype)
    cp = torch.tensor([0, 1, 5, 31, 32, 33, 64, 70, 99, 100])
    calls = []
    step = base.Optimizer.step

    def spy(self, s, g, loss=None, idx=None, out=None):
        calls.append(out is not None)
        return step(self, s, g, loss, idx, out=out)

    monkeypatch.setattr(base.Optimizer, "step", spy)
    hp = dict(get("adam").example_hp)
    deferred = run(PROBLEM, get("adam"), x0, 100, hp=dict(hp), checkpoints=cp, **kw).data
    assert not any(calls), "the small run donated"
    monkeypatch.setattr(runner, "DONATE_MIN_BYTES", 0)
    per_step = run(PROBLEM, get("adam"), x0, 100, hp=dict(hp), checkpoints=cp, **kw).data
    assert calls.count(True) == 99, "the forced run did not take the per-step (donating) path"
    assert set(deferred) == set(per_step)
    for k, v in per_step.items():
        torch.testing.assert_close(deferred[k], v, rtol=0, atol=0, equal_nan=True, msg=k)
