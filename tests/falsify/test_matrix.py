"""Full budgets (-m heavy): planted false bounds over every assertable result, and no false alarm.

Per result 10 s for the planted copy (bound - 0.2 |bound|) and 10 s for the result as registered,
on one core: about 25 minutes in all. Acceptance of issue 12: >= 90% of the planted copies found,
no violation of a registered result. The misses are listed in docs/falsify.md with their best ratio.
"""

import pytest

from ratecheck.falsify.calibrate import calibrate, summary


@pytest.mark.heavy
def test_planted_false_bounds_found_and_no_false_alarm():
    rows = calibrate(budget=10.0)
    print(summary(rows))
    assert not [r["result"] for r in rows if r["true_violated"]]
    assert sum(r["planted_found"] for r in rows) >= 0.9 * len(rows), summary(rows)
