"""Step-size schedules as run (refined vs linear vs cosine, ...) and a refined schedule from norms.

``schedules`` returns ``[(file stem, figure)]``; ``figures.plot_results`` saves them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import data
from .style import legend_outside, line, save, series, subplots


def schedules(cells) -> list:
    """The recorded step size ``lr`` per step, normalised by its maximum, one panel per problem.
    Schedules often coincide (every method's warm start, constant vs refined on a flat norm
    log): each gets its own line style and markers, so none hides another."""
    groups = {p: [c for c in g if c.has("lr")] for p, g in data.by_problem(cells).items()}
    groups = {p: g for p, g in groups.items() if g}
    if not groups:
        return []
    fig, axes = subplots(len(groups), ncols=3)
    methods = sorted({c.label for g in groups.values() for c in g})
    for ax, (prob, group) in zip(axes, groups.items()):
        for c in group:
            mask = data.best_runs(c)
            med, _, _ = data.band(c.trace("lr"), mask)
            peak = np.nanmax(np.abs(med)) if np.isfinite(med).any() else np.nan
            line(ax, c.steps, med / peak if peak > 0 else med, label=c.label, **series(methods.index(c.label), lines=True))
        ax.set_xlabel("step t")
        ax.set_ylabel("lr_t / max lr")
        ax.set_title(prob)
    fig.suptitle("step sizes as run (median over seeds at the best grid point)")
    legend_outside(fig)
    return [("schedules", fig)]


def plot_refined(norms: np.ndarray, schedule: np.ndarray, path: Path) -> Path:
    """Gradient norms (left) and the refined schedule (right) of ``ratecheck refine``."""
    fig, (a, b) = subplots(2, ncols=2)
    a.plot(np.arange(len(norms)), norms, color=series(0)["color"])
    a.set_xlabel("step t")
    a.set_ylabel("||g_t||")
    a.set_title("gradient norms")
    b.plot(np.arange(len(schedule)), schedule, color=series(1)["color"])
    b.set_xlabel("step t")
    b.set_ylabel("multiplier")
    b.set_title("refined schedule")
    return save(fig, Path(path))
