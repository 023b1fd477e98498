"""Finite sums over linear models: f(x) = (1/n) sum_i loss(W a_i, y_i) + (lam/2) ||x||^2.

x in R^{K p} is read as W = x.reshape(K, p) (K = 1 for scalar models); a_i are the rows of
A [n, p]; f_i(x) = loss(W a_i, y_i) + (lam/2) ||x||^2 so that f is the mean of the f_i.

Batching: every product is an elementwise product reduced over the last dimension, never a
matrix product, because a BLAS matrix product may sum in another order for a batch of one
row than for many, and a batch of B runs must equal B separate runs bit for bit in float64.
Batches are processed in chunks so that the temporaries stay below about 128 MiB.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Problem, layout_stable

_CHUNK_ELEMS = 1 << 24


def _chunks(B: int, per_row: int) -> list[slice]:
    step = max(1, _CHUNK_ELEMS // max(1, per_row))
    return [slice(i, min(B, i + step)) for i in range(0, B, step)]


class Loss:
    """A loss of the scores z [..., K] against targets y [..., K]; ``d`` is dloss/dz."""

    name = "loss"

    def value(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d2(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Second derivative for K = 1 (a generalised one at kinks), used by Newton solvers."""
        raise NotImplementedError

    def magnitude_coefficients(self, rho: torch.Tensor, sigma: torch.Tensor, alpha: torch.Tensor) -> tuple | None:
        """(c0, c1, c2): sum_ik slope_ik (sigma_ik + alpha_i D) <= c0 + c1 D + c2 D^2 for every D >= 0,
        slope_ik a bound on |d loss / d z_ik| between z(x*) and z(x) and on the value's own terms
        (``LinearModel.value_magnitude``); ``rho`` = |z(x*) - y| [n, K], ``sigma`` = |W*| |a_i| + |y|
        [n, K], ``alpha`` = ||a_i|| [n, 1]. None: not declared (the default magnitude applies)."""
        return None


class Squared(Loss):
    name = "squared"

    def value(self, z, y):
        return 0.5 * (z - y).square().sum(-1)

    def d(self, z, y):
        return z - y

    def d2(self, z, y):
        return torch.ones_like(z)

    def magnitude_coefficients(self, rho, sigma, alpha):
        # slope |z - y| <= rho + alpha D; (rho + alpha D)(sigma + alpha D) expanded in D
        a = alpha.expand_as(rho)
        return float((rho * sigma).sum()), float((a * (rho + sigma)).sum()), float((a * a).sum())


class Absolute(Loss):
    name = "absolute"

    def value(self, z, y):
        return (z - y).abs().sum(-1)

    def d(self, z, y):
        # sign(0) = 0 is a valid subgradient at the kink.
        return torch.sign(z - y)

    def magnitude_coefficients(self, rho, sigma, alpha):
        # slope 1 (||r + e| - |r|| <= |e|): sum (sigma + alpha D); it covers the terms |r| <= sigma(x) too
        return float(sigma.sum()), float(alpha.expand_as(sigma).sum()), 0.0


class Hinge(Loss):
    name = "hinge"

    def value(self, z, y):
        return torch.relu(1.0 - y * z).sum(-1)

    def d(self, z, y):
        # At the kink y z = 1 we take 0, a valid subgradient.
        return torch.where(y * z < 1.0, -y, torch.zeros_like(z))


class Logistic(Loss):
    """log(1 + exp(-y z)) with y in {-1, +1}."""

    name = "logistic"

    def value(self, z, y):
        return layout_stable(torch.nn.functional.softplus, -y * z).sum(-1)

    def d(self, z, y):
        return -y * layout_stable(torch.sigmoid, -y * z)

    def d2(self, z, y):
        s = layout_stable(torch.sigmoid, y * z)
        return s * (1.0 - s)


class SoftmaxCE(Loss):
    """logsumexp(z) - <y, z> with y one-hot."""

    name = "softmax"

    def value(self, z, y):
        return torch.logsumexp(z, dim=-1) - (y * z).sum(-1)

    def d(self, z, y):
        return torch.softmax(z, dim=-1) - y


class Huber(Loss):
    """h(r) = r^2/2 for |r| <= delta, delta (|r| - delta/2) otherwise; r = z - y."""

    name = "huber"

    def __init__(self, delta: float):
        self.delta = delta

    def value(self, z, y):
        r = (z - y).abs()
        return torch.where(r <= self.delta, 0.5 * r * r, self.delta * (r - 0.5 * self.delta)).sum(-1)

    def d(self, z, y):
        return torch.clamp(z - y, -self.delta, self.delta)

    def d2(self, z, y):
        return ((z - y).abs() < self.delta).to(z.dtype)


class Cauchy(Loss):
    """rho(r) = (c^2/2) log(1 + r^2/c^2); rho' = r/(1 + r^2/c^2); |rho''| <= 1; |rho'| <= c/2."""

    name = "cauchy"

    def __init__(self, c: float):
        self.c = c

    def value(self, z, y):
        r = z - y
        return (0.5 * self.c**2 * torch.log1p((r / self.c).square())).sum(-1)

    def d(self, z, y):
        r = z - y
        return r / (1.0 + (r / self.c).square())


class LinearModel(Problem):
    """Problem over a linear model; set ``loss``, ``A``, ``Y``, ``K`` and ``lam`` via ``setup``."""

    def setup(self, loss: Loss, A: np.ndarray, Y: np.ndarray, K: int, lam: float) -> "LinearModel":
        A = np.ascontiguousarray(A, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        self.loss, self.K, self.lam = loss, K, float(lam)
        self.A, self.Y = A, Y.reshape(A.shape[0], -1)
        self.p = A.shape[1]
        assert self.d == K * self.p and self.n == A.shape[0]
        return self

    def _data(self):
        return {"A": self.A, "At": np.ascontiguousarray(self.A.T), "Y": self.Y}

    # -- shared pieces ------------------------------------------------------------------------
    def _W(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.K, self.p)

    def _ridge_value(self, x):
        return 0.5 * self.lam * (x * x).sum(-1)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """z [B, n, K] with z[b, i, k] = sum_p W[b, k, p] A[i, p]."""
        A = self.tensors(x)["A"]
        W = self._W(x)
        parts = [(W[s, None, :, :] * A[None, :, None, :]).sum(-1) for s in _chunks(x.shape[0], A.numel() * self.K)]
        return torch.cat(parts, 0)

    def _value(self, x):
        return self._value_from(x, self.scores(x))

    def _grad(self, x):
        return self._grad_from(x, self.scores(x))

    def _value_and_grad(self, x):
        z = self.scores(x)  # the data pass both share
        return self._value_from(x, z), self._grad_from(x, z)

    def _value_from(self, x, z):
        t = self.tensors(x)
        return self.loss.value(z, t["Y"][None]).sum(-1) / self.n + self._ridge_value(x)

    def _grad_from(self, x, z):
        t = self.tensors(x)
        D = self.loss.d(z, t["Y"][None]).transpose(1, 2)  # [B, K, n]
        At = t["At"]
        parts = [(D[s, :, None, :] * At[None, None, :, :]).sum(-1) for s in _chunks(x.shape[0], At.numel() * self.K)]
        g = torch.cat(parts, 0).reshape(x.shape) / self.n
        return g + self.lam * x

    # -- round-off of the value (docs/theory/README.md#value-magnitude) --------------------------
    def value_magnitude(self, subopt, dist):
        """(1/n) (c0 + c1 D + c2 D^2) + (lam/2)(D + ||x*||)^2 + |f*|, D = ``dist``, where the loss
        declares its coefficients (the squared and the absolute loss; else the default |f| + |f*|).

        The value rounds each residual z_ik - y_ik = sum_p W_kp A_ip - y_ik by up to about
        u log2(p) sigma_ik(x), sigma_ik(x) = sum_p |W_kp||A_ip| + |y_ik|, and a residual error e
        moves loss_ik by at most slope_ik |e|: for a residual near 0 (an interpolating least
        squares near x*) sigma is much larger than the residual, and |f| misses it. With
        ||W_k - W*_k|| <= D: |W_kp| <= |W*_kp| + |W_kp - W*_kp| and Cauchy-Schwarz give
        sigma_ik(x) <= sigma_ik + ||a_i|| D, and for the squared loss |z_ik - y_ik| <= rho_ik + ||a_i|| D.
        The ridge term sums (lam/2) x_j^2 >= 0, ||x|| <= D + ||x*||."""
        coef = self._magnitude_coefficients()
        if coef is None:
            return super().value_magnitude(subopt, dist)
        c0, c1, c2 = coef
        D = dist.to(torch.float64)
        ridge = 0.5 * self.lam * (D + float(np.linalg.norm(self.x_star))).square() if self.lam else 0.0
        return (c0 + c1 * D + c2 * D.square()) / self.n + ridge + abs(float(self.f_star))

    def _magnitude_coefficients(self) -> tuple | None:
        """The loss's (c0, c1, c2) from the data the oracles read (a family's A changes under the
        search: cached per tensor and version)."""
        t = self.tensors(torch.zeros((), dtype=torch.float64))
        A, Y = t["A"], t["Y"]
        key = (A._version, Y._version)
        cached = getattr(self, "_magnitude_cache", None)
        if cached is None or cached[0] is not A or cached[1] is not Y or cached[2] != key:
            with torch.no_grad():
                A, Y = A.detach(), Y.detach()
                Ws = torch.as_tensor(self.x_star, dtype=torch.float64).reshape(self.K, self.p)
                rho = ((A[:, None, :] * Ws[None, :, :]).sum(-1) - Y).abs()  # [n, K]
                sigma = (A.abs()[:, None, :] * Ws.abs()[None, :, :]).sum(-1) + Y.abs()
                alpha = torch.linalg.vector_norm(A, dim=-1, keepdim=True)  # [n, 1]
                coef = self.loss.magnitude_coefficients(rho, sigma, alpha)
            self._magnitude_cache = (t["A"], t["Y"], key, coef)
        return self._magnitude_cache[3]

    # -- finite-sum oracles -------------------------------------------------------------------
    def _component_scores(self, x, idx):
        t = self.tensors(x)
        Ai = t["A"][idx]  # [B, m, p]
        z = (self._W(x)[:, None, :, :] * Ai[:, :, None, :]).sum(-1)  # [B, m, K]
        return z, Ai, t["Y"][idx]

    def component_values_each(self, x, idx):
        x = self.check_x(x)
        z, _, Y = self._component_scores(x, idx)
        return self.loss.value(z, Y) + self._ridge_value(x)[:, None]

    def component_value(self, x, idx):
        return self.component_values_each(x, idx).sum(-1) / idx.shape[1]

    def component_grad(self, x, idx):
        x = self.check_x(x)
        z, Ai, Y = self._component_scores(x, idx)
        D = self.loss.d(z, Y).transpose(1, 2)  # [B, K, m]
        g = (D[:, :, None, :] * Ai.transpose(1, 2)[:, None, :, :]).sum(-1)  # [B, K, p]
        return g.reshape(x.shape) / idx.shape[1] + self.lam * x

    # -- float64 helpers for solvers and certificates --------------------------------------
    def value_np(self, x: np.ndarray) -> float:
        t = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(1, self.d)
        return float(self._value(t)[0])

    def grad_np(self, x: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(1, self.d)
        return self._grad(t)[0].numpy().copy()

    @property
    def coordinate_scale(self) -> np.ndarray | None:
        """sqrt((1/n) sum_i A_ij^2) for coordinate (k, j) of W: the size of that coordinate of a
        one-sample gradient loss'(z_i) A_ij for a unit loss derivative; None if a feature column is 0."""
        rms = np.sqrt(np.mean(self.A * self.A, axis=0))
        return np.tile(rms, self.K) if bool((rms > 0).all()) else None

    def row_norms(self) -> np.ndarray:
        return np.linalg.norm(self.A, axis=1)

    def spectral_sq(self) -> float:
        """||A||_2^2 (largest eigenvalue of A^T A)."""
        return float(np.linalg.norm(self.A, 2) ** 2)
