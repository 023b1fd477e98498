"""Issue 11 coverage for MoMo: M1 without interpolation (docs/theory/momo.md#lemma-m1-noisy), the
average gap M1d and the Polyak rate in expectation under interpolation (#average-gap)."""

import torch

from ratecheck import theory
from ratecheck.experiments.runner import run
from ratecheck.optimizers import get as get_opt
from ratecheck.problems import get as get_problem
from ratecheck.theory import momo
from ratecheck.theory.example_runs import examples_for, run_example




def _demo_like_run():
    pb = get_problem("least_squares")
    x0 = pb.x0(8, seed=0)
    hp = {"lr": torch.tensor([0.1, 1.0, 10.0, 100.0] * 2), "beta": torch.tensor([0.0] * 4 + [0.9] * 4), "lb": 0.0}
    return pb, run(pb, get_opt("momo"), x0, 300, hp=hp, batch_size=8, seeds=torch.arange(8))


def test_noise_term_is_needed_without_interpolation():
    pb, tr = _demo_like_run()
    assert not bool(theory.check(theory.get("momo.fejer"), tr, pb).checked.any())  # lb = 0 < f(x*, s)
    c = theory.check(theory.get("momo.fejer_noisy"), tr, pb)
    assert c.all_hold
    # M1 itself (the noisy bound without its last term) fails on these runs
    no_noise = lambda s: type(s)(s.observed, torch.as_tensor(tr["dist"][:-1]).double() ** 2, s.scale, s.terms, s.undefined)  # noqa: E731
    assert bool(theory.check(theory.get("momo.fejer_noisy"), tr, pb, perturb=no_noise).violated.any())


def test_avg_gap_bound_formula():
    gn = torch.tensor([[3.0], [1.0], [5.0]], dtype=torch.float64)
    b = momo.avg_gap_bound(gn, torch.tensor([2.0]), torch.tensor([0.5]))
    K = torch.tensor([[1.0], [2.0], [3.0]])
    want = 4.0 / (0.5 * K) + torch.tensor([[3.0], [3.0], [5.0]]) * 2.0 / K.sqrt()
    assert torch.allclose(b, want)


def test_polyak_rate_catches_a_smaller_bound():
    ex = [e for e in examples_for("momo.polyak_interp_rate")][0]
    pb, tr = run_example(ex, torch.float64)
    shrink = lambda s: type(s)(s.observed, s.bound * 0.005, s.scale, s.terms, s.undefined)  # noqa: E731
    assert bool(theory.check(theory.get("momo.polyak_interp_rate"), tr, pb, perturb=shrink).violated.any())
