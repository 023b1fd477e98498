"""Each f* against an independent method, lower bounds at random points, stated constants,
interpolation and component infima."""

import numpy as np
import pytest
import scipy.optimize as so
import torch

from ratecheck import problems

NAMES = problems.names()


def t(x):
    return torch.as_tensor(np.atleast_2d(np.asarray(x, dtype=np.float64)))


def f_np(p, x):
    return float(p.value(t(x))[0])


def ball_points(p, B, r, seed):
    """Points x* + r U^(1/d) u (uniform in the ball) and B more on its sphere."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(2 * B, p.d, generator=g, dtype=torch.float64)
    u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True)
    rad = torch.ones(2 * B, 1, dtype=torch.float64)
    rad[:B, 0] = torch.rand(B, generator=g, dtype=torch.float64) ** (1.0 / p.d)
    return torch.as_tensor(p.x_star)[None] + r * rad * u


# -- independent solutions ---------------------------------------------------------------------

def test_lad_against_scipy_linprog(build):
    p = build("lad")
    A, b = p.A, p.Y[:, 0]
    n, d = A.shape
    # min (1/n) sum t_i  s.t.  -t <= Ax - b <= t, variables (x, t).
    c = np.concatenate([np.zeros(d), np.ones(n) / n])
    I = np.eye(n)
    A_ub = np.block([[A, -I], [-A, -I]])
    res = so.linprog(c, A_ub=A_ub, b_ub=np.concatenate([b, -b]), bounds=[(None, None)] * d + [(0, None)] * n, method="highs")
    assert res.status == 0
    assert abs(res.fun - p.f_star) <= 1e-9 * (1 + abs(p.f_star))
    assert np.linalg.norm(res.x[:d] - p.x_star) <= 1e-6


def test_max_affine_against_scipy_linprog(build):
    p = build("max_affine")
    Gm, c, xs = p.Gm, p.c, p.x_star
    d = p.d
    # min s s.t. g_j.(x - x*) - c_j + f* <= s, variables (x, s).
    A_ub = np.hstack([Gm, -np.ones((len(c), 1))])
    b_ub = Gm @ xs + c - p.f_star
    res = so.linprog(np.r_[np.zeros(d), 1.0], A_ub=A_ub, b_ub=b_ub, bounds=[(None, None)] * (d + 1), method="highs")
    assert res.status == 0
    assert abs(res.fun - p.f_star) <= 1e-9
    assert np.linalg.norm(res.x[:d] - xs) <= 1e-7
    assert f_np(p, xs) == p.f_star


def test_hinge_svm_against_scipy_dual(build):
    # Weak duality: every alpha in [0,1]^n has D(alpha) <= P*; L-BFGS-B on the box-constrained dual
    # (independent of cvxpy) must approach f* from below and never pass it.
    p = build("hinge_svm")
    Z = p.A * p.Y
    n, lam = p.n, p.lam

    def neg_dual(a):
        w = Z.T @ a / (lam * n)
        return -(a.sum() / n - 0.5 * lam * (w @ w)), -(np.ones(n) / n - Z @ w / n)

    res = so.minimize(neg_dual, np.full(n, 0.5), jac=True, method="L-BFGS-B", bounds=[(0, 1)] * n,
                      options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-12})
    D = -res.fun
    assert D <= p.f_star + 1e-12
    assert p.f_star - D <= 1e-6
    # The hinge objective written out here, independently of the library's oracle.
    w = p.x_star
    P = np.maximum(0, 1 - Z @ w).mean() + 0.5 * lam * w @ w
    assert abs(P - p.f_star) <= 1e-14


@pytest.mark.parametrize("name,multi", [("logistic", False), ("logistic_wine", True), ("logistic_iris", True)])
def test_logistic_against_sklearn(build, name, multi):
    from sklearn.linear_model import LogisticRegression

    p = build(name)
    y = p.Y.argmax(1) if multi else (p.Y[:, 0] > 0).astype(int)
    # sklearn minimises C sum_i loss_i + ||w||^2/2 = n C (f); C = 1/(n lam); bias is our last column.
    clf = LogisticRegression(C=1.0 / (p.n * p.lam), fit_intercept=False, tol=1e-12, max_iter=10000)
    clf.fit(p.A, y)
    W = clf.coef_  # binary: sklearn scores its class 1, which is our label +1
    f_sk = f_np(p, W.reshape(-1))
    assert f_sk >= p.f_star - 1e-13
    assert f_sk - p.f_star <= 1e-7
    # Direct numpy value at x*, written independently of the library's torch oracle.
    Z = p.A @ p.x_star.reshape(p.K, p.p).T
    if multi:
        L = np.mean(np.log(np.exp(Z).sum(1)) - (Z * p.Y).sum(1))
    else:
        L = np.mean(np.logaddexp(0, -p.Y[:, 0] * Z[:, 0]))
    assert abs(L + 0.5 * p.lam * p.x_star @ p.x_star - p.f_star) <= 1e-13


def test_logistic_digits_against_lbfgs(build):
    p = build("logistic_digits")
    res = so.minimize(lambda x: (f_np(p, x), p.grad_np(x)), np.zeros(p.d), jac=True, method="L-BFGS-B",
                      options={"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-10})
    assert res.fun >= p.f_star - 1e-13 and res.fun - p.f_star <= 1e-8
    assert np.linalg.norm(p.grad_np(p.x_star)) <= 1e-10


def test_huber_against_scipy(build):
    p = build("huber")
    A, b, dl, lam = p.A, p.Y[:, 0], p.loss.delta, p.lam

    def f(x):  # written out independently
        r = A @ x - b
        h = np.where(np.abs(r) <= dl, 0.5 * r * r, dl * (np.abs(r) - 0.5 * dl))
        return h.mean() + 0.5 * lam * x @ x, A.T @ np.clip(r, -dl, dl) / len(b) + lam * x

    res = so.minimize(f, np.zeros(p.d), jac=True, method="BFGS", options={"gtol": 1e-11, "maxiter": 5000})
    assert res.fun >= p.f_star - 1e-14 and res.fun - p.f_star <= 1e-10
    assert abs(f(p.x_star)[0] - p.f_star) <= 1e-14


def test_least_squares_closed_forms(build):
    p = build("least_squares")
    A, b = p.A, p.Y[:, 0]
    x = np.linalg.solve(A.T @ A, A.T @ b)
    assert np.allclose(x, p.x_star, rtol=1e-10, atol=1e-12)
    assert abs(0.5 * np.mean((A @ x - b) ** 2) - p.f_star) <= 1e-14
    q = build("least_squares_interp")
    A, b = q.A, q.Y[:, 0]
    x = A.T @ np.linalg.solve(A @ A.T, b)  # min-norm solution via the Gram matrix
    assert np.allclose(x, q.x_star, atol=1e-10)
    assert f_np(q, q.x_star) <= 1e-25 and q.f_star == 0.0 and not q.x_star_unique
    # Any other solution (x* plus a null-space vector) also reaches 0 and has a larger norm.
    z = np.linalg.svd(A)[2][-1]
    assert f_np(q, q.x_star + z) <= 1e-25 and np.linalg.norm(q.x_star + z) > np.linalg.norm(q.x_star)


def test_quadratics_closed_forms(build):
    p = build("quadratic")
    ev = np.linalg.eigvalsh(p.Q)
    assert abs(ev[0] - p.mu) <= 1e-12 and abs(ev[-1] - p.L) <= 1e-12
    q = build("nesterov_smooth")
    k, L = q.params["k"], q.params["L"]

    def nest(x):  # Nesterov's formula, as printed
        s = x[0] ** 2 + np.sum((x[: k - 1] - x[1:k]) ** 2) + x[k - 1] ** 2
        return L / 4 * (0.5 * s - x[0])

    rng = np.random.default_rng(0)
    for x in rng.standard_normal((5, q.d)):
        assert abs(nest(x) - f_np(q, x)) <= 1e-12 * (1 + abs(nest(x)))
    res = so.minimize(lambda x: nest(x), np.zeros(q.d), method="BFGS", options={"gtol": 1e-12})
    assert res.fun >= q.f_star - 1e-13 and res.fun - q.f_star <= 1e-9
    T = 2 * np.eye(k) - np.eye(k, k=1) - np.eye(k, k=-1)
    assert np.allclose(np.linalg.solve(T, np.eye(k)[0]), q.x_star[:k], atol=1e-12)
    assert abs(np.linalg.eigvalsh(L / 4 * T)[0] - q.mu) <= 1e-12


def test_nesterov_nonsmooth_against_cvxpy(build):
    cp = pytest.importorskip("cvxpy")
    p = build("nesterov_nonsmooth")
    k, g, m = p.params["k"], p.params["gamma"], p.params["mu_param"]
    x = cp.Variable(p.d)
    prob = cp.Problem(cp.Minimize(g * cp.max(x[:k]) + m / 2 * cp.sum_squares(x)))
    prob.solve(solver=cp.CLARABEL)
    assert abs(prob.value - p.f_star) <= 1e-7
    assert np.linalg.norm(x.value - p.x_star) <= 1e-4
    # Nesterov's Theorem 3.2.1 set-up: ||x*|| = R.
    assert abs(np.linalg.norm(p.x_star) - p.params["R"]) <= 1e-12


def test_exact_zero_minima(build):
    for name in ("norm_residual", "robust_cauchy", "l1_distance", "abs_1d"):
        p = build(name)
        assert p.f_star == 0.0 and f_np(p, p.x_star) == 0.0, name
    p = build("norm_residual")
    assert np.allclose(np.linalg.lstsq(p.A, p.b, rcond=None)[0], p.x_star, atol=1e-12)


def test_rosenbrock_against_scipy(build):
    p = build("rosenbrock")
    rng = np.random.default_rng(0)
    for x in rng.standard_normal((5, p.d)):
        assert abs(so.rosen(x) - f_np(p, x)) <= 1e-12 * (1 + so.rosen(x))
        assert np.allclose(so.rosen_der(x), p.grad(t(x))[0].numpy(), rtol=1e-12)
    assert f_np(p, p.x_star) == 0.0


# -- f(x) >= f* and the stated constants -------------------------------------------------------

def budget(p, most):
    """Fewer sample points for the expensive oracles (digits: n d ~ 1e6) to keep tests fast."""
    cost = (p.n or 1) * p.d
    return int(max(10, min(most, 4e6 // cost)))


@pytest.mark.parametrize("name", NAMES)
def test_no_point_beats_f_star(build, name):
    p = build(name)
    B = budget(p, 300)
    x = torch.cat([ball_points(p, B, s * (1 + np.linalg.norm(p.x_star)), seed=i) for i, s in enumerate([1e-6, 1e-3, 0.1, 1.0, 10.0])])
    f = p.value(x)
    assert float(f.min()) >= p.f_star - 1e-12 * (1 + abs(p.f_star))
    assert abs(f_np(p, p.x_star) - p.f_star) <= 1e-12 * (1 + abs(p.f_star))


@pytest.mark.parametrize("name", NAMES)
def test_stated_constants_hold(build, name):
    p = build(name)
    r = p.G_radius if p.G_radius is not None else 10.0 * (1 + np.linalg.norm(p.x_star))
    B = budget(p, 200)
    x = ball_points(p, B, r, seed=11)
    y = ball_points(p, B, r, seed=12)
    gx, gy = p.grad(x), p.grad(y)
    if p.G is not None:
        assert float(torch.linalg.vector_norm(gx, dim=1).max()) <= p.G * (1 + 1e-9)
    dx = x - y
    nd2 = (dx * dx).sum(1)
    if p.L is not None:
        sec = torch.linalg.vector_norm(gx - gy, dim=1) / nd2.sqrt()
        assert float(sec.max()) <= p.L * (1 + 1e-9)
    if p.mu > 0:
        assert float(((gx - gy) * dx).sum(1).div(nd2).min()) >= p.mu * (1 - 1e-9)
    if "convex" in p.tags:
        # Subgradient inequality f(y) >= f(x) + <g(x), y - x>.
        gap = p.value(y) - p.value(x) - (gx * (y - x)).sum(1)
        assert float(gap.min()) >= -1e-9 * (1 + float(p.value(y).abs().max()))
    if "nonconvex" in p.tags and p.L is not None:
        gap = p.value(y) - p.value(x) - (gx * (y - x)).sum(1)
        assert float(gap.min()) < 0  # it really is non-convex on this ball


# -- interpolation and component infima --------------------------------------------------------

FINITE = [n for n in NAMES if n.startswith(("lad", "logistic", "huber", "hinge", "least", "robust"))]


@pytest.mark.parametrize("name", FINITE)
def test_component_infima(build, name):
    p = build(name)
    fs = p.component_f_star()
    assert fs is not None and fs.shape == (p.n,)
    all_idx = torch.arange(p.n)[None]
    at_star = p.component_values_each(t(p.x_star), all_idx)[0].numpy()
    x = ball_points(p, budget(p, 50), 1 + np.linalg.norm(p.x_star), seed=13)
    each = p.component_values_each(x, all_idx.expand(x.shape[0], p.n)).numpy()
    assert each.min(0).min() >= -1e-12 and np.all(each >= fs[None] - 1e-12)
    interp = np.all(np.abs(at_star - fs) <= 1e-12)
    assert interp == ("interpolating" in p.tags)
    # Independent: minimise a few f_i numerically (scipy; cvxpy for the non-smooth ones) and
    # compare with the stated infimum.
    rng = np.random.default_rng(0)
    for i in rng.choice(p.n, 3, replace=False):
        if "nonsmooth" in p.tags:
            cp = pytest.importorskip("cvxpy")
            w = cp.Variable(p.d)
            z = p.A[i] @ w
            loss = cp.abs(z - p.Y[i, 0]) if p.loss.name == "absolute" else cp.pos(1 - p.Y[i, 0] * z)
            val = cp.Problem(cp.Minimize(loss + p.lam / 2 * cp.sum_squares(w))).solve(solver=cp.CLARABEL)
            assert abs(val - fs[i]) <= 1e-7 * (1 + fs[i]), (i, val, fs[i])
            continue
        one = torch.tensor([[i]])
        fi = lambda z: float(p.component_value(t(z), one)[0])
        gi = lambda z: p.component_grad(t(z), one)[0].numpy()
        res = so.minimize(fi, p.x_star.copy(), jac=gi, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000})
        assert res.fun >= fs[i] - 1e-10
        assert res.fun - fs[i] <= 1e-6 * (1 + fs[i]), (i, res.fun, fs[i])
