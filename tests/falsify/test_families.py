"""Families: x* and f* hold by construction, the claimed tags and constants hold, projection keeps
an instance inside its family after a gradient step."""

import numpy as np
import pytest
import torch

from ratecheck.falsify import families as F

FIXED = [n for n in F.names() if n != "adaptive"]  # the adaptive family's pieces exist only along a run (test_adaptive.py)


@pytest.mark.parametrize("name", FIXED)
def test_minimiser_and_constants_by_construction(name):
    rng = np.random.default_rng(1)
    fam = F.get(name)
    for _ in range(4):
        pb = fam.build(fam.sample(rng))
        xs = torch.as_tensor(pb.x_star)[None, :]
        assert float(pb.value(xs)[0]) == pb.f_star  # exactly, not within a tolerance
        x = xs + torch.randn(64, pb.d, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3.0
        assert bool((pb.value(x) >= pb.f_star).all())
        g = pb.grad(x)
        # convexity (subgradient inequality towards x*): f(x*) >= f(x) + <g, x* - x>
        assert bool((pb.f_star >= pb.value(x) + ((xs - x) * g).sum(-1) - 1e-9 * (1 + pb.value(x).abs())).all())
        if "lipschitz" in pb.tags:
            assert float(torch.linalg.vector_norm(g, dim=1).max()) <= pb.G * (1 + 1e-12)
        if pb.L is not None:  # smooth: ||grad f(x) - grad f(y)|| <= L ||x - y||
            dg = torch.linalg.vector_norm(g[1:] - g[:-1], dim=1)
            assert bool((dg <= pb.L * torch.linalg.vector_norm(x[1:] - x[:-1], dim=1) * (1 + 1e-9) + 1e-12).all())
        assert fam.tags >= pb.tags - {"strongly_convex"}


@pytest.mark.parametrize("name", FIXED)
def test_projection_after_a_step_stays_in_family(name):
    rng = np.random.default_rng(2)
    fam = F.get(name)
    pb = fam.build(fam.sample(rng), requires_grad=True)
    x = torch.as_tensor(pb.x_star)[None, :] + torch.randn(8, pb.d, dtype=torch.float64)
    pb.value(x).sum().backward()
    with torch.no_grad():
        for leaf in pb.leaves.values():
            leaf -= 100.0 * leaf.grad  # a large step that leaves the family (negative weights, spectrum, offsets)
    fam.project(pb)
    xs = torch.as_tensor(pb.x_star)[None, :]
    with torch.no_grad():
        assert float(pb.value(xs)[0]) == pb.f_star
        assert bool((pb.value(x) >= pb.f_star).all())


def test_linear_designs_of_one_magnitude_are_noise_free_where_claimed():
    """Half of the repeated-row designs have entries +-c (families._lin_sample): in 1-D, or with one
    distinct row, every minibatch gradient of the LAD instance is its full gradient, with every coordinate
    at the coordinate bound max |A_ij| = c; the other designs are drawn as before (same stream)."""
    rng = np.random.default_rng(0)
    fam = F.get("lad")
    seen = new = 0
    for _ in range(400):
        p = fam.sample(rng)
        A = np.abs(np.asarray(p["A"]))
        distinct = len({tuple(r) for r in np.asarray(p["A"]).tolist()})
        if not (np.all(A == A.flat[0]) and (p["d"] == 1 or distinct == 1)):
            continue
        seen += 1
        new += p["d"] > 1 or distinct > 1  # only the one-magnitude branch draws these (Gaussian rows otherwise)
        pb = fam.build(p)
        x = torch.as_tensor(pb.x_star)[None, :] + torch.randn(6, pb.d, dtype=torch.float64, generator=torch.Generator().manual_seed(seen))
        idx = torch.randint(pb.n, (6, 4), generator=torch.Generator().manual_seed(seen))
        g, full = pb.component_grad(x, idx), pb.grad(x)
        tol = pb.n * 2.0**-52 * float(A.max())  # each is a mean of up to n equal terms: n u of round-off
        assert float((g - full).abs().max()) <= tol
        assert float((g.abs() - float(A.max())).abs().max()) <= tol
    assert seen >= 10 and new >= 3, (seen, new)
