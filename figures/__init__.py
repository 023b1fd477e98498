"""Figures from a stored results folder (matplotlib, Agg): every image is rebuilt from the store.

``plot_results(result_dir, kinds, out, fmt)`` writes the figures of the requested kinds:

- ``rate``           f(x_t) - f* vs t, last and average iterate, at each method's best lr: median +
                     band over seeds (mean +- SE for stochastic runs), the tightest checked bound
                     on that curve dashed (in expectation for stochastic runs);
- ``slack``          identities as round-off residuals, bounds as observed / bound over time;
- ``d``              d_k / ||x0 - x*|| for D-Adaptation and Prodigy;
- ``lyapunov``       decrease per step against the guaranteed decrease;
- ``schedule``       the step sizes as run (refined vs linear vs cosine, ...);
- ``lr-sensitivity`` final suboptimality vs base lr, one curve per method.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from .adaptive import d_ratio, lyapunov
from .rates import rate, slack
from .schedules import plot_refined, schedules
from .sensitivity import lr_sensitivity
from .style import RC, save, tidy

PLOTTERS = {
    "rate": rate,
    "slack": slack,
    "d": d_ratio,
    "lyapunov": lyapunov,
    "schedule": schedules,
    "lr-sensitivity": lr_sensitivity,
}
WHY_EMPTY = {
    "rate": "no cells",
    "slack": "no theory result was checked",
    "d": "no D-Adaptation/Prodigy cell recorded d",
    "lyapunov": "no result of kind 'lyapunov' was checked",
    "schedule": "no cell recorded a step size 'lr'",
    "lr-sensitivity": "no cell has a grid of at least 2 values of lr",
}


def make_figures(kind: str, cells) -> list:
    """``[(file stem, figure)]`` of one kind, drawn in the house style (not yet saved)."""
    with plt.rc_context(RC):
        figs = PLOTTERS[kind](cells)
        for _, fig in figs:
            tidy(fig)
    return figs


def draw(kind: str, cells, out, fmt: str = "png") -> list[Path]:
    """Write the figures of one kind from ``cells`` (e.g. a notebook's own selection) into ``out``."""
    return [save(fig, Path(out) / f"{stem}.{fmt}") for stem, fig in make_figures(kind, cells)]


def plot_results(result_dir, kinds=None, out=None, fmt: str = "png") -> tuple[list[Path], list[str]]:
    """Write figures; returns (paths written, notes on kinds with nothing to show)."""
    from ratecheck.errors import RatecheckError, unknown
    from ratecheck.experiments.store import open_results

    store = open_results(result_dir)
    cells = store.cells()
    if not cells:
        raise RatecheckError(f"{str(result_dir)!r} holds no finished cells; nothing to plot")
    out = Path(out) if out else store.root / "figures"
    paths, notes = [], []
    for kind in kinds or list(PLOTTERS):
        if kind not in PLOTTERS:
            raise unknown("figure kind", kind, PLOTTERS)
        got = draw(kind, cells, out, fmt)
        if not got:
            notes.append(f"no {kind} figure: {WHY_EMPTY[kind]}")
        paths.extend(got)
    return paths, notes


__all__ = ["PLOTTERS", "d_ratio", "draw", "make_figures", "lr_sensitivity", "lyapunov", "plot_refined", "plot_results", "rate", "schedules", "slack"]
