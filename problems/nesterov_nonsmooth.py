"""Nesterov's worst-case function for non-smooth first-order methods.

f(x) = gamma max_{1<=i<=k} x_i + (mu/2) ||x||^2 (Nesterov 2004, Introductory Lectures on
Convex Optimization, §3.2.1; the construction is standard, its section and theorem numbers are
recalled, not checked against the text [UNVERIFIED]). [DERIVED, checked by the tests against
cvxpy:] its minimiser is
x*_i = -gamma/(mu k) for i <= k, 0 beyond, with f* = -gamma^2/(2 mu k) (0 lies in the
subdifferential: gamma times the uniform average of e_1..e_k plus mu x*). Nesterov's choice (his Theorem 3.2.1)
gamma = sqrt(k) M/(1 + sqrt(k)), mu = M/((1 + sqrt(k)) R) makes f
M-Lipschitz on ball(0, R) with ||x*|| = R, and every method whose iterates lie in
x_0 + span of past subgradients has f(x_j) - f* >= M R/(2(1 + sqrt(k))) for j < k, from x_0 = 0
[UNVERIFIED: recalled; not asserted anywhere]. The Lipschitz bound on ball(0, R) is [DERIVED]: gamma + mu R = M.

Convex, non-smooth, mu-strongly convex. Subgradients gamma e_j + mu x (j an arg max) have
norm <= gamma + mu ||x||, so on ball(x*, r): G = gamma + mu (R + r).
"""

from __future__ import annotations

import numpy as np
import torch

from ratecheck.errors import out_of_range

from .base import Certificate, Problem, ball_scope, default_radius, register


class NesterovNonsmooth(Problem):
    def _value(self, x):
        k, g, m = self.params["k"], self.params["gamma"], self.params["mu_param"]
        return g * x[:, :k].amax(dim=-1) + 0.5 * m * (x * x).sum(-1)

    def _grad(self, x):
        k, g, m = self.params["k"], self.params["gamma"], self.params["mu_param"]
        j = x[:, :k].argmax(dim=-1)
        e = torch.nn.functional.one_hot(j, self.d).to(x.dtype)
        return g * e + m * x


@register("nesterov_nonsmooth")
def nesterov_nonsmooth(d: int = 50, k: int | None = None, M: float = 1.0, R: float = 1.0) -> NesterovNonsmooth:
    """Nesterov's non-smooth worst case with gamma, mu from (M, R) as in his Theorem 3.2.1."""
    k = d if k is None else k
    if not (1 <= k <= d):
        raise out_of_range("(d, k)", (d, k), "1 <= k <= d")
    if not (M > 0 and R > 0):
        raise out_of_range("(M, R)", (M, R), "M > 0 and R > 0")
    sk = np.sqrt(k)
    gamma = sk * M / (1.0 + sk)
    mu = M / ((1.0 + sk) * R)
    x_star = np.zeros(d)
    x_star[:k] = -gamma / (mu * k)
    f_star = -gamma**2 / (2.0 * mu * k)
    r = default_radius(x_star)
    return NesterovNonsmooth(
        name="nesterov_nonsmooth", d=d, f_star=float(f_star), x_star=x_star,
        tags=frozenset({"convex", "nonsmooth", "strongly_convex", "worst_case"}),
        certificate=Certificate("closed form"), G=float(gamma + mu * (np.linalg.norm(x_star) + r)),
        G_scope=ball_scope(r), G_radius=r, mu=float(mu),
        params={"d": d, "k": k, "M": M, "R": R, "gamma": float(gamma), "mu_param": float(mu)},
        description="Nesterov (2004) §3.2.1: gamma max_{i<=k} x_i + (mu/2)||x||^2; M-Lipschitz on ball(0, R)",
    )
