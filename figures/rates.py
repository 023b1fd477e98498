"""Rate curves (suboptimality vs step, with bounds and PEP points) and slack (observed / bound)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from . import data
from .style import BAND_ALPHA, BOUND_STYLE, QUANTILES, color, save, subplots

PANELS = (("subopt", "last iterate", ("last", "best")), ("subopt_avg", "average iterate", ("average", "weighted_average")))


def by_problem(cells) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for c in cells:
        out[c.problem_label].append(c)
    return out


def result_curve(cell, key: str, which: str, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps and [R', cols] values of a stored result, restricted to the selected runs; columns
    of runs (or groups) the result was not checked on are NaN (nothing is drawn for them)."""
    a = cell.arrays
    v = a[f"result/{key}/{which}"].astype(np.float64)
    checked = a.get(f"result/{key}/checked")
    if checked is not None and checked.shape[0] == v.shape[1]:
        v = np.where(checked[None, :], v, np.nan)
    if v.shape[1] == mask.shape[0]:
        v = v[:, mask]
    else:  # checked in expectation: one column per grid point
        g = data.group_of_best(cell)
        v = v[:, [g]] if g is not None and g < v.shape[1] else v
    return a[f"result/{key}/steps"], v


def measures(cell, key: str, trace_name: str) -> bool:
    """Whether a result's observed curve is the trace quantity ``trace_name`` (so its bound is a
    bound on that curve and belongs on its panel)."""
    a = cell.arrays
    steps, obs = a[f"result/{key}/steps"], a[f"result/{key}/observed"]
    if obs.shape[1] != a["seeds"].shape[0] or not cell.has(trace_name):
        return False
    rows = np.searchsorted(cell.steps, steps)
    ok = (rows < len(cell.steps)) & (cell.steps[np.minimum(rows, len(cell.steps) - 1)] == steps)
    ref = cell.trace(trace_name)[rows[ok]]
    o = obs[ok]
    both = np.isfinite(ref) & np.isfinite(o)
    return bool(both.any()) and np.allclose(o[both], ref[both], rtol=1e-9, atol=1e-12)


def rate(cells, out: Path, fmt: str = "png") -> list[Path]:
    paths = []
    for prob, group in by_problem(cells).items():
        fig, axes = subplots(2, ncols=2, size=(6.4, 3.6))
        for ax, (name, title, iterates) in zip(axes, PANELS):
            for i, c in enumerate(group):
                if not c.has(name):
                    continue
                mask = data.best_runs(c)
                t = c.steps
                keep = t >= 1
                med, lo, hi = (data.positive(x) for x in data.band(c.trace(name), mask))
                ax.plot(t[keep], med[keep], color=color(i), label=c.label, linewidth=1.5)
                ax.fill_between(t[keep], lo[keep], hi[keep], color=color(i), alpha=BAND_ALPHA, linewidth=0)
                # Only the tightest bound at the horizon is drawn per method (all are in the slack figure).
                best = None
                for r in data.drawn_results(c, "bound"):
                    key = r["key"]
                    if r.get("iterate") not in iterates:
                        continue
                    if not measures(c, key, name):
                        continue
                    s, b = result_curve(c, key, "bound", mask)
                    bm = data.positive(data.band(b)[0]) if b.shape[1] else None
                    if bm is None or not np.isfinite(bm).any():
                        continue
                    # Prefer bounds that reach the horizon, then curves over results evaluated at a
                    # few steps only, then the smallest at the horizon.
                    fin = np.isfinite(bm)
                    final = (0 if fin[-1] else 1, 0 if fin.sum() >= 5 else 1, bm[-1] if fin[-1] else bm[fin][-1])
                    if best is None or final < best[0]:
                        best = (final, key, r, s, bm)
                if best is not None:
                    _, key, r, s, bm = best
                    k = (s >= 1) & np.isfinite(bm)
                    ax.plot(s[k], bm[k], color=color(i), label=f"bound {key} [{r['provenance']}]",
                            marker="_" if k.sum() < 5 else None, markersize=14, **BOUND_STYLE)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("step t")
            ax.set_ylabel("f(x) - f*")
            ax.set_title(f"{prob}: {title}\n(median over seeds, {int(100 * QUANTILES[0])}-{int(100 * QUANTILES[1])}% band)")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        paths.append(save(fig, out / f"rate_{_safe(prob)}.{fmt}"))
    return paths


def slack(cells, out: Path, fmt: str = "png") -> list[Path]:
    """observed / bound over time, one panel per cell with checked results (n/a ones are left
    out); the line y = 1 is the bound."""
    paths = []
    for prob, group in by_problem(cells).items():
        with_results = [c for c in group if data.drawn_results(c)]
        if not with_results:
            continue
        fig, axes = subplots(len(with_results), ncols=3)
        for ax, c in zip(axes, with_results):
            mask = data.best_runs(c)
            j = 0
            positive = False
            for r in data.drawn_results(c):
                key = r["key"]
                s, o = result_curve(c, key, "observed", mask)
                _, b = result_curve(c, key, "bound", mask)
                with np.errstate(all="ignore"):
                    ratio = np.where(b > 0, o / b, np.nan)
                med, lo, hi = data.band(ratio)
                k = s >= 1
                positive |= bool(np.any(np.isfinite(med[k]) & (med[k] > 0)))
                ax.plot(s[k], data.positive(med)[k], color=color(j), label=f"{key} [{r['provenance']}]")
                ax.fill_between(s[k], data.positive(lo)[k], data.positive(hi)[k], color=color(j), alpha=BAND_ALPHA, linewidth=0)
                j += 1
            ax.axhline(1.0, color="black", linewidth=0.8)
            # Identities and sign conditions can have no positive ratio at all (nothing is drawn):
            # log axes need positive data limits, so those panels stay linear.
            scale = "log" if positive else "linear"
            ax.set_xscale(scale)
            ax.set_yscale(scale)
            ax.set_xlabel("step t")
            ax.set_ylabel("observed / bound")
            ax.set_title(f"{prob} / {c.label}")
            ax.legend(loc="best", frameon=False)
        paths.append(save(fig, out / f"slack_{_safe(prob)}.{fmt}"))
    return paths


def _safe(s: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") or "x"
