"""Helpers shared by the theory tests: random sequences for the lemma property tests, and the
loop that checks every registered result of an optimizer on a run of a library problem.

Import as ``from tests._lib.theory import ...``.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ratecheck.problems import get as get_problem
from ratecheck.problems import names as problem_names
from ratecheck.theory import applicable, check
from tests._lib.core import run_on

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Problems left out of the default (fast) runs: 650 x 1797 logistic takes minutes per run on 2 cores.
HEAVY_PROBLEMS = {"logistic_digits"}
DEFAULT = [n for n in problem_names() if n not in HEAVY_PROBLEMS]

# The fast problem matrix of the D-Adaptation and Prodigy result tests.
FAST = ("abs_1d", "l1_distance", "lad", "max_affine", "nesterov_nonsmooth", "quadratic")


def heavy_matrix(names, seeds):
    """(problem, seed) pairs of a heavy test: every problem once, with the seeds (each sets the x0
    scale 1 + seed, minibatch sizes and sampling seeds) taken in turn, so that every seed is still
    run at a fraction of the full product's cost. The HEAVY_PROBLEMS are left out (each heavy
    module that needs them runs them in a test of its own)."""
    names = [n for n in names if n not in HEAVY_PROBLEMS]
    return [(n, seeds[i % len(seeds)]) for i, n in enumerate(names)]


def leq(a, b, terms=1):
    """a <= b elementwise within float64 round-off of their size (u (8 + terms) (|a| + |b|)),
    for property tests of pure functions computed in float64."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    tol = torch.finfo(torch.float64).eps / 2 * (8 + terms) * (a.abs() + b.abs())
    return bool(((a - b <= tol) | (a.isnan() | b.isnan())).all())


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
    """(g [n, dim] with per-step scales over many orders of magnitude, a generator for more draws)."""
    n = draw(st.integers(1, max_len))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    scale = torch.exp(2.0 * torch.randn(n, 1, generator=gen, dtype=torch.float64))
    g = torch.randn(n, dim, generator=gen, dtype=torch.float64) * scale
    return g, gen


# -- checking registered results on runs -----------------------------------------------------------

def checked_results(opt, p, tr, prefix, label, stochastic=False, skip_errata=False):
    """Check every assertable result of ``opt`` named ``prefix...`` that applies to ``p`` on the
    run ``tr``; assert none fails on a checked run. Returns {key: CheckResult} of those checked
    on at least one run. ``skip_errata`` also leaves out results marked as a known erratum."""
    out = {}
    for r in applicable(opt, p, stochastic=stochastic):
        if not r.key.startswith(prefix) or not r.asserted:  # errata and [UNVERIFIED] are never asserted
            continue
        c = check(r, tr, p)
        bad = c.violated
        assert not bool(bad.any()), (
            f"{r.key} fails on {p.name} {label}: runs {bad.nonzero().flatten().tolist()} at steps "
            f"{c.first_violation[bad].tolist()}, worst ratio {c.worst_ratio[bad].tolist()}")
        if c.checked.any():
            out[r.key] = c
    return out


def convex_problems(fast_only):
    """Convex library problems with a known G whose full-batch oracle is cheap enough."""
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


def assert_all_results_hold(opt_name, pb, tr, prefix):
    """Every asserted (non-UNVERIFIED, no erratum) result holds on every checked run."""
    checked_results(opt_name, pb, tr, prefix, opt_name, skip_errata=True)


def assert_cases_hold(cases, case, pname, prefix, T):
    """One case of a {case: (optimizer, options, hp_fn)} table on one fast problem."""
    name, options, hp_fn = cases[case]
    if pname not in problem_names():
        pytest.skip(f"{pname} not in the library")
    pb, tr = run_on(pname, name, hp_fn, T, options=options)
    assert_all_results_hold(name, pb, tr, prefix)


def assert_cases_hold_heavy(cases, case, seed, prefix, T):
    """One case on every convex problem, at two x0 scales."""
    name, options, hp_fn = cases[case]
    for pname in convex_problems(fast_only=False):
        for scale in (0.1, 10.0):
            pb, tr = run_on(pname, name, hp_fn, T, options=options, seed=seed, scale=scale)
            assert_all_results_hold(name, pb, tr, prefix)


def exercised_keys(cases, want, pname="l1_distance", T=120):
    """The keys of ``want`` checked on at least one run of some case on ``pname``."""
    got = set()
    for name, options, hp_fn in cases.values():
        pb, tr = run_on(pname, name, hp_fn, T, options=options)
        for r in applicable(name, pb):
            if r.key in want and bool(check(r, tr, pb).checked.any()):
                got.add(r.key)
    return got
