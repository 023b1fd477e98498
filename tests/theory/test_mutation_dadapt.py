"""Mutation tests: deliberately wrong D-Adaptation / Prodigy variants must be caught.

Each mutant subclasses a registered optimizer (or wraps a registered Result) inside this test;
the source is untouched. A mutant is caught when at least one asserted result fails on it,
while the unmutated method passes the same checks on the same runs.
"""

from dataclasses import replace

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.optimizers.base import per_run as col
from ratecheck.problems import get as get_problem
from ratecheck.theory import applicable, check, get


def failing(opt, opt_name, pname="l1_distance", hp=None, T=200, seeds=(0, 1)):
    """Asserted results that fail on a run of ``opt`` (checked under ``opt_name``'s results)."""
    bad = set()
    for seed in seeds:
        pb = get_problem(pname)
        x0 = pb.x0(4, seed=seed)
        D = float((x0[0] - pb.x_star_tensor(x0)).norm())
        h = {"d0": torch.tensor([1e-6, 1e-3, 1e-2 * D, 0.5 * D])} if hp is None else hp
        tr = run(pb, opt, x0, T, hp=h, keep_iterates=True)
        for r in applicable(opt_name, pb):
            if r.asserted and bool(check(r, tr, pb).violated.any()):
                bad.add(r.key)
    return bad


def caught(mutant, base, name, **kw):
    assert failing(base, name, **kw) == set(), "the unmutated method must pass"
    bad = failing(mutant, name, **kw)
    assert bad, f"mutant of {name} not caught by any result"
    return bad


# -- D-Adaptation, Algorithm 1 --------------------------------------------------------------------

DA = type(get_opt("dadapt_da"))


class NoFactorTwo(DA):
    """Option I estimate without its factor 2: dhat = (gamma||s||^2 - sum)/||s||."""

    def _step(self, state, grad, loss):
        new, info = super()._step(state, grad, loss)
        wrong = 2.0 * info["d_hat_I"]
        d_next = torch.where(torch.isnan(wrong), state["d"], torch.maximum(state["d"], wrong))
        new["d"] = d_next
        info.update(d_hat=wrong, d_hat_I=wrong, d_next=d_next)
        return new, info


class DoubledDualStep(DA):
    """x_{k+1} = x0 - 2 gamma_{k+1} s_{k+1}."""

    def _step(self, state, grad, loss):
        new, info = super()._step(state, grad, loss)
        new["x"] = new["x0"] - 2.0 * col(new["gamma"]) * new["s"]
        return new, info


@pytest.mark.parametrize("G_term", [False, True])
def test_dadapt_da_without_factor_two_is_caught(G_term):
    bad = caught(NoFactorTwo(option="I", G_term=G_term), DA(option="I", G_term=G_term), "dadapt_da")
    assert "dadaptation.option_II_ge_I" in bad


@pytest.mark.parametrize("G_term", [False, True])
def test_dadapt_da_doubled_step_is_caught(G_term):
    caught(DoubledDualStep(option="II", G_term=G_term), DA(option="II", G_term=G_term), "dadapt_da")


# -- D-Adaptation GD form and the authors' SGD code ------------------------------------------------

GD = type(get_opt("dadapt_gd"))
SGD = type(get_opt("dadapt_sgd_code"))


class DoubledGDStep(GD):
    """x_{k+1} = x_k - 2 lambda_k g_k while the bookkeeping uses lambda_k."""

    def _step(self, state, grad, loss):
        new, info = super()._step(state, grad, loss)
        new["x"] = state["x"] - 2.0 * col(info["lr"]) * grad
        return new, info


class MomentumWrongForm(SGD):
    """x_{k+1} = c x_k + (1-c) z_{k+1} instead of (1-c) x_k + c z_{k+1}, c = 1 - momentum."""

    def _step(self, state, grad, loss):
        new, info = super()._step(state, grad, loss)
        ck = col(1 - state["hp"]["momentum"])
        z = new["x0"] - new["s"]
        new["x"] = ck * state["x"] + (1 - ck) * z
        return new, info


def test_dadapt_gd_doubled_step_is_caught():
    bad = caught(DoubledGDStep(), GD(), "dadapt_gd")
    assert "dadaptation.gd_identity" in bad


def test_dadapt_sgd_code_momentum_in_wrong_form_is_caught():
    hp = {"d0": torch.tensor([1e-6, 1e-3, 1e-2, 0.1]), "momentum": 0.0}
    bad = caught(MomentumWrongForm(), SGD(), "dadapt_sgd_code", hp=hp)
    assert "dadaptation.code_sgd_d_le_2D" in bad


# -- Prodigy ---------------------------------------------------------------------------------------

PGD = type(get_opt("prodigy_gd"))
PADAM = type(get_opt("prodigy_adam"))


class DoubledProdigyStep(PGD):
    def _step(self, state, grad, loss):
        new, info = super()._step(state, grad, loss)
        new["x"] = state["x"] - 2.0 * col(info["lr"]) * grad
        return new, info


class ProdigyNoDCoef(PADAM):
    """d_coef dropped from dhat (so d can reach D_inf while the invariant says d_coef D_inf)."""

    def _step(self, state, grad, loss):
        new, info = super()._step(state, grad, loss)
        hp = state["hp"]
        wrong = info["d_hat"] / hp["d_coef"]
        d_next = torch.where(torch.isnan(wrong), state["d"], torch.maximum(state["d"], wrong))
        new["d"], new["d_max"] = d_next, torch.maximum(new["d_max"], d_next)
        info.update(d_hat=wrong, d_next=d_next, d_max=new["d_max"])
        return new, info


def test_prodigy_gd_doubled_step_is_caught():
    bad = caught(DoubledProdigyStep(), PGD(), "prodigy_gd")
    assert bad & {"prodigy.P1", "prodigy.P2", "dadaptation.gd_identity"}


def test_prodigy_adam_without_d_coef_is_caught():
    hp = {"d0": 1e-6, "d_coef": 0.1, "beta1": 0.0}
    bad = caught(ProdigyNoDCoef(), PADAM(), "prodigy_adam", pname="abs_1d", hp=hp)
    assert "prodigy.IP_code_invariant" in bad


# -- Bound constants halved ------------------------------------------------------------------------

HALVING = {
    # result key -> (optimizer, options, problem, hp)
    "dadaptation.L5": ("dadapt_da", {}, "l1_distance", {"d0": 1e-3}),
    "dadaptation.L7": ("dadapt_da", {}, "l1_distance", {"d0": 1e-3}),
    "dadaptation.L7_prime": ("dadapt_da", {"G_term": True}, "l1_distance", {"d0": 1e-3}),
    "dadaptation.P8_4": ("dadapt_da", {"G_term": True}, "l1_distance", {"d0": 1e-3}),
    "dadaptation.L9": ("dadapt_da", {}, "l1_distance", {"d0": 1e-3}),
    "dadaptation.L17": ("dadapt_adagrad", {}, "l1_distance", {"d0": 1e-3, "G_inf": 5.0}),
    "prodigy.P1": ("prodigy_gd", {}, "l1_distance", {"d0": 1e-3}),
    "prodigy.P2": ("prodigy_gd", {}, "l1_distance", {"d0": 1e-3}),
    "prodigy.P4": ("prodigy_gd", {}, "l1_distance", {"d0": 1e-3}),
    "prodigy.computable_bound": ("prodigy_gd", {}, "l1_distance", {"d0": 1e-3}),
    "dadaptation.T6_dhat_le_D": ("dadapt_da", {"option": "II"}, "l1_distance", {"d0": 1e-3}),
}


@pytest.mark.parametrize("key", sorted(HALVING))
def test_a_bound_with_its_constant_halved_is_caught(key):
    name, options, pname, hp = HALVING[key]
    pb = get_problem(pname)
    tr = run(pb, get_opt(name, **options), pb.x0(3, seed=0), 300, hp=hp, keep_iterates=True)
    r = get(key)
    assert check(r, tr, pb).all_hold
    halved = check(r, tr, pb, perturb=lambda s: replace(s, bound=0.5 * s.bound))
    assert bool(halved.violated.any())
