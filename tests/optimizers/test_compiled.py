"""The step under autograd and under torch.compile.

- Autograd (the falsify search differentiates through optimizer recurrences): with x0 and a
  hyper-parameter that require grad, every registered optimizer's step runs, backward reaches
  both, and the values equal the no-grad run bit for bit (the step never updates a tensor in
  place that autograd needs). The compiled step falls back to eager there.
- ``torch.compile`` (opt-in): the compiled step equals eager within the documented tolerance,
  relative 1e-12 in float64 after 30 steps (inductor may reorder per-run sums and fuse
  multiply-adds; see ratecheck/optimizers/compiled.py), it compiles at most twice (k = 0,
  then k symbolic): no recompilation per step, and a run with a NaN gradient is frozen and
  flagged as in eager. Compiling takes 5-60 s per method on the CPU,
  so the full matrix is heavy; the default suite checks the runner's plumbing with a stand-in
  compiler.
"""

from __future__ import annotations

import contextlib
import re

import pytest
import torch

from ratecheck.experiments.runner import run
from ratecheck.optimizers import get, names
from ratecheck.optimizers import compiled as compiled_mod
from ratecheck.optimizers.row_fusion import RowFusion
from ratecheck.rng import sample_indices
from tests._lib.core import least_squares

PROBLEM = least_squares(n=24, d=6, seed=3)
B = 3


def _hp(opt, requires_grad: bool = False) -> dict:
    hp = dict(opt.example_hp)
    for name in opt.problem_kwargs:
        hp.setdefault(name, getattr(PROBLEM, name))
    if getattr(opt, "schedule", None) is not None:
        hp.setdefault("T", 40)
    if requires_grad:
        # The first positive hyper-parameter given (lr, d0, ...) as a leaf that requires grad.
        for k, v in hp.items():
            if k in opt.hyperparams and isinstance(v, float) and v > 0:
                hp[k] = torch.full((B,), v, dtype=torch.float64, requires_grad=True)
                return hp
    return hp


def _steps(opt, x0, hp, steps, step=None, nan_at=None):
    """The iterates of ``steps`` minibatch steps and the last info; ``nan_at``: the step whose
    gradient has a NaN entry in run 1 (NaN isolation)."""
    step = step or opt.step
    state = opt.init(x0, **hp)
    seeds = torch.arange(B)
    xs = []
    for t in range(steps):
        idx = sample_indices(seeds, t, 1 if opt.needs_indices else 3, PROBLEM.n)
        x = state["x"]
        g = PROBLEM.component_grad(x, idx)
        if t == nan_at:
            g = g.clone()
            g[1, 0] = float("nan")
        state, info = step(state, g, PROBLEM.component_value(x, idx), idx)
        xs.append(state["x"])
    return torch.stack(xs), info


@pytest.mark.parametrize("name", names())
def test_autograd_through_steps_matches_the_no_grad_run(name):
    opt = get(name)
    x0 = PROBLEM.x0(B, scale=0.5, seed=11, dtype=torch.float64)
    with torch.no_grad():
        plain, _ = _steps(opt, x0, _hp(opt), 5)
    leaf = x0.clone().requires_grad_()
    hp = _hp(opt, requires_grad=True)
    xs, _ = _steps(opt, leaf, hp, 5, step=compiled_mod.compiled_step(opt) if name == "sgd" else None)
    assert torch.equal(xs.detach(), plain), f"{name}: values under autograd differ from the no-grad run"
    PROBLEM.value(xs[-1]).sum().backward()
    assert leaf.grad is not None, f"{name}: no gradient reached x0"
    leaves = [v for v in hp.values() if isinstance(v, torch.Tensor) and v.requires_grad]
    assert all(v.grad is not None for v in leaves), f"{name}: no gradient reached the hyper-parameter"


def test_compiled_step_falls_back_to_eager_under_autograd(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn, **options: (lambda *a, **kw: (calls.append(1), fn(*a, **kw))[1]))
    opt = get("sgd")
    step = compiled_mod.compiled_step(opt)
    x0 = PROBLEM.x0(B, dtype=torch.float64)
    _steps(opt, x0.clone().requires_grad_(), {"lr": 0.1}, 2, step=step)
    assert calls == []
    _steps(opt, x0, {"lr": 0.1}, 2, step=step)
    assert len(calls) == 2


@pytest.mark.parametrize("T, batch_size, expected", [
    (10, None, ["two_iterations"] * 5),  # deterministic: two steps a call
    (11, None, ["two_iterations"] * 5 + ["iteration"]),  # the last step of an odd T alone
    (4, 2, ["iteration"] * 4),  # minibatches: one step a call (the runner draws each step's indices)
])
def test_runner_compile_option_runs_the_compiled_step(monkeypatch, T, batch_size, expected):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn, **options: (lambda *a, **kw: (calls.append(fn.__name__), fn(*a, **kw))[1]))
    x0 = PROBLEM.x0(B, dtype=torch.float64)
    kw = dict(hp={"lr": 0.01}, batch_size=batch_size)
    eager = run(PROBLEM, get("sgd"), x0, T, **kw)
    comp = run(PROBLEM, get("sgd"), x0, T, compile=True, **kw)
    assert calls == expected
    for k in eager.data:  # the stand-in compiler runs the eager step: the same bits (NaN rows included)
        torch.testing.assert_close(comp.data[k], eager.data[k], rtol=0, atol=0, equal_nan=True, msg=k)


def test_two_steps_serve_the_kept_step_only_from_its_own_state():
    """``TwoSteps`` returns the second step's outputs for the state the first step produced, and
    computes afresh for any other state (a new run, a state the caller changed)."""
    calls = []

    def two(state, tag):
        calls.append((state, tag))
        first = ({"x": state["x"] + 1}, tag)
        return first, ({"x": state["x"] + 2}, tag)

    steps = compiled_mod.TwoSteps(two)
    s0 = {"x": 0}
    s1, _ = steps(s0, "a")
    assert steps.kept(dict(s1)) is None  # an equal state, not the same object: nothing kept
    s1, _ = steps(s0, "a")
    s2, _ = steps(s1, "b")  # kept: not computed
    assert (s1["x"], s2["x"]) == (1, 2) and len(calls) == 2
    s3, _ = steps(s2, "c")
    assert s3["x"] == 3 and len(calls) == 3
    s4, _ = steps(s3, "d", two=False)  # kept, though two steps no longer fit: computed already
    assert s4["x"] == 4 and len(calls) == 3
    assert steps(s4, "e", two=False) is None and len(calls) == 3  # one step left: the caller's
    steps(s4, "e")
    assert steps.kept(s1) is None and steps.kept(s4) is None  # a stale state drops what was kept


def test_every_compile_of_a_step_takes_the_methods_inductor_options(monkeypatch):
    """MADGRAD's options (``Optimizer.compile_options``) reach the compiled step and the runner's
    compiled iteration, over the options every method takes (``COMMON_OPTIONS``); a method without
    options of its own compiles with those alone. Every compile takes the row fusion heuristic
    (``row_fusion.RowFusion``)."""
    seen = []
    monkeypatch.setattr(torch, "compile", lambda fn, **options: (seen.append(options.get("options")), fn)[1])
    x0 = PROBLEM.x0(B, dtype=torch.float64)
    for name in ("madgrad", "sgd"):
        opt = get(name)
        _steps(opt, x0, _hp(opt), 1, step=compiled_mod.compiled_step(opt))
        run(PROBLEM, opt, x0, 2, hp=_hp(opt), compile=True)
    assert compiled_mod.COMMON_OPTIONS == {"size_asserts": False}
    common = {"size_asserts": False, "inductor_choices_class": RowFusion}
    madgrad = {**common, "realize_cpu_opcount_threshold": 20}
    assert seen == [madgrad] * 3 + [common] * 3  # the step, the runner's two iterations and its one


def test_an_inductor_option_this_torch_does_not_know_is_left_out_with_a_warning(monkeypatch):
    """torch.compile refuses an unknown option outright; an older torch (a GPU machine's own
    build) may lack one of the options tuned here."""
    seen = []
    monkeypatch.setattr(torch, "compile", lambda fn, **options: (seen.append(options.get("options")), fn)[1])
    opt = get("madgrad")
    monkeypatch.setattr(opt, "compile_options", {"realize_cpu_opcount_threshold": 20, "no_such_inductor_option": 1})
    with pytest.warns(RuntimeWarning, match="no_such_inductor_option"):
        compiled_mod.compile_for(opt, lambda x: x)
    monkeypatch.setattr(opt, "compile_options", {"no_such_inductor_option": 1})
    with pytest.warns(RuntimeWarning):
        compiled_mod.compile_for(opt, lambda x: x)
    common = {"size_asserts": False, "inductor_choices_class": RowFusion}
    assert seen == [{**common, "realize_cpu_opcount_threshold": 20}, common]


# Relative tolerance of the compiled step in float64 (documented in optimizers/compiled.py).
COMPILE_RTOL = 1e-12


def _check_compiled_step(name):
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    opt = get(name)
    x0 = PROBLEM.x0(B, scale=0.5, seed=11, dtype=torch.float64)
    hp = _hp(opt)
    # Step 31 has a NaN gradient entry in run 1: that run must be frozen and flagged under
    # compile as in eager (inductor once folded the ``v * 0`` divergence probe to 0).
    xe, ie = _steps(opt, x0, hp, 31, nan_at=30)
    xc, ic = _steps(opt, x0, hp, 31, step=compiled_mod.compiled_step(opt), nan_at=30)
    assert ie["diverged"].tolist() == [False, True, False], f"{name}: eager did not freeze the NaN run"
    assert ic["diverged"].tolist() == [False, True, False], f"{name}: the compiled step did not freeze the NaN run"
    assert torch.isfinite(xc).all(), f"{name}: a NaN reached the compiled iterates"
    scale = xe.abs().amax().clamp_min(1e-300)
    assert ((xc - xe).abs().amax() / scale) <= COMPILE_RTOL, f"{name}: compiled iterates differ beyond {COMPILE_RTOL}"
    for k in ie:
        a, b = ie[k].to(torch.float64), ic[k].to(torch.float64)
        assert torch.allclose(a, b, rtol=COMPILE_RTOL, atol=0.0, equal_nan=True), f"{name}: info[{k!r}]"
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert graphs <= 3, f"{name}: {graphs} graphs compiled for 30 steps (a recompilation per step?)"
    return set(opt._compiled_steps)  # the functions compiled: "advance" (CPU) or the whole "step"


@pytest.mark.heavy
@pytest.mark.parametrize("name", names())
def test_compiled_equals_eager_within_tolerance_without_recompiling(name):
    assert _check_compiled_step(name) == {"advance"}


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["mechanic", "mechanic_optax"])
def test_compiled_mechanic_equals_eager_when_only_its_base_step_is_frozen(name):
    """Compiled, Mechanic takes h's sums for the base's new x and for x in one pass and lets each
    run pick (``Mechanic._h_in_one_pass``). Run 1 is the case that picks x: from step 3 its base
    SGD step overflows (its lr set to 1e300, a gradient entry 1e10) while its gradient, loss and
    Mechanic's own new x stay finite, so the base freezes the run, and keeps it frozen, and
    Mechanic goes on with h over x. A wrong pick gives a NaN h (Delta times the overflowed
    point) or a decay term over ||inf||."""
    import torch._dynamo

    torch._dynamo.reset()
    opt = get(name)
    x0 = PROBLEM.x0(B, scale=0.5, seed=11, dtype=torch.float64)
    runs = {}
    for label, step in (("eager", opt.step), ("compiled", compiled_mod.compiled_step(opt))):
        state, xs = opt.init(x0, base_lr=0.1, s_decay=0.5), []
        for t in range(8):
            g = PROBLEM.grad(state["x"])
            if t >= 3:
                g[1, 0] = 1e10
            if t == 3:
                base = state["base"]
                state = {**state, "base": {**base, "hp": {**base["hp"], "lr": torch.tensor([0.1, 1e300, 0.1], dtype=torch.float64)}}}
            state, info = step(state, g, PROBLEM.value(state["x"]))
            xs.append(state["x"])
        runs[label] = (torch.stack(xs), state, info)
    (xe, se, ie), (xc, sc, ic) = runs["eager"], runs["compiled"]
    for s_, i_ in ((se, ie), (sc, ic)):
        assert s_["base"]["diverged"].tolist() == [False, True, False] and i_["diverged"].tolist() == [False] * 3
    assert torch.isfinite(xe).all() and (xe[-1, 1] != xe[3, 1]).any(), "run 1 should move on, Mechanic's h alone"
    assert ((xc - xe).abs().amax() / xe.abs().amax()) <= COMPILE_RTOL
    for k in ("h", "s_sum"):
        assert torch.allclose(ic[k], ie[k], rtol=COMPILE_RTOL, atol=0.0), k


def _whole_step_compiled(monkeypatch):
    """The GPU structure on the CPU: ``compiled_step`` compiles the whole ``step``, the
    divergence freeze included, as it does on every device but the CPU (``freezes_eagerly``)."""
    monkeypatch.setattr(compiled_mod, "freezes_eagerly", lambda device: False)


@pytest.mark.heavy
@pytest.mark.parametrize("name", names())
def test_whole_compiled_step_as_on_a_gpu_equals_eager(name, monkeypatch):
    _whole_step_compiled(monkeypatch)
    assert _check_compiled_step(name) == {"step"}


def test_whole_compiled_step_as_on_a_gpu_freezes_the_nan_run(monkeypatch):
    """The default suite's one real compile of the GPU structure (~10 s): SGD."""
    _whole_step_compiled(monkeypatch)
    assert _check_compiled_step("sgd") == {"step"}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_divergence_probe_is_exact(dtype):
    """The compiled probe (isfinite of each run's sum scaled by 2^-(k+1)) flags exactly the runs
    with a NaN or +-inf entry: runs of the largest finite values, whose plain sum overflows, are
    not flagged, and inf and -inf in one run (sum NaN) are."""
    from ratecheck.optimizers.base import nonfinite_runs

    big, inf, nan = torch.finfo(dtype).max, float("inf"), float("nan")
    v = torch.ones(6, 37, dtype=dtype)
    v[1] = big
    v[2, 5] = nan
    v[3, 0], v[3, 1] = inf, -inf
    v[4, 36] = -inf
    v[5, ::2] = -big
    loss = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, nan], dtype=dtype)
    probe = torch.compile(nonfinite_runs)(v, None, loss)
    assert probe.tolist() == [False, False, True, True, True, True]
    assert probe.tolist() == nonfinite_runs(v, None, loss).tolist()  # eager, the exact v * 0 probe


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool])
def test_compiled_per_run_column_is_the_value(dtype):
    """Under compile ``per_run`` materialises a floating column (a maximum over 16 copies): the
    same values bit for bit (a NaN a NaN), +-inf and -0.0 included; a boolean mask passes as is."""
    from ratecheck.optimizers.base import per_run

    if dtype == torch.bool:
        v = torch.tensor([True, False, True])
    else:
        v = torch.tensor([1.5, -0.0, float("nan"), float("inf"), -float("inf"), torch.finfo(dtype).tiny / 4], dtype=dtype)
    col = torch.compile(per_run)(v)
    assert col.shape == (v.shape[0], 1) and col.dtype == v.dtype
    torch.testing.assert_close(col[:, 0], v, rtol=0, atol=0, equal_nan=True)
    if dtype != torch.bool:
        assert torch.signbit(col[1, 0]), "-0.0 lost its sign"


def test_compiled_step_takes_no_libm_call_per_entry():
    """MoMo-Adam's 1 - beta2^k (per run) enters the loop over entries through ``per_run``, which
    compiled keeps it out of that loop: inductor had evaluated it there, one scalar ``std::pow``
    per vector of entries (the C++ compiler cannot hoist it under ``-fmath-errno``), most of the
    compiled step's time at B*d = 1e7. Read in the C++ inductor generates for k symbolic."""
    import re
    from unittest import mock

    import torch._dynamo
    from torch._inductor.graph import GraphLowering

    torch._dynamo.reset()
    opt, d = get("momo_adam"), 64
    x0 = torch.randn(16, d, generator=torch.Generator().manual_seed(0))
    state, step, codes = opt.init(x0, lr=0.01), compiled_mod.compiled_step(opt), []
    with mock.patch.object(GraphLowering, "save_output_code", codes.append):
        for _ in range(3):  # k = 0, then k symbolic
            state, _ = step(state, torch.ones_like(x0), torch.ones(16))
    code = codes[-1]
    assert "ks0" in code, "the last graph compiled has no symbolic step counter"
    loops = [body.split("for(int64_t x0")[0] for body in code.split(f"x1<static_cast<int64_t>({d}L)")[1:]]
    assert loops, "no loop over the entries found in the generated code"
    calls = [c for body in loops for c in re.findall(r"std::(?:pow|sqrt|exp|log)\(", body)]
    assert not calls, f"scalar libm calls inside the loop over entries: {calls}"


def _row_loops(code: str, d: int) -> int:
    """Top-level loops over the rows (``x0``) of the generated C++ that read or write a [B, d]
    entry (an index ``... + dL*x0``)."""
    loops = code.split("for(int64_t x0=")[1:]
    return sum(f"{d}L*x0" in body for body in loops)


def _generated_code(name: str, options: dict | None, B: int = 16, d: int = 64) -> tuple[str, torch.Tensor]:
    """The C++ inductor generates for the compiled step of ``name`` at [B x d] with ``options``
    (the last graph, k symbolic), and x after three steps (``options`` None: eager, no code)."""
    from unittest import mock

    import torch._dynamo
    from torch._inductor.graph import GraphLowering

    torch._dynamo.reset()
    opt = get(name)
    x0 = torch.randn(B, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    fn = opt.advance if options is None else compiled_mod.compile_with(compiled_mod._own_code(type(opt).advance).__get__(opt), options)
    state, codes = opt.init(x0, **_hp(opt)), []
    with mock.patch.object(GraphLowering, "save_output_code", codes.append):
        for t in range(3):  # k = 0, then k symbolic
            g = torch.randn(B, d, generator=torch.Generator().manual_seed(t + 1), dtype=torch.float64)
            state, _ = opt.hold_diverged(state, *fn(state, g, torch.ones(B, dtype=torch.float64)))
    assert codes or options is None, "no generated code seen"
    return (codes[-1] if codes else ""), state["x"]


def test_row_fusion_keeps_a_steps_passes_over_a_row_in_one_loop_over_the_rows():
    """D-Adapt SGD's step writes s_{k+1}, reduces it (||s_{k+1}||^2), writes x_{k+1} and reduces
    that (the divergence probe). Every one of these is row-local: with ``RowFusion`` they are one
    loop over the rows; with inductor's default heuristics the per-run [B] nodes join that
    loop's group, the C++ backend falls back, and each pass is a loop over the rows of its own
    (optimizers/row_fusion.py). The fused step's iterates equal eager's within the tolerance, and
    the heuristic applies to these compiles only (``compiled.compile_with``): the default compile
    after it, in the same thread, is inductor's own."""
    d = 64
    fresh = {"fx_graph_cache": False}  # the generated code itself, not a cached one
    fused, x_fused = _generated_code("dadapt_sgd_code", {**compiled_mod.inductor_options("test"), **fresh}, d=d)
    default, _ = _generated_code("dadapt_sgd_code", {**compiled_mod.COMMON_OPTIONS, **fresh}, d=d)
    _, x_eager = _generated_code("dadapt_sgd_code", None, d=d)
    assert _row_loops(default, d) >= 3, "inductor's default heuristics now fuse the passes: revisit RowFusion"
    assert _row_loops(fused, d) == 1
    assert ((x_fused - x_eager).abs().amax() / x_eager.abs().amax()) <= COMPILE_RTOL
    from torch._inductor.virtualized import V

    assert not isinstance(V.choices, RowFusion), "RowFusion left in force after the compiled calls"


@pytest.mark.parametrize("d, helpers", [(40000, 0), (40003, 3), (65544, 3)])
def test_plain_sums_leave_out_only_the_cascade_helpers_that_would_not_cascade(d, helpers):
    """Inductor sums more than 4096 float32 entries through a cascade helper, which cascades
    only past two chunks of 4096 vector additions (optimizers/plain_sums.py). Under
    ``compile_with`` the helpers of rows of whole vectors up to 65536 entries are left out (a
    row of 40000: 5000 vectors), those of other rows kept (40003: a partial last vector, which
    the helper adds in another order; 65544: 8193 vectors); the sums' bits are the same as with
    every helper in (two threads: each sums part of a row), and the helpers are inductor's own
    again once the calls return."""
    from unittest import mock

    import torch._dynamo
    from torch._inductor.graph import GraphLowering

    from ratecheck.optimizers import plain_sums as plain_sums_mod

    def sums(x, g):
        y = x - 0.01 * g
        return (x * g).sum(-1), (y * y).sum(-1), y.abs().sum(-1)

    x, g = (torch.randn(2, d, generator=torch.Generator().manual_seed(s), dtype=torch.float32) for s in (1, 2))
    runs = {}
    for label, context in (("plain", plain_sums_mod.plain_sums), ("inductor", contextlib.nullcontext)):
        torch._dynamo.reset()
        codes = []
        with mock.patch.object(compiled_mod, "plain_sums", context), \
                mock.patch.object(GraphLowering, "save_output_code", codes.append):
            fn = compiled_mod.compile_with(compiled_mod._own_code(sums), {"fx_graph_cache": False})
            runs[label] = (fn(x, g), len(re.findall(r"CascadeSumHelper<at::vec::Vectorized<float>, \d+> cascade_helper", codes[-1])))
    (plain, n_plain), (default, n_default) = runs["plain"], runs["inductor"]
    assert n_default == 3, "inductor no longer sums these rows through its cascade helper: revisit plain_sums"
    assert n_plain == helpers
    assert all(torch.equal(a, b) for a, b in zip(plain, default))
    assert not plain_sums_mod._active.get(), "plain_sums left in force after the compiled calls"
