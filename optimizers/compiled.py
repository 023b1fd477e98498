"""Opt-in ``torch.compile`` of an optimizer's step (``run(..., compile=True)``, ``--compile``,
spec ``compile = true``).

Eager PyTorch launches one kernel per arithmetic operation of the step; inductor fuses the
step's elementwise work and per-run reductions into a few loops, which is what closes most of
the gap between the step and one pass over its state (``ratecheck bench --compile``).

What it keeps and what it does not:

- the step counter ``state["k"]`` is a Python int: the first call compiles for k = 0, the
  second recompiles once with k symbolic (torch's automatic dynamic shapes), and no later step
  recompiles; the schedule-length check stays a guard on k;
- the numbers equal eager's up to round-off, not bit for bit: inductor may reorder a per-run
  sum and contract a*b+c into a fused multiply-add. Documented tolerance (tests/optimizers/
  test_compiled.py): relative 1e-12 on the iterates and info after 30 steps in float64.
  ``batched == separate`` bit for bit is a property of the eager step only;
- compiling takes tens of seconds on a CPU (a C++ compiler runs; later runs hit inductor's
  on-disk cache), so it pays off for long runs only;
- a donated state (``step(..., out=)``) is not used: inductor plans its own buffers;
- a run with a NaN or inf gradient, loss or new iterate is frozen and flagged as in eager
  (``base.nonfinite_runs`` under compile: ``isfinite`` of each run's sum scaled by a power of
  two, exact; inductor folds eager's ``v * 0`` probe to 0, which had silently disabled the
  freeze; tests/optimizers/test_compiled.py injects a NaN). On the CPU the freeze itself runs in
  eager mode after the compiled ``advance`` (``compiled_step``);
- the MADGRAD family's cube root is Newton's method from a bit-pattern guess here
  (``optimizers/cube_root.py``, within 1.75 u, docs/theory/madgrad.md#cube-root), a third of the
  time of exp(log(x) / 3) and cheaper still than inductor's pow;
- every compile takes ``row_fusion.RowFusion`` as inductor's fusion heuristic
  (``inductor_options``): on the CPU the per-run [B] nodes stay out of the [B, d] loops' group,
  whose passes over a row then share one loop over the rows (D-Adapt SGD: four passes over
  memory -> one loop; docs/speed.md, "Row fusion");
- inductor's cascade helper for long float32 sums is left out where it would not cascade
  (``plain_sums``: the same bits, a third of Mechanic's step at B*d = 1e7);
- the runner and the bench take two steps per compiled call under a deterministic oracle
  (``TwoSteps``): the call's own Python costs as much as a step's kernels at [256 x 200];
- autograd through a compiled step is not supported here: under a recording autograd graph
  (``torch.is_grad_enabled()`` and an input that requires grad) the eager step runs.
"""

from __future__ import annotations

import contextlib
import types
import warnings
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import torch

from .base import Optimizer
from .plain_sums import plain_sums


def _records_autograd(*args: Any) -> bool:
    if not torch.is_grad_enabled():
        return False
    stack = list(args)
    while stack:
        v = stack.pop()
        if isinstance(v, torch.Tensor):
            if v.requires_grad:
                return True
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (tuple, list)):
            stack.extend(v)
    return False


def _own_code(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A copy of ``fn`` with a code object of its own. Dynamo keeps its compiled graphs (and
    their recompile limit) per code object: every optimizer's ``step`` is ``Optimizer.step``, so
    without this the methods of one process would share, and soon exhaust, one cache."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


# Inductor options for every method. size_asserts off: the generated wrapper would re-check
# every input's sizes and strides on each call, which dynamo's guards have just checked. At
# [256 x 200] that is about 1 % of compiled Prodigy's and Mechanic's iteration (oracle + step):
# full / ceiling +0.002 to +0.027 for four methods in eight paired runs (docs/speed.md).
COMMON_OPTIONS = MappingProxyType({"size_asserts": False})


def inductor_options(label: str, extra: Mapping[str, Any] = MappingProxyType({})) -> dict[str, Any]:
    """The inductor options of every compile here (``COMMON_OPTIONS``, the row fusion heuristic
    ``row_fusion.RowFusion``) and ``extra``, less those the installed inductor does not know.

    The options are speed hints, tuned on the torch this package pins for the CPU: an option the
    installed inductor does not know (an older torch, e.g. a GPU machine's own build) is left out
    with a warning naming ``label``, where ``torch.compile`` would refuse the whole compile."""
    import torch._inductor.config as inductor_config

    try:
        from .row_fusion import RowFusion

        wanted = {**COMMON_OPTIONS, "inductor_choices_class": RowFusion, **extra}
    except ImportError:  # no torch._inductor.choices in this torch
        wanted = {**COMMON_OPTIONS, "inductor_choices_class": None, **extra}
    known = inductor_config.get_config_copy()
    options = {k: v for k, v in wanted.items() if k in known and v is not None}
    unknown = sorted(k for k in wanted if k not in options)
    if unknown:
        warnings.warn(f"{label}: inductor options {unknown} are unknown to torch {torch.__version__}; compiling without them",
                      RuntimeWarning, stacklevel=3)
    return options


def compile_with(fn: Callable[..., Any], options: Mapping[str, Any]) -> Callable[..., Any]:
    """``torch.compile(fn, options=options)``, with two things installed around every call:
    the heuristics of the options' ``inductor_choices_class``, if any, and ``plain_sums``
    (inductor's cascade sums left out where they change no bit).

    Why around the calls: inductor reads ``inductor_choices_class`` once per thread, at the
    first compile, and keeps that handler for every later one; a compile's own option only
    enters its cache key. So the option alone would apply the heuristics only if a step were
    the thread's first compile, and would leave them in force for every compile after it (a
    user's own model included). Installed per call (``V.set_choices_handler``, restored on
    return), they apply to each compile of ``fn`` (compiles happen inside its calls) and to
    nothing else. Cost: 8 us a call (torch's context manager; measured on the 2-core CI machine),
    about 0.1 % of a compiled two-step call at [256 x 200] and 0.2-1.6 % of a compiled step
    at B*d = 1e6 (0.5-3.8 ms)."""
    from torch._inductor.virtualized import V

    compiled = torch.compile(fn, options=dict(options) or None)
    choices = options.get("inductor_choices_class")
    # a torch without the per-thread handler: the option alone
    handler = choices() if choices is not None and hasattr(V, "set_choices_handler") else None

    def call(*args: Any, **kwargs: Any) -> Any:
        with plain_sums(), (V.set_choices_handler(handler) if handler is not None else contextlib.nullcontext()):
            return compiled(*args, **kwargs)

    return call


def compile_for(opt: Optimizer, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.compile(fn)`` with every compile's inductor options and the method's own
    (``Optimizer.compile_options``): its step, or the runner's and the bench's iteration around
    it (``inductor_options``, ``compile_with``)."""
    return compile_with(fn, inductor_options(opt.name, opt.compile_options))


def freezes_eagerly(device: torch.device) -> bool:
    """Whether a compiled step on ``device`` compiles ``Optimizer.advance`` and leaves the divergence
    freeze (``hold_diverged``) to eager mode: on the CPU (``compiled_step``, the runner's compiled
    iteration and the bench follow it)."""
    return device.type == "cpu"


def compiled_step(opt: Optimizer) -> Callable[..., Any]:
    """``opt.step`` compiled once per optimizer instance (the eager step under autograd).

    On the CPU the compiled function is ``opt.advance`` and the divergence freeze
    (``opt.hold_diverged``) runs in eager mode, where it reads the [B] mask and costs nothing
    unless a run diverged; compiled, its ``where`` would read and write every entry once more per
    step, and inductor could not fuse the probe's per-run sums with the update's stores (the
    stores would wait for the sums). On other devices the whole step is compiled: reading the
    mask there would be a device sync per step."""
    fns = opt.__dict__.setdefault("_compiled_steps", {})

    def compiled(name: str) -> Callable[..., Any]:
        if name not in fns:
            fns[name] = compile_for(opt, types.MethodType(_own_code(getattr(type(opt), name)), opt))
        return fns[name]

    def step(state, grad, loss=None, idx=None, out=None):
        if _records_autograd(state, grad, loss):
            return opt.step(state, grad, loss, idx)
        # ``out`` unused: inductor plans its own buffers
        if freezes_eagerly(grad.device):
            return opt.hold_diverged(state, *compiled("advance")(state, grad, loss, idx))
        return compiled("step")(state, grad, loss, idx)

    return step


class TwoSteps:
    """A compiled function that takes two steps per call, served one step at a time.

    ``two(state, *args)`` returns ``(first, second)``, the outputs of the steps from ``state``
    and from ``first[0]`` (the state after the first step). A call returns ``first`` and keeps
    ``second``; the next call from exactly that state object returns ``second`` without
    computing anything. Any other state computes afresh. Only the state is compared: one
    instance serves one run, whose ``args`` (problem, optimizer, x*) are the same every call.

    Why: a compiled call's fixed cost is the Python around its kernels (dynamo's frame, the AOT
    and inductor wrappers, the freeze check), and it runs cold, right after the oracle's matrix
    product has flushed the L2 cache. One call per two steps halves it: against the eager
    ceiling, in one process, full / ceiling went 0.870 -> 0.950 (Mechanic), 0.889 -> 0.969
    (Prodigy), 0.854 -> 0.954 (D-Adapt Adam), 0.866 -> 0.942 (MirrorMADGRAD) (docs/speed.md).
    The two steps are one graph, so each freezes its diverged runs inside it
    (``Optimizer.step``'s ``where``, as on a GPU)."""

    def __init__(self, two: Callable[..., Any]):
        self.two = two
        self.ahead: tuple[Any, Any] | None = None  # (the state after the first step, the second's outputs)

    def kept(self, state: Any) -> Any:
        """The outputs of the step from ``state`` if the last call computed them, else None."""
        ahead, self.ahead = self.ahead, None
        return ahead[1] if ahead is not None and ahead[0] is state else None

    def __call__(self, state: Any, *args: Any, two: bool = True) -> Any:
        """The outputs of the step from ``state``: kept, or computed with the next one when
        ``two`` (two steps remain); None otherwise, and the caller takes the one step itself."""
        out = self.kept(state)
        if out is None and two:
            out, second = self.two(state, *args)
            self.ahead = (out[0], second)
        return out
