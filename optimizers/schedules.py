"""Step-size schedules as multiplier arrays, and the mixin that gives an optimizer a schedule.

A schedule is a float64 tensor ``m`` of shape [T] (or [B, T], one row per run). At 0-based step
k the optimizer uses the effective step ``lr * m[k]``; step T and later are refused (there is no
schedule there). The kinds, for k = 0, ..., T-1 and a floor ``min_factor`` (mf, default 0):

======================  ========================================================================
``constant``            m_k = 1 (T optional; when given, step T raises)
``linear``              m_k = mf + (1 - mf)(1 - k/T)            torch LinearLR(1, mf, total_iters=T)
``cosine``              m_k = mf + (1 - mf)(1 + cos(pi k/T))/2   torch CosineAnnealingLR(T, mf*lr)
``step``                m_k = gamma^{#{milestones <= k}}         torch MultiStepLR(milestones, gamma)
``warmup_linear``       m_k = (k+1)/W for k < W, then mf + (1 - mf)(1 - (k-W)/(T-W))^power
``warmup_cosine``       m_k = (k+1)/W for k < W, then mf + (1 - mf)(1 + cos(pi (k-W)/(T-W)))/2
``custom``              m = the given ``lr_schedule`` ([T] or [B, T], entries >= 0)
``refined``             m = ``refine.refined_schedule(norms, ...)`` resampled to T
======================  ========================================================================

Provenance: linear decay 1 - t/T is the schedule of Defazio, Cutkosky, Mehta & Mishchenko,
"Optimal linear decay learning rate schedules and further refinements", arXiv 2310.07831
(reference note linear_decay_refinement.md §5, [DERIVED]); the warm-up + polynomial decay form
is the fit drawn by the authors' ``adaptive_scheduling/visual.py`` ([CODE], note §9); cosine,
step and linear follow the torch.optim.lr_scheduler definitions ([CODE], PyTorch docs), which
the tests cross-check step by step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ratecheck.errors import RatecheckError, out_of_range, unknown

from .base import BaseState, Optimizer, State

KINDS = ("constant", "linear", "cosine", "step", "warmup_linear", "warmup_cosine", "custom", "refined")

# The init keyword arguments each kind takes (besides T); anything else is an error that names them.
PARAMS: dict[str, tuple[str, ...]] = {
    "constant": (),
    "linear": ("min_factor",),
    "cosine": ("min_factor",),
    "step": ("milestones", "gamma"),
    "warmup_linear": ("warmup", "power", "min_factor"),
    "warmup_cosine": ("warmup", "min_factor"),
    "custom": (),
    "refined": ("norms", "power", "tau", "nvals", "trim"),
}
_ALL_PARAMS = frozenset(p for ps in PARAMS.values() for p in ps) | {"T"}


# -- validation --------------------------------------------------------------------------------
def _check_T(T: Any) -> int:
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise out_of_range("T", T, "integers >= 1")
    return T


def _check_min_factor(mf: float) -> float:
    mf = float(mf)
    if not 0.0 <= mf <= 1.0:
        raise out_of_range("min_factor", mf, "[0, 1]")
    return mf


def _check_warmup(warmup: Any, T: int) -> int:
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup < T:
        raise out_of_range("warmup", warmup, f"integers in [0, T) = [0, {T})")
    return warmup


def _steps(T: int) -> torch.Tensor:
    return torch.arange(T, dtype=torch.float64)


# -- the schedules (each returns float64 [T]) ----------------------------------------------------
def constant(T: int) -> torch.Tensor:
    """m_k = 1."""
    return torch.ones(_check_T(T), dtype=torch.float64)


def linear(T: int, min_factor: float = 0.0) -> torch.Tensor:
    """Linear decay m_k = 1 - (1 - mf) k/T (mf = 0: the 1 - t/T of arXiv 2310.07831 §5)."""
    T, mf = _check_T(T), _check_min_factor(min_factor)
    return 1.0 - (1.0 - mf) * (_steps(T) / T)


def cosine(T: int, min_factor: float = 0.0) -> torch.Tensor:
    """Cosine annealing m_k = mf + (1 - mf)(1 + cos(pi k / T)) / 2 (Loshchilov & Hutter 2017)."""
    T, mf = _check_T(T), _check_min_factor(min_factor)
    return mf + (1.0 - mf) * 0.5 * (1.0 + torch.cos(math.pi * _steps(T) / T))


def step(T: int, milestones: Sequence[int] = (), gamma: float = 0.1) -> torch.Tensor:
    """Step decay m_k = gamma^{number of milestones <= k} (repeated milestones count twice)."""
    T = _check_T(T)
    ms = list(milestones) if not isinstance(milestones, int) else [milestones]
    for m in ms:
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise out_of_range("milestones", list(milestones) if not isinstance(milestones, int) else milestones, "a list of integers >= 0")
    if not (math.isfinite(float(gamma)) and float(gamma) > 0):
        raise out_of_range("gamma", gamma, "(0, inf)")
    k = torch.arange(T)
    count = torch.zeros(T, dtype=torch.float64)
    for m in ms:
        count += (k >= m).double()
    return torch.full((T,), float(gamma), dtype=torch.float64) ** count


def _warmup(T: int, warmup: int) -> tuple[torch.Tensor, torch.Tensor]:
    k = _steps(T)
    return k, (k + 1.0) / max(warmup, 1)


def warmup_linear(T: int, warmup: int, power: float = 1.0, min_factor: float = 0.0) -> torch.Tensor:
    """Linear warm-up then polynomial decay: (k+1)/W for k < W, else mf + (1-mf)(1 - (k-W)/(T-W))^power.

    With mf = 0 this is the "warmup + polynomial decay" fit of ``adaptive_scheduling/visual.py``
    ([CODE], arXiv 2310.07831 note §9)."""
    T = _check_T(T)
    W, mf = _check_warmup(warmup, T), _check_min_factor(min_factor)
    if not (math.isfinite(float(power)) and float(power) > 0):
        raise out_of_range("power", power, "(0, inf)")
    k, up = _warmup(T, W)
    down = mf + (1.0 - mf) * (1.0 - (k - W) / (T - W)) ** float(power)
    return torch.where(k < W, up, down)


def warmup_cosine(T: int, warmup: int, min_factor: float = 0.0) -> torch.Tensor:
    """Linear warm-up then cosine: (k+1)/W for k < W, else mf + (1-mf)(1 + cos(pi (k-W)/(T-W)))/2."""
    T = _check_T(T)
    W, mf = _check_warmup(warmup, T), _check_min_factor(min_factor)
    k, up = _warmup(T, W)
    down = mf + (1.0 - mf) * 0.5 * (1.0 + torch.cos(math.pi * (k - W) / (T - W)))
    return torch.where(k < W, up, down)


def custom(values: Any, T: int | None = None, B: int | None = None, name: str = "lr_schedule") -> torch.Tensor:
    """A user-given multiplier array [T'] or [B, T'] (finite, >= 0), cut to its first T entries.

    Raises if it is shorter than T, has the wrong number of rows, or holds a negative or
    non-finite entry."""
    t = torch.as_tensor(values, dtype=torch.float64).detach().cpu()
    if t.ndim not in (1, 2) or t.shape[-1] < 1 or (t.ndim == 2 and B is not None and t.shape[0] != B):
        rows = "" if B is None else f" or [{B}, T]"
        raise RatecheckError(f"{name} has shape {tuple(t.shape)}; allowed: [T]{rows}")
    if T is not None:
        T = _check_T(T)
        if t.shape[-1] < T:
            raise out_of_range(f"{name} length", t.shape[-1], f"a length >= T = {T}")
        t = t[..., :T]
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        bad = t[~(torch.isfinite(t) & (t >= 0))][0].item()
        raise out_of_range(f"{name} entry", bad, "finite values >= 0")
    return t.contiguous()


_BUILDERS = {
    "constant": lambda T, **p: constant(T),
    "linear": linear,
    "cosine": cosine,
    "step": step,
    "warmup_linear": warmup_linear,
    "warmup_cosine": warmup_cosine,
}


def make(kind: str, T: int | None = None, **params: Any) -> torch.Tensor:
    """The multiplier array of schedule ``kind`` ([T], or [B, T] for per-run custom/refined)."""
    if kind not in KINDS:
        raise unknown("schedule", kind, KINDS)
    extra = set(params) - set(PARAMS[kind]) - ({"values"} if kind == "custom" else set())
    if extra:
        raise RatecheckError(
            f"{sorted(extra)} not parameters of schedule {kind!r}; its parameters: {', '.join(('T',) + PARAMS[kind]) or 'T'}"
        )
    if kind == "custom":
        if "values" not in params:
            raise RatecheckError("schedule 'custom' needs lr_schedule= (a [T] or [B, T] array of multipliers)")
        return custom(params["values"], T)
    if kind == "refined":
        from .refine import refined_schedule  # scipy is imported only when refinement is used

        if params.get("norms") is None:
            raise RatecheckError("schedule 'refined' needs norms= (a gradient-norm log [n] or [B, n])")
        p = dict(params)
        norms = torch.as_tensor(p.pop("norms"), dtype=torch.float64).detach().cpu()
        return refined_schedule(norms, length=None if T is None else _check_T(T), **p)
    if T is None:
        if kind == "constant":
            raise RatecheckError("schedule 'constant' without T has no array; pass T")
        raise RatecheckError(f"schedule {kind!r} needs the horizon T (an integer >= 1) at init")
    return _BUILDERS[kind](T, **params)


def carry(state: State, **updates: Any) -> State:
    """The next state: ``state``'s method entries with ``updates`` (the base class sets k, hp, diverged)."""
    out = {k: v for k, v in state.items() if k not in ("k", "hp", "diverged")}
    out.update(updates)
    return out


# -- the mixin ------------------------------------------------------------------------------------
class ScheduledState(BaseState):
    schedules: dict[str, tuple[torch.Tensor]]  # name -> (table [T] or [T, B],)


class Scheduled(Optimizer):
    """An optimizer whose hyper-parameters in ``scheduled`` may follow a per-step multiplier.

    ``get(name, schedule=kind)`` picks the kind for the first scheduled hyper-parameter (the step
    size ``lr``); ``init(x0, lr=..., T=..., <kind's parameters>)`` builds it. Any scheduled
    hyper-parameter ``h`` also takes a custom multiplier array ``h_schedule=`` ([T] or [B, T]):
    at step k the method uses ``h * h_schedule[k]`` (``lr_schedule`` with the default
    schedule='constant' or with schedule='custom'; with another kind it is an error).
    The arrays are kept in ``state["schedules"]`` as ``{name: (table,)}``, table [T] or [T, B]
    (the tuple keeps the per-run divergence freeze from copying the read-only table each step).
    """

    state_type = ScheduledState
    scheduled: tuple[str, ...] = ("lr",)
    default_power: float = -2.0  # refined schedule weights ||g||^power (SGD: l2^-2; Adam: l1^-1)

    def __init__(self, schedule: str = "constant"):
        if schedule not in KINDS:
            raise unknown("schedule", schedule, KINDS)
        self.schedule = schedule

    def _init_schedules(self, x0: torch.Tensor, hp: dict[str, torch.Tensor], extra: dict[str, Any]) -> State:
        """Pop the schedule's arguments from ``extra`` and build ``state["schedules"]``."""
        B = x0.shape[0]
        main = self.scheduled[0]
        kind = self.schedule
        T = extra.pop("T", None)
        if T is not None:
            T = _check_T(T)
        params = {k: extra.pop(k) for k in list(extra) if k in _ALL_PARAMS}
        wrong = set(params) - set(PARAMS[kind])
        if wrong:
            raise RatecheckError(
                f"{self.name}: {sorted(wrong)} not parameters of schedule {kind!r}; "
                f"its parameters: {', '.join(('T',) + PARAMS[kind])}"
            )
        if kind == "refined":
            params.setdefault("power", self.default_power)
        custom_tables = {k[: -len("_schedule")]: extra.pop(k) for k in list(extra) if k.endswith("_schedule")}
        for name in custom_tables:
            if name not in self.scheduled:
                raise RatecheckError(
                    f"{self.name}: {name}_schedule is not accepted; scheduled hyper-parameters: "
                    f"{', '.join(s + '_schedule' for s in self.scheduled)}"
                )
        tables: dict[str, torch.Tensor] = {}
        if kind == "constant" and main in custom_tables:
            kind = "custom"  # a constant times a custom array is that array
        if kind == "custom":
            if main not in custom_tables:
                raise RatecheckError(f"{self.name}: schedule 'custom' needs {main}_schedule= (a [T] or [{B}, T] array)")
        elif main in custom_tables:
            raise RatecheckError(
                f"{self.name}: {main}_schedule= needs schedule='custom' (got schedule={kind!r}); "
                f"build the optimizer with get({self.name!r}, schedule='custom')"
            )
        elif kind != "constant" or T is not None:
            tables[main] = make(kind, T, **params)
        for name, values in custom_tables.items():
            tables[name] = custom(values, T, B, name=f"{name}_schedule")
        out: dict[str, tuple[torch.Tensor]] = {}
        for name, table in tables.items():
            if table.ndim == 2 and table.shape[0] != B:
                raise RatecheckError(f"{name}_schedule has shape {tuple(table.shape)}; allowed: [T] or [{B}, T]")
            if T is not None and table.shape[-1] < T:
                raise out_of_range(f"{name}_schedule length", table.shape[-1], f"a length >= T = {T}")
            self._check_effective(name, hp[name], table)
            table = table.T if table.ndim == 2 else table  # time-major: row k is one step
            out[name] = (table.to(device=x0.device, dtype=x0.dtype).contiguous(),)
        return {"schedules": out}

    def _check_effective(self, name: str, base: torch.Tensor, table: torch.Tensor) -> None:
        """Hook: reject a schedule whose effective values leave the method's domain."""

    def _at(self, state: State, name: str) -> torch.Tensor:
        """The effective value [B] of scheduled hyper-parameter ``name`` at this step."""
        base = state["hp"][name]
        entry = state["schedules"].get(name)
        if entry is None:
            return base
        table = entry[0]
        k = state["k"]
        if k >= table.shape[0]:
            raise RatecheckError(
                f"{self.name}: step k={k} is beyond the {name} schedule's length T={table.shape[0]}; "
                f"allowed steps: 0..{table.shape[0] - 1} (init with a larger T)"
            )
        return base * table[k]
