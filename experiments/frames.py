"""A results folder as pandas data frames, and their export to parquet or csv.

``load(DIR)`` returns ``Results(runs, checks, manifest)``:

- ``runs``: tidy, one row per (cell, run, recorded step). Columns: ``cell``, ``problem``,
  ``optimizer``, ``run`` (index in the cell's batch), ``seed``, one column per hyper-parameter of
  the grid (NaN where a cell has no such hyper-parameter), ``diverged_run`` (the run diverged by
  the criterion of experiments/divergence.py), ``step``, then every recorded quantity
  (``subopt``, ``dist``, ``grad_norm``, ..., optimizer info such as ``lr`` or ``d``; NaN where a
  quantity is not evaluated at that step or not recorded by that optimizer). A hyper-parameter
  that is also an info key (``lr``) is named ``hp_<name>``.
- ``checks``: the check table, one row per (cell, result), the columns of checks.csv.
- ``manifest``: manifest.json as a dict.

Every cell is verified first (``Store.cells``): a changed file is an error, never a frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ratecheck.atomic import atomic_write

from .store import CHECK_COLUMNS, check_rows, open_results


class Results(NamedTuple):
    runs: "pandas.DataFrame"  # noqa: F821
    checks: "pandas.DataFrame"  # noqa: F821
    manifest: dict


def _cell_frame(cell):
    import pandas as pd

    a = cell.arrays
    steps = a["steps"]
    seeds = a["seeds"]
    T, B = len(steps), len(seeds)
    traces = sorted(k[len("trace/"):] for k in a if k.startswith("trace/"))
    hps = sorted(k[len("hp/"):] for k in a if k.startswith("hp/"))
    diverged = a["run/diverged"] | a["run/escaped"] if "run/diverged" in a else np.zeros(B, dtype=bool)
    cols = {
        "cell": cell.path.stem,
        "problem": cell.problem_label,
        "optimizer": cell.label,
        "run": np.tile(np.arange(B), T),
        "seed": np.tile(seeds, T),
    }
    for h in hps:
        cols[f"hp_{h}" if h in traces else h] = np.tile(a[f"hp/{h}"], T)
    cols["diverged_run"] = np.tile(diverged, T)
    cols["step"] = np.repeat(steps, B)
    for name in traces:
        cols[name] = a[f"trace/{name}"].reshape(-1)  # [T', B] row-major: step-major, run-minor
    return pd.DataFrame(cols)


def load(result_dir: str | Path) -> Results:
    """The runs and the check table of a results folder written by ``ratecheck run``."""
    import pandas as pd

    store = open_results(result_dir)
    cells = store.cells()
    frames = [_cell_frame(c) for c in cells]
    runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    rows = check_rows(cells)
    checks = pd.DataFrame([{k: r.get(k) for k in CHECK_COLUMNS} for r in rows], columns=list(CHECK_COLUMNS))
    return Results(runs, checks, store.manifest())


def export(result_dir: str | Path, fmt: str = "parquet", out: str | Path | None = None) -> list[Path]:
    """Write ``runs.<fmt>`` and ``checks.<fmt>`` (parquet via pyarrow, or csv) into ``out``
    (default RESULT_DIR/export); return their paths."""
    res = load(result_dir)
    folder = Path(out) if out is not None else Path(result_dir) / "export"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in (("runs", res.runs), ("checks", res.checks)):
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            atomic_write(path, lambda f: df.to_parquet(f, engine="pyarrow", index=False))
        else:
            atomic_write(path, lambda f: f.write(df.to_csv(index=False).encode()))
        paths.append(path)
    return paths
