"""Plain SGD, x_{k+1} = x_k - lr * g_k: the smallest example of the optimizer contract."""

from __future__ import annotations

from .base import Optimizer, col, positive, register


@register("sgd")
class SGD(Optimizer):
    name = "sgd"
    reference = "Robbins & Monro (1951)"
    hyperparams = {"lr": positive(None, "step size")}
    info_keys = ("lr",)
    example_hp = {"lr": 0.1}

    def _step(self, state, grad, loss):
        lr = state["hp"]["lr"]
        return {"x": state["x"] - col(lr) * grad}, {"lr": lr}
