"""Inductor's cascade sums left out of a compiled CPU step where they change no bit.

For a float32 sum over more than 4096 entries inductor's C++ backend accumulates through a
``CascadeSumHelper`` (``torch/csrc/inductor/cpp_prefix.h``; ``CppKernel.need_use_acc_helper``
in ``torch/_inductor/codegen/cpp.py``, torch 2.13): partial sums in chunks of 4096 additions,
a stack of ``ceil_log2(ceil(N / 4096))`` partial sums for N additions, combined pairwise. With
N <= 2 * 4096 that depth is at most 1, and the helper never moves a partial sum: it adds every
term to one accumulator in order, as a plain reduction does, but keeps that accumulator in
memory and counts each addition. The vectorised loop over a row of d float32 entries makes
N = d / 8 additions with AVX2, so every row up to 65536 entries takes that path.

On the CPU at B*d = 1e7 ([256 x 40000], float32) those helpers were a third of the compiled
steps that take several sums: Mechanic's step 27 -> 17 ms, MoMo-Adam's step / pass 3.2x ->
2.3x (docs/speed.md, "Inductor's cascade sums"). ``plain_sums`` leaves the helper out of a
vectorised sum exactly when it would not cascade: one reduced dimension, the one the vector
loop runs along, of whole vectors (d a multiple of 8 with AVX2), at most 2 * 4096 of them.
A row with a partial last vector keeps the helper: the helper adds that vector into an
accumulator of its own and a plain reduction into the row's, another order. Longer rows keep
the helper and its precision. The same bits either way (tests/optimizers/test_compiled.py
compares the two compiles), so an inductor cache entry made without it serves the same numbers.

Active around each call of a compiled step (``compiled.compile_with``, where compiles happen):
a private method of inductor is wrapped once, and the wrapper defers to it unless a step of this
package compiles in the calling context (a ``ContextVar``, so other threads and a user's own
compiles keep inductor's helpers). A torch without that method compiles with its own helpers.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextvars import ContextVar

import sympy

# CascadeSumHelper's chunk (cpp_prefix.h): with at most two chunks its stack has depth <= 1.
CHUNK = 4096

_active: ContextVar[bool] = ContextVar("plain_sums", default=False)


@functools.cache
def _install() -> None:
    """Wrap inductor's ``CppKernel.need_use_acc_helper`` once per process; the wrapper defers to
    the original unless ``plain_sums`` is active in the calling context."""
    try:
        from torch._inductor.codegen.cpp import CppKernel
    except ImportError:
        return
    original = CppKernel.__dict__.get("need_use_acc_helper")
    if original is None:  # another torch: its own helpers
        return

    def need_use_acc_helper(self, reduction_type, dtype, use_scalar):
        need = original(self, reduction_type, dtype, use_scalar)
        if not (_active.get() and need and reduction_type == "sum" and not use_scalar):  # use_scalar: a scalar kernel
            return need
        try:
            from torch._inductor.virtualized import V

            along, lanes = self.ranges[self.tiling_idx], self.tiling_factor
            one_dim = len(self.ranges) - self.reduction_depth == 1 and self.tiling_idx == self.reduction_depth
            # provably whole vectors, at most 2 chunks of them (a symbolic row length is neither)
            known = V.graph.sizevars.statically_known_true
            return not (one_dim and known(sympy.Eq(along % lanes, 0)) and known(sympy.Le(along // lanes, 2 * CHUNK)))
        except Exception:  # another torch's kernel or sizes: inductor's own choice
            return need

    CppKernel.need_use_acc_helper = need_use_acc_helper


@contextlib.contextmanager
def plain_sums() -> Iterator[None]:
    """Inductor's CPU kernels compiled inside leave out the cascade helpers that would not
    cascade (this context only: other threads and code outside keep inductor's own)."""
    _install()
    token = _active.set(True)
    try:
        yield
    finally:
        _active.reset(token)
