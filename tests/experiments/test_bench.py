"""`ratecheck bench` smoke test: the columns the issue's targets are read from, and bad input."""

import pytest
import torch

from ratecheck.cli import main


def test_bench_reports_ceiling_and_step_ratios(capsys):
    args = ["bench", "--n", "20", "--d", "8", "--batch", "4", "--steps", "3", "--repeats", "1", "--loop-runs", "1", "--methods", "sgd"]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    header = next(line for line in out if line.startswith("method"))
    assert "full/ceiling" in header and "step/pass" in header and "speed-up" in header
    row = next(line for line in out if line.startswith("sgd")).split()
    assert float(row[3]) > 0  # full / ceiling


def test_bench_bad_count_is_one_line_exit_2(capsys):
    assert main(["bench", "--repeats", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--repeats=0" in err[0] and "allowed" in err[0]


def test_bench_unknown_method_is_one_line_exit_2_not_an_empty_table(capsys):
    assert main(["bench", "--methods", "sgd", "sgdd"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "'sgdd'" in err[0] and "sgd_momentum" in err[0] and not captured.out


@pytest.mark.parametrize("args, bad", [
    (["--runner", "--dtype", "float16"], "dtype='float16'"),
    (["--runner", "--device", "xpu"], "device='xpu'"),
    (["--ray", "--workers", "1", "0"], "--workers=0"),  # 0 Ray CPUs would wait forever, after minutes of baseline
    (["--ray", "--tasks", "0"], "--tasks=0"),
])
def test_bench_bad_option_is_one_line_before_any_output(capsys, args, bad):
    assert main(["bench", *args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and bad in err[0] and "allowed" in err[0] and not captured.out


def test_runner_overhead_bench_runs_and_rejects_bad_numbers(capsys):
    threads = torch.get_num_threads()
    try:
        assert main(["bench", "--runner", "-B", "2", "-T", "4", "--checkpoints", "3", "--repeats", "1", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "thread_time" in out and "l1_distance" in out and "target 3: record / bare <= 1.2: " in out
    assert main(["bench", "--runner", "--threads", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--threads=0 is out of range; allowed: integers >= 1" in err


def test_bench_compile_runs_oracle_and_step_as_one_compiled_function(monkeypatch, capsys):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda fn, **options: (compiled.append(fn.__name__), fn)[1])
    args = ["bench", "--n", "20", "--d", "8", "--batch", "4", "--steps", "3", "--repeats", "1", "--loop-runs", "1",
            "--methods", "sgd", "--compile"]
    assert main(args) == 0
    # full run: oracle + step, two steps a call and the last of an odd T alone; the ceiling
    # compiled alike (two_steps); step/pass: the step (on the CPU its advance, the freeze eager)
    assert {"two_iterations", "iteration", "two_steps", "advance"} <= set(compiled)
    assert "compiled (full: oracle + step" in capsys.readouterr().out


def test_compiled_ceiling_keeps_the_oracles_value(monkeypatch):
    # unused, the value would be dead code to inductor: the ceiling would skip work the full run does
    from ratecheck.experiments import bench

    monkeypatch.setattr(torch, "compile", lambda fn, **options: fn)
    monkeypatch.setattr(bench, "_CEILINGS", {})
    oracle = bench.LAD(20, 8, torch.float64, torch.device("cpu"))
    x = torch.randn(4, 8, dtype=torch.float64)
    bench._ceiling(oracle, True, 4, 0.1)
    (x1, loss1), (x2, loss2) = bench._CEILINGS[id(oracle)][1](x)
    assert torch.equal(loss1, oracle(x)[0]) and torch.equal(loss2, oracle(x1)[0])
    assert torch.equal(x2, x1 - 0.1 * oracle(x1)[1])


def test_full_run_and_ceiling_alternate_in_blocks(monkeypatch):
    """Both loops run T steps, alternating every BLOCK steps (a short last block included): the
    clock here counts oracle calls, so each interval between its reads is one block of one loop."""
    from ratecheck.experiments import bench

    calls = [0]
    lad = bench.LAD(5, 8, torch.float32, torch.device("cpu"))

    def oracle(x):
        calls[0] += 1
        return lad(x)

    reads = []
    monkeypatch.setattr(bench, "clock", lambda device: lambda: reads.append(calls[0]) or calls[0])
    case = next(c for c in bench._cases() if c.name == "sgd")
    t_full, t_ceiling = bench.bench_full_and_ceiling(case, oracle, torch.randn(4, 8, dtype=torch.float32), T=2 * bench.BLOCK + 3)
    assert (t_full, t_ceiling) == (2 * bench.BLOCK + 3, 2 * bench.BLOCK + 3)
    blocks = [b - a for a, b in zip(reads, reads[1:])]  # ceiling, full, then the next block's first read
    assert blocks == [bench.BLOCK, bench.BLOCK, 0, bench.BLOCK, bench.BLOCK, 0, 3, 3], blocks


def test_step_vs_pass_times_live_runs_only():
    """The step / pass loop (one oracle call, then g and -g alternately) keeps every run of every
    benchmarked method unfrozen: with one gradient repeated, D-Adapt Adam and Prodigy froze all
    runs within 123 steps, and the step timed was the freeze."""
    from ratecheck.experiments import bench as bm

    oracle = bm.LAD(200, 64, torch.float32, torch.device("cpu"))
    x0 = torch.randn(16, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float32)
    loss, g = oracle(x0)
    for case in bm._cases():
        opt = bm._optimizer(case)
        state = bm.step_loop(opt.step, opt.init(x0, **case.hp), (g, -g), loss, 123)
        assert not state["diverged"].any(), case.name
        assert torch.isfinite(state["x"]).all(), case.name


def test_bench_gpu_scale_table_runs_on_the_cpu_at_a_small_scale(monkeypatch, capsys):
    """``make gpu-check``'s table (B*d >= 1e8 there), here at B*d >= 64: its columns and ratios,
    and on the CPU no verdict for target 4 (a GPU target), but a line that says why."""
    from ratecheck.experiments import bench

    monkeypatch.setattr(bench, "GPU_SCALE", 64)
    assert main(["bench", "--gpu-scale", "--device", "cpu", "--n", "5", "--d", "8", "--batch", "4", "--steps", "2", "--repeats", "1",
                 "--methods", "sgd", "adam"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any("B=8, d=8" in line for line in out)
    assert "# target 4: n/a: a GPU target; device=cpu" in out
    header = next(line for line in out if line.startswith("method"))
    assert "step/copy" in header and "full/ceiling" in header
    for name in ("sgd", "adam"):
        row = next(line for line in out if line.startswith(name)).split()
        assert len(row) == 7, row  # name, rate, step ms, copy ms, step/copy, full/ceiling and its range: no verdict
        assert float(row[2]) > 0 and float(row[3]) > 0 and float(row[5]) > 0  # step ms, copy ms, full/ceiling


def test_step_is_timed_after_the_heap_stops_faulting_pages_in(monkeypatch, capsys):
    """Warm-up blocks go on while a block faults pages in, stop at the first block that faults
    none, and never exceed WARM_BLOCKS; the timed block's faults per step are reported."""
    from ratecheck.experiments import bench

    counter = iter([0, 500, 500, 500, 500, 520])  # block 1 faults, block 2 none; timed: 20 over 20 steps
    calls = []
    monkeypatch.setattr(bench, "minor_faults", lambda: next(counter))
    real_loop = bench.step_loop
    monkeypatch.setattr(bench, "step_loop", lambda step, state, grads, loss, reps: (calls.append(reps), real_loop(step, state, grads, loss, reps))[1])
    oracle = bench.LAD(5, 8, torch.float32, torch.device("cpu"))
    case = next(c for c in bench._cases() if c.name == "sgd")
    t_step, t_pass, nbytes, faults = bench.bench_step_vs_pass(case, oracle, torch.randn(4, 8, dtype=torch.float32), reps=20)
    assert calls == [3, 20, 20, 20] and faults == 1.0 and t_step > 0 and t_pass > 0 and nbytes == 4 * 8 * 4

    monkeypatch.setattr(bench, "minor_faults", lambda: len(calls) * 1000)  # always faulting: capped
    calls.clear()
    bench.bench_step_vs_pass(case, oracle, torch.randn(4, 8, dtype=torch.float32), reps=5)
    assert calls == [3] + [5] * bench.WARM_BLOCKS + [5]

    assert main(["bench", "--step-only", "--n", "5", "--d", "8", "--batch", "4", "--repeats", "1", "--methods", "sgd"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "faults/step" in next(line for line in out if line.startswith("method"))
    assert "floor/pass" in next(line for line in out if line.startswith("method"))
    # target 2 is set at B*d >= 1e6: this 4 x 8 batch gets no verdict, and the table says why
    assert "target 2" in next(line for line in out if line.startswith("method"))
    assert out[-1] == "# target 2: n/a: B*d=3e+01 < 1e+06"


def test_the_pass_and_the_floor_count_each_state_tensor_once_and_the_floor_only_those_a_step_replaces():
    """Mechanic's new x is also its base method's (one tensor, counted once) and its reference
    point is carried over (in the pass's state bytes, not in the floor's writes); D-Adaptation's
    x0 likewise. The floor is read beside each row of the step-only table."""
    from ratecheck.experiments import bench

    oracle = bench.LAD(5, 8, torch.float32, torch.device("cpu"))
    x0 = torch.randn(4, 8, dtype=torch.float32)
    cases = {c.name: c for c in bench._cases()}
    state, new = bench._stepped(cases["mechanic"], oracle, x0)
    assert new["base"]["x"] is new["x"]
    assert sum(t is new["x"] for t in bench._state_tensors(new, 4)) == 1
    assert {id(t) for t in bench._replaced(state, new, x0.shape)} == {id(state["x"]), id(state["delta"])}
    state, new = bench._stepped(cases["dadapt_sgd_code"], oracle, x0)
    assert {id(t) for t in bench._replaced(state, new, x0.shape)} == {id(state["x"]), id(state["s"])}
    assert bench.bench_floor(cases["sgd"], oracle, x0, reps=3) > 0


@pytest.mark.parametrize("bound, verdict", [(1e9, "ok"), (1e-9, "MISSED")])
def test_step_pass_verdict_at_the_target_size(monkeypatch, capsys, bound, verdict):
    """At B*d >= 1e6 (lowered here) each method's row carries target 2's verdict, read from its
    ratios against the target's bound (set here to one every ratio meets, then to one none does)."""
    from ratecheck.experiments import targets

    monkeypatch.setattr(targets, "STEP_MIN_SIZE", 32)
    monkeypatch.setattr(targets, "STEP", targets.Target("step / pass", bound, at_most=True))
    assert main(["bench", "--step-only", "--n", "5", "--d", "8", "--batch", "4", "--repeats", "2", "--methods", "sgd"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sgd")).split()
    assert row[-3] == verdict, row  # then floor/pass and faults/step


def test_runner_overhead_times_bare_record_record_bare_then_full(monkeypatch):
    """Each repeat runs bare, record, record, bare ``PAIRS`` times, then full; record / bare is the
    ratio of the sums (a clock that advances by each run's cost, 1 for bare, 2 for record, 5 for
    full, gives exactly 2), so a linear drift of the machine's speed weighs on both alike."""
    from ratecheck.experiments import overhead

    order, clock = [], [0.0]

    def fake_bare(*args):
        order.append("bare")
        clock[0] += 1

    def fake_run(*args, checkpoints, **kw):
        full = len(checkpoints) > 2
        order.append("full" if full else "record")
        clock[0] += 5 if full else 2

    monkeypatch.setattr(overhead, "bare_loop", fake_bare)
    monkeypatch.setattr(overhead, "run", fake_run)
    monkeypatch.setattr(overhead, "clock", lambda dev: lambda: clock[0])
    r = overhead.measure("quadratic", {"d": 4}, "sgd", {}, {"lr": 0.1}, None, B=2, T=10, checkpoints=5, repeats=2,
                         device="cpu")
    assert overhead.PAIRS > 1
    repeat = ["bare", "record", "record", "bare"] * overhead.PAIRS + ["full"]
    assert order == ["bare"] + repeat * 2  # a warm-up bare run first
    assert r["bookkeeping_ratios"] == [2.0, 2.0] and r["overhead"] == 4.0
