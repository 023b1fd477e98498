"""SGD with a step-size schedule: x_{k+1} = x_k - lr * m_k * (g_k + wd * x_k)."""

from __future__ import annotations

import torch

from .base import NO_OUT, LRInfo, nonneg, per_run, positive, register
from .schedules import Scheduled, ScheduledState, carry


class SGDState(ScheduledState):
    use_wd: bool  # some run has weight decay (decided once in init)


@register("sgd")
class SGD(Scheduled):
    """(Stochastic) gradient descent with a schedule.

        x_{k+1} = x_k - eta_k * (g_k + wd * x_k),     eta_k = lr * m_k,

    where m is the schedule (``get("sgd", schedule=...)``, see ``schedules``; constant by
    default) and wd the L2 weight decay of torch.optim.SGD (default 0).

    Provenance: Robbins & Monro (1951); the update and weight-decay convention of
    torch.optim.SGD with momentum=0 ([CODE], cross-checked in tests); linear decay and the
    refined schedule from Defazio et al., arXiv 2310.07831.

    info: ``lr`` = eta_k, the effective step of this step, [B].
    """

    name = "sgd"
    reference = "Robbins & Monro (1951); schedules: Defazio et al. arXiv 2310.07831"
    hyperparams = {
        "lr": positive(None, "base step size (multiplied by the schedule)"),
        "weight_decay": nonneg(0.0, "L2 weight decay added to the gradient (torch.optim.SGD)"),
    }
    state_type = SGDState
    info_type = LRInfo
    example_hp = {"lr": 0.1}
    donates = True

    def _init(self, x0, hp, **extra):
        state = self._init_schedules(x0, hp, extra)
        super()._init(x0, hp, **extra)
        # Decided once here (a host sync is fine in init) so the step does no wasted pass.
        state["use_wd"] = bool((hp["weight_decay"] != 0).any())
        return state

    def _step(self, state, grad, loss, out=NO_OUT):
        lr = self._at(state, "lr")
        x = state["x"]
        if state["use_wd"]:
            grad = grad + per_run(state["hp"]["weight_decay"]) * x
        step = torch.mul(per_run(lr), grad, out=out.get("tmp"))
        return carry(state, x=torch.sub(x, step, out=out.get("x"))), {"lr": lr}
