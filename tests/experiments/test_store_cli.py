"""Result store (cache, resume after a kill, atomic writes), the CLI end to end, and figures."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ratecheck.cli import main
from ratecheck.experiments import spec as specmod
from ratecheck.experiments.store import Store, spec_dir
from ratecheck.experiments.sweep import run_spec
from ratecheck.figures import data as fdata
from ratecheck.theory import report


def test_cache_hit_miss_and_force(tmp_path, make_spec, results_registered):
    with results_registered():
        s = specmod.load(make_spec())
        out = tmp_path / "res"
        first = run_spec(s, out, progress=False, log=lambda m: None)
        assert len(first.computed) == 4 and first.cached == []
        again = run_spec(specmod.load(make_spec()), out, progress=False, log=lambda m: None)
        assert again.computed == [] and sorted(again.cached) == sorted(first.computed)
        forced = run_spec(s, out, force=True, progress=False, log=lambda m: None)
        assert sorted(forced.computed) == sorted(first.computed)
        # a changed number lands in a new folder; nothing is reused from the old one wrongly
        changed = specmod.load(make_spec(extra="").parent / "tiny.toml")
        changed.T = 31
        moved = run_spec(changed, out, progress=False, log=lambda m: None)
        assert moved.path != first.path and len(moved.computed) == 4
        man = json.loads((first.path / "manifest.json").read_text())
        assert man["spec_hash"] == s.hash and man["complete"] and set(man["cells"]) == set(first.computed)
        assert man["libraries"]["torch"] and man["package_version"]
        assert all(v["wall_time_s"] >= 0 for v in man["cells"].values())
        # stored arrays: checkpoints, per-run hp and seeds, the result's curves
        cells = Store(first.path).cells()
        c = cells[0]
        assert c.steps[0] == 0 and c.steps[-1] == 30 and len(c.steps) <= 11
        assert c.trace("subopt").shape == (len(c.steps), c.meta["n_runs"])
        assert c.arrays["hp/lr"].tolist() == [0.01] * 3 + [0.05] * 3
        r = c.meta["results"][0]
        assert r["key"] == "test.lipschitz" and r["status"] == "ok" and r["checked"] == 6
        assert 0 < r["worst_ratio"] <= 1
        # per result: the tolerance beside both sides, and the informative rows of each run
        obs = c.arrays["result/test.lipschitz/observed"]
        assert c.arrays["result/test.lipschitz/tol"].shape == obs.shape
        assert (c.arrays["result/test.lipschitz/tol"][np.isfinite(obs)] > 0).all()
        rows_checked = c.arrays["result/test.lipschitz/rows_checked"]
        assert rows_checked.shape == (6,) and (rows_checked > 0).all()
        # a cell stored in an older format is recomputed
        meta = json.loads(c.path.read_text())
        c.path.write_text(json.dumps({**meta, "format": 1}))
        stale = run_spec(s, out, progress=False, log=lambda m: None)
        assert stale.computed == [c.path.stem]


def test_atomic_cell_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    import ratecheck.atomic

    st = Store(tmp_path)
    st.cells_dir.mkdir(parents=True)
    st.write_cell("c", {"a": np.arange(3)}, {"cell_hash": "h"})
    before = (st.cells_dir / "c.npz").read_bytes()

    def crash(fd):  # the new bytes are written to the temp file, then the "machine" fails
        raise OSError("disk gone")

    monkeypatch.setattr(ratecheck.atomic.os, "fsync", crash)
    with pytest.raises(OSError, match="disk gone"):
        st.write_cell("c", {"a": np.arange(5)}, {"cell_hash": "h2"})
    monkeypatch.undo()
    assert (st.cells_dir / "c.npz").read_bytes() == before
    assert json.loads((st.cells_dir / "c.json").read_text())["cell_hash"] == "h"
    assert sorted(p.name for p in st.cells_dir.iterdir()) == ["c.json", "c.npz"]


SLOW = """
name = "slow"
T = 3000
seeds = 2
record = 10
results = []
[[problem]]
name = "l1_distance"
params = {{ d = 3 }}
{opts}
"""


def test_resume_after_kill_computes_only_missing_cells(tmp_path):
    opts = "\n".join(f'[[optimizer]]\nname = "sgd"\nlabel = "sgd{i}"\nlr = {0.001 * (i + 1)}\n' for i in range(6))
    spec_path = tmp_path / "slow.toml"
    spec_path.write_text(SLOW.format(opts=opts))
    out = tmp_path / "res"
    s = specmod.load(spec_path)
    cells_dir = spec_dir(out, s) / "cells"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "ratecheck.cli", "run", str(spec_path), "--out", str(out), "--no-progress"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(cells_dir.glob("*.json")):
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = {p.stem for p in cells_dir.glob("*.json")}
    assert 1 <= len(done) < 6, f"kill landed after {len(done)} of 6 cells"
    again = run_spec(s, out, progress=False, log=lambda m: None)
    assert set(again.cached) == done
    assert set(again.computed) == {c.id for c in s.cells()} - done
    assert not list(cells_dir.glob(".*.tmp"))


def run_cli(*argv):
    return main([str(a) for a in argv])


def test_cli_end_to_end_exit_codes(tmp_path, make_spec, results_registered, capsys):
    out = tmp_path / "res"
    with results_registered(violated_provenance="DERIVED"):
        good = make_spec()  # only test.lipschitz: holds
        assert run_cli("run", good, "--out", out, "--no-progress") == 0
        path = next(out.iterdir())
        assert run_cli("check", path) == 0
        table = capsys.readouterr().out
        assert "test.lipschitz" in table and "ok" in table and "VIOLATED" not in table
        assert (path / "checks.csv").read_text().startswith("problem,optimizer,result,provenance,role,")

        bad = make_spec(results='["test.lipschitz", "test.too_tight"]')
        assert run_cli("run", bad, "--out", out, "--no-progress") == 1
        bad_path = [p for p in out.iterdir() if p != path][0]
        assert run_cli("check", bad_path) == 1
        assert "VIOLATED" in capsys.readouterr().out

        # plots from the stored result
        assert run_cli("plot", path, "--kind", "rate", "--kind", "slack", "--kind", "lr-sensitivity", "--out", tmp_path / "figs") == 0
        figs = sorted((tmp_path / "figs").iterdir())
        names = {f.name for f in figs}
        assert {"rate_l1_distance.png", "rate_abs_1d.png", "slack_l1_distance.png", "lr_sensitivity.png"} <= names
        assert all(f.stat().st_size > 5000 for f in figs)
        assert run_cli("plot", path, "--kind", "d") == 0  # nothing to show: a note, no error
        assert "no d figure" in capsys.readouterr().err

    with results_registered(violated_provenance="UNVERIFIED"):
        unv = make_spec(results='["test.lipschitz", "test.too_tight"]')
        unv_out = tmp_path / "unv"
        assert run_cli("run", unv, "--out", unv_out, "--no-progress") == 0  # never asserted
        assert "shown: violated" in capsys.readouterr().out


def _csv_rows(path):
    with open(path / "checks.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_not_checked_results_are_na_with_their_reason(tmp_path, make_spec, results_registered, capsys):
    more = ("test.assumption_false", "test.needs_tag", "test.vacuous", "test.unavailable")
    out = tmp_path / "res"
    with results_registered(more=more):
        spec = make_spec(results="[" + ", ".join(f'"{k}"' for k in ("test.lipschitz", *more)) + "]")
        assert run_cli("run", spec, "--out", out, "--no-progress") == 0  # n/a is never a failure
        (path,) = out.iterdir()
        rows = _csv_rows(path)
    assert len(rows) == 4 * 5  # every listed result on every cell, applicable or not
    by = {}
    for r in rows:
        by.setdefault(r["result"], []).append(r)
    for key in more:
        assert {r["status"] for r in by[key]} == {"n/a"}, (key, by[key])
    # the reasons name what was missing
    assert all("assumption false: lr <= 0.001" in r["reason"] for r in by["test.assumption_false"])
    assert all(r["reason"] == "problem tag missing: strongly_convex" for r in by["test.needs_tag"])
    assert all("iterates" in r["reason"] for r in by["test.unavailable"])
    # a bound of +inf everywhere: no informative row, so not checked (never "ok")
    assert all(r["reason"] and r["checked"] == "0" for r in by["test.vacuous"])
    for r in by["test.lipschitz"]:
        assert r["status"] == "ok" and r["role"] == "theorem" and r["statement"] == "f(x_t) - f* <= G ||x_t - x*||"
        assert 0.5 < float(r["frac_checked"]) <= 1.0
    # figures draw checked results only: the assumption-false result has arrays but no curve
    with results_registered(more=more):
        cell = Store(path).cells()[0]
        assert "result/test.assumption_false/bound" in cell.arrays
        assert [r["key"] for r in fdata.drawn_results(cell)] == ["test.lipschitz"]
        assert run_cli("plot", path, "--kind", "slack", "--out", tmp_path / "figs") == 0


def test_evaluation_error_is_an_error_row_and_fails_check(tmp_path, make_spec, results_registered, capsys):
    out = tmp_path / "res"
    with results_registered(more=("test.broken",)):
        assert run_cli("run", make_spec(results='["test.lipschitz", "test.broken"]'), "--out", out, "--no-progress") == 1
        (path,) = out.iterdir()
        broken = [r for r in _csv_rows(path) if r["result"] == "test.broken"]
        assert {r["status"] for r in broken} == {"ERROR"}
        assert all("ValueError: a bug in this result" in r["reason"] for r in broken)
        assert run_cli("check", path) == 1


def test_erratum_never_fails_and_headline_counts_theorems_apart(tmp_path, make_spec, results_registered, capsys):
    out = tmp_path / "res"
    with results_registered(violated_provenance="PAPER", violated_role="erratum", more=("test.implementation",)):
        spec = make_spec(results='["test.lipschitz", "test.too_tight", "test.implementation"]')
        assert run_cli("run", spec, "--out", out, "--no-progress") == 0
        (path,) = out.iterdir()
        capsys.readouterr()
        assert run_cli("check", path) == 0  # the erratum fails, as expected: not a failure
        printed = capsys.readouterr().out
        assert run_cli("check", path, "--csv") == 0
        rows = _csv_rows(path)
        assert {r["status"] for r in rows if r["result"] == "test.too_tight"} == {"erratum: fails as expected"}
        head = report.headline([{**r, "provenance": r["provenance"]} for r in rows])
        assert head == "theorems: 4 ok | implementation checks: 4 ok | errata: 4 erratum: fails as expected"
        assert head in printed
        assert run_cli("check", path, "--wide") == 0
        assert "f(x_t) - f* <= (f(x_t) - f*) / 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "missing.toml"], "spec file 'missing.toml' not found; shipped specs:"),
        (["check", "."], "is not a results folder"),
        (["plot", "nowhere"], "results folder 'nowhere' not found"),
        (["reproduce", "nopaper"], "unknown paper 'nopaper'; known papers:"),
        (["refine", "norms.bin"], "norms file 'norms.bin' not found"),
    ],
)
def test_cli_user_mistakes_are_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_bad_option_and_spec_error_exit_2(tmp_path, make_spec, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run"])
    assert e.value.code == 2 and capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(["plot", str(tmp_path), "--kind", "pie"])
    assert e.value.code == 2
    capsys.readouterr()
    p = make_spec(results='["no.such"]')
    assert main(["run", str(p), "--out", str(tmp_path / "r")]) == 2
    assert "tiny.toml: top level 'results' #1: unknown result 'no.such'" in capsys.readouterr().err
    assert main(["run", str(make_spec()), "--device", "tpu"]) == 2


def test_cli_list_and_help(capsys):
    assert main(["list", "problems"]) == 0
    assert "l1_distance" in capsys.readouterr().out
    assert main(["list", "optimizers"]) == 0
    assert "sgd" in capsys.readouterr().out
    for cmd in ("run", "check", "plot", "refine", "pep", "reproduce", "demo", "bench", "list"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "usage: ratecheck " + cmd in capsys.readouterr().out


def test_refine_reads_norm_logs(tmp_path):
    from ratecheck.cli import load_norms

    (tmp_path / "a.csv").write_text("step,norm\n0,1.5\n1,2.0\n2,0.5\n")
    (tmp_path / "b.txt").write_text("1.5 2.0\n0.5\n")
    np.save(tmp_path / "c.npy", np.array([1.5, 2.0, 0.5]))
    for name in ("a.csv", "b.txt", "c.npy"):
        assert load_norms(tmp_path / name).tolist() == [1.5, 2.0, 0.5]
    (tmp_path / "d.txt").write_text("1.0 -2.0\n")
    with pytest.raises(ValueError, match="entry 2 is -2.0; allowed: finite numbers >= 0"):
        load_norms(tmp_path / "d.txt")


def test_refine_command_writes_schedule_and_plot(tmp_path, capsys):
    pytest.importorskip("ratecheck.optimizers.refine")
    norms = tmp_path / "norms.txt"
    norms.write_text("\n".join(str(1.0 + 0.01 * i) for i in range(50)))
    assert main(["refine", str(norms), "--out", str(tmp_path / "o")]) == 0
    rows = (tmp_path / "o" / "norms_refined.csv").read_text().splitlines()
    assert rows[0] == "step,grad_norm,multiplier" and len(rows) == 51
    m = np.array([float(r.split(",")[2]) for r in rows[1:]])
    assert m.max() == pytest.approx(1.0) and (m >= 0).all()
    assert (tmp_path / "o" / "norms_refined.png").stat().st_size > 5000
