"""Result objects, their registry and the per-run, per-step check.

A ``Result`` states one inequality ``observed(trace) <= bound(trace)`` (or an identity
``observed == bound``) that a paper proves for an optimizer on a function class, with:

- ``paper``, ``arxiv``, ``label`` (as printed, or "" if not known), ``provenance`` and
  ``source`` (which version / file / page it was read from, or docs/theory/<paper>.md#anchor
  for [DERIVED] results);
- ``optimizers``: the registered optimizer names it applies to; ``requires``: problem tags
  that must all be present; ``oracle``: "deterministic", "stochastic" or "any";
- ``iterate``: which iterate the left side measures (last, average, weighted, best, none);
- ``in_expectation``: if True, the check is on the mean over runs with the same
  hyper-parameters (seeds), with a one-sided margin of ``Z_MARGIN`` standard errors added to
  the observed mean (never a looser bound).

The one float tolerance of the package is ``RTOL`` (relative, float64): observed <= bound
holds when observed - bound <= RTOL * (|observed| + |bound|) + ATOL. ``ATOL`` only absorbs
round-off around values that are exactly zero in exact arithmetic.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ratecheck.errors import RatecheckError
from ratecheck.registry import Registry

RTOL = 1e-9
ATOL = 1e-12
Z_MARGIN = 3.0  # one-sided, for results that hold in expectation


class Provenance(str, enum.Enum):
    PAPER = "PAPER"
    CODE = "CODE"
    SECONDARY = "SECONDARY"
    DERIVED = "DERIVED"
    UNVERIFIED = "UNVERIFIED"

    @property
    def assertable(self) -> bool:
        return self is not Provenance.UNVERIFIED


ITERATES = ("last", "average", "weighted_average", "best", "none")
ORACLES = ("deterministic", "stochastic", "any")
KINDS = ("bound", "identity", "invariant", "lyapunov")

RESULTS: Registry["Result"] = Registry("result", "ratecheck.theory")


@dataclass
class Result:
    key: str  # registry name, "<paper>.<short>", e.g. "dadaptation.d_le_D"
    title: str
    paper: str
    arxiv: str
    provenance: Provenance
    source: str
    statement: str  # the inequality, in plain math
    optimizers: tuple[str, ...]
    observed: Callable  # (trace, problem) -> Tensor [T', B]
    bound: Callable  # (trace, problem) -> Tensor [T', B]
    kind: str = "bound"
    label: str = ""
    requires: frozenset[str] = frozenset()
    oracle: str = "deterministic"
    iterate: str = "last"
    in_expectation: bool = False
    # Optional: (trace, problem) -> Tensor [B] bool; runs where the assumptions of the
    # result do not hold (e.g. a step size above its allowed range) are not checked.
    applies: Callable | None = None
    # Optional: (trace, problem) -> Tensor [T', B] >= 0, the magnitude of the terms that were
    # added to form observed/bound; round-off is relative to it (cancellation), see ``compare``.
    scale: Callable | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.provenance = Provenance(self.provenance)
        for name, val, allowed in (("iterate", self.iterate, ITERATES), ("oracle", self.oracle, ORACLES), ("kind", self.kind, KINDS)):
            if val not in allowed:
                raise RatecheckError(f"{self.key}: {name}={val!r}; allowed: {', '.join(allowed)}")
        self.requires = frozenset(self.requires)


_CACHE = "_per_check_cache"


def per_trace(fn: Callable) -> Callable:
    """Memoise ``fn(trace, *args)`` for the duration of one ``check``: a result's observed,
    bound and scale are often three views of one computation (both sides of an identity),
    which would otherwise run three times."""

    @functools.wraps(fn)
    def wrapper(trace, *args):
        cache = trace.__dict__.setdefault(_CACHE, {})
        key = (fn.__module__, fn.__qualname__, *(a if isinstance(a, (str, int, float)) else id(a) for a in args))
        if key not in cache:
            cache[key] = fn(trace, *args)
        return cache[key]

    return wrapper


def register(result: Result) -> Result:
    RESULTS.register(result.key, result)
    return result


def get(key: str) -> Result:
    return RESULTS.get(key)


def names() -> list[str]:
    return RESULTS.names()


def applicable(optimizer: str, problem, stochastic: bool = False) -> list[Result]:
    """Results registered for ``optimizer`` whose assumptions the problem's tags satisfy."""
    out = []
    for _, r in RESULTS.items():
        if optimizer not in r.optimizers or not r.requires <= problem.tags:
            continue
        if r.oracle == "deterministic" and stochastic or r.oracle == "stochastic" and not stochastic:
            continue
        out.append(r)
    return out


@dataclass
class CheckResult:
    """Per-run outcome of one result on one trace."""

    key: str
    provenance: Provenance
    holds: torch.Tensor  # bool [B] (or [groups] for in-expectation results)
    worst_ratio: torch.Tensor  # max_t observed/bound [B] (nan where bound <= 0 everywhere)
    first_violation: torch.Tensor  # int64 [B], -1 if none
    checked: torch.Tensor  # bool [B]: the result applied to this run
    observed: torch.Tensor  # [T', B]
    bound: torch.Tensor  # [T', B]

    @property
    def all_hold(self) -> bool:
        return bool(self.holds[self.checked].all())

    @property
    def asserted(self) -> bool:
        return self.provenance.assertable


def compare(observed: torch.Tensor, bound: torch.Tensor, kind: str = "bound", scale: torch.Tensor | None = None) -> torch.Tensor:
    """Elementwise pass/fail [T', B] with the package tolerance.

    Rows without information pass: NaN on either side (no data), both sides infinite (an
    overflowed run: inf - inf says nothing), for identities any infinite side (the two sides
    are the same number computed two ways; overflow in one says nothing about the math), and,
    for bounds, a bound of +inf (vacuous). An infinite observed value against a finite bound
    fails.

    ``scale``: magnitude of the terms summed into observed/bound (default 0); the relative
    tolerance applies to |observed| + |bound| + scale, never to anything larger.
    """
    mag = observed.abs() + bound.abs()
    if scale is not None:
        mag = mag + scale.abs().nan_to_num(0.0)
    slack = RTOL * mag + ATOL
    diff = observed - bound
    ok = diff.abs() <= slack if kind == "identity" else diff <= slack
    # An infinite side would make the relative slack infinite: decide those rows exactly.
    finite = observed.isfinite() & bound.isfinite()
    ok = (ok & finite) | (observed == -torch.inf if kind != "identity" else torch.zeros_like(ok))
    no_info = observed.isnan() | bound.isnan() | (observed.isinf() & bound.isinf())
    if kind == "identity":
        no_info = no_info | ~finite
    else:
        no_info = no_info | (bound == torch.inf)
    return ok | no_info


def check(result: Result, trace, problem) -> CheckResult:
    """Evaluate ``result`` on every run and step of ``trace``.

    Diverged rows and rows after divergence are excluded; runs where ``applies`` is False are
    reported as not checked.
    """
    # ``per_trace`` memos share work between this result's observed, bound and scale only:
    # a trace may be edited between checks (its metadata, in tests), so none outlives a check.
    trace.__dict__.pop(_CACHE, None)
    try:
        return _check(result, trace, problem)
    finally:
        trace.__dict__.pop(_CACHE, None)


def _check(result: Result, trace, problem) -> CheckResult:
    obs = result.observed(trace, problem).to(torch.float64)
    bnd = result.bound(trace, problem).to(torch.float64)
    if obs.shape != bnd.shape:
        raise RatecheckError(f"{result.key}: observed {tuple(obs.shape)} vs bound {tuple(bnd.shape)}")
    B = obs.shape[1]
    checked = torch.ones(B, dtype=torch.bool) if result.applies is None else result.applies(trace, problem).bool()
    if "diverged" in trace:
        alive = ~_blown_up(trace, obs.shape[0])
        obs = torch.where(alive, obs, torch.nan)
        bnd = torch.where(alive, bnd, torch.nan)
    scale = None
    if result.scale is not None and not result.in_expectation:
        scale = result.scale(trace, problem).to(torch.float64)
    if result.in_expectation:
        obs, bnd, checked = _mean_with_margin(obs, bnd, checked, trace)
    ok = compare(obs, bnd, result.kind, scale)
    holds = ok.all(dim=0)
    bad_rows = (~ok).to(torch.int64)
    first = torch.where(holds, -1, bad_rows.argmax(dim=0))
    ratio = torch.where(bnd > 0, obs / bnd, torch.nan)
    worst = torch.where(ratio.isnan().all(dim=0), torch.nan, ratio.nan_to_num(-torch.inf).amax(dim=0))
    return CheckResult(result.key, result.provenance, holds, worst, first, checked, obs, bnd)


def _blown_up(trace, rows: int) -> torch.Tensor:
    """[rows, B] bool: the run is diverged at this row or was at an earlier one.

    The optimizer flags a run once its iterate, gradient or loss is non-finite, which shows in
    ``trace["diverged"]`` from the next row on; a row whose own recorded distance or value has
    already overflowed (x finite, ||x - x*|| or f(x) = inf) counts too, since nothing computed
    from it is meaningful in float64.
    """
    bad = trace["diverged"][:rows] != 0
    for name in ("dist", "subopt"):
        if name in trace:
            bad = bad | trace[name][:rows].isinf()
    return bad.cumsum(dim=0) > 0


def _mean_with_margin(obs, bnd, checked, trace):
    """Group runs by identical hyper-parameters; compare mean + Z*SE against the mean bound."""
    hp = trace.meta.get("hp", {})
    B = obs.shape[1]
    keys = torch.stack([v.to(torch.float64) for v in hp.values()], dim=1) if hp else torch.zeros(B, 1)
    groups, inv = torch.unique(keys, dim=0, return_inverse=True)
    G = groups.shape[0]
    m_obs = torch.stack([obs[:, inv == g].mean(dim=1) for g in range(G)], dim=1)
    # The spread of observed - bound: a bound computed from the run's own samples (observed
    # gradient norms) is random too, and the theorem is E[observed - bound] <= 0.
    diff = obs - bnd
    sd = torch.stack([diff[:, inv == g].std(dim=1) if int((inv == g).sum()) > 1 else torch.full_like(obs[:, 0], torch.inf) for g in range(G)], dim=1)
    n = torch.tensor([int((inv == g).sum()) for g in range(G)], dtype=torch.float64)
    m_bnd = torch.stack([bnd[:, inv == g].mean(dim=1) for g in range(G)], dim=1)
    # The bound must exceed the lower confidence limit of the mean: a violation is reported
    # only when the observed mean is above the bound by more than Z standard errors.
    lower = m_obs - Z_MARGIN * sd / n.sqrt()
    chk = torch.stack([checked[inv == g].all() for g in range(G)])
    return lower, m_bnd, chk
