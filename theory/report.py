"""Check outcomes as table rows: the one home of the status vocabulary.

Statuses (``status`` column):

- ``ok`` / ``VIOLATED``: an asserted result (theorem or implementation check) on its checked runs;
- ``n/a``: no run was checked; ``reason`` says why (problem tag missing, assumption false and
  which, iterates not kept, no finite row, below round-off resolution, diverged);
- ``ERROR``: evaluating an asserted result raised (a bug: reported, never hidden);
- ``shown: ok`` / ``shown: violated``: an [UNVERIFIED] result (never asserted);
- ``erratum: fails as expected`` / ``erratum: not contradicted here``: a printed statement known
  to be false (never asserted, never counted as a violation).

The table's headline counts theorems only; implementation checks, errata and unverified results
are counted apart.
"""

from __future__ import annotations

import math
import traceback
from collections import Counter

from .access import Unavailable
from .base import CheckResult, Result, Role, check

FAILING = ("VIOLATED", "ERROR")


def _describe(r: Result) -> dict:
    return {
        "key": r.key, "title": r.title, "paper": r.paper, "arxiv": r.arxiv, "label": r.label,
        "provenance": r.provenance.value, "role": r.role.value, "source": r.source, "statement": r.statement,
        "kind": r.kind, "iterate": r.iterate, "oracle": r.oracle, "in_expectation": r.in_expectation,
        "units": "groups" if r.in_expectation else "runs",
    }


def reason_summary(reasons: list[str]) -> str:
    """'3 runs: assumption false: d0 <= D; 1 run: no finite row' (most common first)."""
    counts = Counter(x for x in reasons if x)
    return "; ".join(f"{n} {'unit' if n == 1 else 'units'}: {why}" for why, n in counts.most_common())


def status_of(r: Result, checked: int, violated: int) -> str:
    if checked == 0:
        return "n/a"
    if r.role is Role.ERRATUM:
        return "erratum: fails as expected" if violated else "erratum: not contradicted here"
    if not r.provenance.assertable:
        return "shown: violated" if violated else "shown: ok"
    return "VIOLATED" if violated else "ok"


def row(r: Result, c: CheckResult | None = None, *, reason: str = "", error: str = "", applicable: bool = True) -> dict:
    """One table row for result ``r``: from a check, or n/a with ``reason``, or an ``error``.

    ``applicable=False``: the result is registered for the optimizer but not for this problem or
    oracle (``theory.candidates``); such rows are n/a with the reason and counted apart.
    """
    out = _describe(r)
    out["applicable"] = applicable
    if error:
        out.update(status="ERROR" if r.asserted else "error (not asserted)", checked=0, violated=0, total=0,
                   worst_ratio=None, first_violation=-1, frac_checked=0.0, reason="", error=error)
        return out
    if c is None:
        out.update(status="n/a", checked=0, violated=0, total=0, worst_ratio=None, first_violation=-1,
                   frac_checked=0.0, reason=reason)
        return out
    checked = c.checked
    violated = c.violated
    ratios = c.worst_ratio[checked]
    ratios = ratios[~ratios.isnan()]
    firsts = c.first_violation[violated]
    n_chk = int(checked.sum())
    out.update(
        status=status_of(r, n_chk, int(violated.sum())), checked=n_chk, violated=int(violated.sum()),
        total=int(checked.numel()), worst_ratio=float(ratios.max()) if ratios.numel() else None,
        first_violation=int(firsts.min()) if firsts.numel() else -1,
        frac_checked=float(c.fraction_checked[checked].mean()) if n_chk else 0.0,
        reason=reason_summary(c.reasons),
    )
    return out


def check_row(result: Result, trace, problem, why: str | None = None) -> tuple[dict, CheckResult | None]:
    """``(row, CheckResult or None)``: check ``result`` on ``trace`` and make its table row.

    ``why``: the reason the result does not apply (``theory.candidates``) -> n/a with it. A check
    raising ``Unavailable`` (the trace lacks what the result needs: iterates not kept, a subsampled
    trace, options not recorded) -> n/a with its message; any other exception -> an ERROR row with
    the message (also as its reason) and the traceback: a bug in one result must not lose the others.
    """
    if why is not None:
        return row(result, reason=why, applicable=False), None
    try:
        c = check(result, trace, problem)
    except Unavailable as e:
        return row(result, reason=str(e)), None
    except Exception as e:  # noqa: BLE001 - reported as an ERROR row, with its traceback
        out = row(result, error=f"{type(e).__name__}: {e}")
        out.update(reason=out["error"], traceback=traceback.format_exc(limit=4))
        return out, None
    return row(result, c), c


def failing(rows: list[dict]) -> list[dict]:
    """Rows of asserted results that are violated or failed to evaluate."""
    return [r for r in rows if r["status"] in FAILING]


def headline(rows: list[dict]) -> str:
    """'theorems: 40 ok, 3 n/a | implementation checks: ... | errata: ... | unverified: ... | not
    applicable to these problems or oracles: N' (rows of results outside their problem class are
    counted apart, not as n/a theorems)."""
    outside = [r for r in rows if not r.get("applicable", True)]
    rows = [r for r in rows if r.get("applicable", True)]
    parts = []
    groups = (("theorems", lambda r: r.get("role", "theorem") == "theorem" and r["provenance"] != "UNVERIFIED"),
              ("implementation checks", lambda r: r.get("role") == "implementation" and r["provenance"] != "UNVERIFIED"),
              ("errata", lambda r: r.get("role") == "erratum"),
              ("unverified (shown)", lambda r: r["provenance"] == "UNVERIFIED" and r.get("role") != "erratum"))
    for name, pick in groups:
        sel = [r for r in rows if pick(r)]
        if not sel:
            continue
        counts = Counter(r["status"] for r in sel)
        parts.append(f"{name}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1])))
    if outside:
        parts.append(f"not applicable to these problems or oracles: {len(outside)}")
    return " | ".join(parts) if parts else "no theory results"


def fmt_ratio(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"
