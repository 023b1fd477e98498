"""MDA: a plain single-run NumPy transcription of the recursion in docs/references/mda.md §1,
the note's test vectors (§5), and the [DERIVED] identities and bound (§2, §3.2, §4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ratecheck import problems
from ratecheck.optimizers import base

T = 200


def reference_mda(x0, grad, lr, c, K, averaging="constant"):
    """MDA for one run, line by line from the note: lam_k = lr sqrt(k+1); s_k = s_{k-1} + lam_k g_k;
    z_{k+1} = x0 - s_k / sqrt(k+1); x_{k+1} = (1-c) x_k + c z_{k+1} (c = lam_{k+1}/S_{k+1} if
    averaging is 'lambda')."""
    x = np.array(x0, dtype=np.float64)
    s = np.zeros_like(x)
    S = lr
    out = []
    for k in range(K):
        g = grad(x)
        lam = lr * math.sqrt(k + 1)
        s = s + lam * g
        z = x0 - s / math.sqrt(k + 1)
        if averaging == "lambda":
            lam_next = lr * math.sqrt(k + 2)
            S += lam_next
            ck = lam_next / S
        else:
            ck = c
        x = (1 - ck) * x + ck * z
        out.append(x.copy())
    return np.array(out)


def _problems():
    l1 = problems.get("l1_distance", d=6, seed=2)
    rng = np.random.default_rng(4)
    A, b = rng.standard_normal((10, 6)), rng.standard_normal(10)
    ls_np = lambda x: A.T @ (A @ x - b) / 10  # noqa: E731
    At, bt = torch.tensor(A), torch.tensor(b)
    ls_t = lambda x: ((x @ At.T - bt) @ At) / 10  # noqa: E731
    l1_np = lambda x: l1.grad(torch.tensor(x)[None])[0].numpy()  # noqa: E731
    return {"l1_distance": (l1_np, l1.grad), "least_squares": (ls_np, ls_t)}


@pytest.mark.parametrize("prob", ["l1_distance", "least_squares"])
@pytest.mark.parametrize("averaging", ["constant", "lambda"])
def test_matches_reference_transcription(prob, averaging):
    g_np, g_t = _problems()[prob]
    lrs = torch.tensor([0.01, 0.05, 0.02, 0.003])
    moms = torch.tensor([0.9, 0.0, 0.5, 0.99])
    x0 = torch.randn(4, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    opt = base.get("mda", averaging=averaging)
    st = opt.init(x0, lr=lrs, momentum=moms)
    xs = []
    for _ in range(T):
        st, info = opt.step(st, g_t(st["x"]))
        xs.append(st["x"])
    X = torch.stack(xs).numpy()
    for b in range(4):
        R = reference_mda(x0[b].numpy(), g_np, lrs[b].item(), 1 - moms[b].item(), T, averaging)
        np.testing.assert_allclose(X[:, b], R, rtol=1e-12, atol=1e-12)
        assert np.abs(R[-1] - x0[b].numpy()).max() > 1e-2


def test_note_test_vectors():
    """mda.md §5: f = (x1^2 + 2 x2^2 + 3 x3^2)/2 from (1, 1, 1), iterates 1..3."""
    h = torch.tensor([[1.0, 2.0, 3.0]])
    cases = [
        (dict(lr=1e-2, momentum=0.9), [(0.9990000000, 0.9980000000, 0.9970000000), (0.9973938932, 0.9947897864, 0.9921876797), (0.9952640797, 0.9905368005, 0.9858181566)]),
        (dict(lr=0.1, momentum=0.0), [(0.9000000000, 0.8000000000, 0.7000000000), (0.8392893219, 0.6985786438, 0.5778679656), (0.7848513486, 0.6141747645, 0.4819702476)]),
    ]
    for hp, rows in cases:
        opt = base.get("mda")
        st = opt.init(torch.ones(1, 3), **hp)
        for row in rows:
            st, _ = opt.step(st, h * st["x"])
            np.testing.assert_allclose(st["x"][0].numpy(), row, atol=6e-11)


def test_decaying_l2_momentum_form():
    """§2 [DERIVED]: with rho_k = sqrt(k/(k+1)), constant c, x_{-1} = x_0, for any gradients,
    x_{k+1} = x_k - c lam_k/sqrt(k+1) g_k + (1-c) rho_k (x_k - x_{k-1}) - c (1-rho_k)(x_k - x_0);
    and z_{k+1} - x0 = -s_k / sqrt(k+1)."""
    gen = torch.Generator().manual_seed(3)
    gs = torch.randn(T, 2, 4, generator=gen, dtype=torch.float64)
    x0 = torch.randn(2, 4, generator=gen, dtype=torch.float64)
    lr = torch.tensor([0.05, 0.2])
    c = torch.tensor([0.1, 0.7])
    opt = base.get("mda")
    st = opt.init(x0, lr=lr, momentum=1 - c)
    x_prev = x0
    for k in range(T):
        x = st["x"]
        st, info = opt.step(st, gs[k])
        rho = math.sqrt(k / (k + 1))
        cc = info["c"][:, None]
        pred = x - cc * info["lambda"][:, None] / math.sqrt(k + 1) * gs[k] + (1 - cc) * rho * (x - x_prev) - cc * (1 - rho) * (x - x0)
        assert torch.allclose(st["x"], pred, rtol=0, atol=1e-12)
        x_prev = x


def test_open_loop_linear_in_lr_and_gradient_scale():
    """§4: for a fixed gradient sequence, x - x0 is linear in lr and in the gradient scale."""
    gs = torch.randn(150, 1, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x0 = torch.tensor([[0.2, -0.4, 1.0]])

    def disp(lr, a):
        opt = base.get("mda")
        st = opt.init(x0, lr=lr, momentum=0.8)
        for g in gs:
            st, _ = opt.step(st, a * g)
        return st["x"] - x0

    d = disp(0.01, 1.0)
    assert torch.allclose(disp(0.037, 1.0), 3.7 * d, rtol=1e-12, atol=0)
    assert torch.allclose(disp(0.01, 0.25), 0.25 * d, rtol=1e-12, atol=0)


def test_lambda_averaging_bound_on_weighted_l1():
    """§3.2 [DERIVED]: with lambda-weighted averaging, convex f and ||g|| <= G, for k >= 1,
    f(x_k) - f* <= (sqrt(k) R^2/2 + gamma^2 G^2 (1 + sum_{i=1}^k (i+1)/sqrt(i))/2) / (gamma sum_{i=1}^{k+1} sqrt(i)).
    Also x_k equals the lambda-weighted average of z_0 = x0, z_1, ..., z_k."""
    P = problems.get("l1_distance", d=10, seed=7)
    x0 = P.x0(3, seed=1)
    R = P.dist_to_opt(x0)
    G = P.G  # ||w||_2 bounds every subgradient's norm
    gammas = torch.tensor([0.01, 0.1, 1.0])
    opt = base.get("mda", averaging="lambda")
    st = opt.init(x0, lr=gammas, momentum=0.0)
    num, S = gammas[:, None] * x0, gammas.clone()
    sum_a, sum_sqrt = 1.0, 1.0
    worst = 0.0
    for k in range(1, 1001):
        st, info = opt.step(st, P.grad(st["x"]))
        lam = gammas * math.sqrt(k + 1)
        z = st["x0"] - st["s"] / math.sqrt(k)
        num, S = num + lam[:, None] * z, S + lam
        assert torch.allclose(st["x"], num / S[:, None], rtol=1e-12, atol=1e-13)
        sum_a += (k + 1) / math.sqrt(k)
        sum_sqrt += math.sqrt(k + 1)
        bound = (0.5 * math.sqrt(k) * R**2 + 0.5 * gammas**2 * G**2 * sum_a) / (gammas * sum_sqrt)
        gap = P.value(st["x"]) - P.f_star
        assert (gap <= bound * (1 + 1e-9)).all(), (k, gap, bound)
        worst = max(worst, float((gap / bound).max()))
    assert worst > 0.01  # the bound is not vacuous on this run


def test_validation():
    x0 = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="lr"):
        base.get("mda").init(x0)
    with pytest.raises(ValueError, match="lr"):
        base.get("mda").init(x0, lr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        base.get("mda").init(x0, lr=0.1, momentum=-0.1)
    with pytest.raises(ValueError, match="averaging"):
        base.get("mda", averaging="ema")
