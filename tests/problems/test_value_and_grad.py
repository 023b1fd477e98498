"""The fused oracles ``value_and_grad`` and ``value_grad_dist`` (used by the runner under
deterministic oracles) return exactly ``value``, ``grad`` and ``||x - x*||``, bit for bit, on
every registered problem, in float64 and float32."""

import pytest
import torch

from ratecheck import problems


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", problems.names())
def test_value_and_grad_is_value_and_grad(name, dtype):
    p = problems.get(name)
    x = p.x0(5, seed=3, dtype=dtype)
    v, g = p.value_and_grad(x)
    assert torch.equal(v, p.value(x)) and torch.equal(g, p.grad(x)), name
    v2, g2, dist = p.value_grad_dist(x, p.x_star_tensor(x))
    assert torch.equal(v2, v) and torch.equal(g2, g), name
    assert torch.equal(dist, torch.linalg.vector_norm(x - p.x_star_tensor(x), dim=-1)), name
