"""L2-regularised logistic regression on bundled data, binary and multinomial (softmax).

f(x) = (1/n) sum_i loss(W a_i, y_i) + (lam/2) ||x||^2, with a_i the standardised features plus
a bias column (regularised too), lam = 1/n by default (the MOTAPS convention, motaps.md §6).

- binary: loss = log(1 + exp(-y_i a_i.x)), y_i in {-1, +1} (class 0 against the rest);
- multinomial: loss = logsumexp(W a_i) - (W a_i)_{y_i}, W in R^{K x p}.

Constants [DERIVED]: the loss Hessian in z is sigma(1 - sigma) <= 1/4 (binary) and
diag(s) - s s^T <= 1/2 I (softmax; Gershgorin: row k sums to 2 s_k (1 - s_k) <= 1/2), so
L = ||A||_2^2 / (4n) + lam resp. ||A||_2^2 / (2n) + lam, and mu = lam. The loss gradient in z
has norm <= 1 (binary) resp. <= sqrt(2) (softmax), so on ball(x*, r)
G = c min((1/n) sum_i ||a_i||, ||A||_2 / sqrt(n)) + lam (||x*|| + r).

x* by damped Newton in float64, certified by ||grad f(x*)||_2 <= 1e-10 (hence
f(x*) - f* <= 1e-20 / (2 lam)), cached (see ``certify``).

Component infima inf_x f_i [DERIVED]: the minimiser lies in span{a_i} (any part of W
orthogonal to a_i only adds to the ridge), so with s = ||a_i||^2
- binary: min_t softplus(-t s) + lam s t^2 / 2, i.e. lam t = sigmoid(-t s);
- softmax: min_z CE(z) + lam/(2 s) ||z||^2, whose minimiser (by symmetry among the wrong classes
  and zero sum) is z = t (K - 1, -1, ..., -1): min_t log(1 + (K-1) e^{-K t}) + lam K (K-1) t^2 / (2 s).
Both are 1-D convex problems, solved by bisection on the derivative to float64 resolution.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ratecheck.errors import out_of_range

from .base import ball_scope, default_radius, register
from .certify import certified
from .data import classification_data
from .linear_model import LinearModel, Logistic, SoftmaxCE
from .newton import grad_norm_verifier, newton


def _bisect(dphi, lo: np.ndarray, hi: np.ndarray, iters: int = 200) -> np.ndarray:
    """Root of an increasing function on [lo, hi] per entry (vectorised)."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        pos = dphi(mid) > 0
        hi = np.where(pos, mid, hi)
        lo = np.where(pos, lo, mid)
    return 0.5 * (lo + hi)


class LogisticRegression(LinearModel):
    def component_f_star(self) -> np.ndarray:
        s = np.einsum("ij,ij->i", self.A, self.A)
        lam, K = self.lam, self.K
        if lam <= 0:
            return np.zeros(self.n)  # inf is 0 (approached, not attained) without a ridge
        if K == 1:
            # phi(t) = softplus(-t s) + lam s t^2/2; phi'(t)/s = lam t - sigmoid(-t s), root in [0, 1/lam].
            t = _bisect(lambda t: lam * t - expit(-t * s), np.zeros(self.n), np.full(self.n, 1.0 / lam))
            return np.logaddexp(0.0, -t * s) + 0.5 * lam * s * t * t
        c = lam * K * (K - 1) / (2.0 * s)
        # phi(t) = log(1 + (K-1) e^{-K t}) + c t^2; phi'(t) = -K(K-1)/(e^{K t} + K - 1) + 2 c t.
        dphi = lambda t: -K * expit(np.log(K - 1) - K * t) + 2.0 * c * t
        t = _bisect(dphi, np.zeros(self.n), K * (K - 1) / (2.0 * c * K))
        return np.log1p((K - 1) * np.exp(-K * t)) + c * t * t


def build_logistic(
    name: str, dataset: str, task: str, lam: float | None, libsvm: str | None, params: dict
) -> LogisticRegression:
    A, y, K, source = classification_data(dataset, task, libsvm)
    n, p = A.shape
    lam = 1.0 / n if lam is None else float(lam)
    if not lam > 0:
        raise out_of_range("lam", lam, "(0, inf)")
    if K == 1:
        Y, loss, curv, gz = y[:, None], Logistic(), 0.25, 1.0
    else:
        Y, loss, curv, gz = np.eye(K)[y.astype(np.int64)], SoftmaxCE(), 0.5, np.sqrt(2.0)
    params = {**params, "lam": lam, "source": source}
    prob = LogisticRegression(
        name=name, d=K * p, n=n, f_star=0.0, x_star=np.zeros(K * p),
        tags=frozenset({"convex", "smooth", "strongly_convex", "finite_sum", "real_data"}),
        certificate=None, params=params,
        description=f"L2 logistic ({task}) on {source}, lam={lam:.3g}, K={max(K, 2)} classes",
    ).setup(loss, A, Y, K, lam)
    sol, ver = certified(name, params, {"A": A, "Y": Y}, lambda: newton(prob), grad_norm_verifier(prob))
    prob.x_star, prob.f_star, prob.certificate = sol.x_star, ver.f_star, ver.certificate
    sq = prob.spectral_sq()
    prob.L = curv * sq / n + lam
    prob.mu = lam
    r = default_radius(sol.x_star)
    lin = min(float(prob.row_norms().mean()), np.sqrt(sq / n))
    prob.G = float(gz * lin + lam * (float(np.linalg.norm(sol.x_star)) + r))
    prob.G_scope, prob.G_radius = ball_scope(r), r
    return prob


def _check_task(task):
    # Checked before any data is loaded; breast_cancer with 'multinomial' is a 2-class softmax,
    # over-parameterised but well posed with the ridge.
    if task not in ("binary", "multinomial"):
        raise out_of_range("task", task, "'binary', 'multinomial'")


@register("logistic")
def logistic(dataset: str = "breast_cancer", task: str = "binary", lam: float | None = None, libsvm: str | None = None):
    """L2 logistic regression; ``dataset`` in breast_cancer, wine, iris, digits, or a LIBSVM file via ``libsvm``."""
    _check_task(task)
    return build_logistic("logistic", dataset, task, lam, libsvm,
                          {"dataset": dataset, "task": task, "libsvm": libsvm})


def _named(dataset: str):
    def factory(task: str = "multinomial", lam: float | None = None):
        _check_task(task)
        return build_logistic(f"logistic_{dataset}", dataset, task, lam, None, {"dataset": dataset, "task": task})

    factory.__doc__ = f"L2 logistic regression on sklearn {dataset} (multinomial by default)."
    return factory


for _ds in ("wine", "iris", "digits"):
    register(f"logistic_{_ds}")(_named(_ds))
