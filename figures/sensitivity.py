"""Learning-rate sensitivity: final suboptimality vs base lr, one curve per method."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import data
from .rates import by_problem
from .style import BAND_ALPHA, color, save, subplots


def lr_sensitivity(cells, out: Path, fmt: str = "png", hp: str = "lr") -> list[Path]:
    """Median (and 25-75% band) over seeds of f(x_T) - f* against the grid of ``hp``.

    Diverged runs count as +inf: a grid point whose median diverged is drawn as an x at the top.
    """
    groups = {}
    for prob, group in by_problem(cells).items():
        g = [c for c in group if f"hp/{hp}" in c.arrays and len(np.unique(c.arrays[f"hp/{hp}"])) >= 2]
        if g:
            groups[prob] = g
    if not groups:
        return []
    fig, axes = subplots(len(groups), ncols=3)
    for ax, (prob, group) in zip(axes, groups.items()):
        top = []
        for i, c in enumerate(group):
            lr = c.arrays[f"hp/{hp}"]
            fin = data.final_value(c)
            xs = np.unique(lr)
            with np.errstate(all="ignore"):
                q = np.array([np.quantile(fin[lr == x], (0.25, 0.5, 0.75)) for x in xs])
            ok = np.isfinite(q[:, 1]) & (q[:, 1] > 0)
            ax.plot(xs[ok], q[ok, 1], "-o", color=color(i), markersize=3, label=c.label)
            lo, hi = q[:, 0], np.where(np.isfinite(q[:, 2]), q[:, 2], np.nan)
            ax.fill_between(xs[ok], data.positive(lo[ok]), data.positive(hi[ok]), color=color(i), alpha=BAND_ALPHA, linewidth=0)
            if (~np.isfinite(q[:, 1])).any():
                top.append((xs[~np.isfinite(q[:, 1])], i))
        ax.set_xscale("log")
        ax.set_yscale("log")
        if top:
            ymax = ax.get_ylim()[1]
            for x, i in top:
                ax.plot(x, np.full(len(x), ymax), "x", color=color(i))
        ax.set_xlabel(f"base {hp}")
        ax.set_ylabel("final f(x_T) - f*")
        ax.set_title(prob)
        ax.legend(loc="best", frameon=False)
    return [save(fig, out / f"lr_sensitivity.{fmt}")]
