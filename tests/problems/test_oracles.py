"""Oracles of every registered problem: autograd, finite differences, batching, components, errors."""

import numpy as np
import pytest
import torch

from ratecheck import problems
from ratecheck.errors import RatecheckError

NAMES = problems.names()


def points(p, B, seed=0, dtype=torch.float64):
    """Random points around x* at scales from 0.1 to 1 times (1 + ||x*||)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, p.d, generator=g, dtype=torch.float64)
    u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True)
    s = torch.linspace(0.1, 1.0, B, dtype=torch.float64)[:, None] * (1.0 + float(np.linalg.norm(p.x_star)))
    return (torch.as_tensor(p.x_star)[None] + s * u).to(dtype)


def test_expected_problems_are_registered():
    expected = {
        "l1_distance", "abs_1d", "max_affine", "lad", "hinge_svm", "nesterov_nonsmooth", "norm_residual",
        "least_squares", "least_squares_interp", "logistic", "logistic_wine", "logistic_iris",
        "logistic_digits", "huber", "quadratic", "nesterov_smooth", "robust_cauchy", "rosenbrock",
    }
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_grad_matches_autograd(build, name):
    p = build(name)
    x = points(p, 4, seed=1).requires_grad_(True)
    p.value(x).sum().backward()
    g = p.grad(x.detach())
    assert torch.allclose(g, x.grad, rtol=1e-10, atol=1e-12), (g - x.grad).abs().max()


@pytest.mark.parametrize("name", [n for n in NAMES if n != "logistic_digits"])
def test_grad_matches_central_differences(build, name):
    # Independent of autograd; at random points every kink is far away relative to h.
    p = build(name)
    x = points(p, 2, seed=2)
    g = p.grad(x)
    h = 1e-6
    E = torch.eye(p.d, dtype=torch.float64)
    fd = torch.stack(
        [(p.value(x + h * E[j]) - p.value(x - h * E[j])) / (2 * h) for j in range(p.d)], dim=1
    )
    scale = 1.0 + g.abs().max()
    assert (fd - g).abs().max() <= 1e-5 * scale


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_per_row_bitwise(build, name):
    p = build(name)
    x = points(p, 5, seed=3)
    v, g = p.value(x), p.grad(x)
    for i in range(5):
        vi, gi = p.value_and_grad(x[i:i + 1])
        assert torch.equal(v[i:i + 1], vi) and torch.equal(g[i:i + 1], gi)
    if p.is_finite_sum:
        idx = p.sample_indices(torch.tensor([4, 8, 15, 16, 23]), step=7, batch_size=6)
        cv, cg, ce = p.component_value(x, idx), p.component_grad(x, idx), p.component_values_each(x, idx)
        for i in range(5):
            assert torch.equal(cv[i:i + 1], p.component_value(x[i:i + 1], idx[i:i + 1]))
            assert torch.equal(cg[i:i + 1], p.component_grad(x[i:i + 1], idx[i:i + 1]))
            assert torch.equal(ce[i:i + 1], p.component_values_each(x[i:i + 1], idx[i:i + 1]))


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith(("lad", "logistic", "huber", "hinge", "least", "robust"))])
def test_components_average_to_the_full_oracle(build, name):
    p = build(name)
    assert p.is_finite_sum and "finite_sum" in p.tags
    x = points(p, 3, seed=4)
    idx = torch.arange(p.n).expand(3, p.n)
    assert torch.allclose(p.component_value(x, idx), p.value(x), rtol=1e-12, atol=1e-14)
    assert torch.allclose(p.component_grad(x, idx), p.grad(x), rtol=1e-10, atol=1e-13)
    each = p.component_values_each(x, idx)
    assert each.shape == (3, p.n)
    assert torch.allclose(each.mean(-1), p.value(x), rtol=1e-12, atol=1e-14)
    # One component's gradient matches autograd of that component's value.
    one = torch.full((3, 1), p.n // 2)
    xr = x.clone().requires_grad_(True)
    p.component_value(xr, one).sum().backward()
    assert torch.allclose(p.component_grad(x, one), xr.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_float32_and_tags(build, name):
    p = build(name)
    assert p.tags <= problems.base.TAGS and p.description
    assert ("finite_sum" in p.tags) == p.is_finite_sum
    assert ("strongly_convex" in p.tags) == (p.mu > 0)
    assert ("lipschitz" in p.tags) == (p.G is not None and p.G_scope == "global")
    if p.G is not None and p.G_scope != "global":
        assert p.G_radius and p.G_scope.startswith("ball(x*")
    x = points(p, 3, seed=5)
    v32 = p.value(x.float())
    assert v32.dtype == torch.float32 and p.grad(x.float()).dtype == torch.float32
    assert torch.allclose(v32.double(), p.value(x), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(build, name):
    p = build(name)
    x = points(p, 3, seed=6)
    assert torch.allclose(p.value(x.cuda()).cpu(), p.value(x), rtol=1e-12, atol=1e-12)
    assert torch.allclose(p.grad(x.cuda()).cpu(), p.grad(x), rtol=1e-10, atol=1e-12)


def test_bad_input_errors(build):
    p = build("lad")
    with pytest.raises(RatecheckError, match="known problems: .*logistic_digits"):
        problems.get("logstic")
    with pytest.raises(RatecheckError, match=r"shape \(3,\)"):
        p.value(torch.zeros(3))
    with pytest.raises(RatecheckError, match=r"shape \(2, 11\); lad expects \[B, 10\]"):
        p.grad(torch.zeros(2, 11))
    with pytest.raises(RatecheckError, match="dtype torch.int64"):
        p.value(torch.zeros(2, 10, dtype=torch.int64))
    with pytest.raises(RatecheckError, match="torch.Tensor"):
        p.value(np.zeros((2, 10)))
    x = torch.zeros(3, 10)
    x[1, 4] = float("nan")
    with pytest.raises(RatecheckError, match=r"non-finite entries in rows \[1\]"):
        p.check_finite(x)
    with pytest.raises(RatecheckError, match=r"\(n, d\)=\(5, 10\) is out of range"):
        problems.get("lad", n=5, d=10)
    with pytest.raises(RatecheckError, match="task='ternary' is out of range"):
        problems.get("logistic", task="ternary")
    with pytest.raises(RatecheckError, match="unknown dataset 'mnist'; known datasets: breast_cancer"):
        problems.get("logistic", dataset="mnist")
    with pytest.raises(RatecheckError, match="not a finite sum"):
        build("quadratic").sample_indices(torch.arange(2), 0, 4)
    with pytest.raises(RatecheckError, match=r"spacing='cubic' is out of range"):
        problems.get("quadratic", spacing="cubic")
