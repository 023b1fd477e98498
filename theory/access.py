"""What the theory reads from a run: one accessor layer over ``Trace``, one array convention.

Every function returns float64 torch tensors with time on dim 0 and runs on dim 1 ([T, B] or
[T+1, B]); per-run constants are [B]. Rows n = 0..T-1 are steps: info at row n is what step n
produced (``d`` = d_n, ``d_next`` = d_{n+1}, ``lr`` = eta_n); runner quantities at row n are
measured at x_n (``subopt``, ``dist``, ``grad_norm`` of g_n). Theory modules build their
``Sides`` from these and from pure functions of sequences; they never index a Trace directly.

``Unavailable`` is raised when a run did not record what a result needs (iterates not kept, a
subsampled trace, an option not recorded): the result is then "not checked" with that reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from ratecheck.errors import RatecheckError

F64 = torch.float64


class Unavailable(RatecheckError):
    """The trace lacks what a result needs; the result is reported as not checked, with this reason."""


# -- shape of the trace ----------------------------------------------------------------------------


def steps(trace) -> int:
    """Number of steps T of a full trace (rows 0..T); running sums need every step."""
    T = int(trace.steps.shape[0]) - 1
    if T < 1 or not torch.equal(trace.steps.cpu(), torch.arange(T + 1)):
        raise Unavailable("needs every step recorded; the trace is subsampled (use the full trace from runner.run)")
    return T


def step_index(trace) -> torch.Tensor:
    """n = 0..T-1 as float64 [T, 1]."""
    return torch.arange(steps(trace), dtype=F64)[:, None]


def col(trace, name: str) -> torch.Tensor:
    """A recorded quantity at the step rows 0..T-1, float64 [T, B]."""
    if name not in trace:
        raise Unavailable(f"the run did not record {name!r}")
    return trace[name][: steps(trace)].to(F64)


def rows(trace, name: str) -> torch.Tensor:
    """A recorded quantity at every row 0..T (iterate quantities: subopt, dist), float64 [T+1, B]."""
    if name not in trace:
        raise Unavailable(f"the run did not record {name!r}")
    steps(trace)
    return trace[name].to(F64)


def sparse_rows(trace, n: int) -> list[int]:
    """About n rows, always 0 and T, for a result too costly to evaluate at every row: chosen among
    the rows the run keeps on disk (``meta["checkpoints"]``; every row when it keeps all), nearest
    to n log-spaced steps, so that every evaluated row is also a stored row (figures draw them)."""
    from ratecheck.experiments.trace import log_checkpoints

    T = steps(trace)
    cp = trace.meta.get("checkpoints")
    kept = torch.arange(T + 1) if cp is None else torch.as_tensor(cp).to(torch.long).cpu()
    if kept.numel() <= n:
        return kept.tolist()
    idx = torch.searchsorted(kept, log_checkpoints(T, n)).clamp(max=kept.numel() - 1)
    return torch.unique(kept[idx]).tolist()


def nan_rows(trace) -> torch.Tensor:
    """A [T', B] float64 tensor of NaN, one row per recorded row (for bounds given at a few rows)."""
    return torch.full((int(trace.steps.shape[0]), trace.batch), math.nan, dtype=F64)


def optimizer(trace) -> str:
    """The registered name of the run's optimizer."""
    return str(trace.meta.get("optimizer", ""))


def stochastic(trace) -> bool:
    """Whether the run used the minibatch oracle (``runner.run(batch_size=...)``)."""
    return trace.meta.get("batch_size") is not None


# -- hyper-parameters and constructor options -------------------------------------------------------


def has_hp(trace, name: str) -> bool:
    return name in trace.meta.get("hp", {})


def hp(trace, name: str) -> torch.Tensor:
    """A per-run hyper-parameter [B] (float64)."""
    if not has_hp(trace, name):
        raise Unavailable(f"the run has no hyper-parameter {name!r}")
    return trace.meta["hp"][name].to(F64).cpu()


def hp_or(trace, name: str, default: float) -> torch.Tensor:
    """A hyper-parameter [B], or ``default`` for every run where the optimizer has none."""
    return hp(trace, name) if has_hp(trace, name) else torch.full((trace.batch,), float(default), dtype=F64)


def init_args(trace) -> dict:
    """The run's init arguments that are not hyper-parameters (a schedule's T, norms, ...), as passed to
    ``optimizer.init``; ``runner.run`` records them in ``trace.meta["init_args"]``."""
    args = trace.meta.get("init_args")
    if args is None:
        raise Unavailable("the run's init arguments were not recorded (run it through runner.run)")
    return args


def option(trace, name: str, default=None):
    """A constructor option of the run's optimizer (``optimizers.get(name, **options)``).

    ``runner.run`` records the options in ``trace.meta["options"]``; a trace without them cannot
    tell whether an option that changes the update was set, so asking raises ``Unavailable``.
    """
    opts = trace.meta.get("options")
    if opts is None:
        raise Unavailable("the run's optimizer options were not recorded (run it through runner.run)")
    return opts.get(name, default)


# -- the run's geometry -----------------------------------------------------------------------------


def D(trace) -> torch.Tensor:
    """D = ||x_0 - x*|| [B], from the runner's distance at row 0."""
    return trace["dist"][0].to(F64).cpu()


def x0(trace) -> torch.Tensor:
    """x_0 [B, d] (the runner stores it in the metadata; else the kept iterates have it)."""
    if trace.meta.get("x0") is not None:
        return trace.meta["x0"].to(F64)
    return iterates(trace)[0]


def iterates(trace) -> torch.Tensor:
    """x_0..x_T [T+1, B, d] float64; raises ``Unavailable`` when the run did not keep them."""
    if "x" not in trace.iterates:
        raise Unavailable("needs the iterates, which this run did not keep (keep_iterates=True)")
    return trace.iterates["x"].to(F64)


def D_inf(trace, problem) -> torch.Tensor:
    """D_inf = ||x_0 - x*||_inf [B]."""
    if "dist_inf" in trace:
        return trace["dist_inf"][0].to(F64)
    x = x0(trace)
    return (x - problem.x_star_tensor(x)).abs().amax(dim=-1)


def displacement(trace) -> torch.Tensor:
    """||x_{n+1} - x_0|| at rows n = 0..T-1 [T, B], from the kept iterates."""
    x = iterates(trace)
    return torch.linalg.vector_norm(x[1 : steps(trace) + 1] - x[:1], dim=-1)


def grads(trace, problem) -> torch.Tensor:
    """g_n = grad f(x_n) [T, B, d], recomputed from the iterates (deterministic runs)."""
    x = iterates(trace)[: steps(trace)]
    return problem.grad(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def received_grads(trace, problem) -> torch.Tensor:
    """g_n [T, B, d] the optimizer received, recomputed from the iterates: the full gradient, or
    under a stochastic oracle the minibatch gradient of the run's recorded seeds (the runner's
    counter-based sampling draws the same indices again)."""
    if not stochastic(trace):
        return grads(trace, problem)
    x = iterates(trace)[: steps(trace)]
    return torch.stack([problem.component_grad(xt, idx) for xt, idx in zip(x, indices_by_step(trace, problem))])


def indices_by_step(trace, problem) -> Iterator[torch.Tensor]:
    """The minibatch indices [B, m] of steps 0..T-1 in order (stochastic runs): the runner's
    counter-based sampling draws the same ones again from the run's seeds, a block of steps per
    call as the runner does."""
    return problem.indices_by_step(trace.meta["seeds"], range(steps(trace)), trace.meta["batch_size"])


def x_star_norm(problem) -> float:
    return float(torch.linalg.vector_norm(torch.as_tensor(problem.x_star, dtype=F64)))


# -- sequences ---------------------------------------------------------------------------------------


def running_max(v: torch.Tensor) -> torch.Tensor:
    """max_{k<=n} v_k over dim 0."""
    return torch.cummax(v, dim=0).values


def weighted_average(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_{k<=n} w_k v_k / sum_{k<=n} w_k, over n (dim 0)."""
    return torch.cumsum(weights * values, dim=0) / torch.cumsum(weights, dim=0)


def unchecked_where(cond: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
    """NaN (no information: the row is not checked) where ``cond`` is False."""
    return torch.where(cond, bound, torch.full_like(bound, math.nan))


# -- round-off model (docs/theory/README.md#tolerance) --------------------------------------------------


def run_dtype(trace) -> torch.dtype:
    """The dtype the run computed in (recorded quantities carry its rounding)."""
    name = str(trace.meta.get("dtype", "")).replace("torch.", "")
    dt = getattr(torch, name, None) if name else None
    return dt if isinstance(dt, torch.dtype) else trace["dist"].dtype


def unit_roundoff(trace) -> float:
    """u = eps/2 of the dtype the run computed in."""
    return torch.finfo(run_dtype(trace)).eps / 2


def underflow_floor(trace) -> float:
    """lambda / u, lambda the smallest normal number of the run's dtype: below it a row's terms can
    have passed through subnormal numbers, whose round-off is absolute (at most lambda u per
    operation, Higham 2002 §2.1), so the relative model u (C + m) S does not bound the error."""
    fi = torch.finfo(run_dtype(trace))
    return fi.tiny / (fi.eps / 2)


def subopt_magnitude(trace, problem, iterate: str = "last") -> torch.Tensor:
    """The magnitude of the terms the recorded f(x_t) - f* was formed from, at every row [T+1, B]:
    the problem's ``value_magnitude`` M(x_t) (the terms f(x_t)'s evaluation sums; |f(x_t)| where
    they do not cancel) plus the |f*| the runner subtracts. The round-off of f(x_t) - f* is
    relative to these, not to the (possibly tiny) difference (docs/theory/README.md#value-magnitude).
    ``iterate="average"``: the same for the uniform average's ``subopt_avg`` (its ``dist_avg``).

    The problem bounds M by ||x_t - x*||; the recorded distance is to x* as rounded to the run's
    dtype, within u ||x*|| of x*, which is added (it matters only where x_t is that close to x*)."""
    suffix = {"last": "", "average": "_avg"}[iterate]
    subopt = rows(trace, "subopt" + suffix)
    dist = rows(trace, "dist" + suffix) + unit_roundoff(trace) * x_star_norm(problem)
    fs = abs(float(problem.f_star))
    value_magnitude = getattr(problem, "value_magnitude", None)
    if value_magnitude is None:  # an object that is not a library Problem: the default |f| + |f*|
        return subopt.abs() + 2.0 * fs
    return value_magnitude(subopt, dist).to(F64) + fs


def dist_magnitude(trace, problem) -> torch.Tensor:
    """||x_t|| + ||x*|| <= ||x_t - x*|| + 2||x*|| at every row [T+1, B]: the rounding of the
    iterate's coordinates, which sets the round-off of ||x_t - x*|| when x_t is near x*."""
    return rows(trace, "dist") + 2.0 * x_star_norm(problem)
