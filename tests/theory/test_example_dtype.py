"""Example runs do not depend on torch's default dtype: their per-run hyper-parameters are float64
tensors in every process. A literal built with the default dtype is rounded to float32 where the default
is float32 (a Ray worker, a user's script) and kept exact where it is float64 (this test suite), so the
same example gave two different library ratios (tests/experiments/test_ray.py found it)."""

import subprocess
import sys

SCRIPT = """
import torch
from ratecheck import problems
from ratecheck.theory.base import examples
assert torch.get_default_dtype() == torch.float32
bad = []
for ex in examples():
    hp = ex.hp
    if callable(hp):
        pb = problems.get(ex.problem, **ex.problem_params)
        x0 = pb.x0(ex.runs, scale=ex.x0_scale, seed=ex.seed, dtype=torch.float64)
        hp = hp(pb, float(torch.linalg.vector_norm(x0[0] - pb.x_star_tensor(x0))))
    bad += [(ex.results[0], ex.problem, k, str(v.dtype)) for k, v in hp.items()
            if torch.is_tensor(v) and v.is_floating_point() and v.dtype != torch.float64]
print(bad)
"""


def test_example_hyper_parameters_are_float64_under_a_float32_default():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
