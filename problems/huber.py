"""Huber regression f(x) = (1/n) sum_i h_delta(a_i.x - b_i) + (lam/2) ||x||^2 on synthetic data.

h_delta(r) = r^2/2 for |r| <= delta, delta (|r| - delta/2) otherwise (Huber 1964). b has
Gaussian noise plus 10% gross outliers. Convex, smooth: 0 <= h'' <= 1, so
L = ||A||_2^2 / n + lam; mu = lam (lam > 0 by default, so x* is unique). Finite sum of
f_i = h_delta(a_i.x - b_i) + (lam/2)||x||^2. |h'| <= delta, so on ball(x*, r)
G = delta min((1/n) sum ||a_i||, ||A||_2/sqrt(n)) + lam (||x*|| + r).

x* by (semi-smooth) damped Newton in float64 with the generalised Hessian
(1/n) A_Q^T A_Q + lam I (Q: residuals inside the quadratic zone), certified by
||grad f(x*)||_2 <= 1e-10, so f(x*) - f* <= 1e-20/(2 lam); cached.
Component infima [DERIVED]: a part of x orthogonal to a_i only adds to the ridge, so the
minimiser of f_i is x = t a_i; with s = ||a_i||^2, phi(t) = h(t s - b_i) + lam s t^2/2 is a 1-D
convex problem, solved by bisection on phi'(t)/s = h'(t s - b_i) + lam t.
"""

from __future__ import annotations

import numpy as np

from ratecheck.errors import out_of_range

from .base import ball_scope, default_radius, register
from .certify import certified
from .data import gaussian_design
from .linear_model import Huber, LinearModel
from .logistic import _bisect
from .newton import grad_norm_verifier, newton


class HuberRegression(LinearModel):
    def component_f_star(self):
        delta, lam = self.loss.delta, self.lam
        s = np.einsum("ij,ij->i", self.A, self.A)
        b = self.Y[:, 0]
        if lam <= 0:
            return np.zeros(self.n)  # a_i.x = b_i is reachable
        # phi'(t)/s = clip(t s - b, -delta, delta) + lam t, increasing; root in [-delta/lam, delta/lam].
        t = _bisect(lambda t: np.clip(t * s - b, -delta, delta) + lam * t,
                    np.full(self.n, -delta / lam), np.full(self.n, delta / lam))
        r = np.abs(t * s - b)
        h = np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))
        return h + 0.5 * lam * s * t * t


@register("huber")
def huber(n: int = 100, d: int = 10, delta: float = 1.0, lam: float = 1e-2, seed: int = 0) -> HuberRegression:
    """Ridge-regularised Huber regression with 10% outliers."""
    if d < 1 or n < 1:
        raise out_of_range("(n, d)", (n, d), "n >= 1, d >= 1")
    if not delta > 0:
        raise out_of_range("delta", delta, "(0, inf)")
    if not lam >= 0:
        raise out_of_range("lam", lam, "[0, inf)")
    rng = np.random.default_rng(seed)
    A = gaussian_design(n, d, rng)
    b = A @ (3.0 * rng.standard_normal(d)) + 0.5 * rng.standard_normal(n)
    out = rng.random(n) < 0.1
    b[out] += rng.choice([-1.0, 1.0], out.sum()) * rng.uniform(5.0, 15.0, out.sum())
    params = {"n": n, "d": d, "delta": float(delta), "lam": float(lam), "seed": seed}
    tags = {"convex", "smooth", "finite_sum"} | ({"strongly_convex"} if lam > 0 else set())
    prob = HuberRegression(
        name="huber", d=d, n=n, f_star=0.0, x_star=np.zeros(d), tags=frozenset(tags), certificate=None,
        params=params, description=f"Huber(delta={delta:g}) regression + (lam/2)||x||^2, lam={lam:g}, 10% outliers",
    ).setup(Huber(float(delta)), A, b, 1, lam)
    sol, ver = certified("huber", params, {"A": A, "b": b}, lambda: newton(prob), grad_norm_verifier(prob))
    prob.x_star, prob.f_star, prob.certificate = sol.x_star, ver.f_star, ver.certificate
    prob.x_star_unique = lam > 0
    sq = prob.spectral_sq()
    prob.L, prob.mu = sq / n + lam, float(lam)
    r = default_radius(sol.x_star)
    lin = min(float(prob.row_norms().mean()), np.sqrt(sq / n))
    prob.G = float(delta * lin + lam * (np.linalg.norm(sol.x_star) + r))
    prob.G_scope, prob.G_radius = ball_scope(r), r
    return prob
