"""``Problem.value_magnitude``: the magnitude of the terms a problem's ``value`` sums, bounded by
||x - x*|| (docs/theory/README.md#value-magnitude). It must bound the measured round-off of the
computed value (|fl(f(x)) - f(x)| <= u C M, C of the tolerance model) where |f| + |f*| does not,
never fall below |f(x)| (the default it replaces), and follow a falsify family's data."""

import math

import numpy as np
import pytest
import torch

from ratecheck.falsify import families as fam
from ratecheck.theory.base import depth

F64 = torch.float64
DISTANCES = (1e-6, 1e-3, 1.0, 100.0)


def _points(pb, D, n=500, seed=0):
    """n points at distance D from x* in random directions, float64 [n, d]."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, pb.d, generator=g, dtype=F64)
    return torch.as_tensor(pb.x_star)[None, :] + D * v / torch.linalg.vector_norm(v, dim=1, keepdim=True)


def _float32_error(pb, x):
    """(|f32(x) - f(x)|, f(x) - f*, ||x - x*||) at x rounded to float32, f evaluated in float64 on the
    float32 data (the problem the float32 run computes: its Q, A, b and x* rounded to float32)."""
    x32 = x.to(torch.float32)
    data32 = {k: v.to(torch.float32).to(F64) for k, v in pb.tensors(torch.zeros((), dtype=torch.float32)).items()}
    saved = pb._tensor_cache.get((x.device, F64))
    pb._tensor_cache[(x.device, F64)] = data32
    try:
        exact = pb.value(x32.to(F64))
        # the runner's distance: to x* as rounded to float32
        dist = torch.linalg.vector_norm(x32.to(F64) - torch.as_tensor(pb.x_star).to(torch.float32).to(F64), dim=-1)
    finally:
        if saved is None:
            pb._tensor_cache.pop((x.device, F64))
        else:
            pb._tensor_cache[(x.device, F64)] = saved
    return (pb.value(x32).to(F64) - exact).abs(), exact - pb.f_star, dist


@pytest.mark.parametrize("name", ["quadratic", "nesterov_smooth", "least_squares", "least_squares_interp", "lad"])
def test_magnitude_bounds_the_float32_roundoff_of_the_value(build, name):
    pb = build(name)
    u, C = 2.0**-24, depth(pb)
    worst_old = worst_new = 0.0
    for D in DISTANCES:
        err, sub, dist = _float32_error(pb, _points(pb, D))
        # access.subopt_magnitude's form: the problem's M at the recorded distance (+ u ||x*||) and the subtracted |f*|
        M = pb.value_magnitude(sub, dist + u * float(np.linalg.norm(pb.x_star))) + abs(pb.f_star)
        old = sub.abs() + 2.0 * abs(pb.f_star)
        # M >= |f| + 2|f*| in exact arithmetic; f here is on the float32 data, M from the float64 constants (6e-8 apart)
        assert bool((M >= old * (1 - 1e-6)).all()), f"{name}: M below |f| + |f*| at D = {D}"
        worst_new = max(worst_new, float((err / (u * M)).max()))
        worst_old = max(worst_old, float((err / (u * old)).max()))
    assert worst_new <= C, f"{name}: float32 error {worst_new:.3g} u M exceeds C = {C}"
    if name == "least_squares_interp":  # residuals vanish at x*: |f| + |f*| misses their round-off by far
        assert worst_old > 100 * C


def test_family_quadratic_null_direction():
    """The false alarm's setting (tests/falsify/spa_l1_value_roundoff.json): eigenvalues (0, 1.24), x far
    from x* along the null direction. M is the terms' size (1/2)|r|^T|Q||r| + |f*| up to lambda_max(|Q|) ||r||^2
    against |r|^T|Q||r|, far above |f| + |f*|, and it follows the family's spectrum after a change."""
    import json
    from pathlib import Path

    params = json.loads((Path(__file__).parents[1] / "falsify" / "spa_l1_value_roundoff.json").read_text())["params"]
    pb = fam.get("quadratic").build(params)
    Q, xs = pb.family_tensors["Q"], pb.family_tensors["xs"]
    null = torch.linalg.eigh(Q).eigenvectors[:, 0]
    x = (xs + 12.0 * null + 1e-4 * torch.linalg.eigh(Q).eigenvectors[:, 1])[None, :]
    r = (x - xs).abs()[0]
    terms = 0.5 * float(r @ Q.abs() @ r) + abs(pb.f_star)
    sub = pb.value(x) - pb.f_star
    M = float(pb.value_magnitude(sub, torch.linalg.vector_norm(x - xs, dim=-1))[0])
    assert terms <= M * (1 + 1e-12) <= terms * 1.5
    assert M > 50 * float(sub.abs()[0] + abs(pb.f_star))
    before = pb.abs_curvature()
    with torch.no_grad():
        pb.family_tensors["lam"].mul_(2.0)
    fam.get("quadratic").project(pb)
    assert math.isclose(pb.abs_curvature(), 2.0 * before, rel_tol=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("family, power", [("least_squares", 2), ("lad", 1)])
def test_family_linear_model_near_the_planted_solution(family, power, seed):
    """Interpolating families (b = A x_p): near x* the value is a sum of tiny squared (absolute)
    residuals, each computed from terms of size |a_i|.|x| + |b_i|. Measured in float64 against the
    residuals a_i.(x - x*) (accurate to u ||a_i|| D): the default misses the round-off by orders of
    magnitude, M bounds it; and M follows the family's data after a change of A."""
    pb = fam.get(family).build(fam.get(family).sample(np.random.default_rng(seed)))
    A, xs = pb.family_tensors["A"].detach(), torch.as_tensor(pb.x_star)
    u, C = 2.0**-53, depth(pb)
    worst_old = worst_new = 0.0
    for D in DISTANCES:
        x = _points(pb, D, seed=seed)
        r = ((x - xs)[:, None, :] * A[None]).sum(-1)
        ref = (0.5 * r.square() if power == 2 else r.abs()).sum(-1) / pb.n
        err = (pb.value(x) - ref).abs()
        M = pb.value_magnitude(ref, torch.linalg.vector_norm(x - xs, dim=-1))
        worst_new = max(worst_new, float((err / (u * M)).max()))
        worst_old = max(worst_old, float((err / (u * ref.abs())).max()))
    assert worst_new <= C and worst_old > 1e4 * C
    D = torch.tensor([0.5])
    before = float(pb.value_magnitude(torch.zeros(1, dtype=F64), D)[0])
    with torch.no_grad():
        pb.family_tensors["A"].mul_(2.0)
    fam.get(family).project(pb)
    # b = A x_p doubles too: every term doubles (absolute loss), each product of two of them quadruples (squared)
    assert math.isclose(float(pb.value_magnitude(torch.zeros(1, dtype=F64), D)[0]), 2.0**power * before, rel_tol=1e-12)


def test_default_is_the_former_rule(build):
    """Problems that declare nothing keep |f(x) - f*| + |f*| (plus the subtracted |f*| in access)."""
    pb = build("l1_distance")
    sub, dist = torch.tensor([0.0, 1e-9, 3.0], dtype=F64), torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    assert torch.equal(pb.value_magnitude(sub, dist), sub.abs() + abs(pb.f_star))
