"""Step-size schedules as run (refined vs linear vs cosine, ...) and a refined schedule from norms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import data
from .rates import by_problem
from .style import color, save, subplots


def schedules(cells, out: Path, fmt: str = "png") -> list[Path]:
    """The recorded step size ``lr`` per step, normalised by its maximum, one panel per problem."""
    groups = {p: [c for c in g if c.has("lr")] for p, g in by_problem(cells).items()}
    groups = {p: g for p, g in groups.items() if g}
    if not groups:
        return []
    fig, axes = subplots(len(groups), ncols=3)
    for ax, (prob, group) in zip(axes, groups.items()):
        for i, c in enumerate(group):
            mask = data.best_runs(c)
            med, _, _ = data.band(c.trace("lr"), mask)
            peak = np.nanmax(np.abs(med)) if np.isfinite(med).any() else np.nan
            ax.plot(c.steps, med / peak if peak > 0 else med, color=color(i), label=c.label, marker="." if len(c.steps) < 60 else None)
        ax.set_xlabel("step t")
        ax.set_ylabel("lr_t / max lr")
        ax.set_title(prob)
        ax.legend(loc="best", frameon=False)
    return [save(fig, out / f"schedules.{fmt}")]


def plot_refined(norms: np.ndarray, schedule: np.ndarray, path: Path) -> Path:
    """Gradient norms (left) and the refined schedule (right) of ``ratecheck refine``."""
    fig, (a, b) = subplots(2, ncols=2)
    a.plot(np.arange(len(norms)), norms, color=color(0))
    a.set_xlabel("step t")
    a.set_ylabel("||g_t||")
    a.set_title("gradient norms")
    b.plot(np.arange(len(schedule)), schedule, color=color(1))
    b.set_xlabel("step t")
    b.set_ylabel("multiplier")
    b.set_title("refined schedule")
    return save(fig, Path(path))
