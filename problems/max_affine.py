"""A max of affine functions with an exact minimizer and f* by construction.

f(x) = max_j ( g_j.(x - x*) - c_j ) + f*, with c_j = 0 for the d + 1 active pieces and
c_j > 0 for the inactive ones. The active gradients are integer vectors g_1..g_d (a
non-singular matrix) and g_{d+1} = -sum_{j<=d} w_j g_j with integer weights w_j >= 1, so
0 = (sum_{j<=d} w_j g_j + g_{d+1}) / (1 + sum w_j) lies in the convex hull of the active
gradients exactly (integer arithmetic is exact in float64). Hence x* minimises f and
f(x*) = f* exactly; since g_1..g_d span R^d and all hull weights are positive, x* is the unique
minimiser and f is sharp. Convex, non-smooth, globally Lipschitz with G = max_j ||g_j||.
[DERIVED: optimality of a convex function is 0 in the subdifferential, and the subdifferential
of a max at x* is the hull of the active gradients.]
"""

from __future__ import annotations

import numpy as np

from ratecheck.errors import out_of_range

from .base import Certificate, Problem, register


class MaxAffine(Problem):
    def setup(self, Gm: np.ndarray, c: np.ndarray) -> "MaxAffine":
        self.Gm, self.c = np.ascontiguousarray(Gm, dtype=np.float64), np.asarray(c, dtype=np.float64)
        return self

    def _data(self):
        return {"G": self.Gm, "c": self.c, "xs": self.x_star}

    def _pieces(self, x):
        t = self.tensors(x)
        return (t["G"][None, :, :] * (x - t["xs"])[:, None, :]).sum(-1) - t["c"]

    def _value(self, x):
        return self._pieces(x).amax(dim=-1) + self.f_star

    def _grad(self, x):
        t = self.tensors(x)
        return t["G"][self._pieces(x).argmax(dim=-1)]


@register("max_affine")
def max_affine(d: int = 10, extra: int = 20, f_star: float = 1.0, seed: int = 0) -> MaxAffine:
    """max of d + 1 active and ``extra`` inactive affine pieces; x* random, f* given."""
    if d < 1:
        raise out_of_range("d", d, "integers >= 1")
    if extra < 0:
        raise out_of_range("extra", extra, "integers >= 0")
    rng = np.random.default_rng(seed)
    while True:
        Gd = rng.integers(-3, 4, size=(d, d)).astype(np.float64)
        if abs(np.linalg.det(Gd)) > 0.5:
            break
    w = rng.integers(1, 3, size=d).astype(np.float64)
    g_last = -(w @ Gd)
    inactive = rng.integers(-3, 4, size=(extra, d)).astype(np.float64)
    Gm = np.vstack([Gd, g_last[None, :], inactive])
    c = np.concatenate([np.zeros(d + 1), rng.uniform(0.1, 1.0, extra)])
    x_star = rng.standard_normal(d)
    return MaxAffine(
        name="max_affine", d=d, f_star=float(f_star), x_star=x_star,
        tags=frozenset({"convex", "lipschitz", "nonsmooth"}), certificate=Certificate("closed form"),
        G=float(np.linalg.norm(Gm, axis=1).max()),
        params={"d": d, "extra": extra, "f_star": float(f_star), "seed": seed, "hull_weights_int": w.tolist() + [1.0]},
        description="max_j g_j.(x - x*) - c_j + f*, 0 in the hull of the active g_j exactly",
    ).setup(Gm, c)
