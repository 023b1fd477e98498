"""A found instance as a reproducible file, and its replay.

The file (JSON) holds everything the run needs: the result key, the planted factor (1 for the
bound as registered), the family and its parameters (so the problem is rebuilt with x* and f*
by construction), the optimizer with its options, the hyper-parameters, x_0, T, the oracle's
minibatch size and seeds. ``replay`` runs it again, alone, through ``runner.run`` and
``theory.check``: a batch of B runs equals B separate runs bit for bit in float64, so the replay
reproduces the ratio the search saw (tests/falsify/test_instance.py checks it).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ratecheck import optimizers, theory
from ratecheck.atomic import atomic_write
from ratecheck.errors import RatecheckError

from . import families as fam

FORMAT = "ratecheck-falsify-instance/1"
F64 = torch.float64


def _plain(v):
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu()
        return v.item() if v.ndim == 0 else v.tolist()
    return v


@dataclass
class Instance:
    result: str
    factor: float
    family: str
    params: dict
    optimizer: str
    options: dict
    hp: dict
    x0: list
    T: int
    batch_size: int | None
    seeds: list | None
    score: float
    violated: bool

    @classmethod
    def of(cls, space, family: str, params: dict, x0: torch.Tensor, hp: dict, b: int, seed: int, score: float,
           violated: bool, factor: float) -> "Instance":
        """Candidate b of a batch, as decoded for a batch of one (``x0``/``hp`` of that candidate)."""
        ex = space.tpl.example
        g = space.tpl.group
        seeds = [b * g + j + seed for j in range(g)] if ex.batch_size else None
        return cls(space.tpl.result.key, factor, family, params, ex.optimizer, dict(ex.options),
                   {k: _plain(v) for k, v in hp.items()}, _plain(x0), space.T, ex.batch_size, seeds, score, violated)

    # -- file ----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"] = self.score if math.isfinite(self.score) else str(self.score)
        return {"format": FORMAT, **d}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(self.to_dict(), indent=1).encode()
        atomic_write(path, lambda f: f.write(body))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Instance":
        p = Path(path)
        if not p.is_file():
            raise RatecheckError(f"instance file {str(path)!r} not found")
        try:
            d = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RatecheckError(f"instance file {str(path)!r} is not JSON: {e}") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise RatecheckError(f"instance file {str(path)!r} has format {d.get('format') if isinstance(d, dict) else None!r}; allowed: {FORMAT}")
        d.pop("format")
        d["score"] = float(d["score"])
        try:
            return cls(**d)
        except TypeError as e:
            raise RatecheckError(f"instance file {str(path)!r} is missing or has unknown fields: {e}") from None

    # -- replay --------------------------------------------------------------------------------
    def problem(self):
        return fam.get(self.family).build(self.params)

    def run(self):
        """(problem, trace): the instance's run, alone (one run, or its seeds for an expectation)."""
        from ratecheck.experiments.runner import run

        pb = self.problem()
        x0 = torch.tensor(self.x0, dtype=F64)
        n = x0.shape[0]
        hp = {}
        for k, v in self.hp.items():
            t = torch.tensor(v, dtype=F64) if isinstance(v, list) else v
            hp[k] = t
        opt = optimizers.get(self.optimizer, **self.options)
        seeds = torch.tensor(self.seeds) if self.seeds is not None else None
        if seeds is not None and seeds.numel() != n:
            raise RatecheckError(f"instance has {seeds.numel()} seeds for {n} start points")
        return pb, run(pb, opt, x0, self.T, hp=hp, batch_size=self.batch_size, seeds=seeds, keep_iterates=True)

    def with_fresh_seeds(self, n: int, start: int = 10**9) -> "Instance":
        """The same start point and hyper-parameters with ``n`` new seeds (results in expectation:
        a violation selected by the search among many groups is confirmed on seeds it never saw)."""
        g = len(self.x0)
        hp = {k: ([v[0]] * n if isinstance(v, list) and len(v) == g else v) for k, v in self.hp.items()}
        return Instance(**{**self.__dict__, "x0": [self.x0[0]] * n, "hp": hp, "seeds": list(range(start, start + n))})

    def replay(self, result=None):
        """(problem, trace, CheckResult) of the instance, checked with its planted factor against
        ``result`` (a Result object, e.g. one the user did not register), or the registered one."""
        from .objective import perturbation

        pb, tr = self.run()
        return pb, tr, theory.check(result or theory.get(self.result), tr, pb, perturbation(self.factor))
