"""Issue 11 (theory coverage, part 2), arXiv 2010.00406: the rate of SGD+M in expectation with
sigma^2 observed from the run's own minibatches (docs/theory/spa_momentum.md#rate-in-expectation) and
L2 in expectation telescoped over the steps (#l2-in-expectation) and L1 in expectation summed over
the steps (#l1-in-expectation); the per-step L1/L2 in expectation are proved there but not registered
(false alarms with 16 seeds, docs/theory/README.md#in-expectation)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.theory import check
from ratecheck.theory import spa as P
from ratecheck.theory.base import EXAMPLES, RESULTS, Role, why_not_applicable

F64 = torch.float64
KEY = "spa.rate_expected"
L2E = "spa.l2_expected"
L1E = "spa.l1_expected"


def _run(name="least_squares", opt="sgd_momentum", lr=0.05, momentum=0.5, B=16, T=60, batch=4, **extra):
    p = get_problem(name)
    x0 = p.x0(1, seed=4).expand(B, -1).clone()
    hp = {"lr": torch.full((B,), lr / p.L, dtype=F64), **extra}
    if opt == "sgd_momentum":
        hp["momentum"] = torch.full((B,), momentum, dtype=F64)
    tr = run(p, get_opt(opt), x0, T, hp=hp, batch_size=batch, seeds=torch.arange(B), keep_iterates=True)
    return p, tr


def test_registered_stochastic_spa_results():
    stoch = {k for k, r in RESULTS.items() if k.startswith("spa.") and r.oracle == "stochastic"}
    assert stoch == {KEY, L2E, L1E}
    assert RESULTS.get(L1E).in_expectation and all(e.batch_size and e.runs >= 16 for e in EXAMPLES if L1E in e.results)
    assert RESULTS.get(L2E).in_expectation and {a.name for a in RESULTS.get(L2E).assumptions} == {a.name for a in P.CONSTANT_PROOF}
    assert all(e.batch_size and e.runs >= 16 for e in EXAMPLES if L2E in e.results)
    r = RESULTS.get(KEY)
    assert r.in_expectation and r.role is Role.THEOREM and r.provenance.value == "DERIVED"
    assert {a.name for a in P.CONSTANT_PROOF} | {P.A_POSITIVE.name} == {a.name for a in r.assumptions}
    p = get_problem("least_squares")
    assert why_not_applicable(r, "sgd_momentum", p, True) is None
    assert why_not_applicable(r, "sgd_momentum", p, False) == "needs a stochastic oracle"
    assert all(e.batch_size and e.runs >= 8 for e in EXAMPLES if KEY in e.results)


def test_bound_uses_full_gradients_and_the_runs_own_minibatch_noise():
    p, tr = _run(T=30, B=8)
    s = RESULTS.get(KEY).sides(tr, p)
    x = tr.iterates["x"].to(F64)
    T, B = 30, 8
    full = torch.stack([p.grad(x[t]) for t in range(T)])
    mini = torch.stack([p.component_grad(x[t], p.sample_indices(torch.arange(B), t, 4)) for t in range(T)])
    # the runner's recorded norms are the minibatch's: the observed side must not use them
    assert torch.allclose(tr["grad_norm"][:T].to(F64), torch.linalg.vector_norm(mini, dim=-1), rtol=1e-12)
    K = torch.arange(1, T + 1, dtype=F64)[:, None]
    obs = torch.cumsum((full**2).sum(-1), 0) / K
    assert torch.allclose(s.observed, obs, rtol=1e-12)
    eta, c = 0.05 / p.L / 0.5, 0.5
    L = p.L
    A_ = 1 - L * eta / 2 - L * eta * (1 - c) / c
    sig = torch.cumsum(((mini - full) ** 2).sum(-1), 0) / K
    want = ((tr["subopt"][0].to(F64)) / (eta * K) + L * eta / 2 * (2 - c) * sig) / A_
    assert torch.allclose(s.bound, want, rtol=1e-10)


def test_noise_term_is_needed():
    # near the noise floor the deterministic rate (sigma = 0) fails on the mean; the sigma form holds.
    # Its excess is mild (largest t of the mean 4.8 with 16 seeds, 6.1 with 64): 64 seeds, so that it
    # clears the margin for 100 rows (5.94 with 16 seeds, 4.53 with 64; docs/theory/README.md#in-expectation)
    p, tr = _run(opt="sgd", lr=0.5, B=64, T=100, batch=1)
    r = RESULTS.get(KEY)
    c = check(r, tr, p)
    assert c.all_hold
    no_noise = dataclasses.replace(r, sides=lambda t, pb: dataclasses.replace(
        r.sides(t, pb), bound=P.rate_bound(t["subopt"][0].to(F64), torch.arange(1, 101, dtype=F64)[:, None],
                                           torch.full((64,), 0.5 / pb.L, dtype=F64), torch.ones(64, dtype=F64), pb.L)))
    assert bool(check(no_noise, tr, p).violated.any())


@pytest.mark.parametrize("opt,kw", [("sgd", {}), ("sgd_momentum", {"momentum": 0.9, "lr": 0.005}), ("spa", {"c": torch.full((16,), 0.3, dtype=F64)})])
def test_holds_on_stochastic_runs(opt, kw):
    p, tr = _run(opt=opt, **kw)
    c = check(RESULTS.get(KEY), tr, p)
    assert bool(c.checked.any()) and c.all_hold, c.worst_ratio


def test_scope_dampening_and_schedules_not_checked():
    p, tr = _run(dampening=torch.full((16,), 0.3, dtype=F64))
    c = check(RESULTS.get(KEY), tr, p)
    assert not bool(c.checked.any()) and c.reasons[0].startswith("assumption false: dampening = 0")


def test_catches_a_momentum_that_climbs():
    def climbs(self, state, grad, loss):
        return type(self)._step(self, state, -grad, loss)

    p = get_problem("least_squares")
    x0 = p.x0(1, seed=4).expand(16, -1).clone()
    opt = get_opt("sgd_momentum")
    opt._step = climbs.__get__(opt)
    hp = {"lr": torch.full((16,), 0.05 / p.L, dtype=F64), "momentum": torch.full((16,), 0.5, dtype=F64)}
    tr = run(p, opt, x0, 60, hp=hp, batch_size=4, seeds=torch.arange(16), keep_iterates=True)
    assert bool(check(RESULTS.get(KEY), tr, p).violated.any())


def test_l2_expected_is_the_sum_of_the_noisy_steps():
    """Row n+1: Lambda_{n+1} + sum_{k<=n} (eta A ||grad f(x_k)||^2 - noise_k) against Lambda_0, rebuilt here from the
    iterates, the full gradients and the run's own minibatch gradients with eps = 1."""
    p, tr = _run(T=30, B=8)
    s = RESULTS.get(L2E).sides(tr, p)
    x = tr.iterates["x"].to(F64)
    T, B = 30, 8
    full = torch.stack([p.grad(x[t]) for t in range(T)])
    mini = torch.stack([p.component_grad(x[t], p.sample_indices(torch.arange(B), t, 4)) for t in range(T)])
    L, c = p.L, 0.5
    eta = 0.05 / L / c
    d = torch.zeros_like(x)
    d[1:] = (1 - c) / c * (x[1:] - x[:-1])
    z = x + d
    lam = torch.stack([p.value(z[t]) for t in range(T + 1)]) - p.f_star + eta * L * L / (2 * c) * (d**2).sum(-1)
    A_ = 1 - 0.5 - L * eta / 2 - (L * eta * (1 - c)) ** 2 / (2 * c * c)
    step = eta * A_ * (full**2).sum(-1) - L * eta**2 / 2 * (1 + L * eta * (1 - c) ** 2 / c) * ((mini - full) ** 2).sum(-1)
    assert torch.allclose(s.observed[1:], lam[1:] + torch.cumsum(step, 0), rtol=1e-10)
    assert torch.allclose(s.bound[1:], lam[:1].expand(T, B), rtol=1e-12)
    assert s.observed[0].isnan().all()


def test_l2_expected_noise_term_is_needed():
    """Near the noise floor the sigma = 0 form fails on the mean over seeds; the stated form holds.
    64 seeds: the excess is mild (largest t 4.5 with 16 seeds, 5.6 with 64; margin 5.94 and 4.53)."""
    p, tr = _run(opt="sgd", lr=0.5, B=64, T=100, batch=1)
    r = RESULTS.get(L2E)
    assert check(r, tr, p).all_hold
    no_noise = dataclasses.replace(r, sides=lambda t, pb: dataclasses.replace(
        r.sides(t, pb), observed=r.sides(t, pb).observed + _noise_sum(t, pb)))
    assert bool(check(no_noise, tr, p).violated.any())


def _noise_sum(trace, problem):
    """The telescoped noise term of L2 (eps = 1) on row n+1, to remove it from the bound's side."""
    eta, c = P._constant_spa(trace)
    L = problem.L
    noise = L * eta**2 / 2 * (1 + L * eta * (1 - c) ** 2 / c) * P._minibatch_noise(trace, problem)
    return torch.cat([torch.full_like(noise[:1], float("nan")), torch.cumsum(noise, 0)])


def test_l1_expected_sides_sum_the_one_step_change_with_the_runs_own_noise():
    """sgd (c = 1, d = 0): rhs_k - f(x_k) = -eta (1 - L eta/2) ||grad f(x_k)||^2 + L eta^2 ||g_k - grad f(x_k)||^2 / 2."""
    p, tr = _run(opt="sgd", lr=0.3, B=8, T=30, batch=2)
    s = RESULTS.get(L1E).sides(tr, p)
    x = tr.iterates["x"].to(F64)
    T, B, L, eta = 30, 8, p.L, 0.3 / p.L
    full = torch.stack([p.grad(x[t]) for t in range(T)])
    mini = torch.stack([p.component_grad(x[t], p.sample_indices(torch.arange(B), t, 2)) for t in range(T)])
    change = -eta * (1 - L * eta / 2) * (full**2).sum(-1) + L * eta**2 / 2 * ((mini - full) ** 2).sum(-1)
    f = tr["subopt"].to(F64)
    assert torch.allclose(s.observed[1:], f[1:T + 1] - torch.cumsum(change, 0), rtol=1e-10)
    assert torch.allclose(s.bound[1:], f[:1].expand(T, B), rtol=1e-12)
    assert s.observed[0].isnan().all()


def test_l1_expected_noise_term_is_needed():
    """Near the noise floor the sigma = 0 form fails on the mean over seeds; the stated form holds.
    64 seeds: the excess is mild (largest t 4.9 with 16 seeds, 6.4 with 64; margin 5.94 and 4.53)."""
    p, tr = _run(opt="sgd", lr=0.5, B=64, T=100, batch=1)
    r = RESULTS.get(L1E)
    assert check(r, tr, p).all_hold
    no_noise = dataclasses.replace(r, sides=lambda t, pb: dataclasses.replace(
        r.sides(t, pb), observed=r.sides(t, pb).observed + _noise_sum(t, pb)))  # sgd: L1's noise term is L2's
    assert bool(check(no_noise, tr, p).violated.any())
