"""Assert a bound in a test: ``assert_holds`` and ``assert_fails``.

    from ratecheck.testing import assert_holds
    assert_holds("my.bound", "my_sgd", problems=["l1_distance"], hp={"lr": [0.1, 1.0]}, seeds=4, T=200)

runs the optimizer on each problem (every hyper-parameter point x every seed as one batch, with
``experiments.runner.run``), checks the result on every run and step (``theory.check``: the
round-off tolerance of docs/theory/README.md#tolerance, informative rows only) and raises
``AssertionError`` when a checked run violates it, or when no run could be checked (no
information is no pass). The message names, per failing problem, the run (seed and
hyper-parameters), the first violated step, observed, bound, their ratio and the tolerance, and
the paths of the failing run's saved trace (``.npz``) and figure (``.png``).

``assert_fails`` is the mutation test: it passes only when some checked run violates the result
(a planted wrong bound, an erratum), so a test suite can show its checks have power.

Where failures are saved: ``out=`` if given; else ``--ratecheck-out`` of the pytest plugin; else,
inside a pytest test, ``ratecheck_failures/<test name>/`` beside the test file; else
``ratecheck_failures/<result key>/`` under the current directory.

Defaults of ``device``/``dtype``: the plugin's ``--ratecheck-device``/``--ratecheck-dtype``,
else cpu and float64.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ratecheck.atomic import atomic_write
from ratecheck.device import resolve_device, resolve_dtype
from ratecheck.errors import RatecheckError
from ratecheck.experiments.runner import run
from ratecheck.experiments.trace import Trace
from ratecheck.optimizers import Optimizer
from ratecheck.optimizers import get as get_optimizer
from ratecheck.problems import PROBLEMS, Problem
from ratecheck.problems import get as get_problem
from ratecheck.theory import CheckResult, Result, Role, Unavailable, check
from ratecheck.theory.base import compare, why_not_applicable
from ratecheck.theory.report import reason_summary
from ratecheck.theory import get as get_result

__all__ = ["Outcome", "assert_fails", "assert_holds", "problems_of_class"]

MAX_LISTED = 5  # failing problems spelled out in a message


@dataclass
class Outcome:
    """One problem's run and check: what ``assert_holds``/``assert_fails`` return per problem."""

    problem: Problem
    trace: Trace
    check: CheckResult | None  # None: not checkable (``reason``)
    reason: str = ""

    @property
    def checked(self) -> int:
        return 0 if self.check is None else int(self.check.checked.sum())

    @property
    def violated(self) -> int:
        return 0 if self.check is None else int(self.check.violated.sum())


def problems_of_class(classes: Iterable[str] = (), *, stochastic: bool = False) -> list[str]:
    """Names of the registered problems whose tags include every one of ``classes`` (finite sums
    only when ``stochastic``)."""
    from ratecheck.problems.base import TAGS

    classes = list(classes)
    bad = sorted(set(classes) - TAGS)
    if bad:
        raise RatecheckError(f"unknown function class {bad[0]!r}; allowed: {', '.join(sorted(TAGS))}")
    want = set(classes) | ({"finite_sum"} if stochastic else set())
    return [n for n in PROBLEMS.names() if want <= get_problem(n).tags]


def assert_holds(result: Result | str, optimizer: str | Optimizer, problems=None, **kw: Any) -> list[Outcome]:
    """Run ``optimizer`` on ``problems`` and assert that ``result`` holds on every checked run.

    ``result``: a ``Result`` or a registered key. ``optimizer``: a registered name or an
    ``Optimizer`` instance (its ``name`` must be one of ``result.optimizers``). ``problems``: a
    name, a ``Problem``, or a list of them; None: every registered problem in the result's class
    (``result.requires``). Keywords: ``hp`` (name -> a value or a list of values, a grid; or a
    callable ``hp(problem) -> dict``), ``options`` (the optimizer's structural options),
    ``seeds`` (a count or a list: one start point and sample stream per seed), ``T``,
    ``dtype``, ``device``, ``batch_size`` (None: full gradients), ``x0_scale``,
    ``keep_iterates``, ``out`` (the failure folder), ``search`` (a falsify budget, e.g. "30s"
    or "200e": after the runs hold, search the result's class for a violating instance).

    Returns one ``Outcome`` per problem. Raises ``AssertionError`` on a violation or when nothing
    was checked; ``RatecheckError`` on bad input (an unknown name, a result that cannot be
    asserted: [UNVERIFIED] or an erratum, a problem outside the result's class).
    """
    res = _result(result)
    if not res.asserted:
        what = "an erratum (use assert_fails)" if res.role is Role.ERRATUM else "[UNVERIFIED]: shown, never asserted"
        raise RatecheckError(f"{res.key} is {what}")
    outcomes = _run_all(res, optimizer, problems, **kw)
    violated = [o for o in outcomes if o.violated]
    unchecked = [o for o in outcomes if not o.checked]
    if not violated and not unchecked:
        if kw.get("search") is not None:
            _search(res, outcomes, kw)
        return outcomes
    out_dir = _failure_dir(kw.get("out"), res)
    head = f"{res.key} [{res.provenance.value}, {res.role.value}]"
    if violated:
        n_chk = sum(o.checked for o in outcomes)
        head += f" VIOLATED on {sum(o.violated for o in violated)} of {n_chk} checked {_units(res)}"
    else:
        head += " was not checked everywhere"
    lines = [head, f"  statement: {res.statement}"]
    for o in violated[:MAX_LISTED]:
        lines.extend(_describe_violation(res, o, out_dir))
    if len(violated) > MAX_LISTED:
        lines.append(f"  ... and {len(violated) - MAX_LISTED} more problems")
    for o in unchecked:
        lines.append(f"  not checked on {o.problem.name}: {o.reason or _reasons(o.check)} (no information is no pass)")
    raise AssertionError("\n".join(lines))


def _search(res: Result, outcomes: list[Outcome], kw: dict) -> None:
    """``search=BUDGET``: after the runs hold, the falsify search (``ratecheck.falsify``) starts
    from the same optimizer, options, first hyper-parameter point, T and seeds, and searches the
    instances of the result's class for a violation; one found fails the test with its instance
    file (replay: ``ratecheck falsify --replay FILE``)."""
    from ratecheck.falsify.search import Budget
    from ratecheck.falsify.search import search as falsify
    from ratecheck.theory import Example

    budget = kw["search"] if isinstance(kw["search"], Budget) else Budget.parse(str(kw["search"]))
    o = outcomes[0]
    hp = kw.get("hp")
    hp = hp(o.problem) if callable(hp) else dict(hp or {})
    seeds = kw.get("seeds", 4)
    ex = Example(results=(res.key,), problem=o.problem.name, optimizer=o.trace.meta.get("optimizer", res.optimizers[0]),
                 hp={k: (v[0] if isinstance(v, (list, tuple)) else v) for k, v in hp.items()}, options=dict(kw.get("options") or {}),
                 T=int(kw.get("T", 200)), runs=seeds if isinstance(seeds, int) else len(list(seeds)), batch_size=kw.get("batch_size"))
    found = falsify(res, budget=budget, example=ex)
    if not found.violated:
        return
    path = found.best.save(_failure_dir(kw.get("out"), res) / "instance.json")
    raise AssertionError(
        f"{res.key} [{res.provenance.value}, {res.role.value}] VIOLATED on an instance found by the falsify search "
        f"({found.seconds:.1f} s, {found.evals} evaluations): family {found.best.family}, ratio {found.best.score:.6g}\n"
        f"  statement: {res.statement}\n  instance: {path} (replay: ratecheck falsify --replay {path})")


def assert_fails(result: Result | str, optimizer: str | Optimizer, problems=None, **kw: Any) -> list[Outcome]:
    """The mutation test: pass only if some checked run violates ``result`` (same arguments as
    ``assert_holds``). Raises ``AssertionError`` naming the checked runs and the worst ratio when
    the result held everywhere it was checked."""
    res = _result(result)
    outcomes = _run_all(res, optimizer, problems, **kw)
    if any(o.violated for o in outcomes):
        return outcomes
    parts = []
    for o in outcomes:
        if o.checked:
            w = o.check.worst_ratio[o.check.checked]
            w = w[~w.isnan()]
            worst = f", worst observed/bound {float(w.max()):.4g}" if w.numel() else ""
            parts.append(f"  {o.problem.name}: held on {o.checked} checked {_units(res)}{worst}")
        else:
            parts.append(f"  {o.problem.name}: not checked: {o.reason or _reasons(o.check)}")
    unit = "group of seeds" if res.in_expectation else "run"
    raise AssertionError(f"{res.key} was expected to fail but no checked {unit} violated it:\n" + "\n".join(parts))


# -- running -------------------------------------------------------------------------------------


def _result(result: Result | str) -> Result:
    if isinstance(result, Result):
        return result
    if isinstance(result, str):
        return get_result(result)
    raise RatecheckError(f"result must be a ratecheck.theory.Result or a registered key; got {type(result).__name__}")


def _units(res: Result) -> str:
    return "groups of seeds" if res.in_expectation else "runs"


def _problems(res: Result, problems, stochastic: bool) -> list[Problem]:
    if problems is None:
        names = problems_of_class(res.requires, stochastic=stochastic)
        if not names:
            raise RatecheckError(f"no registered problem has the tags {sorted(res.requires)} that {res.key} requires")
        return [get_problem(n) for n in names]
    if isinstance(problems, (str, Problem)):
        problems = [problems]
    out = []
    for p in problems:
        if isinstance(p, str):
            p = get_problem(p)
        elif not isinstance(p, Problem):
            raise RatecheckError(f"problems must be names or ratecheck Problem objects; got {type(p).__name__}")
        out.append(p)
    if not out:
        raise RatecheckError("problems is empty; allowed: None (the result's class), a name, a Problem, or a list")
    return out


def _grid(hp: dict[str, Any], S: int) -> tuple[dict[str, torch.Tensor], int]:
    """Per-run values [P * S] and P, grid-major: run b = (grid point b // S, seed b % S)."""
    values = {k: (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in hp.items()}
    points = list(itertools.product(*values.values()))
    per_run = {k: torch.tensor([float(p[i]) for p in points for _ in range(S)], dtype=torch.float64) for i, k in enumerate(values)}
    return per_run, len(points)


def _run_all(res: Result, optimizer, problems, *, hp: dict | Callable | None = None, options: dict | None = None,
             seeds: int | Iterable[int] = 4, T: int = 200, dtype=None, device=None, batch_size: int | None = None,
             x0_scale: float = 1.0, keep_iterates: bool = False, out=None, search=None) -> list[Outcome]:
    opt = optimizer if isinstance(optimizer, Optimizer) else get_optimizer(optimizer, **(options or {}))
    if isinstance(optimizer, Optimizer) and options:
        raise RatecheckError("options= applies to an optimizer given by name; this one is already built")
    if opt.name not in res.optimizers:
        raise RatecheckError(f"{res.key} is a result for {', '.join(res.optimizers)}; got optimizer {opt.name!r}")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise RatecheckError(f"seeds={seeds!r} gives no run; allowed: a count >= 1 or a list of ints")
    defaults = _plugin_defaults()
    dev = resolve_device(device if device is not None else defaults.get("device") or "cpu")
    dt = resolve_dtype(dtype if dtype is not None else defaults.get("dtype") or "float64")
    stochastic = batch_size is not None
    outcomes = []
    for pb in _problems(res, problems, stochastic):
        why = why_not_applicable(res, opt.name, pb, stochastic)
        if why is not None:
            raise RatecheckError(f"{res.key} does not apply to problem {pb.name!r}: {why}")
        grid, P = _grid(hp(pb) if callable(hp) else dict(hp or {}), len(seed_list))
        seed_t = torch.tensor(seed_list * P)
        x0 = torch.stack([pb.x0(1, scale=x0_scale, seed=int(s), dtype=torch.float64)[0] for s in seed_t]).to(dev, dt)
        init = dict(grid)
        if getattr(opt, "schedule", None) is not None:
            init.setdefault("T", T)  # methods with a schedule need the horizon (as the spec runner)
        trace = run(pb, opt, x0, T, hp=init, seeds=seed_t, batch_size=batch_size, keep_iterates=keep_iterates)
        try:
            outcomes.append(Outcome(pb, trace, check(res, trace, pb)))
        except Unavailable as e:
            outcomes.append(Outcome(pb, trace, None, str(e)))
    return outcomes


def _reasons(c: CheckResult | None) -> str:
    return (reason_summary(c.reasons) if c is not None else "") or "no informative row"


# -- failure reports -------------------------------------------------------------------------------


def _unit_label(res: Result, o: Outcome, u: int) -> tuple[str, dict[str, float]]:
    """('run 5 (seed 1)', its hyper-parameters) or, in expectation, the group's."""
    hp = {k: v.to(torch.float64) for k, v in o.trace.meta.get("hp", {}).items()}
    if not res.in_expectation:
        seed = o.trace.meta["seeds"][u] if o.trace.meta.get("seeds") is not None else u
        return f"run {u} (seed {int(seed)})", {k: float(v[u]) for k, v in hp.items()}
    # theory.check groups runs by identical hyper-parameters, in torch.unique's (sorted) order
    keys = torch.stack(list(hp.values()), dim=1) if hp else torch.zeros(o.trace.batch, 1, dtype=torch.float64)
    point = torch.unique(keys, dim=0)[u]
    return f"group {u} (mean over seeds)", {k: float(point[i]) for i, k in enumerate(hp)}


def _describe_violation(res: Result, o: Outcome, out_dir: Path) -> list[str]:
    c = o.check
    viol = torch.nonzero(c.violated).flatten()
    ratio = c.worst_ratio[viol].nan_to_num(math.inf)
    u = int(viol[int(ratio.argmax())])  # the worst violated unit
    label, hp = _unit_label(res, o, u)
    row = int(c.first_violation[u])
    step = int(o.trace.steps[row]) if row < len(o.trace.steps) else row
    obs, bnd, tol = (float(t[row, u]) for t in (c.observed, c.bound, c.tol))
    r = obs / bnd if bnd > 0 else math.nan
    hp_s = ", ".join(f"{k}={v:.6g}" for k, v in hp.items()) or "defaults"
    base = out_dir / f"{_safe(o.problem.name)}-{'group' if res.in_expectation else 'run'}{u}"
    trace_path, fig_path = _save(res, o, u, base)
    return [
        f"  {o.problem.name}: {int(c.violated.sum())} of {int(c.checked.sum())} violated; worst: {label}, {hp_s}",
        f"    first violation at step {step}: observed {obs:.6g} {'!=' if res.kind == 'identity' else '>'} bound {bnd:.6g} "
        f"(ratio {r:.4g}, tolerance {tol:.2g}); "
        f"worst ratio over the run {float(c.worst_ratio[u]):.4g}",
        f"    trace: {trace_path}",
        f"    figure: {fig_path}",
    ]


def _save(res: Result, o: Outcome, u: int, base: Path) -> tuple[Path, Path]:
    """The failing unit's sides and (for a run) its recorded trace as .npz, and its figure."""
    c = o.check
    arrays = {"steps": o.trace.steps.numpy()[: c.observed.shape[0]]}
    for name in ("observed", "bound", "tol"):
        arrays[name] = getattr(c, name)[:, u].numpy()
    arrays["counted"] = c.counted[:, u].numpy()
    if not res.in_expectation:
        for k, v in o.trace.data.items():
            arrays[f"trace/{k}"] = v[:, u].to(torch.float64).numpy()
    meta = {"result": res.key, "statement": res.statement, "provenance": res.provenance.value, "problem": o.problem.name,
            "optimizer": o.trace.meta.get("optimizer"), "unit": u, "units": c.units, "dtype": o.trace.meta.get("dtype"),
            "hp": _unit_label(res, o, u)[1], "options": {k: repr(v) for k, v in o.trace.meta.get("options", {}).items()}}
    arrays["meta"] = np.array(json.dumps(meta))

    def write(f):
        np.savez(f, **arrays)

    trace_path = atomic_write(base.with_suffix(".npz"), write)
    return trace_path, _figure(res, o, u, base.with_suffix(".png"))


def _figure(res: Result, o: Outcome, u: int, path: Path) -> Path:
    from ratecheck.figures.style import BOUND_STYLE, color, save, subplots

    c = o.check
    steps = o.trace.steps.numpy()[: c.observed.shape[0]]
    obs, bnd = c.observed[:, u].numpy(), c.bound[:, u].numpy()
    ok, _ = compare(c.observed[:, u], c.bound[:, u], c.tol[:, u], "identity" if res.kind == "identity" else "bound")
    bad = (c.counted[:, u] & ~ok).numpy()
    fig, (ax, axr) = subplots(2, ncols=2, size=(4.2, 3.0))
    ax.plot(steps, obs, color=color(0), label="observed")
    ax.plot(steps, bnd, color=color(1), label="bound", **BOUND_STYLE)
    ax.scatter(steps[bad], obs[bad], color=color(3), s=8, zorder=3, label="violated")
    if np.all(obs[np.isfinite(obs)] > 0) and np.all(bnd[np.isfinite(bnd)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(f"{res.key} on {o.problem.name}, {'group' if res.in_expectation else 'run'} {u}")
    ax.legend()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bnd > 0, obs / bnd, np.nan)
    axr.plot(steps, ratio, color=color(0))
    axr.axhline(1.0, color=color(7), linewidth=0.8)
    axr.set_xlabel("step")
    axr.set_title("observed / bound")
    return save(fig, path)


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)


def _plugin_defaults() -> dict[str, Any]:
    plugin = sys.modules.get("ratecheck.pytest_plugin")
    return dict(getattr(plugin, "OPTIONS", {}) or {})


def _failure_dir(out, res: Result) -> Path:
    if out is not None:
        return Path(out)
    defaults = _plugin_defaults()
    test = defaults.get("current_test")  # (test file, test name), set by the plugin during a test
    if defaults.get("out"):
        return Path(defaults["out"]) / _safe(test[1] if test else res.key)
    if test is not None:
        return Path(test[0]).parent / "ratecheck_failures" / _safe(test[1])
    return Path.cwd() / "ratecheck_failures" / _safe(res.key)
