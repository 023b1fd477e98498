"""One look for every figure: Okabe-Ito colours (colour-blind safe), sizes, fonts, saving.

Okabe & Ito (2008), "Color Universal Design": eight colours distinguishable under the common
colour-vision deficiencies. Line styles add a second channel: observed curves solid, bounds
dashed, PEP worst cases as markers.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402

from ratecheck.atomic import atomic_write  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
BOUND_STYLE = {"linestyle": "--", "linewidth": 1.3}
BAND_ALPHA = 0.2
QUANTILES = (0.1, 0.9)  # the band around the median over seeds

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
}


def color(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def subplots(n: int, ncols: int = 3, size: tuple[float, float] = (3.6, 2.8), **kw):
    """A grid of n panels (extra axes hidden); returns (fig, flat list of n axes)."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    with plt.rc_context(RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, **kw)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def save(fig, path: Path) -> Path:
    """Write the figure atomically and close it; the format follows the suffix."""
    import warnings

    with plt.rc_context(RC), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tight_layout on crowded grids: still saved
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix.lstrip("."), bbox_inches="tight")
    plt.close(fig)
    return atomic_write(path, lambda f: f.write(buf.getvalue()))
