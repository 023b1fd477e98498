"""Prodigy (Mishchenko & Defazio, arXiv 2306.06101), batched: the authors' Adam code
(``prodigyopt`` 1.1.2), the paper's gradient-descent and dual-averaging versions, and
D-Adaptation with Resetting (v1 of the paper).

Registered names:

- ``prodigy_adam``: ``prodigyopt.Prodigy`` 1.1.2 [CODE]; option ``slice_p``;
- ``prodigy_gd``: Prodigy GD (step formula [SECONDARY], estimate [DERIVED]);
- ``prodigy_da``: Prodigy dual averaging, a reconstruction [UNVERIFIED] (only the weights
  lambda_k = d_k^2 are [SECONDARY]); only its [DERIVED] invariant d-hat <= D may be asserted;
- ``dadapt_resetting``: D-Adaptation with Resetting, a reconstruction of the design in the
  paper's v1 [UNVERIFIED]; again only d <= max(d_0, D) is [DERIVED].

See docs/references/prodigy.md for provenance; the paper's full text was not available.
Undefined estimates (zero denominator) are NaN in ``info`` and leave d unchanged.
"""

from __future__ import annotations

import math

import torch

from ratecheck.errors import out_of_range

from .base import (HP, NO_OUT, BaseState, DecayPaths, Optimizer, decay_paths, dot, freeze, nonneg, per_run, positive, register,
                   scaled_sum, unit)
from .blocks import (FLAG, EstimateInfo, GDFormInfo, GDFormState, GTerm, bias_correction, check_flags, d0_hp, gd_form_step,
                     growth_hp, inv_sqrt_or_zero, raise_d, ratio)

Tensor = torch.Tensor

__all__ = ["ProdigyAdamCode", "ProdigyGD", "ProdigyDA", "DAdaptResetting"]


class ProdigyAdamState(BaseState, DecayPaths):
    any_momentum: bool  # some run has beta1 > 0 (decided at init, as the decay branches)
    any_no_momentum: bool  # some run has beta1 = 0
    x0s: Tensor
    s: Tensor
    m: Tensor
    v: Tensor
    d: Tensor
    d_max: Tensor
    numerator: Tensor
    t: Tensor


class ProdigyAdamInfo(EstimateInfo):
    d_max: Tensor
    lr: Tensor
    numerator: Tensor
    s_l1: Tensor


@register("prodigy_adam")
class ProdigyAdamCode(Optimizer):
    r"""``prodigyopt.Prodigy`` 1.1.2 on one parameter vector per run [CODE].

    \beta_3 = sqrt(\beta_2) unless given; bc_k = sqrt(1-\beta_2^{k+1})/(1-\beta_1^{k+1}) if
    ``use_bias_correction`` else 1; dlr_k = d_k \gamma bc_k; coupled decay g <- g + wd x unless
    ``decouple``; P keeps every ``slice_p``-th coordinate; x_0 the start:

        r_{k+1} = \beta_3 r_k + (d_k/d_0) dlr_k <P g_k, P(x_0 - x_k)>
        s_{k+1} = \beta_3 s_k + (d_k/d_0) w_k P g_k,   w_k = d_k if ``safeguard_warmup`` else dlr_k
        m_{k+1} = \beta_1 m_k + (1-\beta_1) d_k g_k;   v_{k+1} = \beta_2 v_k + (1-\beta_2) d_k^2 g_k^2
        d-hat_{k+1} = d_coef r_{k+1} / ||s_{k+1}||_1
        d' = max(d_k, d-hat_{k+1}) if d_k = d_0 else d_k;   d^max <- max(d^max, d-hat_{k+1})
        d_{k+1} = min(d^max, d' growth_rate)
        x_{k+1} = x_k - [decouple] wd dlr_k x_k - dlr_k m_{k+1} / (sqrt(v_{k+1}) + d_{k+1} eps)
                  (\beta_1 = 0: the last term is dlr_k d_{k+1} g_k / (sqrt(v_{k+1}) + d_{k+1} eps))

    If ||s_{k+1}||_1 = 0 the package returns early: m, v, s keep their new values but x, d,
    d^max, r and the bias-correction counter do not move; the same here. With finite
    growth_rate the first increase away from d_0 is not capped (the ``d == d0`` branch).
    Flags ``decouple``, ``use_bias_correction``, ``safeguard_warmup`` are 0/1 hyper-parameters.

    ``info``: ``d`` = d_k, ``d_next`` = d_{k+1} (``param_groups[0]['d']``), ``d_hat``,
    ``d_max`` = d^max after the step, ``lr`` = dlr_k, ``numerator`` = r_{k+1}
    (``d_numerator``), ``s_l1`` = ||s_{k+1}||_1 (``d_denom``).
    """

    name = "prodigy_adam"
    reference = "konstmish/prodigy, prodigyopt 1.1.2, prodigyopt/prodigy.py (Prodigy)"
    state_type = ProdigyAdamState
    donates = True
    info_type = ProdigyAdamInfo
    example_hp = {"d0": 1e-3, "beta2": 0.99}

    def __init__(self, slice_p: int = 1):
        if isinstance(slice_p, bool) or not isinstance(slice_p, int) or slice_p < 1:
            raise out_of_range("prodigy_adam: slice_p", slice_p, "integers >= 1")
        self.slice_p = slice_p
        self.hyperparams = {
            "lr": positive(1.0, "multiplier on the adapted step"),
            "beta1": unit(0.9, "first-moment EMA rate (0: no momentum buffer)"),
            "beta2": unit(0.999, "second-moment EMA rate"),
            "beta3": HP(None, 0.0, 1.0, doc="EMA rate of r and s; default sqrt(beta2)"),
            "eps": positive(1e-8, "added to sqrt(v), scaled by d"),
            "weight_decay": nonneg(0.0, "L2 decay (decoupled unless decouple = 0)"),
            "decouple": HP(1.0, 0.0, 1.0, doc="0 or 1"),
            "use_bias_correction": FLAG,
            "safeguard_warmup": FLAG,
            "d0": d0_hp(),
            "d_coef": positive(1.0, "multiplier on d-hat"),
            "growth_rate": growth_hp(),
        }

    def init(self, x0, **hp):
        if hp.get("beta3") is None:
            # The package's default; sqrt is exact-rounded both here and in math.sqrt.
            b2 = hp.get("beta2", self.hyperparams["beta2"].default)
            b2t = torch.as_tensor(b2, dtype=torch.float64)
            hp["beta3"] = torch.sqrt(b2t) if bool((b2t >= 0).all()) else b2t
        return super().init(x0, **hp)

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        check_flags(self, hp, ("decouple", "use_bias_correction", "safeguard_warmup"))
        z = torch.zeros_like(x0[:, 0])
        zx = torch.zeros_like(x0)
        x0s = x0[:, :: self.slice_p].clone()
        b1 = hp["beta1"]
        return {"x0s": x0s, "s": torch.zeros_like(x0s), "m": zx, "v": zx, "d": hp["d0"].clone(),
                "d_max": hp["d0"].clone(), "numerator": z, "t": z, **decay_paths(hp, "decouple"),
                "any_momentum": bool((b1 > 0).any()), "any_no_momentum": bool((b1 == 0).any())}

    def _step(self, state, grad, loss, out=NO_OUT):
        hp, x, d = state["hp"], state["x"], state["d"]
        p = self.slice_p
        d0 = hp["d0"]
        dlr = d * hp["lr"] * bias_correction(hp, state["t"])
        wd = per_run(hp["weight_decay"])
        if state["coupled_wd"]:
            grad = torch.where(per_run(hp["decouple"]) == 1, grad, grad + wd * x)
        g_s = grad[:, ::p]
        tmp, tmp2 = out.get("tmp"), out.get("tmp2")  # the workspace, holding each [B, d] temporary in turn
        sliced = tmp if p == 1 else None  # a [B, d / slice_p] temporary
        numerator = hp["beta3"] * state["numerator"] + (d / d0) * dlr * dot(
            g_s, torch.sub(state["x0s"], x[:, ::p], out=sliced), scratch=sliced)
        m = scaled_sum(per_run(hp["beta1"]), state["m"], per_run(d * (1 - hp["beta1"])), grad, out=out.get("m"), scratch=tmp2)
        v = scaled_sum(per_run(hp["beta2"]), state["v"], per_run(d * d * (1 - hp["beta2"])), grad, grad,
                       out=out.get("v"), scratch=tmp2)
        w = torch.where(hp["safeguard_warmup"] == 1, d, dlr)
        s = scaled_sum(per_run(hp["beta3"]), state["s"], per_run((d / d0) * w), g_s, out=out.get("s"), scratch=sliced)
        s_l1 = torch.abs(s, out=sliced).sum(dim=-1)
        d_hat = ratio(hp["d_coef"] * numerator, s_l1)
        defined = ~torch.isnan(d_hat)
        first = torch.where(d == d0, torch.maximum(d, d_hat), d)
        d_max = torch.where(defined, torch.maximum(state["d_max"], d_hat), state["d_max"])
        d_next = torch.where(defined, torch.minimum(d_max, torch.where(defined, first, d) * hp["growth_rate"]), d)
        denom = torch.add(torch.sqrt(v, out=tmp), per_run(d_next * hp["eps"]), out=tmp)
        if state["decoupled_wd"]:
            x = torch.where(per_run(hp["decouple"]) == 1, x - per_run(hp["weight_decay"] * dlr) * x, x)
        any_m, any_no_m = state["any_momentum"], state["any_no_momentum"]
        x_out = out.get("x") if any_m != any_no_m else None  # a mixed batch selects between two fresh tensors

        def update(direction: Tensor, size: Tensor) -> Tensor:  # x - size * (direction / denom)
            return torch.sub(x, torch.mul(torch.div(direction, denom, out=tmp2), per_run(size), out=tmp2), out=x_out)

        with_m = update(m, dlr) if any_m else None
        without_m = update(grad, dlr * d_next) if any_no_m else None
        x_new = torch.where(per_run(hp["beta1"]) > 0, with_m, without_m) if any_m and any_no_m else with_m if any_m else without_m
        new = {"x": x_new, "x0s": state["x0s"], "s": s, "m": m, "v": v, "d": d_next, "d_max": d_max,
               "numerator": numerator, "t": state["t"] + 1, "coupled_wd": state["coupled_wd"],
               "decoupled_wd": state["decoupled_wd"], "any_momentum": any_m, "any_no_momentum": any_no_m}
        new = freeze(new, state, s_l1 == 0, ("x", "d", "d_max", "numerator", "t"))
        info = {"d": d, "d_next": new["d"], "d_hat": d_hat, "d_max": new["d_max"], "lr": dlr,
                "numerator": new["numerator"], "s_l1": s_l1}
        return new, info


class ProdigyGDState(GDFormState):
    weighted_sq: Tensor


class ProdigyGDInfo(GDFormInfo):
    weighted_sq: Tensor


@register("prodigy_gd")
class ProdigyGD(GTerm):
    r"""Prodigy, gradient-descent version (paper Algorithm 1) with weights \lambda_k = 1.

    Step [SECONDARY: quoted by the ICLR-2024 reviews], estimate [DERIVED, docs/references/prodigy.md §2.1]:

        \eta_k = d_k^2 / sqrt(d_k^2 G^2 + \sum_{i<=k} d_i^2 ||g_i||^2)
        x_{k+1} = x_k - \eta_k g_k
        d-hat_{k+1} = \sum_{i<=k} \eta_i <g_i, x_0 - x_i> / ||x_{k+1} - x_0||
        d_{k+1} = max(d_k, d-hat_{k+1})

    The paper's output (a weighted average over a chosen prefix) is [UNVERIFIED]; recorded
    weights \eta_k let the caller form x-hat_n = \sum\eta_k x_k / \sum\eta_k.

    ``info`` (docs/references/prodigy.md §4 notation): ``d`` = d_k, ``d_next`` = d_{k+1}, ``d_hat``,
    ``lr`` = \eta_k, ``numerator`` = \sum_{i<=k}\eta_i<g_i,x_0-x_i>, ``s_norm`` =
    ||x_{k+1}-x_0||, ``sum_lr2_g2`` = Q_k = \sum_{i<=k}\eta_i^2||g_i||^2, ``weighted_sq`` =
    S_k = \sum_{i<=k} d_i^2||g_i||^2.
    """

    name = "prodigy_gd"
    reference = "Mishchenko & Defazio, arXiv 2306.06101, Prodigy GD (Algorithm 1)"
    state_type = ProdigyGDState
    info_type = ProdigyGDInfo
    G_term = True
    own_hyperparams = {"d0": d0_hp()}
    own_example_hp = {"d0": 1e-3}

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        z = torch.zeros_like(x0[:, 0])
        return {"x0": x0.clone(), "d": hp["d0"].clone(), "numerator": z, "sum_lr2_g2": z, "weighted_sq": z}

    def _step(self, state, grad, loss):
        hp, d = state["hp"], state["d"]
        gsq = dot(grad, grad)
        weighted_sq = state["weighted_sq"] + d * d * gsq
        eta = d * d * inv_sqrt_or_zero(d * d * hp["G"] ** 2 + weighted_sq)
        return gd_form_step(state, grad, eta, gsq, weighted_sq=weighted_sq)


class ProdigyDAState(BaseState):
    x0: Tensor
    s: Tensor
    d: Tensor
    numerator: Tensor
    weighted_sq: Tensor


class ProdigyDAInfo(EstimateInfo):
    lr: Tensor
    numerator: Tensor
    s_norm: Tensor
    weighted_sq: Tensor


@register("prodigy_da")
class ProdigyDA(GTerm):
    r"""Prodigy, dual-averaging version: a reconstruction [UNVERIFIED] of the paper's Algorithm 2.

    Only \lambda_k = d_k^2 is [SECONDARY]; whether \gamma uses d_{k+1} or d_k is not known
    (here d_{k+1}, docs/references/prodigy.md §2.2):

        s_{k+1} = s_k + d_k^2 g_k
        d-hat_{k+1} = \sum_{i<=k} d_i^2 <g_i, x_0 - x_i> / ||s_{k+1}||
        d_{k+1} = max(d_k, d-hat_{k+1})
        \gamma_{k+1} = 1 / sqrt(d_{k+1}^2 G^2 + \sum_{i<=k} d_i^2 ||g_i||^2)
        x_{k+1} = x_0 - \gamma_{k+1} s_{k+1}

    d-hat_{k+1} <= D holds for any such variant [DERIVED]; no rate is asserted.

    ``info``: ``d``, ``d_next``, ``d_hat``, ``lr`` = \gamma_{k+1}, ``numerator`` =
    \sum_{i<=k}d_i^2<g_i,x_0-x_i>, ``s_norm`` = ||s_{k+1}||, ``weighted_sq`` = \sum_{i<=k}d_i^2||g_i||^2.
    """

    name = "prodigy_da"
    reference = "Mishchenko & Defazio, arXiv 2306.06101, dual averaging (reconstruction, UNVERIFIED)"
    state_type = ProdigyDAState
    info_type = ProdigyDAInfo
    G_term = True
    own_hyperparams = {"d0": d0_hp()}
    own_example_hp = {"d0": 1e-3}

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        z = torch.zeros_like(x0[:, 0])
        return {"x0": x0.clone(), "s": torch.zeros_like(x0), "d": hp["d0"].clone(), "numerator": z, "weighted_sq": z}

    def _step(self, state, grad, loss):
        hp, x, d = state["hp"], state["x"], state["d"]
        lam = d * d
        numerator = state["numerator"] + lam * dot(grad, state["x0"] - x)
        weighted_sq = state["weighted_sq"] + lam * dot(grad, grad)
        s = state["s"] + per_run(lam) * grad
        s_norm = torch.sqrt(dot(s, s))
        d_hat = ratio(numerator, s_norm)
        d_next = raise_d(d, d_hat)
        gamma = inv_sqrt_or_zero(d_next * d_next * hp["G"] ** 2 + weighted_sq)
        new = {"x": state["x0"] - per_run(gamma) * s, "x0": state["x0"], "s": s, "d": d_next,
               "numerator": numerator, "weighted_sq": weighted_sq}
        info = {"d": d, "d_next": d_next, "d_hat": d_hat, "lr": gamma, "numerator": numerator,
                "s_norm": s_norm, "weighted_sq": weighted_sq}
        return new, info


class DAdaptResettingState(BaseState):
    x0: Tensor
    s: Tensor
    d: Tensor
    gamma: Tensor
    grad_sq_sum: Tensor
    weighted_sq: Tensor
    fresh: Tensor
    stopped: Tensor
    epoch: Tensor
    epoch_len: Tensor
    x_avg: Tensor


class DAdaptResettingInfo(EstimateInfo):
    lr: Tensor
    s_norm: Tensor
    epoch: Tensor
    epoch_len: Tensor
    reset: Tensor


@register("dadapt_resetting")
class DAdaptResetting(GTerm):
    r"""D-Adaptation with Resetting (Prodigy paper v1), a reconstruction [UNVERIFIED].

    Dual averaging with d held fixed inside an epoch and an AdaGrad-norm step over that epoch's
    gradients only; when the epoch's Option-I estimate exceeds ``reset_factor`` (2) times d,
    d takes that estimate and s, the step accumulator and x restart from x_0:

        s_{j+1} = s_j + d g_j;   \gamma_{j+1} = 1/sqrt(\sum_{i<=j}||g_i||^2)  (G_term: 1/sqrt(G^2 + \sum))
        d-hat_{j+1} = (\gamma_{j+1}||s_{j+1}||^2 - \sum_{i<=j}\gamma_i d^2||g_i||^2) / (2||s_{j+1}||)
        if d-hat_{j+1} > reset_factor d:  d <- d-hat_{j+1}, s <- 0, sums <- 0, x <- x_0
        else:                            x_{j+1} = x_0 - \gamma_{j+1} s_{j+1}

    (j counts steps within the epoch; \gamma_0 = 1/||g_0|| of the epoch, or 1/G.) Within an
    epoch this is Algorithm 1 with constant weights, so d-hat <= D [PAPER, v1 Lemma 5 / Thm 6
    for general weights] and d <= max(d_0, D). The current epoch's uniform average is
    ``state["x_avg"]``. A zero gradient at an epoch start stops the run (no G_term).

    ``info``: ``d`` (this epoch's d), ``d_next``, ``d_hat``, ``lr`` = \gamma_{j+1} (0 on a
    reset), ``s_norm``, ``epoch`` (number of resets so far), ``epoch_len`` (steps in the
    current epoch after this step), ``reset`` (1.0 where this step reset).
    """

    name = "dadapt_resetting"
    reference = "Mishchenko & Defazio, arXiv 2306.06101 v1, D-Adaptation with Resetting (reconstruction, UNVERIFIED)"
    state_type = DAdaptResettingState
    info_type = DAdaptResettingInfo
    own_hyperparams = {
        "d0": d0_hp(),
        "reset_factor": HP(2.0, 1.0, math.inf, low_open=True, doc="reset when d-hat > factor * d"),
    }
    own_example_hp = {"d0": 1e-3}

    def __init__(self, G_term: bool = False):
        self.G_term = bool(G_term)

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        z = torch.zeros_like(x0[:, 0])
        yes = torch.ones_like(z, dtype=torch.bool)
        return {"x0": x0.clone(), "s": torch.zeros_like(x0), "d": hp["d0"].clone(), "gamma": z, "grad_sq_sum": z,
                "weighted_sq": z, "fresh": yes, "stopped": ~yes, "epoch": z, "epoch_len": z, "x_avg": x0.clone()}

    def _step(self, state, grad, loss):
        hp, x, d = state["hp"], state["x"], state["d"]
        gsq = dot(grad, grad)
        fresh = state["fresh"]
        start_gamma = 1.0 / hp["G"] if self.G_term else inv_sqrt_or_zero(gsq)
        gamma = torch.where(fresh, start_gamma, state["gamma"])
        stopped = state["stopped"] if self.G_term else state["stopped"] | (fresh & (gsq == 0))
        weighted_sq = state["weighted_sq"] + gamma * d * d * gsq
        s = state["s"] + per_run(d) * grad
        grad_sq_sum = state["grad_sq_sum"] + gsq
        gamma_next = inv_sqrt_or_zero(hp["G"] ** 2 + grad_sq_sum if self.G_term else grad_sq_sum)
        s_norm = torch.sqrt(dot(s, s))
        d_hat = ratio(gamma_next * s_norm * s_norm - weighted_sq, 2 * s_norm)
        epoch_len = state["epoch_len"] + 1
        x_avg = state["x_avg"] + per_run(1.0 / epoch_len) * (x - state["x_avg"])
        reset = d_hat > hp["reset_factor"] * d  # False where d_hat is NaN
        zero = torch.zeros_like(d)
        r = per_run(reset)
        new = {
            "x": torch.where(r, state["x0"], state["x0"] - per_run(gamma_next) * s), "x0": state["x0"],
            "s": torch.where(r, torch.zeros_like(s), s), "d": torch.where(reset, d_hat, d),
            "gamma": torch.where(reset, zero, gamma_next), "grad_sq_sum": torch.where(reset, zero, grad_sq_sum),
            "weighted_sq": torch.where(reset, zero, weighted_sq), "fresh": reset, "stopped": stopped,
            "epoch": state["epoch"] + reset.to(d.dtype), "epoch_len": torch.where(reset, zero, epoch_len),
            "x_avg": torch.where(r, state["x0"], x_avg),
        }
        new = freeze(new, state, stopped, tuple(k for k in new if k != "stopped"))
        info = {"d": d, "d_next": new["d"], "d_hat": torch.where(stopped, torch.full_like(d, math.nan), d_hat),
                "lr": new["gamma"], "s_norm": torch.sqrt(dot(new["s"], new["s"])), "epoch": new["epoch"],
                "epoch_len": new["epoch_len"], "reset": (reset & ~stopped).to(d.dtype)}
        return new, info
