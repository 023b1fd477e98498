"""The slack atlas: how tight each theorem is in practice (``ratecheck atlas``).

Per paper, one table and one figure, result x family: the worst ratio observed/bound on the
library's runs (the result's registered example runs, on the library problems) and the best ratio
the search finds on each family within a fixed budget (``search.search`` with that family only).
A ratio near 1 means the bound is attained on that class; far below 1, slack no instance showed.
A cell is empty where the family cannot carry the result's problem tags, or no candidate was
checked (every run broke an assumption); errata are marked, since their violations are expected.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ratecheck import theory
from ratecheck.atomic import atomic_write
from ratecheck.errors import RatecheckError

from . import families as fam
from .objective import eligible_families, templates
from .search import Budget, search


def library_ratio(key: str) -> float:
    """max over the result's example runs (float64) of the check's worst ratio; NaN if none checked."""
    from ratecheck.theory.example_runs import examples_for, run_example

    best = math.nan
    for ex in examples_for(key):
        pb, tr = run_example(ex)
        c = theory.check(theory.get(key), tr, pb)
        w = c.worst_ratio[c.checked & ~c.worst_ratio.isnan()]
        if w.numel():
            best = float(np.nanmax([best, float(w.max())]))
    return best


def row_for(key: str, budget: float | Budget, seed: int = 0, B: int = 16) -> dict | None:
    """Library ratio and the search's best per family for one result; None without an example run."""
    r = theory.get(key)
    try:
        tpls = templates(r)
    except RatecheckError:  # no example run: nothing to start from
        return None
    budget = budget if isinstance(budget, Budget) else Budget(seconds=budget)
    row = {"result": key, "role": r.role.value, "library": library_ratio(key)}
    can = {f.name for t in tpls for f in eligible_families(t)}
    for name in fam.names():
        if name not in can:
            row[name] = math.nan
            continue
        f = search(r, families=[name], budget=budget, seed=seed, B=B, stop_on_violation=True)
        row[name] = f.score if f.best is not None else math.nan
    return row


def rows_for(paper: str, budget: float | Budget, seed: int = 0, B: int = 16, keys: list[str] | None = None,
             executor: str = "local", ray_options: dict | None = None) -> list[dict]:
    """One row per result of ``paper`` (or ``keys``); with ``executor="ray"`` each result is one Ray
    task (``experiments.executors.map_on_ray``)."""
    from ratecheck.papers import get as get_paper

    prefix = get_paper(paper).theory + "."
    keys = keys or [k for k, r in theory.RESULTS.items() if k.startswith(prefix) and r.provenance.assertable]
    if executor == "ray":
        from ratecheck.experiments.executors import map_on_ray

        rows = map_on_ray(row_for, [(k, budget, seed, B) for k in keys], **(ray_options or {}))
    else:
        rows = [row_for(k, budget, seed, B) for k in keys]
    return [r for r in rows if r is not None]


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return "VIOLATED" if v == math.inf else f"{v:.3g}"


def markdown(rows: list[dict]) -> str:
    cols = ["result", "role", "library", *fam.names()]
    lines = ["| " + " | ".join(cols) + " |", "|---|---|" + "---:|" * (len(cols) - 2)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def figure(rows: list[dict], title: str, path: Path) -> Path:
    """Heat map result x (library, families) of the worst ratio, clipped to [0, 1.5]."""
    from ratecheck.figures.style import save, subplots

    cols = ["library", *fam.names()]
    M = np.array([[r.get(c, math.nan) for c in cols] for r in rows], dtype=float)
    fig, (ax,) = subplots(1, ncols=1, size=(1.0 * len(cols) + 3.0, 0.32 * len(rows) + 1.2))
    im = ax.imshow(np.clip(np.where(np.isinf(M), 1.5, M), 0.0, 1.5), vmin=0.0, vmax=1.5, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [r["result"] + (" (erratum)" if r["role"] == "erratum" else "") for r in rows], fontsize=6)
    ax.grid(False)
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if not math.isnan(M[i, j]):
                ax.text(j, i, _fmt(M[i, j]).replace("VIOLATED", "viol."), ha="center", va="center", fontsize=5,
                        color="white" if M[i, j] < 0.9 else "black")
    fig.colorbar(im, ax=ax, label="observed / bound")
    ax.set_title(title)
    return save(fig, path)


def write(papers: list[str], out: Path, budget: float, seed: int = 0, B: int = 16, executor: str = "local",
          ray_options: dict | None = None) -> list[Path]:
    """atlas_<paper>.md and atlas_<paper>.png per paper under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for paper in papers:
        rows = rows_for(paper, budget, seed, B, executor=executor, ray_options=ray_options)
        if not rows:
            continue
        md = out / f"atlas_{paper}.md"
        body = (f"# Slack atlas: {paper} (search budget {budget:g} s per result and family, seed {seed})\n\n"
                + markdown(rows) + "\n")
        atomic_write(md, lambda f, b=body: f.write(b.encode()))
        paths += [md, figure(rows, f"{paper}: worst observed/bound", out / f"atlas_{paper}.png")]
    return paths
