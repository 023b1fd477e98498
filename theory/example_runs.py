"""Run a registered ``Example``: the small run on which its results are checked.

Used by the generic per-result test (every result exercised, can fail) and by anyone who wants to
see a result checked on a concrete run: ``run_example(ex, torch.float32)``.
"""

from __future__ import annotations

import functools

import torch

from .base import Example


@functools.lru_cache(maxsize=512)
def _run(ex: Example, dtype: torch.dtype):
    from ratecheck.experiments.runner import run
    from ratecheck.optimizers import get as get_opt
    from ratecheck.problems import get as get_problem

    pb = get_problem(ex.problem, **ex.problem_params)
    x0 = pb.x0(ex.runs, scale=ex.x0_scale, seed=ex.seed, dtype=torch.float64)
    D = float(torch.linalg.vector_norm(x0[0] - pb.x_star_tensor(x0)))
    hp = ex.hp(pb, D) if callable(ex.hp) else dict(ex.hp)
    if ex.derived is not None:
        hp.update(ex.derived(pb, pb.dist_to_opt(x0), hp))
    opt = get_opt(ex.optimizer, **ex.options)
    tr = run(pb, opt, x0.to(dtype), ex.T, hp=hp, batch_size=ex.batch_size,
             seeds=torch.arange(ex.runs) if ex.batch_size else None, keep_iterates=True)
    return pb, tr


def run_example(ex: Example, dtype: torch.dtype = torch.float64):
    """(problem, trace) of the example in ``dtype`` (cached: examples are frozen)."""
    return _run(ex, dtype)


def examples_for(key: str) -> list[Example]:
    from .base import examples

    return [e for e in examples() if key in e.results]
