"""Building blocks shared by the distance-estimating methods (D-Adaptation, Prodigy).

Every optimizer file imports these from here, never another paper's file:

- hyper-parameter specs: ``FLAG`` (a 0/1 switch a batch can sweep), ``d0_hp``, ``growth_hp``,
  and ``check_flags``;
- the estimate's arithmetic: ``ratio`` (NaN where undefined), ``raise_d`` (paper rule),
  ``raise_d_capped`` (code rule with growth_rate), ``inv_sqrt_or_zero``;
- ``gd_form_step``: one step of a gradient-descent-form estimator, with its declared
  ``GDFormState`` and ``GDFormInfo``;
- ``bias_correction``: Adam's factor as the authors' packages use it;
- ``GTerm``: the structural option ``G_term`` (the step uses the Lipschitz bound G, a
  problem attribute), which declares the hyper-parameter G and ``problem_kwargs``.

The per-run freeze of a state (``freeze``) and the tensor primitives (``per_run``, ``dot``,
``norm``, ``stable_pow``) live in ``base``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypedDict

import torch

from ratecheck.errors import out_of_range

from .base import HP, BaseState, Optimizer, State, dot, per_run, positive, stable_pow

__all__ = [
    "FLAG",
    "G_HP",
    "EstimateInfo",
    "GDFormInfo",
    "GDFormState",
    "GTerm",
    "bias_correction",
    "check_flags",
    "d0_hp",
    "gd_form_step",
    "growth_hp",
    "inv_sqrt_or_zero",
    "raise_d",
    "raise_d_capped",
    "ratio",
]

Tensor = torch.Tensor

FLAG = HP(0.0, 0.0, 1.0, doc="0 (off) or 1 (on)")
G_HP = positive(None, "Lipschitz bound G >= ||g_k|| (problem attribute G by default)")


def growth_hp() -> HP:
    return HP(math.inf, 1.0, math.inf, doc="cap on the growth of d per step (inf: none)")


def d0_hp(default: float = 1e-6) -> HP:
    return positive(default, "initial estimate d_0 of D")


def check_flags(opt: Optimizer, hp: Mapping[str, Tensor], names: tuple[str, ...]) -> None:
    """Flags are hyper-parameters in {0, 1} so that one batch can sweep them."""
    for name in names:
        v = hp[name]
        ok = (v == 0) | (v == 1)
        if not bool(ok.all()):
            raise out_of_range(f"{opt.name}: {name}", v[~ok][0].item(), "0 (off) or 1 (on)")


# -- the estimate's arithmetic ---------------------------------------------------------------------
def ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den where den > 0, NaN where the estimate is undefined (den = 0)."""
    ok = den > 0
    safe = torch.where(ok, den, torch.ones_like(den))
    return torch.where(ok, num / safe, torch.full_like(num, math.nan))


def raise_d(d: Tensor, d_hat: Tensor) -> Tensor:
    """Paper rule d_{k+1} = max(d_k, d-hat_{k+1}); an undefined d-hat leaves d unchanged."""
    return torch.where(torch.isnan(d_hat), d, torch.maximum(d, d_hat))


def raise_d_capped(d: Tensor, d_hat: Tensor, growth: Tensor) -> Tensor:
    """Code rule (dadaptation 3.2): d_{k+1} = max(d_k, min(d-hat, d_k * growth_rate))."""
    new = torch.maximum(d, torch.minimum(d_hat, d * growth))
    return torch.where(torch.isnan(d_hat), d, new)


def inv_sqrt_or_zero(v: Tensor) -> Tensor:
    """1/sqrt(v) for v > 0, and 0 for v = 0 (a step size before any non-zero gradient)."""
    ok = v > 0
    return torch.where(ok, 1.0 / torch.sqrt(torch.where(ok, v, torch.ones_like(v))), torch.zeros_like(v))


def bias_correction(hp: Mapping[str, Tensor], t: Tensor) -> Tensor:
    """Adam's factor sqrt(1 - beta2^(t+1)) / (1 - beta1^(t+1)) where enabled, else 1."""
    b1, b2 = hp["beta1"], hp["beta2"]
    bc = torch.sqrt(1 - stable_pow(b2, t + 1)) / (1 - stable_pow(b1, t + 1))
    return torch.where(hp["use_bias_correction"] == 1, bc, torch.ones_like(bc))


# -- the gradient-descent form ---------------------------------------------------------------------
class GDFormState(BaseState):
    x0: Tensor
    d: Tensor
    numerator: Tensor
    sum_lr2_g2: Tensor


class EstimateInfo(TypedDict):
    """The info entries of every distance-estimating method."""

    d: Tensor  # d_k, the estimate used at this step
    d_next: Tensor  # d_{k+1}
    d_hat: Tensor  # the new lower bound (NaN where undefined)


class GDFormInfo(EstimateInfo):
    lr: Tensor
    numerator: Tensor
    s_norm: Tensor
    sum_lr2_g2: Tensor


def gd_form_step(state: State, grad: Tensor, lr: Tensor, gsq: Tensor, **kept: Tensor) -> tuple[State, dict[str, Tensor]]:
    r"""One step of a GD-form estimator (D-Adaptation GD, Prodigy GD) from x_0, given its step lr_k:

        x_{k+1} = x_k - lr_k g_k
        d-hat_{k+1} = \sum_{i<=k} lr_i <g_i, x_0 - x_i> / ||x_{k+1} - x_0||,   d_{k+1} = max(d_k, d-hat_{k+1})

    [DERIVED, docs/references/dadaptation.md §1.4, docs/references/prodigy.md §4]. ``gsq`` = ||g_k||^2;
    ``kept``: the caller's own accumulators, carried into the new state and the info.
    Returns (new state, info): the ``GDFormState`` / ``GDFormInfo`` entries plus ``kept``.
    """
    x, d = state["x"], state["d"]
    numerator = state["numerator"] + lr * dot(grad, state["x0"] - x)
    sum_lr2_g2 = state["sum_lr2_g2"] + lr * lr * gsq
    x_new = x - per_run(lr) * grad
    diff = x_new - state["x0"]
    s_norm = torch.sqrt(dot(diff, diff))
    d_hat = ratio(numerator, s_norm)
    new = {"x": x_new, "x0": state["x0"], "d": raise_d(d, d_hat), "numerator": numerator, "sum_lr2_g2": sum_lr2_g2, **kept}
    info = {"d": d, "d_next": new["d"], "d_hat": d_hat, "lr": lr, "numerator": numerator, "s_norm": s_norm,
            "sum_lr2_g2": sum_lr2_g2, **kept}
    return new, info


# -- the G_term option -----------------------------------------------------------------------------
class GTerm(Optimizer):
    """A method whose step may use the Lipschitz bound G (the structural option ``G_term``).

    Subclasses declare ``own_hyperparams`` and ``own_example_hp`` and set ``G_term`` (a class
    attribute, or in ``__init__`` from the option). With ``G_term``, ``hyperparams`` adds the
    required G and ``problem_kwargs`` names it, so the runner passes the problem's G; all three
    are derived from ``G_term``, never set as a side effect.
    """

    G_term: bool = False
    own_hyperparams: Mapping[str, HP] = {}
    own_example_hp: Mapping[str, Any] = {}
    example_G: float = 10.0  # G in ``example_hp`` for the generic contract tests

    @property
    def hyperparams(self) -> dict[str, HP]:  # type: ignore[override]
        return {**self.own_hyperparams, "G": G_HP} if self.G_term else dict(self.own_hyperparams)

    @property
    def problem_kwargs(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("G",) if self.G_term else ()

    @property
    def example_hp(self) -> dict[str, Any]:  # type: ignore[override]
        return {**self.own_example_hp, "G": self.example_G} if self.G_term else dict(self.own_example_hp)
