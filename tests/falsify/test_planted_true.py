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
# docs/theory/prodigy.md#da-rate-planted, #closed-form-planted)
PROVEN = {"dadaptation.T10": 0.6831, "dadaptation.T2_final": 0.6831, "dadaptation.T2_final_G": 0.6831,
          "dadaptation.T18": 0.75, "dadaptation.alg2_weighted_bound": 0.75, "momo.polyak_smooth": 0.5,
          "prodigy.da_rate": 0.7321, "prodigy.closed_form_bound": 0.8, "prodigy.gd_rate": 0.8,
          "dadaptation.gd_rate": 0.8}  # dadaptation.gd_rate: on runs of < 1e30 steps (#gd-rate-planted)


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


def test_sharp_lemma_inequalities_on_random_points():
    """The algebra of docs/theory/dadaptation.md#planted-rates on random admissible points: for D >= d > 0,
    c >= 0, 0 <= P <= c d^2 and 0 <= y <= d + sqrt(d^2 + P): D y - y^2/2 + P/2 <= M D d, M = max(1 + sqrt(1+c), (1+c)/2),
    and M/(2+c) <= (1+sqrt3)/4 for c >= 2; Algorithm 2: D y - y^2/2 + d^2 <= 3 D d for 0 <= y <= 3d."""
    g = torch.Generator().manual_seed(0)
    n = 200_000
    u = lambda: torch.rand(n, generator=g, dtype=torch.float64)
    D = 10 ** (4 * u() - 2)
    d = D * u().clamp(min=1e-12)
    c = torch.where(u() < 0.5, 10 * u(), 10 ** (6 * u()))
    P = c * d * d * u()
    y = (d + torch.sqrt(d * d + P)) * u()
    M = torch.maximum(1 + torch.sqrt(1 + c), (1 + c) / 2)
    assert bool((D * y - y * y / 2 + P / 2 <= M * D * d * (1 + 1e-12)).all())
    c2 = 2 + 10 ** (6 * u() - 3)
    M2 = torch.maximum(1 + torch.sqrt(1 + c2), (1 + c2) / 2)
    assert bool((M2 / (2 + c2) <= (1 + 3**0.5) / 4 + 1e-15).all())
    y3 = 3 * d * u()
    assert bool((D * y3 - y3 * y3 / 2 + d * d <= 3 * D * d * (1 + 1e-12)).all())
