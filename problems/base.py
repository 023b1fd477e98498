"""The Problem contract shared by the runner, the optimizers' tests and the theory.

A problem is a deterministic objective f: R^d -> R evaluated on a batch x of shape [B, d]
(any float dtype, CPU or CUDA), with its minimizer and constants stated:

- ``f_star``, ``x_star`` (one minimizer; ``x_star_unique`` says whether it is the only one);
- ``G``: a Lipschitz constant (``G_scope`` says "global" or "ball(x*, r)");
- ``L``: smoothness (``None`` if non-smooth), ``mu``: strong convexity (0 if none);
- ``tags``: function classes, from ``TAGS``;
- ``certificate``: how f*/x* were established (closed form, duality gap, gradient residual).

Finite sums f = (1/n) sum_i f_i also expose ``n`` and per-component oracles evaluated on
index tensors ``idx`` [B, m] (m samples per run), so stochastic runs are batched and each run
draws its own indices (see ``ratecheck.rng.sample_indices``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ratecheck.errors import RatecheckError
from ratecheck.registry import Registry
from ratecheck.rng import sample_indices

TAGS = frozenset(
    {
        "convex",
        "nonconvex",
        "lipschitz",  # G holds globally
        "nonsmooth",
        "smooth",
        "strongly_convex",
        "interpolating",  # every component is minimised at x*
        "finite_sum",
        "worst_case",  # a constructed lower-bound instance
        "real_data",
    }
)

PROBLEMS: Registry[Callable[..., "Problem"]] = Registry("problem", "ratecheck.problems")


def register(name: str):
    """Register a problem factory ``f(**params) -> Problem`` under ``name``."""
    return PROBLEMS.register(name)


def get(name: str, **params: Any) -> "Problem":
    return PROBLEMS.get(name)(**params)


def names() -> list[str]:
    return PROBLEMS.names()


def layout_stable(fn: Callable[[torch.Tensor], torch.Tensor], t: torch.Tensor) -> torch.Tensor:
    """fn(t) for an elementwise transcendental ``fn`` (exp, log, sigmoid, softplus), with bits that
    do not depend on the batch: CPU kernels take a vectorised path for full vector chunks and a
    scalar path for the tail of the flattened tensor, and the two can differ in the last bit (on
    an AVX2 CPU sigmoid does), so an entry's result would depend on how many runs share the call.
    Each run's entries (t's first dimension) are padded with zeros to a multiple of 64, which
    sends all of them through the vectorised path (``optimizers.base.stable_pow`` does the same)."""
    if t.ndim == 0 or torch.compiler.is_compiling():
        return fn(t)
    flat = t.reshape(t.shape[0], -1)
    n = flat.shape[1]
    pad = (-n) % 64
    if pad:
        flat = torch.nn.functional.pad(flat, (0, pad))
    return fn(flat)[:, :n].reshape(t.shape)


def default_radius(x_star: np.ndarray) -> float:
    """Radius of the ball around x* on which ball-scoped constants are stated: 2 (1 + ||x*||).

    The default start ``Problem.x0(scale=1)`` lies at distance 1 + ||x*|| from x*, so runs that
    do not move more than that again away from x* stay inside the ball.
    """
    return 2.0 * (1.0 + float(np.linalg.norm(x_star)))


def ball_scope(r: float) -> str:
    return f"ball(x*, {r:.6g})"


@dataclass
class Certificate:
    """How a minimizer was established. ``residual <= tol`` always holds for a stored one."""

    method: str  # "closed form", "LP vertex + duality gap", "Newton gradient norm", ...
    residual: float = 0.0
    tol: float = 0.0
    detail: str = ""

    def __str__(self) -> str:
        if self.method == "closed form":
            return "closed form"
        return f"{self.method} {self.residual:.1e} <= {self.tol:.0e}"


@dataclass
class Problem:
    """Base class; subclasses implement ``_value`` and ``_grad`` on a checked x."""

    name: str
    d: int
    f_star: float
    x_star: np.ndarray  # float64 [d]
    tags: frozenset[str]
    certificate: Certificate
    G: float | None = None
    G_scope: str = "global"  # "global" or "ball(x*, r)" with r = G_radius
    L: float | None = None
    mu: float = 0.0
    n: int | None = None  # number of components of a finite sum
    x_star_unique: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    G_radius: float | None = None  # r of the ball around x* on which G holds; None if global

    def __post_init__(self) -> None:
        bad = set(self.tags) - TAGS
        if bad:
            raise RatecheckError(f"unknown tags {sorted(bad)} for {self.name}; allowed: {sorted(TAGS)}")
        self.tags = frozenset(self.tags)
        self.x_star = np.asarray(self.x_star, dtype=np.float64).reshape(self.d)
        self._tensor_cache: dict[tuple, dict[str, torch.Tensor]] = {}

    # -- data on the device/dtype of x ------------------------------------------------------
    def _data(self) -> dict[str, np.ndarray]:
        """float64 arrays the oracles use (override); cast lazily per (device, dtype)."""
        return {}

    def tensors(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        key = (like.device, like.dtype)
        if key not in self._tensor_cache:
            self._tensor_cache[key] = {
                k: torch.as_tensor(v).to(device=like.device, dtype=like.dtype if np.issubdtype(np.asarray(v).dtype, np.floating) else None)
                for k, v in self._data().items()
            }
        return self._tensor_cache[key]

    # -- checks -----------------------------------------------------------------------------
    def check_x(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise RatecheckError(f"x must be a torch.Tensor of shape [B, {self.d}], got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.d:
            raise RatecheckError(f"x has shape {tuple(x.shape)}; {self.name} expects [B, {self.d}]")
        if not x.is_floating_point():
            raise RatecheckError(f"x has dtype {x.dtype}; allowed: float64, float32, bfloat16")
        return x

    def check_finite(self, x: torch.Tensor) -> torch.Tensor:
        """Host-syncing finiteness check, for user-facing entry points (not the hot path)."""
        self.check_x(x)
        if not bool(torch.isfinite(x).all()):
            rows = torch.nonzero(~torch.isfinite(x).all(dim=1)).flatten().tolist()
            raise RatecheckError(f"x has non-finite entries in rows {rows[:10]} for {self.name}")
        return x

    # -- oracles ----------------------------------------------------------------------------
    def value(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) for each row: [B, d] -> [B]."""
        return self._value(self.check_x(x))

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """A (sub)gradient of f at each row: [B, d] -> [B, d]."""
        return self._grad(self.check_x(x))

    def value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f(x), a (sub)gradient) in one call; problems whose value and gradient share work
        (a residual, the scores of a linear model) override ``_value_and_grad`` to compute it
        once, with the same operations as ``value`` and ``grad`` (so the same bits)."""
        return self._value_and_grad(self.check_x(x))

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._value(x), self._grad(x)

    def value_grad_dist(self, x: torch.Tensor, x_star: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(f(x), a (sub)gradient, ||x - x*||) in one call, ``x_star = x_star_tensor(x)``: the
        runner's deterministic oracle. The distance is ``vector_norm(x - x_star)`` bit for bit;
        a problem whose oracle forms x - x* itself (the weighted l1 distance) overrides
        ``_value_grad_dist`` to reduce that residual instead of forming it a second time."""
        return self._value_grad_dist(self.check_x(x), x_star)

    def _value_grad_dist(self, x: torch.Tensor, x_star: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f, g = self._value_and_grad(x)
        return f, g, torch.linalg.vector_norm(x - x_star, dim=-1)

    def _value(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- round-off of the value (docs/theory/README.md#value-magnitude) ------------------------
    def value_magnitude(self, subopt: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """M >= the sum of the magnitudes of the terms ``value`` adds at a point x with
        f(x) - f* = ``subopt`` and ||x - x*|| <= ``dist`` (float64 tensors, one shape), so that the
        computed value is within about u C M of f(x) (docs/theory/README.md#value-magnitude).

        Default: |f(x)| <= |f(x) - f*| + |f*|, right for a value that sums terms of one sign with
        no cancellation inside (a weighted l1 distance); problems whose evaluation cancels (a
        quadratic far from x* along a null direction, a residual a_i.x - b_i) override it with a
        bound in ``dist`` and their constants."""
        return subopt.abs() + abs(float(self.f_star))

    # -- finite sums --------------------------------------------------------------------------
    @property
    def is_finite_sum(self) -> bool:
        return self.n is not None

    def component_value(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """(1/m) sum_j f_{idx[b, j]}(x_b): [B, d], [B, m] -> [B]."""
        raise RatecheckError(f"{self.name} is not a finite sum; it has no stochastic oracle")

    def component_grad(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """(1/m) sum_j grad f_{idx[b, j]}(x_b): [B, d], [B, m] -> [B, d]."""
        raise RatecheckError(f"{self.name} is not a finite sum; it has no stochastic oracle")

    def component_values_each(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """f_{idx[b, j]}(x_b) without averaging: [B, m] (needed by per-sample methods, e.g. MOTAPS)."""
        raise RatecheckError(f"{self.name} is not a finite sum; it has no stochastic oracle")

    def component_f_star(self) -> np.ndarray | None:
        """inf f_i for each component, [n], where known (0 for non-negative losses that interpolate)."""
        return None

    def sample_indices(self, seeds: torch.Tensor, step: int | torch.Tensor, batch_size: int) -> torch.Tensor:
        """The minibatch indices [B, batch_size] run b draws at ``step`` from ``seeds[b]``, or those of
        a tensor of steps [S] at once, [S, B, batch_size] (``ratecheck.rng.sample_indices``)."""
        if not self.is_finite_sum:
            raise RatecheckError(f"{self.name} is not a finite sum; it has no stochastic oracle")
        if not 1 <= batch_size:
            raise RatecheckError(f"batch_size={batch_size} is out of range; allowed: >= 1")
        return sample_indices(seeds, step, batch_size, self.n)

    def indices_by_step(self, seeds: torch.Tensor, steps: range, batch_size: int, block: int = 32) -> Iterator[torch.Tensor]:
        """The indices [B, batch_size] of each step in ``steps``, in order, drawn ``block`` steps per
        call: the same integers as one ``sample_indices`` call per step, whose fixed cost (a dozen
        int64 operations on [B, batch_size]) a run would otherwise pay at every step."""
        for i in range(0, len(steps), block):
            yield from self.sample_indices(seeds, torch.as_tensor(list(steps[i:i + block]), dtype=torch.int64), batch_size)

    @property
    def coordinate_scale(self) -> np.ndarray | None:
        """A per-coordinate gradient scale [d] (> 0) fixed by the problem, not by any sample, for a
        diagonal preconditioner (``psgd`` with precond='problem'); None: the problem has none."""
        return None

    # -- helpers ------------------------------------------------------------------------------
    def x_star_tensor(self, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.x_star, device=like.device, dtype=like.dtype)

    def dist_to_opt(self, x: torch.Tensor) -> torch.Tensor:
        """||x - x*|| per row (the distance to the stated minimizer)."""
        return torch.linalg.vector_norm(x - self.x_star_tensor(x), dim=-1)

    def x0(self, batch: int = 1, *, scale: float = 1.0, seed: int = 0, dtype=torch.float64, device="cpu") -> torch.Tensor:
        """A default start: x* + scale * (unit-norm random direction) * (1 + ||x*||), one per run."""
        g = torch.Generator().manual_seed(seed)
        u = torch.randn(batch, self.d, generator=g, dtype=torch.float64)
        u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True)
        r = scale * (1.0 + float(np.linalg.norm(self.x_star)))
        return (torch.as_tensor(self.x_star)[None, :] + r * u).to(device=device, dtype=dtype)

    def summary(self) -> dict[str, Any]:
        """One row of the problem table."""
        klass = ", ".join(sorted(self.tags - {"finite_sum", "real_data"}))
        return {
            "name": self.name,
            "class": klass,
            "d": self.d,
            "n": self.n if self.n is not None else "-",
            "f*": self.f_star,
            "G": self.G if self.G is not None else "-",
            "L": self.L if self.L is not None else "-",
            "mu": self.mu,
            "certificate": str(self.certificate),
        }
