"""Extending ratecheck from your own code: problems, optimizers and theory results.

Nothing here needs an edit of ratecheck; each function adds to the registry that the runner, the
CLI, ``ratecheck.testing`` and the pytest plugin read (``ratecheck.register_problem`` etc. are the
same functions). Guide with a worked example: docs/testing.md.

- ``register_problem(name, factory)``: ``factory(**params) -> Problem`` (a subclass of
  ``ratecheck.problems.Problem`` with ``_value``/``_grad``, x*, f*, constants and tags), or a
  ``Problem`` instance; ``gradient_certificate`` certifies a numerically found minimizer of a
  smooth convex problem;
- ``register_optimizer(name, obj)``: a batched ``ratecheck.optimizers.Optimizer`` subclass (or a
  factory), or a plain ``torch.optim.Optimizer`` class, which is then run one run at a time
  (``ratecheck.optimizers.from_torch``);
- ``register_result(result)``: a ``ratecheck.theory.Result`` with its provenance;
- ``registrations()``: a context manager undoing every registration made inside it (tests).

All three work as decorators when the object is omitted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import torch

from ratecheck.errors import CertificationError, RatecheckError
from ratecheck.optimizers.base import OPTIMIZERS, Optimizer
from ratecheck.optimizers.per_run import from_torch
from ratecheck.problems.base import PROBLEMS, Certificate, Problem
from ratecheck.theory import base as theory_base
from ratecheck.theory.base import RESULTS, Result


def _decorator_or_call(add: Callable[[Any], Any], obj: Any):
    return add if obj is None else add(obj)


def register_problem(name: str, factory: Callable[..., Problem] | Problem | None = None):
    """Register a problem factory (or one ``Problem`` instance) under ``name``."""

    def add(f):
        if isinstance(f, Problem):
            PROBLEMS.register(name, lambda: f)
        elif callable(f):
            PROBLEMS.register(name, f)
        else:
            raise RatecheckError(f"register_problem({name!r}, ...) expects a factory or a Problem; got {type(f).__name__}")
        return f

    return _decorator_or_call(add, factory)


def register_optimizer(name: str, obj: type | Callable[..., Optimizer] | None = None):
    """Register a batched optimizer class or factory, or a torch.optim.Optimizer class (run per
    run), under ``name``. A class whose ``name`` is unset takes ``name``."""

    def add(o):
        if isinstance(o, type) and issubclass(o, torch.optim.Optimizer):
            OPTIMIZERS.register(name, from_torch(o, name))
            return o
        if isinstance(o, type) and issubclass(o, Optimizer):
            if o.name == Optimizer.name:
                o.name = name
            elif o.name != name:
                raise RatecheckError(f"optimizer class {o.__name__} has name {o.name!r}; register it under that name, not {name!r}")
        elif not callable(o):
            raise RatecheckError(f"register_optimizer({name!r}, ...) expects an Optimizer subclass, a factory or a torch.optim class; got {type(o).__name__}")
        return OPTIMIZERS.register(name, o)

    return _decorator_or_call(add, obj)


def register_result(result: Result) -> Result:
    """Register a theory result (its ``key`` is the name)."""
    if not isinstance(result, Result):
        raise RatecheckError(f"register_result expects a ratecheck.theory.Result; got {type(result).__name__}")
    return theory_base.register(result)


@contextmanager
def registrations() -> Iterator[None]:
    """Undo, on exit, every problem, optimizer, result and example registered inside the block."""
    examples = list(theory_base.EXAMPLES)
    with ExitStack() as stack:
        for reg in (PROBLEMS, OPTIMIZERS, RESULTS):
            stack.enter_context(reg.scope())
        try:
            yield
        finally:
            theory_base.EXAMPLES[:] = examples


def gradient_certificate(grad: Callable[[torch.Tensor], torch.Tensor], x_star, tol: float = 1e-10) -> Certificate:
    """Certify x* of a smooth convex problem: ||grad f(x*)|| <= tol in float64.

    ``grad`` maps a float64 batch [1, d] to its gradient [1, d] (a problem's ``grad`` or ``_grad``).
    A stationary point of a convex differentiable function is a global minimizer; the residual is
    stored in the certificate. Raises ``CertificationError`` above ``tol``.
    """
    x = torch.as_tensor(np.asarray(x_star, dtype=np.float64)).reshape(1, -1)
    residual = float(torch.linalg.vector_norm(grad(x)))
    if not residual <= tol:
        raise CertificationError(f"||grad f(x*)|| = {residual:.3e} > tol {tol:.0e}: x* is not certified")
    return Certificate("gradient norm", residual, tol)
