"""Planted copies proven true (calibrate.PLANTED_TRUE): each result holds with its bound times the factor
proved at its anchor (<= 0.8), on its registered examples and on a short search at that factor."""

import pytest
import torch

from ratecheck import theory
from ratecheck.falsify.calibrate import PLANTED_FACTOR, PLANTED_TRUE, is_bound, summary
from ratecheck.falsify.objective import perturbation
from ratecheck.falsify.search import search
from ratecheck.theory.example_runs import examples_for, run_example

# the factor each proof gives (docs/theory/dadaptation.md#planted-rates, docs/theory/momo.md#sps-max-planted,
# docs/theory/prodigy.md#da-rate-planted)
PROVEN = {"dadaptation.T10": 0.6831, "dadaptation.T2_final": 0.6831, "dadaptation.T2_final_G": 0.6831,
          "dadaptation.T18": 0.75, "dadaptation.alg2_weighted_bound": 0.75, "momo.polyak_smooth": 0.5,
          "prodigy.da_rate": 0.7321}


def test_every_proven_copy_is_a_theorem_bound_with_its_factor():
    assert set(PLANTED_TRUE) == set(PROVEN)
    for key, factor in PROVEN.items():
        assert is_bound(key) and theory.get(key).asserted and factor <= PLANTED_FACTOR


@pytest.mark.parametrize("key", sorted(PROVEN))
def test_proven_copy_holds_on_the_examples(key):
    r = theory.get(key)
    checked = 0
    for ex in examples_for(key):
        pb, tr = run_example(ex, torch.float64)
        c = theory.check(r, tr, pb, perturbation(PROVEN[key]))
        assert not bool((c.violated & c.checked).any()), f"{key} at x{PROVEN[key]} on {ex.problem}: {c.worst_ratio}"
        checked += int(c.checked.sum())
    assert checked > 0


@pytest.mark.parametrize("key", sorted(PROVEN))
def test_short_search_finds_no_violation_of_the_proven_copy(key):
    f = search(key, budget="4e", seed=3, B=8, factor=PROVEN[key])
    assert not f.violated, f.best.to_dict() if f.best else None


def test_summary_reports_proven_copies_apart():
    rows = [dict(result=k, planted_found=False, planted_best=0.2, true_violated=False) for k in ("momo.polyak_smooth", "dadaptation.L9")]
    text = summary(rows)
    assert "0/2 found (0%), 0/1 (0%) of those whose planted copy is not proven true" in text
    assert "planted copy proven true: 1 momo.polyak_smooth (docs/theory/momo.md#sps-max-planted)" in text
    assert "misses: dadaptation.L9" in text
