"""The search objective: a candidate's score is ``theory.check(result, run).worst_ratio``.

The search and ``ratecheck check`` therefore agree by construction: the same runner produces the
trace, the same ``Result.sides`` and the same tolerance decide; a candidate whose run breaks one
of the result's named ``assumptions`` is "not checked" there and scores -inf, so a violation is
never an instance outside the theorem's class. The score is max over informative rows of
observed / bound; where no informative row has a positive bound (invariants such as -s_n <= 0,
identities of negative terms) it is 1 + max (observed - bound - tol)/(|observed| + |bound| + tol),
about 1 at equality. ``violated`` is the check's own verdict (observed > bound + tol on an informative row),
and a violated candidate with no finite score scores +inf.

A ``Template`` is what a result is run with: one of its registered ``Example`` runs (optimizer,
options, hyper-parameters, T, oracle). A ``Space`` maps a latent vector per candidate to a start
point and hyper-parameters on one problem instance, inside the ranges the theorem allows:

- x_0 = x* + R exp(z_r) u/||u||, R = 1 + ||x*|| (the library's default start radius);
- d_0 (a fraction of D = ||x_0 - x*||, as the examples state it): D exp(log f + z), capped at D
  when the result assumes d_0 <= D (e^3 D otherwise: an estimate started far above D);
- G, G_inf (bounds on the gradients): the example's value (the problem's Lipschitz constant)
  times exp(|z|) <= e^10, never below it;
- other positive hyper-parameters: times exp(z), z in [-3, 3], clipped into the declared range;
  ones in [0, 1) (momentum, betas): logit shifted by z; a hyper-parameter that is 0, a flag in
  [0, 1], an unbounded one (lb, tau0) or an infinite one keeps the example's value (assumptions
  such as "beta = 0" name them);
- hyper-parameters the example derives (``Example.derived``, e.g. a tuned step gamma*(D, G)):
  recomputed per candidate from its own D and hyper-parameters, never varied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ratecheck import optimizers
from ratecheck.errors import RatecheckError, unknown
from ratecheck.theory import base as tb
from ratecheck.theory.access import Unavailable

from . import families as fam

F64 = torch.float64
T_MAX = 1024
R_LOG = (-4.0, 3.0)  # log of the start radius relative to 1 + ||x*||
POS_LOG = 3.0
G_LOG = 10.0  # G up to e^10 times the Lipschitz constant: far above the gradients is inside the theorems' range
D0_LOG_MIN = math.log(1e-8)
D0_FREE_CAP = math.exp(POS_LOG)  # d_0 / D at most, where the result does not assume d_0 <= D


@dataclass(frozen=True)
class Template:
    """One registered example of ``result``: the optimizer and settings a candidate runs with."""

    result: tb.Result
    example: tb.Example

    @property
    def stochastic(self) -> bool:
        return self.example.batch_size is not None

    @property
    def group(self) -> int:
        """Runs per candidate: the example's seeds for results that hold in expectation, else 1."""
        return max(self.example.runs, 2) if self.result.in_expectation else 1

    def fixed_T(self, hp: dict) -> bool:
        """T cannot change when an hp holds a per-step array (a refined schedule's norms)."""
        return any(isinstance(v, torch.Tensor) and v.ndim >= 1 and self.example.T in v.shape[-1:] for v in hp.values())


EXAMPLES = ("own", "others", "all")


def templates(result: tb.Result, optimizer: str | None = None, examples: str = "own") -> list[Template]:
    """Registered example runs as templates: ``own`` the result's, ``others`` those of other results
    for the same optimizers that exhibit no erratum (no hint from an example built to show a false
    statement), ``all`` both; restricted to ``optimizer`` if given."""
    from ratecheck.theory.base import examples as all_examples

    if examples not in EXAMPLES:
        raise unknown("examples", examples, EXAMPLES)
    own = lambda ex: result.key in ex.results
    # an example built to exhibit a false statement (it lists an erratum) is a hint too
    exhibits = lambda ex: any(tb.get(k).role is tb.Role.ERRATUM for k in ex.results)
    pick = {"own": own, "others": lambda ex: not own(ex) and not exhibits(ex), "all": lambda ex: True}[examples]
    out = [Template(result, ex) for ex in all_examples() if ex.optimizer in result.optimizers and pick(ex)]
    if optimizer is not None:
        if optimizer not in result.optimizers:
            raise RatecheckError(f"--optimizer {optimizer!r} is not an optimizer of {result.key}; allowed: {', '.join(result.optimizers)}")
        out = [t for t in out if t.example.optimizer == optimizer]
        if not out:
            raise RatecheckError(f"{result.key} has no registered example run with {optimizer}; the search starts from one")
    if not out:
        raise RatecheckError(f"{result.key} has no registered example run; the search starts from one")
    return out


def eligible_families(tpl: Template, allowed: list[str] | None = None) -> list[fam.Family]:
    """Families whose instances can carry the result's required tags (and a finite sum if stochastic)."""
    need = set(tpl.result.requires) | ({"finite_sum"} if tpl.stochastic else set())
    fams = [fam.get(n) for n in (allowed or fam.names())]
    return [f for f in fams if need <= f.tags]


def _assumes_d0_le(result: tb.Result) -> bool:
    return any(a.name.startswith("d0 <=") for a in result.assumptions)


@dataclass
class Space:
    """Latent z [B, m] -> (x_0 [B*group, d], hp) on one problem instance, for one template."""

    tpl: Template
    problem: object
    T: int
    base_hp: dict  # the example's hp evaluated on this problem (per example run, or scalars)
    varied: list[str] = field(default_factory=list)  # hyper-parameters the latent moves
    d0_cap: float = 1.0
    R: float = 1.0  # 1 + ||x*||: the scale of start radii
    opt: object = None

    @classmethod
    def make(cls, tpl: Template, problem, T: int) -> "Space":
        ex = tpl.example
        R = 1.0 + float(np.linalg.norm(problem.x_star))
        hp = ex.hp(problem, R) if callable(ex.hp) else dict(ex.hp)
        if "T" in hp and hp["T"] == ex.T:
            hp["T"] = T
        opt = optimizers.get(ex.optimizer, **ex.options)
        derived = set(ex.derived(problem, torch.tensor([R], dtype=F64), hp)) if ex.derived is not None else set()
        varied = []
        for k, v in hp.items():
            spec = opt.hyperparams.get(k)
            if spec is None or k in derived:
                continue
            vals = torch.as_tensor(v, dtype=F64).reshape(-1)
            flag = spec.low == 0.0 and spec.high == 1.0 and not spec.high_open
            if flag or not math.isfinite(spec.low) or not bool(torch.isfinite(vals).all()) or bool((vals == 0).any()):
                continue
            varied.append(k)
        return cls(tpl, problem, T, hp, varied, 1.0 if _assumes_d0_le(tpl.result) else D0_FREE_CAP, R, opt)

    @property
    def dim(self) -> int:
        return self.problem.d + 1 + len(self.varied) + getattr(self.problem, "n_latent", 0)

    def random(self, B: int, rng: np.random.Generator) -> torch.Tensor:
        z = rng.standard_normal((B, self.dim))
        z[:, self.problem.d] = rng.uniform(*R_LOG, B)
        for i, k in enumerate(self.varied):
            lo, hi = {"d0": (-8.0, 5.0), "G": (0.0, G_LOG), "G_inf": (0.0, G_LOG)}.get(k, (-POS_LOG, POS_LOG))
            z[:, self.problem.d + 1 + i] = rng.uniform(lo, hi, B)
        return torch.tensor(z, dtype=F64)

    def _base(self, k: str, idx: torch.Tensor) -> torch.Tensor:
        v = torch.as_tensor(self.base_hp[k], dtype=F64).reshape(-1)
        return v[idx % v.numel()]

    def decode(self, z: torch.Tensor, idx: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """(x_0 [B*group, d], hp) for latents z [B, m]; ``idx`` [B] picks the example run whose
        hyper-parameters a candidate starts from (default: b mod runs)."""
        B, d = z.shape[0], self.problem.d
        idx = torch.arange(B) if idx is None else idx
        u = z[:, :d]
        u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True).clamp_min(1e-300)
        r = self.R * torch.exp(z[:, d].clamp(*R_LOG))
        xs = torch.as_tensor(self.problem.x_star, dtype=F64)
        x0 = xs[None, :] + r[:, None] * u
        D = torch.linalg.vector_norm(x0 - xs[None, :], dim=1)
        hp = {k: v for k, v in self.base_hp.items()}
        for i, k in enumerate(self.varied):
            zk = z[:, d + 1 + i]
            base = self._base(k, idx)
            spec = self.opt.hyperparams[k]
            if k == "d0":
                frac = torch.log(base / self.R) + zk
                v = D * torch.exp(frac.clamp(D0_LOG_MIN, math.log(self.d0_cap)))
            elif k in ("G", "G_inf"):
                v = base * torch.exp(zk.abs().clamp(max=G_LOG))
            elif spec.high == 1.0 and spec.low == 0.0:  # [0, 1): momentum, betas
                p = base.clamp(1e-6, 1 - 1e-6)
                v = torch.sigmoid(torch.log(p / (1 - p)) + zk).clamp(max=1 - 1e-9)
            else:
                v = base * torch.exp(zk.clamp(-POS_LOG, POS_LOG))
                lo = spec.low * (1 + 1e-12) if spec.low_open else spec.low
                hi = spec.high if math.isfinite(spec.high) else math.inf
                v = v.clamp(min=max(lo, 0.0), max=hi)
            hp[k] = v
        runs = self.tpl.example.runs
        for k, v in list(hp.items()):
            # per-run settings of the example (a tensor [runs, ...]): candidate b takes row b mod runs
            if k not in self.varied and isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] == runs and runs > 1:
                hp[k] = v[idx % runs]
        if self.tpl.example.derived is not None:  # prescribed from each candidate's own D and hyper-parameters
            hp.update(self.tpl.example.derived(self.problem, D, hp))
        g = self.tpl.group
        if g > 1:
            x0 = x0.repeat_interleave(g, dim=0)
            hp = {k: v.repeat_interleave(g, dim=0) if isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] == B else v
                  for k, v in hp.items()}
        return x0, hp


@dataclass
class Evaluation:
    score: torch.Tensor  # [B] worst ratio per candidate (-inf: not checked)
    violated: torch.Tensor  # bool [B]
    check: tb.CheckResult | None
    trace: object
    error: str = ""
    problem: object = None  # the problem the scored runs used (a fixed one where the family is adaptive)


def perturbation(factor: float):
    """``perturb`` for ``theory.check``: the bound tightened by (1 - factor) of its magnitude,
    bound - (1 - factor)|bound| (= factor * bound for a positive bound; a bound <= 0, as in
    "-s_n <= 0", moves down too, so a factor below 1 always plants a stronger, false statement)."""
    if factor == 1.0:
        return None
    return lambda s: replace(s, bound=s.bound - (1.0 - factor) * s.bound.abs())


def _margin(c: tb.CheckResult) -> torch.Tensor:
    """[U] 1 + max over informative rows of (observed - bound - tol)/(|observed| + |bound| + tol)
    (identities: |observed - bound|): the score where no informative row has a positive bound (so no
    ratio); about 1 at equality, above 1 exactly when the check reports a violation."""
    gap = c.observed - c.bound
    if c.result.kind == "identity":
        gap = gap.abs()
    m = 1.0 + (gap - c.tol) / (c.observed.abs() + c.bound.abs() + c.tol)
    m = torch.where(c.counted & m.isfinite(), m, -math.inf)
    return m.amax(dim=0)


def run_candidates(space: Space, x0: torch.Tensor, hp: dict, seed: int = 0, problem=None):
    """The run of the candidates, exactly as ``runner.run`` records it (iterates kept)."""
    from ratecheck.experiments.runner import run

    ex = space.tpl.example
    n = x0.shape[0]
    seeds = (torch.arange(n) + seed) if ex.batch_size else None
    return run(problem or space.problem, space.opt, x0, space.T, hp=hp, batch_size=ex.batch_size, seeds=seeds, keep_iterates=True)


def evaluate(space: Space, x0: torch.Tensor, hp: dict, factor: float = 1.0, seed: int = 0,
             z: torch.Tensor | None = None) -> Evaluation:
    """Run the candidates and check the result on them; scores per candidate (group).

    An adaptive family (``families.AdaptiveMaxAffine``) builds each candidate's function along a
    first run from the last columns of its latent ``z``; the candidates are then re-run on those
    fixed functions, and that rerun is what is checked and scored (-inf where it does not
    reproduce the first run's iterates bit for bit)."""
    B = x0.shape[0] // space.tpl.group
    pb, built = space.problem, None
    try:
        if getattr(pb, "adaptive", False):
            pb.start(z[:, z.shape[1] - pb.n_latent:], x0, space.T)
            built = run_candidates(space, x0, hp, seed).iterates["x"]
            pb = pb.fixed()
        tr = run_candidates(space, x0, hp, seed, pb)
        if space.tpl.result.in_expectation:
            # the check groups runs by identical hyper-parameters; two candidates can share them (both
            # clipped to a range's end) while their start points differ: one group per candidate
            tr.meta["hp"] = {**tr.meta["hp"], "candidate": torch.arange(B).repeat_interleave(space.tpl.group).to(F64)}
        c = tb.check(space.tpl.result, tr, pb, perturbation(factor))
    except (Unavailable, RatecheckError) as e:
        ninf = torch.full((B,), -math.inf, dtype=F64)
        return Evaluation(ninf, torch.zeros(B, dtype=torch.bool), None, None, str(e))
    ratio, viol = c.worst_ratio, c.violated & c.checked
    if not space.tpl.result.in_expectation:
        ratio = torch.where(ratio.isnan() & c.checked, _margin(c), ratio)
    if space.tpl.result.in_expectation:
        ratio, viol = _per_group(tr, ratio, viol, B, space.tpl.group)
    score = torch.where(c.checked if not space.tpl.result.in_expectation else ~ratio.isnan(), ratio, -math.inf)
    score = torch.where(score.isnan(), -math.inf, score)
    # violated where no row has a positive bound (a bound of 0 or below): no ratio, still a violation
    score = torch.where(viol & ~torch.isfinite(score), math.inf, score)
    if built is not None:
        same = (tr.iterates["x"] == built).flatten(start_dim=2).all(dim=2).all(dim=0)
        score, viol = torch.where(same, score, -math.inf), viol & same
    return Evaluation(score, viol, c, tr, problem=pb)


def _per_group(tr, ratio, viol, B, g):
    """Map the check's groups (ordered as ``torch.unique`` of the hyper-parameters) back to candidates."""
    hp = tr.meta.get("hp", {})
    keys = torch.stack([v.to(F64).detach().cpu() for v in hp.values()], dim=1)
    _, inv = torch.unique(keys, dim=0, return_inverse=True)
    first = inv[::g]
    return ratio[first], viol[first]
