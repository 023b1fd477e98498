"""Prodigy theory: property tests of the pure lemmas, every result on real runs (float64 and
float32), and the scope of each result: the assumptions it states (slice_p, coupled decay,
safeguard_warmup with bias correction, d_0 <= D, G >= max ||g_k||), each shown needed by a run
that violates the statement without it; provenance and roles.

The lemma tests' inputs are random (hypothesis), not produced by the optimizers, so they test the
theory layer alone.
"""

import dataclasses
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ratecheck.theory import Provenance, Role, check, get, names
from ratecheck.theory import dadaptation as da
from ratecheck.theory import prodigy as pr

from tests._lib.core import run_on
from tests._lib.theory import SETTINGS, grad_seq, leq
from tests._lib.theory import FAST, assert_cases_hold_heavy, d0_grid, exercised_keys

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



def test_ema_is_the_code_recursion():
    v = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 4.0]], dtype=torch.float64)
    beta = torch.tensor([0.5, 0.0], dtype=torch.float64)
    want = torch.stack([v[0], 0.5 * v[0] + v[1], 0.25 * v[0] + 0.5 * v[1] + v[2]])
    want[:, 1] = v[:, 1]
    assert torch.equal(pr.ema(v, beta), want)


@SETTINGS
@given(grad_seq(), st.floats(-30.0, 0.0))
def test_p2_is_tight_when_the_estimate_rises(gg, log_d0):
    """d_{n+1} = dhat_{n+1} makes P2 an equality (the GD identity): P2's round-off scale must
    cover the rounding of that identity, so a bound computed at d = dhat is within it."""
    g, gen = gg
    gn2 = (g**2).sum(-1)
    eta = math.exp(log_d0) * torch.rand(g.shape[0], generator=gen, dtype=torch.float64)
    x0 = torch.randn(g.shape[1], generator=gen, dtype=torch.float64)
    x = torch.cat([x0[None], x0 - torch.cumsum(eta[:, None] * g, dim=0)])
    disp = (x[1:] - x0).norm(dim=-1)
    num = torch.cumsum(eta * (g * (x0 - x[:-1])).sum(-1), 0)
    Q = pr.q_sum(eta, gn2)
    dhat = (num / disp).clamp_min(0.0)
    bound = pr.p2_bound(dhat, Q)
    xm = x.norm(dim=-1)
    X = xm[0] + torch.cummax(xm[1:], 0).values
    N = pr.numerator_magnitude(eta, gn2.sqrt(), xm[0], xm[:-1])
    tol = torch.finfo(torch.float64).eps / 2 * (10 + torch.arange(1, g.shape[0] + 1)) * (disp + bound + pr.p2_scale(disp, dhat, Q, N, X))
    ok = disp > 0
    assert bool((disp - bound <= tol)[ok].all())


# =================================================================================================
# Every registered result on real runs
# =================================================================================================

PRODIGY_CASES = {
    "gd": ("prodigy_gd", {}, lambda pb, D: {"d0": d0_grid(D)}),
    "da": ("prodigy_da", {}, lambda pb, D: {"d0": d0_grid(D)}),
    "dadapt_gd": ("dadapt_gd", {}, lambda pb, D: {"d0": d0_grid(D)}),
    "resetting": ("dadapt_resetting", {"G_term": True}, lambda pb, D: {"d0": d0_grid(D)}),
    "adam": ("prodigy_adam", {}, lambda pb, D: {
        "d0": d0_grid(D), "beta1": torch.tensor([0.0, 0.5, 0.9, 0.9, 0.0]),
        "d_coef": torch.tensor([1.0, 2.0, 0.5, 1.0, 10.0]), "use_bias_correction": torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0]),
        "safeguard_warmup": torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0]), "lr": torch.tensor([1.0, 1.0, 0.5, 3.0, 2.0]),
        "growth_rate": torch.tensor([math.inf, 1.02, math.inf, 1.5, math.inf]),
        "beta3": torch.tensor([0.9, 0.0, 0.99, 0.5, 0.9]), "eps": torch.tensor([1e-8, 1e-3, 1e-8, 1e-8, 1e-1]),
        "weight_decay": torch.tensor([0.0, 0.1, 0.0, 0.0, 0.0])}),
}


def _assert_hold(pb, tr, opt, label):
    for r in (get(k) for k in names() if k.startswith("prodigy.")):
        if opt not in r.optimizers or not r.asserted or not r.requires <= set(pb.tags):
            continue
        c = check(r, tr, pb)
        assert not bool(c.violated.any()), (f"{r.key} fails on {pb.name} {label}: runs {c.violated.nonzero().flatten().tolist()} "
                                            f"at rows {c.first_violation.tolist()}, worst {c.worst_ratio.tolist()}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", sorted(PRODIGY_CASES))
@pytest.mark.parametrize("pname", FAST)
def test_prodigy_results_hold_on_library_problems(pname, case, dtype):
    """Adversarial d_0 (1e-12 to 10 D) and every option the proofs cover, in both dtypes: a tiny d_0
    leaves the first rows below round-off resolution (unchecked), never a false violation."""
    opt, options, hp = PRODIGY_CASES[case]
    pb, tr = run_on(pname, opt, options=options, hp=hp, T=150, dtype=dtype)
    _assert_hold(pb, tr, opt, f"{case} {dtype}")


@pytest.mark.heavy
@pytest.mark.parametrize("case,seed", [(c, 1 + i % 3) for i, c in enumerate(sorted(PRODIGY_CASES))])
def test_prodigy_results_hold_heavy(case, seed):
    """Beyond the default suite (the FAST problems, 150 steps, x0 scale 1, seed 0): every convex
    library problem with a known G and an affordable full-batch oracle, from x0 scales 0.1 and 10,
    600 steps, where the estimate has stopped growing and P2-P4 are checked late; the seeds 1 to 3
    taken in turn over the cases."""
    assert_cases_hold_heavy(PRODIGY_CASES, case, seed, "prodigy.", T=600)


def test_every_prodigy_result_is_exercised():
    want = {k for k in names() if k.startswith("prodigy.") and get(k).provenance.assertable and get(k).oracle != "stochastic"}
    assert want - exercised_keys(PRODIGY_CASES, want) == set()


def test_unverified_prodigy_results_are_registered_but_not_assertable():
    for key in ("prodigy.sequence_lemma", "prodigy.T1_gd"):
        assert not get(key).provenance.assertable


def test_prodigy_estimates_a_larger_d_than_dadaptation_gd():
    """docs/references/prodigy.md §6 (item 5), a trend shown on one problem: Prodigy's d ends at least as large."""
    pb, tp = run_on("l1_distance", "prodigy_gd", lambda pb, D: {"d0": 1e-6}, T=300)
    _, td = run_on("l1_distance", "dadapt_gd", lambda pb, D: {"d0": 1e-6}, T=300)
    assert bool((tp["d"][-2] >= td["d"][-2]).all())


# =================================================================================================
# Scope: assumptions, each needed (a run that breaks the statement without it)
# =================================================================================================


def _unassumed(key):
    return dataclasses.replace(get(key), assumptions=())


def test_ip_with_slice_p_is_not_checked():
    """I-P's proof needs the full inner product <g, x0 - x> (convexity); slice_p > 1 is reported
    n/a with that reason, and the same hyper-parameters with slice_p = 1 are checked."""
    hp = {"d0": torch.tensor([1e-6, 1e-3, 1e-2, 0.1]), "beta1": 0.9}
    pb, sliced = run_on("quadratic", "prodigy_adam", options={"slice_p": 2}, hp=hp, T=150, B=4)
    c = check(get("prodigy.IP_code_invariant"), sliced, pb)
    assert not bool(c.checked.any()) and set(c.reasons) == {"assumption false: slice_p = 1"}
    _, full = run_on("quadratic", "prodigy_adam", hp=hp, T=150, B=4)
    c = check(get("prodigy.IP_code_invariant"), full, pb)
    assert bool(c.checked.all()) and c.all_hold


def test_ip_with_coupled_weight_decay_is_not_checked_and_would_fail():
    """Coupled decay makes g the gradient of f + wd/2 ||x||^2, whose minimiser is not x*: from a
    start near x* (scale 1e-3) dhat/(d_coef D_inf) reaches ~26 with wd = 1 (l1_distance)."""
    hp = {"d0": 1e-6, "weight_decay": torch.tensor([0.0, 1.0, 1.0]), "decouple": torch.tensor([0.0, 0.0, 1.0])}
    pb, tr = run_on("l1_distance", "prodigy_adam", hp=hp, T=300, B=3, scale=1e-3)
    c = check(get("prodigy.IP_code_invariant"), tr, pb)
    assert c.checked.tolist() == [True, False, True] and c.all_hold
    assert c.reasons[1] == "assumption false: weight_decay = 0 or decouple = 1"
    bare = check(_unassumed("prodigy.IP_code_invariant"), tr, pb)
    assert bare.violated.tolist() == [False, True, False] and float(bare.worst_ratio[1]) > 10


def test_ip_with_safeguard_and_bias_correction_is_not_checked_and_would_fail():
    """With safeguard_warmup, r carries lr bc_k and s does not: bias correction with beta1 = 0.999,
    beta2 = 0.9 makes bc_k >> 1 early and dhat/(lr d_coef D_inf) reaches ~3 (l1_distance)."""
    hp = {"d0": 1e-6, "safeguard_warmup": 1.0, "use_bias_correction": torch.tensor([0.0, 1.0]), "beta1": 0.999, "beta2": 0.9}
    pb, tr = run_on("l1_distance", "prodigy_adam", hp=hp, T=100, B=2)
    c = check(get("prodigy.IP_code_invariant"), tr, pb)
    assert c.checked.tolist() == [True, False] and c.all_hold
    assert c.reasons[1] == "assumption false: safeguard_warmup = 0 or use_bias_correction = 0"
    assert check(_unassumed("prodigy.IP_code_invariant"), tr, pb).violated.tolist() == [False, True]


@pytest.mark.parametrize("key", ["prodigy.T1_gd", "prodigy.closed_form_bound"])
def test_rate_bounds_need_d0_le_D(key):
    """Both use d_{n+1} <= D, which needs d_0 <= D: with d_0 = 100 D they fail (ratio ~3 on l1_distance)."""
    pb, tr = run_on("l1_distance", "prodigy_gd", hp=lambda pb, D: {"d0": torch.tensor([0.1, 100.0]) * D}, T=300, B=2)
    c = check(get(key), tr, pb)
    assert c.reasons == ["", "assumption false: d0 <= D"] and bool(c.checked[0])
    assert not bool(c.violated[0])
    assert bool(check(_unassumed(key), tr, pb).violated[1])


@pytest.mark.parametrize("key", ["prodigy.T1_gd", "prodigy.closed_form_bound", "prodigy.P3"])
def test_rate_bounds_need_G_above_the_gradients(key):
    """G < max ||g_k|| (here G = 0.01 and 0.1 on l1_distance, ||g|| = 4.46): n/a with the reason,
    and false without it (ratios 5 to 3000)."""
    pb, tr = run_on("l1_distance", "prodigy_gd", hp={"d0": 1e-3, "G": torch.tensor([10.0, 0.01, 0.1])}, T=300, B=3)
    c = check(get(key), tr, pb)
    assert c.reasons[1:] == ["assumption false: G >= max_k ||g_k||"] * 2 and bool(c.checked[0])
    assert not bool(c.violated[0])
    assert check(_unassumed(key), tr, pb).violated[1:].all()


def test_sequence_lemma_rows_before_its_condition_are_undefined_not_infinite():
    """Prodigy's d rises slowly on library runs, so d is replaced by a sequence that jumps by 2^20
    at step 3: rows N < 2 log2(d_N/d_0) = 40 are NaN with the reason (formerly +inf), the rest defined."""
    pb, tr = run_on("l1_distance", "prodigy_gd", hp={"d0": 1e-3}, T=100, B=2)
    d = torch.where(torch.arange(101)[:, None] >= 3, 2.0**20, 1.0).expand(101, 2).to(torch.float64)
    jumped = dataclasses.replace(tr, data=dict(tr.data, d=d, d_next=torch.cat([d[1:], d[-1:]])))
    s = get("prodigy.sequence_lemma").sides(jumped, pb)
    assert not bool(s.bound.isinf().any()) and s.undefined
    assert bool(s.bound[2:39].isnan().all()) and bool(s.bound[:2].isfinite().all()) and bool(s.bound[39:].isfinite().all())


# =================================================================================================
# Provenance and roles
# =================================================================================================


def test_results_on_the_reconstructions_are_derived_or_unverified():
    """prodigy_da and dadapt_resetting are [UNVERIFIED] reconstructions: what is asserted on them is
    proved on docs/theory/prodigy.md ([DERIVED]); nothing in this module is [PAPER]."""
    keys = [k for k in names() if k.startswith("prodigy.")]
    for k in keys:
        r = get(k)
        assert r.provenance is not Provenance.PAPER, k
        if {"prodigy_da", "dadapt_resetting"} & set(r.optimizers):
            assert r.provenance in (Provenance.DERIVED, Provenance.UNVERIFIED), k
        if r.provenance is Provenance.DERIVED:
            assert r.source.startswith("docs/theory/prodigy.md#"), k
    assert "prodigy_da" in get("prodigy.P0_dhat_le_D").optimizers


def test_prodigy_results_are_lemmas_of_derived_proofs():
    """No prodigy result is true by construction alone: each is a step of the bound's or of I-P's proof."""
    for k in (k for k in names() if k.startswith("prodigy.")):
        assert get(k).role is Role.THEOREM, k


def test_ip_scales_with_the_run_and_catches_a_planted_violation():
    """One call gives both sides and the scale; a bound 1% below the observed estimate is caught."""
    pb, tr = run_on("l1_distance", "prodigy_adam", hp={"d0": 1e-3}, T=150, B=2)
    r = get("prodigy.IP_code_invariant")
    s = r.sides(tr, pb)
    assert s.scale is not None and s.observed.shape == s.bound.shape == (150, 2)
    c = check(r, tr, pb, perturb=lambda s: dataclasses.replace(s, bound=0.99 * s.observed.nan_to_num(0.0)))
    assert bool(c.violated.all())
