"""The functional, batched optimizer contract.

An optimizer runs B independent runs at once on iterates x of shape [B, d]:

    state = opt.init(x0, **hp)                 # hp: scalars or tensors [B] (one call sweeps a grid)
    state, info = opt.step(state, grad, loss)  # grad [B, d] at state["x"]; loss [B] or None

Rules every subclass follows (checked by tests/optimizers/test_contract.py):

- ``state["x"]`` is the point where the next gradient is evaluated; other iterates a method
  keeps (dual sequence z, averages) are further entries of the state;
- every reduction is per run (over the last dim), so a batch of B runs equals B separate
  runs bit for bit in float64;
- no ``.item()``, no host sync, no data-dependent Python branch inside ``_step``;
- ``info`` maps names to tensors [B]: the internal scalars the theory needs (``lr``, ``d``,
  ``d_hat``, ...);
- a run whose gradient, loss or new iterate is non-finite is frozen at its last finite state
  and flagged in ``state["diverged"]``; the other runs are untouched (done here, once, for
  every method);
- ``step`` never writes into its input state; a caller that no longer needs an older state may
  donate it, ``step(state, grad, loss, out=older)`` (the runner donates the state from two
  steps back), and a method with ``donates`` then writes its new [B, d] entries into the older
  state's buffers: same bits, no fresh allocation. Without ``out`` every returned tensor is new.

Subclasses declare ``hyperparams`` (name -> HP), their state and info as TypedDicts beside the
class (``state_type``, a subclass of ``BaseState``, and ``info_type``), and implement ``_init``
and ``_step``. ``info_keys`` and ``state_keys`` are derived from those declarations (never
written by hand); the contract tests check that a step returns exactly the declared info keys
and a state with the declared entries.
Hyper-parameters are validated once, in ``init`` (a host sync there is fine), and live in
``state["hp"]`` as tensors [B] of the iterate's dtype.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, TypedDict

import torch

from ratecheck.errors import RatecheckError, out_of_range
from ratecheck.registry import Registry

from .cube_root import cube_root as newton_cube_root

State = dict[str, Any]
Info = dict[str, torch.Tensor]
NO_OUT: Mapping[str, torch.Tensor] = MappingProxyType({})  # ``_step``'s ``out`` when nothing is donated


class BaseState(TypedDict):
    """The entries every optimizer's state has (set by ``Optimizer.init``/``step``); a method's
    state type extends it with its own entries."""

    x: torch.Tensor  # [B, d]: where the next gradient is evaluated
    k: int  # steps taken
    diverged: torch.Tensor  # [B] bool: frozen runs
    hp: dict[str, torch.Tensor]  # hyper-parameters, [B] each


class NoInfo(TypedDict):
    """An empty info declaration (``info`` then holds only ``diverged``)."""


class LRInfo(TypedDict):
    """The info of a method whose one internal scalar is its effective step."""

    lr: torch.Tensor


def typed_keys(td: type) -> tuple[str, ...]:
    """The keys a TypedDict declares (inherited ones first), in declaration order."""
    return tuple(td.__annotations__)


OPTIMIZERS: Registry[Callable[..., "Optimizer"]] = Registry("optimizer", "ratecheck.optimizers")


def register(name: str):
    """Register a factory ``f(**options) -> Optimizer`` (a class works) under ``name``."""
    return OPTIMIZERS.register(name)


def get(name: str, **options: Any) -> "Optimizer":
    return OPTIMIZERS.get(name)(**options)


def names() -> list[str]:
    return OPTIMIZERS.names()


@dataclass(frozen=True)
class HP:
    """A scalar hyper-parameter (broadcast to one value per run) with its allowed range."""

    default: float | None  # None: required
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    doc: str = ""

    def allowed(self) -> str:
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        return f"{lo}{self.low:g}, {self.high:g}{hi}"

    def contains(self, v: torch.Tensor) -> torch.Tensor:
        ok = (v > self.low) if self.low_open else (v >= self.low)
        return ok & ((v < self.high) if self.high_open else (v <= self.high))


def positive(default: float | None, doc: str = "") -> HP:
    return HP(default, 0.0, math.inf, low_open=True, doc=doc)


def nonneg(default: float | None, doc: str = "") -> HP:
    return HP(default, 0.0, math.inf, doc=doc)


def unit(default: float | None, doc: str = "") -> HP:
    """A value in [0, 1): momentum, betas."""
    return HP(default, 0.0, 1.0, high_open=True, doc=doc)


class Optimizer:
    name: str = "optimizer"
    reference: str = ""  # paper and arXiv id, or the code it mirrors
    hyperparams: Mapping[str, HP] = {}
    needs_loss: bool = False  # step() requires loss (Polyak-type methods)
    needs_indices: bool = False  # step() requires the minibatch's sample indices (TAPS/MOTAPS)
    donates: bool = False  # _step(..., out=NO_OUT) takes name -> donated [B, d] buffer and writes into it
    # inductor options for every torch.compile of this method's step (``compiled.compile_for``)
    compile_options: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    # Declared beside each class: its state and what ``info`` holds besides "diverged".
    state_type: ClassVar[type] = BaseState
    info_type: ClassVar[type] = NoInfo
    # Derived from the declarations above by __init_subclass__ (a wrapper such as Mechanic may
    # extend them per instance); read by the runner, the sweep records and the tests.
    state_keys: tuple[str, ...] = typed_keys(BaseState)
    info_keys: tuple[str, ...] = ()
    # Problem attributes passed to ``init`` by the runner (e.g. "n", "f_star" for TAPS).
    problem_kwargs: tuple[str, ...] = ()
    # Valid hyper-parameters for the generic contract tests (required ones must appear here).
    example_hp: Mapping[str, Any] = {}

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "info_keys" in vars(cls) or "state_keys" in vars(cls):
            raise TypeError(f"{cls.__name__}: declare info_type / state_type (TypedDicts), not info_keys / state_keys")
        cls.info_keys = typed_keys(cls.info_type)
        cls.state_keys = typed_keys(cls.state_type)
        if cls.donates and "out" not in inspect.signature(cls._step).parameters:
            cls.donates = False  # a subclass whose _step takes no ``out`` (a test's mutant) allocates

    def __new__(cls, *args: Any, **options: Any):
        # The constructor's keyword options (schedule, slice_p, variant, ...), recorded by the
        # runner in the trace so that theory can tell which update a run used.
        obj = super().__new__(cls)
        try:
            bound = inspect.signature(cls.__init__).bind(None, *args, **options)
            bound.apply_defaults()
            obj.options = {k: v for k, v in bound.arguments.items() if k != "self" and k not in ("args", "kwargs")}
        except TypeError:  # a wrong call: __init__ reports it
            obj.options = dict(options)
        return obj

    # -- public API -------------------------------------------------------------------------
    def init(self, x0: torch.Tensor, **hp: Any) -> State:
        if not isinstance(x0, torch.Tensor) or x0.ndim != 2 or not x0.is_floating_point():
            shape = tuple(x0.shape) if isinstance(x0, torch.Tensor) else type(x0).__name__
            raise RatecheckError(f"x0 must be a float tensor of shape [B, d]; got {shape}")
        B = x0.shape[0]
        extra = {k: hp.pop(k) for k in list(hp) if k not in self.hyperparams}
        values = {name: self._hp_tensor(name, spec, hp.get(name, spec.default), x0) for name, spec in self.hyperparams.items()}
        state: State = {
            "x": x0.clone(),
            "k": 0,
            "diverged": torch.zeros(B, dtype=torch.bool, device=x0.device),
            "hp": values,
        }
        state.update(self._init(x0, values, **extra))
        return state

    def step(
        self, state: State, grad: torch.Tensor, loss: torch.Tensor | None = None, idx: torch.Tensor | None = None,
        out: State | None = None,
    ) -> tuple[State, Info]:
        """One step of every run. ``idx`` [B, m]: the minibatch's sample indices, passed to
        ``_step`` only for methods with ``needs_indices`` (per-datapoint state, TAPS/MOTAPS).

        ``out``: a state that an earlier ``step`` of this optimizer returned and that the caller
        gives up (DONATES): no tensor of it is read again, e.g. the state from two steps back.
        Methods with ``donates`` write their new [B, d] entries into its buffers instead of
        allocating fresh ones (see ``donated`` for which buffers qualify). ``state`` itself is
        never written, so the divergence freeze can still restore it. None (the default): every
        returned tensor is new, and every earlier state stays valid.

        A run whose gradient, loss or new iterate is not finite, or that diverged before, keeps
        ``state``'s values and is flagged in ``info["diverged"]``: ``hold_diverged`` of ``advance``."""
        return self.hold_diverged(state, *self.advance(state, grad, loss, idx, out))

    def advance(
        self, state: State, grad: torch.Tensor, loss: torch.Tensor | None = None, idx: torch.Tensor | None = None,
        out: State | None = None,
    ) -> tuple[State, Info]:
        """``step`` before its divergence freeze: every run's new entries, a diverging run's
        included, and ``info["diverged"]`` [B], the runs that ``hold_diverged`` keeps at ``state``.
        Apart so that a compiled step on the CPU (``compiled.compiled_step``) computes the probe
        within the update's loop and freezes in eager mode, where the freeze costs nothing unless
        a run diverged; compiled, its ``where`` would read and write every entry once more."""
        x = state["x"]
        if grad.shape != x.shape:
            raise RatecheckError(f"grad has shape {tuple(grad.shape)}; expected {tuple(x.shape)} like x")
        if self.needs_loss and loss is None:
            raise RatecheckError(f"{self.name} needs the loss: call step(state, grad, loss)")
        kw: dict[str, Any] = {}
        if self.needs_indices:
            if idx is None:
                raise RatecheckError(f"{self.name} needs the minibatch indices: call step(state, grad, loss, idx)")
            kw["idx"] = idx
        if self.donates and "_step" not in self.__dict__:  # an instance's own _step (a test's mutant) allocates
            kw["out"] = donated(out, state, grad, loss)
            if kw["out"]:
                kw["out"].update(self._workspace(x))
        new, info = self._step(state, grad, loss, **kw)
        info["diverged"] = state["diverged"] | nonfinite_runs(grad, new["x"], loss)
        return new, info

    def hold_diverged(self, state: State, new: State, info: Info) -> tuple[State, Info]:
        """The runs flagged in ``info["diverged"]`` keep ``state``'s values (``freeze``); the step
        counter and the hyper-parameters carried over."""
        frozen = info["diverged"]
        new = freeze(new, state, frozen)
        new["diverged"] = frozen
        new["k"] = state["k"] + 1
        new["hp"] = state["hp"]
        return new, info

    # -- subclass hooks -----------------------------------------------------------------------
    def _init(self, x0: torch.Tensor, hp: dict[str, torch.Tensor], **extra: Any) -> State:
        if extra:
            raise RatecheckError(
                f"unknown hyper-parameter(s) {sorted(extra)} for {self.name}; allowed: {sorted(self.hyperparams)}"
            )
        return {}

    def _step(self, state: State, grad: torch.Tensor, loss: torch.Tensor | None) -> tuple[State, Info]:
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------------
    def _workspace(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Two scratch buffers like ``x`` ("tmp", "tmp2"), kept by this optimizer and reused by
        every donating step: a step's temporaries, dead when it returns (never part of a state or
        an info), cost a fresh allocation each otherwise (``donated``). So one optimizer instance
        must not run donating steps from several threads at once."""
        key = (tuple(x.shape), x.dtype, x.device)
        ws = self.__dict__.setdefault("_workspaces", {})
        if key not in ws:
            ws.clear()  # one size at a time: a new batch shape replaces the old buffers
            ws[key] = {"tmp": torch.empty_like(x), "tmp2": torch.empty_like(x)}
        return ws[key]

    def _hp_tensor(self, name: str, spec: HP, value: Any, x0: torch.Tensor) -> torch.Tensor:
        if value is None:
            raise RatecheckError(f"{self.name}: hyper-parameter {name!r} is required; allowed: {spec.allowed()}")
        B = x0.shape[0]
        t = torch.as_tensor(value, dtype=torch.float64)
        if t.ndim == 0:
            t = t.expand(B)
        if t.shape != (B,):
            raise RatecheckError(f"{self.name}: {name} has shape {tuple(t.shape)}; allowed: a scalar or shape [{B}]")
        ok = spec.contains(t)
        if not bool(ok.all()):
            bad = t[~ok][0].item()
            raise out_of_range(f"{self.name}: {name}", bad, spec.allowed())
        return t.to(device=x0.device, dtype=x0.dtype).contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def donated(out: State | None, state: State, *inputs: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The buffers of a donated state ``out`` (``Optimizer.step``) that ``_step`` may overwrite:
    its top-level [B, d] float tensors whose shape, dtype and device match ``state``'s entry of
    the same name and that share memory with no tensor of ``state``, no input (grad, loss) and no
    other such buffer (an init may give several entries one zero tensor, a step may carry an
    entry over unchanged or keep its input). Empty without ``out`` and while autograd records
    (``out=`` ops are not differentiable; falsify differentiates through the step).

    Why: at B*d = 1e6 a fresh [B, d] output per operation costs 30-35% of an eager Adam step on
    the CPU (glibc hands freed blocks of that size back to the OS and they fault in again),
    measured against the same operations writing into donated buffers; at [256 x 200] it costs
    little, the allocator's blocks come back hot (docs/speed.md)."""
    if out is None:
        return {}
    tensors = [v for v in state.values() if isinstance(v, torch.Tensor)] + [v for v in inputs if v is not None]
    if torch.is_grad_enabled() and any(v.requires_grad for v in [*tensors, *state["hp"].values()]):
        return {}
    taken = {v.untyped_storage().data_ptr() for v in tensors}
    bufs = {}
    for key, buf in out.items():
        cur = state.get(key)
        if not (isinstance(buf, torch.Tensor) and isinstance(cur, torch.Tensor) and buf.ndim == 2 and not buf.requires_grad
                and buf.shape == cur.shape and buf.dtype == cur.dtype and buf.device == cur.device and buf.is_contiguous()):
            continue
        ptr = buf.untyped_storage().data_ptr()
        if ptr not in taken:
            taken.add(ptr)
            bufs[key] = buf
    return bufs


def nonfinite_runs(*tensors: torch.Tensor | None) -> torch.Tensor:
    """Per run [B]: True where some entry of some tensor ([B, ...] each; None skipped) is NaN or
    +-inf; the divergence guard of every step.

    Exact probe: ``v * 0`` is 0 for a finite entry and NaN for a non-finite one, so the per-run
    sum of those products is exactly 0 when the run is finite and NaN otherwise (no overflow, no
    dependence on the summation order). Four kernels per [B, d] tensor fewer than
    ``isfinite(v).all(-1)``, which on the CPU composes abs, compare and reduction kernels.

    On the CPU in eager mode a plain sum of all entries comes first (one read pass instead of a
    multiply and a per-run sum, and no [B] kernels): a NaN or inf entry makes the sum NaN or inf,
    so a finite sum proves every run finite; only when it is not finite (a diverging run, or
    finite entries whose sum overflows) does the exact probe decide. Reading a CPU value is no
    device sync.

    Under ``torch.compile`` the probe is ``isfinite`` of each run's sum of ``v * 2^-(k+1)``, with
    2^k >= the run's number of entries n: inductor simplifies ``v * 0`` to the constant 0 (a
    fast-math rewrite that drops NaN and inf, which once made every compiled step report its runs
    finite), and ``isfinite(v).all(-1)`` compiles to per-entry mask conversions that made the
    compiled SGD step slower than eager. The scaled sum is exact: scaling by a power of two keeps
    NaN and +-inf (and a finite entry finite), so a NaN or inf entry makes the sum NaN or inf (inf
    plus -inf is NaN), and a run of finite entries sums to at most n max/2^(k+1) <= max/2 in
    magnitude, where the sum's relative round-off (n u) cannot reach the overflow threshold.
    """
    given = [v for v in tensors if v is not None]
    if torch.compiler.is_compiling():
        bad = None
        for v in given:
            if v.ndim > 1:
                v = v.flatten(1)
                v = (v * 2.0 ** -((v.shape[1] - 1).bit_length() + 1)).sum(dim=-1)
            bad = ~torch.isfinite(v) if bad is None else bad | ~torch.isfinite(v)
        return bad
    if all(v.device.type == "cpu" for v in given):
        if math.isfinite(sum(v.sum().item() for v in given)):
            return torch.zeros(given[0].shape[0], dtype=torch.bool)
    probe = None
    for v in given:
        z = (v * 0).flatten(1).sum(dim=-1) if v.ndim > 1 else v * 0
        probe = z if probe is None else probe + z
    return torch.isnan(probe)


def freeze(new: State, old: State, mask: torch.Tensor, keys: tuple[str, ...] | None = None) -> State:
    """Per run: keep the ``old`` value where ``mask`` [B] is True, in every per-run tensor entry
    of ``new`` (or only in ``keys``), recursing into nested states (a wrapped base optimizer's
    state). Used by ``step`` for diverged runs, and by methods that hold a run still (a zero
    first gradient, an undefined step).

    On the CPU in eager mode a mask with no True entry returns ``new`` unchanged without the
    ``torch.where`` passes (one [B, d] pass per entry, the largest cost of an eager step): reading
    a CPU tensor is no device sync, and ``where`` with an all-False mask returns ``new``'s values
    exactly. On other devices and under ``torch.compile`` (which fuses the ``where`` into the
    step's loops) the mask is never read on the host."""
    B = mask.shape[0]
    out = dict(new)
    if mask.device.type == "cpu" and not torch.compiler.is_compiling() and not bool(mask.any()):
        return out
    for key in keys if keys is not None else tuple(new):
        val, prev = new[key], old.get(key)
        if val is prev:  # carried over unchanged (x0, schedule tables): nothing to restore
            continue
        if isinstance(val, dict) and isinstance(prev, dict):
            out[key] = freeze(val, prev, mask)
        elif isinstance(val, torch.Tensor) and isinstance(prev, torch.Tensor) and val.ndim >= 1 and val.shape[0] == B:
            out[key] = torch.where(mask.view(B, *([1] * (val.ndim - 1))), prev, val)
    return out


class DecayPaths(TypedDict):
    """Which weight-decay branches a batch's step takes, decided once at init (``decay_paths``)."""

    coupled_wd: bool  # some run adds wd * x to the gradient
    decoupled_wd: bool  # some run shrinks x by its decoupled decay


def decay_paths(hp: Mapping[str, torch.Tensor], decouple: str) -> DecayPaths:
    """The decay branches of a batch whose hyper-parameters are ``weight_decay`` and the 0/1 flag
    ``decouple``: read on the host once in ``_init`` so that a step skips the [B, d] passes of a
    branch no run takes (decay 0 adds exactly nothing there)."""
    wd, dec = hp["weight_decay"] != 0, hp[decouple] != 0
    return {"coupled_wd": bool((wd & ~dec).any()), "decoupled_wd": bool((wd & dec).any())}


def stable_pow(x: torch.Tensor, p: float | torch.Tensor) -> torch.Tensor:
    """x ** p elementwise, with a result that does not depend on the batch layout.

    CPU kernels of transcendental functions (pow with a non-integer exponent, exp, log) use a
    vectorised path for full vector chunks and a scalar path for the tail, and the two can
    differ in the last bit; an entry's path depends on where it sits in the flattened tensor.
    Padding the last dimension to a multiple of 64 sends every entry of every row through the
    vectorised path, so a run computes the same bits alone or inside any batch.

    Under ``torch.compile`` the pad is skipped: inductor generates its own loops (batched ==
    separate is an eager property only, ``ratecheck.optimizers.compiled``), and a padded input
    there is a masked load that defeats common-subexpression elimination, so every consumer of
    the power (denominator, zero guard, min, max) recomputed it (four powers per entry for
    MirrorMADGRAD, seen in TORCH_LOGS=output_code).
    """
    if torch.compiler.is_compiling():
        return x.pow(p)
    n = x.shape[-1]
    pad = (-n) % 64
    if pad:
        x = torch.nn.functional.pad(x, (0, pad), value=1.0)
        if isinstance(p, torch.Tensor) and p.ndim > 0:
            p = torch.nn.functional.pad(p.expand(*x.shape[:-1], n), (0, pad), value=1.0)
    return x.pow(p)[..., :n]


def cube_root(x: torch.Tensor) -> torch.Tensor:
    """x^(1/3) elementwise (NaN for x < 0, as ``pow``): the MADGRAD family's denominators.

    Eager: ``stable_pow(x, 1/3)``, the bits of the authors' ``pow(1 / 3)``. Under
    ``torch.compile``: Newton's method from a bit-pattern guess (``cube_root.cube_root``),
    within 1.75 u of x^(1/3) in float32 and float64 (proof: docs/theory/madgrad.md#cube-root) and
    a third of the time of ``exp(log(x) / 3)``, which inductor's vectorised ``pow`` (Sleef, double-word
    arithmetic) took 1.6-1.9x of.
    """
    if torch.compiler.is_compiling():
        return newton_cube_root(x)
    return stable_pow(x, 1 / 3)


def norm(v: torch.Tensor) -> torch.Tensor:
    """Per-run Euclidean norm: [B, d] -> [B]."""
    return torch.linalg.vector_norm(v, dim=-1)


def dot(a: torch.Tensor, b: torch.Tensor, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """Per-run inner product: [B, d], [B, d] -> [B] (the products written into ``scratch`` if given)."""
    return torch.mul(a, b, out=scratch).sum(dim=-1)


def scaled_sum(a: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor, y2: torch.Tensor | None = None,
               out: torch.Tensor | None = None, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """a * x + b * y (* y2), rounded as written: two products and a sum, never a fused
    multiply-add (``addcmul`` rounds once fewer, and a chaotic run amplifies that last bit into
    a different trajectory from the authors' code). Written into ``out``, the second product into
    ``scratch``, when given (a donated buffer and the step's workspace, ``Optimizer.step``)."""
    second = torch.mul(b, y, out=scratch)
    if y2 is not None:
        second = torch.mul(second, y2, out=scratch)
    return torch.add(torch.mul(a, x, out=out), second, out=out)


def per_run(v: torch.Tensor) -> torch.Tensor:
    """A per-run scalar [B] as a column [B, 1] for broadcasting against [B, d].

    Under ``torch.compile`` the column is materialised once per step, before the [B, d] loops:
    inductor would otherwise inline the scalar's computation into the loop over entries, where
    the C++ compiler cannot hoist a libm call out (inductor compiles with ``-fmath-errno``):
    MoMo-Adam's 1 - beta2^k cost one ``std::pow`` per vector of 8 entries, Adam's bias
    corrections a ``std::sqrt`` (compiled MoMo-Adam step at B*d = 1e7: 4.7-6.7 -> 2.9-3.1
    elementwise passes over its state, docs/speed.md). The column is the maximum of 16 copies of
    the value, a reduction, which inductor computes into a buffer (reductions over at most
    ``unroll_reductions_threshold`` = 8 entries it unrolls into the consumer); the maximum of
    equal values is the value, NaN included. Boolean columns (masks, a compare per entry at most)
    are left to inductor.
    """
    if torch.compiler.is_compiling() and v.is_floating_point():
        return v[:, None].expand(v.shape[0], 16).amax(dim=-1, keepdim=True)
    return v[:, None]
