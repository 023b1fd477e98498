"""Example.derived: a prescribed hyper-parameter (MADGRAD's tuned gamma*) follows each candidate's own D and G."""

import numpy as np
import torch

from ratecheck import theory
from ratecheck.falsify import families as fam
from ratecheck.falsify.objective import Space, evaluate, templates
from ratecheck.theory.madgrad import tuned_lr


def test_tuned_step_is_derived_per_candidate_and_the_result_is_checked():
    tpl = next(t for t in templates(theory.get("madgrad.tuned_rate")) if t.example.T == 150)
    pb = fam.get("l1").build({"d": 1, "w": [1.3], "x_star": [0.4]})
    space = Space.make(tpl, pb, 150)
    assert "lr" not in space.varied and "G" in space.varied
    z = space.random(6, np.random.default_rng(0))
    x0, hp = space.decode(z)
    D = torch.linalg.vector_norm(x0 - torch.tensor(pb.x_star), dim=1)
    torch.testing.assert_close(hp["lr"], tuned_lr(D, hp["G"], 1, 150), rtol=1e-15, atol=0)
    ev = evaluate(space, x0, hp)
    assert bool(torch.isfinite(ev.score).all())  # G >= pb.G = w bounds the gradient: every candidate is checked
