"""The search differentiates runs: a few steps of the optimizers it uses must carry gradients to
the start point, the hyper-parameters and the family's tensors (an in-place update on a grad path
would break this)."""

import pytest
import torch

from ratecheck import optimizers
from ratecheck.experiments.runner import run
from ratecheck.falsify import families as F

CASES = [
    ("sgd", {}, {"lr": 0.1}),
    ("sgd", {"schedule": "linear"}, {"lr": 0.1, "T": 5}),
    ("dadapt_da", {"option": "II", "G_term": True}, {"d0": 0.1, "G": 30.0}),
    ("dadapt_da", {}, {"d0": 0.1}),
    ("dadapt_gd", {}, {"d0": 0.1, "G": 30.0}),
    ("prodigy_gd", {}, {"d0": 0.1, "G": 30.0}),
    ("madgrad_paper", {}, {"lr": 0.1, "G": 30.0}),
    ("mda", {}, {"lr": 0.1}),
    ("momo", {}, {"lr": 0.5}),
    ("heavy_ball", {}, {"lr": 0.05, "momentum": 0.5}),
]


@pytest.mark.parametrize("name,options,hp", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_gradient_flows_through_steps(name, options, hp):
    fam = F.get("l1")
    pb = fam.build({"d": 3, "w": [1.0, 2.0, 0.5], "x_star": [0.1, -0.2, 0.3]}, requires_grad=True)
    x0 = (torch.tensor([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0]], dtype=torch.float64)).requires_grad_(True)
    lr_name = next(k for k in hp if k in ("lr", "d0"))
    hp = dict(hp)
    scale = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    hp[lr_name] = hp[lr_name] * scale
    tr = run(pb, optimizers.get(name, **options), x0, 5, hp=hp)
    loss = tr["subopt"][-1].sum() + tr["dist"][-1].sum()
    loss.backward()
    for t in (x0, scale, pb.leaves["w"]):
        assert t.grad is not None and bool(torch.isfinite(t.grad).all())
    assert float(x0.grad.abs().sum()) > 0 and float(pb.leaves["w"].grad.abs().sum()) > 0
