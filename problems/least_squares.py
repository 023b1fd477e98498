"""Least squares f(x) = (1/2n) ||Ax - b||^2 = (1/n) sum_i (1/2)(a_i.x - b_i)^2 (closed form).

Two instances:

- ``least_squares``: n > d, full column rank, noisy b. Strongly convex with
  mu = lambda_min(A^T A)/n, L = lambda_max(A^T A)/n; x* = (A^T A)^{-1} A^T b (lstsq in float64).
- ``least_squares_interp``: n < d (over-parameterised), b = A x_planted consistent, so
  f* = 0 and every component f_i is minimised (at 0) on the solution set: interpolation.
  x* is the minimum-norm solution A^+ b; it is not unique; mu = 0.
  A and x_planted are dyadic rationals, so b = A x_planted is exact in float64 and f* = 0
  holds exactly for the stored data.

Both: grad f(x) = (1/n) A^T A (x - x*), so ||grad f|| <= L r on ball(x*, r).
Each component (1/2)(a_i.x - b_i)^2 has infimum 0. [DERIVED, standard]
"""

from __future__ import annotations

import numpy as np

from ratecheck.errors import out_of_range

from .base import Certificate, ball_scope, default_radius, register
from .data import gaussian_design
from .linear_model import LinearModel, Squared


class LeastSquares(LinearModel):
    def component_f_star(self):
        return np.zeros(self.n)


def _build(name, A, b, x_star, f_star, tags, unique, params, description) -> LeastSquares:
    n, d = A.shape
    eig = np.linalg.eigvalsh(A.T @ A / n)
    L = float(eig[-1])
    mu = float(eig[0]) if unique else 0.0
    r = default_radius(x_star)
    prob = LeastSquares(
        name=name, d=d, n=n, f_star=f_star, x_star=x_star, tags=frozenset(tags),
        certificate=Certificate("closed form"), G=L * r, G_scope=ball_scope(r), G_radius=r,
        L=L, mu=mu, x_star_unique=unique, params=params, description=description,
    ).setup(Squared(), A, b, 1, 0.0)
    normal = np.linalg.norm(prob.grad_np(x_star))
    prob.certificate = Certificate("closed form", float(normal), 1e-10, "lstsq; normal-equation residual ||grad f(x*)||")
    return prob


@register("least_squares")
def least_squares(n: int = 200, d: int = 20, noise: float = 0.5, seed: int = 0) -> LeastSquares:
    """Noisy strongly convex least squares on a Gaussian design (n > d)."""
    if d < 1 or n <= d:
        raise out_of_range("(n, d)", (n, d), "d >= 1 and n > d")
    if noise < 0:
        raise out_of_range("noise", noise, "[0, inf)")
    rng = np.random.default_rng(seed)
    A = gaussian_design(n, d, rng)
    b = A @ rng.standard_normal(d) + noise * rng.standard_normal(n)
    x_star = np.linalg.lstsq(A, b, rcond=None)[0]
    r = A @ x_star - b
    f_star = float(0.5 * (r @ r) / n)
    return _build(
        "least_squares", A, b, x_star, f_star, {"convex", "smooth", "strongly_convex", "finite_sum"}, True,
        {"n": n, "d": d, "noise": noise, "seed": seed}, "(1/2n)||Ax-b||^2, noisy, n > d",
    )


def dyadic_design(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Entries k/8 * 2^-s with |k| <= 8 and 2^s ~ sqrt(d): rows of norm about 0.6, exact products."""
    s = int(np.ceil(np.log2(np.sqrt(d))))
    return rng.integers(-8, 9, size=(n, d)).astype(np.float64) / (8.0 * 2.0**s)


@register("least_squares_interp")
def least_squares_interp(n: int = 40, d: int = 100, seed: int = 0) -> LeastSquares:
    """Over-parameterised consistent least squares (n < d): interpolation, x* = A^+ b."""
    if n < 1 or n >= d:
        raise out_of_range("(n, d)", (n, d), "1 <= n < d")
    rng = np.random.default_rng(seed)
    A = dyadic_design(n, d, rng)
    x_planted = rng.integers(-8, 9, size=d) / 8.0
    b = A @ x_planted  # exact: dyadic products and sums fit in float64
    x_star = np.linalg.lstsq(A, b, rcond=None)[0]  # minimum-norm solution
    prob = _build(
        "least_squares_interp", A, b, x_star, 0.0,
        {"convex", "smooth", "interpolating", "finite_sum"}, False,
        {"n": n, "d": d, "seed": seed}, "(1/2n)||Ax-b||^2, n < d, b = A x_planted; x* = A^+ b",
    )
    prob.certificate = Certificate(
        "closed form", prob.value_np(x_star), 1e-20, "min-norm lstsq; residual f(x*) with f* = 0 exact"
    )
    return prob
