"""Every figure kind on a tiny real result: no text artist overlaps another or leaves the figure,
no legend covers a panel's data, no axis repeats a tick label, and n/a results are never drawn.

Window extents after a draw (``get_window_extent``) are what the saved image shows.
"""

import itertools
import re
import textwrap

import pytest

from ratecheck.experiments import spec as specmod
from ratecheck.experiments.store import Store
from ratecheck.experiments.sweep import run_spec
from ratecheck.figures import PLOTTERS, make_figures

# Deterministic (l1_distance) and stochastic (least_squares) cells, a grid of lr (lr-sensitivity),
# D-Adaptation (d figure, an identity), SGD and MoMo (Lyapunov results), results n/a by problem tags.
SPEC = """
name = "layout"
T = 40
seeds = 3
record = 15
batch_size = 4
[[problem]]
name = "l1_distance"
params = { d = 4 }
[[problem]]
name = "least_squares"
[[optimizer]]
name = "sgd"
label = "SGD linear"
options = { schedule = "linear" }
lr = [0.1, 1.0]
[[optimizer]]
name = "sgd"
label = "SGD constant"
lr = [0.1, 1.0]
[[optimizer]]
name = "dadapt_da"
label = "D-Adaptation"
[[optimizer]]
name = "momo"
label = "MoMo"
lr = 1.0
"""


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    d = tmp_path_factory.mktemp("layout")
    (d / "layout.toml").write_text(textwrap.dedent(SPEC))
    summary = run_spec(specmod.load(d / "layout.toml"), d / "res", progress=False, log=lambda m: None)
    return Store(summary.path).cells()


def _tick_labels(axis):
    """The tick labels drawn: those of ticks inside the view limits (``Axis._update_ticks``)."""
    return [t for tick in axis._update_ticks() for t in (tick.label1, tick.label2) if t.get_visible() and t.get_text()]


def _texts(fig):
    """(name, artist) of every visible, non-empty text: titles, axis labels, tick labels, legends."""
    out = []
    for f in [fig, *fig.subfigs]:
        if f._suptitle is not None and f._suptitle.get_text():
            out.append(("suptitle", f._suptitle))
        out += [("legend", leg) for leg in f.legends]
    for ax in fig.get_axes():
        if not ax.get_visible():
            continue
        for t in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label):
            if t.get_text():
                out.append(("title/label", t))
        out += [("tick", t) for axis in (ax.xaxis, ax.yaxis) for t in _tick_labels(axis)]
        if ax.get_legend() is not None:
            out.append(("legend", ax.get_legend()))
    return out


def layout_problems(fig) -> list[str]:
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    page = fig.bbox.padded(1.0)
    found = []
    texts = [(n, a, a.get_window_extent(r)) for n, a in _texts(fig)]
    for n, a, bb in texts:
        label = a.get_text() if hasattr(a, "get_text") else "legend"
        if not (page.x0 <= bb.x0 and bb.x1 <= page.x1 and page.y0 <= bb.y0 and bb.y1 <= page.y1):
            found.append(f"{n} {label!r} leaves the figure")
    for (n1, a1, b1), (n2, a2, b2) in itertools.combinations(texts, 2):
        if a1 is a2 or (n1 == "tick" and n2 == "tick" and a1.axes is not a2.axes):
            continue  # tick labels of different panels are kept apart by the panels themselves
        if b1.width and b2.width and b1.overlaps(b2):
            t1 = a1.get_text() if n1 != "legend" else "legend"
            t2 = a2.get_text() if n2 != "legend" else "legend"
            found.append(f"{n1} {t1!r} overlaps {n2} {t2!r}")
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    for n, a, bb in texts:
        if n == "legend":
            found += [f"a legend covers the panel {ax.get_title()!r}" for ax in axes if bb.overlaps(ax.bbox)]
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t.get_text() for t in _tick_labels(axis)]
            if len(labels) != len(set(labels)):
                found.append(f"panel {ax.get_title()!r} repeats tick labels {labels}")
    return found


def test_every_figure_kind_is_laid_out_cleanly_and_draws_checked_results_only(cells):
    rows = [r for c in cells for r in c.meta["results"]]
    never_checked = {r["key"] for r in rows} - {r["key"] for r in rows if r["status"] != "n/a"}
    assert never_checked, "the layout spec should have results n/a on every cell"
    drawn, said = set(), {}
    for kind in PLOTTERS:
        figs = make_figures(kind, cells)
        assert figs, f"no {kind} figure from the layout spec"
        for stem, fig in figs:
            problems = layout_problems(fig)
            assert not problems, f"{stem}: " + "; ".join(problems[:5])
            legends = [leg for f in [fig, *fig.subfigs] for leg in f.legends] + [ax.get_legend() for ax in fig.get_axes() if ax.get_legend()]
            words = " ".join([a.get_text() for n, a in _texts(fig) if n != "legend"] + [t.get_text() for leg in legends for t in leg.get_texts()])
            drawn |= {r["key"] for r in rows if re.search(re.escape(r["key"]) + r"(?![\w.])", words)}
            said[stem] = words
    assert drawn, "no result drawn at all"
    assert not drawn & never_checked, f"n/a results drawn: {sorted(drawn & never_checked)}"
    # rate plots name the grid point they show; stochastic runs: mean +- SE and a bound in expectation
    assert "SGD linear (lr=" in said["rate_l1_distance"] and "median" in said["rate_l1_distance"]
    assert "mean +- SE" in said["rate_least_squares"] and "E-bound schedules." in said["rate_least_squares"]
    assert "guaranteed decrease" in said["lyapunov"]


def test_sparse_theory_rows_are_rows_kept_on_disk():
    """Results too costly for every row (Theorem 10: O(T^2)) are evaluated at rows the store keeps,
    so their stored curves have no holes (they broke into dots when the two schedules differed)."""
    import torch

    from ratecheck.experiments.trace import Trace, log_checkpoints
    from ratecheck.theory import access as A

    T = 1000
    cp = log_checkpoints(T, 120)
    tr = Trace(torch.arange(T + 1), {"subopt": torch.zeros(T + 1, 2)}, {"T": T, "checkpoints": cp})
    kept = set(cp.tolist())
    assert A.sparse_rows(tr, 200) == sorted(kept)  # fewer kept rows than the budget: all of them
    six = A.sparse_rows(tr, 6)
    assert set(six) <= kept and {0, T} <= set(six) and 3 <= len(six) <= 6
    tr.meta["checkpoints"] = None  # every row kept: log-spaced among all
    rows = A.sparse_rows(tr, 200)
    assert {0, T} <= set(rows) and len(rows) <= 200 and rows == sorted(set(rows))
