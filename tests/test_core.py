"""Core pieces: registries, counter-based sampling, atomic writes, the optimizer contract."""

import json
import math

import pytest
import torch

from ratecheck.atomic import atomic_write_json
from ratecheck.errors import RatecheckError
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.rng import sample_indices


def test_unknown_names_list_known_ones():
    with pytest.raises(RatecheckError, match="known problems: .*l1_distance"):
        get_problem("no_such_problem")
    with pytest.raises(RatecheckError, match="known optimizers: .*sgd"):
        get_opt("no_such_optimizer")


def test_sampling_is_per_run_and_batch_independent():
    seeds = torch.tensor([3, 7, 11, 7])
    idx = sample_indices(seeds, step=5, batch_size=16, n=37)
    assert idx.shape == (4, 16) and int(idx.min()) >= 0 and int(idx.max()) < 37
    assert torch.equal(idx[1], idx[3])  # same seed, same draws
    assert not torch.equal(idx[0], idx[1])
    for b, s in enumerate(seeds.tolist()):
        assert torch.equal(idx[b], sample_indices(torch.tensor([s]), 5, 16, 37)[0])
    assert not torch.equal(idx, sample_indices(seeds, step=6, batch_size=16, n=37))


def test_sampling_a_block_of_steps_draws_what_each_step_draws():
    """Steps drawn together ([S] steps -> [S, B, m], as the runner and theory draw 32 at a time)
    give each step's own draws, for seeds that wrap int64 in the hash and steps in any order."""
    from ratecheck.problems import get as get_problem

    seeds = torch.tensor([0, 5, 2**40, -3])
    steps = torch.tensor([100, 7, 2**33, 8])
    block = sample_indices(seeds, steps, 6, 37)
    assert block.shape == (4, 4, 6)
    for i, t in enumerate(steps.tolist()):
        assert torch.equal(block[i], sample_indices(seeds, t, 6, 37))
    p = get_problem("least_squares")
    got = list(p.indices_by_step(seeds, range(3, 73), 5))  # 70 steps: two full blocks and a partial one
    assert len(got) == 70
    assert all(torch.equal(g, p.sample_indices(seeds, t, 5)) for t, g in zip(range(3, 73), got))


def test_sampling_is_roughly_uniform():
    idx = sample_indices(torch.arange(200), step=0, batch_size=500, n=10)
    counts = torch.bincount(idx.flatten(), minlength=10).double()
    expected = idx.numel() / 10
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 40  # 9 dof: p ~ 1e-5 tail


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_json(p, {"x": 1})
    atomic_write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    assert [f.name for f in tmp_path.iterdir()] == ["a.json"]


def test_nan_gradient_freezes_only_its_run():
    opt = get_opt("sgd")
    x0 = torch.ones(3, 4)
    s = opt.init(x0, lr=0.5)
    g = torch.ones(3, 4)
    g[1, 2] = math.nan
    s, info = opt.step(s, g)
    assert info["diverged"].tolist() == [False, True, False]
    assert torch.equal(s["x"][1], x0[1])
    assert torch.allclose(s["x"][0], torch.full((4,), 0.5))
    s, _ = opt.step(s, torch.ones(3, 4))
    assert torch.equal(s["x"][1], x0[1]) and bool(s["diverged"][1])


def test_bad_hyperparameters_name_the_value():
    opt = get_opt("sgd")
    with pytest.raises(ValueError, match=r"lr=-1.0 is out of range; allowed: \(0, inf\]"):
        opt.init(torch.ones(2, 3), lr=-1.0)
    with pytest.raises(ValueError, match="shape"):
        opt.init(torch.ones(2, 3), lr=torch.ones(3))
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        opt.init(torch.ones(2, 3), lr=1.0, momentum=0.9)
