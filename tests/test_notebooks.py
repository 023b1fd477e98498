"""Every paper notebook runs in quick mode and ends with PASS; committed notebooks hold no outputs.

Each notebook in paper_notebooks/*.ipynb is executed with nbclient on a kernel of this
interpreter (a kernelspec written to a temporary JUPYTER_PATH, so nothing is installed into the
environment), MPLBACKEND=Agg, in a temporary working directory, with 120 s for the whole
notebook. It fails if a cell raises (a notebook raises AssertionError when an asserted result is
violated) or if the last code cell's final printed line is not ``PASS`` (``NOT IMPLEMENTED`` for a
notebook whose metadata says ``"expect": "not_implemented"``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "paper_notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
BUDGET_S = 120.0  # per notebook, all cells together
KERNEL = "ratecheck-test"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in IPython tracebacks
FINAL_LINE = {"pass": "PASS", "not_implemented": "NOT IMPLEMENTED"}


def _ids(paths):
    return [p.stem for p in paths]


@pytest.fixture(scope="session")
def kernel_env(tmp_path_factory):
    """A kernelspec that launches this interpreter, visible only through JUPYTER_PATH."""
    base = tmp_path_factory.mktemp("jupyter")
    spec = base / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ratecheck (tests)", "language": "python",
    }))
    return {"JUPYTER_PATH": str(base), "MPLBACKEND": "Agg"}


def _final_text(nb) -> str:
    """The last non-empty line printed (stdout) by the last code cell."""
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert cells, "notebook has no code cell"
    text = "".join(o.get("text", "") for o in cells[-1].get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stdout")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_quick_and_passes(path, kernel_env, tmp_path, monkeypatch):
    for k, v in kernel_env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    nb = nbformat.read(path, as_version=4)
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.search(r"^QUICK = True\b", src, re.M), "the committed notebook must set QUICK = True in its config cell"
    expect = nb.metadata.get("ratecheck", {}).get("expect", "pass")
    assert expect in FINAL_LINE, f"metadata ratecheck.expect={expect!r}; allowed: {sorted(FINAL_LINE)}"
    start = time.perf_counter()

    def remaining(cell):
        return max(1, int(BUDGET_S - (time.perf_counter() - start)))

    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=int(BUDGET_S), timeout_func=remaining,
        resources={"metadata": {"path": str(tmp_path)}}, allow_errors=False,
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"{path.name}: a cell raised:\n{ANSI.sub('', str(e))[-4000:]}")
    elapsed = time.perf_counter() - start
    assert elapsed <= BUDGET_S, f"{path.name} took {elapsed:.0f} s; allowed {BUDGET_S:.0f} s in quick mode"
    assert _final_text(nb) == FINAL_LINE[expect], f"{path.name}: final line {_final_text(nb)!r}, expected {FINAL_LINE[expect]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs or execution counts; run scripts/strip_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_claims_cell_matches_the_registry(path):
    """Keys listed in the notebook's metadata appear in its markdown with their registered provenance."""
    from ratecheck import theory

    nb = nbformat.read(path, as_version=4)
    keys = nb.metadata.get("ratecheck", {}).get("results", [])
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    wrong = [k for k in keys if f"`{k}` [{theory.get(k).provenance.value}]" not in text]
    assert not wrong, f"{path.name}: claims out of date for {wrong}; rebuild the notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_check_table_uses_theory_report(path):
    """Statuses, the headline and the failing rows come from theory.report (one home), not a copy."""
    nb = nbformat.read(path, as_version=4)
    if nb.metadata.get("ratecheck", {}).get("expect", "pass") != "pass":
        return
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "check_row(" in src and "report.headline(" in src and "report.failing(" in src, f"{path.name}: rebuild the notebook"
    assert "c.holds" not in src and "violated [UNVERIFIED]" not in src, f"{path.name}: its own copy of the status logic"


def test_every_paper_has_a_notebook():
    stems = {p.stem for p in NOTEBOOKS}
    want = ["01_linear_decay_refinement", "02_dadaptation", "03_prodigy", "09_spa_momentum", "10_gradagrad"]
    missing = [w for w in want if w not in stems]
    assert not missing, f"missing notebooks: {missing}"
