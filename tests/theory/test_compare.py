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
