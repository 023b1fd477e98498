"""The memory estimate refuses a run that would not fit, before allocating it, with one line."""

import time

import pytest
import torch

from ratecheck import optimizers, problems
from ratecheck.cli import main
from ratecheck.errors import RatecheckError
from ratecheck.experiments import memory
from ratecheck.experiments.runner import run


def test_a_huge_run_is_refused_at_once_naming_the_knobs():
    p = problems.get("l1_distance", d=20)
    x0 = p.x0(64, dtype=torch.float64)
    t0 = time.perf_counter()
    with pytest.raises(RatecheckError, match=r"needs about .* GiB .*10000000000 steps x 64 runs.*record.*max_batch") as e:
        run(p, optimizers.get("sgd"), x0, T=10**10, hp={"lr": 0.01})
    assert "\n" not in str(e.value)
    assert time.perf_counter() - t0 < 5.0  # refused before the loop (or a T-long schedule) starts


def test_estimate_covers_what_a_run_keeps_and_the_refusal_follows_availability(monkeypatch):
    # [T+1, B, d] kept iterates dominate here: the estimate must count at least those bytes.
    T, B, d = 50, 8, 100
    need = memory.run_bytes(T, B, d, 8, quantities=5, checkpoints=T + 1, stochastic=False, keep_iterates=True)
    assert need >= 2 * (T + 1) * B * d * 8
    # Fewer checkpoints, no kept iterates: smaller.
    assert memory.run_bytes(T, B, d, 8, quantities=5, checkpoints=10, stochastic=False, keep_iterates=False) < need
    p = problems.get("l1_distance", d=d)
    x0 = p.x0(B, dtype=torch.float64)
    tr = run(p, optimizers.get("sgd"), x0, T=T, hp={"lr": 0.01}, keep_iterates=True)
    assert tr.iterates["x"].shape == (T + 1, B, d)
    monkeypatch.setattr(memory, "available_bytes", lambda device: need - 1)
    with pytest.raises(RatecheckError, match="every iterate"):
        run(p, optimizers.get("sgd"), x0, T=T, hp={"lr": 0.01}, keep_iterates=True)


def test_cli_run_of_a_spec_too_large_exits_2_with_one_line(make_spec, results_registered, tmp_path, capsys):
    spec = make_spec()
    spec.write_text(spec.read_text().replace("T = 30", "T = 100000000").replace("record = 10", 'record = "all"'))
    with results_registered():
        assert main(["run", str(spec), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "record" in err[0] and "max_batch" in err[0], err
