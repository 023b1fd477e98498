"""Learning-rate sensitivity: final suboptimality vs base lr, one curve per method.

``lr_sensitivity`` returns ``[(file stem, figure)]``; ``figures.plot_results`` saves them.
"""

from __future__ import annotations

import numpy as np

from . import data
from .style import BAND_ALPHA, legend_outside, line, series, subplots


def lr_sensitivity(cells, hp: str = "lr") -> list:
    """Median (and 25-75% band) over seeds of f(x_T) - f* against the grid of ``hp``.

    Diverged runs count as +inf: a grid point whose median diverged is drawn as an x at the top.
    """
    groups = {}
    for prob, group in data.by_problem(cells).items():
        g = [c for c in group if f"hp/{hp}" in c.arrays and len(np.unique(c.arrays[f"hp/{hp}"])) >= 2]
        if g:
            groups[prob] = g
    if not groups:
        return []
    fig, axes = subplots(len(groups), ncols=3)
    methods = sorted({c.label for g in groups.values() for c in g})
    for ax, (prob, group) in zip(axes, groups.items()):
        top = []
        for c in group:
            st = series(methods.index(c.label), lines=True)  # line styles: methods can coincide (linear vs refined)
            lr = c.arrays[f"hp/{hp}"]
            fin = data.final_value(c)
            xs = np.unique(lr)
            with np.errstate(all="ignore"):
                q = np.array([np.quantile(fin[lr == x], (0.25, 0.5, 0.75)) for x in xs])
            ok = np.isfinite(q[:, 1]) & (q[:, 1] > 0)
            line(ax, xs[ok], q[ok, 1], label=c.label, **{**st, "markevery": None})
            lo, hi = q[:, 0], np.where(np.isfinite(q[:, 2]), q[:, 2], np.nan)
            ax.fill_between(xs[ok], data.positive(lo[ok]), data.positive(hi[ok]), color=st["color"], alpha=BAND_ALPHA, linewidth=0)
            if (~np.isfinite(q[:, 1])).any():
                top.append((xs[~np.isfinite(q[:, 1])], st["color"]))
        ax.set_xscale("log")
        ax.set_yscale("log")
        if top:
            ymax = ax.get_ylim()[1]
            for x, col in top:
                line(ax, x, np.full(len(x), ymax), marker="x", linestyle="none", color=col, label="diverged (median)")
        ax.set_xlabel(f"base {hp}")
        ax.set_ylabel("final f(x_T) - f*")
        ax.set_title(prob)
    fig.suptitle("final suboptimality against the base lr (median over seeds, 25-75% band)")
    legend_outside(fig)
    return [("lr_sensitivity", fig)]
