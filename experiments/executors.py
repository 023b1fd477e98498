"""Where a sweep's cells are computed: in this process (the default) or as Ray tasks.

Cells are independent batches, so a cluster needs no engine of ours: each cell becomes one Ray
task (``ray.remote``), Ray places it on a node with the CPUs/GPUs it asks for and retries it when
its worker dies (``max_retries``), and the finished cell travels back to the driver, which writes
it with the same atomic store as an in-process run. A killed driver therefore resumes with every
finished cell kept. Ray is an optional extra (``pip install ratecheck[ray]``); nothing else
imports it.

A refined cell needs its source cell's gradient norms, which only the store has: such cells are
submitted once their sources are stored, with the norms read on the driver.

Both executors yield ``(cell, arrays, meta, wall_seconds)`` as cells finish.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch

from ratecheck.errors import RatecheckError

from .spec import Cell

EXECUTORS = ("local", "ray")


def in_process(todo: list[Cell], device, dtype, bar, store) -> Iterator[tuple[Cell, dict, dict, float]]:
    """Compute the cells one after the other in this process (sources before refined cells,
    as the spec lists them)."""
    from .sweep import compute_cell

    for cell in todo:
        t0 = time.perf_counter()
        arrays, meta = compute_cell(cell, device, dtype, bar, store)
        yield cell, arrays, meta, time.perf_counter() - t0


def _remote_cell(cell: Cell, device: str, dtype: torch.dtype, norms, threads: int):
    """The body of one Ray task: a whole cell, without the store (the driver writes it)."""
    from ratecheck.device import resolve_device

    from .sweep import compute_cell

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    arrays, meta = compute_cell(cell, resolve_device(device), dtype, norms=norms)
    return arrays, meta, time.perf_counter() - t0


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """``ray.init`` once: ``address`` None starts a local cluster, "auto" joins the running one."""
    try:
        import ray
    except ModuleNotFoundError:
        raise RatecheckError("--executor ray needs Ray; allowed: install it with `pip install 'ratecheck[ray]'`") from None
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False, "include_dashboard": False, "logging_level": "ERROR"}
    if address is not None:
        kwargs["address"] = address
    elif num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(**kwargs)
    except ConnectionError as e:
        raise RatecheckError(f"--address {address!r}: no Ray cluster answers there ({e}); allowed: auto, HOST:PORT, or none for a local cluster") from None


def map_on_ray(fn, args: list[tuple], *, address: str | None = None, cpus_per_task: float = 1, max_retries: int = 3) -> list:
    """``[fn(*a) for a in args]`` with each call a Ray task (results in the order of ``args``): for
    independent searches such as the atlas's rows. A call that fails after Ray's retries raises."""
    import ray

    connect(address)
    task = ray.remote(num_cpus=cpus_per_task, max_retries=max_retries)(_threaded(fn, max(1, int(cpus_per_task))))
    return ray.get([task.remote(*a) for a in args])


def _threaded(fn, threads: int):
    def call(*a):
        torch.set_num_threads(threads)
        return fn(*a)

    call.__name__ = getattr(fn, "__name__", "call")
    return call


def on_ray(
    todo: list[Cell], device: str, dtype, bar, store, *, address: str | None = None,
    cpus_per_cell: float = 1, gpus_per_cell: float = 0, max_retries: int = 3, log=print,
) -> Iterator[tuple[Cell, dict, dict, float]]:
    """Compute the cells as Ray tasks, yielding each as it finishes (any order).

    A task whose worker dies is retried up to ``max_retries`` times by Ray; a cell that still
    fails is reported through ``log`` and skipped, so the others are kept; the sweep then ends
    with an error naming the failed cells.
    """
    import ray

    from .sweep import cell_runs, refine_norms

    connect(address)
    task = ray.remote(num_cpus=cpus_per_cell, num_gpus=gpus_per_cell, max_retries=max_retries, retry_exceptions=False)(_remote_cell)
    threads = max(1, int(cpus_per_cell))
    todo_hashes = {c.hash for c in todo}
    waiting = list(todo)  # refined cells wait until their source is stored
    running: dict[Any, Cell] = {}
    failed: list[str] = []

    def submit_ready() -> None:
        for cell in list(waiting):
            src = cell.refine_source()
            if src is not None and src.hash in todo_hashes:
                continue
            norms = None
            if src is not None:
                norms = refine_norms(cell, store, cell_runs(cell)[1])
            running[task.remote(cell, device, dtype, norms, threads)] = cell
            waiting.remove(cell)

    submit_ready()
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        cell = running.pop(done[0])
        try:
            arrays, meta, wall = ray.get(done[0])
        except Exception as e:  # a task that failed after Ray's retries: keep the others
            failed.append(cell.id)
            log(f"cell {cell.id} failed on Ray: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            continue
        if bar is not None:
            bar.advance(f"{cell.problem.label} / {cell.optimizer.label}", cell.n_runs, cell.n_runs * cell.spec.T)
        yield cell, arrays, meta, wall
        todo_hashes.discard(cell.hash)
        submit_ready()
    if waiting:
        failed += [c.id for c in waiting]
    if failed:
        raise RatecheckError(f"{len(failed)} cell(s) failed on Ray and were not stored: {', '.join(failed)}; run again to retry them")
