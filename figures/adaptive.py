"""D-Adaptation / Prodigy distance estimates d_k / D, and Lyapunov quantities over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import data
from .rates import by_problem, result_curve
from .style import BAND_ALPHA, BOUND_STYLE, color, save, subplots

def d_ratio(cells, out: Path, fmt: str = "png") -> list[Path]:
    """d_k / D with D = ||x0 - x*|| (the recorded dist at step 0): Theorem-style d_k <= D shows as <= 1.

    Drawn for every method whose info records ``d``, an estimate of D (D-Adaptation, Prodigy and
    any method added later that declares one), whatever its name."""
    groups = {p: [c for c in g if c.has("d")] for p, g in by_problem(cells).items()}
    groups = {p: g for p, g in groups.items() if g}
    if not groups:
        return []
    fig, axes = subplots(len(groups), ncols=3)
    for ax, (prob, group) in zip(axes, groups.items()):
        for i, c in enumerate(group):
            mask = data.best_runs(c)
            D = c.trace("dist")[0]
            with np.errstate(all="ignore"):
                ratio = c.trace("d") / D[None, :]
            med, lo, hi = data.band(ratio, mask)
            t = c.steps
            k = t >= 1
            ax.plot(t[k], data.positive(med)[k], color=color(i), label=c.label)
            ax.fill_between(t[k], data.positive(lo)[k], data.positive(hi)[k], color=color(i), alpha=BAND_ALPHA, linewidth=0)
        ax.axhline(1.0, color="black", linewidth=0.8, label="D = ||x0 - x*||")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step t")
        ax.set_ylabel("d_k / D")
        ax.set_title(prob)
        ax.legend(loc="best", frameon=False)
    return [save(fig, out / f"d_over_D.{fmt}")]


def lyapunov(cells, out: Path, fmt: str = "png") -> list[Path]:
    """Every result of kind "lyapunov": the quantity (solid) against its bound (dashed)."""
    items = [(c, r) for c in cells for r in data.drawn_results(c, "lyapunov")]
    if not items:
        return []
    fig, axes = subplots(len(items), ncols=3)
    for ax, (c, r) in zip(axes, items):
        mask = data.best_runs(c)
        key = r["key"]
        for j, which in enumerate(("observed", "bound")):
            s, v = result_curve(c, key, which, mask)
            med, lo, hi = data.band(v)
            kw = BOUND_STYLE if which == "bound" else {}
            ax.plot(s, med, color=color(j), label=which, **kw)
            ax.fill_between(s, lo, hi, color=color(j), alpha=BAND_ALPHA, linewidth=0)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("step t")
        ax.set_title(f"{c.problem_label} / {c.label}\n{key} [{r['provenance']}]")
        ax.legend(loc="best", frameon=False)
    return [save(fig, out / f"lyapunov.{fmt}")]
