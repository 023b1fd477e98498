"""Memory estimate of one batched run, checked before the run starts.

``runner.run`` keeps, for B runs of T steps in dtype of s bytes (d coordinates):

- the per-step records: one [B] row per step and quantity (distance, divergence flag, f(x_t)
  or the minibatch loss, gradient norm, every optimizer info entry), stacked into blocks of
  ``runner.CHUNK`` rows and joined at the end (a second copy while the blocks are alive) —
  about 2 (T+1) B s bytes per quantity;
- the average iterate at each of the K checkpoints, and under a stochastic oracle the iterate
  too: [K, B, d] each (K = T+1 when every step is recorded), stacked once more at the end;
- with ``keep_iterates``, every iterate: [T+1, B, d], stacked once more at the end.

A run whose estimate exceeds the memory available on its device is refused with one line that
names the sizes and the knobs that shrink them (``record``, ``max_batch``, T): without this, a
T = 1e8 run fills the machine's memory before failing.
"""

from __future__ import annotations

import psutil
import torch

from ratecheck import allocator
from ratecheck.errors import RatecheckError


def run_bytes(T: int, B: int, d: int, itemsize: int, *, quantities: int, checkpoints: int, stochastic: bool,
              keep_iterates: bool) -> int:
    """Peak bytes a run keeps (see the module docstring); ``quantities``: [B] rows per step."""
    rows = (T + 1) * quantities * 2 * B * itemsize
    per_cp = 2 if stochastic else 1
    iterates = 2 * checkpoints * per_cp * B * d * itemsize
    if keep_iterates:
        iterates += 2 * (T + 1) * B * d * itemsize
    return rows + iterates


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: the CUDA allocator's free bytes, else the host's available RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free) + int(torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    return int(psutil.virtual_memory().available)


def check_fits(need: int, device: torch.device, *, T: int, B: int, d: int, checkpoints: int, keep_iterates: bool) -> None:
    """Raise a one-line RatecheckError if ``need`` bytes exceed what ``device`` has free."""
    have = available_bytes(device)
    if need <= have:
        return
    if device.type == "cpu":  # the pages this process freed and its heap keeps (ratecheck/allocator.py)
        allocator.release()
        have = available_bytes(device)
        if need <= have:
            return
    what = f"every iterate [{T + 1}, {B}, {d}]" if keep_iterates else f"{checkpoints} checkpoints of [{B}, {d}]"
    raise RatecheckError(
        f"this run needs about {need / 2**30:.1f} GiB ({T} steps x {B} runs, {what}) but {device} has "
        f"{have / 2**30:.1f} GiB available; lower record (fewer checkpoints), max_batch (fewer runs per batch) or T"
    )
