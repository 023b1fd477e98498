"""What the figures read from a stored cell: run selection and summaries over seeds."""

from __future__ import annotations

import numpy as np

from .style import QUANTILES


def hp_points(cell) -> tuple[list[str], np.ndarray]:
    """Hyper-parameter names and the per-run matrix [B, k] (k may be 0)."""
    names = sorted(k[3:] for k in cell.arrays if k.startswith("hp/"))
    B = len(cell.arrays["seeds"])
    mat = np.stack([cell.arrays[f"hp/{n}"] for n in names], axis=1) if names else np.zeros((B, 0))
    return names, mat


def final_value(cell, name: str = "subopt") -> np.ndarray:
    """Last finite-row value per run; +inf for diverged runs."""
    v = cell.trace(name)
    last = v[-1].copy()
    div = cell.trace("diverged")[-1] > 0 if cell.has("diverged") else np.zeros_like(last, dtype=bool)
    last[div | ~np.isfinite(last)] = np.inf
    return last


def best_runs(cell) -> np.ndarray:
    """Mask [B] of the grid point with the lowest median final suboptimality (last iterate)."""
    _, mat = hp_points(cell)
    if mat.shape[1] == 0:
        return np.ones(len(cell.arrays["seeds"]), dtype=bool)
    fin = final_value(cell)
    pts, inv = np.unique(mat, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    med = np.array([np.median(fin[inv == g]) for g in range(len(pts))])
    return inv == int(np.argmin(med))


def group_of_best(cell) -> int | None:
    """Column index, among results checked in expectation (one column per grid point, in the
    lexicographic order torch.unique(dim=0) uses), of the best grid point."""
    _, mat = hp_points(cell)
    if mat.shape[1] == 0:
        return 0
    pts, inv = np.unique(mat, axis=0, return_inverse=True)
    return int(inv.reshape(-1)[np.argmax(best_runs(cell))])


def drawn_results(cell, kind: str | None = None) -> list[dict]:
    """The cell's stored result rows whose curves may be drawn: checked on at least one run (an
    n/a result, e.g. one whose assumption is false on every run, is never drawn) and with arrays
    in the store; only those of ``kind`` if given."""
    return [
        r for r in cell.meta.get("results", [])
        if r.get("status") != "n/a" and r.get("checked", 0) > 0 and f"result/{r['key']}/bound" in cell.arrays
        and (kind is None or r.get("kind") == kind)
    ]


def band(values: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and quantile band over runs (columns) of [T', B], ignoring NaN."""
    v = values if mask is None else values[:, mask]
    with np.errstate(all="ignore"):
        if v.shape[1] == 0 or np.isnan(v).all():
            nan = np.full(v.shape[0], np.nan)
            return nan, nan, nan
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(v, axis=1)
            lo, hi = np.nanquantile(v, QUANTILES, axis=1)
    return med, lo, hi


def positive(v: np.ndarray) -> np.ndarray:
    """For log axes: non-positive values (exact optimum, round-off) are left out (NaN)."""
    out = np.array(v, dtype=np.float64)
    out[~(out > 0)] = np.nan
    return out
