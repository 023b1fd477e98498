"""Every paper notebook runs in quick mode and ends with PASS; no notebook outputs are committed.

The notebooks are jupytext percent-format scripts, paper_notebooks/NN_<paper>.py (the source of
truth; no .ipynb is committed). Each one is converted to a notebook with jupytext in a temporary
directory and executed there with nbclient on a kernel of this interpreter (a kernelspec written
to a temporary JUPYTER_PATH, so nothing is installed into the environment), MPLBACKEND=Agg, with
120 s for the whole notebook. It fails if a cell raises (a notebook raises AssertionError when an
asserted result is violated) or if the last code cell's final printed line is not ``PASS``
(``NOT IMPLEMENTED`` for a paper whose record in ``ratecheck.papers`` has no theory module).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ratecheck import papers

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "paper_notebooks"
NOTEBOOKS = sorted(p for p in NB_DIR.glob("[0-9][0-9]_*.py"))
BUDGET_S = 120.0  # per notebook, all cells together
KERNEL = "ratecheck-test"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in IPython tracebacks
FINAL_LINE = {"pass": "PASS", "not_implemented": "NOT IMPLEMENTED"}


def _ids(paths):
    return [p.stem for p in paths]


def _expect(path: Path) -> str:
    """'pass', or 'not_implemented' for a paper recorded without a theory module."""
    paper = next((p for p in papers.PAPERS if p.notebook == path.stem), None)
    assert paper is not None, f"{path.name}: no paper in ratecheck.papers names this notebook"
    return "pass" if paper.theory else "not_implemented"


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
    nb = jupytext.read(path)  # what `jupytext --to ipynb` writes, in memory
    nbformat.write(nb, tmp_path / f"{path.stem}.ipynb")
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.search(r"^QUICK = True\b", src, re.M), "the notebook must set QUICK = True in its config cell"
    expect = _expect(path)
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


def test_no_notebook_outputs_are_committed():
    """The .py files are the notebooks; an .ipynb (with or without outputs) is a local copy."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "paper_notebooks"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    stray = [f for f in out if f.endswith(".ipynb") and (ROOT / f).is_file()]
    assert not stray, f"notebooks are committed as jupytext .py files only; remove {stray} (paper_notebooks/*.ipynb is ignored)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_percent_format(path):
    """Cells are marked ``# %%`` / ``# %% [markdown]`` and a round trip through jupytext changes nothing."""
    text = path.read_text(encoding="utf-8")
    assert "\n# %%" in text, f"{path.name}: no '# %%' cell markers"
    nb = jupytext.reads(text, fmt="py:percent")
    assert [c for c in nb.cells if c.cell_type == "markdown"], f"{path.name}: no markdown cell"
    body = lambda t: t.split("# ---\n", 2)[-1]  # the cells, without the YAML header (jupytext adds its version there)
    assert body(jupytext.writes(nb, fmt="py:percent")) == body(text), \
        f"{path.name}: not in jupytext's percent layout (run `jupytext --to py:percent {path.name}`)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_uses_the_library_helpers(path):
    """Claims, check rows and the final verdict come from ratecheck.notebook (whose status logic is
    theory.report's); no notebook embeds TOML or its own copy of the status logic."""
    src = path.read_text(encoding="utf-8")
    assert "[[optimizer]]" not in src and "[[problem]]" not in src and ".loads(" not in src, \
        f"{path.name}: embeds a spec as TOML text; load the shipped one (nb.shipped) and vary it in Python (nb.variant)"
    assert "c.holds" not in src and "violated [UNVERIFIED]" not in src and '"VIOLATED"' not in src, f"{path.name}: its own copy of the status logic"
    if _expect(path) != "pass":
        return
    assert "nb.claims(" in src and "nb.final(" in src, f"{path.name}: claims and the check table must come from ratecheck.notebook"


def test_helpers_use_theory_report():
    """ratecheck.notebook is the one home of the notebooks' check table; its statuses come from theory.report."""
    src = (ROOT / "ratecheck" / "notebook.py").read_text(encoding="utf-8")
    assert "check_row(" in src and "report.headline(" in src and "report.failing(" in src and "format_table(" in src


def test_claims_table_matches_the_registry():
    from ratecheck import notebook, theory

    keys = notebook.keys_with("dadaptation.")
    text = notebook.claims_markdown(keys)
    for k in keys:
        assert f"| `{k}` | [{theory.get(k).provenance.value}] |" in text


def test_every_paper_has_a_notebook():
    stems = {p.stem for p in NOTEBOOKS}
    missing = [p.notebook for p in papers.PAPERS if p.notebook not in stems]
    assert not missing, f"missing notebooks: {missing}"
