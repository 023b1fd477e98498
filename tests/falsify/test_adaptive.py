"""The adaptive max-affine family (a resisting oracle): the function it builds along a run is a
plain max_affine instance of the class (x* = 0, f* = 0, c >= 0, ||g|| <= G), the rerun on it
reproduces the construction's iterates, and the saved instance replays the search's verdict."""

import math

import numpy as np
import torch

from ratecheck import theory
from ratecheck.falsify import families as F
from ratecheck.falsify.instance import Instance
from ratecheck.falsify.objective import Space, evaluate, run_candidates, templates
from ratecheck.falsify.search import Budget, search


def _space(key, d, T, seed=0):
    rng = np.random.default_rng(seed)
    tpl = next(t for t in templates(theory.get(key)) if not t.stochastic)
    fam = F.get("adaptive")
    pb = fam.build({**fam.sample(rng), "d": d})
    return Space.make(tpl, pb, T), rng


def test_final_instance_is_in_the_class_and_reproduces_the_run():
    sp, rng = _space("dadaptation.L9", d=3, T=60)
    z = sp.random(8, rng)
    x0, hp = sp.decode(z)
    ev = evaluate(sp, x0, hp, 1.0, 0, z)
    pb, fixed = sp.problem, ev.problem
    G, c = fixed.family_tensors["G"], fixed.family_tensors["c"]
    assert float(c.min()) >= 0.0 and float(torch.linalg.vector_norm(G, dim=-1).max()) < pb.G
    assert float((torch.linalg.vector_norm(G, dim=-1) > 0).double().mean()) > 0.1  # pieces were chosen, not only fallbacks
    # the rerun on the fixed functions reproduces the construction bit for bit (else the row scores -inf)
    pb.start(z[:, -pb.n_latent:], x0, sp.T)
    built = run_candidates(sp, x0, hp).iterates["x"]
    assert torch.equal(ev.trace.iterates["x"], built) and bool(torch.isfinite(ev.score).all())
    for b in range(8):
        plain = F.get("max_affine").build(fixed.plain(b))
        assert float(plain.value(torch.zeros(1, 3, dtype=torch.float64))[0]) == 0.0 == plain.f_star
        x = 5.0 * torch.randn(256, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(b))
        assert float(plain.value(x).min()) >= 0.0 and plain.G == pb.G
        xb = ev.trace.iterates["x"][: sp.T, b]  # the plain function answers at x_t what the run received
        assert torch.equal(torch.linalg.vector_norm(plain.grad(xb), dim=-1), ev.trace["grad_norm"][: sp.T, b])


def test_search_saves_the_plain_instance_and_it_replays():
    f = search("dadaptation.L9", families=["adaptive"], budget=Budget(evals=2), seed=1, B=4, method="random", T_max=150)
    assert f.best is not None and f.best.family == "max_affine" and math.isfinite(f.best.score)
    _, _, c = f.best.replay()
    assert float(c.worst_ratio[0]) == f.best.score and bool(c.violated[0]) == f.best.violated
