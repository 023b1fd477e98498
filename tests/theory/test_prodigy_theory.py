"""Prodigy theory: property tests of the pure lemmas, and every result on real runs.

Every lemma here is an inequality or identity between sequences; the inputs are random
(hypothesis), not produced by the optimizers, so these test the theory layer alone.
"""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratecheck.theory import dadaptation as da
from ratecheck.theory import prodigy as pr
from ratecheck.theory.base import compare

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def leq(a, b):
    """a <= b elementwise with the package tolerance."""
    return bool(compare(torch.as_tensor(a), torch.as_tensor(b)).all())


# -- random sequences ----------------------------------------------------------------------------

@st.composite
def nondecreasing(draw, min_len=2, max_len=80):
    """d_0..d_{N+1}: positive, non-decreasing, with flat stretches and jumps of any size."""
    n = draw(st.integers(min_len, max_len))
    steps = draw(st.lists(st.one_of(st.just(0.0), st.floats(0.0, 0.3), st.floats(0.0, 12.0)), min_size=n - 1, max_size=n - 1))
    d0 = draw(st.floats(1e-12, 10.0))
    return d0 * torch.pow(2.0, torch.cumsum(torch.tensor([0.0] + steps, dtype=torch.float64), dim=0))


@st.composite
def grad_seq(draw, dim=3, max_len=40):
    n = draw(st.integers(1, max_len))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    scale = torch.exp(2.0 * torch.randn(n, 1, generator=gen, dtype=torch.float64))
    g = torch.randn(n, dim, generator=gen, dtype=torch.float64) * scale
    return g, gen


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

from ratecheck.experiments.runner import run  # noqa: E402
from ratecheck.optimizers import get as get_opt  # noqa: E402
from ratecheck.problems import get as get_problem  # noqa: E402
from ratecheck.problems import names as problem_names  # noqa: E402
from ratecheck.theory import applicable, check, get, names  # noqa: E402

FAST = ("abs_1d", "l1_distance", "lad", "max_affine", "nesterov_nonsmooth", "quadratic")


def convex_problems(fast_only):
    out = []
    for name in problem_names():
        if fast_only and name not in FAST:
            continue
        try:
            pb = get_problem(name)
        except Exception as e:  # a problem that needs an unavailable solver or data set
            pytest.skip(f"{name}: {e}")
        # Full-batch oracles cost d * n per step; the largest data sets take minutes on 2 cores.
        if "convex" in pb.tags and pb.G is not None and pb.d * (pb.n or 1) <= 2e5:
            out.append(name)
    return out


def d0_grid(D):
    """Adversarial d_0: tiny, small, a fraction of D, D itself, above D."""
    return torch.tensor([1e-12, 1e-6, 1e-2 * D, D, 10.0 * D], dtype=torch.float64)


def run_case(pname, opt_name, options, hp_fn, T=200, seed=0, scale=1.0):
    pb = get_problem(pname)
    x0 = pb.x0(5, scale=scale, seed=seed)
    D = float((x0[0] - pb.x_star_tensor(x0)).norm())
    opt = get_opt(opt_name, **options)
    tr = run(pb, opt, x0, T, hp=hp_fn(pb, D), keep_iterates=True)
    return pb, tr


def assert_all_results_hold(opt_name, pb, tr, prefix):
    """Every asserted (non-UNVERIFIED, no erratum) result holds on every checked run."""
    seen = []
    for r in applicable(opt_name, pb):
        if not r.key.startswith(prefix) or not r.provenance.assertable or "erratum" in r.extra:
            continue
        c = check(r, tr, pb)
        bad = c.checked & ~c.holds
        assert not bool(bad.any()), (
            f"{r.key} fails on {pb.name} runs {bad.nonzero().flatten().tolist()} at steps "
            f"{c.first_violation[bad].tolist()}, worst ratio {c.worst_ratio[bad].tolist()}")
        seen.append(r.key)
    return seen



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
    name, options, hp_fn = PRODIGY_CASES[case]
    if pname not in problem_names():
        pytest.skip(f"{pname} not in the library")
    pb, tr = run_case(pname, name, options, hp_fn, T=150)
    assert_all_results_hold(name, pb, tr, "prodigy.")


@pytest.mark.heavy
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("case", sorted(PRODIGY_CASES))
def test_prodigy_results_hold_heavy(case, seed):
    name, options, hp_fn = PRODIGY_CASES[case]
    for pname in convex_problems(fast_only=False):
        for scale in (0.1, 10.0):
            pb, tr = run_case(pname, name, options, hp_fn, T=600, seed=seed, scale=scale)
            assert_all_results_hold(name, pb, tr, "prodigy.")


def test_every_prodigy_result_is_exercised():
    want = {k for k in names() if k.startswith("prodigy.") and get(k).provenance.assertable}
    got = set()
    for name, options, hp_fn in PRODIGY_CASES.values():
        pb, tr = run_case("l1_distance", name, options, hp_fn, T=120)
        for r in applicable(name, pb):
            if r.key in want and bool(check(r, tr, pb).checked.any()):
                got.add(r.key)
    assert want - got == set()


def test_unverified_prodigy_results_are_registered_but_not_assertable():
    for key in ("prodigy.sequence_lemma", "prodigy.T1_gd"):
        assert not get(key).provenance.assertable


def test_prodigy_estimates_a_larger_d_than_dadaptation_gd():
    """prodigy.md §6.5, a trend shown on one problem: Prodigy's d ends at least as large."""
    pb, tp = run_case("l1_distance", "prodigy_gd", {}, lambda pb, D: {"d0": 1e-6}, T=300)
    _, td = run_case("l1_distance", "dadapt_gd", {}, lambda pb, D: {"d0": 1e-6}, T=300)
    assert bool((tp["d"][-2] >= td["d"][-2]).all())
