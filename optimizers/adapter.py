"""A torch.optim.Optimizer over any functional optimizer of this package.

Each parameter group is one run (B = 1): its parameters are flattened into one vector x of
shape [1, d], stepped with the functional optimizer, and written back. Global scalars of a
method (d in D-Adaptation, s in Mechanic, ...) are therefore shared by all tensors of a group,
as in the authors' packages, and groups never couple.

The group's options are the method's ``init`` arguments (hyper-parameters, schedule arguments
such as ``T``, problem constants such as ``n``). A change of ``group["lr"]`` between steps (a
torch.optim.lr_scheduler) is applied at the next step. ``state_dict()``/``load_state_dict()``
round-trip the functional state, so training continues on the identical trajectory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from ratecheck.errors import RatecheckError

from .base import Optimizer, get

# Keys of a param group that are not arguments of the method's init: torch's own and the
# bookkeeping torch.optim.lr_scheduler adds (LRScheduler: initial_lr; OneCycleLR: the rest).
_GROUP_KEYS = frozenset(
    {"params", "info", "param_names", "initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"}
)


def _flat(params: list[torch.Tensor], attr: str | None = None) -> torch.Tensor:
    parts = []
    for p in params:
        t = p if attr is None else getattr(p, attr)
        if t is None:
            t = torch.zeros_like(p)
        parts.append(t.detach().reshape(-1))
    return torch.cat(parts)[None, :]


class TorchAdapter(torch.optim.Optimizer):
    """``TorchAdapter(params, method, options=None, **hp)``: method is a registered name or an
    Optimizer; ``options`` are its structural options (``schedule``, ``variant``, ...).

    ``step(closure=None, loss=None, idx=None)``: methods that need the loss (MoMo, Polyak, TAPS)
    take it from ``loss=`` or from the closure's return value; methods that need the
    minibatch's sample indices (TAPS/MOTAPS) take ``idx=`` (a 1-D tensor of indices). The last
    step's ``info`` (the method's internal scalars) is in ``group["info"]``.
    """

    def __init__(self, params: Iterable, method: str | Optimizer, options: dict[str, Any] | None = None, **hp: Any):
        self.method = get(method, **(options or {})) if isinstance(method, str) else method
        self._lr_seen: dict[int, Any] = {}
        super().__init__(params, dict(hp))

    def _key(self, i: int) -> str:
        return f"ratecheck_group_{i}"

    def _sync_lr(self, i: int, group: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        """Take a changed group['lr'] (e.g. set by an lr_scheduler) into the state's hp."""
        if "lr" not in group or "lr" not in self.method.hyperparams:
            return state
        lr = group["lr"]
        if i in self._lr_seen and self._lr_seen[i] is lr:
            return state
        x = state["x"]
        new_lr = self.method._hp_tensor("lr", self.method.hyperparams["lr"], lr, x)
        self._lr_seen[i] = lr
        if torch.equal(new_lr, state["hp"]["lr"]):
            return state
        return {**state, "hp": {**state["hp"], "lr": new_lr}}

    @torch.no_grad()
    def step(
        self,
        closure: Callable[[], torch.Tensor] | None = None,
        loss: torch.Tensor | None = None,
        idx: torch.Tensor | None = None,
    ):
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for i, group in enumerate(self.param_groups):
            params = list(group["params"])
            if not params:
                continue
            key = self._key(i)
            if key not in self.state:
                hp = {k: v for k, v in group.items() if k not in _GROUP_KEYS}
                self.state[key] = self.method.init(_flat(params), **hp)
                self._lr_seen[i] = group.get("lr")
            state = self._sync_lr(i, group, self.state[key])
            x = state["x"]
            grad = _flat(params, "grad").to(x.dtype)
            loss_t = None
            if loss is not None:
                loss_t = torch.as_tensor(loss, dtype=x.dtype, device=x.device).detach().reshape(1)
            elif self.method.needs_loss:
                raise RatecheckError(f"{self.method.name} needs the loss: call step(loss=loss) or pass a closure")
            idx_t = None
            if self.method.needs_indices:
                if idx is None:
                    raise RatecheckError(f"{self.method.name} needs the minibatch's sample indices: call step(loss=..., idx=...)")
                idx_t = torch.as_tensor(idx, device=x.device).reshape(1, -1)
            state, info = self.method.step(state, grad, loss_t, idx_t)
            self.state[key] = state
            offset = 0
            for p in params:
                n = p.numel()
                p.copy_(state["x"][0, offset : offset + n].view_as(p))
                offset += n
            group["info"] = dict(info)
        return loss

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._lr_seen = {}


def torch_optimizer(method: str, params: Iterable, options: dict[str, Any] | None = None, **hp: Any) -> TorchAdapter:
    """Build a torch.optim optimizer for registered ``method`` over ``params``."""
    return TorchAdapter(params, method, options, **hp)
