"""Helpers of the paper notebooks (paper_notebooks/NN_<paper>.py): the one home of what they share.

The notebooks are jupytext percent-format scripts; each one renders its claims with ``claims``,
adds check rows with ``check_trace`` / ``run_spec`` / ``value_check`` to one list ``rows`` and
ends with ``final(rows)``, which prints the check table and ``PASS`` or raises an AssertionError
naming every failing row. The status logic itself lives in ``ratecheck.theory.report``
(``check_row``, ``headline``, ``failing``); nothing here decides whether a result holds.

Everything works in Jupyter (Markdown and images are displayed) and as a plain
``python paper_notebooks/NN_<paper>.py`` (they are printed).
"""

from __future__ import annotations

import copy
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterable

from .errors import RatecheckError

# -- display: IPython when the code runs in a kernel, print otherwise -----------------------------


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is optional
        return None
    return get_ipython()


def show_markdown(text: str) -> None:
    """Render ``text`` as Markdown in a notebook; print it in a plain script."""
    if _ipython() is not None:
        from IPython.display import Markdown, display

        display(Markdown(text))
    else:
        print(text)


def display(obj: Any) -> None:
    """IPython's rich display in a notebook (tables as HTML); ``print`` in a plain script."""
    if _ipython() is not None:
        from IPython.display import display as ip_display

        ip_display(obj)
    else:
        print(obj)


def show(paths: Iterable) -> None:
    """Display figure files written by ``ratecheck.figures`` (their paths in a plain script).
    No figure at all is an error: a notebook that shows a figure expects one."""
    paths = list(paths)
    if not paths:
        raise ValueError("no figure to show: the selected cells gave none (see ratecheck.figures.WHY_EMPTY)")
    for p in paths:
        if _ipython() is not None:
            from IPython.display import Image, display as ip_display

            ip_display(Image(filename=str(p)))
        else:
            print(f"figure: {p}")


# -- the claims cell --------------------------------------------------------------------------------


def keys_with(prefix: str) -> list[str]:
    """Registered result keys starting with ``prefix`` (e.g. "momo.")."""
    from ratecheck import theory

    return [k for k in theory.names() if k.startswith(prefix)]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_markdown(keys: Iterable[str]) -> str:
    """Markdown table of the registered results ``keys``: provenance, role, title, statement, source,
    read from ``ratecheck.theory`` when the notebook runs (so it cannot go stale)."""
    from ratecheck import theory

    lines = ["| result | provenance | role | claim | statement | source |", "|---|---|---|---|---|---|"]
    for k in keys:
        r = theory.get(k)
        title = r.title + (f" ({r.label})" if r.label else "")
        if not r.provenance.assertable:
            title += " (shown, never asserted)"
        lines.append(f"| `{k}` | [{r.provenance.value}] | {r.role.value} | {_cell(title)} | `{_cell(r.statement)}` | {_cell(r.source)} |")
    return "\n".join(lines)


def claims(keys: Iterable[str]) -> list[str]:
    """Display the claims table of ``keys`` (``claims_markdown``); returns the keys."""
    keys = list(keys)
    show_markdown(claims_markdown(keys) if keys else "(no registered results)")
    return keys


# -- check rows -------------------------------------------------------------------------------------


def check_trace(rows: list[dict], trace, problem, label: str, keys: Iterable[str] | None = None, *,
                problem_label: str | None = None, prefix: str = "", stochastic: bool = False) -> dict:
    """Check the results registered for this run's optimizer (``theory.candidates``) or ``keys``,
    those whose key starts with ``prefix``, on one runner trace. Every one gets a row in ``rows``
    (``theory.report.check_row``: n/a with the reason, ERROR where evaluating raises) labelled
    (``problem_label`` or the problem's name, ``label``). Returns {key: CheckResult} of those evaluated."""
    from ratecheck import theory
    from ratecheck.theory.report import check_row

    if keys is not None:
        found = [(theory.get(k), None) for k in keys]
    else:
        found = theory.candidates(trace.meta["optimizer"], problem, stochastic)
    out = {}
    for r, why in found:
        if not r.key.startswith(prefix):
            continue
        row, c = check_row(r, trace, problem, why)
        rows.append({**row, "problem": problem_label or problem.name, "optimizer": label, "result": r.key})
        if c is not None:
            out[r.key] = c
    return out


def value_check(rows: list[dict], name: str, provenance: str, source: str, ok: bool, detail: str = "") -> None:
    """A stated value or property that is not a registered Result (e.g. a number in a reference
    note), as a row with role "value": failing (VIOLATED) unless its provenance is UNVERIFIED."""
    status = "ok" if ok else ("VIOLATED" if provenance != "UNVERIFIED" else "shown: violated")
    rows.append({"problem": "-", "optimizer": "-", "result": f"{name} ({source})", "role": "value",
                 "provenance": provenance, "applicable": True, "checked": 1, "total": 1, "frac_checked": 1.0,
                 "violated": int(not ok), "worst_ratio": None, "first_violation": -1, "status": status,
                 "reason": detail})


# -- specs ------------------------------------------------------------------------------------------


def shipped(name: str):
    """The shipped spec ``experiments/specs/<name>.toml``, loaded and validated."""
    from ratecheck.cli import shipped_specs
    from ratecheck.experiments import spec as specmod

    return specmod.load(shipped_specs()[name])


def _tables(tables: list[dict], wanted: dict[str, dict | None], kind: str, src: str) -> list[dict]:
    out = []
    for label, over in wanted.items():
        base = next((t for t in tables if t.get("label", t["name"]) == label), None)
        over = dict(over or {})
        if base is None:
            if "name" not in over:
                have = ", ".join(t.get("label", t["name"]) for t in tables)
                raise RatecheckError(f"{src}: no [[{kind}]] labelled {label!r}; give its name to add one; allowed: {have}")
            base = {}
        t = {**copy.deepcopy(base), "label": label}
        for k, v in over.items():
            if v is None:
                t.pop(k, None)
            else:
                t[k] = list(v) if isinstance(v, tuple) else v
        out.append(t)
    return out


def variant(base, name: str, *, problems: dict[str, dict | None] | None = None,
            optimizers: dict[str, dict | None] | None = None, **top):
    """A variant of a loaded spec, built in Python and validated like a spec file.

    ``top``: top-level fields to set (T, seeds, batch_size, record, results, x0_scale, ...; None
    removes one). ``problems`` / ``optimizers``: {label: fields to set} keeps exactly these
    entries, in this order, with the fields set (None removes a field; a label not in ``base``
    is a new entry and needs "name"). Omitted: the entries of ``base`` unchanged."""
    from ratecheck.experiments import spec as specmod

    src = f"{base.source} (variant {name})"
    raw = tomllib.loads(base.text)
    raw["name"] = name
    for k, v in top.items():
        if v is None:
            raw.pop(k, None)
        else:
            raw[k] = list(v) if isinstance(v, tuple) else v
    if problems is not None:
        raw["problem"] = _tables(raw["problem"], problems, "problem", src)
    if optimizers is not None:
        raw["optimizer"] = _tables(raw["optimizer"], optimizers, "optimizer", src)
    return specmod.validate(raw, src, name)


def run_spec(rows: list[dict], spec, out: str | Path):
    """Run ``spec`` with results under ``out``; its check rows join ``rows``; returns its stored cells."""
    from ratecheck.experiments import sweep
    from ratecheck.experiments.store import open_results

    summary = sweep.run_spec(spec, out, progress=False, log=lambda msg: None)
    rows.extend(summary.rows)
    return open_results(summary.path).cells()


def pick(cells, problem: str, label: str):
    """The stored cell of (problem label, optimizer label)."""
    return next(c for c in cells if c.problem_label == problem and c.label == label)


def by_grid(cell, per_run, hp: str = "lr"):
    """Sorted grid values of hyper-parameter ``hp`` and the median over seeds of a per-run array [B]."""
    import numpy as np

    x = cell.arrays[f"hp/{hp}"]
    xs = np.unique(x)
    return xs, np.array([np.median(per_run[x == v]) for v in xs])


# -- results over seeds -----------------------------------------------------------------------------


def mean_over_seeds(ax, key: str, trace, problem, title: str = "") -> None:
    """Draw result ``key`` on a run of several seeds per hyper-parameter setting: per group (runs that
    share every hyper-parameter), the mean observed side with the band mean +- margin(n, R) standard
    errors of observed - bound (the lower edge is what an in-expectation check compares), against the mean
    bound (dashed). The verdict comes from ``check_trace``, not from this picture."""
    import torch

    from ratecheck import theory
    from ratecheck.figures.style import BOUND_STYLE, color
    from ratecheck.theory.base import margin

    sides = theory.get(key).sides(trace, problem)
    obs, bnd = sides.observed.double(), sides.bound.double()
    hp = trace.meta.get("hp", {})
    keys = torch.stack([v.double().cpu() for v in hp.values()], dim=1) if hp else torch.zeros(obs.shape[1], 1)
    groups, inv = torch.unique(keys, dim=0, return_inverse=True)
    steps = torch.arange(obs.shape[0])
    for g in range(groups.shape[0]):
        m = inv == g
        o, b = obs[:, m], bnd[:, m]
        d = o - b  # rows a run leaves undefined (NaN) are left out of that row's mean
        n = d.isfinite().sum(dim=1)
        mean, diff = o.nanmean(dim=1), d.nanmean(dim=1)
        var = ((d - diff[:, None]) ** 2).nansum(dim=1) / (n - 1).clamp(min=1)
        se = torch.where(n > 1, (var / n.clamp(min=1)).sqrt(), 0.0)
        label = ", ".join(f"{k}={float(v):.3g}" for k, v in zip(hp, groups[g]))
        ax.plot(steps, mean, color=color(g), label=f"{label} ({int(m.sum())} seeds)")
        z = margin(int(n.max()), int((n == n.max()).sum()))
        ax.fill_between(steps, mean - z * se, mean + z * se, color=color(g), alpha=0.2)
        ax.plot(steps, b.nanmean(dim=1), color=color(g), **BOUND_STYLE)
    ax.set_xlabel("row (step)")
    ax.set_title(title or key)
    ax.legend(fontsize=7)


# -- the final cell ---------------------------------------------------------------------------------


def final(rows: list[dict], must_check: Iterable[str] = (), require_theorem: bool = True) -> None:
    """Print the check table (``experiments.store.format_table``), the reasons of n/a and ERROR
    rows and ``theory.report.headline``; raise AssertionError naming every ``report.failing`` row,
    every asserted key of ``must_check`` not checked on any run and (``require_theorem``) the
    absence of any theorem checked ok; else print ``PASS`` as the last line."""
    from ratecheck import theory
    from ratecheck.experiments.store import format_table
    from ratecheck.theory import report

    print(format_table(rows))
    results = [r for r in rows if r.get("role") != "value"]
    values = [r for r in rows if r.get("role") == "value"]
    print("\n" + report.headline(results))
    if values:
        print("stated values: " + ", ".join(f"{sum(r['status'] == s for r in values)} {s}" for s in sorted({r['status'] for r in values})))
    for r in rows:
        if r["status"] in ("n/a", "ERROR") and r.get("reason") and r.get("applicable", True):
            print(f"  {r['status']:5s} {r['problem']} / {r['optimizer']}: {r['result']}: {r['reason']}")
    bad = [f"{r['problem']} / {r['optimizer']}: {r['result']} [{r['provenance']}] {r['status']} {r.get('reason', '')}"
           for r in report.failing(rows)]
    checked = {r["result"] for r in rows if r.get("checked", 0) > 0}
    bad += [f"{k}: not checked on any run" for k in must_check
            if theory.get(k).provenance.assertable and k not in checked]
    if require_theorem and not any(r["status"] == "ok" and r.get("role") == "theorem" for r in results):
        bad.append("no theorem was checked on any run")
    if bad:
        raise AssertionError("failing non-[UNVERIFIED] results:\n" + "\n".join(bad))
    sys.stdout.flush()
    print("PASS")
