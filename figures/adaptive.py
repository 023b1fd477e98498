"""D-Adaptation / Prodigy distance estimates d_k / D, and Lyapunov decrease per step.

Each plotter returns ``[(file stem, figure)]``; ``figures.plot_results`` saves them.
"""

from __future__ import annotations

import numpy as np

from . import data
from .style import BAND_ALPHA, BOUND_STYLE, legend_outside, line, series, subplots


def d_ratio(cells) -> list:
    """d_k / D with D = ||x0 - x*|| (the recorded dist at step 0): Theorem-style d_k <= D shows as <= 1.

    Drawn for every method whose info records ``d``, an estimate of D (D-Adaptation, Prodigy and
    any method added later that declares one), whatever its name."""
    groups = {p: [c for c in g if c.has("d")] for p, g in data.by_problem(cells).items()}
    groups = {p: g for p, g in groups.items() if g}
    if not groups:
        return []
    fig, axes = subplots(len(groups), ncols=3)
    methods = sorted({c.label for g in groups.values() for c in g})
    for ax, (prob, group) in zip(axes, groups.items()):
        for c in group:
            i = methods.index(c.label)
            mask = data.best_runs(c)
            D = c.trace("dist")[0]
            with np.errstate(all="ignore"):
                ratio = c.trace("d") / D[None, :]
            med, lo, hi = data.band(ratio, mask)
            t = c.steps
            k = t >= 1
            line(ax, t[k], data.positive(med)[k], label=c.label, **series(i))
            ax.fill_between(t[k], data.positive(lo)[k], data.positive(hi)[k], color=series(i)["color"], alpha=BAND_ALPHA, linewidth=0)
        ax.axhline(1.0, color="black", linewidth=0.8, label="D = ||x0 - x*||")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step t")
        ax.set_ylabel("d_k / D")
        ax.set_title(prob)
    fig.suptitle("distance estimate d_k over the true D (median over seeds at the best grid point, 10-90% band)")
    legend_outside(fig)
    return [("d_over_D", fig)]


def lyapunov(cells) -> list:
    """Every checked result of kind "lyapunov" (Phi_{t+1} <= Phi_t - Delta_t): the decrease per
    step Phi_t - Phi_{t+1} (solid) against the decrease the result guarantees, Phi_t - bound
    (dashed), median over the best grid point's runs; the guarantee holds where solid >= dashed.
    Differences within the row's round-off tolerance are drawn as 0.
    A result that does not store Phi_t (``Sides.before``) shows bound - observed, the decrease
    beyond the guaranteed one (>= 0 where it holds)."""
    items = [(c, r) for c in cells for r in data.drawn_results(c, "lyapunov")]
    if not items:
        return []
    fig, axes = subplots(len(items), ncols=3, size=(3.6, 2.9))
    for ax, (c, r) in zip(axes, items):
        mask = data.best_runs(c)
        key = r["key"]
        s, obs = data.result_curve(c, r, "observed", mask)
        _, bnd = data.result_curve(c, r, "bound", mask)
        _, tol = data.result_curve(c, r, "tol", mask)

        def resolved(v):  # a difference within the round-off tolerance is drawn as 0, not as noise
            return np.where(np.abs(v) <= tol, 0.0, v)

        if f"result/{key}/before" in c.arrays:
            _, before = data.result_curve(c, r, "before", mask)
            curves = (("decrease Phi_t - Phi_t+1 (observed)", resolved(before - obs), {}),
                      ("guaranteed decrease Phi_t - bound", resolved(before - bnd), BOUND_STYLE))
        else:
            # its own series (2): the shared legend must not give it the style of the observed decrease
            curves = (("bound - observed (decrease beyond the guarantee)", resolved(bnd - obs), {}),)
        k = s >= 1
        drawn = []
        first = 0 if len(curves) == 2 else 2
        for j, (label, v, kw) in enumerate(curves, start=first):
            med, lo, hi = data.band(v)
            line(ax, s[k], med[k], label=label, **{**series(j), **kw})
            ax.fill_between(s[k], lo[k], hi[k], color=series(j)["color"], alpha=BAND_ALPHA, linewidth=0)
            drawn.append(np.abs(med[k][np.isfinite(med[k])]))
        mags = np.concatenate(drawn)
        mags = mags[mags > 0]
        # Decreases shrink by orders of magnitude as the run converges and can be negative (an
        # allowed increase): symmetric log, at most 4 decades per sign (linear below), so that
        # each decade keeps room for its tick label.
        top = float(mags.max()) if mags.size else 1.0
        lt = max(float(np.quantile(mags, 0.05)) if mags.size else 1.0, 1e-4 * top)
        ax.set_yscale("symlog", linthresh=lt)
        # Labelled ticks at 0 and at +-10^k from one decade above the linear range on: the
        # default also labels +-linthresh, which crowd 0.
        lo, hi = ax.get_ylim()
        ks = np.arange(np.floor(np.log10(lt)) + 1, np.ceil(np.log10(max(abs(lo), abs(hi), lt))) + 1)
        ticks = [0.0] + [sgn * 10.0**k for k in ks for sgn in (-1, 1) if lo <= sgn * 10.0**k <= hi]
        ax.set_yticks(sorted(ticks))
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.set_xscale("log")
        ax.set_xlabel("step t")
        ax.set_title(f"{c.problem_label} / {data.best_label(c)}\n{key} [{r['provenance']}]")
    fig.suptitle("Lyapunov inequalities: decrease per step against the guaranteed decrease")
    legend_outside(fig)
    return [("lyapunov", fig)]
