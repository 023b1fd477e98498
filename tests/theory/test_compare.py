"""The one comparison every check uses: tolerance, and rows that carry no information."""

import math

import torch

from ratecheck.theory.base import RTOL, compare

inf, nan = math.inf, math.nan


def test_bound_comparison_rows():
    obs = torch.tensor([1.0, 1.0 + 0.5 * RTOL, 1.0 + 1e-6, inf, inf, nan, 5.0])
    bnd = torch.tensor([1.0, 1.0, 1.0, 3.0, inf, 1.0, inf])
    # equal; within tolerance; above; inf observed vs finite bound; overflow; no data; vacuous
    assert compare(obs, bnd).tolist() == [True, True, False, False, True, True, True]


def test_identity_comparison_rows():
    obs = torch.tensor([2.0, 2.0 * (1 + 3 * RTOL), 2.0 * (1 + 0.5 * RTOL), inf, inf, nan])
    bnd = torch.tensor([2.0, 2.0, 2.0, inf, 1.0, 1.0])
    # equal; outside tolerance; inside; overflow on one or both sides and no data carry no information
    assert compare(obs, bnd, kind="identity").tolist() == [True, False, True, True, True, True]


def test_rows_from_an_overflow_on_are_not_checked_but_earlier_ones_are():
    from ratecheck.experiments.trace import Trace
    from ratecheck.theory.base import Result, check

    T1 = 6
    dist = torch.tensor([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0], [inf, 8.0], [inf, 16.0], [nan, 32.0]])
    diverged = torch.tensor([[0.0, 0.0]] * 4 + [[1.0, 0.0]] * 2)
    tr = Trace(torch.arange(T1), {"dist": dist, "diverged": diverged})
    # observed = dist, bound = 3: run 1 violates from row 2 on (a real violation, before any
    # overflow); run 0 only exceeds at row 2, then overflows at row 3 (x finite, ||x - x*|| = inf).
    r = Result(key="test.overflow", title="", paper="", arxiv="", provenance="DERIVED", source="",
               statement="dist <= 3", optimizers=("sgd",), observed=lambda t, p: t["dist"],
               bound=lambda t, p: torch.full_like(t["dist"], 3.0))
    c = check(r, tr, None)
    assert c.holds.tolist() == [False, False]
    assert c.first_violation.tolist() == [2, 2]
    assert c.observed[3:, 0].isnan().all() and not c.observed[3:, 1].isnan().any()
