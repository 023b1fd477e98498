"""TAPS/MOTAPS theory (theory/motaps.py): the target bookkeeping, the sample-step and TAPS
Lyapunov inequalities under their conditions, and MOTAPS's descending tau step, on every
finite-sum problem of the library (one sampled point per step, as in the authors' code)."""

import os
import sys

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.problems import names as problem_names
from ratecheck.theory import check, get, names
from ratecheck.theory import motaps as MT

sys.path.insert(0, os.path.dirname(__file__))
from _theory_testlib import HEAVY_PROBLEMS, checked_results  # noqa: E402

FINITE = [n for n in problem_names() if get_problem(n).is_finite_sum]
DEFAULT = [n for n in FINITE if n not in HEAVY_PROBLEMS]


def configs():
    """gamma from tiny to huge (10: the sample step still holds, TAPS's V does not apply), beta > 0
    (sample step not applied), MOTAPS with tau_lr up to 1.9 and a far-off tau0."""
    return [
        ("taps", {"lr": torch.tensor([1e-3, 0.5, 1.0, 1.99, 10.0, 1.0]), "beta": torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.9])}),
        ("motaps", {"lr": torch.tensor([0.5, 1.0, 1.5, 1.0, 5.0]), "tau_lr": torch.tensor([0.01, 0.5, 1.9, 0.0, 1.0]),
                    "tau0": torch.tensor([0.0, -1.0, 5.0, 0.0, 100.0]), "beta": torch.tensor([0.0, 0.0, 0.0, 0.5, 0.0])}),
    ]


def assert_results_hold(p, T, seed):
    seen = set()
    for opt, hp in configs():
        B = hp["lr"].shape[0]
        tr = run(p, get_opt(opt), p.x0(B, seed=seed, scale=1.0 + seed), T, hp=hp, batch_size=1, seeds=torch.arange(B) + 11 * seed)
        # a result counts as seen only where it compared some value (not all rows NaN)
        checked = checked_results(opt, p, tr, "motaps.", opt, stochastic=True)
        seen |= {k for k, c in checked.items() if not c.observed[:, c.checked].isnan().all()}
    return seen


@pytest.mark.parametrize("name", DEFAULT)
def test_results_hold_on_every_problem(name):
    p = get_problem(name)
    T = min(p.n + 20, 220)  # at least one epoch end where n is small
    seen = assert_results_hold(p, T, seed=0)
    assert "motaps.target_bookkeeping" in seen
    if "convex" in p.tags:
        assert {"motaps.sample_step", "motaps.taps_lyapunov"} <= seen
    if T > p.n:
        assert "motaps.tau_step_descends" in seen


@pytest.mark.heavy
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", FINITE)
def test_results_hold_heavy(name, seed):
    p = get_problem(name)
    assert_results_hold(p, 3 * p.n, seed)


def test_every_motaps_result_is_checked():
    keys = {k for k in names() if k.startswith("motaps.")}
    assert keys == {"motaps.target_bookkeeping", "motaps.sample_step", "motaps.taps_lyapunov", "motaps.tau_step_descends"}
    assert assert_results_hold(get_problem("lad"), 130, seed=0) == keys


def test_conditions_are_needed():
    """beta > 0 (sample step) and gamma > 2 (TAPS's V) are excluded, and the inequalities do fail
    on such runs: the checks can fail and the conditions matter."""
    p = get_problem("lad")
    tr = run(p, get_opt("taps"), p.x0(2, seed=0), 3 * p.n, hp={"lr": torch.tensor([1.0, 3.0]), "beta": torch.tensor([0.9, 0.0])},
             batch_size=1)
    s = check(get("motaps.sample_step"), tr, p)
    v = check(get("motaps.taps_lyapunov"), tr, p)
    assert s.checked.tolist() == [False, True] and not bool(s.holds[0])
    assert v.checked.tolist() == [False, False] and not bool(v.holds[1])


def test_phi_and_its_minimiser():
    """phi's minimiser is tau = n/(n+1) abar and a step of size lam/(n+1) lands there at lam = 1."""
    n, abar = 7, torch.tensor(3.0)
    t_star = n / (n + 1) * abar
    for t in (t_star - 1, t_star + 2):
        assert MT.phi(t, abar, n) > MT.phi(t_star, abar, n)
    tau = torch.tensor(-4.0)
    step = (1 - 1.0) * tau + 1.0 * n / (n + 1) * abar
    assert float(step) == pytest.approx(float(t_star))


def test_solution_targets_average_to_f_star():
    for name in DEFAULT:
        p = get_problem(name)
        assert float(MT.solution_targets(p).mean()) == pytest.approx(p.f_star, rel=1e-9, abs=1e-12)
