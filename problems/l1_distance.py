"""Weighted l1 distance f(x) = sum_j w_j |x_j - t_j|, and the 1-D |x| of the D-Adaptation toy.

Convex, non-smooth, globally Lipschitz with G = ||w||_2 (every subgradient has entries
w_j * sign); minimised exactly at x* = t with f* = 0. Closed form.
"""

from __future__ import annotations

import numpy as np
import torch

from ratecheck.errors import out_of_range

from .base import Certificate, Problem, register


class WeightedL1(Problem):
    def _data(self):
        return {"w": self.params["w"], "t": self.x_star}

    @property
    def coordinate_scale(self) -> np.ndarray:
        """The weights w: every subgradient has |g_j| <= w_j (= w_j off the kinks)."""
        return np.asarray(self.params["w"], dtype=np.float64)

    def _value(self, x: torch.Tensor) -> torch.Tensor:
        t = self.tensors(x)
        return ((x - t["t"]).abs() * t["w"]).sum(dim=-1)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        t = self.tensors(x)
        # sign(0) = 0 is a valid subgradient choice at the kink.
        return torch.sign(x - t["t"]) * t["w"]

    def _value_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._value_grad_residual(x)[:2]

    def _value_grad_dist(self, x: torch.Tensor, x_star: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # The residual x - t is x - x* (t = x*, cast like x_star_tensor): its norm is the distance.
        f, g, r = self._value_grad_residual(x)
        return f, g, torch.linalg.vector_norm(r, dim=-1)

    def _value_grad_residual(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = self.tensors(x)
        r = x - t["t"]
        return (r.abs() * t["w"]).sum(dim=-1), torch.sign(r) * t["w"], r


@register("l1_distance")
def l1_distance(d: int = 10, seed: int = 0, weights: str = "random") -> WeightedL1:
    """Weighted l1 distance to a random target; weights 'random' in [0.5, 2) or 'ones'."""
    if d < 1:
        raise out_of_range("d", d, "integers >= 1")
    if weights not in ("random", "ones"):
        raise out_of_range("weights", weights, "'random', 'ones'")
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 2.0, d) if weights == "random" else np.ones(d)
    t = rng.standard_normal(d)
    return WeightedL1(
        name="l1_distance", d=d, f_star=0.0, x_star=t,
        tags=frozenset({"convex", "lipschitz", "nonsmooth"}),
        certificate=Certificate("closed form"), G=float(np.linalg.norm(w)),
        params={"d": d, "seed": seed, "weights": weights, "w": w},
        description="sum_j w_j |x_j - t_j|",
    )


@register("abs_1d")
def abs_1d() -> WeightedL1:
    """f(x) = |x| in one dimension: the D-Adaptation toy (x* = 0, G = 1)."""
    return WeightedL1(
        name="abs_1d", d=1, f_star=0.0, x_star=np.zeros(1),
        tags=frozenset({"convex", "lipschitz", "nonsmooth"}),
        certificate=Certificate("closed form"), G=1.0,
        params={"w": np.ones(1)}, description="|x|",
    )
