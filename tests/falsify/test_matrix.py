"""Full budgets (-m heavy): planted false bounds over every assertable result, and no false alarm.

Per result 10 s for the planted copy (bound - 0.2 |bound|) and 10 s for the result as registered,
on one core: about 30 minutes for the 113 results (14 minutes as two processes). Issue 12 asks for >= 90% of the planted copies
of the theorems' bounds found (``calibrate.is_bound``: role theorem, kind bound / invariant /
lyapunov); the fraction measured at 10 s is lower (docs/falsify.md#acceptance lists every miss with its best
ratio; with 20 s per result 92% of the copies not proven true are found), so this test guards the
measured level against regressions, and requires no violation of a registered result other than the
ones investigated and explained (calibrate.INVESTIGATED, empty since the third round).
"""

import pytest

from ratecheck.falsify.calibrate import INVESTIGATED, calibrate, is_bound, summary

MEASURED_FLOOR = 0.7  # found fraction of the theorem bounds at 10 s measured 2026-12-06 (0.79 of all 94, docs/falsify.md#acceptance), minus slack for timing


@pytest.mark.heavy
def test_planted_false_bounds_found_and_no_false_alarm():
    rows = calibrate(budget=10.0)
    print(summary(rows))
    assert not [r["result"] for r in rows if r["true_violated"] and r["result"] not in INVESTIGATED]
    bounds = [r for r in rows if is_bound(r["result"])]
    assert sum(r["planted_found"] for r in bounds) >= MEASURED_FLOOR * len(bounds), summary(rows)
