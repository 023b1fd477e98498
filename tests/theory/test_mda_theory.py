"""MDA theory (theory/mda.py): the dual-averaging identity, the decaying-L2 form, the potential
and the derived convex bound, on runs of every applicable problem of the library; roles, the
averaging assumption, undefined rows (the examples, both dtypes and sources of every result:
tests/theory/test_every_result.py)."""

import math

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.experiments.trace import Trace
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.problems import names as problem_names
from ratecheck.theory import Role, check, get, names
from ratecheck.theory import mda as MD

from tests._lib.theory import DEFAULT, checked_results, heavy_matrix

KEYS = {"mda.ftrl_identity", "mda.decaying_l2_form", "mda.primal_averaging_potential", "mda.observed_bound", "mda.closed_form_bound",
        "mda.momentum_bound", "mda.bound_expected"}
NEEDS_LAMBDA = ("mda.primal_averaging_potential", "mda.observed_bound", "mda.closed_form_bound")
LR = torch.tensor([1e-3, 1e-2, 0.1, 1.0, 10.0, 1e3])


def assert_results_hold(p, T, seed):
    seen = set()
    runs = [("lambda", {"lr": LR}, None), ("constant", {"lr": LR, "momentum": torch.tensor([0.9, 0.0, 0.5, 0.9, 0.99, 0.9])}, None)]
    if p.is_finite_sum:
        runs.append(("lambda", {"lr": LR}, 3))
    for averaging, hp, bs in runs:
        tr = run(p, get_opt("mda", averaging=averaging), p.x0(6, seed=seed, scale=1.0 + seed), T, hp=hp, batch_size=bs,
                 keep_iterates=True, seeds=torch.arange(6) + 3 * seed)
        seen |= checked_results("mda", p, tr, "mda.", f"{averaging} bs={bs}", stochastic=bs is not None).keys()
    return seen


@pytest.mark.parametrize("name", DEFAULT)
def test_results_hold_on_every_problem(name):
    p = get_problem(name)
    seen = assert_results_hold(p, 40, seed=0)
    assert {"mda.ftrl_identity", "mda.decaying_l2_form"} <= seen
    if "convex" in p.tags:
        assert set(NEEDS_LAMBDA) | {"mda.momentum_bound"} <= seen


@pytest.mark.heavy
@pytest.mark.parametrize("name,seed", heavy_matrix(problem_names(), [1, 2]))
def test_results_hold_heavy(name, seed):
    """Beyond the default suite (short runs, seed 0): 1000 steps from x0 scale 2 or 3, where the
    lambda-averaged bounds shrink like 1/sqrt(T) and get tight, and lr up to 1e3 has long
    diverged or plateaued; minibatch runs with other sampling seeds."""
    assert_results_hold(get_problem(name), 1000, seed)


def test_every_mda_result_is_checked():
    assert {k for k in names() if k.startswith("mda.")} == KEYS
    assert assert_results_hold(get_problem("max_affine"), 30, seed=0) == KEYS - {"mda.bound_expected"}  # deterministic only


# -- roles (examples, both dtypes, planted violations, sources: tests/theory/test_every_result.py) --


def test_roles():
    assert get("mda.decaying_l2_form").role is Role.IMPLEMENTATION
    for k in KEYS - {"mda.decaying_l2_form"}:
        assert get(k).role is Role.THEOREM, k


# -- the averaging assumption and undefined rows ---------------------------------------------------


def test_bound_needs_lambda_averaging():
    """Constant averaging: n/a with the assumption's name (no ratio), and on this run the bound
    indeed fails (the assumption is needed); the lambda-averaged run satisfies it."""
    p = get_problem("l1_distance")
    x0 = p.x0(1, seed=0)
    const = run(p, get_opt("mda"), x0, 400, hp={"lr": 1.0, "momentum": 0.0})
    r = get("mda.observed_bound")
    c = check(r, const, p)
    assert not c.checked.any() and c.reasons == ["assumption false: averaging = 'lambda'"] and c.worst_ratio.isnan().all()
    s = r.sides(const, p)
    assert (s.observed[1:] > s.bound[1:]).any()
    lam = run(p, get_opt("mda", averaging="lambda"), x0, 400, hp={"lr": 1.0})
    assert check(r, lam, p).all_hold
    # the constant-c run satisfies the weighted form, which is the bound for constant c
    assert check(get("mda.momentum_bound"), const, p).all_hold


def test_potential_of_constant_averaging_is_na_and_nan():
    """The audit's n/a potential drawn with a ratio up to 1e14: it is now n/a with its reason and
    its rows are NaN (Phi is the potential of the lambda-weighted average only)."""
    p = get_problem("l1_distance")
    hp = {"lr": torch.tensor([1e-2, 0.1, 1.0]), "momentum": torch.tensor([0.9, 0.5, 0.0])}
    tr = run(p, get_opt("mda", averaging="constant"), p.x0(3, seed=0), 200, hp=hp, keep_iterates=True)
    r = get("mda.primal_averaging_potential")
    s = r.sides(tr, p)
    assert s.observed.isnan().all() and s.bound.isnan().all()
    c = check(r, tr, p)
    assert set(c.reasons) == {"assumption false: averaging = 'lambda'"} and c.worst_ratio.isnan().all()


def test_float32_lambda_runs_are_checked():
    """The old applies-condition compared the recorded c with lam/S to 1e-12 and reported every
    float32 run n/a; the option is read from the trace now."""
    p = get_problem("max_affine")
    tr = run(p, get_opt("mda", averaging="lambda"), p.x0(3, seed=0).float(), 100, hp={"lr": torch.tensor([1e-2, 0.1, 1.0])},
             keep_iterates=True)
    for key in NEEDS_LAMBDA:
        c = check(get(key), tr, p)
        assert c.checked.all() and c.all_hold, key


def test_bounds_row_zero_is_undefined():
    p = get_problem("l1_distance")
    tr = run(p, get_opt("mda", averaging="lambda"), p.x0(2, seed=0), 20, hp={"lr": 0.1}, keep_iterates=True)
    for key in ("mda.observed_bound", "mda.closed_form_bound", "mda.ftrl_identity"):
        s = get(key).sides(tr, p)
        assert s.bound[0].isnan().all() and s.bound[1:].isfinite().all() and s.undefined, key


# -- pure functions ----------------------------------------------------------------------------------


def test_closed_form_by_hand():
    """k = 1 of the closed form: (sqrt(1) R^2/2 + gamma^2 G^2 (1 + 2)/2) / (gamma (1 + sqrt 2)), and
    of the pathwise bound."""
    gamma, R = torch.tensor([0.5], dtype=torch.float64), torch.tensor([4.0], dtype=torch.float64)
    gn = torch.tensor([[3.0], [2.0]], dtype=torch.float64)
    b = MD.closed_bound(gamma, torch.cummax(gn, 0).values, R)
    assert math.isnan(b[0, 0])
    assert float(b[1, 0]) == pytest.approx((0.5 * 16 + 0.5 * 0.25 * 9 * 3) / (0.5 * (1 + math.sqrt(2))))
    lam0, lam1 = 0.5, 0.5 * math.sqrt(2)
    o = MD.observed_bound(torch.tensor([[lam0], [lam1]], dtype=torch.float64), gn**2, R)
    assert math.isnan(o[0, 0])
    assert float(o[1, 0]) == pytest.approx((0.5 * 16 + 0.5 * lam0**2 * 9 + 0.5 * lam1**2 * 4) / (lam0 + lam1))


def test_closed_form_dominates_the_pathwise_bound():
    """lam_i^2 = gamma^2 (i+1) and ||g_i|| <= G_k: the closed form is never below the pathwise bound."""
    gen = torch.Generator().manual_seed(0)
    T = 50
    gamma, R = torch.rand(4, generator=gen, dtype=torch.float64) + 0.1, torch.rand(4, generator=gen, dtype=torch.float64)
    gn = torch.rand(T, 4, generator=gen, dtype=torch.float64) * 3
    lam = gamma * torch.arange(1, T + 1, dtype=torch.float64)[:, None].sqrt()
    o, c = MD.observed_bound(lam, gn**2, R), MD.closed_bound(gamma, torch.cummax(gn, 0).values, R)
    assert (o[1:] <= c[1:] * (1 + 1e-12)).all()


def test_trace_without_options_is_unavailable():
    """A trace whose optimizer options were not recorded cannot tell the averaging: n/a, not a guess."""
    from ratecheck.theory import Unavailable

    data = {"grad_norm": torch.tensor([[3.0], [2.0], [math.nan]]), "dist": torch.tensor([[4.0], [1.0], [1.0]]),
            "subopt": torch.tensor([[1.0], [0.5], [0.2]]), "diverged": torch.zeros(3, 1)}
    tr = Trace(torch.arange(3), data, {"hp": {"lr": torch.tensor([0.5])}, "optimizer": "mda"})
    with pytest.raises(Unavailable):
        check(get("mda.observed_bound"), tr, get_problem("l1_distance"))
