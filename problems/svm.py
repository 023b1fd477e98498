"""L2-regularised hinge-loss SVM on bundled data (default: sklearn breast cancer).

P(w) = (1/n) sum_i max(0, 1 - y_i a_i.w) + (lam/2) ||w||^2, a_i standardised features plus a
bias column, y_i in {-1, +1}. Convex, non-smooth, lam-strongly convex, finite sum of
f_i(w) = max(0, 1 - y_i a_i.w) + (lam/2)||w||^2.

Certificate: the duality gap [DERIVED, standard SVM duality]. With z_i = y_i a_i and
alpha in [0, 1]^n, D(alpha) = (1/n) sum alpha_i - (lam/2) ||w(alpha)||^2 with
w(alpha) = Z^T alpha / (lam n) satisfies D(alpha) <= P* (weak duality), so
P(w*) - P* <= P(w*) - D(alpha). cvxpy solves the QP; the point is polished in float64 by
fixing the margin pattern (alpha_i = 1 below the margin, 0 above, and solving the linear KKT
system for the support vectors on it), and the gap must be <= 1e-10. Stored with x*.

G on ball(x*, r): ||g|| <= min((1/n) sum ||a_i||, ||A||_2 / sqrt(n)) + lam (||x*|| + r).
Component infima [DERIVED]: the minimiser of f_i lies on t y_i a_i; with s = ||a_i||^2,
inf f_i = lam / (2 s) if s > lam, else 1 - s / (2 lam).
"""

from __future__ import annotations

import warnings

import numpy as np

from ratecheck.errors import CertificationError, out_of_range

from .base import Certificate, ball_scope, default_radius, register
from .certify import Solution, Verified, certified
from .data import classification_data
from .linear_model import Hinge, LinearModel

TOL = 1e-10


class HingeSVM(LinearModel):
    def component_f_star(self):
        s = np.einsum("ij,ij->i", self.A, self.A)
        lam = self.lam
        return np.where(s > lam, lam / (2.0 * s), 1.0 - s / (2.0 * lam))


def _dual_bound(Z: np.ndarray, lam: float, alpha: np.ndarray) -> float:
    n = Z.shape[0]
    w = Z.T @ alpha / (lam * n)
    return float(alpha.sum() / n - 0.5 * lam * (w @ w))


def svm_verifier(prob: HingeSVM):
    Z = prob.A * prob.Y  # rows y_i a_i
    n, lam = prob.n, prob.lam

    def verify(sol: Solution) -> Verified:
        w, alpha = np.asarray(sol.x_star, dtype=np.float64), sol.dual
        if w.shape != (prob.d,) or alpha is None or alpha.shape != (n,):
            raise CertificationError("SVM certificate needs x* [d] and a dual alpha [n]")
        if not (np.all(alpha >= 0.0) and np.all(alpha <= 1.0)):
            return Verified(float("nan"), Certificate("duality gap", float("inf"), TOL, "alpha outside [0, 1]"))
        P = float(np.maximum(0.0, 1.0 - Z @ w).sum() / n + 0.5 * lam * (w @ w))
        gap = P - _dual_bound(Z, lam, alpha)
        return Verified(P, Certificate("duality gap", abs(gap), TOL, f"P(w*) - D(alpha) = {gap:.1e}"))

    return verify


def polish_svm(Z: np.ndarray, lam: float, w: np.ndarray) -> Solution:
    """Exact KKT point for the margin pattern of w (tried at several thresholds; best gap)."""
    n = Z.shape[0]
    m = Z @ w
    best, best_gap = None, np.inf
    for eps in (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8):
        S = np.abs(m - 1.0) <= eps
        U = m < 1.0 - eps
        alpha = U.astype(np.float64)
        if S.any():
            ZS = Z[S]
            rhs = lam * n * np.ones(S.sum()) - ZS @ (Z[U].sum(axis=0))
            alpha[S] = np.linalg.lstsq(ZS @ ZS.T, rhs, rcond=None)[0]
        if alpha.min() < 0.0 or alpha.max() > 1.0:
            continue
        wv = Z.T @ alpha / (lam * n)
        P = np.maximum(0.0, 1.0 - Z @ wv).sum() / n + 0.5 * lam * (wv @ wv)
        gap = P - _dual_bound(Z, lam, alpha)
        if gap < best_gap:
            best, best_gap = Solution(wv, alpha), gap
    if best is None:
        raise CertificationError("SVM polish found no margin pattern with a feasible dual")
    return best


def solve_svm_cvxpy(Z: np.ndarray, lam: float) -> Solution:
    import cvxpy as cp

    n, d = Z.shape
    w = cp.Variable(d)
    obj = cp.sum(cp.pos(1 - Z @ w)) / n + 0.5 * lam * cp.sum_squares(w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cvxpy's bound propagation warns on harmless inf*0
        cp.Problem(cp.Minimize(obj)).solve(solver=cp.CLARABEL if "CLARABEL" in cp.installed_solvers() else None)
    if w.value is None:
        raise CertificationError("cvxpy returned no point for the SVM QP")
    return polish_svm(Z, lam, np.asarray(w.value, dtype=np.float64))


def build_svm(name: str, dataset: str, lam: float, libsvm: str | None, params: dict) -> HingeSVM:
    if not lam > 0:
        raise out_of_range("lam", lam, "(0, inf)")
    A, y, _, source = classification_data(dataset, "binary", libsvm)
    n, d = A.shape
    params = {**params, "lam": float(lam), "source": source}
    prob = HingeSVM(
        name=name, d=d, n=n, f_star=0.0, x_star=np.zeros(d),
        tags=frozenset({"convex", "nonsmooth", "strongly_convex", "finite_sum", "real_data"}),
        certificate=None, mu=float(lam), params=params,
        description=f"hinge SVM on {source}, lam={lam:.3g}",
    ).setup(Hinge(), A, y, 1, lam)
    Z = A * y[:, None]
    sol, ver = certified(name, params, {"A": A, "y": y}, lambda: solve_svm_cvxpy(Z, lam), svm_verifier(prob))
    prob.x_star, prob.f_star, prob.certificate, prob.dual = sol.x_star, ver.f_star, ver.certificate, sol.dual
    r = default_radius(sol.x_star)
    lin = min(float(prob.row_norms().mean()), np.sqrt(prob.spectral_sq() / n))
    prob.G = float(lin + lam * (np.linalg.norm(sol.x_star) + r))
    prob.G_scope, prob.G_radius = ball_scope(r), r
    return prob


@register("hinge_svm")
def hinge_svm(dataset: str = "breast_cancer", lam: float = 0.01, libsvm: str | None = None) -> HingeSVM:
    """Hinge SVM; ``dataset`` in breast_cancer, wine, iris, digits (class 0 vs rest), or ``libsvm`` path."""
    return build_svm("hinge_svm", dataset, lam, libsvm, {"dataset": dataset, "libsvm": libsvm})
