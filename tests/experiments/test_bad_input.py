"""A corpus of bad inputs (specs, CLI arguments, norms files, result folders): each gets exactly
one line on stderr naming what is wrong, exit 2, never a traceback."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ratecheck.cli import main
from ratecheck.experiments import spec as specmod
from ratecheck.experiments.sweep import run_spec

GOOD = """\
name = "bad"
T = 10
seeds = 2
record = 4
results = []
[[problem]]
name = "l1_distance"
params = { d = 3 }
[[optimizer]]
name = "sgd"
label = "sgd"
lr = 0.1
"""
FINITE_SUM = GOOD.replace('name = "l1_distance"\nparams = { d = 3 }', 'name = "least_squares"')

# (id, spec text or bytes, extra CLI arguments, a piece of the message)
SPECS = [
    ("not-utf8", b'name = "caf\xe9"\nT = 3\n', [], "not UTF-8 text"),
    ("not-toml", GOOD + "[[[", [], "not valid TOML"),
    ("unknown-top-key", GOOD.replace("T = 10", "T = 10\nsteps = 3"), [], "unknown key 'steps'"),
    ("no-T", GOOD.replace("T = 10\n", ""), [], "'T': expected an integer >= 1, got nothing"),
    ("T-zero", GOOD.replace("T = 10", "T = 0"), [], "'T': expected an integer >= 1"),
    ("T-float", GOOD.replace("T = 10", "T = 1.5"), [], "got number 1.5"),
    ("T-string", GOOD.replace("T = 10", 'T = "10"'), [], "got string '10'"),
    ("T-1e12-quick", GOOD.replace("T = 10", "T = 1000000000000"), ["--quick"], "cannot be stored; allowed: 1..1e+09"),
    ("T-1e12", GOOD.replace("T = 10", "T = 1000000000000"), [], "cannot be stored"),
    ("seeds-zero", GOOD.replace("seeds = 2", "seeds = 0"), [], "'seeds'"),
    ("seeds-repeat", GOOD.replace("seeds = 2", "seeds = [1, 1]"), [], "seeds repeat"),
    ("seeds-negative", GOOD.replace("seeds = 2", "seeds = [-1]"), [], "'seeds'"),
    ("oracle", GOOD.replace("T = 10", 'T = 10\noracle = "random"'), [], "allowed: deterministic, stochastic, auto"),
    ("batch-size-zero", GOOD.replace("T = 10", "T = 10\nbatch_size = 0"), [], "'batch_size': expected an integer >= 1"),
    ("batch-size-above-n", FINITE_SUM.replace("T = 10", "T = 10\nbatch_size = 500"), [], "more than the 200 components"),
    ("spec-device", GOOD.replace("T = 10", 'T = 10\ndevice = "tpu"'), [], "'device'"),
    ("spec-dtype", GOOD.replace("T = 10", 'T = 10\ndtype = "float16"'), [], "'dtype'"),
    ("record-one", GOOD.replace("record = 4", "record = 1"), [], "'record'"),
    ("results-unknown", GOOD.replace("results = []", 'results = ["no.such"]'), [], "unknown result 'no.such'"),
    ("exclude-unknown", GOOD.replace("results = []", 'exclude_results = ["no.such"]'), [], "unknown result 'no.such'"),
    ("max-batch", GOOD.replace("T = 10", "T = 10\nmax_batch = 0"), [], "'max_batch'"),
    ("x0-scale", GOOD.replace("T = 10", "T = 10\nx0_scale = -1.0"), [], "'x0_scale'"),
    ("x0-seed", GOOD.replace("T = 10", "T = 10\nx0_seed = -3"), [], "'x0_seed'"),
    ("no-problem", GOOD.split("[[problem]]")[0] + '[[optimizer]]\nname = "sgd"\nlr = 0.1\n', [], "no [[problem]] table"),
    ("no-optimizer", GOOD.split("[[optimizer]]")[0], [], "no [[optimizer]] table"),
    ("problem-not-table", GOOD.split("[[problem]]")[0] + 'problem = "x"\n[[optimizer]]\nname = "sgd"\nlr = 0.1\n', [], "must be written as [[problem]]"),
    ("problem-unknown", GOOD.replace('"l1_distance"', '"nope"'), [], "unknown problem 'nope'"),
    ("problem-nameless", GOOD.replace('name = "l1_distance"\n', ""), [], "expected a problem name, got nothing"),
    ("problem-param-unknown", GOOD.replace("{ d = 3 }", "{ k = 3 }"), [], "unknown parameter 'k'"),
    ("problem-param-type", GOOD.replace("{ d = 3 }", '{ d = "three" }'), [], "'d': expected integer"),
    ("problem-key-unknown", GOOD.replace("params = { d = 3 }", "params = { d = 3 }\nweight = 2"), [], "unknown key 'weight'"),
    ("problem-stochastic", GOOD.replace("params = { d = 3 }", 'params = { d = 3 }\noracle = "stochastic"'), [], "not a finite sum"),
    ("optimizer-unknown", GOOD.replace('name = "sgd"', 'name = "sdg"'), [], "unknown optimizer 'sdg'"),
    ("lr-negative", GOOD.replace("lr = 0.1", "lr = -1"), [], "-1 is out of range; allowed: (0, inf)"),
    ("lr-inf", GOOD.replace("lr = 0.1", "lr = inf"), [], "inf is out of range; allowed: (0, inf)"),
    ("lr-nan", GOOD.replace("lr = 0.1", "lr = nan"), [], "nan is out of range"),
    ("lr-empty", GOOD.replace("lr = 0.1", "lr = []"), [], "expected number or list of numbers"),
    ("lr-repeat", GOOD.replace("lr = 0.1", "lr = [0.1, 0.1]"), [], "values repeat"),
    ("lr-string", GOOD.replace("lr = 0.1", 'lr = "big"'), [], "expected number or list of numbers"),
    ("optimizer-key-unknown", GOOD.replace("lr = 0.1", "lr = 0.1\nmomentun = 0.9"), [], "unknown key 'momentun'"),
    ("option-unknown", GOOD.replace("lr = 0.1", 'lr = 0.1\noptions = { shedule = "linear" }'), [], "unknown option 'shedule'"),
    ("option-empty-list", GOOD.replace("lr = 0.1", "lr = 0.1\noptions = { schedule = [] }"), [], "empty list"),
    ("labels-twice", GOOD + '[[optimizer]]\nname = "sgd"\nlabel = "sgd"\nlr = 0.2\n', [], "used twice"),
    ("refine-from-unknown", GOOD.replace("lr = 0.1", 'lr = 0.1\nrefine_from = "other"'), [], "'refine_from'"),
    ("label-empty", GOOD.replace('label = "sgd"', 'label = ""'), [], "'label': expected a non-empty string"),
    ("name-empty", GOOD.replace('name = "bad"', 'name = ""'), [], "'name': expected a non-empty string"),
]

# (id, CLI arguments with {spec}, {file}, {tmp} placeholders, a piece of the message)
ARGS = [
    ("run-missing-spec", ["run", "missing.toml"], "spec file 'missing.toml' not found"),
    *[(f"device-{d}", ["run", "{spec}", "--device", d], f"device='{d}' is not supported") for d in ("mps", "xpu", "hpu", "meta")],
    ("device-tpu", ["run", "{spec}", "--device", "tpu"], "device='tpu' is not a device"),
    ("dtype", ["run", "{spec}", "--dtype", "float16"], "dtype='float16' is not supported"),
    ("run-out-file", ["run", "{spec}", "--out", "{file}"], "is a file; allowed: a folder"),
    ("run-out-under-file", ["run", "{spec}", "--out", "{file}/sub"], "cannot be created"),
    ("reproduce-unknown", ["reproduce", "nopaper"], "unknown paper 'nopaper'"),
    ("check-not-results", ["check", "{tmp}"], "is not a results folder"),
    ("plot-missing", ["plot", "nowhere"], "results folder 'nowhere' not found"),
    ("export-missing", ["export", "nowhere"], "results folder 'nowhere' not found"),
    ("refine-out-file", ["refine", "{norms}", "--out", "{file}"], "is a file; allowed: a folder"),
    ("pep-lr-negative", ["pep", "--lr", "-1"], "--lr -1.0 is out of range; allowed: (0, inf)"),
    ("pep-spa-c-zero", ["pep", "--method", "spa", "--c", "0"], "--c 0.0 is out of range; allowed: (0, 1]"),
    ("pep-T-zero", ["pep", "-T", "0"], "-T 0 is out of range"),
    ("pep-momentum-one", ["pep", "--method", "heavy_ball", "--momentum", "1"], "--momentum 1.0 is out of range"),
    ("pep-D-zero", ["pep", "-D", "0"], "-D 0.0 is out of range"),
    ("pep-unknown-option", ["pep", "--bogus"], "unrecognized arguments: --bogus"),
    ("list-unknown", ["list", "everything"], "invalid choice: 'everything'"),
    ("export-format", ["export", "{tmp}", "--format", "xlsx"], "invalid choice: 'xlsx'"),
    ("summary-and-failing", ["check", "{tmp}", "--summary", "--failing"], "not allowed with argument"),
    ("no-command", [], "the following arguments are required"),
]

# (id, file name, content (bytes, or an array for .npy), a piece of the message)
NORMS = [
    ("missing", "gone.csv", None, "not found"),
    ("suffix", "n.bin", b"1 2 3", "has suffix '.bin'"),
    ("csv-empty-field", "n.csv", b"a,b\n0,1\n1,\n", "line 3 (last column) is ''"),
    ("csv-nan", "n.csv", b"g\n1\nnan\n2\n", "line 3 (last column) is nan"),
    ("csv-text", "n.csv", b"g\n1\nbig\n", "is 'big', not a number"),
    ("csv-negative", "n.csv", b"1\n-2\n", "line 2 (last column) is -2.0"),
    ("npy-2d", "n.npy", np.ones((3, 2)), "shape (3, 2); allowed: a 1-D array"),
    ("npy-strings", "n.npy", np.array(["a", "b"]), "allowed: numbers"),
    ("npy-inf", "n.npy", np.array([1.0, np.inf]), "entry 1 is inf"),
    ("npy-truncated", "n.npy", "truncate", "could not be read"),
    ("txt-one-value", "n.txt", b"1.5\n", "holds 1 value(s)"),
    ("txt-not-utf8", "n.txt", b"1 2 \xff\n", "could not be read"),
]


def _one_line_exit_2(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (code, err)
    return err


@pytest.mark.parametrize("text, extra, message", [c[1:] for c in SPECS], ids=[c[0] for c in SPECS])
def test_bad_spec(tmp_path, capsys, text, extra, message):
    p = tmp_path / "bad.toml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert message in _one_line_exit_2(capsys, ["run", str(p), "--out", str(tmp_path / "r"), *extra])


@pytest.mark.parametrize("argv, message", [c[1:] for c in ARGS], ids=[c[0] for c in ARGS])
def test_bad_cli_arguments(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.toml").write_text(GOOD)
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "norms.txt").write_text("1 2 3")
    fill = {"{spec}": "good.toml", "{file}": "a_file", "{tmp}": str(tmp_path), "{norms}": "norms.txt"}
    argv = [next((a.replace(k, v) for k, v in fill.items() if k in a), a) for a in argv]
    assert message in _one_line_exit_2(capsys, argv)


@pytest.mark.parametrize("name, content, message", [c[1:] for c in NORMS], ids=[c[0] for c in NORMS])
def test_bad_norms_file(tmp_path, capsys, name, content, message):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif isinstance(content, np.ndarray):
        np.save(p, content)
    elif content == "truncate":
        np.save(p, np.arange(10.0))
        p.write_bytes(p.read_bytes()[:100])
    assert message in _one_line_exit_2(capsys, ["refine", str(p), "--out", str(tmp_path / "o")])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One finished run (1 cell), copied for each damage below."""
    tmp = tmp_path_factory.mktemp("bad_results")
    (tmp / "bad.toml").write_text(GOOD.replace("lr = 0.1", "lr = [0.1, 0.2]") + '[[optimizer]]\nname = "sgd"\nlabel = "other"\nlr = 0.3\n')
    return run_spec(specmod.load(tmp / "bad.toml"), tmp / "res", progress=False, log=lambda m: None).path


def _first(path, pattern):
    return sorted((path / "cells").glob(pattern))[0]


def _truncate(p):
    f = _first(p, "*.npz")
    f.write_bytes(f.read_bytes()[:-50])


def _swap(p):
    a, b = sorted((p / "cells").glob("*.npz"))
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db), b.write_bytes(da)


def _edit_json(p, **change):
    f = _first(p, "*.json")
    f.write_text(json.dumps({**json.loads(f.read_text()), **change}))


DAMAGE = [
    ("truncated-npz", "check", _truncate, "truncated or replaced"),
    ("truncated-npz-plot", "plot", _truncate, "truncated or replaced"),
    ("truncated-npz-export", "export", _truncate, "truncated or replaced"),
    ("swapped-npz", "check", _swap, "truncated or replaced"),
    ("old-format", "check", lambda p: _edit_json(p, format=2), "stored in format 2"),
    ("other-version", "plot", lambda p: _edit_json(p, package_version="0.0.1"), "written by ratecheck 0.0.1"),
    ("damaged-cell-json", "check", lambda p: _first(p, "*.json").write_text("{"), "damaged cell file"),
    ("npz-missing", "check", lambda p: _first(p, "*.npz").unlink(), "its .npz is missing"),
    ("incomplete", "check", lambda p: _first(p, "*.json").unlink(), "incomplete: 1/2 cells"),
    ("damaged-manifest", "check", lambda p: (p / "manifest.json").write_text("{"), "damaged manifest"),
    ("no-manifest", "check", lambda p: (p / "manifest.json").unlink(), "is not a results folder"),
]


@pytest.mark.parametrize("command, damage, message", [c[1:] for c in DAMAGE], ids=[c[0] for c in DAMAGE])
def test_damaged_results_folder(results, tmp_path, capsys, command, damage, message):
    folder = tmp_path / results.name
    shutil.copytree(results, folder)
    damage(folder)
    extra = ["--out", str(tmp_path / "o")] if command in ("plot", "export") else []
    assert message in _one_line_exit_2(capsys, [command, str(folder), *extra])


def test_corpus_size():
    assert len(SPECS) + len(ARGS) + len(NORMS) + len(DAMAGE) >= 60


# Through a real process: `python -m ratecheck.theory.pep`, a closed pipe.

def test_pep_module_help_and_errors():
    r = subprocess.run([sys.executable, "-m", "ratecheck.theory.pep", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--method" in r.stdout and "--lr" in r.stdout


def test_closed_pipe_is_quiet():
    # the reader closes its end before `list results` writes: no BrokenPipeError traceback
    proc = subprocess.Popen([sys.executable, "-m", "ratecheck.cli", "list", "results"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert err == "" and proc.returncode == 141


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried to allocate 8000000000 bytes"),
                                   RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")], ids=["memory", "cpu-alloc", "cuda-oom"])
def test_an_allocation_that_fails_is_one_line(tmp_path, capsys, monkeypatch, error):
    """An allocation beyond what the memory estimate foresaw (e.g. a [T] schedule table at a huge T)."""
    from ratecheck.experiments import sweep

    def fail(*a, **k):
        raise error

    monkeypatch.setattr(sweep, "run_spec", fail)
    p = tmp_path / "s.toml"
    p.write_text(GOOD)
    assert "out of memory" in _one_line_exit_2(capsys, ["run", str(p), "--out", str(tmp_path / "r")])


def test_other_runtime_errors_keep_their_traceback(tmp_path, monkeypatch):
    from ratecheck import cli
    from ratecheck.experiments import sweep

    def bug(*a, **k):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(sweep, "run_spec", bug)
    p = tmp_path / "s.toml"
    p.write_text(GOOD)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        cli.main(["run", str(p), "--out", str(tmp_path / "r")])
