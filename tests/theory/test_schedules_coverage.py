"""Issue 11 (theory coverage, part 2), arXiv 2310.07831: (B) and the linear-decay corollary in
expectation for stochastic SGD, and the per-coordinate form for psgd (a fixed diagonal
preconditioner). docs/theory/linear_decay_refinement.md#theorem-b-in-expectation, #preconditioned."""

from __future__ import annotations

import math

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.theory import check
from ratecheck.theory.base import why_not_applicable
from ratecheck.theory import schedules as S
from ratecheck.theory.base import EXAMPLES, RESULTS, Role

F64 = torch.float64
NEW = ("schedules.thm_b_expected", "schedules.linear_decay_expected")


def R(key):
    return RESULTS.get(key)


def _stochastic_run(problem="lad", schedule="linear", lr=0.3, T=40, B=8, batch=4, options=None, mutant=None):
    p = get_problem(problem)
    x0 = p.x0(1, seed=2).expand(B, -1).clone()
    opt = get_opt("sgd", schedule=schedule, **(options or {}))
    if mutant is not None:
        opt._step = mutant.__get__(opt)
    tr = run(p, opt, x0, T, hp={"lr": torch.full((B,), lr, dtype=F64), "T": T}, batch_size=batch,
             seeds=torch.arange(B), keep_iterates=True)
    return p, tr


def test_new_results_are_stochastic_derived_theorems_with_examples():
    for key in NEW:
        r = R(key)
        assert r.in_expectation and r.oracle == "stochastic" and r.role is Role.THEOREM and r.provenance.value == "DERIVED"
        assert r.optimizers == ("sgd",) and "weight_decay = 0" in [a.name for a in r.assumptions]
        exs = [e for e in EXAMPLES if key in e.results]
        assert exs and all(e.batch_size and e.runs >= 8 for e in exs)
        p = get_problem("lad")
        assert why_not_applicable(r, "sgd", p, True) is None
        assert why_not_applicable(r, "sgd", p, False) == "needs a stochastic oracle"


def test_per_coordinate_results_are_psgd_only():
    # note §8's form needs a FIXED diagonal preconditioner: psgd's a, fixed before the run.
    for key, r in RESULTS.items():
        if key.startswith("schedules."):
            assert r.optimizers == (("psgd",) if key.startswith("schedules.precond_") else ("sgd",)), key


def test_psgd_with_unit_a_is_sgd_for_the_bounds():
    # a = 1: D_A = D, ||g||_{A^-1} = ||g||; the A-norm (B) equals the Euclidean one on the same steps.
    p = get_problem("l1_distance", d=8)
    hp = {"lr": 0.05, "T": 30}
    tr_p = run(p, get_opt("psgd", schedule="linear"), p.x0(3, seed=1), 30, hp={**hp, "a": 1.0}, keep_iterates=True)
    tr_s = run(p, get_opt("sgd", schedule="linear"), p.x0(3, seed=1), 30, hp=hp, keep_iterates=True)
    cp, cs = check(R("schedules.precond_thm_b"), tr_p, p), check(R("schedules.thm_b"), tr_s, p)
    assert bool(cp.checked.all()) and cp.all_hold
    torch.testing.assert_close(cp.bound, cs.bound, rtol=1e-10, atol=0.0, equal_nan=True)
    # a scaled coordinate changes D_A and the dual norms: the bound moves
    tr_a = run(p, get_opt("psgd", schedule="linear"), p.x0(3, seed=1), 30,
               hp={**hp, "a": torch.linspace(0.5, 2.0, 8, dtype=F64)}, keep_iterates=True)
    ca = check(R("schedules.precond_thm_b"), tr_a, p)
    assert ca.all_hold and not torch.allclose(ca.bound.nan_to_num(0.0), cs.bound.nan_to_num(0.0))


@pytest.mark.parametrize("n", [0, 1, 7, 30])
def test_noise_free_weighting_produces_the_steps(n):
    steps = S.linear_decay_schedule(40, torch.tensor(0.7, dtype=F64))[:n] * torch.linspace(1.0, 0.5, n, dtype=F64) if n else torch.zeros(0, dtype=F64)
    w, eta = S.noise_free_weighting(steps, torch.tensor(2.0, dtype=F64), torch.tensor(1.5, dtype=F64))
    assert w.shape == (n + 1,) and bool((w >= 0).all()) and float(w[-1]) > 0
    if n:
        assert torch.allclose(S.schedule_from_weights(w, eta), steps, rtol=1e-9, atol=0)
    else:
        assert float(eta) == pytest.approx(2.0 / 1.5)


def test_noise_free_weighting_of_linear_decay_is_uniform():
    # Linear decay at eta = D / (G sqrt(T+1)) is (B) with w = 1 (normalised: w = 1/(T+1), OGD step
    # eta (T+1)), the minimiser for constant norms G: the search must find it and the value D G / sqrt(T+1).
    T, D, G = 30, 1.3, 0.8
    eta = D / (G * math.sqrt(T + 1))
    w, e = S.noise_free_weighting(S.linear_decay_schedule(T, torch.tensor(eta, dtype=F64)), torch.tensor(D), torch.tensor(G))
    assert float(e) == pytest.approx(eta * (T + 1), rel=1e-6)
    assert float((w * (T + 1) - 1).abs().max()) < 1e-4
    assert float(S.bound_weighted(w, e, D, torch.full((T + 1,), G, dtype=F64))) == pytest.approx(D * G / math.sqrt(T + 1), rel=1e-9)


def test_thm_b_expected_bound_is_B_with_a_weighting_fixed_before_the_samples():
    p, tr = _stochastic_run()
    s = R("schedules.thm_b_expected").sides(tr, p)
    T = 40
    steps, gn = tr["lr"][:T].to(F64), tr["grad_norm"][:T].to(F64)
    x = tr.iterates["x"].to(F64)
    gT = torch.linalg.vector_norm(p.grad(x[T]), dim=-1)
    g0 = torch.linalg.vector_norm(p.grad(x[0]), dim=-1)
    D = tr["dist"][0].to(F64)
    rows = [n for n in range(T + 1) if bool(s.bound[n].isfinite().all())]
    assert len(rows) == 6 and rows[0] == 0 and rows[-1] == T
    for n in rows:
        w, eta = S.noise_free_weighting(steps[:n], D, g0)  # from x_0, never from the sampled norms
        g = torch.cat([gn[:n], (gT if n == T else gn[n])[None]])
        want = (D**2 / eta + eta * (w * w * g * g).sum(0)) / (2 * w.sum(0))
        assert torch.allclose(s.bound[n], want, rtol=1e-12)
    assert torch.equal(s.observed, tr["subopt"].to(F64))


def test_linear_decay_expected_bound_and_scope():
    p, tr = _stochastic_run(T=40)
    s = R("schedules.linear_decay_expected").sides(tr, p)
    T = 40
    lr0 = tr["lr"][0].to(F64)
    eta = lr0 * (T + 1) / T
    x = tr.iterates["x"].to(F64)
    g2 = torch.cat([tr["grad_norm"][:T].to(F64) ** 2, (torch.linalg.vector_norm(p.grad(x[T]), dim=-1) ** 2)[None]])
    D = tr["dist"][0].to(F64)
    want = D**2 / (2 * eta * (T + 1)) + eta * g2.mean(0) / 2
    assert torch.allclose(s.bound[T], want, rtol=1e-12) and bool(s.bound[:T].isnan().all())
    c = check(R("schedules.linear_decay_expected"), tr, p)
    assert c.all_hold and c.units == "groups" and c.holds.shape == (1,)
    _, cos = _stochastic_run(schedule="cosine")
    c = check(R("schedules.linear_decay_expected"), cos, p)
    assert not bool(c.checked.any()) and c.reasons == ["assumption false: schedule = 'linear'"]


def test_problem_G_does_not_bound_the_minibatch_second_moment():
    # Why the corollary uses the observed second moment: on lad at batch size 1, E||g||^2 = mean ||a_i||^2 > G^2.
    p = get_problem("lad")
    x = p.x0(1, seed=3).to(F64)
    idx = torch.arange(p.n)[:, None]
    each = p.component_grad(x.expand(p.n, -1), idx)
    second = float((each**2).sum(-1).mean())
    assert second > 5 * p.G**2


@pytest.mark.parametrize("key", NEW)
def test_refined_and_weight_decay_runs_are_not_checked(key):
    p, tr = _stochastic_run(options=None)
    p2 = get_problem("lad")
    x0 = p2.x0(1, seed=2).expand(8, -1).clone()
    wd = run(p2, get_opt("sgd", schedule="linear"), x0, 20, hp={"lr": 0.3, "T": 20, "weight_decay": 0.5}, batch_size=4,
             seeds=torch.arange(8), keep_iterates=True)
    c = check(R(key), wd, p2)
    assert not bool(c.checked.any()) and c.reasons == ["assumption false: weight_decay = 0"]
    ref = run(p2, get_opt("sgd", schedule="refined"), x0, 20, hp={"lr": 0.3, "T": 20, "norms": tr["grad_norm"][:20].T},
              batch_size=4, seeds=torch.arange(8), keep_iterates=True)
    c = check(R(key), ref, p2)
    assert not bool(c.checked.any())


def test_new_results_catch_an_sgd_that_climbs():
    def climbs(self, state, grad, loss):  # the sign of the step flipped: x + lr g
        lr = self._at(state, "lr")
        x = state["x"]
        return {**{k: v for k, v in state.items() if k not in ("k", "hp", "diverged")}, "x": x + lr[:, None] * grad}, {"lr": lr}

    for key in NEW:
        p, good = _stochastic_run(lr=0.3)
        assert check(R(key), good, p).all_hold
        p, bad = _stochastic_run(lr=1.0, B=16, mutant=climbs)
        assert bool(check(R(key), bad, p).violated.any()), key


def test_transfer_bound_is_B_at_its_eta_and_the_refined_bound_for_the_same_norms():
    gen = torch.Generator().manual_seed(3)
    nhat = torch.rand(30, 5, generator=gen, dtype=F64) + 0.2
    g = torch.rand(30, 5, generator=gen, dtype=F64) + 0.2
    D = torch.rand(5, generator=gen, dtype=F64) + 0.5
    w = nhat**-2.0
    at_eta = S.bound_weighted(w, D / torch.sqrt(w.sum(0)), D, g)
    torch.testing.assert_close(S.transfer_bound(w, D, g), at_eta, rtol=1e-13, atol=0.0)
    torch.testing.assert_close(S.transfer_bound(w, D, nhat), S.refined_bound(nhat, D), rtol=1e-13, atol=0.0)
    assert bool((S.transfer_bound(w, D, 2 * nhat) > S.refined_bound(nhat, D)).all())  # larger norms: rho = 4


def _second_run(nvals=40, T=40, problem="max_affine"):
    p = get_problem(problem)
    first = run(p, get_opt("sgd", schedule="linear"), p.x0(4, seed=1), T, hp={"lr": 0.05, "T": T})
    norms = first["grad_norm"][:T].T
    tr = run(p, get_opt("sgd", schedule="refined"), p.x0(4, seed=0), T,
             hp={"lr": 0.05, "T": T, "norms": norms, "nvals": nvals, "tau": 0.1}, keep_iterates=True)
    return p, tr


def test_refined_transfer_reads_the_recorded_norms_and_needs_them():
    p, tr = _second_run()
    c = check(R("schedules.refined_transfer"), tr, p)
    assert c.all_hold and bool(c.checked.all())
    # the schedule is not the refinement of the run's own norms: the own-norm result does not apply
    own = check(R("schedules.refined"), tr, p)
    assert not bool(own.checked.any())
    # recorded norms that are not the ones the schedule was built from: not checked, never "holds"
    tr.meta["init_args"] = {**tr.meta["init_args"], "norms": tr.meta["init_args"]["norms"].flip(-1)}
    c = check(R("schedules.refined_transfer"), tr, p)
    assert not bool(c.checked.any()) and c.reasons[0].startswith("assumption false: steps = lr * refined_schedule")
    # the default nvals resamples the schedule: checked with transfer_weighting (the weighting of the
    # steps best for the refinement's norms), which produces the steps exactly
    p, tr = _second_run(nvals=10_000)
    c = check(R("schedules.refined_transfer"), tr, p)
    assert c.all_hold and bool(c.checked.all())
    w, _ = S.recorded_refinement(tr)
    steps = tr["lr"][:39].to(F64)
    ww, eta = S.transfer_weighting(w, steps, S.run_arrays(tr, p)["D"])
    torch.testing.assert_close(S.schedule_from_weights(ww, eta), steps, rtol=1e-9, atol=0.0)
    del tr.meta["init_args"]
    with pytest.raises(Exception, match="init arguments were not recorded"):
        check(R("schedules.refined_transfer"), tr, p)
