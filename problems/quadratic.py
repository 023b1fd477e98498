"""Quadratics with closed-form minimizers: a prescribed spectrum, and Nesterov's worst case.

``quadratic``: f(x) = (1/2)(x - x*)^T Q (x - x*), Q = U diag(lambda) U^T with U a random
orthogonal matrix and lambda spaced (linearly or geometrically) from mu to L, so
L = max eig, mu = min eig, f* = 0. On ball(x*, r): ||grad f|| <= L r.

``nesterov_smooth``: Nesterov's worst-case smooth convex function (Nesterov 2004,
Introductory Lectures on Convex Optimization, §2.1.2; standard construction, section number
recalled, not checked against the text [UNVERIFIED]; minimiser, f* and spectrum [DERIVED] and
checked by the tests):
f_k(x) = (L/4) [ (1/2)(x_1^2 + sum_{i=1}^{k-1} (x_i - x_{i+1})^2 + x_k^2) - x_1 ] on the first k of
d coordinates, with x*_i = 1 - i/(k+1) (i <= k; 0 beyond), f* = (L/8)(-1 + 1/(k+1)).
Its Hessian is (L/4) T_k with T_k = tridiag(-1, 2, -1), eigenvalues 2 - 2 cos(j pi/(k+1)), so
L (as stated by Nesterov) bounds the curvature and mu = (L/2)(1 - cos(pi/(k+1))) > 0 when
d = k (0 when d > k: f is then flat in the extra coordinates and x* is the point with them 0).
"""

from __future__ import annotations

import numpy as np
import torch

from ratecheck.errors import out_of_range

from .base import Certificate, Problem, ball_scope, default_radius, register


class Quadratic(Problem):
    """f(x) = f* + (1/2)(x - x*)^T Q (x - x*) with Q symmetric positive semi-definite."""

    def setup(self, Q: np.ndarray) -> "Quadratic":
        self.Q = np.ascontiguousarray(Q, dtype=np.float64)
        return self

    def _data(self):
        return {"Q": self.Q, "xs": self.x_star}

    def _value(self, x):
        t = self.tensors(x)
        r = x - t["xs"]
        # f(x) = f* + (1/2)(x - x*)^T Q (x - x*): exact at x = x* and no cancellation near it.
        Qr = (t["Q"][None, :, :] * r[:, None, :]).sum(-1)
        return 0.5 * (r * Qr).sum(-1) + self.f_star

    def _grad(self, x):
        t = self.tensors(x)
        return (t["Q"][None, :, :] * (x - t["xs"])[:, None, :]).sum(-1)

    def value_magnitude(self, subopt, dist):
        """(1/2) lambda_max(|Q|) ||x - x*||^2 + |f*|: ``_value`` sums the terms r_i Q_ij r_j / 2
        (r = x - x*) and f*, and sum_ij |r_i||Q_ij||r_j| = |r|^T |Q| |r| <= lambda_max(|Q|) ||r||^2
        (Rayleigh quotient of the symmetric |Q| at the vector |r|, of norm ||r||). Not |f|: along a
        null direction of Q these terms cancel to a tiny f - f* (docs/theory/README.md#value-magnitude)."""
        return 0.5 * self.abs_curvature() * dist.to(torch.float64).square() + abs(float(self.f_star))

    def abs_curvature(self) -> float:
        """lambda_max(|Q|), |Q| the entrywise absolute value, from the Q the oracles read (a family
        quadratic's Q changes with its spectrum: cached per tensor and version)."""
        Q = self.tensors(torch.zeros((), dtype=torch.float64))["Q"]
        cached = getattr(self, "_abs_curvature", None)
        if cached is None or cached[0] is not Q or cached[1] != Q._version:
            with torch.no_grad():
                self._abs_curvature = (Q, Q._version, float(torch.linalg.eigvalsh(Q.detach().abs())[-1]))
        return self._abs_curvature[2]


@register("quadratic")
def quadratic(d: int = 20, L: float = 1.0, mu: float = 0.01, spacing: str = "log", seed: int = 0) -> Quadratic:
    """(1/2)(x - x*)^T Q (x - x*) with eigenvalues from mu to L ('log' or 'linear' spacing)."""
    if d < 1:
        raise out_of_range("d", d, "integers >= 1")
    if not (L > 0 and 0 <= mu <= L):
        raise out_of_range("(L, mu)", (L, mu), "L > 0 and 0 <= mu <= L")
    if spacing not in ("log", "linear"):
        raise out_of_range("spacing", spacing, "'log', 'linear'")
    if spacing == "log" and mu == 0:
        raise out_of_range("mu", mu, "(0, L] with spacing='log'")
    rng = np.random.default_rng(seed)
    if d == 1:
        lam = np.array([L])
    elif spacing == "log":
        lam = np.geomspace(mu, L, d)
    else:
        lam = np.linspace(mu, L, d)
    lam[0], lam[-1] = mu, L
    U, _ = np.linalg.qr(rng.standard_normal((d, d)))
    Q = (U * lam) @ U.T
    Q = 0.5 * (Q + Q.T)
    x_star = rng.standard_normal(d)
    r = default_radius(x_star)
    tags = {"convex", "smooth"} | ({"strongly_convex"} if mu > 0 else set())
    return Quadratic(
        name="quadratic", d=d, f_star=0.0, x_star=x_star, tags=frozenset(tags),
        certificate=Certificate("closed form"), G=L * r, G_scope=ball_scope(r), G_radius=r, L=float(L),
        mu=float(mu), x_star_unique=mu > 0, params={"d": d, "L": L, "mu": mu, "spacing": spacing, "seed": seed},
        description=f"(1/2)(x-x*)^T Q (x-x*), spectrum {spacing} in [mu, L]",
    ).setup(Q)


@register("nesterov_smooth")
def nesterov_smooth(d: int = 50, k: int | None = None, L: float = 1.0) -> Quadratic:
    """Nesterov's worst-case smooth convex quadratic (first k of d coordinates; k = d by default)."""
    k = d if k is None else k
    if not (1 <= k <= d):
        raise out_of_range("(d, k)", (d, k), "1 <= k <= d")
    if not L > 0:
        raise out_of_range("L", L, "(0, inf)")
    T = np.zeros((d, d))
    i = np.arange(k)
    T[i, i] = 2.0
    T[i[:-1], i[:-1] + 1] = T[i[:-1] + 1, i[:-1]] = -1.0
    Q = (L / 4.0) * T
    x_star = np.zeros(d)
    x_star[:k] = 1.0 - np.arange(1, k + 1) / (k + 1)
    f_star = (L / 8.0) * (-1.0 + 1.0 / (k + 1))
    mu = (L / 2.0) * (1.0 - np.cos(np.pi / (k + 1))) if k == d else 0.0
    r = default_radius(x_star)
    tags = {"convex", "smooth", "worst_case"} | ({"strongly_convex"} if mu > 0 else set())
    return Quadratic(
        name="nesterov_smooth", d=d, f_star=float(f_star), x_star=x_star, tags=frozenset(tags),
        certificate=Certificate("closed form"), G=L * r, G_scope=ball_scope(r), G_radius=r, L=float(L),
        mu=float(mu), x_star_unique=k == d, params={"d": d, "k": k, "L": L},
        description="Nesterov (2004) §2.1.2: (L/4)[(1/2)(x1^2 + sum (xi - xi+1)^2 + xk^2) - x1]",
    ).setup(Q)
