"""TAPS/MOTAPS theory (theory/motaps.py): the target bookkeeping, the sample-step and TAPS
Lyapunov inequalities under their conditions, and MOTAPS's descending tau step, on every
finite-sum problem of the library (one sampled point per step, as in the authors' code)."""

import dataclasses

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.problems import names as problem_names
from ratecheck.theory import Role, Sides, Unavailable, check, get, names
from ratecheck.theory import motaps as MT

from tests._lib.theory import HEAVY_PROBLEMS, checked_results, heavy_matrix

FINITE = [n for n in problem_names() if get_problem(n).is_finite_sum]
DEFAULT = [n for n in FINITE if n not in HEAVY_PROBLEMS]


def configs():
    """gamma from tiny to huge (10: the sample step still holds, TAPS's V does not apply), beta > 0
    (sample step not applied), MOTAPS with tau_lr up to 1.9 and a far-off tau0."""
    return [
        ("taps", {"lr": torch.tensor([1e-3, 0.5, 1.0, 1.99, 10.0, 1.0]), "beta": torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.9])}),
        ("motaps", {"lr": torch.tensor([0.5, 1.0, 1.5, 1.0, 5.0]), "tau_lr": torch.tensor([0.01, 0.5, 1.9, 0.0, 1.0]),
                    "tau0": torch.tensor([0.0, -1.0, 5.0, 0.0, 100.0]), "beta": torch.tensor([0.0, 0.0, 0.0, 0.5, 0.0])}),
    ]


def assert_results_hold(p, T, seed):
    seen = set()
    for opt, hp in configs():
        B = hp["lr"].shape[0]
        tr = run(p, get_opt(opt), p.x0(B, seed=seed, scale=1.0 + seed), T, hp=hp, batch_size=1, seeds=torch.arange(B) + 11 * seed)
        # a result counts as seen only where it compared some value (not all rows NaN)
        checked = checked_results(opt, p, tr, "motaps.", opt, stochastic=True)
        seen |= {k for k, c in checked.items() if not c.observed[:, c.checked].isnan().all()}
    return seen


@pytest.mark.parametrize("name", DEFAULT)
def test_results_hold_on_every_problem(name):
    p = get_problem(name)
    T = min(p.n + 20, 220)  # at least one epoch end where n is small
    seen = assert_results_hold(p, T, seed=0)
    assert "motaps.target_bookkeeping" in seen
    if "convex" in p.tags:
        assert {"motaps.sample_step", "motaps.taps_lyapunov", "motaps.moving_target_lyapunov", "motaps.residual_rate"} <= seen
    if T > p.n:
        assert "motaps.tau_step_descends" in seen


@pytest.mark.heavy
@pytest.mark.parametrize("name,seed", heavy_matrix(FINITE, [1, 2]))
def test_results_hold_heavy(name, seed):
    """Beyond the default suite (at most 220 steps: one epoch of the small problems): three
    epochs (3 n steps, single-sample) of every finite sum, so the target bookkeeping and the
    Lyapunov step run over several epoch ends, from x0 scale 2 or 3."""
    p = get_problem(name)
    assert_results_hold(p, 3 * p.n, seed)


def test_every_motaps_result_is_checked():
    keys = {k for k in names() if k.startswith("motaps.")}
    assert keys == {"motaps.target_bookkeeping", "motaps.sample_step", "motaps.taps_lyapunov", "motaps.tau_step_descends",
                    "motaps.moving_target_lyapunov", "motaps.residual_rate", "motaps.taps_clean_rate"}
    assert assert_results_hold(get_problem("lad"), 130, seed=0) == keys


def test_conditions_are_needed():
    """beta > 0 (sample step) and gamma > 2 (TAPS's V) are outside the proofs: such runs are n/a
    with the assumption's name, and the inequalities do fail on them (the conditions matter)."""
    p = get_problem("lad")
    tr = run(p, get_opt("taps"), p.x0(2, seed=0), 3 * p.n, hp={"lr": torch.tensor([1.0, 3.0]), "beta": torch.tensor([0.9, 0.0])},
             batch_size=1)
    s = check(get("motaps.sample_step"), tr, p)
    v = check(get("motaps.taps_lyapunov"), tr, p)
    assert s.checked.tolist() == [False, True] and s.reasons[0] == "assumption false: beta = 0"
    assert v.checked.tolist() == [False, False] and v.reasons == ["assumption false: beta = 0", "assumption false: 0 < gamma <= 2"]
    s = check(dataclasses.replace(get("motaps.sample_step"), assumptions=()), tr, p)
    v = check(dataclasses.replace(get("motaps.taps_lyapunov"), assumptions=()), tr, p)
    assert s.violated.tolist() == [True, False] and bool(v.violated[1])


def test_roles():
    """The replay identity and the tau step (a gradient step on a quadratic) hold by construction."""
    roles = {k: get(k).role for k in names() if k.startswith("motaps.")}
    assert {k for k, r in roles.items() if r is Role.IMPLEMENTATION} == {"motaps.target_bookkeeping", "motaps.tau_step_descends"}
    assert roles["motaps.sample_step"] is roles["motaps.taps_lyapunov"] is Role.THEOREM


@pytest.mark.parametrize("opt,hp", [("taps", {"lr": 1.0}), ("motaps", {"lr": 1.0, "tau_lr": 0.5, "tau0": 1.0})])
def test_replay_is_exact(opt, hp):
    """The run records the sampled index (info ``idx``), equal to the sampler's; in float64 the
    replayed r, tau and abar agree with the optimizer's to a few ulps, and the replayed ||alpha - alpha*||^2
    matches the optimizer's own alpha at the end."""
    p = get_problem("least_squares_interp")
    o = get_opt(opt)
    T = 2 * p.n + 5
    tr = run(p, o, p.x0(3, seed=0), T, hp=hp, batch_size=1, seeds=torch.tensor([3, 4, 5]))
    idx = torch.stack([p.sample_indices(torch.tensor([3, 4, 5]), t, 1)[:, 0] for t in range(T)])
    assert torch.equal(tr["idx"][:T].long(), idx)
    sh = MT.shadow(tr, p)
    for rec, rep in (("r", "r"), ("tau", "tau"), ("alphabar", "abar")):
        torch.testing.assert_close(tr[rec][:T].double(), sh[rep], rtol=1e-13, atol=1e-13)
    # the optimizer's alpha, by stepping it again with the same oracle
    st = o.init(p.x0(3, seed=0), n=p.n, **({"f_star": p.f_star} if opt == "taps" else {}), **hp)
    for t in range(T):
        i = idx[t][:, None]
        x = st["x"]
        st, _ = o.step(st, p.component_grad(x, i), p.component_value(x, i), i)
    dist = ((st["alpha"] - MT.solution_targets(p)) ** 2).sum(-1)
    torch.testing.assert_close(sh["dist_alpha_next"][-1], dist, rtol=1e-12, atol=1e-14)


def test_a_trace_without_indices_is_unavailable():
    p = get_problem("lad")
    tr = run(p, get_opt("taps"), p.x0(2, seed=0), 20, hp={"lr": 1.0}, batch_size=1)
    del tr.data["idx"]
    with pytest.raises(Unavailable, match="idx"):
        get("motaps.sample_step").sides(tr, p)


def test_scale_covers_the_replayed_targets():
    """TAPS's V adds the replayed ||alpha - alpha*||^2: its scale counts the magnitude of every update
    the targets accumulated (t+1 terms), so it grows with t while V itself decreases."""
    p = get_problem("lad")
    tr = run(p, get_opt("taps"), p.x0(2, seed=0), 130, hp={"lr": 1.0}, batch_size=1)
    s = get("motaps.taps_lyapunov").sides(tr, p)
    assert isinstance(s, Sides) and torch.equal(torch.as_tensor(s.terms)[:, 0], torch.arange(1.0, 131.0, dtype=torch.float64))
    sh = MT.shadow(tr, p)
    assert bool((s.scale >= sh["alpha_mag"] + sh["alpha_mag_next"]).all())
    assert bool((sh["alpha_mag"][1:] >= sh["dist_alpha"][1:]).all())


def test_phi_and_its_minimiser():
    """phi's minimiser is tau = n/(n+1) abar and a step of size lam/(n+1) lands there at lam = 1."""
    n, abar = 7, torch.tensor(3.0)
    t_star = n / (n + 1) * abar
    for t in (t_star - 1, t_star + 2):
        assert MT.phi(t, abar, n) > MT.phi(t_star, abar, n)
    tau = torch.tensor(-4.0)
    step = (1 - 1.0) * tau + 1.0 * n / (n + 1) * abar
    assert float(step) == pytest.approx(float(t_star))


def test_solution_targets_average_to_f_star():
    for name in DEFAULT:
        p = get_problem(name)
        assert float(MT.solution_targets(p).mean()) == pytest.approx(p.f_star, rel=1e-9, abs=1e-12)




def test_epoch_end_term_is_the_exact_change_of_the_targets_distance():
    """target_error_term equals ||alpha + gamma (tau - abar) 1 - alpha*||^2 - ||alpha - alpha*||^2 whenever
    mean(alpha*) = f*, and vanishes with the shift's own decrease at tau = f* (TAPS)."""
    g = torch.Generator().manual_seed(0)
    n = 7
    for _ in range(20):
        alpha, star = torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
        tau, gamma = float(torch.randn(1, generator=g)), float(torch.rand(1, generator=g)) * 3
        abar, fs = alpha.mean(), star.mean()
        moved = alpha + gamma * (tau - abar)
        exact = ((moved - star) ** 2).sum() - ((alpha - star) ** 2).sum()
        assert torch.allclose(MT.target_error_term(torch.tensor(tau), abar, fs, gamma, n), exact, rtol=1e-12, atol=1e-12)
    assert float(MT.target_error_term(torch.tensor(1.0), torch.tensor(3.0), 1.0, 0.5, n)) == -n * 0.5 * 1.5 * 4.0


def test_moving_target_needs_its_error_term():
    """Without the epoch-end error term (i.e. the TAPS inequality) MOTAPS runs with tau far from f* violate V's
    decrease: the term is what the inequality needs, and with it the same runs hold."""
    p = get_problem("lad")
    hp = {"lr": torch.tensor([1.0, 1.0]), "tau_lr": torch.tensor([0.5, 0.5]), "tau0": torch.tensor([100.0, -100.0])}
    tr = run(p, get_opt("motaps"), p.x0(2, seed=0), 3 * p.n, hp=hp, batch_size=1, seeds=torch.arange(2))
    assert check(get("motaps.moving_target_lyapunov"), tr, p).all_hold
    no_term = check(dataclasses.replace(get("motaps.taps_lyapunov"), assumptions=()), tr, p)
    assert bool(no_term.violated.any())


def test_negative_residual_increase_bounds_the_sample_step():
    """On random convex quadratics f_i(w) = |A(w - c)|^2/2 + s, any reference w* (alpha*_i = f_i(w*)): a sample
    step with r < 0 raises V by at most r_negative_increase (and the bound is attained within Cauchy-Schwarz);
    with r >= 0 the increase is 0 and V drops by at least gamma (2-gamma) r^2/q."""
    g = torch.Generator().manual_seed(1)
    d, seen = 4, {True: 0, False: 0}
    for _ in range(400):
        A_ = torch.randn(d, d, generator=g, dtype=torch.float64)
        c, ws, w = (torch.randn(d, generator=g, dtype=torch.float64) for _ in range(3))
        s0 = float(torch.randn(1, generator=g))
        f = lambda x: 0.5 * float(((A_ @ (x - c)) ** 2).sum()) + s0  # noqa: E731
        grad = A_.T @ (A_ @ (w - c))
        a_star = f(ws)
        alpha = f(w) + 3 * float(torch.randn(1, generator=g))
        gamma = float(torch.rand(1, generator=g)) * 1.99 + 0.005
        r, q = f(w) - alpha, float(grad @ grad) + 1
        w_new, a_new = w - gamma * r / q * grad, alpha + gamma * r / q
        dV = float(((w_new - ws) ** 2).sum() - ((w - ws) ** 2).sum()) + (a_new - a_star) ** 2 - (alpha - a_star) ** 2
        t = lambda v: torch.tensor([[v]], dtype=torch.float64)  # noqa: E731
        U = float(MT.r_negative_increase(torch.tensor([[float((w - ws).norm())], [0.0]], dtype=torch.float64), t(f(w)), t(r),
                                         t(float(grad.norm())), torch.tensor([gamma], dtype=torch.float64), t(a_star)))
        seen[r < 0] += 1
        if r < 0:
            assert dV <= U + 1e-9 * (1 + abs(U) + abs(dV))
        else:
            assert U == 0.0 and dV <= -gamma * (2 - gamma) * r**2 / q + 1e-9 * (1 + abs(dV))
    assert min(seen.values()) > 50


def test_residual_rate_sides_by_hand():
    """Rows average (r^+)^2/q over steps 0..t; the bound is (V_0 + cumulated extra) / (gamma (2-gamma) (t+1))."""
    r = torch.tensor([[2.0], [-1.0], [1.0]], dtype=torch.float64)
    gn = torch.tensor([[1.0], [0.0], [0.0]], dtype=torch.float64)
    obs, bnd = MT.residual_rate_sides(r, gn, torch.tensor([1.0], dtype=torch.float64), torch.tensor([4.0], dtype=torch.float64),
                                      torch.tensor([[0.0], [2.0], [-1.0]], dtype=torch.float64))
    assert obs[:, 0].tolist() == [2.0, 1.0, 1.0] and bnd[:, 0].tolist() == [4.0, 3.0, 5.0 / 3.0]


def test_residual_rate_needs_the_run_terms():
    """Without the run-computed terms (U_t of the steps with r_t < 0, the epoch ends' target error) the bound
    V_0 / (gamma (2-gamma) T) fails on MOTAPS runs with tau0 off f* (least_squares, gamma = 1.5 and 1.9); with
    them the same runs hold."""
    p = get_problem("least_squares")
    hp = {"lr": torch.tensor([1.5, 1.9]), "tau_lr": torch.tensor([0.5, 0.5]), "tau0": torch.tensor([-1.0, 5.0])}
    tr = run(p, get_opt("motaps"), p.x0(2, seed=0), 600, hp=hp, batch_size=1, seeds=torch.tensor([2, 3]))
    assert check(get("motaps.residual_rate"), tr, p).all_hold
    sh = MT.shadow(tr, p)
    r, gn = tr["r"][:-1].double(), tr["grad_norm"][:-1].double()
    v0 = tr["dist"][0].double() ** 2 + sh["dist_alpha"][0]
    obs, bnd = MT.residual_rate_sides(r, gn, MT.gamma_of(tr), v0, torch.zeros_like(r))
    assert bool((obs > 1.01 * bnd).any(dim=0).all())
