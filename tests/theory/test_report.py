"""The status vocabulary and the headline (theory.report)."""

import torch

from ratecheck.experiments.trace import Trace
from ratecheck.theory import report
from ratecheck.theory.base import Result, Role, Sides


def _r(role=Role.THEOREM, provenance="DERIVED"):
    return Result(key="test.r", title="", paper="", arxiv="", provenance=provenance, source="docs/theory/README.md",
                  statement="", optimizers=("sgd",), role=role,
                  sides=lambda t, p: Sides(t["dist"], torch.full_like(t["dist"], 1.5)))


class _Pb:
    d, n = 2, None


def _trace():
    dist = torch.tensor([[1.0, 1.0], [1.0, 2.0]])
    return Trace(torch.arange(2), {"dist": dist, "diverged": torch.zeros(2, 2)}, {"dtype": "torch.float64", "hp": {}})


def test_status_per_role_and_provenance():
    tr = _trace()  # run 1 exceeds 1.5 at row 1
    assert report.check_row(_r(), tr, _Pb)[0]["status"] == "VIOLATED"
    assert report.check_row(_r(Role.IMPLEMENTATION), tr, _Pb)[0]["status"] == "VIOLATED"
    assert report.check_row(_r(Role.ERRATUM), tr, _Pb)[0]["status"] == "erratum: fails as expected"
    assert report.check_row(_r(provenance="UNVERIFIED"), tr, _Pb)[0]["status"] == "shown: violated"
    assert report.failing([report.check_row(_r(Role.ERRATUM), tr, _Pb)[0]]) == []


def test_results_outside_their_class_are_counted_apart_in_the_headline():
    tr = _trace()
    rows = [report.check_row(_r(), tr, _Pb, why="problem tag missing: smooth")[0],
            {**report.check_row(_r(), tr, _Pb)[0], "status": "ok"}]
    assert rows[0]["status"] == "n/a" and rows[0]["reason"] == "problem tag missing: smooth"
    assert report.headline(rows) == "theorems: 1 ok | not applicable to these problems or oracles: 1"
