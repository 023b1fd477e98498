"""docs/testing.md is executed as a user would: its files are written to an empty directory and
pytest runs there in a subprocess (the plugin found through its entry point), so the right bound
passes, the mutation test passes and the wrong bound fails with the message the page shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "testing.md"
BLOCK = re.compile(r"^```(\w+) (file|failure)=(\S+)\n(.*?)^```$", re.M | re.S)


def _blocks(kind: str) -> dict[str, str]:
    return {m.group(3): m.group(4) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8")) if m.group(2) == kind}


def test_the_worked_example_runs_as_documented(tmp_path):
    from importlib.metadata import entry_points

    assert "ratecheck.pytest_plugin" in [ep.value for ep in entry_points(group="pytest11")], (
        "the plugin's pytest11 entry point is not installed: run `pip install -e .` again"
    )
    files = _blocks("file")
    assert {"mysgd.py", "myproblem.py", "test_mysgd.py", "test_forgot_term.py"} <= set(files)
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTEST_ADDOPTS": ""}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", "--tb=short"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 1, log  # exactly the wrong bound fails
    passed = set(re.findall(r"^PASSED (\S+)", log, re.M))
    failed = set(re.findall(r"^FAILED (\S+?)(?: - .*)?$", log, re.M))
    assert failed == {"test_forgot_term.py::test_forgot_the_gradient_term"}, log
    for p in ("abs_1d", "l1_distance", "lad", "max_affine", "norm_residual", "linf_distance"):
        assert f"test_mysgd.py::test_best_iterate_bound[{p}]" in passed, log
    assert "test_mysgd.py::test_a_wrong_bound_is_caught" in passed, log
    # the failure message, as the page shows it (paths abbreviated there with ...)
    for line in _blocks("failure")["test_forgot_term.py"].splitlines():
        pattern = re.escape(line.strip()).replace(re.escape("..."), r"\S*")
        assert re.search(pattern, log), f"documented line not in the output: {line}\n{log}"
    saved = tmp_path / "ratecheck_failures" / "test_forgot_the_gradient_term"
    assert sorted(p.suffix for p in saved.iterdir()) == [".npz", ".png"]
