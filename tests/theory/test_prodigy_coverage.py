"""Issue 11 coverage for Prodigy: the GD rate (docs/theory/prodigy.md#rate) and I-P along stochastic
runs (#i-p-sampled)."""

import torch

from ratecheck import theory
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
