"""The compiled steps' cube root (optimizers/cube_root.py) against its proven error bound.

The bound, ``Format.error_bound()``, is the recurrence of docs/theory/madgrad.md#cube-root
(1.74 u in float32, 1.75 u in float64); every check here compares the computed root with an
independent, more precise root (float64 for float32 inputs, 100-bit mpmath for float64) and
allows the bound plus the reference's own error, nothing more.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from ratecheck.optimizers.cube_root import FORMATS, cube_root

F32, F64 = FORMATS[torch.float32], FORMATS[torch.float64]


def _from_bits(bits: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(bits).view(dtype)


def _f64_relative_errors(x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """|y / x^(1/3) - 1| with x^(1/3) in 100-bit arithmetic (x > 0)."""
    with mpmath.workprec(100):
        return [float(abs(mpmath.mpf(b) / mpmath.cbrt(mpmath.mpf(a)) - 1)) for a, b in zip(x.tolist(), y.tolist())]


def test_the_bound_is_below_one_and_three_quarter_units() -> None:
    for f in (F32, F64):
        assert f.error_bound() < 1.75 * 2.0 ** -(f.p + 1)


def test_float32_every_1021st_bit_pattern() -> None:
    """2.1 million positive float32s from the smallest subnormal to the largest finite (every
    low-bit pattern occurs: 1021 is odd), against float64 ``pow(x, 1/3)``, whose error, at most
    |ln x| |fl(1/3) - 1/3| + 1 ulp <= 103.3 * 1.85e-17 + 2.2e-16 < 2^-48 relative (|ln x| <= 149 ln 2),
    is added to the allowance."""
    bits = np.arange(1, 0x7F800000, 1021, dtype=np.int64).astype(np.int32)
    x = _from_bits(bits, torch.float32)
    y = cube_root(x)
    err = (y.double() / x.double().pow(1 / 3) - 1).abs()
    assert float(err.max()) <= F32.error_bound() + 2.0**-48, float(err.max()) / 2**-24


def test_float64_random_bit_patterns() -> None:
    """Uniform over bit patterns (so over exponents): subnormals, the scaled ranges and their
    edges, against 100-bit roots."""
    rng = np.random.default_rng(0)
    bits = rng.integers(1, 0x7FF0000000000000, size=20_000, dtype=np.int64)
    edges = np.array([1, 2, 0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF], dtype=np.int64)
    huge = np.float64(2.0 ** (F64.bias - 3 * F64.m)).view(np.int64)
    x = _from_bits(np.concatenate([bits, edges, huge + np.arange(-2, 3)]), torch.float64)
    err = _f64_relative_errors(x, cube_root(x))
    assert max(err) <= F64.error_bound() + 2.0**-95, max(err) / 2**-53


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_special_values_as_pow(dtype: torch.dtype) -> None:
    x = torch.tensor([0.0, -0.0, math.inf, -math.inf, math.nan, -1.0, -1e-40, 1.0, 8.0, 27.0], dtype=dtype)
    y = cube_root(x)
    assert y[:2].tolist() == [0.0, 0.0] and not torch.signbit(y[:2]).any()  # +0, as pow(+-0, 1/3)
    assert y[2] == math.inf
    assert torch.isnan(y[3:7]).all()
    exact = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert ((y[7:].double() / exact - 1).abs() <= FORMATS[dtype].error_bound()).all()


def test_other_dtypes_within_the_exp_log_round_off() -> None:
    """bfloat16 (u = 2^-8): log and /3 each round once, so the exponent is off by at most
    (2/3)|ln x| u (1 + u), and exp rounds once more: |y / x^(1/3) - 1| <= e^((2/3)|ln x| u (1+u)) (1 + u) - 1."""
    x = torch.tensor([8.0, 1e-3, 3e4, 0.37, 1e30, 1e-30], dtype=torch.bfloat16)
    xd, u = x.double(), 2.0**-8
    bound = torch.exp(2 / 3 * xd.log().abs() * u * (1 + u)) * (1 + u) - 1
    assert ((cube_root(x).double() / xd.pow(1 / 3) - 1).abs() <= bound).all()


@pytest.mark.heavy  # compiling: 5-30 s
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_within_the_bound(dtype: torch.dtype) -> None:
    """inductor may contract multiply-adds into FMAs (fewer roundings: the bound still holds)."""
    f = FORMATS[dtype]
    rng = np.random.default_rng(1)
    bits = rng.integers(1, 0x7F800000 if dtype == torch.float32 else 0x7FF0000000000000, size=4096, dtype=np.int64)
    x = _from_bits(bits.astype(np.int32) if dtype == torch.float32 else bits, dtype)
    y = torch.compile(cube_root, dynamic=False)(x)
    if dtype == torch.float32:
        err = float(((y.double() / x.double().pow(1 / 3)) - 1).abs().max())  # the reference's error as above
        assert err <= f.error_bound() + 2.0**-48
    else:
        assert max(_f64_relative_errors(x, y)) <= f.error_bound() + 2.0**-95
