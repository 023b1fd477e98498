"""Sweeps on a real local Ray cluster: the same numbers as in-process, bit for bit in float64, and
no finished cell lost when a worker dies mid-sweep."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from ratecheck.cli import shipped_specs  # noqa: E402
from ratecheck.experiments.spec import load  # noqa: E402
from ratecheck.experiments.store import open_results  # noqa: E402
from ratecheck.experiments.sweep import run_spec  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _demo(T: int, seeds: int):
    spec = load(shipped_specs()["demo"]).quick(T=T, seeds=seeds)  # the demo's cells, refined schedule included
    spec.dtype = "float64"
    return spec


def _arrays(path) -> dict[str, dict[str, np.ndarray]]:
    return {c.meta["cell_id"]: c.arrays for c in open_results(path).cells()}


def _assert_same(a, b) -> None:
    assert a.keys() == b.keys()
    for cell in a:
        assert a[cell].keys() == b[cell].keys(), cell
        for k in a[cell]:
            np.testing.assert_array_equal(a[cell][k], b[cell][k], err_msg=f"{cell} {k}")


SPEC = _demo(T=40, seeds=2)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    return run_spec(SPEC, tmp_path_factory.mktemp("local"), progress=False, log=lambda m: None)


def test_ray_equals_in_process(cluster, local, tmp_path):
    remote = run_spec(SPEC, tmp_path, progress=False, log=lambda m: None, executor="ray")
    assert len(remote.computed) == len(SPEC.cells())
    _assert_same(_arrays(local.path), _arrays(remote.path))
    assert remote.rows == local.rows


def _kill_one_worker(stop: threading.Event, killed: list[int]) -> None:
    """Kill the first process that runs a cell task (Ray titles it ray::_remote_cell)."""
    while not stop.is_set() and not killed:
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(p.info["cmdline"] or ())
            if cmd.startswith("ray::_remote_cell"):
                p.kill()
                killed.append(p.info["pid"])
                return
        time.sleep(0.02)


def test_worker_killed_mid_sweep_loses_nothing(cluster, local, tmp_path):
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_worker, args=(stop, killed), daemon=True)
    killer.start()
    remote = run_spec(SPEC, tmp_path, progress=False, log=lambda m: None, executor="ray")
    stop.set()
    killer.join()
    assert killed, "no worker was running a cell to kill"
    assert len(remote.computed) == len(SPEC.cells())
    _assert_same(_arrays(local.path), _arrays(remote.path))


def test_atlas_rows_on_ray_equal_in_process(cluster):
    from ratecheck.falsify import atlas
    from ratecheck.falsify.search import Budget

    keys = ["mda.momentum_bound", "mda.observed_bound"]
    args = dict(budget=Budget(evals=2), seed=0, B=4, keys=keys)  # an evaluation budget is deterministic
    local = atlas.rows_for("mda", **args)
    assert [r["result"] for r in local] == keys
    remote = atlas.rows_for("mda", **args, executor="ray")
    np.testing.assert_equal(remote, local)
