"""Results as data (load, export), check --summary/--failing, and divergence reporting."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ratecheck.cli import main
from ratecheck.experiments import divergence, load
from ratecheck.experiments import spec as specmod
from ratecheck.experiments.store import Store
from ratecheck.experiments.sweep import run_spec
from ratecheck.experiments.trace import Trace

SPEC = """
name = "frames"
T = 30
seeds = 2
record = 10
results = ["test.lipschitz", "test.too_tight"]
[[problem]]
name = "l1_distance"
params = { d = 4 }
[[optimizer]]
name = "sgd"
label = "sgd"
lr = [0.01, 1e12]
[[optimizer]]
name = "sgd"
label = "sgd tiny"
lr = 0.001
"""


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    from tests.experiments.conftest import throwaway_results

    tmp = tmp_path_factory.mktemp("frames")
    (tmp / "frames.toml").write_text(SPEC)
    logged = []
    with throwaway_results(violated_provenance="DERIVED"):
        summ = run_spec(specmod.load(tmp / "frames.toml"), tmp / "res", progress=False, log=logged.append)
        yield summ, logged


def test_load_is_tidy_with_hyperparameters(stored):
    summ, _ = stored
    res = load(summ.path)
    cells = Store(summ.path).cells()
    n_rows = sum(len(c.steps) * len(c.arrays["seeds"]) for c in cells)
    assert len(res.runs) == n_rows
    assert {"cell", "problem", "optimizer", "run", "seed", "hp_lr", "step", "subopt", "lr", "diverged_run"} <= set(res.runs.columns)
    # one (cell, run, step) per row; the value is the stored array's entry at that step and run
    assert not res.runs.duplicated(["cell", "run", "step"]).any()
    c = cells[0]
    row = res.runs[(res.runs.cell == c.path.stem) & (res.runs.run == 3) & (res.runs.step == c.steps[2])]
    assert row.subopt.item() == c.trace("subopt")[2, 3] and row.hp_lr.item() == c.arrays["hp/lr"][3]
    assert len(res.checks) == 4 and set(res.checks.status) == {"ok", "VIOLATED"}
    assert res.manifest["spec"] == "frames"


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_round_trips(stored, tmp_path, capsys, fmt):
    summ, _ = stored
    assert main(["export", str(summ.path), "--format", fmt, "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / f"runs.{fmt}"), str(tmp_path / f"checks.{fmt}")]
    read = pd.read_parquet if fmt == "parquet" else pd.read_csv
    runs = read(tmp_path / f"runs.{fmt}")
    mem = load(summ.path).runs
    assert list(runs.columns) == list(mem.columns) and len(runs) == len(mem)
    np.testing.assert_array_equal(runs.subopt.to_numpy(), mem.subopt.to_numpy())


def test_escaped_runs_count_as_diverged_and_are_reported(stored, capsys):
    summ, logged = stored
    # sgd at lr 1e12 on |x - x*|_1 jumps 1e12 away and stays finite: escaped, not frozen
    assert "diverged: l1_distance / sgd: 2/4 runs at lr=1e+12 (2 runs)" in logged
    c = next(c for c in Store(summ.path).cells() if c.label == "sgd")
    assert c.meta["diverged_escaped"] == 2 and c.meta["diverged_nonfinite"] == 0
    assert c.arrays["run/escaped"].tolist() == [False, False, True, True]
    assert summ.divergence == "diverged: 2/6 runs in 1 cell"
    assert main(["check", str(summ.path), "--wide"]) == 1
    out = capsys.readouterr().out
    assert "lr=1e+12 (2 runs)" in out and out.rstrip().endswith("diverged: 2/6 runs in 1 cell")


def test_check_summary_and_failing(stored, capsys):
    summ, _ = stored
    assert main(["check", str(summ.path), "--summary"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    by_key = {ln.split()[0]: ln for ln in lines if ln.startswith("test.")}
    assert set(by_key) == {"test.lipschitz", "test.too_tight"}
    assert "2 VIOLATED" in by_key["test.too_tight"] and "2 ok" in by_key["test.lipschitz"]
    assert main(["check", str(summ.path), "--failing"]) == 1
    out = capsys.readouterr().out
    assert "test.too_tight" in out and "test.lipschitz" not in out


def _trace(subopt, frozen):
    f = torch.tensor(subopt, dtype=torch.float64)
    return Trace(torch.arange(f.shape[0]), {"subopt": f, "diverged": torch.tensor(frozen, dtype=torch.float64).expand_as(f)})


def test_escape_criterion():
    start = [2.0, 0.0, 5.0, 1.0, 1.0]
    peak = [1e55, 0.5e10, 5.1e10, math.nan, 3.0]
    frozen, escaped = divergence.diverged_runs(_trace([start, peak], [0, 0, 0, 0, 1]))
    # 1e55 escaped; 0.5e10 <= 1e10 x max(0, 1); 5.1e10 > 1e10 x 5; NaN rows are skipped; a frozen run is not "escaped"
    assert escaped.tolist() == [True, False, True, False, False]
    assert frozen.tolist() == [False, False, False, False, True]
