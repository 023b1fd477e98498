"""The Euclidean norm of a consistent residual, f(x) = ||Ax - b||_2 with b = A x*.

Convex, non-smooth exactly at the solution (the kink that defeats smooth-rate analyses),
globally Lipschitz with G = ||A||_2 (a subgradient is A^T (Ax - b)/||Ax - b||, and 0 at the
solution). A has full column rank (m >= d, Gaussian with probability 1), so x* is unique and
f is sharp: f(x) >= sigma_min(A) ||x - x*||. A and x* are dyadic rationals, so b = A x* is
exact in float64 and f(x*) = f* = 0 holds exactly for the stored data. [DERIVED]
"""

from __future__ import annotations

import numpy as np
import torch

from ratecheck.errors import out_of_range

from .base import Certificate, Problem, register
from .least_squares import dyadic_design


class NormResidual(Problem):
    def setup(self, A: np.ndarray, b: np.ndarray) -> "NormResidual":
        self.A, self.b = np.ascontiguousarray(A), np.asarray(b, dtype=np.float64)
        return self

    def _data(self):
        return {"A": self.A, "At": np.ascontiguousarray(self.A.T), "b": self.b}

    def _residual(self, x):
        t = self.tensors(x)
        return (t["A"][None, :, :] * x[:, None, :]).sum(-1) - t["b"]

    def _value(self, x):
        return torch.linalg.vector_norm(self._residual(x), dim=-1)

    def _grad(self, x):
        t = self.tensors(x)
        r = self._residual(x)
        nr = torch.linalg.vector_norm(r, dim=-1, keepdim=True)
        g = (t["At"][None, :, :] * r[:, None, :]).sum(-1)
        # 0 is a subgradient at the solution; avoid 0/0 there.
        return torch.where(nr > 0, g / torch.where(nr > 0, nr, torch.ones_like(nr)), torch.zeros_like(g))


@register("norm_residual")
def norm_residual(m: int = 30, d: int = 10, seed: int = 0) -> NormResidual:
    """||Ax - b||_2 with b = A x* (consistent, m >= d): f* = 0, non-smooth at x*."""
    if d < 1 or m < d:
        raise out_of_range("(m, d)", (m, d), "1 <= d <= m")
    rng = np.random.default_rng(seed)
    A = dyadic_design(m, d, rng)
    x_star = rng.integers(-8, 9, size=d) / 8.0
    b = A @ x_star
    sv = np.linalg.svd(A, compute_uv=False)
    return NormResidual(
        name="norm_residual", d=d, f_star=0.0, x_star=x_star,
        tags=frozenset({"convex", "lipschitz", "nonsmooth"}), certificate=Certificate("closed form"),
        G=float(sv[0]), params={"m": m, "d": d, "seed": seed, "sigma_min": float(sv[-1])},
        description="||Ax - b||_2, b = A x* (dyadic, exact); sharp: f >= sigma_min ||x - x*||",
    ).setup(A, b)
