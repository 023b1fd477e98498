"""The cube root of the compiled MADGRAD-family steps: Newton's method, multiplications only.

Under ``torch.compile`` on the CPU, inductor's vectorised ``pow``, and ``exp(log(x) / 3)`` used
before, is a libm-class function per entry: at B*d = 1e7 in float32, exp and log took ~30 ms of
a 66 ms MADGRAD step, against 13 ms for one pass over its state. Here the cube root is a guess
from the float's bit pattern and Newton's iteration for x^(-1/3), which divides nothing::

    r_0     = float with bits K - bits(x)/3            (|r_0 x^(1/3) - 1| <= 0.0406)
    r_{j+1} = r_j (4 - x r_j^3) / 3                    (n steps: 2 in float32, 3 in float64)
    y       = x r_n^2
    cbrt(x) = y - (y^3 - x) r_n^2 / 3                   (a Newton step on y; r_n^2 ~ 1/y^2)

Within 1.75 u relative of x^(1/3) (u = 2^-24 in float32, 2^-53 in float64) for every x >= 0,
subnormals included: inputs below the smallest normal or above 2^(emax - 3m) are scaled by
2^(+-3m) first (exact), so that no intermediate leaves the normal range, and the root back by
2^(-+m). As ``pow``: +-0 -> +0, +inf -> +inf, x < 0 and NaN -> NaN. Proof and numbers:
docs/theory/madgrad.md#cube-root. Other dtypes (bfloat16) take exp(log(x) / 3).

Eager steps keep ``pow(x, 1/3)``, the authors' operation (``base.cube_root`` chooses).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

# c = (2/3) max_{f in [0,1)} (log2(1+f) - f), the maximum at f = 1/ln 2 - 1: K is centred so that
# log2(r_0 x^(1/3)) lies in [-c, c] (docs/theory/madgrad.md#cube-root).
_SIGMA = math.log2(1 / math.log(2)) - (1 / math.log(2) - 1)
_C = 2 * _SIGMA / 3


class Format(NamedTuple):
    ints: torch.dtype  # the integer type of the same width
    width: int
    p: int  # mantissa bits
    bias: int  # = the largest exponent
    m: int  # tiny and huge inputs are scaled by 2^(+-3m), the root by 2^(-+m): exact
    iterations: int  # Newton steps on r

    @property
    def magic(self) -> int:
        """K: bits(r_0) = K - bits(x)/3, that is log2-linear r_0 = 2^(c' - L(x)/3), c' = -c."""
        return round(2**self.p * (4 * self.bias / 3 - _C))

    @property
    def shift(self) -> int:
        """bits(x) >> shift < 2^p (x >= 0): an integer the float type holds exactly."""
        return self.width - 1 - self.p

    def error_bound(self) -> float:
        """The proven bound on |cube_root(x) / x^(1/3) - 1| (docs/theory/madgrad.md#cube-root):
        the guess's error, the Newton recurrence with its roundings, the last step."""
        u = 2.0 ** -(self.p + 1)
        g2, g3 = 2 * u / (1 - 2 * u), 3 * u / (1 - 3 * u)
        eps = (0.5 + 25 / 24 * 2**self.shift) / 2**self.p  # K's rounding, |Q - bits/3|
        e = 2 ** (_C + eps) - 1
        for _ in range(self.iterations):
            e = (1 + 2 * e**2 + 4 / 3 * e**3 + e**4 / 3 + (1 + e) ** 4 * g3 / 3) * ((1 + u) ** 3 * (1 + u / 2)) - 1
        a = (1 + e) ** 2 * (1 + g2) - 1
        r = (1 + a) ** 3 * (1 + g2) - 1
        b = (1 + e) ** 2 * (1 + u) ** 3 * (1 + u / 2) - 1
        e1 = a**2 + a**3 / 3 + (1 + a) ** 3 * g2 / 3 + r * b / 3
        return e1 + u * (1 + e1)


FORMATS = {
    torch.float32: Format(torch.int32, 32, 23, 127, 16, 2),
    torch.float64: Format(torch.int64, 64, 52, 1023, 20, 3),
}


def _bits_over_three(x: torch.Tensor, f: Format) -> torch.Tensor:
    """round(bits(x) / 3) to within 2^shift, as an integer tensor (x >= 0 or NaN), using only
    shifts, ors, bit casts and one float multiplication: t < 2^p is the float with bits
    t | bits(2^p), less 2^p (exact); t/3 + 2^p lies in [2^p, 2^(p+1)), where the float's bits,
    less bits(2^p), are the integer nearest to it. Converting int64 to float64 directly is
    not an AVX2 instruction (inductor emulates it lane by lane: 1.3x the whole cube root)."""
    two_p, one = float(2**f.p), (f.bias + f.p) << f.p  # 2^p and its bits
    t = ((x.view(f.ints) >> f.shift) | one).view(x.dtype) - two_p
    return ((t * (1 / 3) + two_p).view(f.ints) - one) << f.shift


def _power_of_two(small: torch.Tensor, big: torch.Tensor, e: int, dtype: torch.dtype) -> torch.Tensor:
    """2^e where ``small``, 2^-e where ``big``, else 1: a factor (exact), so that the scaled value is
    read once (inductor inlines an elementwise value into each of its readers)."""
    return torch.where(small, 2.0**e, torch.where(big, 2.0**-e, 1.0)).to(dtype)


def cube_root(x: torch.Tensor) -> torch.Tensor:
    """x^(1/3) elementwise in float32 or float64 by Newton's method (module docstring); other
    dtypes exp(log(x) / 3). Meant for compiled code: eager, it is a dozen kernels."""
    f = FORMATS.get(x.dtype)
    if f is None:
        return torch.exp(torch.log(x) / 3)
    tiny, huge = 2.0 ** (1 - f.bias), 2.0 ** (f.bias - 3 * f.m)
    small, big = x < tiny, x > huge  # small: subnormals, zeros and x < 0
    xs = x.abs() * _power_of_two(small, big, 3 * f.m, x.dtype)
    r = (f.magic - _bits_over_three(xs, f)).view(x.dtype)
    # Each value is read once or twice (pow, square): inductor inlines an elementwise value into
    # every reader, so four reads of r per step made compiling exponential in the steps (31 s
    # for this function in float32, 76 s in float64; now ~2 s).
    for _ in range(f.iterations):
        r = r * (4 - xs * r.pow(3)) * (1 / 3)
    r2 = r.square()
    y = xs * r2
    y = y - (y.pow(3) - xs) * r2 * (1 / 3)
    y = y * _power_of_two(small, big, -f.m, x.dtype)
    # x = 0 (either sign): r_0 ~ 2^(bias/3) grows by 4/3 a step and r^3 overflows; pow gives +0.
    y = torch.where(x == 0, 0.0, torch.where(x < 0, math.nan, y))
    return torch.where(x == math.inf, math.inf, y)
