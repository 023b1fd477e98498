"""Any ``torch.optim.Optimizer`` class as a ratecheck optimizer, run one run at a time.

For a method that exists only as a torch.optim class (a researcher's new optimizer, before it is
written in batched form), ``from_torch(cls)`` returns an ``Optimizer`` subclass that keeps one
instance of ``cls`` per run, each over its own parameter vector x_b [d]. A step hands run b its
gradient row and calls ``cls.step`` (with a closure returning the run's loss), so B runs are B
independent torch optimizers: a batch equals separate runs bit for bit by construction, at the
speed of a Python loop over runs. This is the reverse of ``adapter.TorchAdapter`` (a batched
method used as a torch.optim optimizer).

Hyper-parameters are the class's keyword arguments whose defaults are numbers (``lr``,
``momentum``, ``weight_decay``, ...): one value per run, checked by the class itself. Every
other keyword (booleans, tuples such as ``betas``) is a structural option,
``from_torch(cls)(nesterov=True)``. ``info["lr"]`` is the step size the class holds in its
param group (when it has one), so bounds that read ``lr`` work unchanged.

The state holds the torch optimizers, which step in place: unlike the batched methods, a state
cannot be stepped twice from the same point.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import torch

from ratecheck.errors import RatecheckError

from .base import HP, BaseState, LRInfo, NoInfo, Optimizer


class PerRunState(BaseState):
    torch: list  # one torch.optim.Optimizer per run
    params: list  # one torch.nn.Parameter [d] per run


class PerRunTorch(Optimizer):
    """Base of the classes ``from_torch`` makes; ``torch_class`` is the wrapped class."""

    torch_class: ClassVar[type]
    state_type = PerRunState

    def __init__(self, **options: Any):
        hp = sorted(set(options) & set(self.hyperparams))
        if hp:
            raise RatecheckError(f"{self.name}: {hp} are hyper-parameters: pass them to init(), not as options")
        self.options = dict(options)

    def _init(self, x0: torch.Tensor, hp: dict[str, torch.Tensor], **extra: Any):
        super()._init(x0, hp, **extra)
        per_run = {k: v.tolist() for k, v in hp.items()}  # host sync: once, in init
        params = [torch.nn.Parameter(x0[b].clone()) for b in range(x0.shape[0])]
        opts = [self.torch_class([p], **{k: v[b] for k, v in per_run.items()}, **self.options) for b, p in enumerate(params)]
        return {"torch": opts, "params": params}

    def _step(self, state, grad, loss):
        for b, (p, opt) in enumerate(zip(state["params"], state["torch"])):
            p.grad = grad[b].clone()
            if loss is None:
                opt.step()
            else:
                opt.step(lambda b=b: loss[b])
        x = torch.stack([p.detach().clone() for p in state["params"]])
        info = {}
        if "lr" in self.info_keys:
            info["lr"] = torch.tensor([o.param_groups[0]["lr"] for o in state["torch"]], dtype=x.dtype, device=x.device)
        return {**state, "x": x}, info


def from_torch(cls: type, name: str | None = None, *, needs_loss: bool = False) -> type[PerRunTorch]:
    """An ``Optimizer`` subclass running ``cls`` (a torch.optim.Optimizer subclass) per run.

    ``needs_loss``: the class's ``step`` needs the closure's loss (a Polyak-type method); the
    runner then passes each run's loss.
    """
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise RatecheckError(f"from_torch expects a torch.optim.Optimizer subclass; got {cls!r}")
    hyperparams = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[2:]:  # after self, params
        d = p.default
        if isinstance(d, (int, float)) and not isinstance(d, bool):
            hyperparams[p.name] = HP(float(d), doc=f"{cls.__name__}'s {p.name}")
        elif d is inspect.Parameter.empty or type(d).__name__ == "_RequiredParameter":
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                hyperparams[p.name] = HP(None, doc=f"{cls.__name__}'s {p.name} (required)")
    return type(
        cls.__name__,
        (PerRunTorch,),
        {
            "__doc__": f"{cls.__module__}.{cls.__qualname__}, one instance per run (ratecheck.optimizers.from_torch).",
            "__module__": cls.__module__,
            "torch_class": cls,
            "name": name or cls.__name__,
            "reference": f"{cls.__module__}.{cls.__qualname__}",
            "hyperparams": hyperparams,
            "needs_loss": needs_loss,
            "info_type": LRInfo if "lr" in hyperparams else NoInfo,
        },
    )
