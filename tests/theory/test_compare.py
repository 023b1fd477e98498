"""The one comparison every check uses: the round-off tolerance per dtype, informative rows,
and what a check reports when nothing could be checked."""

import math

import pytest
import torch

from ratecheck.experiments.trace import Trace
from ratecheck.theory.base import FAMILY_ALPHA, Assumption, Result, Sides, check, compare, depth, margin, tolerance

inf, nan = math.inf, math.nan
U = {torch.float64: 2.0**-53, torch.float32: 2.0**-24}


class _Pb:
    d, n = 4, None
    tags = frozenset()


def _result(sides, kind="bound", in_expectation=False, assumptions=()):
    return Result(key="test.r", title="", paper="", arxiv="", provenance="DERIVED", source="docs/theory/README.md",
                  statement="", optimizers=("sgd",), sides=sides, kind=kind, in_expectation=in_expectation,
                  assumptions=assumptions)


def _trace(T1, B, dtype=torch.float64, hp=None, **data):
    data.setdefault("dist", torch.ones(T1, B, dtype=dtype))
    data.setdefault("diverged", torch.zeros(T1, B, dtype=dtype))
    return Trace(torch.arange(T1), data, {"dtype": str(dtype), "hp": hp or {}})


def test_bound_rows():
    obs = torch.tensor([1.0, 1.0 + 1e-12, 1.0 + 1e-6, inf, inf, nan, 5.0])
    bnd = torch.tensor([1.0, 1.0, 1.0, 3.0, inf, 1.0, inf])
    tol = torch.full_like(obs, 1e-10)
    ok, info = compare(obs, bnd, tol)
    # equal; within tolerance; above; inf observed vs finite bound; overflow; no data; vacuous
    assert ok[[0, 1, 2, 3]].tolist() == [True, True, False, False]
    assert info.tolist() == [True, True, True, True, False, False, False]
    # an inf observed value whose scale overflowed too (tol = inf) is arithmetic, not a violation
    assert compare(torch.tensor([inf]), torch.tensor([3.0]), torch.tensor([inf]))[1].tolist() == [False]


def test_identity_rows():
    obs = torch.tensor([2.0, 2.0 + 3e-10, 2.0 + 0.5e-10, inf, nan])
    bnd = torch.tensor([2.0, 2.0, 2.0, 1.0, 1.0])
    ok, info = compare(obs, bnd, torch.full_like(obs, 1e-10), kind="identity", rel=1e-14)
    assert ok[:3].tolist() == [True, False, True]
    assert info.tolist() == [True, True, True, False, False]
    # an identity whose relative resolution u (C + m) exceeds 1% says nothing (bf16-like runs)
    assert not compare(obs, bnd, torch.zeros_like(obs), kind="identity", rel=0.02)[1].any()


def test_rows_below_round_off_resolution_are_not_informative():
    # the tolerance (from the size of the terms) is 1e-3 of the larger side: informative;
    # 10x the larger side: no information, not a pass
    obs, bnd = torch.tensor([1e-20, 1e-20]), torch.tensor([2e-20, 2e-20])
    ok, info = compare(obs, bnd, torch.tensor([2e-23, 2e-19]))
    assert info.tolist() == [True, False]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", ["bound", "identity", "expectation"])
def test_a_perturbation_of_100_tolerances_is_caught_and_none_is_not(dtype, kind):
    """For each kind of check and dtype: sides equal up to one rounding of the run's dtype pass;
    shifting the bound down by 100x the derived tolerance fails on every row."""
    T1, B = 20, 6
    g = torch.Generator().manual_seed(0)
    exact = torch.rand(T1, B, generator=g, dtype=torch.float64) + 0.5
    rounded = exact.to(dtype).to(torch.float64)  # what a run in ``dtype`` records
    tr = _trace(T1, B, dtype, hp={"lr": torch.ones(B)})
    terms = torch.arange(1, T1 + 1, dtype=torch.float64)[:, None]
    u = U[dtype]
    tol = u * (depth(_Pb) + terms) * (rounded.abs() + exact.abs())

    def sides(shift):
        return lambda t, p: Sides(rounded, exact - shift * tol, terms=terms)

    r_kind = "identity" if kind == "identity" else "bound"
    r = _result(sides(0.0), kind=r_kind, in_expectation=kind == "expectation")
    c = check(r, tr, _Pb)
    assert c.checked.all() and c.holds.all() and (c.rows_checked == T1).all()
    bad = check(_result(sides(100.0), kind=r_kind, in_expectation=kind == "expectation"), tr, _Pb)
    assert bad.checked.all() and not bad.holds.any()
    assert (bad.first_violation == 0).all()


def test_float32_tolerance_is_the_float32_unit_round_off():
    s = Sides(torch.ones(3, 1), torch.ones(3, 1), terms=5)
    t64 = tolerance(s, U[torch.float64], 10.0)
    t32 = tolerance(s, U[torch.float32], 10.0)
    assert torch.allclose(t32 / t64, torch.tensor(2.0**29, dtype=torch.float64))
    assert torch.allclose(t64, torch.tensor(2.0**-53 * 15 * 2, dtype=torch.float64))


def test_rows_from_an_overflow_on_are_not_checked_but_earlier_ones_are():
    dist = torch.tensor([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0], [inf, 8.0], [inf, 16.0], [nan, 32.0]])
    diverged = torch.tensor([[0.0, 0.0]] * 4 + [[1.0, 0.0]] * 2)
    tr = _trace(6, 2, dist=dist, diverged=diverged)
    # observed = dist, bound = 3: run 1 violates from row 2 on (a real violation, before any
    # overflow); run 0 only exceeds at row 2, then overflows at row 3 (x finite, ||x - x*|| = inf).
    r = _result(lambda t, p: Sides(t["dist"], torch.full_like(t["dist"], 3.0)))
    c = check(r, tr, _Pb)
    assert c.holds.tolist() == [False, False]
    assert c.first_violation.tolist() == [2, 2]
    assert c.observed[3:, 0].isnan().all() and not c.observed[3:, 1].isnan().any()


def test_a_run_with_no_finite_row_is_not_checked_with_a_reason():
    tr = _trace(4, 2)
    nanb = torch.full((4, 2), nan)
    c = check(_result(lambda t, p: Sides(torch.ones(4, 2), nanb, undefined="n < 2 nhat")), tr, _Pb)
    assert not c.checked.any() and not c.all_hold
    assert c.reasons == ["no finite row (n < 2 nhat)"] * 2


def test_a_run_below_resolution_everywhere_is_not_checked():
    tr = _trace(4, 1)
    tiny = torch.full((4, 1), 1e-30)
    c = check(_result(lambda t, p: Sides(tiny, tiny, scale=torch.ones(4, 1))), tr, _Pb)
    assert not c.checked.any() and c.reasons == ["below round-off resolution on every row"]


def test_a_false_assumption_is_named_and_the_run_not_checked():
    tr = _trace(3, 3)
    a = Assumption("weight_decay = 0", lambda t, p: torch.tensor([True, False, True]))
    c = check(_result(lambda t, p: Sides(torch.full((3, 3), 2.0), torch.ones(3, 3)), assumptions=(a,)), tr, _Pb)
    assert c.checked.tolist() == [True, False, True]
    assert c.violated.tolist() == [True, False, True]
    assert c.reasons == ["", "assumption false: weight_decay = 0", ""]


def test_in_expectation_groups_need_two_runs_for_a_standard_error():
    tr = _trace(3, 3, hp={"lr": torch.tensor([1.0, 1.0, 2.0])})
    c = check(_result(lambda t, p: Sides(torch.zeros(3, 3), torch.ones(3, 3)), in_expectation=True), tr, _Pb)
    assert c.units == "groups" and c.checked.tolist() == [True, False]
    assert c.reasons[1] == "one run per group: no standard error"


def test_margin_is_the_t_quantile_with_a_bonferroni_split_over_the_rows():
    from scipy.stats import t as student_t

    assert margin(16, 100) == pytest.approx(student_t.isf(FAMILY_ALPHA / 100, 15))
    assert margin(16, 1) > 3.0 and margin(8, 100) > margin(16, 100) > margin(16, 10)
    assert margin(1, 100) == inf


def test_in_expectation_false_alarms_stay_below_the_family_level_and_a_shift_is_caught():
    """Normal per-run differences with mean 0 on 100 rows, 400 groups of 16 seeds: the former 3 SE
    per row flags most groups, the margin at most a few (FAMILY_ALPHA = 0.00135: about 0.5 of 400);
    a mean of +2 standard deviations on one row is flagged in most groups."""
    G, n, T = 400, 16, 100
    gen = torch.Generator().manual_seed(0)
    diff = torch.randn(T, G * n, generator=gen, dtype=torch.float64)
    hp = {"lr": torch.arange(G, dtype=torch.float64).repeat_interleave(n)}
    tr = _trace(T, G * n, hp=hp)
    big = torch.full((T, G * n), 1e3, dtype=torch.float64)  # the bound: every row informative
    c = check(_result(lambda t, p: Sides(big + diff, big), in_expectation=True), tr, _Pb)
    assert int(c.violated.sum()) <= 3
    d = (diff.reshape(T, G, n))
    old = (d.mean(-1) - 3.0 * d.std(-1) / n**0.5 > 0).any(0)
    assert int(old.sum()) > G / 3
    shifted = diff.clone()
    shifted[50] += 2.0
    c = check(_result(lambda t, p: Sides(big + shifted, big), in_expectation=True), tr, _Pb)
    assert int(c.violated.sum()) > G / 2


@pytest.mark.parametrize("kind", ["bound", "identity"])
def test_an_overflowed_term_leaves_the_row_without_information(kind):
    # both sides finite but a term that formed them overflowed: no tolerance can be derived
    tr = _trace(2, 1)
    scale = torch.tensor([[1.0], [inf]])
    r = _result(lambda t, p: Sides(torch.tensor([[1.0], [5.0]]), torch.tensor([[1.0], [1.0]]), scale=scale), kind=kind)
    c = check(r, tr, _Pb)
    assert c.counted[:, 0].tolist() == [True, False] and c.holds.all()


def test_sides_are_not_evaluated_when_no_run_meets_the_assumptions():
    # e.g. a bound that reads a hyper-parameter only the runs it applies to have
    def sides(t, p):
        raise AssertionError("sides evaluated although no run applies")

    a = Assumption("G_term = True", lambda t, p: torch.tensor([False, False]))
    c = check(_result(sides, assumptions=(a,)), _trace(3, 2), _Pb)
    assert not c.checked.any() and c.reasons == ["assumption false: G_term = True"] * 2
