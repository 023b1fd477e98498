"""Damped Newton in float64 for the smooth linear-model problems, and its certificate.

x_{k+1} = x_k - t_k H(x_k)^{-1} grad f(x_k), with t_k from Armijo backtracking
(f(x - t p) <= f(x) - 0.25 t <grad, p>). For a lam-strongly convex f a point with
||grad f(x)|| <= eps has f(x) - f* <= eps^2 / (2 lam) (standard; e.g. Boyd & Vandenberghe,
Convex Optimization, eq. 9.9). The Hessians use dense float64 BLAS: this is a one-off solve,
not an oracle, so batching rules do not apply.
"""

from __future__ import annotations

import numpy as np

from ratecheck.errors import CertificationError

from .base import Certificate
from .certify import Solution, Verified
from .linear_model import LinearModel


def hessian(prob: LinearModel, x: np.ndarray) -> np.ndarray:
    """Hessian (generalised at kinks of Huber) of f at x, [d, d]."""
    import torch

    A, n, K, p = prob.A, prob.n, prob.K, prob.p
    W = np.asarray(x, dtype=np.float64).reshape(K, p)
    Z = A @ W.T  # [n, K]
    if K == 1:
        h = prob.loss.d2(torch.as_tensor(Z), torch.as_tensor(prob.Y)).numpy()[:, 0]
        H = (A.T * h) @ A / n
    else:
        Zs = Z - Z.max(axis=1, keepdims=True)
        P = np.exp(Zs)
        P /= P.sum(axis=1, keepdims=True)
        H = np.zeros((K * p, K * p))
        for k in range(K):
            for l in range(k, K):
                w = P[:, k] * ((k == l) - P[:, l])
                blk = (A.T * w) @ A / n
                H[k * p:(k + 1) * p, l * p:(l + 1) * p] = blk
                H[l * p:(l + 1) * p, k * p:(k + 1) * p] = blk.T
    return H + prob.lam * np.eye(prob.d)


def newton(prob: LinearModel, x0: np.ndarray | None = None, tol: float = 1e-13, max_iter: int = 200) -> Solution:
    x = np.zeros(prob.d) if x0 is None else np.array(x0, dtype=np.float64)
    fx = prob.value_np(x)
    for _ in range(max_iter):
        g = prob.grad_np(x)
        if np.linalg.norm(g) <= tol:
            break
        H = hessian(prob, x)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, g, rcond=None)[0]
        slope = float(g @ step)
        t = 1.0
        while t > 1e-12:
            xn = x - t * step
            fn = prob.value_np(xn)
            if fn <= fx - 0.25 * t * slope:
                break
            t *= 0.5
        else:
            break  # no decrease left at float64 resolution
        x, fx = xn, fn
    return Solution(x)


def grad_norm_verifier(prob: LinearModel, tol: float = 1e-10):
    """verify(sol): f(x*) and the certificate ||grad f(x*)||_2 <= tol (float64)."""

    def verify(sol: Solution) -> Verified:
        x = np.asarray(sol.x_star, dtype=np.float64)
        if x.shape != (prob.d,):
            raise CertificationError(f"x* has shape {x.shape}; expected ({prob.d},)")
        g = float(np.linalg.norm(prob.grad_np(x)))
        detail = "Newton in float64; ||grad f(x*)||_2"
        if prob.lam > 0:
            detail += f"; f(x*) - f* <= ||g||^2/(2 lam) = {g * g / (2 * prob.lam):.1e}"
        return Verified(prob.value_np(x), Certificate("Newton gradient norm", g, tol, detail))

    return verify
