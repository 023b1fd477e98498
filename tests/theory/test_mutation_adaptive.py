"""Mutation tests for the Mechanic, MoMo, MADGRAD, MDA and TAPS/MOTAPS checks: deliberately wrong
variants of the optimizers (a step doubled, momentum in the wrong form, MoMo without its
truncation, a target correction every step, ...) and of the bounds (a constant halved) must each
be caught by at least one registered check on a run where the check applies.

Mutants are built here by subclassing the optimizers or by copying a Result with a changed
bound; no source file is edited."""

import dataclasses

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers.madgrad import MADGRAD, MADGRADPaper
from ratecheck.optimizers.mda import MDA
from ratecheck.optimizers.mechanic import Mechanic
from ratecheck.optimizers.momo import Momo
from ratecheck.optimizers.sgd import SGD
from ratecheck.optimizers.taps import MOTAPS, TAPS
from ratecheck.problems import get as get_problem
from ratecheck.theory import applicable, check, get


def caught(opt, name, hp, T, keys, **kw):
    """True if some applicable check among ``keys`` fails on a run where it applies."""
    p = get_problem(name)
    hp = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in hp.items()}
    B = max((v.shape[0] for v in hp.values() if v.ndim == 1), default=4)
    tr = run(p, opt, p.x0(B, seed=0), T, hp=hp, keep_iterates=True, **kw)
    stoch = kw.get("batch_size") is not None
    found = False
    for r in applicable(opt.name, p, stochastic=stoch):
        if r.key in keys:
            c = check(r, tr, p)
            found |= bool((c.checked & ~c.holds).any())
    return found


# -- MoMo --------------------------------------------------------------------------------------


class MomoDoubled(Momo):
    def _step(self, state, grad, loss):
        new, info = super()._step(state, grad, loss)
        return dict(new, x=state["x"] + 2 * (new["x"] - state["x"])), info


class MomoUntruncated(Momo):
    """Drops the positive part of the Polyak term: a model below the floor pushes x backwards."""

    def _step(self, state, grad, loss):
        new, info = super()._step(state, grad, loss)
        nom, dn = info["nom"], info["d_norm_sq"]
        t = torch.where(dn > 0, nom / torch.where(dn > 0, dn, 1.0), 0.0)
        tau = torch.minimum(state["hp"]["lr"] / info["rho"], t)
        x = state["x"] - tau[:, None] * new["d"]
        return dict(new, x=x), dict(info, tau=tau)


MOMO_KEYS = {"momo.fejer", "momo.tau_range", "momo.fejer_sum", "momo.min_model_gap", "momo.stays_above_floor"}


def momo_hp(name):
    """Steps from 1 to 1e6, beta up to 0.99; lb above f* on some runs (still covered by Lemma M1):
    there the momentum model drops below its floor and the truncation matters."""
    f = get_problem(name).f_star
    return {"lr": [1.0, 10.0, 1e6, 1e6], "beta": [0.0, 0.5, 0.9, 0.99], "lb": [f, f + 0.5, f + 0.1, f + 1.0]}


@pytest.mark.parametrize("name", ["l1_distance", "max_affine"])
def test_momo_doubled_step_is_caught(name):
    """On positively homogeneous gaps (<g, x - x*> = f - f*) a doubled Polyak step keeps the
    distance but skips the required decrease. (On a quadratic it would not be caught: there
    <g, x - x*> = 2 (f - f*) and Fejer monotonicity allows steps up to 4x Polyak.)"""
    assert not caught(Momo(), name, momo_hp(name), 150, MOMO_KEYS)
    assert caught(MomoDoubled(), name, momo_hp(name), 150, MOMO_KEYS)


@pytest.mark.parametrize("name", ["least_squares_interp"])
def test_momo_without_truncation_is_caught(name):
    assert not caught(Momo(), name, momo_hp(name), 150, MOMO_KEYS)
    assert caught(MomoUntruncated(), name, momo_hp(name), 150, MOMO_KEYS)


# -- Mechanic ----------------------------------------------------------------------------------


class SGDDoubled(SGD):
    """Takes twice the step it reports in ``lr``."""

    def _step(self, state, grad, loss):
        new, info = super()._step(state, grad, loss)
        return dict(new, x=state["x"] + 2 * (new["x"] - state["x"])), info


class MechanicDoubledScale(Mechanic):
    """Plays x_ref + 2 S Delta while reporting S."""

    def _step(self, state, grad, loss, idx=None):
        new, info = super()._step(state, grad, loss, idx)
        return dict(new, x=new["x_ref"] + 2 * (new["x"] - new["x_ref"])), info


class MechanicNoWealthFloor(Mechanic):
    """Wealth without the (s_init/n) m term: the tuner can never leave 0."""

    def _step(self, state, grad, loss, idx=None):
        hp = dict(state["hp"], s_init=torch.zeros_like(state["hp"]["s_init"]))
        return super()._step(dict(state, hp=hp), grad, loss, idx)


MECH_HP = {"base_lr": torch.tensor([1e-2, 1.0, 1e2]), "s_decay": 0.0}
MECH_KEYS = {"mechanic.regret_decomposition", "mechanic.wealth_floor", "mechanic.sgd_average_bound",
             "mechanic.scale_nonneg", "mechanic.max_and_sum_of_squares", "mechanic.reward_nonneg"}


@pytest.mark.parametrize("variant", ["pytorch", "optax"])
def test_mechanic_mutants_are_caught(variant):
    assert not caught(Mechanic(variant=variant), "quadratic", MECH_HP, 100, MECH_KEYS)
    assert caught(Mechanic(base=SGDDoubled(), variant=variant), "quadratic", MECH_HP, 100, MECH_KEYS)
    assert caught(MechanicDoubledScale(variant=variant), "quadratic", MECH_HP, 100, MECH_KEYS)
    assert caught(MechanicNoWealthFloor(variant=variant), "quadratic", MECH_HP, 100, MECH_KEYS)


# -- MADGRAD / MDA -----------------------------------------------------------------------------


def lr_doubled(cls):
    class Mutant(cls):
        def _step(self, state, grad, loss):
            hp = dict(state["hp"], lr=2 * state["hp"]["lr"])
            return super()._step(dict(state, hp=hp), grad, loss)
    return Mutant


def momentum_flipped(cls):
    """Primal averaging with the weights swapped: x = c x + (1 - c) z instead of (1 - c) x + c z."""
    class Mutant(cls):
        def _step(self, state, grad, loss):
            hp = dict(state["hp"], momentum=1 - state["hp"]["momentum"])
            return super()._step(dict(state, hp=hp), grad, loss)
    return Mutant


MG_KEYS = {"madgrad.ftrl_identity", "madgrad.decaying_l2_form"}
MD_KEYS = {"mda.ftrl_identity", "mda.decaying_l2_form"}


def test_madgrad_mutants_are_caught():
    hp = {"lr": torch.tensor([1e-2, 0.1, 1.0]), "momentum": 0.9}
    assert not caught(MADGRAD(), "logistic", hp, 60, MG_KEYS)
    assert caught(lr_doubled(MADGRAD)(), "logistic", hp, 60, MG_KEYS)
    assert caught(momentum_flipped(MADGRAD)(), "logistic", hp, 60, MG_KEYS)
    php = {"lr": torch.tensor([1e-2, 0.1, 1.0]), "G": 100.0}
    assert not caught(MADGRADPaper(), "l1_distance", php, 60, MG_KEYS)
    assert caught(lr_doubled(MADGRADPaper)(), "l1_distance", php, 60, MG_KEYS)


class MDAStaleAverage(MDA):
    """Averages with the previous dual point: x_{k+1} = (1 - c) x_k + c z_k instead of c z_{k+1}."""

    def _step(self, state, grad, loss):
        k = state["k"]
        z_old = state["x0"] - state["s"] / max(k, 1) ** 0.5
        new, info = super()._step(state, grad, loss)
        c = info["c"][:, None]
        return dict(new, x=(1 - c) * state["x"] + c * z_old), info


def test_mda_mutants_are_caught():
    hp = {"lr": torch.tensor([1e-2, 0.1, 1.0]), "momentum": 0.9}
    assert not caught(MDA(), "huber", hp, 60, MD_KEYS)
    assert caught(lr_doubled(MDA)(), "huber", hp, 60, MD_KEYS)
    assert caught(MDAStaleAverage(), "huber", hp, 60, MD_KEYS)


def averaging_overshoot(cls):
    """averaging="lambda" that weighs the new dual point twice: c_{k+1} = min(1, 2 lam_{k+1}/S_{k+1})."""
    class Mutant(cls):
        def _step(self, state, grad, loss):
            new, info = super()._step(state, grad, loss)
            c, c2 = info["c"][:, None], torch.clamp(2 * info["c"], max=1.0)
            z = (new["x"] - (1 - c) * state["x"]) / c
            return dict(new, x=(1 - c2[:, None]) * state["x"] + c2[:, None] * z), dict(info, c=c2)
    return Mutant


@pytest.mark.parametrize("cls,hp,key", [
    (MADGRADPaper, {"lr": [1e-2, 0.1, 1.0], "G": 2.0}, "madgrad.primal_averaging_potential"),
    (MDA, {"lr": [1e-2, 0.1, 1.0]}, "mda.primal_averaging_potential"),
])
def test_wrong_lambda_averaging_is_caught_by_the_potential(cls, hp, key):
    """The identities recover z with the recorded c, so they hold for any averaging; the potential
    checks the averaging itself (the old applies-condition compared the recorded c with lam/S and
    reported such a run n/a instead)."""
    assert not caught(cls(averaging="lambda"), "l1_distance", hp, 100, {key})
    assert caught(averaging_overshoot(cls)(averaging="lambda"), "l1_distance", hp, 100, {key})


# -- TAPS / MOTAPS -----------------------------------------------------------------------------


def alpha_step_doubled(cls):
    class Mutant(cls):
        def _step(self, state, grad, loss, idx):
            new, info = super()._step(state, grad, loss, idx)
            alpha = state["alpha"] + 2 * (new["alpha"] - state["alpha"])
            return dict(new, alpha=alpha, alphabar=alpha.mean(-1)), info
    return Mutant


def w_step_doubled(cls):
    class Mutant(cls):
        def _step(self, state, grad, loss, idx):
            new, info = super()._step(state, grad, loss, idx)
            z = state["z"] + 2 * (new["z"] - state["z"])
            return dict(new, z=z, x=z), info  # beta = 0 runs only: x = z
    return Mutant


def correct_every_step(cls):
    """Runs the epoch-end target correction at every step (the code does it once per epoch)."""
    class Mutant(cls):
        def _step(self, state, grad, loss, idx):
            new, info = super()._step(dict(state, k=state["n"] - 1), grad, loss, idx)
            return new, info
    return Mutant


TAPS_KEYS = {"motaps.target_bookkeeping", "motaps.sample_step", "motaps.taps_lyapunov", "motaps.tau_step_descends"}


@pytest.mark.parametrize("cls", [TAPS, MOTAPS])
def test_taps_mutants_are_caught(cls):
    hp = {"lr": torch.tensor([0.5, 1.0, 1.5])}
    if cls is MOTAPS:
        hp["tau_lr"] = 0.5
    kw = {"batch_size": 1}
    assert not caught(cls(), "lad", hp, 130, TAPS_KEYS, **kw)
    assert caught(alpha_step_doubled(cls)(), "lad", hp, 130, TAPS_KEYS, **kw)
    assert caught(w_step_doubled(cls)(), "lad", hp, 130, TAPS_KEYS, **kw)
    assert caught(correct_every_step(cls)(), "lad", hp, 130, TAPS_KEYS, **kw)


class MotapsTauOvershoot(MOTAPS):
    """Uses tau_lr = 2.5 (outside [0, 2)) for the target step, whatever the run asked for."""

    def _step(self, state, grad, loss, idx):
        hp = dict(state["hp"], tau_lr=torch.full_like(state["hp"]["tau_lr"], 2.5))
        return super()._step(dict(state, hp=hp), grad, loss, idx)


def test_motaps_tau_overshoot_is_caught():
    p = get_problem("lad")
    hp = {"lr": torch.tensor([0.5, 1.0]), "tau_lr": 1.0}
    ok = run(p, MOTAPS(), p.x0(2, seed=0), 130, hp=hp, batch_size=1)
    assert check(get("motaps.tau_step_descends"), ok, p).all_hold
    bad = run(p, MotapsTauOvershoot(), p.x0(2, seed=0), 130, hp=hp, batch_size=1)
    book = check(get("motaps.target_bookkeeping"), bad, p)
    assert book.violated.any()  # the replay with the requested tau_lr disagrees
    # Told the step size the mutant really used, the replay agrees; tau_lr = 2.5 is outside the
    # result's assumption (n/a with that reason), and without the assumption phi is seen to increase.
    bad.meta["hp"] = dict(bad.meta["hp"], tau_lr=torch.full((2,), 2.5, dtype=torch.float64))
    assert check(get("motaps.target_bookkeeping"), bad, p).all_hold
    c = check(get("motaps.tau_step_descends"), bad, p)
    assert not c.checked.any() and set(c.reasons) == {"assumption false: 0 <= tau_lr <= 2"}
    c = check(dataclasses.replace(get("motaps.tau_step_descends"), assumptions=()), bad, p)
    assert c.violated.any()


# -- bounds with a constant halved ---------------------------------------------------------------


def halved(key):
    r = get(key)

    def sides(tr, pb, f=r.sides):
        s = f(tr, pb)
        return dataclasses.replace(s, bound=0.5 * s.bound)

    return dataclasses.replace(r, sides=sides)


@pytest.mark.parametrize(
    "key,opt,options,hp,name",
    [
        ("mda.observed_bound", "mda", {"averaging": "lambda"}, {"lr": torch.tensor([0.1, 1.0, 10.0])}, "l1_distance"),
        ("mda.closed_form_bound", "mda", {"averaging": "lambda"}, {"lr": torch.tensor([0.1, 1.0, 10.0])}, "l1_distance"),
        ("momo.min_model_gap", "momo", {}, {"lr": torch.tensor([0.1, 1.0, 1e6]), "beta": 0.0, "lb": 0.0}, "l1_distance"),
        ("momo.fejer_sum", "momo", {}, {"lr": torch.tensor([0.1, 1.0, 1e6]), "beta": 0.0, "lb": 0.0}, "l1_distance"),
        ("mechanic.sgd_average_bound", "mechanic", {}, {"base_lr": torch.tensor([1e-2, 1.0, 1e2]), "s_decay": 0.0}, "l1_distance"),
        ("madgrad.observed_bound", "madgrad_paper", {}, {"lr": torch.tensor([1e-3, 1e-2, 0.1, 1.0]), "G": 1.0}, "nesterov_nonsmooth"),
    ],
)
def test_halved_bounds_are_caught(key, opt, options, hp, name):
    from ratecheck.optimizers import get as get_opt

    p = get_problem(name)
    B = next(v for v in hp.values() if isinstance(v, torch.Tensor)).shape[0]
    tr = run(p, get_opt(opt, **options), p.x0(B, seed=0), 300, hp=hp, keep_iterates=True)
    assert check(get(key), tr, p).all_hold
    c = check(halved(key), tr, p)
    assert (c.checked & ~c.holds).any(), f"{key} halved still holds: worst ratio {c.worst_ratio.tolist()}"
