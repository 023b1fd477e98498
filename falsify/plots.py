"""Files of a finding: the best run's trajectory (CSV, figure) and the best ratio over search time."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ratecheck.atomic import atomic_write


def _csv(path: Path, header: str, rows) -> Path:
    cell = lambda v: str(v) if isinstance(v, (int, str)) else repr(float(v))
    body = header + "\n" + "".join(",".join(cell(v) for v in r) + "\n" for r in rows)
    atomic_write(path, lambda f: f.write(body.encode()))
    return path


def write_trajectory(check, trace, path: Path) -> Path:
    """Per row of the (first) run: step, f(x_t) - f*, ||x_t - x*||, observed, bound, tolerance, counted."""
    n = check.observed.shape[0]
    sub, dist = trace["subopt"][:n, 0], trace["dist"][:n, 0]
    rows = [(t, float(sub[t]), float(dist[t]), float(check.observed[t, 0]), float(check.bound[t, 0]), float(check.tol[t, 0]),
             float(check.counted[t, 0])) for t in range(n)]
    return _csv(path, "step,subopt,dist,observed,bound,tol,counted", rows)


def write_history(history, path: Path) -> Path:
    return _csv(path, "seconds,evals,best_ratio", history)


def trajectory_figure(check, trace, path: Path) -> Path:
    """Observed (solid) and bound (dashed) of the best run over its rows."""
    from ratecheck.figures.style import BOUND_STYLE, color, save, subplots

    fig, (ax,) = subplots(1, ncols=1, size=(4.8, 3.2))
    t = np.arange(check.observed.shape[0])
    obs, bnd = check.observed[:, 0].detach().numpy(), check.bound[:, 0].detach().numpy()
    ax.plot(t, obs, color=color(0), label="observed")
    ax.plot(t, bnd, color=color(1), label="bound", **BOUND_STYLE)
    if np.nanmin(np.concatenate([obs, bnd])) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("row (step n)")
    ax.set_title(check.key, fontsize=8)
    ax.legend()
    return save(fig, path)


def history_figure(finding, path: Path) -> Path:
    """Best worst-ratio found against search time (a violation shown at the top)."""
    from ratecheck.figures.style import color, save, subplots

    fig, (ax,) = subplots(1, ncols=1, size=(4.8, 3.2))
    h = np.array([(s, r) for s, _, r in finding.history if r > -math.inf], dtype=float).reshape(-1, 2)
    if h.size:
        finite = np.isfinite(h[:, 1])
        ax.step(h[finite, 0], h[finite, 1], where="post", color=color(0), label="best observed/bound")
        if (~finite).any():
            ax.axvline(h[~finite, 0].min(), color=color(3), linestyle=":", label="violation (bound <= 0)")
    ax.axhline(1.0, color="k", linewidth=0.8)
    if finding.factor != 1.0:
        ax.axhline(finding.factor, color=color(1), linestyle="--", linewidth=0.8, label=f"planted factor {finding.factor:g}")
    ax.set_xlabel("search time (s)")
    ax.set_ylabel("observed / bound")
    ax.set_title(finding.result + ("" if finding.factor == 1.0 else f" (bound x {finding.factor:g})"), fontsize=8)
    ax.legend()
    return save(fig, path)
