"""Batched functional optimizers of the papers, and torch.optim adapters.

``get(name, **options)`` builds an optimizer (options are structural: variant, base
optimizer, ...); ``opt.init(x0, **hyper_parameters)`` and ``opt.step(state, grad, loss)`` run it.
``torch_optimizer(name, params, **hp)`` wraps one for a model's parameters; ``from_torch(cls)``
goes the other way: a torch.optim class as an optimizer here, run one run at a time.
"""

from ratecheck.allocator import keep_freed_memory

keep_freed_memory()  # freed tensors kept for reuse, not faulted in again: ratecheck/allocator.py

from .adapter import TorchAdapter, torch_optimizer
from .base import HP, OPTIMIZERS, Optimizer, get, names, register
from .per_run import from_torch

__all__ = ["HP", "OPTIMIZERS", "Optimizer", "TorchAdapter", "from_torch", "get", "names", "register", "torch_optimizer"]
