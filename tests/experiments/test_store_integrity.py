"""The store never lies: changed, swapped, stale or missing cells are recomputed by `run` and
refused by `check`/`plot` with one line; the manifest stamps only what computed; runs into one
folder take turns."""

import json
import subprocess
import sys
import threading
import time

import pytest
from filelock import FileLock

from ratecheck.atomic import stale_temp_files
from ratecheck.cli import main
from ratecheck.experiments import spec as specmod
from ratecheck.experiments.store import Store
from ratecheck.experiments.sweep import run_spec

QUIET = dict(progress=False, log=lambda m: None)


@pytest.fixture
def stored(tmp_path, make_spec, results_registered):
    """A finished tiny run (4 cells): (spec, results folder, store)."""
    with results_registered():
        s = specmod.load(make_spec())
        path = run_spec(s, tmp_path / "res", **QUIET).path
        yield s, path, Store(path)


def _one_error(capsys, *argv) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ratecheck: error: "), err
    return err


def _rerun(s, path):
    return run_spec(s, path.parent, **QUIET)


def test_truncated_cell_is_refused_then_recomputed(stored, capsys, tmp_path):
    s, path, st = stored
    npz = sorted(st.cells_dir.glob("*.npz"))[1]
    npz.write_bytes(npz.read_bytes()[:-100])
    assert "truncated or replaced" in _one_error(capsys, "check", path)
    assert "truncated or replaced" in _one_error(capsys, "plot", path, "--kind", "rate", "--out", tmp_path / "f")
    again = _rerun(s, path)
    assert again.computed == [npz.stem] and len(again.cached) == 3
    assert main(["check", str(path)]) == 0


def test_swapped_cell_files_are_refused_then_recomputed(stored, capsys):
    s, path, st = stored
    a, b = sorted(st.cells_dir.glob("*.npz"))[:2]
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    err = _one_error(capsys, "check", path)
    assert "sha256" in err or "bytes" in err
    assert sorted(_rerun(s, path).computed) == sorted([a.stem, b.stem])
    # both files of one cell renamed to another cell's name: the JSON names its own cell
    ja, jb = a.with_suffix(".json"), b.with_suffix(".json")
    ta, tb = ja.read_text(), jb.read_text()
    a.write_bytes(db), b.write_bytes(da), ja.write_text(tb), jb.write_text(ta)
    assert "renamed or swapped" in _one_error(capsys, "check", path)
    assert sorted(_rerun(s, path).computed) == sorted([a.stem, b.stem])


@pytest.mark.parametrize("field, value, reason", [("format", 2, "format 2"), ("package_version", "0.0.1", "ratecheck 0.0.1")])
def test_cells_of_another_format_or_version_are_not_reused(stored, capsys, field, value, reason):
    s, path, st = stored
    j = sorted(st.cells_dir.glob("*.json"))[0]
    j.write_text(json.dumps({**json.loads(j.read_text()), field: value}))
    assert reason in _one_error(capsys, "check", path)
    logged = []
    again = run_spec(s, path.parent, progress=False, log=logged.append)
    assert again.computed == [j.stem] and any(reason in m for m in logged)


def test_all_cached_run_does_not_restamp_the_manifest(stored):
    s, path, st = stored
    man = st.manifest()
    man.update(device="cuda:7", package_version="made-by-another")
    (path / "manifest.json").write_text(json.dumps(man))
    assert _rerun(s, path).computed == []
    after = st.manifest()
    assert after["device"] == "cuda:7" and after["package_version"] == "made-by-another"


def test_check_on_an_unfinished_folder_says_incomplete(stored, capsys):
    s, path, st = stored
    for j in sorted(st.cells_dir.glob("*.json"))[:3]:
        j.unlink()
    assert "incomplete: 1/4 cells" in _one_error(capsys, "check", path)


def test_a_second_run_waits_for_the_lock_then_finds_the_cells(tmp_path, make_spec, results_registered):
    with results_registered():
        s = specmod.load(make_spec())
        first = run_spec(s, tmp_path / "res", **QUIET)
        lock = FileLock(first.path / ".lock")
        lock.acquire()
        logged, done = [], {}
        t = threading.Thread(target=lambda: done.update(s=run_spec(s, tmp_path / "res", progress=False, log=logged.append)))
        t.start()
        deadline = time.time() + 30
        while not logged and time.time() < deadline:
            time.sleep(0.01)
        assert t.is_alive() and logged == [f"waiting for another run writing to {first.path}"]
        lock.release()
        t.join(30)
        assert done["s"].computed == [] and len(done["s"].cached) == 4


def test_prepare_keeps_live_writers_temp_files(tmp_path, make_spec, results_registered):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    st = Store(tmp_path / "res")
    st.cells_dir.mkdir(parents=True)
    live = st.cells_dir / f".c.npz.pid{__import__('os').getpid()}.abc.tmp"
    stale = st.cells_dir / f".c.npz.pid{int(dead.stdout)}.abc.tmp"
    old_layout = st.cells_dir / ".c.npz.abc.tmp"
    for p in (live, stale, old_layout):
        p.write_bytes(b"x")
    assert sorted(stale_temp_files(st.cells_dir)) == sorted([stale, old_layout])
    with results_registered():
        st.prepare(specmod.load(make_spec()))
    assert live.exists() and not stale.exists() and not old_layout.exists()


@pytest.mark.heavy
def test_two_processes_into_one_folder(tmp_path):
    """Two `ratecheck run` processes started together: both succeed, every cell is computed once."""
    import os

    spec = tmp_path / "two.toml"
    spec.write_text('T = 200\nseeds = 4\nresults = []\n[[problem]]\nname = "l1_distance"\n'
                    + "".join(f'[[optimizer]]\nname = "sgd"\nlabel = "sgd{i}"\nlr = {0.01 * (i + 1)}\n' for i in range(4)))
    cmd = [sys.executable, "-m", "ratecheck.cli", "run", str(spec), "--out", str(tmp_path / "res"), "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    summaries = sorted(next(ln for ln in e.splitlines() if ln.startswith("results:")) for e in errs)
    assert "(0 cells computed, 4 cached)" in summaries[0] and "(4 cells computed, 0 cached)" in summaries[1]
    path = next((tmp_path / "res").iterdir())
    assert main(["check", str(path)]) == 0
