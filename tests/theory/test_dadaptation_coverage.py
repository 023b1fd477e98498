"""Issue 11 coverage for D-Adaptation: the sequence lemma by levels, the GD-form rate, and Lemma 5
along stochastic runs (docs/theory/dadaptation.md#gd-rate, #stochastic-lemma-5)."""

import pytest
import torch

from ratecheck import theory
from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.theory import dadaptation as da


def _min_ratio(d):
    return (d[1:] / torch.cumsum(d[:-1], 0)).min()


def test_floor_log2_ratio_exact_at_powers_of_two():
    b = torch.tensor([3.0, 3.0, 3.0, 0.1])
    a = torch.tensor([6.0, 6.0 - 1e-15, 3.0, 0.1 * 2**40])
    assert da.floor_log2_ratio(a, b).tolist() == [1.0, 0.0, 0.0, 40.0]


def test_block_sequence_lemma_random_and_adversarial():
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for trial in range(3000):
        n = int(torch.randint(1, 60, (1,), generator=g))
        kind = trial % 3
        if kind == 0:  # random monotone
            d = torch.cumsum(torch.rand(n + 2, generator=g, dtype=torch.float64) ** 4, 0) + 1e-3
        elif kind == 1:  # geometric growth with plateaus (near-tight for the lemma)
            d = 2.0 ** torch.floor(torch.arange(n + 2, dtype=torch.float64) / float(torch.randint(1, 6, (1,), generator=g)))
        else:  # a few big jumps
            d = torch.cummax(torch.exp(20 * torch.rand(n + 2, generator=g, dtype=torch.float64)), 0).values
        m = da.floor_log2_ratio(d[-1], d[0]) + 1
        bound, valid = da.block_seq_bound(n, m)
        if bool(valid):
            r = float(_min_ratio(d) / bound)
            worst = max(worst, r)
            assert r <= 1.0, (trial, d, bound)
    assert 0.2 < worst <= 1.0  # the lemma is exercised, not vacuous


def test_block_lemma_with_wrong_constant_fails():
    # A constant sequence: min ratio 1/(n+1) vs 2/(n+1) (m = 1); halving the constant is violated.
    d = torch.ones(12, dtype=torch.float64)
    bound, _ = da.block_seq_bound(10, torch.tensor(1.0))
    assert _min_ratio(d) <= bound and _min_ratio(d) > 0.5 * bound * 10 / 11




def test_gd_rate_needs_d0_le_D_and_G():
    r = theory.get("dadaptation.gd_rate")
    assert {a.name for a in r.assumptions} >= {"d0 <= D", "G >= max_k ||g_k||"}



def test_estimate_exceeds_D_under_minibatches_but_L5_sampled_holds():
    # docs/theory/dadaptation.md#break-attempts: Theorem 6 does not survive minibatches.
    pb = get_problem("hinge_svm")
    x0 = pb.x0(8, scale=1e-5, seed=0)
    D = torch.linalg.vector_norm(x0 - pb.x_star_tensor(x0), dim=1)
    tr = run(pb, get_opt("dadapt_da", option="II"), x0, 300, hp={"d0": 0.5 * D}, batch_size=1, seeds=torch.arange(8))
    assert float((tr["d_hat"][:300].double() / D).nan_to_num(0).max()) > 2.0
    c = theory.check(theory.get("dadaptation.L5_sharp_sampled"), tr, pb)
    assert c.all_hold


@pytest.mark.parametrize("with_G", [False, True])
def test_step_sum_factor_bounds_the_step_sum(with_G):
    """c_n >= gamma_{n+1} sum_{k<=n} gamma_k ||g_k||^2 (docs/theory/dadaptation.md#lower-bound-on-d), for
    random and adversarial norm sequences (a tiny first norm, then large ones: the no-G constant's worst case)."""
    gen = torch.Generator().manual_seed(7)
    gn2 = torch.rand(200, 64, generator=gen, dtype=torch.float64) ** 6
    gn2[:, :8] = torch.cat([torch.full((1, 8), 1e-8, dtype=torch.float64), torch.ones(199, 8, dtype=torch.float64)])
    G = gn2.amax(dim=0).sqrt() * (1.0 + torch.rand(64, generator=gen, dtype=torch.float64)) if with_G else None
    gam = da.adagrad_norm_gammas(gn2, G)
    lhs = gam[1:] * torch.cumsum(gam[:-1] * gn2, dim=0)
    c = da.step_sum_factor(gn2, G)
    assert bool((lhs <= c * (1 + 1e-12)).all())
    assert float((lhs / c).max()) > 0.5  # not vacuous


def test_d_lower_needs_G_above_the_norms_in_the_G_variant():
    """Without G >= max ||g_k||, c_n = 2 is not a bound on the step sum and d_lower fails; with it, n/a."""
    import dataclasses

    pb = get_problem("l1_distance")
    x0 = pb.x0(2, seed=0)
    D = float(pb.dist_to_opt(x0[:1])[0])
    tr = run(pb, get_opt("dadapt_da", G_term=True), x0, 300, hp={"d0": 0.01 * D, "G": 1e-3 * pb.G})
    r = theory.get("dadaptation.d_lower")
    assert bool(theory.check(dataclasses.replace(r, assumptions=()), tr, pb).violated.all())
    c = theory.check(r, tr, pb)
    assert not bool(c.checked.any()) and c.reasons[0] == "assumption false: G_term = False, or G >= max_k ||g_k||"
