"""Which runs diverged, by a stated criterion, and where in the grid.

A run **diverged** if either

- its state became non-finite: the optimizer froze it (``state["diverged"]``, the runner's
  ``diverged`` row; optimizers/base.py), or
- it **escaped**: at some evaluated step its suboptimality exceeds ``ESCAPE_FACTOR`` times the
  larger of its initial suboptimality and 1,

      max_t (f(x_t) - f*)  >  1e10 * max(f(x_0) - f*, 1),

  while every number stayed finite (Adam at lr 1e30 reaches 1e55). Ten orders of magnitude above
  the start is far beyond what a converging method's transient overshoot reaches, and far below
  the float64 overflow that would freeze the run.

Steps without an evaluated f (a stochastic oracle between checkpoints) are skipped. The rule is
applied to the whole in-memory trace, before it is cut to the recorded checkpoints.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

ESCAPE_FACTOR = 1e10


def diverged_runs(trace) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-run masks [B]: (non-finite and frozen, escaped while finite)."""
    frozen = trace["diverged"][-1] > 0
    f = trace["subopt"].to(torch.float64)
    start = torch.nan_to_num(f[0], nan=1.0).clamp(min=1.0)
    peak = torch.nan_to_num(f, nan=-torch.inf).amax(dim=0)
    escaped = (peak > ESCAPE_FACTOR * start) & torch.isfinite(peak) & ~frozen
    return frozen, escaped


def where(hp: dict[str, np.ndarray], mask: np.ndarray) -> str:
    """The grid points of the runs in ``mask``, with their run counts: 'lr=0.5 (3 runs), lr=1 (3 runs)'."""
    names = sorted(hp)
    points = Counter(tuple(float(hp[k][b]) for k in names) for b in np.flatnonzero(mask))
    if not names:
        return f"{int(mask.sum())} runs" if mask.any() else ""
    return ", ".join(" ".join(f"{k}={v:g}" for k, v in zip(names, p)) + f" ({n} run{'s' * (n != 1)})"
                     for p, n in sorted(points.items()))


def summary(meta: dict) -> str:
    """One phrase for a stored cell: '3/12 runs (lr=0.5 (3 runs))', or '' when none diverged."""
    n = meta.get("diverged_runs", 0)
    if not n:
        return ""
    at = meta.get("diverged_at", "")
    return f"{n}/{meta.get('n_runs', '?')} runs" + (f" at {at}" if at else "")
