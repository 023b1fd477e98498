"""Rate curves (suboptimality vs step, with bounds) and slack (how tight each checked result is).

Each plotter returns ``[(file stem, figure)]``; ``figures.plot_results`` saves them.
"""

from __future__ import annotations

import numpy as np

from . import data
from .style import (BAND_ALPHA, BOUND_STYLE, MAX_SERIES, QUANTILES, legend_outside, line, robust_limits,
                    series, subplots)

IDENTITIES_PER_PANEL = 12  # one tick label per identity: as many as a panel's height labels legibly
PANELS = (("subopt", "last iterate", ("last", "best")), ("subopt_avg", "average iterate", ("average", "weighted_average")))


def _tightest_bound(c, name: str, iterates, mask):
    """The bound on trace ``name`` drawn for cell c: among its checked results that bound that curve,
    prefer ones that reach the horizon, then curves over results evaluated at a few steps only,
    then the smallest at the horizon (every result is in the slack figure)."""
    best = None
    for r in data.drawn_results(c, "bound"):
        if r.get("iterate") not in iterates or not data.bounds_curve(c, r, name):
            continue
        s, b = data.result_curve(c, r, "bound", mask)
        bm = data.positive(data.band(b)[0]) if b.shape[1] else None
        if bm is None or not np.isfinite(bm).any():
            continue
        fin = np.isfinite(bm)
        rank = (0 if fin[-1] else 1, 0 if fin.sum() >= 5 else 1, bm[fin][-1])
        if best is None or rank < best[0]:
            best = (rank, r, s, bm)
    return best


def rate(cells) -> list:
    """Per problem: f(x_t) - f* of the last and the average iterate at each method's best grid
    point (named in the legend), with the tightest checked bound on that curve dashed.
    Deterministic runs: median over seeds and a quantile band; stochastic runs: mean +- one
    standard error over seeds, the quantity that their bounds in expectation bound."""
    out = []
    for prob, group in data.by_problem(cells).items():
        stoch = any(data.stochastic(c) for c in group)
        summary = "mean +- SE over seeds" if stoch else f"median over seeds, {int(100 * QUANTILES[0])}-{int(100 * QUANTILES[1])}% band"
        fig, axes = subplots(2, ncols=2, size=(4.2, 3.2))
        for ax, (name, title, iterates) in zip(axes, PANELS):
            for i, c in enumerate(group):
                if not c.has(name):
                    continue
                mask = data.best_runs(c)
                t = c.steps
                keep = t >= 1
                stat = data.mean_se if data.stochastic(c) else data.band
                mid, lo, hi = (data.positive(x) for x in stat(c.trace(name), mask))
                line(ax, t[keep], mid[keep], label=data.best_label(c), linewidth=1.5, **series(i))
                ax.fill_between(t[keep], lo[keep], hi[keep], color=series(i)["color"], alpha=BAND_ALPHA, linewidth=0)
                best = _tightest_bound(c, name, iterates, mask)
                if best is not None:
                    _, r, s, bm = best
                    k = (s >= 1) & np.isfinite(bm)
                    what = "E-bound" if r.get("in_expectation") else "bound"
                    line(ax, s[k], bm[k], color=series(i)["color"], label=f"{c.label}: {what} {r['key']} [{r['provenance']}]",
                         marker="d" if k.sum() < 20 else None, markersize=4, **BOUND_STYLE)  # sparse rows marked
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("step t")
            ax.set_ylabel("E f(x) - f*" if stoch else "f(x) - f*")
            ax.set_title(title)
        fig.suptitle(f"{prob}: best lr of each grid\n{summary}; dashed: tightest checked bound")
        legend_outside(fig)
        out.append((f"rate_{_safe(prob)}", fig))
    return out


def _ratio_panel(ax, c, rows, mask) -> None:
    """observed / bound of each result in ``rows`` (at most MAX_SERIES) at its informative rows;
    the line y = 1 is the bound."""
    drawn, nonpos = [], False
    for j, r in enumerate(rows):
        s, o = data.result_curve(c, r, "observed", mask)
        _, b = data.result_curve(c, r, "bound", mask)
        with np.errstate(all="ignore"):
            ratio = np.where(b > 0, o / b, np.nan)
        med, lo, hi = data.band(ratio)
        k = (s >= 1) & np.isfinite(med)
        st = series(j)
        if k.sum() < 5:  # a result evaluated at a few rows only: points, not a line
            st = {**st, "markevery": None, "linestyle": "none"}
        line(ax, s[k], data.positive(med)[k], label=f"{r['key']} [{r['provenance']}]", **st)
        ax.fill_between(s[k], data.positive(lo)[k], data.positive(hi)[k], color=st["color"], alpha=BAND_ALPHA, linewidth=0)
        drawn += [med[k], lo[k], hi[k]]
        # A ratio <= 0 holds with room to spare (for results in expectation: mean - margin SE <= 0)
        # and has no place on a log axis: a mark on the bottom edge.
        low = k & (med <= 0)
        if low.any():
            ax.plot(s[low], np.full(low.sum(), 0.0), linestyle="none", marker="v", markersize=3, color=st["color"],
                    transform=ax.get_xaxis_transform(), clip_on=False, label="_ratio <= 0")
            nonpos = True
    ax.axhline(1.0, color="black", linewidth=0.8)
    for r, d in zip(rows, drawn[::3]):
        if not d.size:  # checked, but not at the shown grid point on a row t >= 1 with bound > 0: say so
            ax.plot([], [], linestyle="none", label=f"{r['key']}: no ratio at this lr")
    if nonpos:
        ax.plot([], [], linestyle="none", marker="v", color="gray", label="ratio <= 0 (bottom edge)")
    if any(d.size for d in drawn[::3]):
        ax.set_xscale("log")
    robust_limits(ax, drawn, include=(1.0,))
    ax.set_xlabel("step t")
    ax.set_ylabel("observed / bound")


def _identity_panel(ax, c, rows, mask) -> None:
    """One line per identity (or implementation equality): the residual |observed - bound| in
    units of its round-off tolerance, max over informative rows, as the median over runs (dot)
    and the range over runs (bar). Left of the line x = 1 the identity holds; exact zeros are
    drawn at the left edge."""
    floor = 1e-3
    vals = []
    for r in rows:
        _, o = data.result_curve(c, r, "observed", mask)
        _, b = data.result_curve(c, r, "bound", mask)
        _, tol = data.result_curve(c, r, "tol", mask)
        with np.errstate(all="ignore"):
            res = np.abs(o - b) / tol
        per_run = np.nanmax(np.where(np.isfinite(res), res, -np.inf), axis=0)
        per_run = np.clip(per_run[np.isfinite(per_run)], floor, None)
        vals.append(per_run)
    y = np.arange(len(rows))
    for j, v in enumerate(vals):
        if v.size:
            ax.plot([v.min(), v.max()], [j, j], color=series(j)["color"], linewidth=2, alpha=0.5)
            ax.plot([np.median(v)], [j], marker=series(j)["marker"], color=series(j)["color"], linestyle="none")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    top = max([1.0] + [float(v.max()) for v in vals if v.size])
    ax.set_xlim(floor / 2, 10 ** (np.ceil(np.log10(top)) + 0.3))
    ax.set_yticks(y, [f"{r['key']} [{r['provenance']}]" for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel(f"max over steps of |observed - bound| / tol\n(below {floor:g}: at the left edge)")


def slack(cells) -> list:
    """Per problem, the panels of every cell with checked results, in reading order: identities on
    their own panel as round-off residuals (``_identity_panel``); bounds and Lyapunov
    inequalities as observed/bound over time (``_ratio_panel``), at most MAX_SERIES per panel,
    further panels for the rest; each panel's legend beside it."""
    out = []
    for prob, group in data.by_problem(cells).items():
        panels = []
        for c in group:
            rows = data.drawn_results(c)
            ident = [r for r in rows if r.get("kind") == "identity"]
            bounds = [r for r in rows if r.get("kind") != "identity"]
            for draw, todo, n in ((_identity_panel, ident, IDENTITIES_PER_PANEL), (_ratio_panel, bounds, MAX_SERIES)):
                chunks = [todo[i:i + n] for i in range(0, len(todo), n)]
                panels += [(c, draw, ch, f" ({k + 1}/{len(chunks)})" if len(chunks) > 1 else "") for k, ch in enumerate(chunks)]
        if not panels:
            continue
        fig, axes = subplots(len(panels), ncols=3, size=(6.0, 3.0))
        for ax, (c, draw, rows, part) in zip(axes, panels):
            draw(ax, c, rows, data.best_runs(c))
            ax.set_title(f"{data.best_label(c)}{part}" + (": identities" if draw is _identity_panel else ""))
            legend_outside(fig, ax=ax)
        fig.suptitle(f"{prob}: how tight each checked result is (n/a results and uninformative rows left out)")
        out.append((f"slack_{_safe(prob)}", fig))
    return out


def _safe(s: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") or "x"
