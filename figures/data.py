"""What the figures read from a stored cell: run selection, summaries over seeds, result curves.

Nothing that was not checked is drawn: a result whose row is n/a, the runs (or groups) a result
was not checked on, and its rows that carry no information (NaN, or below round-off resolution:
``theory.base.compare`` on the stored sides and tolerance) are left out.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict

import numpy as np

from .style import QUANTILES


def by_problem(cells) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for c in cells:
        out[c.problem_label].append(c)
    return out


def hp_points(cell) -> tuple[list[str], np.ndarray]:
    """Hyper-parameter names and the per-run matrix [B, k] (k may be 0)."""
    names = sorted(k[3:] for k in cell.arrays if k.startswith("hp/"))
    B = len(cell.arrays["seeds"])
    mat = np.stack([cell.arrays[f"hp/{n}"] for n in names], axis=1) if names else np.zeros((B, 0))
    return names, mat


def final_value(cell, name: str = "subopt") -> np.ndarray:
    """Last finite-row value per run; +inf for diverged runs: non-finite (frozen) or escaped while
    finite (experiments/divergence.py states the criterion)."""
    v = cell.trace(name)
    last = v[-1].copy()
    div = cell.trace("diverged")[-1] > 0 if cell.has("diverged") else np.zeros_like(last, dtype=bool)
    if "run/escaped" in cell.arrays:
        div = div | cell.arrays["run/escaped"]
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


def best_label(cell) -> str:
    """The cell's label and the grid point the figures show, e.g. 'SGD linear (lr=0.1)'; the
    grid's other points are named only by the lr-sensitivity figure."""
    names, mat = hp_points(cell)
    grid = [(n, mat[best_runs(cell)][0, i]) for i, n in enumerate(names) if len(np.unique(mat[:, i])) > 1]
    return cell.label + (" (" + ", ".join(f"{n}={v:.3g}" for n, v in grid) + ")" if grid else "")


def stochastic(cell) -> bool:
    """Whether the cell ran under the minibatch oracle (its bounds hold in expectation)."""
    return cell.meta.get("problem", {}).get("oracle") == "stochastic"


def drawn_results(cell, kind: str | None = None) -> list[dict]:
    """The cell's stored result rows whose curves may be drawn: checked on at least one run (an
    n/a result, e.g. one whose assumption is false on every run, is never drawn) and with arrays
    in the store; only those of ``kind`` if given."""
    return [
        r for r in cell.meta.get("results", [])
        if r.get("status") != "n/a" and r.get("checked", 0) > 0 and f"result/{r['key']}/bound" in cell.arrays
        and (kind is None or r.get("kind") == kind)
    ]


def informative(cell, row: dict) -> np.ndarray:
    """[R', cols] bool: the stored rows of a result that were informative (the checker's own
    criterion, ``theory.base.compare``) on the runs or groups it was checked on."""
    import torch

    from ratecheck.theory.base import compare

    a, key = cell.arrays, row["key"]
    t = {n: torch.from_numpy(a[f"result/{key}/{n}"].astype(np.float64)) for n in ("observed", "bound", "tol")}
    kind = "identity" if row.get("kind") == "identity" else "bound"
    _, info = compare(t["observed"], t["bound"], t["tol"], kind)
    out = info.numpy()
    checked = a.get(f"result/{key}/checked")
    if checked is not None and checked.shape[0] == out.shape[1]:
        out = out & checked[None, :]
    return out


def result_curve(cell, row: dict, which: str, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Steps and [R', cols] values (``which``: observed, bound, tol) of a stored result at its
    informative rows, NaN elsewhere; restricted to the runs of ``mask``, or for a result in
    expectation (one column per grid point) to the column of the best grid point."""
    a, key = cell.arrays, row["key"]
    v = np.where(informative(cell, row), a[f"result/{key}/{which}"].astype(np.float64), np.nan)
    if mask is not None:
        if v.shape[1] == mask.shape[0]:
            v = v[:, mask]
        else:  # checked in expectation: one column per grid point
            g = group_of_best(cell)
            v = v[:, [g]] if g is not None and g < v.shape[1] else v
    return a[f"result/{key}/steps"], v


# E[f(x_n) - f*] <= ...: a bound in expectation on the suboptimality of one iterate.
_EXPECTED_SUBOPT = re.compile(r"(^|: )E\[f\(x_?\w*\) - f\*\] <=")


def bounds_curve(cell, row: dict, trace_name: str) -> bool:
    """Whether a result bounds the trace quantity ``trace_name`` itself (so its bound belongs on
    that quantity's rate panel).

    Per-run results: their observed side equals the stored trace at every common finite row.
    Results in expectation store mean - margin(n, R) SE per grid point, not the per-run values, so they are
    matched by their statement instead: ``E[f(x_n) - f*] <= ...`` with the iterate of the panel."""
    a, key = cell.arrays, row["key"]
    steps, obs = a[f"result/{key}/steps"], a[f"result/{key}/observed"]
    if not cell.has(trace_name):
        return False
    if row.get("in_expectation"):
        want = {"subopt": ("last",), "subopt_avg": ("average",)}.get(trace_name, ())
        return row.get("iterate") in want and bool(_EXPECTED_SUBOPT.match(row.get("statement", "")))
    if obs.shape[1] != a["seeds"].shape[0]:
        return False
    rows = np.searchsorted(cell.steps, steps)
    ok = (rows < len(cell.steps)) & (cell.steps[np.minimum(rows, len(cell.steps) - 1)] == steps)
    ref = cell.trace(trace_name)[rows[ok]]
    o = obs[ok]
    both = np.isfinite(ref) & np.isfinite(o)
    return bool(both.any()) and np.allclose(o[both], ref[both], rtol=1e-9, atol=1e-12)


def band(values: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and quantile band over runs (columns) of [T', B], ignoring NaN."""
    v = values if mask is None else values[:, mask]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if v.shape[1] == 0 or np.isnan(v).all():
            nan = np.full(v.shape[0], np.nan)
            return nan, nan, nan
        med = np.nanmedian(v, axis=1)
        lo, hi = np.nanquantile(v, QUANTILES, axis=1)
    return med, lo, hi


def mean_se(values: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs (columns) of [T', B] and mean -+ one standard error (NaN ignored): the
    summary that a bound in expectation is about."""
    v = values if mask is None else values[:, mask]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = np.sum(np.isfinite(v), axis=1)
        mean = np.nanmean(v, axis=1)
        se = np.where(n > 1, np.nanstd(v, axis=1, ddof=1) / np.sqrt(np.maximum(n, 1)), np.nan)
    return mean, mean - se, mean + se


def positive(v: np.ndarray) -> np.ndarray:
    """For log axes: non-positive values (exact optimum, round-off) are left out (NaN)."""
    out = np.array(v, dtype=np.float64)
    out[~(out > 0)] = np.nan
    return out
