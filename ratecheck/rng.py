"""Counter-based per-run randomness for stochastic oracles.

A minibatch index for run b at step t, slot j is a pure function hash(seed_b, t, j) mod n.
This keeps the hot path batched (no per-run torch.Generator loop), makes every run
reproducible from its own seed, independent of the batch it runs in (a batch of B runs
samples exactly what B separate runs sample), and lets a resumed run replay its indices.
The mixer is SplitMix64's finaliser, computed in int64 with wrap-around arithmetic.
"""

from __future__ import annotations

import torch

# SplitMix64 constants, written as signed int64 values.
_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15
_M1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_M2 = -7723592293110705685  # 0x94D049BB133111EB


def _shr(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def mix64(x: torch.Tensor) -> torch.Tensor:
    x = x * 1 + _GOLDEN
    x = (x ^ _shr(x, 30)) * _M1
    x = (x ^ _shr(x, 27)) * _M2
    return x ^ _shr(x, 31)


def sample_indices(seeds: torch.Tensor, step: int | torch.Tensor, batch_size: int, n: int) -> torch.Tensor:
    """Indices in [0, n) of shape [B, batch_size], drawn with replacement.

    ``seeds``: int64 tensor [B] (one per run); ``step``: the step counter, or a tensor of S step
    counters [S] for the draws of S steps at once, [S, B, batch_size] (the same integers as S
    calls: the hash is exact int64 arithmetic). At [64 x 8] on the CPU one step's draw cost
    0.17-0.25 ms, as much as a least-squares minibatch value and gradient; 32 steps in one call
    0.33 ms (``Problem.indices_by_step``).
    """
    seeds = seeds.to(torch.int64)
    j = torch.arange(batch_size, device=seeds.device, dtype=torch.int64)
    base = seeds[:, None] * 1_000_003
    if isinstance(step, torch.Tensor):
        base = base + step.to(device=seeds.device, dtype=torch.int64).reshape(-1, 1, 1)
    else:
        base = base + step
    key = mix64(mix64(base) + j)
    # Use the top 53 bits as a uniform in [0, 1) so that mod-bias is negligible for any n.
    u = _shr(key, 11).to(torch.float64) * (1.0 / (1 << 53))
    return torch.clamp((u * n).to(torch.int64), max=n - 1)
