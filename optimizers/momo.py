"""MoMo and MoMo-Adam: momentum models with a truncated (Polyak-type) adaptive step.

Schaipp, Ohana, Eickenberg, Defazio, Gower, *MoMo: Momentum Models for Adaptive Learning
Rates*, arXiv 2305.07583 (ICML 2024). Both follow the authors' code, momo-opt 0.1.0
(``fabian-sp/MoMo``, ``momo/momo.py`` and ``momo/momo_adam.py``) [CODE]; the closed-form
step is the proximal step of the truncated momentum model [DERIVED in
docs/references/momo.md, section 1]. No difference between the paper's form and this code is
established (the paper's text was not available; see docs/optimizers_mechanic_momo.md).

With f_k the loss and g_k the gradient at x_k, EMAs with weight beta,

    fbar_k = EMA(f_j),  d_k = EMA(g_j),  gamma_k = EMA(<g_j, x_j>),
    h_k   = fbar_k + <d_k, x_k> - gamma_k                        (model value at x_k)
    nom_k = (1 + a l)(fbar_k - rho_k f_*) + <d_k, x_k> - (1 + a l) gamma_k
    tau_k = min(a / rho_k, max(nom_k, 0) / ||d_k||^2_P)
    x_{k+1} = (x_k - tau_k P^{-1} d_k) / (1 + a l)

with a = lr, l = weight_decay, f_* = lb. MoMo: P = I, rho_k = 1 and EMAs started at the first
sample, or (bias_correction) zero-started EMAs with rho_k = 1 - beta^k. MoMo-Adam: zero-started
EMAs with beta1, rho_k = 1 - beta1^k, P = D_k = diag(eps + sqrt(v_k / (1 - beta2^k))), v_k the
EMA of g^2 with beta2; ``divide=False`` replaces the division by x <- x (1 - a l) before the step.

With ``use_fstar`` the lower bound is estimated online (MoMo*), floored at the initial lb:
ResetStar before the step (if cap_k = nom_k at f_* = 0 is below (1 + a l) rho_k f_*, set
f_* = max(cap_k / (2 (1 + a l) rho_k), lb)), and EstimateStar after it
(f_* = max((h_k - tau_k ||d_k||^2_P / 2) / rho_k, lb)).
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

import torch

from ratecheck.errors import RatecheckError, out_of_range

from .base import HP, NO_OUT, BaseState, Optimizer, dot, nonneg, per_run, register, unit

_REFERENCE = "Schaipp et al., MoMo, arXiv 2305.07583; code: momo-opt 0.1.0 (fabian-sp/MoMo)"
Tensor = torch.Tensor


class MomoState(BaseState):
    f_avg: Tensor
    d: Tensor
    gamma: Tensor
    lb: Tensor


class MomoAdamState(MomoState):
    v: Tensor


class MomoInfo(TypedDict):
    tau: Tensor
    t1: Tensor
    h: Tensor
    nom: Tensor
    rho: Tensor
    lb: Tensor
    lb_next: Tensor
    f_avg: Tensor
    d_norm_sq: Tensor


def _check_flag(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise out_of_range(f"{owner}: {name}", value, "True, False")
    return value


def _polyak_step(state, hp, x, d, d_norm_sq, f_avg, gamma, rho, use_fstar, scratch=None):
    """The truncated-model step shared by MoMo and MoMo-Adam; returns (tau, t1, h, nom, lb, lb_next)."""
    lr, wd, lb0 = hp["lr"], hp["weight_decay"], hp["lb"]
    c = 1 + lr * wd
    x_dot_d = dot(x, d, scratch)
    lb = state["lb"]
    if use_fstar:
        cap = c * f_avg + x_dot_d - c * gamma
        lb = torch.where(cap < c * rho * lb, torch.maximum(cap / (2 * c * rho), lb0), lb)
    nom = c * (f_avg - rho * lb) + x_dot_d - c * gamma
    pos = d_norm_sq > 0
    # momo-opt divides by ||d||^2 unguarded; at d = 0 Python's min() then returns lr/rho,
    # and the step is zero anyway. An infinite t1 reproduces that without a NaN.
    t1 = torch.where(pos, torch.clamp(nom, min=0.0) / torch.where(pos, d_norm_sq, 1.0), torch.inf)
    tau = torch.minimum(lr / rho, t1)
    h = f_avg + x_dot_d - gamma
    lb_next = torch.maximum((h - 0.5 * tau * d_norm_sq) / rho, lb0) if use_fstar else lb
    return tau, t1, h, nom, lb, lb_next


@register("momo")
class Momo(Optimizer):
    """MoMo as in momo-opt 0.1.0 ``Momo`` (update in the module docstring).

    Options: ``bias_correction`` (zero-started EMAs, rho_k = 1 - beta^k; default False),
    ``use_fstar`` (online lower-bound estimate, MoMo*; default False).
    Hyper-parameters: lr (alpha), weight_decay (lambda), beta, lb (f_*, the known lower bound or
    the floor of the estimate). ``info``: tau (step along d), t1 (the adaptive term), h (model
    value at x_k), nom, rho, lb (f_* used this step), lb_next (after EstimateStar), f_avg,
    d_norm_sq.
    """

    reference = _REFERENCE
    needs_loss = True
    state_type = MomoState
    info_type = MomoInfo
    donates = True
    example_hp = {"lr": 1.0, "beta": 0.9, "lb": 0.0}
    hyperparams = {
        "lr": nonneg(1.0, "alpha: cap on the step, alpha / rho"),
        "weight_decay": nonneg(0.0, "lambda: proximal l2 regularisation"),
        "beta": unit(0.9, "momentum of the EMAs (momo-opt accepts 1, which degenerates)"),
        "lb": HP(0.0, -math.inf, math.inf, low_open=True, high_open=True, doc="f_*: lower bound on the loss (the floor of the estimate with use_fstar)"),
    }

    def __init__(self, bias_correction: bool = False, use_fstar: bool = False):
        self.bias_correction = _check_flag("momo", "bias_correction", bias_correction)
        self.use_fstar = _check_flag("momo", "use_fstar", use_fstar)
        self.name = "momo_star" if use_fstar else "momo"

    def __repr__(self) -> str:
        return f"Momo(bias_correction={self.bias_correction}, use_fstar={self.use_fstar})"

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        B = x0.shape[0]
        z = torch.zeros(B, device=x0.device, dtype=x0.dtype)
        return {"f_avg": z.clone(), "d": torch.zeros_like(x0), "gamma": z.clone(), "lb": hp["lb"].clone()}

    def _step(self, state, grad, loss, out=NO_OUT):
        hp = state["hp"]
        beta = hp["beta"]
        x = state["x"]
        k = state["k"] + 1
        loss = loss.to(x.dtype)
        tmp = out.get("tmp")
        gx = dot(x, grad, tmp)
        f_avg, d, gamma = state["f_avg"], state["d"], state["gamma"]
        if k == 1 and not self.bias_correction:
            # momo-opt starts the EMAs at the first sample, then applies the EMA update once.
            f_avg, d, gamma = loss, grad, gx
        # addcmul/addcdiv: the fused forms round like momo-opt's add_(alpha=)/addcdiv_, so the
        # cross-check agrees to the last bit (knife-edge branches of use_fstar then agree too).
        f_avg = beta * f_avg + (1 - beta) * loss
        d = torch.addcmul(torch.mul(per_run(beta), d, out=out.get("d")), per_run(1 - beta), grad, out=out.get("d"))
        gamma = torch.addcmul(beta * gamma, 1 - beta, gx)
        rho = 1 - beta**k if self.bias_correction else torch.ones_like(beta)
        d_norm_sq = dot(d, d, tmp)
        tau, t1, h, nom, lb, lb_next = _polyak_step(state, hp, x, d, d_norm_sq, f_avg, gamma, rho, self.use_fstar, tmp)
        x_new = torch.div(torch.addcmul(x, per_run(-tau), d, out=out.get("x")), per_run(1 + hp["lr"] * hp["weight_decay"]),
                          out=out.get("x"))
        new = {"x": x_new, "f_avg": f_avg, "d": d, "gamma": gamma, "lb": lb_next}
        info = {"tau": tau, "t1": t1, "h": h, "nom": nom, "rho": rho, "lb": lb, "lb_next": lb_next,
                "f_avg": f_avg, "d_norm_sq": d_norm_sq}
        return new, info


@register("momo_adam")
class MomoAdam(Optimizer):
    """MoMo-Adam as in momo-opt 0.1.0 ``MomoAdam`` (update in the module docstring).

    Options: ``divide`` (proximal weight decay, default True; False: AdamW-style decay),
    ``use_fstar`` (online lower-bound estimate; default False).
    Hyper-parameters: lr, beta1, beta2, eps, weight_decay, lb. ``info`` as for ``momo``, with
    d_norm_sq = ||d_k||^2 in the D_k^{-1} norm.
    """

    reference = _REFERENCE
    needs_loss = True
    state_type = MomoAdamState
    info_type = MomoInfo
    donates = True
    example_hp = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "lb": 0.0}
    hyperparams = {
        "lr": nonneg(1e-2, "alpha: cap on the step, alpha / (1 - beta1^k)"),
        "beta1": unit(0.9, "EMA weight of loss, gradient and <g, x>"),
        "beta2": unit(0.999, "EMA weight of g^2"),
        "eps": nonneg(1e-8, "added to sqrt(v_hat) in D_k"),
        "weight_decay": nonneg(0.0, "lambda"),
        "lb": HP(0.0, -math.inf, math.inf, low_open=True, high_open=True, doc="f_*: lower bound on the loss (the floor of the estimate with use_fstar)"),
    }

    def __init__(self, divide: bool = True, use_fstar: bool = False):
        self.divide = _check_flag("momo_adam", "divide", divide)
        self.use_fstar = _check_flag("momo_adam", "use_fstar", use_fstar)
        self.name = "momo_adam_star" if use_fstar else "momo_adam"

    def __repr__(self) -> str:
        return f"MomoAdam(divide={self.divide}, use_fstar={self.use_fstar})"

    def _init(self, x0, hp, **extra):
        if "betas" in extra:
            raise RatecheckError("momo_adam: pass beta1 and beta2 separately (each a scalar or a tensor [B]), not betas")
        super()._init(x0, hp, **extra)
        B = x0.shape[0]
        z = torch.zeros(B, device=x0.device, dtype=x0.dtype)
        return {"f_avg": z.clone(), "d": torch.zeros_like(x0), "v": torch.zeros_like(x0), "gamma": z.clone(),
                "lb": hp["lb"].clone()}

    def _step(self, state, grad, loss, out=NO_OUT):
        hp = state["hp"]
        b1, b2, eps = hp["beta1"], hp["beta2"], hp["eps"]
        lr, wd = hp["lr"], hp["weight_decay"]
        x = state["x"]
        k = state["k"] + 1
        loss = loss.to(x.dtype)
        tmp, tmp2 = out.get("tmp"), out.get("tmp2")  # the workspace, holding each [B, d] temporary in turn
        d = torch.addcmul(torch.mul(per_run(b1), state["d"], out=out.get("d")), per_run(1 - b1), grad, out=out.get("d"))
        v = torch.addcmul(torch.mul(per_run(b2), state["v"], out=out.get("v")), torch.mul(per_run(1 - b2), grad, out=tmp), grad,
                          out=out.get("v"))
        gamma = torch.addcmul(b1 * state["gamma"], 1 - b1, dot(x, grad, tmp))
        f_avg = (1 - b1) * loss + b1 * state["f_avg"]
        rho = 1 - b1**k
        D = torch.add(torch.sqrt(torch.div(v, per_run(1 - b2**k), out=tmp), out=tmp), per_run(eps), out=tmp)
        d_norm_sq = dot(d, torch.div(d, D, out=tmp2), tmp2)
        tau, t1, h, nom, lb, lb_next = _polyak_step(state, hp, x, d, d_norm_sq, f_avg, gamma, rho, self.use_fstar, tmp2)
        step = torch.mul(per_run(-tau), d, out=tmp2)
        if self.divide:
            x_new = torch.div(torch.addcdiv(x, step, D, out=out.get("x")), per_run(1 + wd * lr), out=out.get("x"))
        else:
            x_new = torch.addcdiv(torch.mul(x, per_run(1 - wd * lr), out=out.get("x")), step, D, out=out.get("x"))
        new = {"x": x_new, "f_avg": f_avg, "d": d, "v": v, "gamma": gamma, "lb": lb_next}
        info = {"tau": tau, "t1": t1, "h": h, "nom": nom, "rho": rho, "lb": lb, "lb_next": lb_next,
                "f_avg": f_avg, "d_norm_sq": d_norm_sq}
        return new, info


@register("momo_star")
def momo_star(**options: Any) -> Momo:
    """MoMo* : MoMo with the online lower-bound estimate (``use_fstar=True``)."""
    if "use_fstar" in options:
        raise RatecheckError("momo_star: use_fstar is always True here; use 'momo' for a fixed lower bound")
    return Momo(use_fstar=True, **options)


@register("momo_adam_star")
def momo_adam_star(**options: Any) -> MomoAdam:
    """MoMo-Adam* : MoMo-Adam with the online lower-bound estimate (``use_fstar=True``)."""
    if "use_fstar" in options:
        raise RatecheckError("momo_adam_star: use_fstar is always True here; use 'momo_adam' for a fixed lower bound")
    return MomoAdam(use_fstar=True, **options)
