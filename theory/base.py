"""Result objects, their registry and the per-run, per-step check.

A ``Result`` states one inequality ``observed <= bound`` (or an identity ``observed == bound``)
that a paper proves for an optimizer on a function class. Its ``sides(trace, problem)`` returns
both sides, and the size of the terms they were formed from, in one call (``Sides``), built from
the accessor layer ``theory.access`` and the module's pure functions of sequences.

What a result is (``role``):

- ``Role.THEOREM``: a theorem, lemma or Lyapunov inequality of the paper, or one derived by us
  (proof in docs/theory/); the headline of the check table counts these only;
- ``Role.IMPLEMENTATION``: true by construction of the update (a max, a clamp, a monotone
  recursion): a test of the code, checked and shown apart;
- ``Role.ERRATUM``: a printed statement known to be false: shown, expected to fail, never
  asserted and never counted as a violation.

Where it comes from (``provenance``): [PAPER], [CODE], [SECONDARY], [DERIVED] or [UNVERIFIED]
(shown, never asserted).

When it applies: ``optimizers`` (registered names), ``requires`` (problem tags), ``oracle``, and
``assumptions``: named per-run conditions (a hyper-parameter range, an option that changes the
update, d_0 <= D, ...). A run whose assumption is false is "not checked" with that name as the
reason.

The check (``check``): per run and row, observed <= bound + tol (identities: |observed - bound|
<= tol), with the tolerance of the round-off model of docs/theory/README.md#tolerance:

    tol = u * (C + m) * S

u the unit round-off of the run's dtype, C = 2 ceil(log2 N) + 8 for the reductions over the
problem's N = max(d, n) entries that produced each recorded number, m the number of rounded
terms accumulated into the row (``Sides.terms``), S the sum of the magnitudes of those terms
(``Sides.scale``, at least |observed| + |bound|). A row is informative (checked) only when it is
finite and a violation of 1% would exceed the tolerance: tol <= 0.01 max(|observed|, |bound|)
for a bound, tol <= 0.01 S for an identity. A run with no informative row is "not checked", never
"holds". Results that hold in expectation are checked on the mean over the runs that share all
hyper-parameters (seeds), observed mean - ``margin(n, R)`` standard errors against the mean bound
(a Student t quantile with a Bonferroni split of FAMILY_ALPHA over the R rows tested;
docs/theory/README.md#in-expectation).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from ratecheck.errors import RatecheckError
from ratecheck.registry import Registry

from .access import Unavailable, underflow_floor, unit_roundoff

Z_MARGIN = 3.0  # the one-sided normal level whose tail FAMILY_ALPHA is
FAMILY_ALPHA = 0.5 * math.erfc(Z_MARGIN / math.sqrt(2.0))  # false-alarm level per group and result, all rows together
INFO_FRACTION = 0.01  # a row is informative when a 1% violation would exceed the tolerance
F64 = torch.float64


class Provenance(str, enum.Enum):
    PAPER = "PAPER"
    CODE = "CODE"
    SECONDARY = "SECONDARY"
    DERIVED = "DERIVED"
    UNVERIFIED = "UNVERIFIED"

    @property
    def assertable(self) -> bool:
        return self is not Provenance.UNVERIFIED


class Role(str, enum.Enum):
    THEOREM = "theorem"
    IMPLEMENTATION = "implementation"
    ERRATUM = "erratum"


ITERATES = ("last", "average", "weighted_average", "best", "none")
ORACLES = ("deterministic", "stochastic", "any")
KINDS = ("bound", "identity", "invariant", "lyapunov")

RESULTS: Registry["Result"] = Registry("result", "ratecheck.theory")


@dataclass
class Sides:
    """Both sides of a result on one trace, [T', B] float64 each.

    ``scale``: the magnitude of the terms summed into the two sides (round-off is relative to
    it: cancellation), default |observed| + |bound|; ``terms``: how many rounded terms were
    accumulated into a row (an int, or a tensor broadcasting to [T', B]); NaN on either side
    marks a row with no information (the bound is undefined there, e.g. before a theorem's
    condition on n holds), with ``undefined`` saying why for the report.
    """

    observed: torch.Tensor
    bound: torch.Tensor
    scale: torch.Tensor | None = None
    terms: int | torch.Tensor = 1
    undefined: str = ""
    # Lyapunov inequalities Phi_{t+1} <= Phi_t - Delta_t: Phi_t at the same rows, so that
    # Phi_t - observed (the decrease) can be shown against Phi_t - bound (the guaranteed one).
    before: torch.Tensor | None = None
    # Round-off carried into a row from the run's history, in units of u and added to the tolerance as
    # is (not times C + m): e.g. what an EMA of the optimizer's state accumulates over its updates.
    carried: torch.Tensor | None = None


@dataclass(frozen=True)
class Assumption:
    """A named per-run condition of a result: ``test(trace, problem) -> bool [B]``."""

    name: str
    test: Callable


@dataclass
class Result:
    key: str  # registry name, "<paper>.<short>", e.g. "dadaptation.d_le_D"
    title: str
    paper: str
    arxiv: str
    provenance: Provenance
    source: str  # a file inside the repository (docs/references/..., docs/theory/...#anchor)
    statement: str  # the inequality, in plain math
    optimizers: tuple[str, ...]
    sides: Callable  # (trace, problem) -> Sides
    kind: str = "bound"
    role: Role = Role.THEOREM
    label: str = ""
    requires: frozenset[str] = frozenset()
    oracle: str = "deterministic"
    iterate: str = "last"
    in_expectation: bool = False
    assumptions: tuple[Assumption, ...] = ()
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.provenance = Provenance(self.provenance)
        self.role = Role(self.role)
        for name, val, allowed in (("iterate", self.iterate, ITERATES), ("oracle", self.oracle, ORACLES), ("kind", self.kind, KINDS)):
            if val not in allowed:
                raise RatecheckError(f"{self.key}: {name}={val!r}; allowed: {', '.join(allowed)}")
        self.requires = frozenset(self.requires)
        self.assumptions = tuple(self.assumptions)

    @property
    def asserted(self) -> bool:
        """Checked runs must hold: not [UNVERIFIED], not an erratum."""
        return self.provenance.assertable and self.role is not Role.ERRATUM


@dataclass(frozen=True, eq=False)
class Example:
    """A small run on which ``results`` are checked on most rows (PEPit-style: the guarantee
    beside a concrete instance). The generic test (tests/theory/test_every_result.py) runs every
    example in float64 and float32 and requires each listed result to be checked, to hold (an
    erratum: to fail) and to catch a planted violation just above the tolerance.

    ``hp``: a dict, or ``hp(problem, D) -> dict`` with D = ||x_0 - x*|| of the first run (for
    hyper-parameters stated relative to D); ``derived``: ``derived(problem, D, hp) -> dict``, the
    hyper-parameters a result prescribes from each run's own D [runs] and its other hyper-parameters
    (a tuned step such as MADGRAD's gamma*), applied after ``hp`` and re-applied per candidate by the
    falsify search (which does not vary them); ``batch_size``: None for the deterministic oracle.
    """

    results: tuple[str, ...]
    problem: str
    optimizer: str
    hp: dict | Callable = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    problem_params: dict = field(default_factory=dict)
    T: int = 100
    runs: int = 4
    seed: int = 0
    x0_scale: float = 1.0
    batch_size: int | None = None
    derived: Callable | None = None


EXAMPLES: list[Example] = []


def example(ex: Example) -> Example:
    EXAMPLES.append(ex)
    return ex


def examples() -> list[Example]:
    """Every registered example (importing every theory module first)."""
    RESULTS.names()
    return list(EXAMPLES)


def register(result: Result) -> Result:
    RESULTS.register(result.key, result)
    return result


def get(key: str) -> Result:
    return RESULTS.get(key)


def names() -> list[str]:
    return RESULTS.names()


def why_not_applicable(result: Result, optimizer: str, problem, stochastic: bool) -> str | None:
    """None if ``result`` applies to runs of ``optimizer`` on ``problem``, else the reason."""
    if optimizer not in result.optimizers:
        return f"not a result for {optimizer}"
    missing = sorted(result.requires - set(problem.tags))
    if missing:
        return f"problem tag missing: {', '.join(missing)}"
    if result.oracle == "deterministic" and stochastic:
        return "needs a deterministic oracle"
    if result.oracle == "stochastic" and not stochastic:
        return "needs a stochastic oracle"
    return None


def candidates(optimizer: str, problem, stochastic: bool = False) -> list[tuple[Result, str | None]]:
    """Every result registered for ``optimizer``, with the reason it does not apply (or None)."""
    return [(r, why_not_applicable(r, optimizer, problem, stochastic)) for _, r in RESULTS.items() if optimizer in r.optimizers]


def applicable(optimizer: str, problem, stochastic: bool = False) -> list[Result]:
    """Results registered for ``optimizer`` whose problem tags and oracle match."""
    return [r for r, why in candidates(optimizer, problem, stochastic) if why is None]


@dataclass
class CheckResult:
    """Outcome of one result on one trace, per unit (a run, or a group of seeds in expectation)."""

    result: Result
    holds: torch.Tensor  # bool [U]: no informative row violated (meaningful where checked)
    checked: torch.Tensor  # bool [U]: assumptions held and at least one row was informative
    reasons: list[str]  # [U]: why a unit is not checked ("" where checked)
    rows_checked: torch.Tensor  # int64 [U]: informative rows
    rows: int  # rows evaluated per unit (T')
    worst_ratio: torch.Tensor  # [U] max over informative rows of observed/bound (NaN: none with bound > 0)
    first_violation: torch.Tensor  # int64 [U]: first violated row, -1 if none
    observed: torch.Tensor  # [T', U]
    bound: torch.Tensor  # [T', U]
    tol: torch.Tensor  # [T', U]
    counted: torch.Tensor  # bool [T', U]: rows that were informative and checked
    units: str = "runs"
    before: torch.Tensor | None = None  # [T', B]: Sides.before of a Lyapunov result checked per run

    @property
    def key(self) -> str:
        return self.result.key

    @property
    def provenance(self) -> Provenance:
        return self.result.provenance

    @property
    def role(self) -> Role:
        return self.result.role

    @property
    def violated(self) -> torch.Tensor:
        return self.checked & ~self.holds

    @property
    def all_hold(self) -> bool:
        """Every checked unit holds; False when nothing was checked (no information is no pass)."""
        return bool(self.checked.any()) and not bool(self.violated.any())

    @property
    def fraction_checked(self) -> torch.Tensor:
        return self.rows_checked.to(F64) / max(self.rows, 1)


def depth(problem) -> float:
    """C of the round-off model: 2 ceil(log2 N) + 8, N = max(d, n) (docs/theory/README.md#tolerance)."""
    N = max(int(getattr(problem, "d", 1) or 1), int(getattr(problem, "n", 1) or 1), 2)
    return 2.0 * math.ceil(math.log2(N)) + 8.0


def tolerance(sides: Sides, u: float, C: float) -> torch.Tensor:
    """tol = u (C + m) S + u carried per row, S = |observed| + |bound| + scale."""
    obs, bnd = sides.observed, sides.bound
    S = obs.abs().nan_to_num(0.0, posinf=0.0) + bnd.abs().nan_to_num(0.0, posinf=0.0)
    if sides.scale is not None:
        # an overflowed term (scale = inf) leaves the row without information: tol = inf
        scale = sides.scale.to(F64).abs()
        S = S + torch.where(scale.isnan(), 0.0, scale)
    m = torch.as_tensor(sides.terms, dtype=F64)
    tol = u * (C + m) * S
    if sides.carried is not None:
        carried = sides.carried.to(F64).abs()
        tol = tol + u * torch.where(carried.isnan(), 0.0, carried)
    return tol


def compare(observed: torch.Tensor, bound: torch.Tensor, tol: torch.Tensor, kind: str = "bound", rel: float | torch.Tensor = 0.0,
            floor: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(ok, informative) [T', B] for ``observed <= bound`` (or ``==`` for identities) within ``tol``.

    Not informative: NaN on either side; both sides infinite; for identities any infinite side
    (overflow says nothing about the math); for bounds a bound of +inf (vacuous); and rows whose
    tolerance exceeds INFO_FRACTION of the larger side (identities: of the terms' size, i.e. where
    ``rel`` = u (C + m) > INFO_FRACTION). An infinite observed value against a finite bound is
    informative and fails (a division by zero, a quantity that must stay finite), unless the
    tolerance is infinite too: then a term of the result's scale overflowed, and the inf comes
    from the arithmetic (e.g. L ||x||^2 on a diverging run), not from the inequality. Rows whose
    larger side lies in (0, ``floor``) are not informative either (``access.underflow_floor``:
    the relative round-off model does not hold there).
    """
    finite = observed.isfinite() & bound.isfinite()
    diff = observed - bound
    big = torch.maximum(observed.abs(), bound.abs())
    normal = (big >= floor) | (big == 0)
    if kind == "identity":
        ok = diff.abs() <= tol
        informative = finite & normal & tol.isfinite() & (torch.as_tensor(rel) <= INFO_FRACTION)
    else:
        ok = (diff <= tol) & finite | (observed == -math.inf)
        resolved = tol <= INFO_FRACTION * big
        informative = (finite & normal & resolved) | (observed.isinf() & bound.isfinite() & tol.isfinite())
    return ok, informative


def check(result: Result, trace, problem, perturb: Callable | None = None) -> CheckResult:
    """Evaluate ``result`` on every run and row of ``trace``.

    ``perturb(sides) -> sides``: applied before comparing (mutation tests: a planted false
    bound must be caught). Raises ``Unavailable`` when the trace lacks what the result needs.
    """
    B = trace.batch
    reasons = [""] * B
    applies = torch.ones(B, dtype=torch.bool)
    for a in result.assumptions:
        ok = torch.as_tensor(a.test(trace, problem)).bool().cpu().expand(B)
        for b in torch.nonzero(applies & ~ok).flatten().tolist():
            reasons[b] = f"assumption false: {a.name}"
        applies &= ok
    if bool(applies.any()):
        sides = result.sides(trace, problem)
    else:  # nothing to check, and the sides may not even be defined (a hyper-parameter the run lacks)
        nan = torch.full((int(trace.steps.shape[0]), B), math.nan, dtype=F64)
        sides = Sides(nan, nan)
    if perturb is not None:
        sides = perturb(sides)
    obs, bnd = sides.observed.to(F64), sides.bound.to(F64)
    if obs.shape != bnd.shape:
        raise RatecheckError(f"{result.key}: observed {tuple(obs.shape)} vs bound {tuple(bnd.shape)}")
    sides = replace(sides, observed=obs, bound=bnd)
    dead = _blown_up(trace, obs.shape[0]) if "diverged" in trace else torch.zeros_like(obs, dtype=torch.bool)
    obs = torch.where(dead, math.nan, obs)
    bnd = torch.where(dead, math.nan, bnd)
    tol = tolerance(replace(sides, observed=obs, bound=bnd), unit_roundoff(trace), depth(problem))
    units = "runs"
    if result.in_expectation:
        obs, bnd, tol, applies, reasons, dead = _grouped(obs, bnd, tol, applies, reasons, dead, trace)
        units = "groups"
    rel = unit_roundoff(trace) * (depth(problem) + torch.as_tensor(sides.terms, dtype=F64))
    if result.in_expectation and rel.ndim == 2 and rel.shape[1] > 1:
        rel = rel.amax(dim=1, keepdim=True)
    ok, informative = compare(obs, bnd, tol, "identity" if result.kind == "identity" else "bound", rel, underflow_floor(trace))
    counted = informative & applies[None, :]
    rows_checked = counted.sum(dim=0)
    checked = rows_checked > 0
    for b in range(obs.shape[1]):
        if reasons[b] or checked[b]:
            continue
        if bool(dead[:, b].all()):
            reasons[b] = "diverged before any row"
        elif not bool((obs[:, b].isfinite() & bnd[:, b].isfinite()).any()):
            reasons[b] = "no finite row" + (f" ({sides.undefined})" if sides.undefined else "")
        else:
            reasons[b] = "below round-off resolution on every row"
    bad = counted & ~ok
    holds = ~bad.any(dim=0)
    first = torch.where(holds, -1, bad.to(torch.int64).argmax(dim=0))
    ratio = torch.where(counted & (bnd > 0), obs / bnd, math.nan)
    worst = torch.where(ratio.isnan().all(dim=0), math.nan, ratio.nan_to_num(-math.inf).amax(dim=0))
    before = None if sides.before is None or result.in_expectation else torch.where(dead, math.nan, sides.before.to(F64))
    return CheckResult(result, holds, checked, reasons, rows_checked, obs.shape[0], worst, first, obs, bnd, tol, counted, units, before)


def _blown_up(trace, rows: int) -> torch.Tensor:
    """[rows, B] bool: the run is diverged at this row or was at an earlier one.

    The optimizer flags a run once its iterate, gradient or loss is non-finite, which shows in
    ``trace["diverged"]`` from the next row on; a row whose own recorded distance or value has
    already overflowed (x finite, ||x - x*|| or f(x) = inf) counts too.
    """
    bad = trace["diverged"][:rows] != 0
    for name in ("dist", "subopt"):
        if name in trace:
            bad = bad | trace[name][:rows].isinf()
    return bad.cumsum(dim=0) > 0


def margin(n: int, rows: int) -> float:
    """Standard errors subtracted from a mean over ``n`` seeds tested on ``rows`` rows: the one-sided
    Student t quantile (n - 1 degrees of freedom) at FAMILY_ALPHA / rows (Bonferroni over the rows),
    so that a group whose expected difference is <= 0 on every row is flagged on some row with
    probability <= FAMILY_ALPHA for normal per-run differences (docs/theory/README.md#in-expectation)."""
    from scipy.stats import t as student_t

    if n < 2:
        return math.inf
    return float(student_t.isf(FAMILY_ALPHA / max(rows, 1), n - 1))


def _grouped(obs, bnd, tol, applies, reasons, dead, trace):
    """Group runs by identical hyper-parameters: mean observed - margin(n, R) SE against the mean bound.

    The spread is that of observed - bound (a bound computed from the run's own samples is random
    too, and the theorem is E[observed - bound] <= 0). R is the number of the group's rows with a
    finite difference on every run (the rows that can be tested). A group is checked only where all
    its runs apply and are alive; its tolerance is the mean of its runs' tolerances.
    """
    hp = trace.meta.get("hp", {})
    B = obs.shape[1]
    keys = torch.stack([v.to(F64).cpu() for v in hp.values()], dim=1) if hp else torch.zeros(B, 1, dtype=F64)
    _, inv = torch.unique(keys, dim=0, return_inverse=True)
    G = int(inv.max()) + 1
    outs = {k: [] for k in ("lower", "bnd", "tol", "dead")}
    g_applies, g_reasons = [], []
    for g in range(G):
        m = inv == g
        n = int(m.sum())
        diff = obs[:, m] - bnd[:, m]
        sd = diff.std(dim=1) if n > 1 else torch.full_like(obs[:, 0], math.inf)
        rows = int((diff.isfinite().all(dim=1) & ~dead[:, m].any(dim=1)).sum())
        outs["lower"].append(obs[:, m].mean(dim=1) - margin(n, rows) * sd / math.sqrt(n))
        outs["bnd"].append(bnd[:, m].mean(dim=1))
        outs["tol"].append(tol[:, m].mean(dim=1))
        outs["dead"].append(dead[:, m].any(dim=1))
        g_applies.append(bool(applies[m].all()))
        g_reasons.append(next((reasons[b] for b in torch.nonzero(m).flatten().tolist() if reasons[b]), "")
                         or ("one run per group: no standard error" if n < 2 else ""))
    st = {k: torch.stack(v, dim=1) for k, v in outs.items()}
    ga = torch.tensor(g_applies) & torch.tensor([r == "" for r in g_reasons])
    return st["lower"], st["bnd"], st["tol"], ga, g_reasons, st["dead"]


__all__ = [
    "Assumption", "CheckResult", "Example", "Provenance", "RESULTS", "Result", "Role", "Sides", "Unavailable",
    "applicable", "candidates", "check", "compare", "example", "examples", "get", "margin", "names", "register", "tolerance", "why_not_applicable",
]
