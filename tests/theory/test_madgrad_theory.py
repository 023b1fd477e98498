"""MADGRAD theory (theory/madgrad.py): the dual-averaging identity and z-space form on the
authors' code and the analysed variant, the primal-averaging potential and the derived convex
bounds, on runs of every applicable problem of the library; roles, assumptions (decoupled decay,
averaging, G), undefined rows (the examples, both dtypes and sources of every result:
tests/theory/test_every_result.py)."""

import dataclasses
import math

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.problems import names as problem_names
from ratecheck.theory import Role, check, get, names
from ratecheck.theory import access as A
from ratecheck.theory import madgrad as MG

from tests._lib.theory import DEFAULT, checked_results, heavy_matrix

KEYS = {"madgrad.ftrl_identity", "madgrad.decaying_l2_form", "madgrad.primal_averaging_potential",
        "madgrad.observed_bound", "madgrad.closed_form_bound", "madgrad.tuned_rate", "madgrad.momentum_bound",
        "madgrad.momentum_bound_expected", "madgrad.closed_form_expected", "madgrad.mirror_lyapunov", "madgrad.mirror_lyapunov_expected"}
IN_EXPECTATION = {"madgrad.momentum_bound_expected", "madgrad.closed_form_expected", "madgrad.mirror_lyapunov_expected"}
F64 = torch.float64


def configs():
    """Huge and tiny lr, eps = 0 and tiny, momentum 0, coupled decay; G large (bounds applied) or
    too small (not applied); constant averaging (potential and lambda-averaging bounds not applied,
    momentum_bound applied); MirrorMADGRAD."""
    return [
        ("madgrad", {}, {"lr": torch.tensor([1e-2, 0.1, 10.0, 1e-2, 1e-2]), "momentum": torch.tensor([0.9, 0.0, 0.9, 0.5, 0.9]),
                         "eps": torch.tensor([1e-6, 1e-6, 1e-6, 0.0, 1e-12]), "weight_decay": torch.tensor([0.0, 0.0, 1e-2, 0.0, 0.0])}),
        ("madgrad_paper", {}, {"lr": torch.tensor([1e-3, 0.1, 10.0, 1.0]), "G": torch.tensor([1e3, 1e3, 1e3, 1e-3])}),
        ("madgrad_paper", {"averaging": "constant"}, {"lr": torch.tensor([1e-2, 1.0]), "G": 1e3, "momentum": 0.9}),
        ("mirror_madgrad", {}, {"lr": torch.tensor([1e-2, 0.1, 1.0]), "momentum": torch.tensor([0.9, 0.0, 0.5])}),
    ]


def assert_results_hold(p, T, seed):
    seen = set()
    for opt, kw, hp in configs():
        for bs in [None] + ([2] if p.is_finite_sum else []):
            B = next(v for v in hp.values() if isinstance(v, torch.Tensor)).shape[0]
            tr = run(p, get_opt(opt, **kw), p.x0(B, seed=seed, scale=1.0 + seed), T, hp=hp, batch_size=bs,
                     keep_iterates=True, seeds=torch.arange(B) + 7 * seed)
            seen |= checked_results(opt, p, tr, "madgrad.", f"{opt}{kw} bs={bs}", stochastic=bs is not None).keys()
    return seen


@pytest.mark.parametrize("name", DEFAULT)
def test_results_hold_on_every_problem(name):
    p = get_problem(name)
    seen = assert_results_hold(p, 40, seed=0)
    assert {"madgrad.ftrl_identity", "madgrad.decaying_l2_form"} <= seen
    if "convex" in p.tags:
        assert {"madgrad.observed_bound", "madgrad.closed_form_bound", "madgrad.primal_averaging_potential",
                "madgrad.momentum_bound", "madgrad.mirror_lyapunov"} <= seen


@pytest.mark.heavy
@pytest.mark.parametrize("name,seed", heavy_matrix(problem_names(), [1, 2]))
def test_results_hold_heavy(name, seed):
    """Beyond the default suite (40 steps, seed 0): 500 steps from x0 scale 2 or 3, where
    lam_k = lr sqrt(k+1) has grown by 20x and the cube-root denominators are far from their
    first values; minibatch runs with other sampling seeds."""
    assert_results_hold(get_problem(name), 500, seed)


def test_every_madgrad_result_is_checked():
    assert {k for k in names() if k.startswith("madgrad.")} == KEYS
    seen = assert_results_hold(get_problem("l1_distance"), 30, seed=0)
    # tuned_rate compares only at its horizon (test below); l1_distance has no stochastic oracle
    assert seen == KEYS - {"madgrad.tuned_rate"} - IN_EXPECTATION


# -- roles (examples, both dtypes, planted violations, sources: tests/theory/test_every_result.py) --


def test_roles():
    """The z-space form is the update rewritten (implementation); the FTRL identity is a lemma of
    the bound's proof comparing the optimizer's z with rebuilt sums (theorem)."""
    assert get("madgrad.decaying_l2_form").role is Role.IMPLEMENTATION
    for k in KEYS - {"madgrad.decaying_l2_form"}:
        assert get(k).role is Role.THEOREM, k


# -- undefined rows and assumptions ------------------------------------------------------------------


def test_ftrl_identity_row_zero_is_undefined():
    p = get_problem("l1_distance")
    tr = run(p, get_opt("madgrad"), p.x0(2, seed=0), 20, hp={"lr": 0.1}, keep_iterates=True)
    s = get("madgrad.ftrl_identity").sides(tr, p)
    assert s.observed[0].isnan().all() and s.bound[0].isnan().all() and s.undefined
    assert s.observed[1:].isfinite().all() and s.bound[1:].isfinite().all()


def test_decoupled_decay_is_not_checked_with_its_reason():
    """Decoupled decay shrinks x outside the dual sums: those runs are n/a with the assumption's
    name, and on them the identities indeed fail (the assumption is needed)."""
    p = get_problem("quadratic")
    hp = {"lr": 0.1, "momentum": 0.9, "weight_decay": torch.tensor([0.1, 0.1, 0.0]), "decouple_decay": torch.tensor([1.0, 0.0, 1.0])}
    tr = run(p, get_opt("madgrad"), p.x0(3, seed=0), 50, hp=hp, keep_iterates=True)
    for key in ("madgrad.ftrl_identity", "madgrad.decaying_l2_form"):
        r = get(key)
        c = check(r, tr, p)
        assert c.reasons[0] == "assumption false: decouple_decay = 0 or weight_decay = 0"
        assert c.checked[1:].all() and c.all_hold  # coupled decay, and decoupled with weight_decay = 0
        c_free = check(dataclasses.replace(r, assumptions=()), tr, p)
        assert c_free.violated[0] and not c_free.violated[1:].any()


def test_lr_plus_eps_quirk_is_modelled(monkeypatch):
    """The authors' code steps with lr + eps: the identities rebuild the weights with it, and
    rebuilding them with lr alone is caught on a run where eps is not negligible."""
    p = get_problem("quadratic")
    tr = run(p, get_opt("madgrad"), p.x0(2, seed=0), 40, hp={"lr": 1e-2, "eps": torch.tensor([1e-3, 0.0])}, keep_iterates=True)
    r = get("madgrad.ftrl_identity")
    assert check(r, tr, p).all_hold
    monkeypatch.setattr(MG, "weights_of", lambda trace: MG.dual_weights(A.hp(trace, "lr"), A.steps(trace)))
    c = check(r, tr, p)
    assert c.violated[0] and not c.violated[1]


def test_potential_and_bounds_need_lambda_averaging():
    """Constant averaging: n/a with the assumption's name, the potential's rows NaN (no ratio is
    drawn for it); lambda averaging in float32 is checked (the old test of the recorded c against
    lam/S to 1e-12 reported every float32 run n/a)."""
    p = get_problem("l1_distance")
    hp = {"lr": torch.tensor([1e-2, 1.0]), "G": 2.0, "momentum": 0.9}
    const = run(p, get_opt("madgrad_paper", averaging="constant"), p.x0(2, seed=0), 60, hp=hp, keep_iterates=True)
    for key in ("madgrad.primal_averaging_potential", "madgrad.observed_bound", "madgrad.closed_form_bound", "madgrad.tuned_rate"):
        c = check(get(key), const, p)
        assert not c.checked.any() and set(c.reasons) == {"assumption false: averaging = 'lambda'"}, key
        assert c.worst_ratio.isnan().all()
    assert get("madgrad.primal_averaging_potential").sides(const, p).observed.isnan().all()
    lam32 = run(p, get_opt("madgrad_paper"), p.x0(2, seed=0).float(), 60, hp=hp, keep_iterates=True)
    for key in ("madgrad.primal_averaging_potential", "madgrad.observed_bound", "madgrad.closed_form_bound"):
        assert check(get(key), lam32, p).checked.all(), key


def test_g_must_bound_the_coordinates():
    p = get_problem("l1_distance")  # |g_j| = w_j in [0.5, 2)
    tr = run(p, get_opt("madgrad_paper"), p.x0(2, seed=0), 40, hp={"lr": 0.1, "G": torch.tensor([2.0, 0.1])}, keep_iterates=True)
    c = check(get("madgrad.observed_bound"), tr, p)
    assert c.checked[0] and c.reasons[1] == "assumption false: G >= max_{k,j} |g_kj| along the run"


def test_potential_is_checked_as_a_step_without_cancellation():
    """observed - bound = Phi_k - Phi_{k-1} (Phi_{-1} = 0), and 0 <= observed <= bound on a convex
    run: the ratio lies in [0, 1] (the old sides Phi_k <= Phi_{k-1} compared two numbers <= 0)."""
    p = get_problem("max_affine")
    tr = run(p, get_opt("madgrad_paper"), p.x0(3, seed=0), 80, hp={"lr": torch.tensor([1e-2, 0.1, 1.0]), "G": 1e3}, keep_iterates=True)
    s = get("madgrad.primal_averaging_potential").sides(tr, p)
    phi = MG.potential(tr, p)
    step = phi - torch.cat([torch.zeros_like(phi[:1]), phi[:-1]])
    assert torch.allclose(s.observed - s.bound, step, rtol=1e-9, atol=1e-9 * float(s.scale.max()))
    assert (s.observed >= 0).all() and (s.bound >= 0).all()
    c = check(get("madgrad.primal_averaging_potential"), tr, p)
    assert c.all_hold and (c.worst_ratio <= 1 + 1e-9).all()


@pytest.mark.parametrize("name", ["l1_distance", "max_affine", "nesterov_nonsmooth"])
def test_tuned_rate_at_its_horizon(name):
    """lr = gamma*(m) for m = T: the 3/2 R G sqrt(dim)/sqrt(m) bound, checked at row m - 1 only."""
    p = get_problem(name)
    T, B = 300, 3
    x0 = p.x0(B, seed=0)
    R = p.dist_to_opt(x0)
    G = torch.full((B,), float(p.G))  # |g_j| <= ||g|| <= G
    lr = torch.tensor([MG.tuned_lr(float(R[b]), float(G[b]), p.d, T) for b in range(B)], dtype=F64)
    tr = run(p, get_opt("madgrad_paper"), x0, T, hp={"lr": lr, "G": G}, keep_iterates=True)
    c = check(get("madgrad.tuned_rate"), tr, p)
    assert c.checked.all() and c.all_hold and (c.rows_checked == 1).all()
    assert not c.bound[T - 1].isnan().any() and c.bound[: T - 1].isnan().all()


# -- pure functions ----------------------------------------------------------------------------------


def test_identity_by_hand_two_steps():
    """The FTRL identity's right side at k = 1 against a direct expansion (random non-monotone b)."""
    g = torch.Generator().manual_seed(0)
    l0, l1, x0, u = (torch.randn(1, 4, generator=g, dtype=F64) for _ in range(4))
    b = torch.rand(3, 1, 4, generator=g, dtype=F64) + 0.1
    z0, z1 = x0, x0 - l0 / b[1]
    lhs, rhs, _ = MG.ftrl_identity(torch.stack([l0, l1]), torch.stack([z0, z1]), x0, u, b)
    direct = (l0 * (z0 - u)).sum() + (l1 * (z1 - u)).sum()
    assert lhs[1, 0] == pytest.approx(float(direct), rel=1e-13)
    assert rhs[1, 0] == pytest.approx(float(direct), rel=1e-12)
    assert math.isnan(lhs[0, 0])


@pytest.mark.parametrize("seed", range(5))
def test_identity_and_l2_form_on_random_dual_averaging(seed):
    """Random non-monotone b and gradients over scales: both sides agree, the z-space residual is
    0; a z off by 1e-6 at one step breaks both."""
    gen = torch.Generator().manual_seed(seed)
    T, B, d = 30, 2, 5
    ell = torch.randn(T, B, d, generator=gen, dtype=F64) * torch.exp(2 * torch.randn(T, 1, 1, generator=gen, dtype=F64))
    lam = torch.rand(T + 1, B, generator=gen, dtype=F64) + 0.5
    b = torch.rand(T + 1, B, d, generator=gen, dtype=F64) + 0.1
    x0, u = torch.randn(B, d, generator=gen, dtype=F64), torch.randn(d, generator=gen, dtype=F64)
    s = torch.cat([torch.zeros_like(ell[:1]), torch.cumsum(ell, 0)])
    z = torch.cat([x0[None], x0 - s[1:] / b[1:]])
    lhs, rhs, size = MG.ftrl_identity(ell, z[:T], x0, u, b)
    assert ((lhs - rhs).abs()[1:] <= 1e-12 * size[1:]).all()
    res, rsize = MG.decaying_l2_residual(z, x0, ell / lam[:T, :, None], lam, b)
    assert (res <= 1e-13 * rsize).all()
    z_bad = z.clone()
    z_bad[7] += 1e-6 * z_bad[7].abs().max()
    lhs, rhs, size = MG.ftrl_identity(ell, z_bad[:T], x0, u, b)
    assert ((lhs - rhs).abs()[7:] > 1e-12 * size[7:]).any()
    res, rsize = MG.decaying_l2_residual(z_bad, x0, ell / lam[:T, :, None], lam, b)
    assert (res[6:8] > 1e-13 * rsize[6:8]).all()


def test_potential_step_telescopes():
    gen = torch.Generator().manual_seed(1)
    lam = torch.rand(20, 3, generator=gen, dtype=F64)
    f, inner = torch.rand(20, 3, generator=gen, dtype=F64), torch.randn(20, 3, generator=gen, dtype=F64)
    S = torch.cumsum(lam, 0)
    obs, bnd = MG.potential_step(S, f, lam, inner)
    phi = MG.potential_values(S, f, lam, inner)
    assert torch.allclose(torch.cumsum(obs - bnd, 0), phi, atol=1e-12)


def test_observed_bound_by_hand():
    """B_1 for one coordinate: 1/2 dx^2 d_1 + 1/2 (l_0^2/d_0 + l_1^2/d_1)."""
    d = torch.tensor([[[2.0]], [[3.0]]], dtype=F64)
    ell = torch.tensor([[[1.0]], [[-4.0]]], dtype=F64)
    out = MG.observed_bound(torch.tensor([[0.25]], dtype=F64), d, ell)
    assert float(out[1, 0]) == pytest.approx(0.5 * 0.25 * 3 + 0.5 * (1 / 2 + 16 / 3))


def test_closed_form_bound_by_hand():
    v = MG.closed_form_bound(torch.tensor(2.0), torch.tensor(8.0), 5, torch.tensor(0.3), torch.tensor(27.0))
    assert float(v) == pytest.approx(0.5 * 4 * 4 / 9 + 0.75 * 5 * 16 * 0.3 / 3)
    assert MG.tuned_rate(2.0, 8.0, 4, 16) == pytest.approx(1.5 * 2 * 8 * 2 / 4)


# -- any averaging: the weighted bound (docs/theory/madgrad.md#any-averaging) ----------------------


def test_weighted_sum_telescopes_for_lambda_averaging_and_weights_sum_to_S():
    """c_k = lam_k / S_k: sum_k w_k f_k = S_K f_K; any c: the weights (the sum's coefficients) add up to S_K."""
    torch.manual_seed(0)
    lam = MG.dual_weights(torch.tensor([0.3], dtype=torch.float64), 9)[:10]
    S = torch.cumsum(lam, 0)
    f = torch.rand(10, 1, dtype=torch.float64)
    val, _ = MG.averaged_values(lam, lam / S, f, f.abs())
    assert torch.allclose(val, S * f, rtol=1e-13)
    c = torch.cat([torch.ones(1, 1), torch.full((9, 1), 0.1)]).double()
    for K in range(10):
        w = torch.stack([MG.averaged_values(lam[: K + 1], c[: K + 1], torch.eye(K + 1, dtype=torch.float64)[:, j : j + 1],
                                            torch.zeros(K + 1, 1))[0][-1] for j in range(K + 1)])
        assert torch.isclose(w.sum(), S[K], rtol=1e-13)
        if K >= 2:
            assert w[0] < 0  # c = 0.1: the first iterate's weight is negative (f(x_0) enters the bound)


def test_ftrl_bound_with_sqrt_denominators_is_the_mda_bound():
    """b_i = sqrt(i) (every coordinate): the per-coordinate B_K / S_K equals mda.observed_bound."""
    from ratecheck.theory import mda

    torch.manual_seed(1)
    T, d = 12, 3
    g = torch.randn(T, 1, d, dtype=torch.float64)
    lam = MG.dual_weights(torch.tensor([0.2], dtype=torch.float64), T)
    b = torch.arange(T + 1, dtype=torch.float64).sqrt()[:, None, None].expand(T + 1, 1, d)
    x0, xs = torch.zeros(1, d, dtype=torch.float64), torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    ours = MG.ftrl_bound((xs - x0) ** 2, b, lam[:T, :, None] * g) / torch.cumsum(lam[:T], 0)
    theirs = mda.observed_bound(lam[:T], (g**2).sum(-1), torch.linalg.vector_norm(xs - x0, dim=-1))
    assert ours[0].isnan().all() and torch.allclose(ours[1:], theirs[1:], rtol=1e-13)


def test_momentum_bound_is_for_constant_averaging_and_needs_no_decay():
    p = get_problem("l1_distance")
    tr = run(p, get_opt("madgrad"), p.x0(2, seed=0), 50, hp={"lr": 0.1, "weight_decay": torch.tensor([0.0, 1e-2])}, keep_iterates=True)
    c = check(get("madgrad.momentum_bound"), tr, p)
    assert c.reasons == ["", "assumption false: weight_decay = 0"] and c.checked.tolist() == [True, False] and c.all_hold
    tr = run(p, get_opt("madgrad_paper"), p.x0(1, seed=0), 50, hp={"lr": 0.1, "G": 2.0}, keep_iterates=True)
    c = check(get("madgrad.momentum_bound"), tr, p)
    assert c.reasons == ["assumption false: constant c (averaging = 'constant')"]


def test_mirror_lyapunov_is_tight_and_catches_a_wrong_step():
    """On the l1 problem (piecewise linear) the inequality is tight: observed/bound = 1 on the rows where
    x_{k-1}, x_k share a piece. Steps 2% too large (an error in the rebuilt eta) break it."""
    p = get_problem("l1_distance")
    tr = run(p, get_opt("mirror_madgrad"), p.x0(2, seed=0), 60, hp={"lr": 0.1, "momentum": torch.tensor([0.9, 0.0])},
             keep_iterates=True)
    r = get("madgrad.mirror_lyapunov")
    c = check(r, tr, p)
    assert c.all_hold and (c.worst_ratio > 1 - 1e-9).all()
    g = A.grads(tr, p)
    z = MG.dual_iterates(tr)
    obs, bnd = MG.mirror_lyapunov(A.col(tr, "subopt"), 1 - A.hp(tr, "momentum"), z, torch.as_tensor(p.x_star, dtype=torch.float64),
                                  g, 1.02 * MG.mirror_steps(tr, g))
    assert (obs > bnd + 1e-9 * bnd.abs()).any()
