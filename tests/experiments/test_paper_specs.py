"""The per-paper specs behind `ratecheck reproduce PAPER` (experiments/specs/<paper>.toml).

Default run: every shipped paper spec validates (names, options, grids, result keys; each
(problem, optimizer) pair initialised once) and has the shape the reproductions promise; two
cheap specs also run end to end with --quick through the CLI and must exit 0, i.e. no asserted
theory result is violated or fails to evaluate. Heavy run (`make test-heavy`): every spec
through `ratecheck reproduce --quick`, figures included.
"""

from __future__ import annotations

import csv

import pytest

from ratecheck import papers
from ratecheck.cli import main, shipped_specs
from ratecheck.experiments import spec as specmod
from ratecheck.theory import report

PAPERS = tuple(p.key for p in papers.PAPERS if p.optimizers)  # every paper with methods has a spec

CHEAP = ("prodigy", "momo")  # run end to end in the default suite (~10-15 s each on a busy 2-core box)


def _load(paper: str):
    return specmod.load(shipped_specs()[paper])


@pytest.mark.parametrize("paper", PAPERS)
def test_paper_spec_validates(paper):
    shipped = shipped_specs()
    assert paper in shipped, f"experiments/specs/{paper}.toml is not shipped"
    s = _load(paper)
    assert s.name == paper  # the results folder and `reproduce PAPER` use this name
    assert 16 <= len(s.seeds) <= 32
    assert s.dtype == "float64"  # theory is checked in float64 only
    assert s.results == "auto"  # results added later for these optimizers are picked up
    q = s.quick()
    assert q.T <= 200 and len(q.seeds) <= 4 and q.name == paper + "-quick"


def test_every_paper_spec_is_a_reproduce_target():
    papers = set(shipped_specs()) - {"demo"}
    assert papers >= set(PAPERS)


def test_reproduce_rejects_unknown_paper(capsys, tmp_path):
    assert main(["reproduce", "no_such_paper", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown paper 'no_such_paper'" in err and "dadaptation" in err


def _asserted_rows(result_root):
    (folder,) = [p for p in result_root.iterdir() if p.is_dir()]
    with open(folder / "checks.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return folder, rows


def _check_outcome(paper, root):
    folder, rows = _asserted_rows(root)
    assert folder.name.startswith(paper + "-quick-")
    bad = report.failing(rows)
    assert not bad, bad
    # The spec must actually test something: at least one theorem checked on some run.
    checked = [r for r in rows if r["status"] == "ok" and r["role"] == "theorem" and int(r["checked"]) > 0]
    assert checked, f"{paper}: no theorem was checked on any run"
    return folder


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("paper", CHEAP)
def test_paper_spec_quick_run(paper, dtype, tmp_path):
    """No asserted violation in float64, nor in float32 (the tolerance follows the run's dtype)."""
    code = main(["run", paper, "--quick", "--dtype", dtype, "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    _check_outcome(paper, tmp_path)


@pytest.mark.heavy
@pytest.mark.parametrize("paper", (*PAPERS, "demo"))
def test_every_spec_float32_has_no_asserted_violation(paper, tmp_path):
    """Beyond the default suite (the CHEAP specs only): every paper's quick spec and the demo run
    in float32 end to end, so no result's tolerance raises a round-off false alarm there."""
    assert main(["run", paper, "--quick", "--dtype", "float32", "--out", str(tmp_path), "--no-progress"]) == 0
    _check_outcome(paper, tmp_path)


@pytest.mark.heavy
@pytest.mark.parametrize("paper", PAPERS)
def test_paper_reproduce_quick(paper, tmp_path):
    """Beyond the default suite (specs validated, CHEAP ones run): every paper through
    `ratecheck reproduce --quick` in float64, figures included."""
    code = main(["reproduce", paper, "--quick", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    folder = _check_outcome(paper, tmp_path)
    figures = list((folder / "figures").glob("*.png"))
    assert figures and all(f.stat().st_size > 0 for f in figures)
