"""TAPS/MOTAPS: against a plain single-run NumPy transcription of the official code's semantics
(docs/references/motaps.md §2), and the per-step facts of §4-§5 under their validity conditions.

There is no installable reference package; ``reference_taps`` below is our own line-by-line
transcription of the note's pseudocode, written for one run with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ratecheck.optimizers import base

N, D, REG = 7, 4, 1.0 / 7
EPOCHS = 4


class Logistic:
    """f_i(w) = log(1 + exp(-y_i <a_i, w>)) + REG/2 ||w||^2 (as in the authors' experiments),
    f = mean_i f_i; NumPy oracles for the reference, batched torch oracles for the port."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.A = rng.standard_normal((N, D))
        self.y = np.where(rng.standard_normal(N) > 0, 1.0, -1.0)
        self.At, self.yt = torch.tensor(self.A), torch.tensor(self.y)
        self.w_star = self._newton()
        self.f_star = float(np.mean([self.f_i(self.w_star, i) for i in range(N)]))

    # NumPy, one run
    def f_i(self, w, i):
        return np.logaddexp(0.0, -self.y[i] * self.A[i] @ w) + 0.5 * REG * w @ w

    def g_i(self, w, i):
        m = self.y[i] * self.A[i] @ w
        return -self.y[i] / (1 + np.exp(m)) * self.A[i] + REG * w

    def _newton(self):
        w = np.zeros(D)
        for _ in range(50):
            m = self.y * (self.A @ w)
            p = 1 / (1 + np.exp(m))
            g = -(self.A.T @ (self.y * p)) / N + REG * w
            H = (self.A.T * (p * (1 - p))) @ self.A / N + REG * np.eye(D)
            w = w - np.linalg.solve(H, g)
        assert np.linalg.norm(-(self.A.T @ (self.y / (1 + np.exp(self.y * (self.A @ w))))) / N + REG * w) < 1e-14
        return w

    # torch, batched: w [B, D], idx [B, 1]
    def value_t(self, w, idx):
        a, y = self.At[idx[:, 0]], self.yt[idx[:, 0]]
        m = y * (a * w).sum(-1)
        return torch.nn.functional.softplus(-m) + 0.5 * REG * (w * w).sum(-1)

    def grad_t(self, w, idx):
        a, y = self.At[idx[:, 0]], self.yt[idx[:, 0]]
        m = y * (a * w).sum(-1)
        return (-y * torch.sigmoid(-m))[:, None] * a + REG * w


def reference_taps(prob, x0, idx_seq, lr, beta, tau, tau_lr):
    """One run of taps as in motaps.md §2; returns the per-step states."""
    gamma = lr * (1 + beta / (1 - beta))
    x, z = x0.copy(), x0.copy()
    alpha, abar = np.zeros(N), 0.0
    out = []
    for t, i in enumerate(idx_seq):
        g = prob.g_i(x, i)
        r = prob.f_i(x, i) - alpha[i]
        q = g @ g + 1
        coef = r / q
        old = alpha[i]
        alpha[i] = alpha[i] + gamma * coef
        z = z - gamma * coef * g
        x = beta * x + (1 - beta) * z
        abar = abar + (alpha[i] - old) / N
        if (t + 1) % N == 0:
            tau = (1 - tau_lr) * tau + tau_lr * (N / (N + 1)) * abar
            alpha = alpha + gamma * (tau - abar)
            abar = abar + gamma * (tau - abar)
        out.append(dict(x=x.copy(), z=z.copy(), alpha=alpha.copy(), abar=abar, tau=tau, r=r, coef=coef))
    return out


def _run(name, prob, x0, idx_seq, hp, loss_override=None):
    """Batched run; idx_seq [T, B]. Returns the list of (state before, info, state after)."""
    opt = base.get(name)
    kw = {"n": N, "f_star": prob.f_star} if name == "taps" else {"n": N}
    st = opt.init(x0, **hp, **kw)
    hist = []
    for t in range(idx_seq.shape[0]):
        idx = idx_seq[t][:, None]
        loss = prob.value_t(st["x"], idx)
        if loss_override is not None:
            loss = loss_override(t, st, idx, loss)
        new, info = opt.step(st, prob.grad_t(st["x"], idx), loss, idx)
        hist.append((st, info, new, idx[:, 0]))
        st = new
    return hist


CONFIGS = [
    ("taps", dict(lr=1.0, beta=0.0)),
    ("taps", dict(lr=0.7, beta=0.5)),
    ("motaps", dict(lr=0.9, beta=0.0, tau_lr=0.3)),
    ("motaps", dict(lr=0.6, beta=0.3, tau_lr=0.01, tau0=0.2)),
]


@pytest.mark.parametrize("name,hp", CONFIGS)
def test_matches_reference_transcription(name, hp):
    prob = Logistic()
    B = 3
    rng = np.random.default_rng(1)
    idx_seq = torch.tensor(rng.integers(0, N, size=(N * EPOCHS, B)))
    x0 = torch.tensor(rng.standard_normal((B, D)))
    hist = _run(name, prob, x0, idx_seq, hp)
    tau0 = prob.f_star if name == "taps" else hp.get("tau0", 0.0)
    for b in range(B):
        ref = reference_taps(prob, x0[b].numpy(), idx_seq[:, b].numpy(), hp["lr"], hp["beta"], tau0, hp.get("tau_lr", 0.0))
        for t, (_, info, new, _) in enumerate(hist):
            R = ref[t]
            for key, val in (("x", new["x"][b]), ("z", new["z"][b]), ("alpha", new["alpha"][b])):
                np.testing.assert_allclose(val.numpy(), R[key], rtol=1e-12, atol=1e-13, err_msg=f"{key} t={t} b={b}")
            for key, val in (("abar", info["alphabar"][b]), ("tau", info["tau"][b]), ("r", info["r"][b]), ("coef", info["coef"][b])):
                assert val.item() == pytest.approx(R[key], rel=1e-12, abs=1e-13), (key, t, b)
            assert new["alphabar"][b].item() == pytest.approx(R["abar"], rel=1e-12, abs=1e-13)
        assert abs(ref[-1]["abar"]) > 1e-3  # the targets moved
        if name == "motaps":
            assert abs(ref[-1]["tau"] - tau0) > 1e-4


def _epoch_end(t):
    return (t + 1) % N == 0


def test_per_epoch_structure():
    """Between epoch ends only the sampled target moves and tau is frozen; at an epoch end all
    targets shift by the same amount; alphabar is always the mean of alpha."""
    prob = Logistic()
    rng = np.random.default_rng(2)
    idx_seq = torch.tensor(rng.integers(0, N, size=(N * EPOCHS, 2)))
    hist = _run("motaps", prob, torch.zeros(2, D), idx_seq, dict(lr=0.8, beta=0.2, tau_lr=torch.tensor([0.2, 1.0])))
    for t, (old, info, new, i) in enumerate(hist):
        assert torch.allclose(new["alphabar"], new["alpha"].mean(-1), rtol=0, atol=1e-14)
        delta = new["alpha"] - old["alpha"]
        mask = torch.ones_like(delta, dtype=torch.bool)
        mask[torch.arange(2), i] = False
        others = delta[mask].view(2, N - 1)
        if _epoch_end(t):
            assert (others.abs() > 0).all()
            assert torch.allclose(others, others[:, :1].expand(-1, N - 1), rtol=0, atol=1e-15)
            assert (new["tau"] != old["tau"]).all()
        else:
            assert (others == 0).all()
            assert torch.equal(new["tau"], old["tau"])


def test_projection_step_taps():
    """§4.1 (beta = 0, gamma = 1): after a sample step, (w, alpha) lies on the linearised
    constraint f_i(w_t) + <grad f_i(w_t), w - w_t> = alpha_i."""
    prob = Logistic()
    rng = np.random.default_rng(3)
    idx_seq = torch.tensor(rng.integers(0, N, size=(N * EPOCHS, 2)))
    x0 = torch.tensor(rng.standard_normal((2, D)))
    hist = _run("taps", prob, x0, idx_seq, dict(lr=1.0, beta=0.0))
    checked = 0
    for t, (old, info, new, i) in enumerate(hist):
        if _epoch_end(t):
            continue
        idx = i[:, None]
        w, w1 = old["x"], new["x"]
        lin = prob.value_t(w, idx) + (prob.grad_t(w, idx) * (w1 - w)).sum(-1)
        resid = lin - new["alpha"].gather(1, idx)[:, 0]
        assert resid.abs().max() < 1e-13
        checked += 1
    assert checked >= N * (EPOCHS - 1)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 1.5])
def test_known_target_lyapunov(gamma):
    """§5.2 (beta = 0, convex f_i, tau = f*): with alpha*_i = f_i(w*) and
    V = ||w - w*||^2 + ||alpha - alpha*||^2, the sample step satisfies the exact identity
    V+ = V - 2 gamma (r/q) [<g, w - w*> - (alpha_i - alpha*_i)] + gamma^2 r^2 / q, and when r >= 0,
    V+ <= V - gamma (2 - gamma) r^2 / q (also across an epoch end, where the shift only lowers V)."""
    prob = Logistic()
    rng = np.random.default_rng(4)
    B = 3
    idx_seq = torch.tensor(rng.integers(0, N, size=(N * 6, B)))
    x0 = torch.tensor(3 * rng.standard_normal((B, D)))
    hist = _run("taps", prob, x0, idx_seq, dict(lr=gamma, beta=0.0))
    w_star = torch.tensor(prob.w_star)
    a_star = torch.tensor([prob.f_i(prob.w_star, i) for i in range(N)])
    assert float(a_star.mean()) == pytest.approx(prob.f_star, rel=1e-14)
    V = lambda s: ((s["x"] - w_star) ** 2).sum(-1) + ((s["alpha"] - a_star) ** 2).sum(-1)  # noqa: E731
    n_pos = 0
    for t, (old, info, new, i) in enumerate(hist):
        idx = i[:, None]
        g = prob.grad_t(old["x"], idx)
        r = prob.value_t(old["x"], idx) - old["alpha"].gather(1, idx)[:, 0]
        q = (g * g).sum(-1) + 1
        V0, V1 = V(old), V(new)
        if not _epoch_end(t):
            bracket = (g * (old["x"] - w_star)).sum(-1) - (old["alpha"].gather(1, idx)[:, 0] - a_star[i])
            pred = V0 - 2 * gamma * r / q * bracket + gamma**2 * r**2 / q
            assert torch.allclose(V1, pred, rtol=1e-12, atol=1e-12)
        pos = r >= 0
        bound = V0 - gamma * (2 - gamma) * r**2 / q
        assert (V1[pos] <= bound[pos] + 1e-12 * (1 + V0[pos])).all(), t
        n_pos += int(pos.sum())
    assert n_pos >= 10


@pytest.mark.parametrize("gamma", [0.4, 1.0, 1.7])
def test_epoch_shift_identity(gamma):
    """§5.2: the epoch-end shift alone gives V+ = V - gamma (2 - gamma) n (abar - tau)^2 for any
    alpha* with mean tau. The sample step is made a no-op (r = 0) by passing loss = alpha_i at
    the epoch-end steps, so the state change there is the shift alone."""
    prob = Logistic()
    rng = np.random.default_rng(5)
    idx_seq = torch.tensor(rng.integers(0, N, size=(N * 3, 2)))

    def zero_r_at_epoch_end(t, st, idx, loss):
        return st["alpha"].gather(1, idx)[:, 0].clone() if _epoch_end(t) else loss

    hist = _run("taps", prob, torch.zeros(2, D), idx_seq, dict(lr=gamma, beta=0.0), zero_r_at_epoch_end)
    a_star = torch.tensor([prob.f_i(prob.w_star, i) for i in range(N)])
    tau = prob.f_star
    ends = 0
    for t, (old, info, new, i) in enumerate(hist):
        if not _epoch_end(t):
            continue
        assert (info["r"] == 0).all() and torch.equal(new["x"], old["x"])
        V0 = ((old["alpha"] - a_star) ** 2).sum(-1)
        V1 = ((new["alpha"] - a_star) ** 2).sum(-1)
        abar = old["alpha"].mean(-1)
        pred = V0 - gamma * (2 - gamma) * N * (abar - tau) ** 2
        assert torch.allclose(V1, pred, rtol=1e-12, atol=1e-14)
        assert ((abar - tau).abs() > 1e-6).all()
        ends += 1
    assert ends == 3


@pytest.mark.parametrize("tau_lr", [0.3, 1.0, 1.8])
def test_motaps_target_step_decreases_phi(tau_lr):
    """§4.2/§5.3: at each epoch end the tau update is a gradient step of size tau_lr/(n+1) on
    phi(tau) = n/2 (tau - abar)^2 + tau^2/2 (abar: before the shift), so phi decreases for
    tau_lr in (0, 2); its minimiser n/(n+1) abar is reached at tau_lr = 1."""
    prob = Logistic()
    rng = np.random.default_rng(6)
    idx_seq = torch.tensor(rng.integers(0, N, size=(N * 5, 2)))
    hist = _run("motaps", prob, torch.ones(2, D), idx_seq, dict(lr=0.9, beta=0.0, tau_lr=tau_lr, tau0=0.5))
    for t, (old, info, new, i) in enumerate(hist):
        if not _epoch_end(t):
            continue
        abar = old["alphabar"] + info["lr"] * info["coef"] / N  # after the sample step, before the shift
        phi = lambda tau: N / 2 * (tau - abar) ** 2 + tau**2 / 2  # noqa: E731
        assert (phi(new["tau"]) <= phi(old["tau"]) + 1e-14).all()
        assert (phi(new["tau"]) < phi(old["tau"])).any()
        if tau_lr == 1.0:
            assert torch.allclose(new["tau"], N / (N + 1) * abar, rtol=1e-13, atol=1e-15)


def test_bad_input():
    x0 = torch.zeros(2, D)
    taps, motaps = base.get("taps"), base.get("motaps")
    with pytest.raises(ValueError, match="n"):
        taps.init(x0, lr=1.0, f_star=0.0)
    with pytest.raises(ValueError, match="f_star"):
        taps.init(x0, lr=1.0, n=N)
    with pytest.raises(ValueError, match="n"):
        taps.init(x0, lr=1.0, n=0, f_star=0.0)
    with pytest.raises(ValueError, match="lr"):
        motaps.init(x0, n=N)
    with pytest.raises(ValueError, match="tau_lr"):
        motaps.init(x0, lr=1.0, n=N, tau_lr=2.0)
    with pytest.raises(ValueError, match="beta"):
        taps.init(x0, beta=1.0, n=N, f_star=0.0)
    st = motaps.init(x0, lr=1.0, n=N)
    g, loss = torch.zeros(2, D), torch.zeros(2)
    with pytest.raises(ValueError, match="indices"):
        motaps.step(st, g, loss)
    with pytest.raises(ValueError, match="loss"):
        motaps.step(st, g, None, torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[2, 1\]"):
        motaps.step(st, g, loss, torch.zeros(2, 3, dtype=torch.long))
