"""One look for every figure: colours, markers, line styles, layout, axis limits, saving.

Okabe & Ito (2008), "Color Universal Design": eight colours distinguishable under the common
colour-vision deficiencies. Series i of a panel gets colour i, marker i and (where lines can
coincide) line style i, so no two of a panel's at most ``MAX_SERIES`` series look alike; a panel
never holds more (the figures facet the rest). Observed curves are solid, bounds dashed.

Layout is matplotlib's constrained layout: legends sit outside the axes (``legend_outside``),
and nothing is placed by hand-tuned coordinates.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ratecheck.atomic import atomic_write  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2)), (0, (2, 2)), (0, (8, 2, 1, 2, 1, 2)), (0, (3, 1, 1, 1)), (0, (10, 3)))
MAX_SERIES = len(OKABE_ITO)  # series per panel; more are split over further panels
BOUND_STYLE = {"linestyle": "--", "linewidth": 1.3}
BAND_ALPHA = 0.2
QUANTILES = (0.1, 0.9)  # the band around the median over seeds (deterministic runs)
MARKS_PER_CURVE = 8  # markers along a curve: enough to tell series apart, few enough not to hide it

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "figure.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
    "legend.frameon": False,
}


def color(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def series(i: int, lines: bool = False) -> dict:
    """Line keywords of series i of a panel: colour and marker (markers spaced along the curve,
    shifted per series so that coinciding curves still show every series), and with ``lines``
    also line style i (for curves that can coincide exactly, e.g. schedules)."""
    step = 1.0 / MARKS_PER_CURVE
    kw = {"color": color(i), "marker": MARKERS[i % len(MARKERS)], "markersize": 4,
          "markevery": (step * ((i * 0.37) % 1.0), step), "markerfacecolor": "none"}
    if lines:
        kw["linestyle"] = LINESTYLES[i % len(LINESTYLES)]
    return kw


def line(ax, x, y, **kw):
    """``ax.plot`` of the finite points of (x, y) only (a line across rows with no value; a
    marker spacing along an empty curve is undefined); nothing when no point is finite."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    k = np.isfinite(x) & np.isfinite(y)
    return ax.plot(x[k], y[k], **kw) if k.any() else None


def subplots(n: int, ncols: int = 3, size: tuple[float, float] = (3.6, 2.8), **kw):
    """A grid of n panels (constrained layout; extra axes hidden); returns (fig, flat list of n axes)."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    with plt.rc_context(RC):
        fig = plt.figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def legend_outside(target, ax=None, **kw):
    """A legend beside the axes (``ax``: that panel's own series) or below a whole figure or
    subfigure (``target.legend``, the handles of all its panels, each label once); constrained
    layout makes room for it, so it never covers data."""
    with plt.rc_context(RC):
        if ax is not None:
            if not ax.get_legend_handles_labels()[0]:
                return None
            return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)
        seen: dict[str, object] = {}
        for a in target.axes:
            for h, lab in zip(*a.get_legend_handles_labels()):
                if not lab.startswith("_"):
                    seen.setdefault(lab, h)
        if not seen:
            return None
        kw.setdefault("ncols", min(3, len(seen)))
        return target.legend(list(seen.values()), list(seen), loc="outside lower center", **kw)


def robust_limits(ax, values, include: tuple[float, ...] = (), min_decades: float = 1.0, low_q: float = 0.01) -> None:
    """Log y-axis from the ``low_q`` quantile of the drawn positive values (a few near-zero rows
    do not stretch the axis over many empty decades) to their maximum (a violation is never cut
    off), with ``include``, never narrower than ``min_decades`` decades: an axis that autoscales
    onto round-off (1 +- 1e-15) draws noise as structure and repeats its tick labels."""
    v = np.concatenate([np.ravel(np.asarray(x, dtype=np.float64)) for x in values] or [np.zeros(0)])
    v = v[np.isfinite(v) & (v > 0)]
    pts = np.concatenate([np.quantile(v, (low_q, 1.0)) if v.size else np.zeros(0), np.asarray(include, dtype=np.float64)])
    ax.set_yscale("log")
    if pts.size == 0:
        return
    a, b = np.log10(pts.min()), np.log10(pts.max())
    pad = max(0.0, min_decades - (b - a)) / 2 + 0.05 * max(b - a, min_decades)
    ax.set_ylim(10 ** (a - pad), 10 ** (b + pad))


def tidy(fig) -> None:
    """Log axes of every panel: two labelled major ticks in view (powers of ten) and no
    labels on minor ticks (on a short range they crowd and repeat, "3x10^-1 4x10^-1 ...")."""
    from matplotlib.ticker import NullFormatter

    for ax in fig.get_axes():
        for axis, get, set_ in ((ax.xaxis, ax.get_xlim, ax.set_xlim), (ax.yaxis, ax.get_ylim, ax.set_ylim)):
            if axis.get_scale() != "log":
                continue
            axis.set_minor_formatter(NullFormatter())
            lo, hi = sorted(get())
            if lo > 0 and np.isfinite(hi) and np.floor(np.log10(hi)) - np.ceil(np.log10(lo)) < 1:
                # widen to the enclosing powers of ten, so that two major ticks are in view
                a, b = 10.0 ** np.floor(np.log10(lo)), 10.0 ** np.ceil(np.log10(hi))
                b = max(b, 10 * a)
                set_(*((b, a) if get()[0] > get()[1] else (a, b)))


def save(fig, path: Path) -> Path:
    """Write the figure atomically and close it; the format follows the suffix."""
    with plt.rc_context(RC):
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix.lstrip("."))
    plt.close(fig)
    return atomic_write(path, lambda f: f.write(buf.getvalue()))
