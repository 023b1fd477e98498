"""Experiment specs: a TOML file, validated in full before anything runs, expanded to cells.

A spec names problems, optimizers with hyper-parameter grids, seeds, the horizon and the
oracle. Layout (every key optional unless marked; see docs/cli.md for the full reference)::

    name = "demo"                  # default: the file's stem
    description = "..."
    T = 1000                       # required: steps per run
    seeds = 32                     # n (seeds 0..n-1) or a list of integers
    oracle = "auto"                # deterministic | stochastic | auto (stochastic for finite sums)
    batch_size = 1                 # samples per stochastic step
    device = "auto"                # auto | cpu | cuda | cuda:N
    dtype = "float64"              # float64 | float32 | bfloat16
    record = 200                   # "all" steps, or the number of log-spaced checkpoints
    results = "auto"               # "auto" (all applicable) or a list of result keys
    max_batch = 4096               # runs per tensor batch (a cell larger than this is chunked)
    x0_scale = 1.0                 # ||x0 - x*|| = x0_scale * (1 + ||x*||)
    x0_seed = "run"                # "run": each run starts from its seed's x0; or one integer

    [[problem]]
    name = "l1_distance"           # required: a registered problem
    label = "l1"                   # default: the name
    params = { d = 10 }            # keyword arguments of the problem's factory
    oracle = "deterministic"       # overrides the spec's oracle / batch_size for this problem
    batch_size = 4

    [[optimizer]]
    name = "sgd"                   # required: a registered optimizer
    label = "SGD linear"           # default: name(options)
    options = { schedule = "linear" }   # structural options; a list expands to several cells
    lr = [0.01, 0.1, 1.0]          # any other key is a hyper-parameter: a number or a grid

A cell is one (problem, optimizer, options) pair: all its runs (hyper-parameter grid x seeds)
run as one batch. Mistakes are reported as ``<file>: <location> <key>: <what>; allowed: ...``.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ratecheck.device import DTYPES
from ratecheck.errors import RatecheckError

TOP_KEYS = {
    "name": "a name for the results folder",
    "description": "free text",
    "T": "steps per run (integer >= 1)",
    "seeds": "number of seeds or a list of integers",
    "oracle": "deterministic | stochastic | auto",
    "batch_size": "samples per stochastic step",
    "device": "auto | cpu | cuda | cuda:N",
    "dtype": "float64 | float32 | bfloat16",
    "record": '"all" or a number of log-spaced checkpoints',
    "results": '"auto" or a list of result keys',
    "exclude_results": "result keys not to evaluate (e.g. slow ones)",
    "max_batch": "runs per tensor batch",
    "compile": "true: each iteration (oracle + step) through torch.compile (equal to eager up to round-off)",
    "x0_scale": "distance scale of the start",
    "x0_seed": '"run" or an integer',
    "problem": "[[problem]] tables",
    "optimizer": "[[optimizer]] tables",
}
PROBLEM_KEYS = ("name", "label", "params", "oracle", "batch_size")
OPTIMIZER_KEYS = ("name", "label", "options", "init", "refine_from")
ORACLES = ("deterministic", "stochastic", "auto")


def _where(src: str, loc: str, key: str | None = None) -> str:
    return f"{src}: {loc}" + (f" {key!r}" if key is not None else "")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _type_name(v: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}.get(type(v), type(v).__name__)


def _fmt(v: Any) -> str:
    return repr(v) if isinstance(v, str) else json.dumps(v, default=str) if isinstance(v, (list, dict)) else str(v)


@dataclass(frozen=True)
class ProblemEntry:
    name: str
    label: str
    params: dict[str, Any]
    oracle: str  # deterministic | stochastic (resolved)
    batch_size: int | None  # None when deterministic


@dataclass(frozen=True)
class OptimizerEntry:
    name: str
    label: str
    options: dict[str, Any]
    grid: dict[str, list[float]]  # hyper-parameter -> values (a single value is a 1-list)
    init: dict[str, Any] = field(default_factory=dict)  # further init keywords (schedule params)
    refine_from: str | None = None  # label of an earlier entry whose gradient norms refine this one

    def hp_points(self) -> list[dict[str, float]]:
        """The grid's points in a fixed order (last hyper-parameter varies fastest)."""
        keys = list(self.grid)
        return [dict(zip(keys, vals)) for vals in itertools.product(*(self.grid[k] for k in keys))]


@dataclass
class Spec:
    name: str
    source: str  # the file name used in messages
    T: int
    seeds: list[int]
    oracle: str
    batch_size: int
    device: str
    dtype: str
    record: str | int
    results: str | list[str]
    max_batch: int
    x0_scale: float
    x0_seed: str | int
    problems: list[ProblemEntry]
    optimizers: list[OptimizerEntry]
    description: str = ""
    text: str = ""  # the TOML as read
    exclude_results: list[str] = field(default_factory=list)
    compile: bool = False  # how the step runs, not what it computes: outside the hash
    _problem_cache: dict[int, Any] = field(default_factory=dict, repr=False)

    def canonical(self) -> dict[str, Any]:
        """Everything that determines the numbers (not the device): the basis of the hash."""
        return {
            "T": self.T,
            "seeds": self.seeds,
            "dtype": self.dtype,
            "record": self.record,
            "results": self.results,
            "exclude_results": self.exclude_results,
            "x0_scale": self.x0_scale,
            "x0_seed": self.x0_seed,
            "problems": [p.__dict__ for p in self.problems],
            "optimizers": [o.__dict__ for o in self.optimizers],
        }

    @property
    def hash(self) -> str:
        return _digest(self.canonical())

    def cells(self) -> list["Cell"]:
        return [Cell(self, i, p, j, o) for i, p in enumerate(self.problems) for j, o in enumerate(self.optimizers)]

    def problem(self, i: int):
        """The constructed problem of entry i (built once: some solve for their minimizer)."""
        if i not in self._problem_cache:
            from ratecheck import problems

            p = self.problems[i]
            self._problem_cache[i] = problems.get(p.name, **p.params)
        return self._problem_cache[i]

    def quick(self, T: int = 200, seeds: int = 4) -> "Spec":
        """A smaller copy for a smoke run: T and the number of seeds capped."""
        out = Spec(**{k: v for k, v in self.__dict__.items() if k != "_problem_cache"})
        out._problem_cache = self._problem_cache
        out.T = min(self.T, T)
        out.seeds = self.seeds[:seeds]
        if isinstance(out.record, int):
            out.record = min(out.record, out.T + 1)
        out.name = self.name + "-quick"
        return out


@dataclass
class Cell:
    """One (problem, optimizer, options) pair of a spec: one batch of runs (grid x seeds)."""

    spec: Spec
    pi: int
    problem: ProblemEntry
    oi: int
    optimizer: OptimizerEntry

    def canonical(self) -> dict[str, Any]:
        s = self.spec
        src = self.refine_source()
        return {
            "refine_source": None if src is None else src.hash,
            "refines": [o.label for o in s.optimizers if o.refine_from == self.optimizer.label],
            "problem": self.problem.__dict__,
            "optimizer": self.optimizer.__dict__,
            "T": s.T,
            "seeds": s.seeds,
            "dtype": s.dtype,
            "record": s.record,
            "results": s.results,
            "exclude_results": s.exclude_results,
            "x0_scale": s.x0_scale,
            "x0_seed": s.x0_seed,
        }

    @property
    def hash(self) -> str:
        return _digest(self.canonical())

    @property
    def id(self) -> str:
        """File stem: readable labels plus the hash of everything that determines the cell."""
        return f"{_slug(self.problem.label)}__{_slug(self.optimizer.label)}__{self.hash[:8]}"

    def refine_source(self) -> "Cell | None":
        """The cell (same problem) whose gradient norms this cell's refined schedule is built from."""
        if self.optimizer.refine_from is None:
            return None
        j = next(j for j, o in enumerate(self.spec.optimizers) if o.label == self.optimizer.refine_from)
        return Cell(self.spec, self.pi, self.problem, j, self.spec.optimizers[j])

    @property
    def n_runs(self) -> int:
        return len(self.optimizer.hp_points()) * len(self.spec.seeds)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", s).strip("-") or "x"


# -- loading and validation ----------------------------------------------------------------


def load(path: str | Path, quick: bool = False) -> Spec:
    """Read and validate a spec file; raises RatecheckError with the location of a mistake.
    ``quick``: validate and return ``Spec.quick()`` (what a smoke run runs)."""
    path = Path(path)
    if not path.is_file():
        raise RatecheckError(f"spec file {str(path)!r} not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise RatecheckError(f"{path.name}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); allowed: a UTF-8 TOML file") from None
    except OSError as e:
        raise RatecheckError(f"spec file {str(path)!r} cannot be read ({e.strerror})") from None
    return loads(text, source=path.name, default_name=path.stem, quick=quick)


def loads(text: str, source: str = "spec.toml", default_name: str = "spec", quick: bool = False) -> Spec:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RatecheckError(f"{source}: not valid TOML: {e}") from None
    spec = validate(raw, source, default_name, quick=quick)
    spec.text = text
    return spec


# Steps per run: beyond this a run's per-step records (8 bytes x runs x steps each) do not fit any machine.
MAX_T = 10**9


def validate(raw: dict[str, Any], src: str = "spec.toml", default_name: str = "spec", quick: bool = False) -> Spec:
    """Check every key, name, type and value of a parsed spec and build the ``Spec`` (its
    ``quick()`` copy with ``quick``: the dry run then sees the capped horizon)."""
    from ratecheck import optimizers, problems

    for k in raw:
        if k not in TOP_KEYS:
            raise RatecheckError(f"{src}: unknown key {k!r}; allowed: {', '.join(TOP_KEYS)}")
    loc = "top level"

    def get(key, default, check, expected, allowed=None):
        v = raw.get(key, default)
        if v is None or not check(v):
            got = "nothing" if v is None else f"{_type_name(v)} {_fmt(v)}"
            tail = f"; allowed: {allowed}" if allowed else ""
            raise RatecheckError(f"{_where(src, loc, key)}: expected {expected}, got {got}{tail}")
        return v

    name = get("name", default_name, lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string")
    description = get("description", "", lambda v: isinstance(v, str), "a string")
    T = get("T", None, lambda v: _is_int(v) and v >= 1, "an integer >= 1")
    if T > MAX_T:
        raise RatecheckError(f"{_where(src, loc, 'T')}: {T} steps per run cannot be stored; allowed: 1..{MAX_T:.0e}")
    seeds = get(
        "seeds", 1,
        lambda v: (_is_int(v) and v >= 1) or (isinstance(v, list) and len(v) > 0 and all(_is_int(s) and s >= 0 for s in v)),
        "an integer >= 1 or a non-empty list of integers >= 0",
    )
    seeds = list(range(seeds)) if _is_int(seeds) else list(seeds)
    if len(set(seeds)) != len(seeds):
        raise RatecheckError(f"{_where(src, loc, 'seeds')}: seeds repeat: {seeds}; allowed: distinct integers")
    oracle = get("oracle", "auto", lambda v: v in ORACLES, "one of the oracles", allowed=", ".join(ORACLES))
    batch_size = get("batch_size", 1, lambda v: _is_int(v) and v >= 1, "an integer >= 1")
    device = get("device", "auto", lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", v) is not None,
                 "a device name", allowed="auto, cpu, cuda, cuda:N")
    dtype = get("dtype", "float64", lambda v: v in DTYPES, "a dtype", allowed=", ".join(DTYPES))
    record = get("record", "all", lambda v: v == "all" or (_is_int(v) and v >= 2), '"all" or an integer >= 2 (checkpoints)')
    results = get("results", "auto", lambda v: v == "auto" or (isinstance(v, list) and all(isinstance(s, str) for s in v)),
                  '"auto" or a list of result keys')
    max_batch = get("max_batch", 4096, lambda v: _is_int(v) and v >= 1, "an integer >= 1")
    x0_scale = float(get("x0_scale", 1.0, lambda v: _is_num(v) and v > 0 and math.isfinite(v), "a number > 0"))
    compile_step = get("compile", False, lambda v: isinstance(v, bool), "true or false")
    x0_seed = get("x0_seed", "run", lambda v: v == "run" or (_is_int(v) and v >= 0), '"run" or an integer >= 0')

    exclude = get("exclude_results", [], lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v), "a list of result keys")
    if isinstance(results, list) or exclude:
        from ratecheck import theory

        known = theory.names()
        for i, key in enumerate(exclude):
            if key not in known:
                raise RatecheckError(
                    f"{_where(src, loc, 'exclude_results')} #{i + 1}: unknown result {key!r}; known results: {', '.join(known) or '(none registered)'}"
                )
        for i, key in enumerate(results if isinstance(results, list) else []):
            if key not in known:
                raise RatecheckError(
                    f"{_where(src, loc, 'results')} #{i + 1}: unknown result {key!r}; known results: {', '.join(known) or '(none registered)'}"
                )

    prob_tables = raw.get("problem")
    opt_tables = raw.get("optimizer")
    for key, tables in (("problem", prob_tables), ("optimizer", opt_tables)):
        if tables is None:
            raise RatecheckError(f"{src}: no [[{key}]] table; at least one is required")
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise RatecheckError(f"{src}: {key!r} must be written as [[{key}]] tables, got {_type_name(tables)}")

    prob_entries = [_problem_entry(t, i, src, oracle, batch_size, problems) for i, t in enumerate(prob_tables)]
    opt_entries: list[OptimizerEntry] = []
    for i, t in enumerate(opt_tables):
        new = _optimizer_entries(t, i, src, optimizers)
        for e in new:
            earlier = [o.label for o in opt_entries if o.refine_from is None]
            if e.refine_from is not None and e.refine_from not in earlier:
                raise RatecheckError(
                    f"{_where(src, f'[[optimizer]] #{i + 1} ({e.name})', 'refine_from')}: {e.refine_from!r} is not the label of an "
                    f"earlier, unrefined [[optimizer]]; allowed: {', '.join(earlier) or '(none)'}"
                )
        opt_entries.extend(new)

    _unique_labels(prob_entries, "problem", src)
    _unique_labels(opt_entries, "optimizer", src)
    spec = Spec(
        name=name, source=src, T=T, seeds=seeds, oracle=oracle, batch_size=batch_size, device=device, dtype=dtype,
        record=record, results=results, max_batch=max_batch, x0_scale=x0_scale, x0_seed=x0_seed,
        problems=prob_entries, optimizers=opt_entries, description=description, exclude_results=list(exclude),
        compile=compile_step,
    )
    if quick:
        spec = spec.quick()
    _dry_run(spec, src, optimizers)
    return spec


def _dry_run(spec: Spec, src: str, optimizers) -> None:
    """Initialise every (problem, optimizer) pair on one run, so that a hyper-parameter, init
    keyword or problem constant the method cannot use is reported before anything runs."""
    import torch

    from .sweep import init_extras

    for i, _ in enumerate(spec.problems):
        prob = spec.problem(i)
        for j, o in enumerate(spec.optimizers):
            loc = f"[[optimizer]] {o.label!r} on [[problem]] {spec.problems[i].label!r}"
            opt = optimizers.get(o.name, **o.options)
            x0 = torch.as_tensor(prob.x_star, dtype=torch.float64)[None, :]
            hp = {k: v[0] for k, v in o.grid.items()}
            for name in opt.problem_kwargs:
                hp.setdefault(name, getattr(prob, name, None))
            norms = torch.ones(1, spec.T, dtype=torch.float64) if o.refine_from is not None else None
            try:
                opt.init(x0, **hp, **init_extras(opt, o, spec.T, norms))
            except (RatecheckError, TypeError) as e:
                raise RatecheckError(f"{src}: {loc}: {e}") from None


def _unique_labels(entries, kind: str, src: str) -> None:
    seen: set[str] = set()
    for e in entries:
        if e.label in seen:
            raise RatecheckError(f"{src}: [[{kind}]] label {e.label!r} is used twice; allowed: distinct labels (set 'label')")
        seen.add(e.label)


def _factory_params(factory) -> tuple[dict[str, inspect.Parameter], bool]:
    """Keyword parameters of a registered factory (a function or a class) and whether it takes **kwargs."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}, True
    params = {n: p for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    varkw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return params, varkw


def _check_kwargs(values: dict, factory, where: str, what: str) -> None:
    """Names must be parameters of the factory; types must match the default's type."""
    params, varkw = _factory_params(factory)
    for k, v in values.items():
        if k not in params:
            if varkw:
                continue
            raise RatecheckError(f"{where}: unknown {what} {k!r}; allowed: {', '.join(params) or '(none)'}")
        default = params[k].default
        if default is inspect.Parameter.empty or default is None:
            continue
        ok = (
            (isinstance(default, bool) and isinstance(v, bool))
            or (_is_int(default) and _is_int(v))
            or (isinstance(default, float) and _is_num(v))
            or (isinstance(default, str) and isinstance(v, str))
            or not isinstance(default, (bool, int, float, str))
        )
        if not ok:
            raise RatecheckError(
                f"{where} {k!r}: expected {_type_name(default)} like the default {_fmt(default)}, got {_type_name(v)} {_fmt(v)}"
            )


def _problem_entry(t: dict, i: int, src: str, oracle: str, batch_size: int, problems) -> ProblemEntry:
    loc = f"[[problem]] #{i + 1}"
    for k in t:
        if k not in PROBLEM_KEYS:
            raise RatecheckError(f"{_where(src, loc)}: unknown key {k!r}; allowed: {', '.join(PROBLEM_KEYS)}")
    name = t.get("name")
    if not isinstance(name, str):
        raise RatecheckError(f"{_where(src, loc, 'name')}: expected a problem name, got {_fmt(name) if name is not None else 'nothing'}; "
                             f"known problems: {', '.join(problems.names())}")
    if name not in problems.names():
        raise RatecheckError(f"{_where(src, loc, 'name')}: unknown problem {name!r}; known problems: {', '.join(problems.names())}")
    loc = f"[[problem]] #{i + 1} ({name})"
    params = t.get("params", {})
    if not isinstance(params, dict):
        raise RatecheckError(f"{_where(src, loc, 'params')}: expected a table like {{ d = 10 }}, got {_type_name(params)} {_fmt(params)}")
    factory = problems.PROBLEMS.get(name)
    _check_kwargs(params, factory, _where(src, loc, "params"), "parameter")
    try:
        prob = factory(**params)
    except RatecheckError as e:
        raise RatecheckError(f"{_where(src, loc, 'params')}: {e}") from None
    except TypeError as e:
        raise RatecheckError(f"{_where(src, loc, 'params')}: {e}") from None
    label = t.get("label", name)
    if not isinstance(label, str) or not label.strip():
        raise RatecheckError(f"{_where(src, loc, 'label')}: expected a non-empty string, got {_fmt(label)}")
    orc = t.get("oracle", oracle)
    if orc not in ORACLES:
        raise RatecheckError(f"{_where(src, loc, 'oracle')}: expected one of the oracles, got {_fmt(orc)}; allowed: {', '.join(ORACLES)}")
    bs = t.get("batch_size", batch_size)
    if not (_is_int(bs) and bs >= 1):
        raise RatecheckError(f"{_where(src, loc, 'batch_size')}: expected an integer >= 1, got {_type_name(bs)} {_fmt(bs)}")
    if orc == "auto":
        orc = "stochastic" if prob.is_finite_sum else "deterministic"
    if orc == "stochastic" and not prob.is_finite_sum:
        raise RatecheckError(
            f"{_where(src, loc, 'oracle')}: {name} is not a finite sum, so it has no stochastic oracle; allowed: deterministic, auto"
        )
    if orc == "stochastic" and bs > prob.n:
        raise RatecheckError(f"{_where(src, loc, 'batch_size')}: {bs} is more than the {prob.n} components of {name}; allowed: 1..{prob.n}")
    return ProblemEntry(name, label, dict(params), orc, bs if orc == "stochastic" else None)


def _optimizer_entries(t: dict, i: int, src: str, optimizers) -> list[OptimizerEntry]:
    loc = f"[[optimizer]] #{i + 1}"
    name = t.get("name")
    if not isinstance(name, str):
        raise RatecheckError(f"{_where(src, loc, 'name')}: expected an optimizer name, got {_fmt(name) if name is not None else 'nothing'}; "
                             f"known optimizers: {', '.join(optimizers.names())}")
    if name not in optimizers.names():
        raise RatecheckError(f"{_where(src, loc, 'name')}: unknown optimizer {name!r}; known optimizers: {', '.join(optimizers.names())}")
    loc = f"[[optimizer]] #{i + 1} ({name})"
    options = t.get("options", {})
    if not isinstance(options, dict):
        raise RatecheckError(f"{_where(src, loc, 'options')}: expected a table like {{ schedule = \"linear\" }}, got {_type_name(options)} {_fmt(options)}")
    factory = optimizers.OPTIMIZERS.get(name)
    # A list-valued option expands to one cell per value.
    opt_keys = list(options)
    opt_values = [v if isinstance(v, list) else [v] for v in options.values()]
    for k, vals in zip(opt_keys, opt_values):
        if not vals:
            raise RatecheckError(f"{_where(src, loc, 'options')} {k!r}: empty list; allowed: a value or a non-empty list")
    label0 = t.get("label")
    if label0 is not None and (not isinstance(label0, str) or not label0.strip()):
        raise RatecheckError(f"{_where(src, loc, 'label')}: expected a non-empty string, got {_fmt(label0)}")
    grid_raw = {k: v for k, v in t.items() if k not in OPTIMIZER_KEYS}
    init = t.get("init", {})
    if not isinstance(init, dict):
        raise RatecheckError(f"{_where(src, loc, 'init')}: expected a table like {{ min_factor = 0.1 }}, got {_type_name(init)} {_fmt(init)}")
    refine_from = t.get("refine_from")
    if refine_from is not None and not isinstance(refine_from, str):
        raise RatecheckError(f"{_where(src, loc, 'refine_from')}: expected the label of an earlier [[optimizer]], got {_fmt(refine_from)}")
    entries = []
    combos = list(itertools.product(*opt_values))
    for combo in combos:
        opts = dict(zip(opt_keys, combo))
        _check_kwargs(opts, factory, _where(src, loc, "options"), "option")
        try:
            opt = factory(**opts)
        except (RatecheckError, TypeError) as e:
            raise RatecheckError(f"{_where(src, loc, 'options')}: {e}") from None
        grid = _hp_grid(grid_raw, opt, src, loc)
        varying = {k: v for k, v, vals in zip(opt_keys, combo, opt_values) if len(vals) > 1}
        if label0 is None:
            label = name + (f"({', '.join(f'{k}={v}' for k, v in opts.items())})" if opts else "")
        else:
            label = label0 + (f" ({', '.join(f'{k}={v}' for k, v in varying.items())})" if varying else "")
        entries.append(OptimizerEntry(name, label, opts, grid, dict(init), refine_from))
    return entries


def _hp_grid(raw: dict, opt, src: str, loc: str) -> dict[str, list[float]]:
    import torch

    hps = dict(opt.hyperparams)
    grid: dict[str, list[float]] = {}
    for k, v in raw.items():
        if k not in hps:
            allowed = ", ".join(list(OPTIMIZER_KEYS) + list(hps))
            raise RatecheckError(f"{_where(src, loc)}: unknown key {k!r} (not a hyper-parameter of {opt.name}); allowed: {allowed}")
        vals = v if isinstance(v, list) else [v]
        if not vals or not all(_is_num(x) for x in vals):
            raise RatecheckError(f"{_where(src, loc, k)}: expected number or list of numbers, got {_fmt(v)}")
        spec = hps[k]
        for x in vals:
            if not (math.isfinite(x) and bool(spec.contains(torch.tensor(float(x), dtype=torch.float64)))):
                raise RatecheckError(f"{_where(src, loc, k)}: {x!r} is out of range; allowed: {_finite_range(spec)}")
        if len(set(vals)) != len(vals):
            raise RatecheckError(f"{_where(src, loc, k)}: values repeat in {_fmt(v)}; allowed: distinct numbers")
        grid[k] = [float(x) for x in vals]
    # A hyper-parameter without a default may still be optional (filled in by the method's
    # init); the dry run in ``_dry_run`` reports the ones that are truly required.
    return grid


def _finite_range(hp) -> str:
    """The interval of a hyper-parameter as a spec may give it: finite values only, so an
    unbounded end is open ('(0, inf)', where ``HP.allowed`` writes the closed '(0, inf]')."""
    lo = "(" if hp.low_open or hp.low == -math.inf else "["
    hi = ")" if hp.high_open or hp.high == math.inf else "]"
    return f"{lo}{hp.low:g}, {hp.high:g}{hi}"
