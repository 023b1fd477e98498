"""D-Adaptation (Defazio & Mishchenko, arXiv 2301.07733), batched: the paper's algorithms and
the authors' code versions (``dadaptation`` 3.2).

Registered names:

- ``dadapt_da``: Algorithm 1, dual averaging; options ``option="I"|"II"`` (the estimate
  d-hat or the tighter d-tilde of v1 App. E.1) and ``G_term`` (step size (1) with G) [PAPER, v1];
- ``dadapt_adagrad``: Algorithm 2, D-Adapted AdaGrad (coordinate-wise, l_inf distance) [PAPER, v1];
- ``dadapt_gd``: the gradient-descent form (step d_k / sqrt(G^2 + sum ||g_i||^2)) [SECONDARY +
  DERIVED, docs/references/dadaptation.md §1.4];
- ``dadapt_sgd_code``, ``dadapt_adam_code``, ``dadapt_adagrad_code``: ``DAdaptSGD``,
  ``DAdaptAdam``, ``DAdaptAdaGrad`` of ``facebookresearch/dadaptation`` 3.2 [CODE], one
  reference optimizer over one parameter tensor per run (the code's scalars d, numerator, ...
  are global over all parameters; here a run is one parameter vector).

Notation (paper): g_k the (sub)gradient at x_k, s_k the weighted gradient sum, d_k the
estimate of D = ||x_0 - x_*|| used at step k, d-hat_{k+1} the new lower bound, and
d_{k+1} = max(d_k, d-hat_{k+1}). An estimate with a zero denominator (no progress yet) is
undefined: reported as NaN in ``info`` and d is left unchanged.
"""

from __future__ import annotations

import math

import torch

from ratecheck.errors import unknown

from .base import (NO_OUT, BaseState, DecayPaths, Optimizer, decay_paths, dot, freeze, nonneg, per_run, positive, register,
                   scaled_sum, unit)
from .blocks import (FLAG, EstimateInfo, GDFormInfo, GDFormState, GTerm, bias_correction, check_flags, d0_hp, gd_form_step,
                     growth_hp, inv_sqrt_or_zero, raise_d, raise_d_capped, ratio)

Tensor = torch.Tensor

__all__ = [
    "DAdaptDualAveraging",
    "DAdaptAdaGradPaper",
    "DAdaptGD",
    "DAdaptSGDCode",
    "DAdaptAdamCode",
    "DAdaptAdaGradCode",
]

class DAdaptDAState(BaseState):
    x0: Tensor
    s: Tensor
    d: Tensor
    gamma: Tensor
    numerator: Tensor
    weighted_sq: Tensor
    grad_sq_sum: Tensor
    x_avg: Tensor
    d_sum: Tensor
    stopped: Tensor


class DAdaptDAInfo(EstimateInfo):
    d_hat_I: Tensor
    d_hat_II: Tensor
    gamma: Tensor
    lr: Tensor
    numerator: Tensor
    weighted_sq: Tensor
    grad_sq_sum: Tensor
    s_norm: Tensor


@register("dadapt_da")
class DAdaptDualAveraging(GTerm):
    r"""D-Adaptation by dual averaging, Algorithm 1 of arXiv 2301.07733 [PAPER, v1].

    With s_0 = 0, \gamma_0 = 1/||g_0|| (``G_term``: 1/G), weights \lambda_k = d_k:

        s_{k+1} = s_k + d_k g_k
        \gamma_{k+1} = 1 / sqrt(\sum_{i<=k} ||g_i||^2)          (G_term: 1/sqrt(G^2 + \sum))
        option I:  d-hat_{k+1} = (\gamma_{k+1}||s_{k+1}||^2 - \sum_{i<=k} \gamma_i d_i^2 ||g_i||^2) / (2||s_{k+1}||)
        option II: d-tilde_{k+1} = \sum_{i<=k} d_i \gamma_i <g_i, s_i> / ||s_{k+1}||   (v1 App. E.1)
        d_{k+1} = max(d_k, d-hat_{k+1});   x_{k+1} = x_0 - \gamma_{k+1} s_{k+1}

    The output x-hat_n = \sum d_k x_k / \sum d_k is kept in ``state["x_avg"]``. A run whose
    first gradient is zero stops at x_0, as the paper's box says ("exit with x_0").

    ``info`` (per run, step k): ``d`` = d_k, ``d_next`` = d_{k+1}, ``d_hat`` = the chosen
    option's estimate, ``d_hat_I``/``d_hat_II`` = both estimates (Lemma 4: II >= I),
    ``gamma`` = \gamma_k, ``lr`` = \gamma_{k+1} (the dual step multiplying s_{k+1}),
    ``numerator`` = \sum_{i<=k} d_i\gamma_i<g_i,s_i>, ``weighted_sq`` =
    \sum_{i<=k}\gamma_i d_i^2||g_i||^2, ``grad_sq_sum`` = \sum_{i<=k}||g_i||^2, ``s_norm`` =
    ||s_{k+1}||.
    """

    name = "dadapt_da"
    reference = "Defazio & Mishchenko, arXiv 2301.07733, Algorithm 1 (options I/II, App. E.1)"
    state_type = DAdaptDAState
    info_type = DAdaptDAInfo
    own_hyperparams = {"d0": d0_hp()}
    own_example_hp = {"d0": 1e-3}

    def __init__(self, option: str = "I", G_term: bool = False):
        if option not in ("I", "II"):
            raise unknown("dadapt_da option", option, ("I", "II"))
        self.option = option
        self.G_term = bool(G_term)

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        z = torch.zeros_like(x0[:, 0])
        return {
            "x0": x0.clone(), "s": torch.zeros_like(x0), "d": hp["d0"].clone(), "gamma": z,
            "numerator": z, "weighted_sq": z, "grad_sq_sum": z, "x_avg": x0.clone(), "d_sum": z,
            "stopped": torch.zeros_like(z, dtype=torch.bool),
        }

    def _step(self, state, grad, loss):
        hp, x, d = state["hp"], state["x"], state["d"]
        gsq = dot(grad, grad)
        stopped = state["stopped"]
        if state["k"] == 0:
            # gamma_0 needs ||g_0||; a zero first gradient ends the run at x_0.
            gamma = 1.0 / hp["G"] if self.G_term else inv_sqrt_or_zero(gsq)
            if not self.G_term:
                stopped = stopped | (gsq == 0)
        else:
            gamma = state["gamma"]
        numerator = state["numerator"] + d * gamma * dot(grad, state["s"])
        weighted_sq = state["weighted_sq"] + gamma * d * d * gsq
        s = state["s"] + per_run(d) * grad
        grad_sq_sum = state["grad_sq_sum"] + gsq
        gamma_next = inv_sqrt_or_zero(hp["G"] ** 2 + grad_sq_sum if self.G_term else grad_sq_sum)
        s_norm = torch.sqrt(dot(s, s))
        d_hat_1 = ratio(gamma_next * s_norm * s_norm - weighted_sq, 2 * s_norm)
        d_hat_2 = ratio(numerator, s_norm)
        d_hat = d_hat_1 if self.option == "I" else d_hat_2
        d_sum = state["d_sum"] + d
        new = {
            "x": state["x0"] - per_run(gamma_next) * s, "x0": state["x0"], "s": s, "d": raise_d(d, d_hat),
            "gamma": gamma_next, "numerator": numerator, "weighted_sq": weighted_sq,
            "grad_sq_sum": grad_sq_sum, "x_avg": state["x_avg"] + per_run(d / d_sum) * (x - state["x_avg"]),
            "d_sum": d_sum, "stopped": stopped,
        }
        new = freeze(new, state, stopped, tuple(k for k in new if k != "stopped"))
        nan = torch.full_like(d, math.nan)
        info = {
            "d": d, "d_next": new["d"],
            "d_hat": torch.where(stopped, nan, d_hat),
            "d_hat_I": torch.where(stopped, nan, d_hat_1), "d_hat_II": torch.where(stopped, nan, d_hat_2),
            "gamma": torch.where(stopped, torch.zeros_like(gamma), gamma), "lr": new["gamma"],
            "numerator": new["numerator"], "weighted_sq": new["weighted_sq"],
            "grad_sq_sum": new["grad_sq_sum"], "s_norm": torch.where(stopped, torch.zeros_like(s_norm), s_norm),
        }
        return new, info


class DAdaptAdaGradState(BaseState):
    x0: Tensor
    s: Tensor
    a_sq: Tensor
    d: Tensor
    weighted_sq: Tensor
    x_avg: Tensor
    d_sum: Tensor


class DAdaptAdaGradInfo(EstimateInfo):
    s_l1: Tensor
    s_weighted_sq: Tensor
    weighted_sq: Tensor
    a_l1: Tensor
    g_inf: Tensor


@register("dadapt_adagrad")
class DAdaptAdaGradPaper(Optimizer):
    r"""D-Adapted AdaGrad, Algorithm 2 of arXiv 2301.07733 [PAPER, v1] (l_inf distance).

    With s_0 = 0, a_0 = G_inf (every coordinate), A_k = diag(a_k), ||v||^2_{A^{-1}} = \sum v_j^2/a_j:

        s_{k+1} = s_k + d_k g_k;   a_{k+1}^2 = a_k^2 + g_k^2 (elementwise)
        d-hat_{k+1} = (||s_{k+1}||^2_{A_{k+1}^{-1}} - \sum_{i<=k} d_i^2 ||g_i||^2_{A_i^{-1}}) / (2||s_{k+1}||_1)
        d_{k+1} = max(d_k, d-hat_{k+1});   x_{k+1} = x_0 - A_{k+1}^{-1} s_{k+1}

    Output x-hat_n = \sum d_k x_k / \sum d_k in ``state["x_avg"]``. Theorem 3/18 need
    G_inf >= max ||grad f||_inf and d_0 <= D_inf.

    ``info``: ``d`` = d_k, ``d_next`` = d_{k+1}, ``d_hat``, ``s_l1`` = ||s_{k+1}||_1,
    ``s_weighted_sq`` = ||s_{k+1}||^2_{A_{k+1}^{-1}}, ``weighted_sq`` =
    \sum_{i<=k} d_i^2||g_i||^2_{A_i^{-1}}, ``a_l1`` = ||a_{k+1}||_1, ``g_inf`` = ||g_k||_inf =
    max_j |g_kj| (its running maximum must stay <= G_inf for Lemma 17 and Theorem 18; recorded
    so that theory can check that without the iterates). There is no scalar step (the step is
    the matrix A^{-1}), so no ``lr``.
    """

    name = "dadapt_adagrad"
    reference = "Defazio & Mishchenko, arXiv 2301.07733, Algorithm 2"
    hyperparams = {"d0": d0_hp(), "G_inf": positive(None, "bound on ||g||_inf; a_0 = G_inf")}
    state_type = DAdaptAdaGradState
    info_type = DAdaptAdaGradInfo
    example_hp = {"d0": 1e-3, "G_inf": 2.0}

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        z = torch.zeros_like(x0[:, 0])
        a_sq = (hp["G_inf"] ** 2)[:, None].expand_as(x0).clone()
        return {"x0": x0.clone(), "s": torch.zeros_like(x0), "a_sq": a_sq, "d": hp["d0"].clone(),
                "weighted_sq": z, "x_avg": x0.clone(), "d_sum": z}

    def _step(self, state, grad, loss):
        d, x = state["d"], state["x"]
        g2 = grad * grad
        weighted_sq = state["weighted_sq"] + d * d * (g2 / torch.sqrt(state["a_sq"])).sum(dim=-1)
        s = state["s"] + per_run(d) * grad
        a_sq = state["a_sq"] + g2
        a = torch.sqrt(a_sq)
        s_weighted_sq = (s * s / a).sum(dim=-1)
        s_l1 = s.abs().sum(dim=-1)
        d_hat = ratio(s_weighted_sq - weighted_sq, 2 * s_l1)
        d_sum = state["d_sum"] + d
        new = {
            "x": state["x0"] - s / a, "x0": state["x0"], "s": s, "a_sq": a_sq, "d": raise_d(d, d_hat),
            "weighted_sq": weighted_sq, "x_avg": state["x_avg"] + per_run(d / d_sum) * (x - state["x_avg"]), "d_sum": d_sum,
        }
        info = {"d": d, "d_next": new["d"], "d_hat": d_hat, "s_l1": s_l1, "s_weighted_sq": s_weighted_sq,
                "weighted_sq": weighted_sq, "a_l1": a.sum(dim=-1), "g_inf": grad.abs().amax(dim=-1)}
        return new, info


class DAdaptGDState(GDFormState):
    grad_sq_sum: Tensor


class DAdaptGDInfo(GDFormInfo):
    grad_sq_sum: Tensor


@register("dadapt_gd")
class DAdaptGD(GTerm):
    r"""D-Adaptation in gradient-descent form [SECONDARY step; DERIVED estimate, docs/references/dadaptation.md §1.4].

        \lambda_k = d_k / sqrt(G^2 + \sum_{i<=k} ||g_i||^2)   (without ``G_term``: no G^2)
        x_{k+1} = x_k - \lambda_k g_k
        d-hat_{k+1} = \sum_{i<=k} \lambda_i <g_i, x_0 - x_i> / ||x_{k+1} - x_0||
                    (= (||s_{k+1}||^2 - \sum \lambda_i^2||g_i||^2) / (2||s_{k+1}||), s_{k+1} = x_0 - x_{k+1})
        d_{k+1} = max(d_k, d-hat_{k+1})

    The final paper's statement (rate O(DG log(n+2)/sqrt(n+1))) and its averaging weights are
    not confirmed here; ``G_term=True`` (default) is the form quoted by secondary sources.

    ``info``: ``d``, ``d_next``, ``d_hat``, ``lr`` = \lambda_k, ``numerator`` =
    \sum_{i<=k}\lambda_i<g_i,x_0-x_i>, ``s_norm`` = ||x_{k+1}-x_0||, ``sum_lr2_g2`` =
    \sum_{i<=k}\lambda_i^2||g_i||^2, ``grad_sq_sum`` = \sum_{i<=k}||g_i||^2.
    """

    name = "dadapt_gd"
    reference = "Defazio & Mishchenko, arXiv 2301.07733 (final version), GD variant"
    state_type = DAdaptGDState
    info_type = DAdaptGDInfo
    own_hyperparams = {"d0": d0_hp()}
    own_example_hp = {"d0": 1e-3}

    def __init__(self, G_term: bool = True):
        self.G_term = bool(G_term)

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        z = torch.zeros_like(x0[:, 0])
        return {"x0": x0.clone(), "d": hp["d0"].clone(), "numerator": z, "sum_lr2_g2": z, "grad_sq_sum": z}

    def _step(self, state, grad, loss):
        hp, d = state["hp"], state["d"]
        gsq = dot(grad, grad)
        grad_sq_sum = state["grad_sq_sum"] + gsq
        lam = d * inv_sqrt_or_zero(hp["G"] ** 2 + grad_sq_sum if self.G_term else grad_sq_sum)
        return gd_form_step(state, grad, lam, gsq, grad_sq_sum=grad_sq_sum)


# --------------------------------------------------------------------------------------------
# The authors' code versions (facebookresearch/dadaptation 3.2)
# --------------------------------------------------------------------------------------------


class DAdaptSGDCodeState(BaseState):
    x0: Tensor
    s: Tensor
    d: Tensor
    numerator: Tensor
    g0_norm: Tensor
    stopped: Tensor


class DAdaptSGDCodeInfo(EstimateInfo):
    lr: Tensor
    numerator: Tensor
    s_norm: Tensor
    g0_norm: Tensor


@register("dadapt_sgd_code")
class DAdaptSGDCode(Optimizer):
    r"""``dadaptation.DAdaptSGD`` (package 3.2) on one parameter vector per run [CODE].

    With \gamma = ``lr``, G_0 = ||g_0|| taken once at k = 0 *before* weight decay (the code
    adds decay out of place there), g_k <- g_k + wd x_k afterwards:

        dlr_k = d_k \gamma / G_0
        num_{k+1} = num_k + dlr_k <g_k, s_k>;   s_{k+1} = s_k + dlr_k g_k
        d-hat_{k+1} = 2 num_{k+1} / ||s_{k+1}||;   d_{k+1} = max(d_k, min(d-hat_{k+1}, d_k growth_rate))
        z_{k+1} = x_0 - s_{k+1};   x_{k+1} = (1 - c) x_k + c z_{k+1},  c = 1 - momentum

    With momentum 0 this is v1 Algorithm 3 (SGD, \lambda_k = d_k\gamma/||g_0||) written in the
    inner-product form. Deviation: where ||g_0|| = 0 the package raises ZeroDivisionError;
    here that run stops at x_0 (the paper's "exit with x_0").

    ``info``: ``d`` = d_k, ``d_next`` = d_{k+1} (``param_groups[0]['d']``), ``d_hat``,
    ``lr`` = dlr_k, ``numerator`` = num_{k+1} (``numerator_weighted``), ``s_norm`` =
    ||s_{k+1}||, ``g0_norm`` = G_0.
    """

    name = "dadapt_sgd_code"
    reference = "facebookresearch/dadaptation 3.2, dadaptation/dadapt_sgd.py (DAdaptSGD)"
    hyperparams = {
        "lr": positive(1.0, "multiplier on the adapted step"),
        "momentum": unit(0.0, "primal-averaging momentum"),
        "weight_decay": nonneg(0.0, "coupled L2 decay added to the gradient"),
        "d0": d0_hp(),
        "growth_rate": growth_hp(),
    }
    state_type = DAdaptSGDCodeState
    info_type = DAdaptSGDCodeInfo
    donates = True
    example_hp = {"lr": 1.0, "momentum": 0.5, "d0": 1e-3}

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        z = torch.zeros_like(x0[:, 0])
        return {"x0": x0.clone(), "s": torch.zeros_like(x0), "d": hp["d0"].clone(), "numerator": z,
                "g0_norm": z, "stopped": torch.zeros_like(z, dtype=torch.bool)}

    def _step(self, state, grad, loss, out=NO_OUT):
        hp, x, d = state["hp"], state["x"], state["d"]
        tmp, tmp2 = out.get("tmp"), out.get("tmp2")  # the workspace: tmp holds g + wd x, then z
        stopped = state["stopped"]
        if state["k"] == 0:
            g0_norm = torch.sqrt(dot(grad, grad, tmp2))
            stopped = stopped | (g0_norm == 0)
        else:
            g0_norm = state["g0_norm"]
        grad = torch.add(grad, torch.mul(per_run(hp["weight_decay"]), x, out=tmp), out=tmp)
        dlr = d * hp["lr"] / torch.where(g0_norm > 0, g0_norm, torch.ones_like(g0_norm))
        numerator = state["numerator"] + dlr * dot(grad, state["s"], tmp2)
        s = torch.add(state["s"], torch.mul(per_run(dlr), grad, out=tmp2), out=out.get("s"))
        s_sq = dot(s, s, tmp2)
        s_norm = torch.sqrt(s_sq)
        d_hat = ratio(2 * numerator, s_norm)
        ck = 1 - hp["momentum"]
        z = torch.sub(state["x0"], s, out=tmp)
        x_new = scaled_sum(per_run(1 - ck), x, per_run(ck), z, out=out.get("x"), scratch=tmp)
        new = {"x": x_new, "x0": state["x0"], "s": s,
               "d": raise_d_capped(d, d_hat, hp["growth_rate"]), "numerator": numerator,
               "g0_norm": g0_norm, "stopped": stopped}
        # Zero ||s||: the package would divide by zero; nothing has moved yet, so keep the run.
        # (||s||^2 = 0 tests the same: compiled, the mask is evaluated per vector of entries.)
        new = freeze(new, state, stopped | (s_sq == 0), tuple(k for k in new if k != "stopped"))
        info = {"d": d, "d_next": new["d"], "d_hat": torch.where(stopped, torch.full_like(d, math.nan), d_hat),
                "lr": torch.where(stopped, torch.zeros_like(dlr), dlr), "numerator": new["numerator"],
                "s_norm": torch.sqrt(dot(new["s"], new["s"], tmp2)), "g0_norm": g0_norm}
        return new, info


class DAdaptAdamCodeState(BaseState, DecayPaths):
    s: Tensor
    m: Tensor
    v: Tensor
    d: Tensor
    numerator: Tensor
    t: Tensor


class DAdaptAdamCodeInfo(EstimateInfo):
    lr: Tensor
    numerator: Tensor
    s_l1: Tensor


@register("dadapt_adam_code")
class DAdaptAdamCode(Optimizer):
    r"""``dadaptation.DAdaptAdam`` (package 3.2, layer_scale = 1) on one parameter vector per run [CODE].

    bc_k = sqrt(1-\beta_2^{k+1})/(1-\beta_1^{k+1}) if ``use_bias_correction`` else 1;
    dlr_k = d_k \gamma bc_k; coupled decay g <- g + wd x unless ``decouple``; A_k = sqrt(v_k) + eps
    with the *previous* v (issue #38):

        m_{k+1} = \beta_1 m_k + (1-\beta_1) dlr_k g_k;   v_{k+1} = \beta_2 v_k + (1-\beta_2) g_k^2
        s_{k+1} = \sqrt{\beta_2} s_k + (1-\sqrt{\beta_2}) dlr_k g_k
        num_{k+1} = \sqrt{\beta_2} num_k + (1-\sqrt{\beta_2}) dlr_k <g_k, s_k / A_k>
        d-hat_{k+1} = num_{k+1} / ((1-\sqrt{\beta_2}) ||s_{k+1}||_1)
        d_{k+1} = max(d_k, min(d-hat_{k+1}, d_k growth_rate))
        x_{k+1} = x_k - [decouple] wd dlr_k x_k - m_{k+1} / (sqrt(v_{k+1}) + eps)

    If ||s_{k+1}||_1 = 0 the step changes nothing (as the package returns early). This is not
    v1 Algorithm 4 (that one is ``dadaptation.experimental.DAdaptAdamPreprint``): see
    docs/optimizers_dadapt_prodigy.md. Flags ``decouple`` and ``use_bias_correction`` are 0/1
    hyper-parameters so a batch can sweep them.

    ``info``: ``d`` = d_k, ``d_next`` = d_{k+1}, ``d_hat``, ``lr`` = dlr_k, ``numerator`` =
    num_{k+1} (``numerator_weighted``), ``s_l1`` = ||s_{k+1}||_1.
    """

    name = "dadapt_adam_code"
    reference = "facebookresearch/dadaptation 3.2, dadaptation/dadapt_adam.py (DAdaptAdam)"
    hyperparams = {
        "lr": positive(1.0, "multiplier on the adapted step"),
        "beta1": unit(0.9, "first-moment EMA rate"),
        "beta2": unit(0.999, "second-moment EMA rate"),
        "eps": positive(1e-8, "added to sqrt(v)"),
        "weight_decay": nonneg(0.0, "L2 decay (coupled unless decouple)"),
        "decouple": FLAG,
        "use_bias_correction": FLAG,
        "d0": d0_hp(),
        "growth_rate": growth_hp(),
    }
    state_type = DAdaptAdamCodeState
    info_type = DAdaptAdamCodeInfo
    donates = True
    example_hp = {"d0": 1e-3, "beta1": 0.9, "beta2": 0.99}

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        check_flags(self, hp, ("decouple", "use_bias_correction"))
        z = torch.zeros_like(x0[:, 0])
        zx = torch.zeros_like(x0)
        return {"s": zx, "m": zx, "v": zx, "d": hp["d0"].clone(), "numerator": z, "t": z, **decay_paths(hp, "decouple")}

    def _step(self, state, grad, loss, out=NO_OUT):
        hp, x, d = state["hp"], state["x"], state["d"]
        decouple = per_run(hp["decouple"]) == 1
        b1, b2 = per_run(hp["beta1"]), per_run(hp["beta2"])
        sb2 = torch.sqrt(hp["beta2"])
        eps = per_run(hp["eps"])
        dlr = d * hp["lr"] * bias_correction(hp, state["t"])
        wd = per_run(hp["weight_decay"])
        if state["coupled_wd"]:
            grad = torch.where(decouple, grad, grad + wd * x)
        # tmp holds each [B, d] temporary in turn: s / (sqrt(v) + eps), |s_{k+1}|, the direction
        tmp = out.get("tmp")
        ip = dot(grad, torch.div(state["s"], torch.add(torch.sqrt(state["v"], out=tmp), eps, out=tmp), out=tmp), scratch=tmp)
        scratch = out.get("tmp2")
        m = scaled_sum(b1, state["m"], per_run(dlr * (1 - hp["beta1"])), grad, out=out.get("m"), scratch=scratch)
        v = scaled_sum(b2, state["v"], 1 - b2, grad, grad, out=out.get("v"), scratch=scratch)
        s = scaled_sum(per_run(sb2), state["s"], per_run(dlr * (1 - sb2)), grad, out=out.get("s"), scratch=scratch)
        s_l1 = torch.abs(s, out=tmp).sum(dim=-1)
        numerator = sb2 * state["numerator"] + (1 - sb2) * (dlr * ip)
        d_hat = ratio(numerator, (1 - sb2) * s_l1)
        if state["decoupled_wd"]:
            x = torch.where(decouple, x - per_run(hp["weight_decay"] * dlr) * x, x)
        direction = torch.div(m, torch.add(torch.sqrt(v, out=tmp), eps, out=tmp), out=tmp)
        x_new = torch.sub(x, direction, out=out.get("x"))  # x - m / (sqrt(v) + eps)
        new = {"x": x_new, "s": s, "m": m, "v": v, "d": raise_d_capped(d, d_hat, hp["growth_rate"]),
               "numerator": numerator, "t": state["t"] + 1,
               "coupled_wd": state["coupled_wd"], "decoupled_wd": state["decoupled_wd"]}
        new = freeze(new, state, s_l1 == 0)
        info = {"d": d, "d_next": new["d"], "d_hat": d_hat, "lr": dlr, "numerator": new["numerator"], "s_l1": s_l1}
        return new, info


class DAdaptAdaGradCodeState(BaseState):
    any_momentum: bool  # some run has momentum > 0 (decided once at init)
    any_no_momentum: bool  # some run has momentum = 0
    x0: Tensor
    s: Tensor
    alpha: Tensor
    d: Tensor
    s_weighted_sq: Tensor
    s_l1: Tensor
    g_weighted_sq: Tensor


class DAdaptAdaGradCodeInfo(EstimateInfo):
    lr: Tensor
    s_l1: Tensor
    s_weighted_sq: Tensor
    g_weighted_sq: Tensor


@register("dadapt_adagrad_code")
class DAdaptAdaGradCode(Optimizer):
    r"""``dadaptation.DAdaptAdaGrad`` (package 3.2, dense gradients) on one parameter vector per run [CODE].

    dlr_k = d_k \gamma; g <- g + wd x; \alpha_0 = 10^{-6} (hard-coded); A_k = sqrt(\alpha_k) + eps:

        \alpha_{k+1} = \alpha_k + g_k^2;   s_{k+1} = s_k + dlr_k g_k
        Q_{k+1} = Q_k + dlr_k^2 ||g_k||^2_{A_{k+1}^{-1}}
        d-hat_{k+1} = (||s_{k+1}||^2_{A_{k+1}^{-1}} - Q_{k+1}) / ||s_{k+1}||_1
        d_{k+1} = max(d_k, min(d-hat_{k+1}, d_k growth_rate))
        z = x_0 - A_{k+1}^{-1} s_{k+1};   x_{k+1} = z if momentum = 0 else (1-c) x_k + c z, c = 1 - momentum

    As in the package, ||s||^2_{A^{-1}} and ||s||_1 are tracked incrementally (old value plus the
    change of this step), and a step with ||s||_1 = 0 changes nothing. Differences from
    Algorithm 2: no factor 2, A_{k+1} (not A_i) in Q, a_0 = 1e-3 + eps instead of G_inf.

    ``info``: ``d``, ``d_next``, ``d_hat``, ``lr`` = dlr_k, ``s_l1`` (``skl1``),
    ``s_weighted_sq`` (``sksq_weighted``), ``g_weighted_sq`` = Q_{k+1} (``gsq_weighted``).
    """

    name = "dadapt_adagrad_code"
    reference = "facebookresearch/dadaptation 3.2, dadaptation/dadapt_adagrad.py (DAdaptAdaGrad)"
    hyperparams = {
        "lr": positive(1.0, "multiplier on the adapted step"),
        "momentum": unit(0.0, "primal-averaging momentum"),
        "weight_decay": nonneg(0.0, "coupled L2 decay added to the gradient"),
        "eps": positive(1e-6, "added to sqrt(alpha)"),
        "d0": d0_hp(),
        "growth_rate": growth_hp(),
    }
    state_type = DAdaptAdaGradCodeState
    info_type = DAdaptAdaGradCodeInfo
    donates = True
    example_hp = {"d0": 1e-3}

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        z = torch.zeros_like(x0[:, 0])
        mom = hp["momentum"]
        return {"x0": x0.clone(), "s": torch.zeros_like(x0), "alpha": torch.full_like(x0, 1e-6),
                "d": hp["d0"].clone(), "s_weighted_sq": z, "s_l1": z, "g_weighted_sq": z,
                "any_momentum": bool((mom > 0).any()), "any_no_momentum": bool((mom == 0).any())}

    def _step(self, state, grad, loss, out=NO_OUT):
        hp, x, d = state["hp"], state["x"], state["d"]
        any_m, any_no_m = state["any_momentum"], state["any_no_momentum"]
        # The workspace (tmp, tmp2) and two donated buffers hold the temporaries: alpha's buffer
        # holds sqrt(alpha_k) + eps until alpha_{k+1} is written, x's buffer holds A_{k+1} until
        # x_{k+1} is; tmp holds g + wd x, then the terms of s_{k+1}, then z.
        tmp, tmp2, x_out, a_out = out.get("tmp"), out.get("tmp2"), out.get("x"), out.get("alpha")
        eps = per_run(hp["eps"])
        dlr = d * hp["lr"]
        grad = torch.add(grad, torch.mul(per_run(hp["weight_decay"]), x, out=tmp), out=tmp)
        s_old = state["s"]
        old_w = torch.div(torch.mul(s_old, s_old, out=tmp2), torch.add(torch.sqrt(state["alpha"], out=a_out), eps, out=a_out),
                          out=tmp2).sum(dim=-1)
        old_l1 = torch.abs(s_old, out=tmp2).sum(dim=-1)
        alpha = torch.add(state["alpha"], torch.mul(grad, grad, out=tmp2), out=a_out)
        A = torch.add(torch.sqrt(alpha, out=x_out), eps, out=x_out)
        g_w = torch.div(torch.mul(grad, grad, out=tmp2), A, out=tmp2).sum(dim=-1)
        s = torch.add(s_old, torch.mul(per_run(dlr), grad, out=tmp2), out=out.get("s"))
        s_weighted_sq = state["s_weighted_sq"] + (torch.div(torch.mul(s, s, out=tmp), A, out=tmp).sum(dim=-1) - old_w)
        s_l1 = state["s_l1"] + (torch.abs(s, out=tmp).sum(dim=-1) - old_l1)
        g_weighted_sq = state["g_weighted_sq"] + dlr * dlr * g_w
        d_hat = ratio(s_weighted_sq - g_weighted_sq, s_l1)
        z = torch.sub(state["x0"], torch.div(s, A, out=tmp), out=tmp if any_m else x_out)
        mom = per_run(hp["momentum"])
        ck = 1 - mom
        if any_m:  # a mixed batch keeps z for the where: the product c z then gets a fresh tensor
            averaged = scaled_sum(1 - ck, x, ck, z, out=x_out, scratch=None if any_no_m else tmp)
            x_new = torch.where(mom == 0, z, averaged) if any_no_m else averaged
        else:
            x_new = z
        new = {"x": x_new, "x0": state["x0"], "s": s, "alpha": alpha, "d": raise_d_capped(d, d_hat, hp["growth_rate"]),
               "s_weighted_sq": s_weighted_sq, "s_l1": s_l1, "g_weighted_sq": g_weighted_sq,
               "any_momentum": any_m, "any_no_momentum": any_no_m}
        new = freeze(new, state, s_l1 == 0)
        info = {"d": d, "d_next": new["d"], "d_hat": d_hat, "lr": dlr, "s_l1": new["s_l1"],
                "s_weighted_sq": new["s_weighted_sq"], "g_weighted_sq": new["g_weighted_sq"]}
        return new, info
