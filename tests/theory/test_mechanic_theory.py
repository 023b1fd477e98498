"""Mechanic theory (theory/mechanic.py): tuner invariants, the exact regret decomposition, the
average-iterate bound over SGD, the scale symmetry and the growth recursion, on runs of every
applicable problem of the library (float64 and float32); the scope of the two theorems (their
named assumptions, each shown needed where a run breaks the statement without it) and the roles."""

import dataclasses

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.problems import names as problem_names
from ratecheck.theory import Provenance, Role, check, get, names
from ratecheck.theory import mechanic as M

from tests._lib.core import run_on
from tests._lib.theory import DEFAULT, checked_results, heavy_matrix

# huge and tiny base lr, s_decay > 0 (decomposition not applied), large and tiny s_init
HP = {"base_lr": torch.tensor([1e-3, 1.0, 1e3, 1.0, 0.1, 1.0]), "s_decay": torch.tensor([0.0, 0.0, 0.0, 0.01, 0.0, 0.0]),
      "s_init": torch.tensor([1e-8, 1e-8, 1e-8, 1e-8, 1e-2, 1e-12])}


def assert_results_hold(p, T, seed, opts=("mechanic", "mechanic_optax")):
    seen = set()
    bss = [None] + ([2] if p.is_finite_sum else [])
    for opt in opts:
        for bs in bss:
            if bs is not None and opt == "mechanic_optax":
                continue
            tr = run(p, get_opt(opt), p.x0(6, seed=seed, scale=1.0 + seed), T, hp=HP, batch_size=bs, keep_iterates=True,
                     seeds=torch.arange(6) + 10 * seed)
            seen |= checked_results(opt, p, tr, "mechanic.", f"{opt} bs={bs}", stochastic=bs is not None).keys()
    return seen


@pytest.mark.parametrize("name", DEFAULT)
def test_results_hold_on_every_problem(name):
    p = get_problem(name)
    seen = assert_results_hold(p, 50, seed=0)
    assert {"mechanic.wealth_floor", "mechanic.regret_decomposition", "mechanic.scale_nonneg"} <= seen
    if "convex" in p.tags:
        assert {"mechanic.sgd_average_bound", "mechanic.best_scale_bound"} <= seen


@pytest.mark.heavy
@pytest.mark.parametrize("name,seed", heavy_matrix(problem_names(), [1, 2]))
def test_results_hold_heavy(name, seed):
    """Beyond the default suite (short runs, seed 0): 400 steps from x0 scale 2 or 3, long enough
    for s to grow from s_init through its logarithmic phase (53 to 258 steps, see the growth
    tests) and for the wealth floor and the decomposition to be checked after it."""
    assert_results_hold(get_problem(name), 400, seed)


def test_every_mechanic_result_is_checked():
    keys = {k for k in names() if k.startswith("mechanic.")}
    assert keys == {"mechanic.wealth_floor", "mechanic.reward_nonneg", "mechanic.scale_nonneg",
                    "mechanic.max_and_sum_of_squares", "mechanic.regret_decomposition", "mechanic.sgd_average_bound",
                    "mechanic.best_scale_bound", "mechanic.best_scale_bound_expected", "mechanic.tuner_regret",
                    "mechanic.best_scale_tuner_bound"}
    # the quadratic has no stochastic oracle
    assert assert_results_hold(get_problem("quadratic"), 40, seed=0) == keys - {"mechanic.best_scale_bound_expected"}


IMPLEMENTATION = {"mechanic.wealth_floor", "mechanic.reward_nonneg", "mechanic.scale_nonneg", "mechanic.max_and_sum_of_squares"}


def test_roles_and_provenance():
    """The four invariants are a max, a clamp or a non-negative recursion of the update: tests of
    the code (IMPLEMENTATION). The decomposition is a lemma of the derivation and the SGD bound its
    consequence: THEOREM. All [DERIVED] (the paper's text was not available)."""
    for k in (k for k in names() if k.startswith("mechanic.")):
        r = get(k)
        assert r.role is (Role.IMPLEMENTATION if k in IMPLEMENTATION else Role.THEOREM), k
        assert r.provenance is Provenance.DERIVED and r.source.startswith("docs/theory/mechanic.md#"), k


def _run(opt, hp, T=150, B=3, name="quadratic", dtype=torch.float64, **options):
    return run_on(name, opt, hp, T, options=options, B=B, dtype=dtype)


def _unassumed(key):
    return dataclasses.replace(get(key), assumptions=())


def test_decomposition_needs_lambda_zero():
    """With s_decay > 0 the decay term enters h_t and the identity is off: it is not applied,
    and it indeed fails there (so the condition is needed, and the check can fail)."""
    p, tr = _run("mechanic", {"base_lr": 1.0, "s_decay": 0.01}, T=200, B=2)
    c = check(get("mechanic.regret_decomposition"), tr, p)
    assert not c.checked.any() and set(c.reasons) == {"assumption false: s_decay = 0"}
    assert check(_unassumed("mechanic.regret_decomposition"), tr, p).violated.all()


@pytest.mark.parametrize("variant", ["mechanic", "mechanic_optax"])
def test_decomposition_needs_store_delta(variant):
    """store_delta=False (mechanic-pytorch's default, optax's only behaviour) recomputes Delta as
    (x - x_ref)/(S + eps): x_t = x_ref + S_t Delta_t is off, and so is the identity (observed/bound
    up to 3.5 on the quadratic, 64 on l1_distance, base lr 10)."""
    hp = {"base_lr": torch.tensor([0.1, 1.0, 10.0]), "s_decay": 0.0}
    p, tr = _run(variant, hp, store_delta=False)
    for key in ("mechanic.regret_decomposition", "mechanic.sgd_average_bound"):
        c = check(get(key), tr, p)
        assert not c.checked.any() and set(c.reasons) == {"assumption false: store_delta = True"}
    assert check(_unassumed("mechanic.regret_decomposition"), tr, p).violated.all()


def test_decomposition_needs_an_sgd_base_without_decay():
    """Delta_t is rebuilt as -sum eta_k g_k: a base with weight decay (or another base) plays
    something else; with decay the rebuilt identity fails, as it should."""
    hp = {"base_lr": torch.tensor([0.1, 1.0, 10.0]), "s_decay": 0.0, "base_weight_decay": 0.1}
    p, tr = _run("mechanic", hp)
    c = check(get("mechanic.regret_decomposition"), tr, p)
    assert set(c.reasons) == {"assumption false: base weight_decay = 0"}
    assert check(_unassumed("mechanic.regret_decomposition"), tr, p).violated.all()
    p, tr = _run("mechanic", {"s_decay": 0.0}, base="dadapt_gd")
    assert set(check(get("mechanic.regret_decomposition"), tr, p).reasons) == {"assumption false: base = sgd"}


def test_schedules_variants_and_betas_are_covered():
    """The decomposition holds for any base lr sequence, variant and betas; the SGD bound needs a
    constant base lr (the OGD regret bound is for constant eta) and says so."""
    hp = {"base_lr": torch.tensor([0.1, 1.0, 10.0]), "s_decay": 0.0, "base_T": 150}
    for opt in ("mechanic", "mechanic_optax"):
        p, tr = _run(opt, hp, base_options={"schedule": "linear"}, betas=(0.5, 1.0))
        c = check(get("mechanic.regret_decomposition"), tr, p)
        assert bool(c.checked.all()) and c.all_hold
        c = check(get("mechanic.sgd_average_bound"), tr, p)
        assert not c.checked.any() and set(c.reasons) == {"assumption false: constant base lr"}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", ["quadratic", "l1_distance", "least_squares"])
def test_results_hold_in_both_dtypes(name, dtype):
    hp = {"base_lr": torch.tensor([1e-3, 1e-2, 0.1, 1.0, 10.0]), "s_decay": 0.0}
    for opt in ("mechanic", "mechanic_optax"):
        p, tr = _run(opt, hp, T=200, B=5, name=name, dtype=dtype)
        for k in (k for k in names() if k.startswith("mechanic.") and opt in get(k).optimizers and get(k).oracle != "stochastic"):
            c = check(get(k), tr, p)
            assert bool(c.checked.all()) and c.all_hold, (k, opt, c.reasons, c.worst_ratio.tolist())


def test_invariant_ratios_are_informative_where_the_reward_is_zero():
    """The wealth floor is checked as a ratio: rows where r_t = 0 (W_t is the floor itself) are
    informative, so a wealth 1% below the floor is caught on every row."""
    p, tr = _run("mechanic", {"base_lr": 1.0, "s_decay": 0.0})
    r = get("mechanic.wealth_floor")
    c = check(r, tr, p)
    assert bool((c.rows_checked == c.rows).all())
    bad = check(r, tr, p, perturb=lambda s: dataclasses.replace(s, observed=1.01 * s.observed))
    assert bool((bad.first_violation == 0).all())


@pytest.mark.parametrize("variant", ["mechanic", "mechanic_optax"])
@pytest.mark.parametrize("c", [2.0**10, 2.0**-6])
def test_scale_symmetry(variant, c):
    """(eta, s_init, m0, eps) -> (c eta, s_init/c, c m0, c eps) gives the same iterates [DERIVED].

    Exact in exact arithmetic; in floats the base step u = (x - eta g) - x is rounded relative to
    x, which c does not scale, so the runs differ by round-off. On a problem with sign-like
    gradients that round-off is not amplified (on smooth problems the tuner's dynamics amplify it
    to O(1) over hundreds of steps, as docs/references/mechanic.md §5 (item 7) also saw)."""
    p = get_problem("l1_distance")
    x0 = p.x0(3, seed=1)
    hp = {"base_lr": torch.tensor([1e-3, 1.0, 100.0]), "s_decay": 0.0, "s_init": 1e-8,
          "m_init": 1e-6 if variant == "mechanic" else 0.0, "eps": 1e-8}
    hp = {k: torch.as_tensor(v, dtype=torch.float64).expand(3).clone() for k, v in hp.items()}
    a = run(p, get_opt(variant), x0, 300, hp=hp, keep_iterates=True)
    b = run(p, get_opt(variant), x0, 300, hp=M.rescaled_hp(hp, c), keep_iterates=True)
    assert (a.iterates["x"] - b.iterates["x"]).abs().max() < 1e-9
    # Changing the base lr alone is not a symmetry: those runs end far apart.
    d = run(p, get_opt(variant), x0, 300, hp=dict(hp, base_lr=hp["base_lr"] * c), keep_iterates=True)
    assert ((a.iterates["x"] - d.iterates["x"]).abs().amax(dim=(0, 2)) > 0.1).all()


@pytest.mark.parametrize("s_init,target,steps", [(1e-8, 1.0, 153), (1e-8, 1e3, 258), (1e-4, 1.0, 53), (1e-4, 1e3, 123)])
def test_growth_steps_match_the_note(s_init, target, steps):
    """docs/references/mechanic.md §4.5's table (computed there from the exact recursion)."""
    assert M.growth_steps(s_init, target) == steps


def test_growth_is_logarithmic_in_one_over_s_init():
    # log(P_t/s_init) = sum_{k<t} log(1 + 1/sqrt k) ~ 2 sqrt t: halving log(1/s_init) cuts the steps a lot.
    a, b = M.growth_steps(1e-16, 1.0), M.growth_steps(1e-8, 1.0)
    assert b < a < 4 * b


def test_best_scale_in_hindsight_collapses_to_cauchy_schwarz():
    """docs/theory/mechanic.md#best-scale, reading 2: for an SGD base, inf_s [-s H_t + D^2/(2 s eta)
    + s eta Sigma_t / 2] = D ||sum_k g_k|| because H_t = eta Sigma_t / 2 - ||Delta_{t+1}||^2 / (2 eta)."""
    torch.manual_seed(0)
    g, eta, D = torch.randn(30, 1, 5, dtype=torch.float64), 0.3, 2.0
    delta = M.base_displacements(torch.full((30, 1), eta, dtype=torch.float64), g)
    H = (g * delta).sum(-1).sum(0)
    sigma = (g**2).sum()
    s = torch.logspace(-4, 4, 200001, dtype=torch.float64)
    inf = (-s * H + D**2 / (2 * s * eta) + s * eta * sigma / 2).min()
    assert torch.isclose(inf, D * torch.linalg.vector_norm(g.sum(0)), rtol=1e-6)


def test_best_scale_bound_needs_an_sgd_base():
    """Adam (run by the mechanic spec) has no regret bound to compete with: n/a with the reason."""
    p = get_problem("quadratic")
    tr = run(p, get_opt("mechanic", base="adam"), p.x0(2, seed=0), 50, hp={"base_lr": 0.1, "s_decay": 0.0}, keep_iterates=True)
    c = check(get("mechanic.best_scale_bound"), tr, p)
    assert not c.checked.any() and set(c.reasons) == {"assumption false: base = sgd"}


def drive_tuner(h, betas, s_init, m_init, eps):
    """Mechanic's own update fed a prescribed h sequence [T, B]: a 1-D SGD base at lr 1 with s_decay = 0
    has h_k = Delta_k g_k, Delta_k = -sum_{j<k} g_j, so g_k = h_k / Delta_k (g_0 = 1 since h_0 = 0).
    Returns the logged h and S_k [T, B]."""
    T, B = h.shape
    F = torch.float64
    opt = get_opt("mechanic", betas=betas)
    st = opt.init(torch.zeros(B, 1, dtype=F), base_lr=1.0, s_decay=0.0, s_init=s_init, m_init=m_init, eps=eps)
    delta, hs, Ss = torch.zeros(B, dtype=F), [], []
    for k in range(T):
        g = torch.ones(B, dtype=F) if k == 0 else h[k] / delta
        st, info = opt.step(st, g[:, None], None)
        hs.append(info["h"])
        Ss.append(info["s_sum_prev"])
        delta = delta - g
    return torch.stack(hs), torch.stack(Ss)


def _tuner_bound(h, betas, s_init, m_init, eps):
    B = h.shape[1]
    full = lambda v: torch.full((B,), float(v), dtype=torch.float64)  # noqa: E731
    return M.tuner_regret_bound(h, torch.tensor(betas, dtype=torch.float64), full(s_init), full(m_init), full(eps))


@pytest.mark.parametrize("betas", [M.DEFAULT_BETAS, (1.0,), (0.5, 1.0), (0.0, 0.9)])
@pytest.mark.parametrize("shape", ["gauss", "progress", "jumps", "wins_then_loss"])
def test_tuner_regret_bound_holds_on_crafted_h(betas, shape):
    """R_t(0) = sum h_k S_k <= B_t on adversarial h, over s_init, m_init and eps; and it is attained (ratio 1)."""
    g = torch.Generator().manual_seed(0)
    T, B = 120, 6
    h = {"gauss": lambda: torch.randn(T, B, generator=g, dtype=torch.float64),
         "progress": lambda: -torch.rand(T, B, generator=g, dtype=torch.float64),
         "jumps": lambda: torch.randn(T, B, generator=g, dtype=torch.float64)
         * torch.exp(3 * torch.randn(T, B, generator=g, dtype=torch.float64)),
         "wins_then_loss": lambda: torch.where(torch.rand(T, B, generator=g) < 0.05, 50.0, -0.1).double()}[shape]()
    for s_init, m_init, eps in [(1e-8, 1e-6, 1e-8), (1e-3, 0.0, 1e-3), (1.0, 1.0, 1e-8)]:
        hh, S = drive_tuner(h, betas, s_init, m_init, eps)
        obs = torch.cumsum(hh * S, 0)
        bound = _tuner_bound(hh, betas, s_init, m_init, eps)
        size = torch.cumsum((hh * S).abs(), 0) + bound
        assert bool((obs <= bound + 1e-13 * size).all()), float(((obs - bound) / size).max())


def test_tuner_regret_bound_is_attained_and_no_parameter_free_form_holds():
    """100 wins (h = -1) then one loss h = +100: R(0) = 116 >> s_init max|h| = 1e-6, and B equals R(0)."""
    h = -torch.ones(101, 1, dtype=torch.float64)
    h[100] = 100.0
    hh, S = drive_tuner(h, (1.0,), 1e-8, 1e-6, 1e-8)
    r0 = float((hh * S).sum())
    bound = float(_tuner_bound(hh, (1.0,), 1e-8, 1e-6, 1e-8)[-1, 0])
    assert r0 > 1e7 * 1e-8 * 100.0
    assert r0 == pytest.approx(bound, rel=1e-7)


def test_tuner_regret_bound_is_small_when_h_stays_below_beta_times_its_rms():
    """rho_k <= beta at every step: the rbar term vanishes and B_t = a sum rho m <= s_init max(m_init, max|h|) t."""
    T = 60
    h = torch.cat([torch.zeros(1), 0.5 * torch.ones(T - 1)]).double()[:, None]  # rho_k = 1/sqrt(k-1) <= 1 from k = 2
    bound = _tuner_bound(h, (1.0,), 1e-3, 0.0, 1e-8)
    expected = 1e-3 * sum(0.5 * 0.5 / (0.5 * (k - 1) ** 0.5 + 1e-8) for k in range(2, T))  # a sum rho_k m_{k-1}
    assert float(bound[-1, 0]) == pytest.approx(expected, rel=1e-12)
    assert float(bound[-1, 0]) <= 1e-3 * 0.5 * T
