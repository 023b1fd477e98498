"""Modernized Dual Averaging, MDA (Jelassi & Defazio, arXiv 2010.10502), batched."""

from __future__ import annotations


from typing import TypedDict

import torch

from ratecheck.errors import out_of_range

from .base import BaseState, Optimizer, per_run, positive, register, unit

_AVERAGING = ("constant", "lambda")


Tensor = torch.Tensor


class MDAState(BaseState):
    x0: Tensor
    s: Tensor
    S: Tensor


MDAInfo = TypedDict("MDAInfo", {"lr": Tensor, "lambda": Tensor, "beta": Tensor, "c": Tensor})  # "lambda": a keyword


@register("mda")
class MDA(Optimizer):
    """Modernized dual averaging: Nesterov dual averaging with sqrt(k) scaling plus primal averaging.

    With lam_k = lr * sqrt(k+1), s_{-1} = 0, z_0 = x_0, step k (gradient g_k at x_k):

        s_k      = s_{k-1} + lam_k g_k
        z_{k+1}  = x_0 - s_k / sqrt(k+1)
        x_{k+1}  = (1 - c_{k+1}) x_k + c_{k+1} z_{k+1}

    with c = 1 - momentum (``averaging="constant"``, the practical form) or
    c_{k+1} = lam_{k+1} / S_{k+1}, S_k = sum_{i<=k} lam_i (``averaging="lambda"``, the
    lambda-weighted average x_k = S_k^{-1} sum_{i<=k} lam_i z_i that the derived convex bound
    of docs/references/mda.md §3.2 needs).

    Provenance: the recursion is [SECONDARY] (two independent third-party implementations,
    ``zihsyuan1214/rmda`` and a student project, agree; there is no official code and the
    paper's text was not available). Its reading as heavy-ball SGD with a decaying L2 pull
    toward x_0 is [DERIVED] (docs/references/mda.md §2). The paper's default hyper-parameters are
    unknown, so ``lr`` is required. Reference: arXiv 2010.10502.

    info: ``lr``, ``lambda`` (lam_k), ``beta`` (sqrt(k+1), the dual-averaging scaling used for
    z_{k+1}), ``c`` (c_{k+1}).
    """

    name = "mda"
    reference = "Jelassi & Defazio, arXiv 2010.10502 (recursion as in third-party code)"
    state_type = MDAState
    info_type = MDAInfo
    example_hp = {"lr": 0.05, "momentum": 0.9}

    def __init__(self, averaging: str = "constant"):
        if averaging not in _AVERAGING:
            raise out_of_range("averaging", averaging, ", ".join(repr(a) for a in _AVERAGING))
        self.averaging = averaging
        self.hyperparams = {
            "lr": positive(None, "gamma: lam_k = lr * sqrt(k+1)"),
            "momentum": unit(0.9, "c = 1 - momentum (averaging='constant'); 0 is plain dual averaging"),
        }

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        return {"x0": x0.clone(), "s": torch.zeros_like(x0), "S": hp["lr"].clone()}

    def _step(self, state, grad, loss):
        hp = state["hp"]
        x, x0, k = state["x"], state["x0"], state["k"]
        lr = hp["lr"]
        lam = lr * (k + 1) ** 0.5
        beta = (k + 1) ** 0.5
        s = state["s"] + per_run(lam) * grad
        z = x0 - s / beta
        S = state["S"] + lr * (k + 2) ** 0.5
        if self.averaging == "lambda":
            c = lr * (k + 2) ** 0.5 / S
        else:
            c = 1 - hp["momentum"]
        x_new = x * per_run(1 - c) + per_run(c) * z
        info = {"lr": lr, "lambda": lam, "beta": torch.full_like(lr, beta), "c": c}
        return {"x": x_new, "x0": x0, "s": s, "S": S}, info

    def __repr__(self) -> str:
        return f"MDA(averaging={self.averaging!r})"
