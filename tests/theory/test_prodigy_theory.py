"""Prodigy theory: property tests of the pure lemmas, and every result on real runs.

Every lemma here is an inequality or identity between sequences; the inputs are random
(hypothesis), not produced by the optimizers, so these test the theory layer alone.
"""

import math
import os
import sys

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ratecheck.theory import get, names
from ratecheck.theory import dadaptation as da
from ratecheck.theory import prodigy as pr

sys.path.insert(0, os.path.dirname(__file__))
from _theory_testlib import SETTINGS, grad_seq, leq  # noqa: E402
from _theory_testlib import FAST, assert_cases_hold, assert_cases_hold_heavy, d0_grid, exercised_keys, run_case  # noqa: E402

# -- GD identity and Prodigy P2-P4 ------------------------------------------------------------------

@SETTINGS
@given(grad_seq(), st.floats(1.0, 4.0))
def test_gd_identity_and_prodigy_p2_p3_p4(gg, slack):
    g, gen = gg
    n = g.shape[0]
    gn2 = (g**2).sum(-1)
    G = slack * float(gn2.max().sqrt())
    d = 1e-3 * torch.cummax(torch.exp(3 * torch.randn(n + 1, generator=gen, dtype=torch.float64)), dim=0).values
    eta = pr.prodigy_steps(d[:-1], gn2, G)
    x0 = torch.randn(g.shape[1], generator=gen, dtype=torch.float64)
    x = torch.cat([x0[None], x0 - torch.cumsum(eta[:, None] * g, dim=0)])
    lhs, rhs = da.gd_identity_sides(eta, gn2, (g * (x0 - x[:-1])).sum(-1), (x[1:] - x0).norm(dim=-1))
    # x_{n+1} - x0 is computed from two iterates: its round-off scales with their norms.
    scale = torch.cumsum(eta**2 * gn2, 0) + (x[1:] - x0).norm(dim=-1) * (x[1:].norm(dim=-1) + x0.norm())
    assert torch.allclose(lhs / scale, rhs / scale, rtol=0, atol=1e-12)
    Q = pr.q_sum(eta, gn2)
    disp = (x[1:] - x0).norm(dim=-1)
    dhat = lhs / disp
    d_next = torch.maximum(d[1:], dhat)
    assert leq(disp, pr.p2_bound(d_next, Q))
    assert leq(pr.p3_bound(d[:-1], G), torch.cumsum(eta, 0))
    S = pr.s_sum(d[:-1], gn2)
    assert leq(Q, pr.p4_bound(torch.cummax(d_next, 0).values, S, float(d[0]), G))


def test_prodigy_step_reduces_to_dadapt_gd_step_for_constant_d():
    # With d_k = c for all k, eta_k = c / sqrt(G^2 + S_k): the D-Adaptation GD step.
    gn2 = torch.tensor([1.0, 4.0, 0.25], dtype=torch.float64)
    c = 0.7
    eta = pr.prodigy_steps(torch.full((3,), c, dtype=torch.float64), gn2, 2.0)
    assert torch.allclose(eta, c / torch.sqrt(4.0 + torch.cumsum(gn2, 0)))


# -- Rate comparison ------------------------------------------------------------------------------

@SETTINGS
@given(st.floats(1.0, 1e12), st.integers(0, 10**6))
def test_rate_comparison_prodigy_gains_sqrt_log(ratio, n):
    r = pr.rate_comparison(torch.tensor([float(n)]), D=1.0, G=1.0, d0=1.0 / ratio)
    lg = max(1.0, math.log2(ratio))
    # The DA forms differ by 16 sqrt(log2+): Prodigy never worse, gap grows with D/d0.
    assert math.isclose(float(r["dadapt_da_final"] / r["prodigy_da"]), 16 * math.sqrt(lg), rel_tol=1e-12)
    assert bool((r["prodigy_da"] <= r["dadapt_da_final"]).all())
    assert bool((r["prodigy_da"] <= r["prodigy_gd"] + 1e-300).all()) or n == 0


# =================================================================================================
# Every registered result on real runs
# =================================================================================================

PRODIGY_CASES = {
    "gd": ("prodigy_gd", {}, lambda pb, D: {"d0": d0_grid(D)}),
    "da": ("prodigy_da", {}, lambda pb, D: {"d0": d0_grid(D)}),
    "dadapt_gd": ("dadapt_gd", {}, lambda pb, D: {"d0": d0_grid(D)}),
    "adam": ("prodigy_adam", {}, lambda pb, D: {
        "d0": d0_grid(D), "beta1": torch.tensor([0.0, 0.5, 0.9, 0.9, 0.0]),
        "d_coef": torch.tensor([1.0, 2.0, 0.5, 1.0, 10.0]), "use_bias_correction": torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0]),
        "safeguard_warmup": torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0]), "lr": torch.tensor([1.0, 1.0, 0.5, 3.0, 2.0]),
        "growth_rate": torch.tensor([math.inf, 1.02, math.inf, 1.5, math.inf]),
        "weight_decay": torch.tensor([0.0, 0.1, 0.0, 0.0, 0.0])}),
}


@pytest.mark.parametrize("case", sorted(PRODIGY_CASES))
@pytest.mark.parametrize("pname", FAST)
def test_prodigy_results_hold_on_library_problems(pname, case):
    assert_cases_hold(PRODIGY_CASES, case, pname, "prodigy.", T=150)


@pytest.mark.heavy
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("case", sorted(PRODIGY_CASES))
def test_prodigy_results_hold_heavy(case, seed):
    assert_cases_hold_heavy(PRODIGY_CASES, case, seed, "prodigy.", T=600)


def test_every_prodigy_result_is_exercised():
    want = {k for k in names() if k.startswith("prodigy.") and get(k).provenance.assertable}
    assert want - exercised_keys(PRODIGY_CASES, want) == set()


def test_unverified_prodigy_results_are_registered_but_not_assertable():
    for key in ("prodigy.sequence_lemma", "prodigy.T1_gd"):
        assert not get(key).provenance.assertable


def test_prodigy_estimates_a_larger_d_than_dadaptation_gd():
    """prodigy.md §6.5, a trend shown on one problem: Prodigy's d ends at least as large."""
    pb, tp = run_case("l1_distance", "prodigy_gd", {}, lambda pb, D: {"d0": 1e-6}, T=300)
    _, td = run_case("l1_distance", "dadapt_gd", {}, lambda pb, D: {"d0": 1e-6}, T=300)
    assert bool((tp["d"][-2] >= td["d"][-2]).all())
