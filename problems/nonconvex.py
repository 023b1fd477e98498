"""Smooth non-convex problems with a known global minimum.

``robust_cauchy``: robust regression with the Cauchy (Lorentzian) loss on a planted system,
f(x) = (1/n) sum_i rho(a_i.x - b_i), rho(r) = (c^2/2) log(1 + r^2/c^2), b = A x_planted.
rho >= 0 with rho(0) = 0, so f* = 0 at x* = x_planted, every component is minimised there
(interpolation), and x* is the unique global minimiser when A has full column rank.
rho'(r) = r/(1 + r^2/c^2) has |rho'| <= c/2, and rho''(r) = (1 - r^2/c^2)/(1 + r^2/c^2)^2 lies in
[-1/8, 1], so f is non-convex, globally L-smooth with L = ||A||_2^2/n, and globally Lipschitz
with G = (c/2) min((1/n) sum ||a_i||, ||A||_2/sqrt(n)). A and x_planted are dyadic, so b is
exact and f(x*) = 0 exactly. [DERIVED]

``rosenbrock``: f(x) = sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 (Rosenbrock 1960),
f* = 0 at x* = (1, ..., 1), unique. Smooth (C^infinity) but neither globally L-smooth nor
Lipschitz: L and G are not stated (None).
"""

from __future__ import annotations

import numpy as np
import torch

from ratecheck.errors import out_of_range

from .base import Certificate, Problem, register
from .least_squares import dyadic_design
from .linear_model import Cauchy, LinearModel


class RobustCauchy(LinearModel):
    def component_f_star(self):
        return np.zeros(self.n)


@register("robust_cauchy")
def robust_cauchy(n: int = 100, d: int = 10, c: float = 0.5, seed: int = 0) -> RobustCauchy:
    """Cauchy-loss regression on b = A x_planted (non-convex, interpolating, f* = 0)."""
    if d < 1 or n < d:
        raise out_of_range("(n, d)", (n, d), "1 <= d <= n")
    if not c > 0:
        raise out_of_range("c", c, "(0, inf)")
    rng = np.random.default_rng(seed)
    A = dyadic_design(n, d, rng)
    x_star = rng.integers(-8, 9, size=d) / 8.0
    b = A @ x_star
    prob = RobustCauchy(
        name="robust_cauchy", d=d, n=n, f_star=0.0, x_star=x_star,
        tags=frozenset({"nonconvex", "smooth", "lipschitz", "interpolating", "finite_sum"}),
        certificate=Certificate("closed form"), params={"n": n, "d": d, "c": float(c), "seed": seed},
        description=f"(1/n) sum (c^2/2) log(1 + (a_i.x - b_i)^2/c^2), c={c:g}, b = A x_planted",
    ).setup(Cauchy(float(c)), A, b, 1, 0.0)
    sq = prob.spectral_sq()
    prob.L = sq / n
    prob.G = float(0.5 * c * min(prob.row_norms().mean(), np.sqrt(sq / n)))
    return prob


class Rosenbrock(Problem):
    def _value(self, x):
        a, b = x[:, :-1], x[:, 1:]
        return (100.0 * (b - a * a).square() + (1.0 - a).square()).sum(-1)

    def _grad(self, x):
        a, b = x[:, :-1], x[:, 1:]
        inner = b - a * a
        g = torch.zeros_like(x)
        g[:, :-1] = -400.0 * a * inner - 2.0 * (1.0 - a)
        g[:, 1:] = g[:, 1:] + 200.0 * inner
        return g


@register("rosenbrock")
def rosenbrock(d: int = 10) -> Rosenbrock:
    """The Rosenbrock function in d >= 2 dimensions (f* = 0 at ones)."""
    if d < 2:
        raise out_of_range("d", d, "integers >= 2")
    return Rosenbrock(
        name="rosenbrock", d=d, f_star=0.0, x_star=np.ones(d), tags=frozenset({"nonconvex"}),
        certificate=Certificate("closed form"), G=None, L=None, params={"d": d},
        description="sum 100(x_{i+1} - x_i^2)^2 + (1 - x_i)^2; not globally L-smooth",
    )
