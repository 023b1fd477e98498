"""The CUDA paths (``make gpu-check``): skipped without a GPU.

- every registered optimizer's step on CUDA equals its CPU step within round-off in float64
  (relative 1e-10 after 20 steps: CUDA kernels may sum in another order and fuse
  multiply-adds), and a NaN gradient in one run freezes that run only;
- the compiled step on CUDA (the whole step, its divergence freeze included, as one graph:
  ``compiled.freezes_eagerly``) equals the CPU's eager step within the same tolerance and
  freezes a NaN run, and the compiled runner iteration records the CPU's trace;
- the runner on CUDA records the same trace as on the CPU within the same tolerance, and the
  memory estimate reads the device's free memory;
- the GPU benchmark's table gives target 4 its verdicts.
"""

from __future__ import annotations

import math

import pytest
import torch

from ratecheck.experiments import memory
from ratecheck.experiments.runner import run
from ratecheck.optimizers import get, names
from ratecheck.optimizers.compiled import compiled_step
from ratecheck.rng import sample_indices
from tests._lib.core import least_squares

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

PROBLEM = least_squares(n=24, d=6, seed=3)
B, STEPS, RTOL = 4, 20, 1e-10


def _steps(name, device, nan_run=None, compile=False):
    opt = get(name)
    step = compiled_step(opt) if compile else opt.step
    hp = dict(opt.example_hp)
    for k in opt.problem_kwargs:
        hp.setdefault(k, getattr(PROBLEM, k))
    if getattr(opt, "schedule", None) is not None:
        hp.setdefault("T", STEPS)
    x0 = PROBLEM.x0(B, scale=0.5, seed=11, dtype=torch.float64).to(device)
    state = opt.init(x0, **hp)
    seeds = torch.arange(B, device=device)
    xs = []
    for t in range(STEPS):
        idx = sample_indices(seeds, t, 1 if opt.needs_indices else 3, PROBLEM.n)
        x = state["x"]
        g = PROBLEM.component_grad(x, idx)
        if nan_run is not None and t == 3:
            g = g.clone()
            g[nan_run, 0] = math.nan
        state, _ = step(state, g, PROBLEM.component_value(x, idx), idx)
        xs.append(state["x"].cpu())
    return torch.stack(xs), state["diverged"].cpu()


@pytest.mark.parametrize("name", names())
def test_cuda_step_matches_cpu_and_isolates_nan(name):
    cpu, _ = _steps(name, "cpu")
    gpu, _ = _steps(name, "cuda")
    assert torch.allclose(gpu, cpu, rtol=RTOL, atol=RTOL * cpu.abs().max().item()), name
    xs, div = _steps(name, "cuda", nan_run=1)
    assert div.tolist() == [False, True, False, False]
    keep = [0, 2, 3]
    assert torch.equal(xs[:, keep], gpu[:, keep]), f"{name}: a NaN in run 1 changed another run"


# Compiling takes tens of seconds per method, and ``make gpu-check`` has 5 minutes: one method of
# each structure (plain, Adam-like with bias corrections, the cube root, a nested base state).
COMPILED = ["sgd", "adam", "madgrad", "mechanic"]


@pytest.mark.parametrize("name", COMPILED)
def test_compiled_cuda_step_matches_cpu_and_isolates_nan(name):
    cpu, _ = _steps(name, "cpu")
    gpu, _ = _steps(name, "cuda", compile=True)
    assert torch.allclose(gpu, cpu, rtol=RTOL, atol=RTOL * cpu.abs().max().item()), name
    xs, div = _steps(name, "cuda", nan_run=1, compile=True)
    assert div.tolist() == [False, True, False, False], f"{name}: the compiled CUDA step did not freeze run 1 alone"
    assert torch.isfinite(xs).all(), f"{name}: a NaN reached the compiled CUDA iterates"
    keep = [0, 2, 3]
    assert torch.equal(xs[:, keep], gpu[:, keep]), f"{name}: a NaN in run 1 changed another run under compile"


def test_compiled_cuda_runner_matches_cpu():
    x0 = PROBLEM.x0(B, dtype=torch.float64)
    a = run(PROBLEM, get("sgd"), x0, 30, hp={"lr": 0.01}, batch_size=3)
    b = run(PROBLEM, get("sgd"), x0.cuda(), 30, hp={"lr": 0.01}, batch_size=3, compile=True)
    for k in a.data:
        assert torch.allclose(a.data[k], b.data[k], rtol=RTOL, atol=1e-12, equal_nan=True), k


def test_cuda_runner_matches_cpu_and_reads_device_memory():
    x0 = PROBLEM.x0(B, dtype=torch.float64)
    a = run(PROBLEM, get("sgd"), x0, 30, hp={"lr": 0.01}, batch_size=3)
    b = run(PROBLEM, get("sgd"), x0.cuda(), 30, hp={"lr": 0.01}, batch_size=3)
    for k in a.data:
        assert torch.allclose(a.data[k], b.data[k], rtol=RTOL, atol=1e-12, equal_nan=True), k
    assert 0 < memory.available_bytes(torch.device("cuda")) <= torch.cuda.get_device_properties(0).total_memory


def test_gpu_scale_table_gives_target_4_its_verdicts_on_cuda(monkeypatch, capsys):
    """The GPU benchmark's table at a small scale on CUDA: both of target 4's verdict columns (on
    the CPU they are left empty, tests/experiments/test_bench.py)."""
    from ratecheck.cli import main
    from ratecheck.experiments import bench

    monkeypatch.setattr(bench, "GPU_SCALE", 64)
    assert main(["bench", "--gpu-scale", "--device", "cuda", "--n", "5", "--d", "8", "--batch", "4", "--steps", "2",
                 "--repeats", "1", "--methods", "sgd"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sgd")).split()
    assert row[5] in ("ok", "MISSED") and row[8] in ("ok", "MISSED"), row  # one repeat: no "noise"
