"""The result store: one folder per spec, one npz + JSON pair per cell, a manifest, a check table.

Layout of ``<out>/<spec name>-<spec hash>/`` (documented in docs/cli.md)::

    spec.toml             the spec as read
    spec.json             the normalised spec (what the hash is computed from)
    manifest.json         spec hash, package version, git commit, library versions, device,
                          wall time per cell
    cells/<id>.npz        arrays of one cell (below)
    cells/<id>.json       metadata and check summaries of one cell; written last, so a cell
                          counts as done only once its JSON exists
    checks.csv            the check table, one row per (cell, result registered for the cell's
                          optimizer): CHECK_COLUMNS, with the reason of every n/a and ERROR row
    figures/              images written by ``ratecheck plot``

Arrays of ``cells/<id>.npz`` (B runs = hyper-parameter grid points x seeds, grid-major):

    steps                       int64 [T']: the recorded steps (all, or the checkpoints)
    trace/<name>                [T', B]: subopt, dist, subopt_avg, dist_avg, grad_norm, loss,
                                diverged, and every optimizer info key (lr, d, ...)
    hp/<name>                   [B] per-run hyper-parameters; seeds [B]
    result/<key>/steps          [R'] steps of the stored observed/bound rows
    result/<key>/observed       [R', B] (or [R', groups] for results in expectation)
    result/<key>/bound, tol     same shape (tol: the round-off tolerance of each row)
    result/<key>/holds|checked  bool [B or groups]; rows_checked int [.] (informative rows);
                                worst_ratio [.]; first_violation [.] (step, -1: none)

Every write goes through ``ratecheck.atomic`` (temp file + rename).
"""

from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ratecheck.atomic import atomic_write, atomic_write_json
from ratecheck.errors import RatecheckError

# 2: rows of theory.report (role, frac_checked, reason, n/a for every registered result), tol and
# rows_checked arrays. Cells stored in another format are recomputed.
FORMAT = 2
CHECK_COLUMNS = ("problem", "optimizer", "result", "provenance", "role", "applicable", "iterate", "checked", "total", "frac_checked",
                 "violated", "worst_ratio", "first_violation", "status", "reason", "statement")
# The terminal table: the long text columns (reason, statement) only with ``wide``.
TABLE_COLUMNS = ("problem", "optimizer", "result", "role", "provenance", "checked", "frac_checked", "violated",
                 "worst_ratio", "first_violation", "status")
WIDE_COLUMNS = (*TABLE_COLUMNS, "reason", "statement")


def spec_dir(out: str | Path, spec) -> Path:
    return Path(out) / f"{spec.name}-{spec.hash[:10]}"


@dataclass
class StoredCell:
    """One cell read back: its JSON metadata and a lazy view of its arrays."""

    path: Path  # the .json file
    meta: dict[str, Any]
    _arrays: dict[str, np.ndarray] | None = None

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            with np.load(self.path.with_suffix(".npz"), allow_pickle=False) as z:
                self._arrays = {k: z[k] for k in z.files}
        return self._arrays

    def trace(self, name: str) -> np.ndarray:
        return self.arrays[f"trace/{name}"]

    def has(self, name: str) -> bool:
        return f"trace/{name}" in self.arrays

    @property
    def steps(self) -> np.ndarray:
        return self.arrays["steps"]

    @property
    def label(self) -> str:
        return self.meta["optimizer"]["label"]

    @property
    def problem_label(self) -> str:
        return self.meta["problem"]["label"]


class Store:
    """Read and write one spec's results folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.cells_dir = self.root / "cells"

    # -- writing ---------------------------------------------------------------------------
    def prepare(self, spec) -> None:
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        # Temp files of an atomic write interrupted by SIGKILL are never renamed into place.
        for tmp in self.cells_dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        if spec.text:
            atomic_write(self.root / "spec.toml", lambda f: f.write(spec.text.encode()))
        atomic_write_json(self.root / "spec.json", {"name": spec.name, "hash": spec.hash, **spec.canonical()})

    def has_cell(self, cell) -> bool:
        j = self.cells_dir / f"{cell.id}.json"
        if not (j.is_file() and j.with_suffix(".npz").is_file()):
            return False
        try:
            meta = json.loads(j.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        return meta.get("cell_hash") == cell.hash and meta.get("format") == FORMAT

    def write_cell(self, cell_id: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
        npz = self.cells_dir / f"{cell_id}.npz"

        def save(f):
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            f.write(buf.getvalue())

        atomic_write(npz, save)
        return atomic_write_json(self.cells_dir / f"{cell_id}.json", {"format": FORMAT, **meta})

    def update_manifest(self, spec, device: str, cell_times: dict[str, dict] | None = None, complete: bool | None = None) -> dict:
        path = self.root / "manifest.json"
        man = self.manifest() if path.is_file() else {}
        if not man:
            man = {
                "spec": spec.name,
                "spec_hash": spec.hash,
                "source": spec.source,
                "created": _now(),
                "cells": {},
            }
        man.update(
            {
                "package_version": _version("ratecheck"),
                "git_commit": _git_commit(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "libraries": {n: _version(n) for n in ("torch", "numpy", "scipy", "matplotlib", "cvxpy", "PEPit")},
                "device": device,
                "dtype": spec.dtype,
                "updated": _now(),
            }
        )
        if cell_times:
            man["cells"].update(cell_times)
        if complete is not None:
            man["complete"] = complete
        atomic_write_json(path, man)
        return man

    def write_checks(self, rows: list[dict]) -> Path:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=CHECK_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            out = {k: r.get(k, "") for k in CHECK_COLUMNS}
            if isinstance(out["frac_checked"], float):
                out["frac_checked"] = round(out["frac_checked"], 4)
            w.writerow(out)
        return atomic_write(self.root / "checks.csv", lambda f: f.write(buf.getvalue().encode()))

    # -- reading ---------------------------------------------------------------------------
    def manifest(self) -> dict:
        path = self.root / "manifest.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as e:
            raise RatecheckError(f"{path}: damaged manifest ({e})") from None

    def cells(self) -> list[StoredCell]:
        out = []
        for j in sorted(self.cells_dir.glob("*.json")):
            if not j.with_suffix(".npz").is_file():
                continue
            try:
                meta = json.loads(j.read_text())
            except json.JSONDecodeError as e:
                raise RatecheckError(f"{j}: damaged cell file ({e}); rerun with --force") from None
            out.append(StoredCell(j, meta))
        # Spec order (problem entry, then optimizer entry) rather than file-name order.
        out.sort(key=lambda c: (c.meta.get("problem_index", 0), c.meta.get("optimizer_index", 0)))
        return out


def open_results(path: str | Path) -> Store:
    """A results folder written by ``ratecheck run``; a clear error if ``path`` is not one."""
    root = Path(path)
    if not root.is_dir():
        raise RatecheckError(f"results folder {str(root)!r} not found")
    if not (root / "manifest.json").is_file() or not (root / "cells").is_dir():
        raise RatecheckError(f"{str(root)!r} is not a results folder (no manifest.json and cells/); pass a folder written by `ratecheck run`")
    return Store(root)


# -- the check table -----------------------------------------------------------------------


def check_rows(cells: list[StoredCell]) -> list[dict]:
    """One row per (cell, result): the cell's labels and its stored ``theory.report.row``."""
    rows = []
    for c in cells:
        for r in c.meta.get("results", []):
            rows.append(
                {
                    **r,
                    "problem": c.problem_label,
                    "optimizer": c.label,
                    "result": r["key"],
                    "role": r.get("role", "theorem"),
                }
            )
    return rows


def format_table(rows: list[dict], wide: bool = False) -> str:
    """The check table for a terminal; ``wide`` adds the reason and statement columns."""
    from ratecheck.theory.report import fmt_ratio

    if not rows:
        return "(no theory results registered for these cells)"
    if not wide:  # results outside their problem class: in checks.csv and --wide, counted in the headline
        rows = [r for r in rows if r.get("applicable", True)]
    cols = WIDE_COLUMNS if wide else TABLE_COLUMNS

    def cell(r, c):
        v = r.get(c)
        if c == "worst_ratio":
            return fmt_ratio(v)
        if c == "first_violation":
            return "-" if v in (None, -1) else str(v)
        if c == "checked":
            total = r.get("total") or 0
            out = f"{v}/{total}" if total else str(v or 0)
            return out + (" groups" if r.get("units") == "groups" and total else "")
        if c == "frac_checked":
            return f"{v:.2f}" if r.get("checked") else "-"
        return "" if v is None else str(v)

    cells = [[cell(r, c) for c in cols] for r in rows]
    width = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, width)).rstrip()
    return "\n".join([line(cols), line(["-" * w for w in width]), *map(line, cells)])


# -- environment ---------------------------------------------------------------------------


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> dict[str, Any] | None:
    """HEAD of the checkout this package is imported from, and whether it has local changes."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5)
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None
