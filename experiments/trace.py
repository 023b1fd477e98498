"""Trace: what a batch of runs recorded, step by step.

``data[name]`` is a tensor [T', B] over recorded rows; ``steps`` [T'] gives the step index t
of each row (row for t = iterate x_t; t = 0 is x0). Standard names, recorded for every run:

- ``subopt``      f(x_t) - f*                  (last iterate)
- ``dist``        ||x_t - x*||
- ``grad_norm``   ||g_t||, the (stochastic) gradient used at step t (evaluated at x_t)
- ``loss``        the loss passed to the optimizer at step t (stochastic or full)
- ``subopt_avg``, ``dist_avg``: the same for the uniform average (1/(t+1)) sum_{s<=t} x_s
- ``diverged``    1.0 once the run is frozen
plus every entry of the optimizer's ``info`` at step t (the step that produced x_{t+1}),
stored under its own name (``lr``, ``d``, ``d_hat``, ...). Rows for info/grad quantities at
t = T (no step taken) hold NaN.

``meta`` holds the problem name and params, optimizer name, options, per-run hyper-parameters
(tensors [B]), seeds, horizon, oracle kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Trace:
    steps: torch.Tensor  # int64 [T']
    data: dict[str, torch.Tensor]  # name -> [T', B]
    meta: dict[str, Any] = field(default_factory=dict)
    # Full per-step tensors [T+1, B, d] of iterates, only when requested (small runs, identities).
    iterates: dict[str, torch.Tensor] = field(default_factory=dict)

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self.data[name]
        except KeyError:
            raise KeyError(f"trace has no {name!r}; recorded: {sorted(self.data)}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.data

    @property
    def batch(self) -> int:
        return next(iter(self.data.values())).shape[1]

    @property
    def horizon(self) -> int:
        return int(self.meta.get("T", int(self.steps[-1])))

    def hp(self, name: str) -> torch.Tensor:
        """Per-run hyper-parameter [B]."""
        return self.meta["hp"][name]

    def subsample(self, rows: torch.Tensor) -> "Trace":
        """Keep the given row indices (e.g. log-spaced checkpoints) of every quantity."""
        return Trace(self.steps[rows], {k: v[rows] for k, v in self.data.items()}, dict(self.meta))


def log_checkpoints(T: int, n: int = 200) -> torch.Tensor:
    """About n distinct log-spaced steps in [0, T], always including 0 and T."""
    pts = torch.unique(torch.round(torch.logspace(0, torch.log10(torch.tensor(float(T + 1))), n)).long() - 1)
    return torch.unique(torch.cat([torch.tensor([0, T]), pts.clamp(0, T)]))


def concat(traces: list[Trace]) -> Trace:
    """Join traces of the same cell run in chunks along the run axis (B)."""
    if len(traces) == 1:
        return traces[0]
    first = traces[0]
    data = {k: torch.cat([t.data[k] for t in traces], dim=1) for k in first.data}
    meta = dict(first.meta)
    meta["hp"] = {k: torch.cat([t.meta["hp"][k] for t in traces]) for k in first.meta.get("hp", {})}
    if first.meta.get("x0") is not None:
        meta["x0"] = torch.cat([t.meta["x0"] for t in traces])
    if first.meta.get("seeds") is not None:
        meta["seeds"] = torch.cat([t.meta["seeds"] for t in traces])
    if first.meta.get("init_args"):  # per-run init arrays ([B, n], e.g. refined norms) are joined like hp
        meta["init_args"] = {k: torch.cat([t.meta["init_args"][k] for t in traces])
                             if isinstance(v, torch.Tensor) and v.ndim >= 2 and v.shape[0] == first.batch else v
                             for k, v in first.meta["init_args"].items()}
    iterates = {k: torch.cat([t.iterates[k] for t in traces], dim=1) for k in first.iterates}
    return Trace(first.steps, data, meta, iterates)
