"""The benchmarks' verdicts on issue 13's targets: "ok" only when every repeat meets the target,
"MISSED" only when none does, "noise" when the repeats fall on both sides."""

import pytest

from ratecheck.experiments.targets import FULL, RECORD, Target, spread


@pytest.mark.parametrize("ratios,verdict", [
    ([1.1, 1.2, 1.15], "ok"),  # the bound itself meets an "at most" target
    ([1.21, 1.5], "MISSED"),
    ([1.1, 1.3], "noise"),
    ([1.3], "MISSED"),
])
def test_at_most_target(ratios, verdict):
    assert RECORD.verdict(ratios) == verdict


@pytest.mark.parametrize("ratios,verdict", [([0.9, 0.95], "ok"), ([0.89, 0.5], "MISSED"), ([0.85, 0.92, 0.95], "noise")])
def test_at_least_target(ratios, verdict):
    assert FULL.verdict(ratios) == verdict


def test_no_ratio_is_an_error_not_a_verdict():
    with pytest.raises(ValueError, match="no ratio"):
        Target("x", 1.0, at_most=True).verdict([])


def test_spread_and_statement():
    assert spread([1.3, 1.1, 1.2]) == "1.20 [1.10-1.30]"
    assert str(RECORD) == "record / bare <= 1.2" and str(FULL) == "full / ceiling >= 0.9"
