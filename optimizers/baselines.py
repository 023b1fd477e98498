r"""Baselines: Adam, AdaGrad (diagonal and norm) and the Polyak step SPS_max.

Adam and AdaGrad follow torch.optim's semantics exactly (cross-checked step by step in tests);
all three schedule-capable methods take ``get(name, schedule=...)`` like ``sgd``.
"""

from __future__ import annotations

from typing import Any

import torch

from ratecheck.errors import out_of_range

from .base import HP, NO_OUT, BaseState, LRInfo, Optimizer, nonneg, per_run, positive, register, scaled_sum, unit
from .schedules import Scheduled, ScheduledState, carry

Tensor = torch.Tensor


class AdamState(ScheduledState):
    m: Tensor
    v: Tensor
    beta1_pow: Tensor
    beta2_pow: Tensor
    use_wd: bool


class AdagradState(ScheduledState):
    sum: Tensor
    use_wd: bool


class AdagradNormState(ScheduledState):
    sum: Tensor  # b_k^2, [B]


class AdagradNormInfo(LRInfo):
    b: Tensor


class SPSMaxInfo(LRInfo):
    polyak: Tensor


@register("adam")
class Adam(Scheduled):
    r"""Adam with bias correction, as torch.optim.Adam (amsgrad=False, L2 weight decay).

        d_k = g_k + wd x_k,   m_{k+1} = beta1 m_k + (1 - beta1) d_k,
        v_{k+1} = beta2 v_k + (1 - beta2) d_k^2,
        x_{k+1} = x_k - lr_k / (1 - beta1^{k+1}) * m_{k+1} / (sqrt(v_{k+1}) / sqrt(1 - beta2^{k+1}) + eps)

    (beta^{k+1} is kept as a running product; torch uses pow, a difference of a few ulps).

    with lr_k = lr * m_k (``schedule``; the refined schedule uses l1 norms, power -1, by default).
    ``betas=(b1, b2)`` is accepted as in torch.

    Provenance: Kingma & Ba, "Adam", arXiv 1412.6980 (Algorithm 1); the eps placement and
    L2 weight decay of torch.optim.Adam ([CODE], ``torch/optim/adam.py``).

    info: ``lr`` = lr_k (before bias correction), [B].
    """

    name = "adam"
    reference = "Kingma & Ba, arXiv 1412.6980; torch.optim.Adam"
    default_power = -1.0
    hyperparams = {
        "lr": positive(1e-3, "base step size"),
        "beta1": unit(0.9, "first-moment decay"),
        "beta2": unit(0.999, "second-moment decay"),
        "eps": nonneg(1e-8, "added to the bias-corrected sqrt(v)"),
        "weight_decay": nonneg(0.0, "L2 weight decay added to the gradient"),
    }
    state_type = AdamState
    info_type = LRInfo
    donates = True
    example_hp = {"lr": 0.05, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 1e-3}

    def init(self, x0: torch.Tensor, **hp: Any):
        if "betas" in hp:
            betas = hp.pop("betas")
            if len(betas) != 2:
                raise out_of_range(f"{self.name}: betas", betas, "a pair (beta1, beta2) in [0, 1)")
            hp["beta1"], hp["beta2"] = betas
        return super().init(x0, **hp)

    def _init(self, x0, hp, **extra):
        state = self._init_schedules(x0, hp, extra)
        super()._init(x0, hp, **extra)
        state["m"] = torch.zeros_like(x0)
        state["v"] = torch.zeros_like(x0)
        state["beta1_pow"] = torch.ones_like(hp["beta1"])
        state["beta2_pow"] = torch.ones_like(hp["beta2"])
        state["use_wd"] = bool((hp["weight_decay"] != 0).any())
        return state

    def _step(self, state, grad, loss, out=NO_OUT):
        hp = state["hp"]
        lr = self._at(state, "lr")
        b1, b2 = hp["beta1"], hp["beta2"]
        x = state["x"]
        d = grad + per_run(hp["weight_decay"]) * x if state["use_wd"] else grad
        # beta^t as a running product: elementwise pow is not bit-reproducible across batch
        # layouts on CPU (vectorised body vs scalar tail), products are.
        p1, p2 = state["beta1_pow"] * b1, state["beta2_pow"] * b2
        m = torch.lerp(state["m"], d, per_run(1.0 - b1), out=out.get("m"))
        v = scaled_sum(state["v"], per_run(b2), per_run(1.0 - b2), d, d, out=out.get("v"), scratch=out.get("tmp"))
        tmp = out.get("tmp")  # the workspace holds the denominator, then the step
        denom = torch.add(torch.div(torch.sqrt(v, out=tmp), per_run((1.0 - p2).sqrt()), out=tmp), per_run(hp["eps"]), out=tmp)
        step = torch.mul(torch.div(m, denom, out=tmp), per_run(lr / (1.0 - p1)), out=tmp)
        x_new = torch.sub(x, step, out=out.get("x"))
        return carry(state, x=x_new, m=m, v=v, beta1_pow=p1, beta2_pow=p2), {"lr": lr}


@register("adagrad")
class Adagrad(Scheduled):
    r"""Diagonal AdaGrad as torch.optim.Adagrad.

        d_k = g_k + wd x_k,   s_{k+1} = s_k + d_k^2  (s_0 = initial_accumulator_value),
        x_{k+1} = x_k - lr_k / (1 + k * lr_decay) * d_k / (sqrt(s_{k+1}) + eps)

    with lr_k = lr * m_k (``schedule``).

    Provenance: Duchi, Hazan & Singer, JMLR 12 (2011); McMahan & Streeter (2010); the lr_decay,
    initial accumulator and eps placement of torch.optim.Adagrad ([CODE], ``torch/optim/adagrad.py``).

    info: ``lr`` = lr_k / (1 + k lr_decay), [B].
    """

    name = "adagrad"
    reference = "Duchi, Hazan & Singer (2011); torch.optim.Adagrad"
    hyperparams = {
        "lr": positive(1e-2, "base step size"),
        "lr_decay": nonneg(0.0, "step k uses lr / (1 + k lr_decay)"),
        "weight_decay": nonneg(0.0, "L2 weight decay added to the gradient"),
        "initial_accumulator_value": nonneg(0.0, "s_0"),
        "eps": nonneg(1e-10, "added to sqrt(s)"),
    }
    state_type = AdagradState
    info_type = LRInfo
    donates = True
    example_hp = {"lr": 0.3, "lr_decay": 0.01, "weight_decay": 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-8}

    def _init(self, x0, hp, **extra):
        state = self._init_schedules(x0, hp, extra)
        super()._init(x0, hp, **extra)
        state["sum"] = per_run(hp["initial_accumulator_value"]).expand_as(x0).clone()
        state["use_wd"] = bool((hp["weight_decay"] != 0).any())
        return state

    def _step(self, state, grad, loss, out=NO_OUT):
        hp = state["hp"]
        x = state["x"]
        d = grad + per_run(hp["weight_decay"]) * x if state["use_wd"] else grad
        clr = self._at(state, "lr") / (1.0 + state["k"] * hp["lr_decay"])
        tmp = out.get("tmp")  # the workspace: d^2, the denominator, the step
        s = torch.add(state["sum"], torch.mul(d, d, out=tmp), out=out.get("sum"))
        std = torch.add(torch.sqrt(s, out=tmp), per_run(hp["eps"]), out=tmp)
        step = torch.mul(per_run(clr), torch.div(d, std, out=tmp), out=tmp)
        return carry(state, x=torch.sub(x, step, out=out.get("x")), sum=s), {"lr": clr}


@register("adagrad_norm")
class AdagradNorm(Scheduled):
    r"""AdaGrad-Norm: one accumulated step size per run.

        b_{k+1}^2 = b_k^2 + ||g_k||^2  (b_0^2 = initial_accumulator_value),
        x_{k+1} = x_k - lr_k / (b_{k+1} + eps) * g_k

    with lr_k = lr * m_k (``schedule``); eps = 0 and b_0 > 0 is the paper's method. On d = 1 it
    coincides with ``adagrad``.

    Provenance: Streeter & McMahan, "Less regret via online conditioning", arXiv 1002.4862;
    Ward, Wu & Bottou, "AdaGrad stepsizes", arXiv 1806.01811 (eq. for b_j); the
    accumulator/eps names follow torch.optim.Adagrad.

    info: ``lr`` = lr_k / (b_{k+1} + eps), ``b`` = b_{k+1}, both [B].
    """

    name = "adagrad_norm"
    reference = "Ward, Wu & Bottou, arXiv 1806.01811"
    hyperparams = {
        "lr": positive(None, "step numerator eta"),
        "initial_accumulator_value": nonneg(0.0, "b_0^2"),
        "eps": nonneg(1e-10, "added to b"),
    }
    state_type = AdagradNormState
    info_type = AdagradNormInfo
    example_hp = {"lr": 0.5, "initial_accumulator_value": 0.01, "eps": 1e-10}

    def _init(self, x0, hp, **extra):
        state = self._init_schedules(x0, hp, extra)
        super()._init(x0, hp, **extra)
        state["sum"] = hp["initial_accumulator_value"].clone()
        return state

    def _step(self, state, grad, loss):
        s = state["sum"] + (grad * grad).sum(dim=-1)
        b = s.sqrt()
        step = self._at(state, "lr") / (b + state["hp"]["eps"])
        return carry(state, x=state["x"] - per_run(step) * grad, sum=s), {"lr": step, "b": b}


@register("sps_max")
class SPSMax(Optimizer):
    r"""Stochastic Polyak step with an upper bound (SPS_max).

        gamma_k = min( gamma_max, max(0, f_k(x_k) - f*) / (c ||g_k||^2) ),   x_{k+1} = x_k - gamma_k g_k,

    with f_k the (minibatch) loss passed to ``step`` and f* the lower bound ``f_star``; a zero
    gradient takes gamma_max (the update is zero anyway).

    ``f_star`` is a hyper-parameter (default 0, a valid lower bound of non-negative losses, the
    paper's interpolation setting); it is NOT filled from the problem, because with minibatches
    the right bound is the component's inf f_i, not the full objective's f*. Pass the problem's
    f_star for the deterministic Polyak step. The max(0, .) only matters when f_star is not a
    lower bound.

    Provenance: Loizou, Vaswani, Laradji & Lacoste-Julien, "Stochastic Polyak step-size for SGD",
    AISTATS 2021, arXiv 2002.10542 (SPS_max, eq. 6; c = 1/2 in the theory); Polyak (1987).

    info: ``lr`` = gamma_k, ``polyak`` = the unclipped step (inf at a zero gradient), both [B].
    """

    name = "sps_max"
    reference = "Loizou et al., arXiv 2002.10542"
    needs_loss = True
    hyperparams = {
        "gamma_max": positive(None, "upper bound on the step"),
        "c": positive(0.5, "Polyak constant c"),
        "f_star": HP(0.0, doc="lower bound on the loss passed to step"),
    }
    state_type = BaseState
    info_type = SPSMaxInfo
    example_hp = {"gamma_max": 1.0, "c": 0.5, "f_star": 0.0}

    def _step(self, state, grad, loss):
        hp = state["hp"]
        gn2 = (grad * grad).sum(dim=-1)
        gap = torch.clamp(loss - hp["f_star"], min=0.0)
        positive_grad = gn2 > 0
        polyak = torch.where(positive_grad, gap / (hp["c"] * torch.where(positive_grad, gn2, 1.0)), torch.inf)
        gamma = torch.minimum(hp["gamma_max"], polyak)
        return {"x": state["x"] - per_run(gamma) * grad}, {"lr": gamma, "polyak": polyak}

