"""Issue 11 coverage for Prodigy: the GD rate (docs/theory/prodigy.md#rate), I-P along stochastic
runs (#i-p-sampled), the DA and Resetting rates (#da-rate, #resetting-rate)."""

import math

import pytest
import torch

from ratecheck import theory
from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.theory import prodigy as pr
from ratecheck.theory.example_runs import examples_for, run_example




def test_gd_rate_bound_is_a_rate():
    # decreasing in n once n >> m, like log(n)/sqrt(n); undefined (valid False) while n + 2 <= m
    n = torch.tensor([10.0, 20.0, 1e3, 1e5])  # m = floor(2 log2(100)) + 1 = 14
    b, valid = pr.gd_rate_bound(n, torch.tensor(1.0), torch.tensor(1.0), torch.tensor(1e-2))
    assert valid.tolist() == [False, True, True, True]
    assert b[1] > b[2] > b[3]
    assert float(b[3] * (1e5) ** 0.5 / torch.log(torch.tensor(1e5))) < 200


def test_rate_pick_is_the_argmin():
    d = torch.tensor([1.0, 1.0, 4.0, 4.0, 4.0], dtype=torch.float64)[:, None]
    dn = torch.cat([d[1:], d[-1:]])
    t = pr.rate_pick(d, dn)[:, 0].tolist()
    r = (dn / torch.sqrt(torch.cumsum(d**2, 0)))[:, 0]
    for n, tn in enumerate(t):
        assert abs(float(r[tn]) - float(r[: n + 1].min())) == 0


def test_ip_sampled_holds_and_the_sum_matters():
    # dropping the sampled-gap sum must change the observed side on a stochastic run (it is not 0)
    pb, tr = run_example(examples_for("prodigy.IP_sampled")[0], torch.float64)
    s = theory.get("prodigy.IP_sampled").sides(tr, pb)
    assert float((s.observed - tr["numerator"][: s.observed.shape[0]].double()).abs().max()) > 0


# -- the DA and Resetting rates (docs/theory/prodigy.md#da-rate, #resetting-rate) ------------------------


def test_da_rate_has_no_log_n_and_resetting_counts_resets():
    n = torch.tensor([1e3, 1e5, 1e7], dtype=torch.float64)
    b, valid = pr.da_rate_bound(n, torch.tensor(1.0), torch.tensor(1.0), torch.tensor(1e-2))
    assert bool(valid.all())
    scaled = b * n.sqrt()  # -> (2 + sqrt3) sqrt(2m), m = 14: no log(n) growth
    assert float(scaled[2] / scaled[0]) < 1.01 and abs(float(scaled[2]) - (2 + 3**0.5) * 28**0.5) < 0.01
    # r^R < D/d0: with r = 2, D/d0 = 7.9 at most 2 resets, with D/d0 = 8.5 three (at an exact power the
    # margin against rounding may count one more: an upper bound either way)
    R = pr.resetting_max_resets(torch.tensor([7.9, 8.5, 8.0]), torch.tensor(1.0), 2.0)
    assert R[:2].tolist() == [2.0, 3.0] and float(R[2]) >= 2.0


def _without_assumptions(key):
    import dataclasses

    return dataclasses.replace(theory.get(key), assumptions=())


@pytest.mark.parametrize("key,opt,opts,hp,name", [
    ("prodigy.da_rate", "prodigy_da", {}, lambda pb, D: {"d0": 100.0 * D}, "d0 <= D"),
    ("prodigy.da_rate", "prodigy_da", {}, lambda pb, D: {"d0": 0.1 * D, "G": 1e-3 * pb.G}, "G >= max_k ||g_k||"),
    ("prodigy.resetting_rate", "dadapt_resetting", {"G_term": True}, lambda pb, D: {"d0": 100.0 * D}, "d0 <= D"),
    ("prodigy.resetting_epoch_bound", "dadapt_resetting", {"G_term": True},
     lambda pb, D: {"d0": 0.01 * D, "G": 1e-3 * pb.G}, "G >= max_k ||g_k||"),
])
def test_rate_assumptions_are_needed(key, opt, opts, hp, name):
    """Each assumption is needed: without it the statement fails on a run; with it the run is n/a, named."""
    pb = get_problem("l1_distance")
    x0 = pb.x0(2, seed=0)
    D = float(pb.dist_to_opt(x0[:1])[0])
    tr = run(pb, get_opt(opt, **opts), x0, 300, hp=hp(pb, D))
    assert bool(theory.check(_without_assumptions(key), tr, pb).violated.all())
    c = theory.check(theory.get(key), tr, pb)
    assert not bool(c.checked.any()) and c.reasons[0] == f"assumption false: {name}"


def test_longest_epoch_rows_takes_the_worst_of_equally_long_epochs():
    # rows 0-2: epoch A (J = 1, 2, 3, mean 5); row 3 a reset; rows 4-6: epoch B (J = 1, 2, 3, mean 1)
    J = torch.tensor([1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 4.0], dtype=torch.float64)[:, None]
    mean = torch.tensor([5.0, 5.0, 5.0, 0.0, 1.0, 1.0, 1.0, 0.5], dtype=torch.float64)[:, None]
    rows = pr.longest_epoch_rows(J, mean)[:, 0].tolist()
    # B's third row ties A's: A (mean 5) stays; a plain cummax of J would pick B's row 6 (mean 1)
    assert rows == [0, 1, 2, 2, 2, 2, 2, 7]
    assert torch.cummax(J, dim=0).indices[6, 0] == 6


def test_resetting_rate_planted_copy_is_false_on_abs():
    """docs/theory/prodigy.md#resetting-rate-tight: on |x| (1-D l1, x0 = 1, G = 1) with r = 8, d0 = e^-6.19 D
    (R = 2 resets allowed, both used at rows 260 and 521) the first two epochs both have 260 steps; at row 780
    J_min = ceil(781/3) - 1 = 260 and the first epoch, which barely moved (mean 0.978 f(x0)), is at 0.919 of the
    bound: the copy tightened to 0.8 is false (the second epoch, the latest of the two, is at 0.775). The
    registered result holds."""
    from ratecheck.falsify import families as fam
    from ratecheck.falsify.objective import perturbation

    pb = fam.get("l1").build({"d": 1, "w": [1.0], "x_star": [0.0]})
    hp = {"d0": torch.tensor([math.exp(-6.19)], dtype=torch.float64), "reset_factor": torch.tensor([8.0], dtype=torch.float64),
          "G": torch.tensor([1.0], dtype=torch.float64)}
    tr = run(pb, get_opt("dadapt_resetting", G_term=True), torch.ones(1, 1, dtype=torch.float64), 800, hp=hp, keep_iterates=True)
    r = theory.get("prodigy.resetting_rate")
    c = theory.check(r, tr, pb)
    assert not bool(c.violated.any()) and 0.9 < float(c.worst_ratio[0]) < 1.0
    assert bool(theory.check(r, tr, pb, perturbation(0.8)).violated.all())


def _random_levels(g, m, K):
    """m random non-decreasing sequences d_0 = 1 <= d_1 <= ... of 2..K+1 terms (0 past the end), some with large jumps."""
    u = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)
    jumps = torch.exp(-torch.log(u(m, K)) * (u(m, K) < 0.3) * 3 * u(m, 1))
    dk = torch.cat([torch.ones(m, 1, dtype=torch.float64), torch.cumprod(jumps, dim=1)], dim=1)
    return torch.where(torch.arange(K + 1) <= torch.randint(1, K + 1, (m, 1), generator=g), dk, 0.0)


def test_closed_form_planted_copy_is_true():
    """docs/theory/prodigy.md#closed-form-planted, step by step on random points and sequences (each a check that
    fails if the inequality is false): (1b), (1c) the denominator bounds, (2) P4 at the last level, (3) the two cases
    of the numerator, and that their combination is <= 0.8 everywhere (the thresholds 5/4 and 15 are where it is 0.8)."""
    g = torch.Generator().manual_seed(0)
    u = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)
    m, K = 20_000, 12
    dk = _random_levels(g, m, K)
    E = (dk**2).sum(1)
    d = dk.amax(1)  # d_{n+1} >= every d_k
    # (1b): sqrt(E)/(sqrt2 sum a_k) <= max(1/sqrt2, e^(L/2)/2), sigma = (e^L - 1) d_0^2, L in [0, 20]
    beta = torch.expm1(20 * u(m, 1) ** 2)
    a = (dk**2 / torch.sqrt(dk**2 + beta)).sum(1)
    cap = torch.maximum(torch.full_like(E, 2**-0.5), torch.sqrt(1 + beta[:, 0]) / 2)
    assert bool((torch.sqrt(E) / (math.sqrt(2.0) * a) <= cap * (1 + 1e-12)).all())
    # (1c): G sum eta_k >= sum d_k^2/sqrt(d_k^2 + E_k) >= 2 (sqrt(E + 2d^2) - sqrt2 d)
    Ek = torch.cumsum(dk**2, dim=1)
    lower = (dk**2 / torch.sqrt(dk**2 + Ek).clamp_min(1e-300)).sum(1)
    assert bool((lower >= 2 * (torch.sqrt(E + 2 * d**2) - math.sqrt(2.0) * d) * (1 - 1e-12)).all())
    # (2): Q_n/d^2 <= log(1 + S_n/(d^2 G^2)) for the Prodigy step with ||g_k|| <= G = 1
    gk = u(m, K + 1) * (u(m, 1) < 0.5) + (u(m, 1) >= 0.5)  # half the runs at ||g|| = G
    uk = dk**2 * gk**2
    Sk = torch.cumsum(uk, dim=1)
    eta = dk**2 / torch.sqrt(dk**2 + Sk).clamp_min(1e-300)
    Q = (eta**2 * gk**2).sum(1)
    assert bool((Q / d**2 <= torch.log1p(Sk[:, -1] / d**2) * (1 + 1e-12) + 1e-15).all())
    # (3): the numerator in each case, on random admissible points (D >= d > 0, 0 <= P <= L, 0 <= y <= d kappa_P)
    n = 200_000
    D = 10 ** (4 * u(n) - 2)
    dd = D * u(n).clamp(min=1e-12)
    L = 40 * u(n) ** 2
    P = L * u(n)
    kP, kL = 1 + torch.sqrt(1 + P), 1 + torch.sqrt(1 + L)
    y = dd * kP * u(n)
    phi = D * y - y**2 / 2 + dd**2 * P / 2
    case1 = dd * kP <= D
    assert bool((phi <= torch.where(case1, D * dd * kL, D * dd * (kP + P) / 2) * (1 + 1e-12)).all())
    # the combination: case 1 (den by (1a)/(1b)) and case 2 (den by (1a) for P <= 15, by (1c) beyond) stay <= 0.8
    Lg = torch.linspace(0, 200, 200_001, dtype=torch.float64)
    k = 1 + torch.sqrt(1 + Lg)
    den1 = torch.clamp(torch.maximum(torch.full_like(Lg, 2**-0.5), torch.exp(Lg / 2) / 2), max=1.0)
    assert float((k / (k + Lg / 2) * den1).max()) <= 0.8 + 1e-12
    den2 = torch.where(Lg <= 15, 1.0, 1 / (2 * math.sqrt(2.0) * (1 - math.sqrt(2 / math.expm1(15.0)))))
    assert float(((k + Lg) / (2 * k + Lg) * den2).max()) <= 0.8 + 1e-12
    assert float((k / (k + Lg / 2))[Lg < 1.2].max()) > 0.8  # (1a) alone would not do: (1b) is needed
