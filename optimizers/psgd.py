"""SGD with a fixed diagonal preconditioner: x_{k+1} = x_k - lr * m_k * A^{-1} (g_k + wd * x_k)."""

from __future__ import annotations

from typing import Any

import torch

from ratecheck.errors import RatecheckError, out_of_range, unknown

from .base import NO_OUT, LRInfo, per_run
from .base import register as register_optimizer
from .schedules import carry
from .sgd import SGD, SGDState

SOURCES = ("given", "problem")


class PSGDState(SGDState):
    a_inv: torch.Tensor  # [B, d]: 1 / a, fixed for the run


class PSGDInfo(LRInfo):
    dual_norm: torch.Tensor  # ||g_k||_{A^{-1}} = sqrt(sum_i g_{k,i}^2 / a_i), the norm of the A-metric bounds
    grad_l1: torch.Tensor  # ||g_k||_1, the norm the authors' l1 refinement (weights power -1) logs


@register_optimizer("psgd")
class PSGD(SGD):
    """SGD with a fixed diagonal preconditioner A = diag(a), a > 0, and a schedule.

        x_{k+1} = x_k - eta_k * A^{-1} (g_k + wd * x_k),     eta_k = lr * m_k,

    the schedules and weight decay as ``sgd``. ``a`` is fixed before the run (independent of
    the samples): ``precond="given"`` (default) takes it from the init argument ``a`` (a scalar,
    [d] or [B, d], entries finite and > 0); ``precond="problem"`` uses the problem's
    ``coordinate_scale`` (passed by the runner; e.g. the weights of ``l1_distance``, the column
    RMS of a linear model's features: the size of a coordinate of a one-sample gradient).
    It is SGD in the coordinates y = A^{1/2} x, so SGD's bounds hold with ||x_0 - x*||_A and
    ||g||_{A^{-1}} (theory.schedules, ``schedules.precond_*``).

    Provenance: diagonal (Jacobi-type) preconditioning of gradient descent, a standard method;
    its use with the schedules of Defazio et al., arXiv 2310.07831 (per-coordinate form,
    docs/theory/linear_decay_refinement.md#preconditioned).

    info: ``lr`` = eta_k [B]; ``dual_norm`` = ||g_k||_{A^{-1}}; ``grad_l1`` = ||g_k||_1
    (of the gradient received, before weight decay).
    """

    name = "psgd"
    reference = "diagonal preconditioning; schedules: Defazio et al. arXiv 2310.07831"
    state_type = PSGDState
    info_type = PSGDInfo
    example_hp = {"lr": 0.1, "a": 2.0}

    def __init__(self, schedule: str = "constant", precond: str = "given"):
        super().__init__(schedule)
        if precond not in SOURCES:
            raise unknown("precond", precond, SOURCES)
        self.precond = precond

    @property
    def problem_kwargs(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("coordinate_scale",) if self.precond == "problem" else ()

    def _init(self, x0, hp, **extra):
        name = "coordinate_scale" if self.precond == "problem" else "a"
        a = extra.pop(name, None)
        other = "a" if name == "coordinate_scale" else "coordinate_scale"
        if other in extra:
            raise RatecheckError(f"{self.name}: {other}= is not accepted with precond={self.precond!r}; pass {name}=")
        state = super()._init(x0, hp, **extra)
        state["a_inv"] = 1.0 / _check_scale(a, name, x0)
        return state

    def _step(self, state, grad, loss, out=NO_OUT):
        lr = self._at(state, "lr")
        x, a_inv = state["x"], state["a_inv"]
        info = {"lr": lr, "dual_norm": torch.sqrt((grad * grad * a_inv).sum(-1)), "grad_l1": grad.abs().sum(-1)}
        if state["use_wd"]:
            grad = grad + per_run(state["hp"]["weight_decay"]) * x
        step = torch.mul(torch.mul(a_inv, grad, out=out.get("tmp")), per_run(lr), out=out.get("tmp"))
        return carry(state, x=torch.sub(x, step, out=out.get("x"))), info


def _check_scale(a: Any, name: str, x0: torch.Tensor) -> torch.Tensor:
    """a as [B, d] on x0's device and dtype; one line naming the bad value otherwise."""
    B, d = x0.shape
    if a is None:
        why = "the problem has no coordinate_scale" if name == "coordinate_scale" else "psgd needs a= (or precond='problem')"
        raise RatecheckError(f"{why}; allowed: a scalar, [{d}] or [{B}, {d}] array of finite values > 0")
    t = torch.as_tensor(a, dtype=torch.float64).detach().cpu()
    if t.ndim > 2 or (t.ndim >= 1 and t.shape[-1] != d) or (t.ndim == 2 and t.shape[0] != B):
        raise RatecheckError(f"{name} has shape {tuple(t.shape)}; allowed: a scalar, [{d}] or [{B}, {d}]")
    ok = torch.isfinite(t) & (t > 0)
    if not bool(ok.all()):
        raise out_of_range(f"psgd: {name} entry", t[~ok][0].item(), "finite values > 0")
    return t.expand(B, d).to(device=x0.device, dtype=x0.dtype).contiguous()
