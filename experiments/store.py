"""The result store: one folder per spec, one npz + JSON pair per cell, a manifest, a check table.

Layout of ``<out>/<spec name>-<spec hash>/`` (documented in docs/cli.md)::

    spec.toml             the spec as read
    spec.json             the normalised spec (what the hash is computed from)
    manifest.json         spec hash, package version, git commit, library versions, device,
                          wall time per cell
    cells/<id>.npz        arrays of one cell (below)
    cells/<id>.json       metadata and check summaries of one cell, with the format, the package
                          version and the sha256 and size of its .npz; written last, so a cell
                          counts as done only once its JSON exists
    .lock                 held by the ``ratecheck run`` writing this folder (filelock)
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
    run/diverged, run/escaped   bool [B]: non-finite (frozen), or escaped while finite
                                (experiments/divergence.py)

Every write goes through ``ratecheck.atomic`` (temp file + rename). A stored cell is used only if
it is what was written: its .npz has the recorded size and sha256, and its JSON names its own
cell, this format and this package version. Otherwise ``run`` recomputes it and ``check``/``plot``
stop with one line naming the file and the mismatch (``Store.verify``).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import platform
import subprocess
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ratecheck.atomic import atomic_write, atomic_write_json, stale_temp_files
from ratecheck.errors import RatecheckError

# 2: rows of theory.report (role, frac_checked, reason, n/a for every registered result), tol and
# rows_checked arrays. 3: the .npz's sha256 and size and the package version in the cell JSON.
# Cells stored in another format are recomputed by ``run`` and refused by ``check``/``plot``.
FORMAT = 3
CHECK_COLUMNS = ("problem", "optimizer", "result", "provenance", "role", "applicable", "iterate", "checked", "total", "frac_checked",
                 "violated", "worst_ratio", "first_violation", "status", "reason", "statement", "diverged", "diverged_at")
# The terminal table: the long text columns (reason, statement) only with ``wide``.
TABLE_COLUMNS = ("problem", "optimizer", "result", "role", "provenance", "checked", "frac_checked", "violated",
                 "worst_ratio", "first_violation", "diverged", "status")
WIDE_COLUMNS = (*TABLE_COLUMNS, "reason", "statement", "diverged_at")


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
            npz = self.path.with_suffix(".npz")
            try:
                with np.load(npz, allow_pickle=False) as z:
                    self._arrays = {k: z[k] for k in z.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # changed after Store.verify read it
                raise RatecheckError(f"{npz}: damaged cell file ({type(e).__name__}); rerun `ratecheck run` on its spec to recompute it") from None
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
        # Temp files of an atomic write interrupted by SIGKILL are never renamed into place; those
        # of a live writer (its pid is in the name) are left alone.
        for tmp in stale_temp_files(self.cells_dir):
            tmp.unlink(missing_ok=True)
        if spec.text:
            atomic_write(self.root / "spec.toml", lambda f: f.write(spec.text.encode()))
        atomic_write_json(self.root / "spec.json", {"name": spec.name, "hash": spec.hash, **spec.canonical()})

    @contextlib.contextmanager
    def lock(self, log=None):
        """Hold the folder's lock for a whole run: a second ``run`` into the same folder waits,
        then finds the first one's cells cached. The lock dies with its process (flock)."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if log is not None:
                log(f"waiting for another run writing to {self.root}")
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def verify(self, json_path: Path, expected_hash: str | None = None) -> str | None:
        """Why the cell stored at ``json_path`` cannot be used, or None if it is what was written."""
        try:
            meta = json.loads(json_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            return f"damaged cell file ({type(e).__name__})"
        if not isinstance(meta, dict):
            return "damaged cell file (not a JSON object)"
        if meta.get("format") != FORMAT:
            return f"stored in format {meta.get('format')}, this ratecheck reads format {FORMAT}"
        version = _version("ratecheck")
        if meta.get("package_version") != version:
            return f"written by ratecheck {meta.get('package_version')}, this is ratecheck {version}"
        if meta.get("cell_id") != json_path.stem:
            return f"holds cell {meta.get('cell_id')!r}, not {json_path.stem!r} (files renamed or swapped)"
        if expected_hash is not None and meta.get("cell_hash") != expected_hash:
            return "holds another cell's parameters"
        npz = json_path.with_suffix(".npz")
        rec = meta.get("npz") or {}
        try:
            size = npz.stat().st_size
        except FileNotFoundError:
            return "its .npz is missing"
        if size != rec.get("bytes"):
            return f"its .npz is {size} bytes, {rec.get('bytes')} recorded (truncated or replaced)"
        with open(npz, "rb") as f:
            if hashlib.file_digest(f, "sha256").hexdigest() != rec.get("sha256"):
                return "its .npz differs from the recorded sha256 (replaced or damaged)"
        return None

    def has_cell(self, cell, log=None) -> bool:
        """Whether ``cell`` is stored and usable; ``log`` hears why a stored one is not."""
        j = self.cells_dir / f"{cell.id}.json"
        if not j.is_file():
            return False
        why = self.verify(j, cell.hash)
        if why is not None and log is not None:
            log(f"recomputing cell {cell.id}: {why}")
        return why is None

    def write_cell(self, cell_id: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        atomic_write(self.cells_dir / f"{cell_id}.npz", lambda f: f.write(data))
        stamp = {"format": FORMAT, "package_version": _version("ratecheck"), "cell_id": cell_id,
                 "npz": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}}
        return atomic_write_json(self.cells_dir / f"{cell_id}.json", {**meta, **stamp})

    def update_manifest(self, spec, device: str | None = None, cell_times: dict[str, dict] | None = None,
                        complete: bool | None = None) -> dict:
        """Create or update manifest.json. The environment (package and library versions, git
        commit, device) is stamped only with ``device``, i.e. when cells are computed: a run that
        finds every cell cached leaves the stamp of the runs that made them."""
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
        man["cell_ids"] = [c.id for c in spec.cells()]
        if device is not None:
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
        """The stored cells, each verified (``verify``): one line naming the first bad file."""
        out = []
        for j in sorted(self.cells_dir.glob("*.json")):
            why = self.verify(j)
            if why is not None:
                raise RatecheckError(f"cell {j.stem} in {self.root}: {why}; rerun `ratecheck run` on its spec to recompute it")
            out.append(StoredCell(j, json.loads(j.read_text())))
        # Spec order (problem entry, then optimizer entry) rather than file-name order.
        out.sort(key=lambda c: (c.meta.get("problem_index", 0), c.meta.get("optimizer_index", 0)))
        return out

    def finished_cells(self) -> list[StoredCell]:
        """``cells()`` of a folder whose run finished; a one-line error ("incomplete: 6/18 cells") if not."""
        cells = self.cells()
        man = self.manifest()
        expected = man.get("cell_ids")
        done = {c.meta["cell_id"] for c in cells}
        if expected is not None:
            n = sum(i in done for i in expected)
            if n < len(expected):
                raise RatecheckError(f"incomplete: {n}/{len(expected)} cells in {self.root}; rerun `ratecheck run {man.get('source') or 'SPEC'}` to finish")
        elif not cells or not man.get("complete", True):
            raise RatecheckError(f"incomplete: {len(cells)} cells in {self.root} and the run did not finish; rerun `ratecheck run` on its spec")
        return cells


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
                    # runs of the cell that diverged (experiments/divergence.py), and at which grid points
                    "diverged": f"{c.meta.get('diverged_runs', 0)}/{c.meta.get('n_runs', '?')}",
                    "diverged_at": c.meta.get("diverged_at", ""),
                }
            )
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """One row per result over all cells: runs checked of runs, runs violated, worst ratio, and
    the statuses of its cell rows (results outside their problem class left out)."""
    from ratecheck.theory.report import fmt_ratio

    out: dict[str, dict] = {}
    for r in rows:
        if not r.get("applicable", True):
            continue
        s = out.setdefault(r["result"], {"result": r["result"], "role": r.get("role", "theorem"), "provenance": r.get("provenance", ""),
                                         "cells": 0, "checked": 0, "total": 0, "violated": 0, "worst_ratio": None, "statuses": Counter()})
        s["cells"] += 1
        s["checked"] += r.get("checked") or 0
        s["total"] += r.get("total") or 0
        s["violated"] += r.get("violated") or 0
        w = r.get("worst_ratio")
        if isinstance(w, (int, float)) and w == w and (s["worst_ratio"] is None or w > s["worst_ratio"]):
            s["worst_ratio"] = w
        s["statuses"][r["status"]] += 1
    for s in out.values():
        s["statuses"] = ", ".join(f"{n} {k}" for k, n in s["statuses"].most_common())
        s["worst_ratio"] = fmt_ratio(s["worst_ratio"])
    return list(out.values())


def divergence_line(cells: list[StoredCell]) -> str:
    """'diverged: 12/480 runs in 2 cells' (experiments/divergence.py), or '' when none diverged."""
    bad = [c for c in cells if c.meta.get("diverged_runs")]
    if not bad:
        return ""
    n = sum(c.meta["diverged_runs"] for c in bad)
    total = sum(c.meta.get("n_runs", 0) for c in cells)
    return f"diverged: {n}/{total} runs in {len(bad)} cell{'s' * (len(bad) != 1)}"


def format_table(rows: list[dict], wide: bool = False) -> str:
    """The check table for a terminal; ``wide`` adds the reason and statement columns."""
    from ratecheck.tables import render
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

    return render(cols, [[cell(r, c) for c in cols] for r in rows])


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
