"""Run a whole spec: every missing cell as one batch, theory checked, results stored.

For each cell (problem, optimizer, options) the runs are the hyper-parameter grid x seeds,
stacked into one batch (chunked to ``max_batch``). Every theory result registered for the
cell's optimizer gets a row (``theory.report.row``): n/a with the reason where it does not apply,
else checked on the full in-memory trace, before it is cut down to the recorded checkpoints, so a
bound that needs every step (running sums of gradient norms, step sizes) is checked on every step.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ratecheck.device import resolve_device, resolve_dtype
from ratecheck.errors import RatecheckError

from . import divergence, executors
from .progress import Progress
from .runner import run
from .spec import Cell, Spec
from .store import Store, check_rows, divergence_line, spec_dir
from .trace import Trace, concat, log_checkpoints


@dataclass
class SweepSummary:
    path: Path
    computed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    divergence: str = ""  # store.divergence_line of all the spec's cells


ITERATE_BUDGET_BYTES = 256 * 2**20

def run_spec(
    spec: Spec,
    out: str | Path = "results",
    *,
    device: str | None = None,
    force: bool = False,
    progress: bool | None = None,
    log=None,
    executor: str = "local",
    ray_options: dict[str, Any] | None = None,
) -> SweepSummary:
    """Compute the cells of ``spec`` missing from its results folder (all with ``force``), in this
    process or as Ray tasks (``executor="ray"``, ``ray_options``: address, cpus_per_cell,
    gpus_per_cell, max_retries; see ``executors.on_ray``)."""
    dev = resolve_device(device or spec.device)
    dtype = resolve_dtype(spec.dtype)
    store = Store(spec_dir(out, spec))
    log = log or (lambda msg: print(msg, file=sys.stderr))
    with store.lock(log):
        store.prepare(spec)
        cells = spec.cells()
        todo = [c for c in cells if force or not store.has_cell(c, log)]
        summary = SweepSummary(store.root)
        todo_ids = {c.id for c in todo}
        summary.cached = [c.id for c in cells if c.id not in todo_ids]
        # The environment and device are stamped only when something is computed with them.
        store.update_manifest(spec, str(dev) if todo else None, complete=not todo)
        bar = Progress(sum(c.n_runs for c in todo), sum(c.n_runs * spec.T for c in todo), enabled=progress)
        if executor == "ray":
            # each worker resolves the device itself ("auto" is a GPU where Ray assigned one)
            finished = executors.on_ray(todo, device or spec.device, dtype, bar, store, log=log, **(ray_options or {}))
        elif executor == "local":
            finished = executors.in_process(todo, dev, dtype, bar, store)
        else:
            raise RatecheckError(f"executor {executor!r}; allowed: {', '.join(executors.EXECUTORS)}")
        for n, (cell, arrays, meta, wall) in enumerate(finished, 1):
            meta["wall_time_s"] = wall
            store.write_cell(cell.id, arrays, meta)
            store.update_manifest(spec, cell_times={cell.id: {"wall_time_s": round(wall, 4), "device": meta["device"],
                                                              "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}})
            summary.computed.append(cell.id)
            if not bar.enabled:
                log(f"cell {n}/{len(todo)} {cell.problem.label} / {cell.optimizer.label}: {cell.n_runs} runs x {spec.T} steps, {wall:.2f} s")
        bar.close()
        stored = store.cells()
        for c in stored:
            if c.meta.get("diverged_runs"):
                log(f"diverged: {c.problem_label} / {c.label}: {divergence.summary(c.meta)}")
        store.update_manifest(spec, complete=True)
        summary.rows = check_rows(stored)
        summary.divergence = divergence_line(stored)
        store.write_checks(summary.rows)
    return summary


def cell_runs(cell: Cell) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-run hyper-parameters and seeds, grid-major: run b = (grid point b // S, seed b % S)."""
    points = cell.optimizer.hp_points()
    seeds = cell.spec.seeds
    hp = {k: np.array([p[k] for p in points for _ in seeds], dtype=np.float64) for k in cell.optimizer.grid}
    return hp, np.array([s for _ in points for s in seeds], dtype=np.int64)


def start_points(cell: Cell, problem, seeds: np.ndarray, device, dtype) -> torch.Tensor:
    """x0 per run: from its own seed (``x0_seed = "run"``) or one shared seed."""
    spec = cell.spec
    cache: dict[int, torch.Tensor] = {}

    def one(s: int) -> torch.Tensor:
        if s not in cache:
            cache[s] = problem.x0(1, scale=spec.x0_scale, seed=s, dtype=torch.float64)[0]
        return cache[s]

    rows = [one(int(s) if spec.x0_seed == "run" else spec.x0_seed) for s in seeds]
    return torch.stack(rows).to(device=device, dtype=dtype)


def init_extras(opt, entry, T: int, norms=None) -> dict[str, Any]:
    """Keywords for ``opt.init`` besides hyper-parameters: the spec's ``init`` table, the horizon
    T for methods with a schedule, and the gradient-norm log of a refined schedule."""
    extra = dict(entry.init)
    if getattr(opt, "schedule", None) is not None:
        extra.setdefault("T", T)
    if norms is not None:
        extra["norms"] = norms
    return extra


def refine_norms(cell: Cell, store: Store | None, seeds: np.ndarray) -> torch.Tensor:
    """Per-run norms [B, T] for a refined cell: the source cell's gradient norms at every step,
    from its best grid point (lowest median final suboptimality), for the run's seed."""
    src = cell.refine_source()
    if store is None or not store.has_cell(src):
        raise RatecheckError(f"cell {cell.id} refines {src.id}, which is not computed yet")
    from ratecheck.figures.data import best_runs

    stored = next(c for c in store.cells() if c.meta["cell_hash"] == src.hash)
    full = stored.arrays["full/grad_norm"]  # [T, B_src]
    best = best_runs(stored)
    by_seed = {int(s): full[:, b] for b, s in enumerate(stored.arrays["seeds"]) if best[b]}
    return torch.as_tensor(np.stack([by_seed[int(s)] for s in seeds]), dtype=torch.float64)


def compute_cell(cell: Cell, device: torch.device, dtype: torch.dtype, bar: Progress | None = None, store: Store | None = None, norms: torch.Tensor | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run every run of a cell, check the theory on the full trace, return what the store keeps.
    A refined cell reads its source's gradient norms from ``store``, unless ``norms`` gives them."""
    from ratecheck import optimizers

    spec = cell.spec
    problem = spec.problem(cell.pi)
    opt = optimizers.get(cell.optimizer.name, **cell.optimizer.options)
    hp, seeds = cell_runs(cell)
    B = len(seeds)
    x0 = start_points(cell, problem, seeds, device, dtype)
    cp = log_checkpoints(spec.T, spec.record) if isinstance(spec.record, int) else None
    if norms is None and cell.optimizer.refine_from is not None:
        norms = refine_norms(cell, store, seeds)
    extra = init_extras(opt, cell.optimizer, spec.T, norms)
    # Some results need every iterate (displacements, recomputed gradients); keep them when the
    # [T+1, B, d] float tensor of one chunk fits the budget, else those results are n/a
    # ("iterates not kept", raised by theory.access as Unavailable).
    keep = (spec.T + 1) * min(B, spec.max_batch) * problem.d * 8 <= ITERATE_BUDGET_BYTES
    traces = []
    for lo in range(0, B, spec.max_batch):
        hi = min(lo + spec.max_batch, B)
        if bar is not None:
            bar.start_batch(f"{cell.problem.label} / {cell.optimizer.label}", hi - lo)
        traces.append(
            run(
                problem, opt, x0[lo:hi], spec.T,
                hp={**{k: torch.as_tensor(v[lo:hi]) for k, v in hp.items()},
                    **{k: (v[lo:hi] if isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] == B else v) for k, v in extra.items()}},
                seeds=torch.as_tensor(seeds[lo:hi]),
                batch_size=cell.problem.batch_size,
                checkpoints=cp,
                keep_iterates=keep,
                compile=spec.compile,
                on_step=None if bar is None else bar.on_step,
            )
        )
        if bar is not None:
            bar.end_batch()
    trace = concat(traces)
    trace.meta["label"] = cell.optimizer.label  # runner.run records the options, defaults included
    results, result_arrays = evaluate_theory(cell, trace, problem)

    rows = torch.arange(spec.T + 1) if cp is None else cp
    kept = trace.subsample(rows)
    arrays: dict[str, np.ndarray] = {"steps": kept.steps.numpy(), "seeds": seeds}
    for k, v in kept.data.items():
        arrays[f"trace/{k}"] = v.to(torch.float64).numpy()
    for k, v in hp.items():
        arrays[f"hp/{k}"] = v
    if cell.canonical()["refines"]:
        arrays["full/grad_norm"] = trace["grad_norm"][: spec.T].to(torch.float64).numpy()
    for key, arrs in result_arrays.items():
        n = arrs["observed"].shape[0]
        r = rows[rows < n]
        arrays[f"result/{key}/steps"] = trace.steps[r].numpy()
        for name in ("observed", "bound", "tol", "before"):
            if arrs.get(name) is not None:
                arrays[f"result/{key}/{name}"] = arrs[name][r].to(torch.float64).numpy()
        for name in ("holds", "checked", "rows_checked", "worst_ratio", "first_violation"):
            arrays[f"result/{key}/{name}"] = arrs[name].numpy()

    frozen, escaped = divergence.diverged_runs(trace)
    diverged = (frozen | escaped).numpy()
    arrays["run/diverged"] = frozen.numpy()
    arrays["run/escaped"] = escaped.numpy()
    meta = {
        "cell_id": cell.id,
        "cell_hash": cell.hash,
        "spec": spec.name,
        "spec_hash": spec.hash,
        "problem_index": cell.pi,
        "optimizer_index": cell.oi,
        "problem": {**cell.problem.__dict__, "summary": _jsonable(problem.summary()), "tags": sorted(problem.tags)},
        "optimizer": {**cell.optimizer.__dict__, "reference": getattr(opt, "reference", ""), "info_keys": list(getattr(opt, "info_keys", ()))},
        "T": spec.T,
        "seeds": spec.seeds,
        "n_runs": B,
        "record": spec.record,
        "x0_scale": spec.x0_scale,
        "x0_seed": spec.x0_seed,
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        # divergence.py states the criterion: non-finite (frozen) or escaped (finite, 1e10 x the start)
        "diverged_runs": int(diverged.sum()),
        "diverged_nonfinite": int(frozen.sum()),
        "diverged_escaped": int(escaped.sum()),
        "diverged_at": divergence.where(hp, diverged),
        "diverged_hp": [{k: float(v[b]) for k, v in hp.items()} | {"seed": int(seeds[b])} for b in np.flatnonzero(diverged).tolist()[:20]],
        "recorded": sorted(trace.data),
        "results": results,
    }
    return arrays, meta


def evaluate_theory(cell: Cell, trace: Trace, problem) -> tuple[list[dict], dict[str, dict]]:
    """One table row per result registered for the cell's optimizer (``report.check_row``): n/a with the
    reason where it does not apply (a problem tag missing, the other oracle), else checked on the
    full trace; the checked ones also return their arrays for the store."""
    from ratecheck import theory
    from ratecheck.theory import report

    stochastic = cell.problem.oracle == "stochastic"
    candidates = theory.candidates(cell.optimizer.name, problem, stochastic)
    wanted = cell.spec.results
    if wanted != "auto":
        candidates = [(r, why) for r, why in candidates if r.key in wanted]
    candidates = [(r, why) for r, why in candidates if r.key not in cell.spec.exclude_results]
    rows, arrays = [], {}
    for r, why in candidates:
        row, c = report.check_row(r, trace, problem, why)
        rows.append(row)
        if c is None:
            continue
        arrays[r.key] = {
            "observed": c.observed, "bound": c.bound, "tol": c.tol, "before": c.before,
            "holds": c.holds.bool(), "checked": c.checked.bool(), "rows_checked": c.rows_checked.to(torch.int64),
            "worst_ratio": c.worst_ratio.to(torch.float64), "first_violation": c.first_violation.to(torch.int64),
        }

    return rows, arrays


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, (np.floating, np.integer)):
            v = v.item()
        out[k] = v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
    return out
