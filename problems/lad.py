"""Least absolute deviations f(x) = (1/n) ||Ax - b||_1 on synthetic data (an LP).

Convex, non-smooth, finite sum of f_i(x) = |a_i.x - b_i| (inf f_i = 0; not interpolating:
b carries Laplace noise). Globally Lipschitz: every subgradient is A^T s / n with |s_i| <= 1,
so G = min((1/n) sum_i ||a_i||, ||A||_2 / sqrt(n)).

Minimizer: cvxpy solves the LP; the point is then polished to an exact vertex in float64 (the
d residuals closest to 0 are set to 0 by solving A_S x = b_S) and certified by LP duality
[DERIVED, standard]: for any y with |y_i| <= 1/n and A^T y = 0, f(x) >= sum_i y_i (a_i.x - b_i)
= -b.y for every x, so f(x*) - f* <= f(x*) + b.y =: gap. The dual y is y_i = sign(r_i)/n off
the vertex set S and solves A_S^T y_S = -A_N^T y_N on it. Stored with x*; re-checked on load:
the vertex (d-th smallest |residual|), the excess of n|y_i| over 1, ||A^T y||_inf and the gap, all <= 1e-10.
"""

from __future__ import annotations

import warnings

import numpy as np

from ratecheck.errors import CertificationError, out_of_range

from .base import Certificate, register
from .certify import Solution, Verified, certified
from .data import gaussian_design
from .linear_model import Absolute, LinearModel

TOL = 1e-10


class LAD(LinearModel):
    def component_f_star(self):
        return np.zeros(self.n)


def polish_vertex(A: np.ndarray, b: np.ndarray, x: np.ndarray) -> Solution:
    """Exact vertex near x and its dual certificate (see module docstring)."""
    n, d = A.shape
    S = np.argsort(np.abs(A @ x - b))[:d]
    xv = np.linalg.solve(A[S], b[S])
    r = A @ xv - b
    N = np.setdiff1d(np.arange(n), S)
    y = np.zeros(n)
    y[N] = np.sign(r[N]) / n
    y[S] = np.linalg.solve(A[S].T, -A[N].T @ y[N])
    return Solution(xv, y)


def lad_verifier(prob: LAD):
    A, b, n, d = prob.A, prob.Y[:, 0], prob.n, prob.d

    def verify(sol: Solution) -> Verified:
        x, y = np.asarray(sol.x_star, dtype=np.float64), sol.dual
        if x.shape != (d,) or y is None or y.shape != (n,):
            raise CertificationError("LAD certificate needs x* [d] and a dual y [n]")
        r = A @ x - b
        f = float(np.abs(r).sum() / n)
        vertex = float(np.sort(np.abs(r))[d - 1])  # d-th smallest |residual|: 0 at a vertex
        infeas = float(max(np.abs(y).max() * n - 1.0, 0.0))
        stat = float(np.abs(A.T @ y).max())
        gap = f + float(b @ y)
        res = max(vertex, infeas, stat, abs(gap))
        detail = f"vertex {vertex:.1e}, |y|<=1/n excess {infeas:.1e}, ||A^T y||_inf {stat:.1e}, gap {gap:.1e}"
        return Verified(f, Certificate("LP vertex + duality gap", res, TOL, detail))

    return verify


def solve_lad_cvxpy(A: np.ndarray, b: np.ndarray) -> Solution:
    import cvxpy as cp

    n, d = A.shape
    x = cp.Variable(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cvxpy's bound propagation warns on harmless inf*0
        cp.Problem(cp.Minimize(cp.sum(cp.abs(A @ x - b)) / n)).solve(solver=cp.HIGHS if "HIGHS" in cp.installed_solvers() else None)
    if x.value is None:
        raise CertificationError("cvxpy returned no point for the LAD LP")
    return polish_vertex(A, b, np.asarray(x.value, dtype=np.float64))


@register("lad")
def lad(n: int = 60, d: int = 10, seed: int = 0) -> LAD:
    """(1/n)||Ax - b||_1 with a Gaussian design and Laplace noise."""
    if d < 1 or n <= d:
        raise out_of_range("(n, d)", (n, d), "d >= 1 and n > d")
    rng = np.random.default_rng(seed)
    A = gaussian_design(n, d, rng)
    b = A @ rng.standard_normal(d) + rng.laplace(size=n)
    params = {"n": n, "d": d, "seed": seed}
    prob = LAD(
        name="lad", d=d, n=n, f_star=0.0, x_star=np.zeros(d),
        tags=frozenset({"convex", "lipschitz", "nonsmooth", "finite_sum"}), certificate=None,
        params=params, description="(1/n)||Ax-b||_1, Gaussian A, Laplace noise",
    ).setup(Absolute(), A, b, 1, 0.0)
    sol, ver = certified("lad", params, {"A": A, "b": b}, lambda: solve_lad_cvxpy(A, b), lad_verifier(prob))
    prob.x_star, prob.f_star, prob.certificate = sol.x_star, ver.f_star, ver.certificate
    prob.dual = sol.dual
    prob.G = float(min(prob.row_norms().mean(), np.sqrt(prob.spectral_sq() / n)))
    return prob
