"""A torch.optim.Optimizer over any functional optimizer of this package.

Each parameter group is one run (B = 1): its parameters are flattened into one vector x of
shape [1, d], stepped with the functional optimizer, and written back. Global scalars of a
method (d in D-Adaptation, s in Mechanic, ...) are therefore shared by all tensors of a group,
as in the authors' packages, and groups never couple.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from ratecheck.errors import RatecheckError

from .base import Optimizer, get


def _flat(params: list[torch.Tensor], attr: str | None = None) -> torch.Tensor:
    parts = []
    for p in params:
        t = p if attr is None else getattr(p, attr)
        if t is None:
            t = torch.zeros_like(p)
        parts.append(t.detach().reshape(-1))
    return torch.cat(parts)[None, :]


class TorchAdapter(torch.optim.Optimizer):
    """``TorchAdapter(params, method, **hp)``: method is a registered name or an Optimizer.

    ``step(closure=None, loss=None)``: methods that need the loss (MoMo, Polyak, TAPS) take it
    from ``loss=`` or from the closure's return value.
    """

    def __init__(self, params: Iterable, method: str | Optimizer, options: dict[str, Any] | None = None, **hp: Any):
        self.method = get(method, **(options or {})) if isinstance(method, str) else method
        super().__init__(params, dict(hp))

    def _key(self, i: int) -> str:
        return f"ratecheck_group_{i}"

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None, loss: torch.Tensor | None = None):
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for i, group in enumerate(self.param_groups):
            params = [p for p in group["params"]]
            if not params:
                continue
            key = self._key(i)
            if key not in self.state:
                hp = {k: v for k, v in group.items() if k != "params"}
                self.state[key] = self.method.init(_flat(params), **hp)
            state = self.state[key]
            grad = _flat(params, "grad").to(state["x"].dtype)
            loss_t = None
            if loss is not None:
                loss_t = torch.as_tensor(loss, dtype=state["x"].dtype, device=state["x"].device).detach().reshape(1)
            elif self.method.needs_loss:
                raise RatecheckError(f"{self.method.name} needs the loss: call step(loss=loss) or pass a closure")
            state, info = self.method.step(state, grad, loss_t)
            self.state[key] = state
            offset = 0
            for p in params:
                n = p.numel()
                p.copy_(state["x"][0, offset : offset + n].view_as(p))
                offset += n
            group["info"] = {k: v for k, v in info.items()}
        return loss


def torch_optimizer(method: str, params: Iterable, options: dict[str, Any] | None = None, **hp: Any) -> TorchAdapter:
    """Build a torch.optim optimizer for registered ``method`` over ``params``."""
    return TorchAdapter(params, method, options, **hp)
