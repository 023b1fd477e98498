"""Adversarial search: maximise observed / bound of a result over concrete instances.

Each restart takes a template (one of the result's registered example runs, each in turn, in a
shuffled order) and screens SCREEN random instances — a family whose instances carry the result's
problem tags, its parameters, a horizon T (the example's T times 1, 2, 4 or 8 with probability
~ 1/factor, at most ``T_max``) — with one batch of B candidates each (start point and
hyper-parameters, ``objective.Space``), then refines the best:

1. random: B latents drawn from the space's ranges (the screening);
2. CMA-ES (the ``cma`` package; derivative-free, population B) from the restart's best latent;
   (results of kind invariant: the refined candidates once more at T_max, ``_extend``);
3. normalised gradient ascent through the run with torch autograd, on the latents and on the
   family's own tensors (gradients, weights, spectrum, design), projected back into the family
   after each step; skipped where the score carries no gradient (a recurrence that is not
   differentiable, e.g. a max with no tie-breaking gradient, or sides computed off the graph).

A restart takes at most RESTART_SHARE of a budget in seconds. Where the adaptive family (the
resisting oracle, ``families.AdaptiveMaxAffine``) fits the result's tags it is drawn for
ADAPTIVE_SHARE of the instances; its candidates are scored on the fixed functions their runs built,
and a new best is kept only if the saved plain instance replays to the same verdict and ratio.

The score of a candidate is the check's worst ratio (``objective.evaluate``), so a candidate
outside the theorem's assumptions scores -inf. The search stops at the first violation
(``stop_on_violation``) or when the budget (seconds and/or evaluations of B candidates) is spent.
The best candidate is returned as an ``instance.Instance`` that replays with one run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ratecheck import theory
from ratecheck.errors import RatecheckError, out_of_range, unknown
from ratecheck.theory.base import why_not_applicable

from . import families as fam
from .instance import Instance
from .objective import T_MAX, Space, Template, eligible_families, evaluate, templates

METHODS = ("auto", "random", "cma", "grad")
SCREEN = 3  # random instances screened per restart; the best is refined
CMA_GENERATIONS = 6
GRAD_STEPS = 8
GRAD_LR = 0.2
CONFIRM_SEEDS = 64
T_FACTORS = np.array([1, 2, 4, 8])
T_WEIGHTS = (1.0 / T_FACTORS) / (1.0 / T_FACTORS).sum()
RESTART_SHARE = 1 / 3  # of a budget in seconds, at most, per restart
ADAPTIVE_SHARE = 0.5  # of the instances drawn, where the adaptive family (the resisting oracle) is eligible


@dataclass
class Budget:
    seconds: float | None = None
    evals: int | None = None

    def __post_init__(self):
        if self.seconds is None and self.evals is None:
            raise RatecheckError("a budget needs seconds or evaluations")
        if self.seconds is not None and not self.seconds > 0:
            raise out_of_range("budget seconds", self.seconds, "(0, inf)")
        if self.evals is not None and self.evals < 1:
            raise out_of_range("budget evaluations", self.evals, "integers >= 1")

    @classmethod
    def parse(cls, text: str) -> "Budget":
        """'30s', '2m', '30' (seconds) or '200e' / '200evals' (evaluations of B candidates)."""
        t = str(text).strip().lower()
        try:
            if t.endswith(("evals", "e")):
                return cls(evals=int(t.rstrip("evals") or "x"))
            if t.endswith("m"):
                return cls(seconds=60.0 * float(t[:-1]))
            return cls(seconds=float(t.rstrip("s")))
        except ValueError:
            raise RatecheckError(f"--budget {text!r} is not a budget; allowed: SECONDS (e.g. 30, 30s, 2m) or EVALS (e.g. 200e)") from None


@dataclass
class Finding:
    result: str
    factor: float
    best: Instance | None
    violated: bool
    evals: int
    seconds: float
    restarts: int
    history: list[tuple[float, int, float]] = field(default_factory=list)  # (seconds, evals, best score so far)

    @property
    def score(self) -> float:
        return self.best.score if self.best is not None else -math.inf


class _Search:
    def __init__(self, result, tpls, families, budget, seed, B, method, factor, stop, T_max, progress):
        self.result, self.tpls, self.families = result, tpls, families
        self.budget, self.B, self.method, self.factor, self.stop, self.T_max = budget, B, method, factor, stop, T_max
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.progress = progress
        self.t0 = time.perf_counter()
        self.evals = 0
        self.best: Instance | None = None
        self.history: list[tuple[float, int, float]] = []
        self.violated = False
        self.turns: list[int] = []
        self.last_eval_s = 0.0  # seconds of the last evaluation (``_extend`` projects its own from it)

    def spent(self) -> bool:
        b = self.budget
        if self.stop and self.violated:
            return True
        if b.evals is not None and self.evals >= b.evals:
            return True
        return b.seconds is not None and time.perf_counter() - self.t0 >= b.seconds

    def over(self) -> bool:
        """The budget is spent, or this restart had its share of a budget in seconds (an expensive
        instance, a long T, does not take the whole budget from the others)."""
        s = self.budget.seconds
        return self.spent() or (s is not None and time.perf_counter() - self.t_restart >= RESTART_SHARE * s)

    def _record(self, space, family, params_of, z, ev, seed) -> None:
        self.evals += 1
        score = ev.score.detach()
        if not bool(torch.isfinite(score).any()) and not bool(ev.violated.any()):
            self._log()
            return
        # a violation beats any ratio (the check's verdict, not the ratio, decides)
        key = torch.where(ev.violated, math.inf, score.nan_to_num(-math.inf))
        b = int(torch.argmax(key))
        better = self.best is None or (bool(ev.violated[b]) and not self.best.violated) or (
            bool(ev.violated[b]) == self.best.violated and float(score[b]) > self.best.score)
        if better:
            x0, hp = space.decode(z.detach()[b : b + 1], torch.tensor([b]))
            adaptive = isinstance(ev.problem, fam.BatchedMaxAffine)  # saved as the plain function the rerun met
            family, params = ("max_affine", ev.problem.plain(b)) if adaptive else (family, params_of())
            inst = Instance.of(space, family, params, x0, hp, b, seed, float(score[b]), bool(ev.violated[b]), self.factor)
            if adaptive and not _replays(inst, self.result, ev.check, b):
                self._log()
                return
            if inst.violated and self.result.in_expectation and not self._confirmed(inst):
                self._log()
                return
            self.best = inst
            self.violated = self.violated or self.best.violated
        self._log()

    def _confirmed(self, inst: Instance) -> bool:
        """An in-expectation check is a one-sided test at margin(n, R) standard errors; maximising over many groups of seeds
        selects its false positives, so a violation counts only if CONFIRM_SEEDS fresh seeds agree."""
        _, _, c = inst.with_fresh_seeds(CONFIRM_SEEDS).replay(self.result)
        return bool(c.violated.any())

    def _log(self):
        s = self.best.score if self.best is not None else -math.inf
        self.history.append((time.perf_counter() - self.t0, self.evals, s))
        if self.progress is not None:
            self.progress(self.history[-1], self.best)

    def _instance(self, tpl: Template, fams: list, grad: bool):
        """(family, params, problem, space) of a random applicable instance, or None."""
        for _ in range(50):
            adv = [f for f in fams if f.name == "adaptive"]
            rest = [f for f in fams if f.name != "adaptive"] or adv
            family = adv[0] if adv and self.rng.random() < ADAPTIVE_SHARE else rest[self.rng.integers(len(rest))]
            params = family.sample(self.rng)
            pb = family.build(params, requires_grad=grad)
            if why_not_applicable(self.result, tpl.example.optimizer, pb, tpl.stochastic) is not None:
                continue
            try:  # the example's hp may read a constant this instance lacks (L of a non-smooth problem)
                space = Space.make(tpl, pb, tpl.example.T)
            except (TypeError, AttributeError, ValueError):
                continue
            if not tpl.fixed_T(space.base_hp):
                # a run costs about T: multiplier m drawn with probability ~ 1/m, the same expected time at
                # each (short runs: more instances per second; long ones reach the late rows of rates)
                space = Space.make(tpl, pb, min(self.T_max, tpl.example.T * int(self.rng.choice(T_FACTORS, p=T_WEIGHTS))))
            return family, params, pb, space
        return None

    def restart(self) -> None:
        """Screen SCREEN random instances with one random batch each; refine the best one."""
        self.t_restart = time.perf_counter()
        if not self.turns:  # every template in turn, in a shuffled order: none waits for a lucky draw
            self.turns = list(self.rng.permutation(len(self.tpls)))
        tpl: Template = self.tpls[self.turns.pop()]
        fams = eligible_families(tpl, self.families)
        if not fams:
            raise RatecheckError(f"no family carries the tags {sorted(tpl.result.requires)} of {self.result.key}; "
                                 f"families: {', '.join(f'{f.name} ({sorted(f.tags)})' for f in (fam.get(n) for n in (self.families or fam.names())))}")
        grad = self.method in ("auto", "grad")
        best = None
        for _ in range(SCREEN):
            inst = self._instance(tpl, fams, grad)
            if inst is None or self.over():
                break
            family, params, pb, space = inst
            ev = self._evaluator(family, params, pb, space)
            with torch.no_grad():
                z = space.random(self.B, self.rng)
                out = ev(z)
            i = int(torch.argmax(out.score))
            if best is None or float(out.score[i]) > best[0]:
                best = (float(out.score[i]), inst, ev, z[i])
        if best is None or self.over() or best[0] == -math.inf:
            return
        _, (family, params, pb, space), ev, zbest = best
        if self.method in ("auto", "cma") and space.dim > 1:
            # no gradient phase on the adaptive family: its GRAD_STEPS evaluations go to CMA-ES
            zbest = self._cma(space, ev, zbest, CMA_GENERATIONS + (GRAD_STEPS if getattr(pb, "adaptive", False) else 0))
        self._extend(family, params, pb, space, zbest)
        if self.over() or not grad or getattr(pb, "adaptive", False):  # no gradient through the choice of pieces
            return
        self._grad(space, family, pb, ev, zbest)

    def _extend(self, family, params, pb, space, z0) -> None:
        """An invariant's refined candidates once more at T_max (B jittered copies of the best latent).

        An invariant is checked at every row, and a run of T_max steps repeats the first T rows of the
        T-step run (the same oracle and hyper-parameters), so its worst ratio does not fall with T unless
        an assumption read over the whole run fails on the longer one; the estimate invariants of
        D-Adaptation approach their bound slowly in T (1-D |x|, docs/theory/dadaptation.md#estimate-invariants).
        Not where the run depends on T (a horizon hp, a per-step array, the adaptive family's phases)
        or the oracle samples. It may exceed the restart's share (it is one evaluation) but runs only if
        its projected time (the last evaluation's, times T_max/T) fits in what is left of the budget."""
        tpl = space.tpl
        if (self.result.kind != "invariant" or space.T >= self.T_max or tpl.stochastic or "T" in space.base_hp
                or tpl.fixed_T(space.base_hp) or getattr(pb, "adaptive", False) or self.spent()):
            return
        left = None if self.budget.seconds is None else self.budget.seconds - (time.perf_counter() - self.t0)
        if left is not None and self.last_eval_s * self.T_max / space.T > left:
            return
        long = Space.make(tpl, pb, self.T_max)
        gen = torch.Generator().manual_seed(int(self.rng.integers(2**31)))
        z = z0[None, :] + 0.05 * torch.randn(self.B, z0.numel(), dtype=torch.float64, generator=gen)
        z[0] = z0
        with torch.no_grad():
            self._evaluator(family, params, pb, long)(z)

    def _evaluator(self, family, params, pb, space):
        """z -> evaluation of the candidates on this instance, each recorded (best kept)."""
        seed = int(self.rng.integers(2**31))

        def params_of():
            p = dict(params)
            for k, v in pb.leaves.items():
                p[k] = v.detach().tolist()
            return p

        def ev(z):
            t = time.perf_counter()
            x0, hp = space.decode(z)
            out = evaluate(space, x0, hp, self.factor, seed, z)
            self.last_eval_s = time.perf_counter() - t
            self._record(space, family.name, params_of, z, out, seed)
            return out
        return ev

    def _cma(self, space, ev, z0, generations):
        import cma

        es = cma.CMAEvolutionStrategy(z0.numpy(), 1.0, {"popsize": self.B, "seed": int(self.rng.integers(1, 2**31)), "verbose": -9})
        best, zbest = -math.inf, z0
        for _ in range(generations):
            Z = torch.tensor(np.asarray(es.ask()), dtype=torch.float64)
            with torch.no_grad():
                out = ev(Z)
            s = out.score.nan_to_num(-math.inf)
            es.tell(list(Z.numpy()), list((-s.clamp(min=-1e30)).numpy()))
            i = int(torch.argmax(s))
            if float(s[i]) > best:
                best, zbest = float(s[i]), Z[i]
            if self.over():
                break
        return zbest

    def _grad(self, space, family, pb, ev, z0):
        """Normalised gradient ascent on the latents (B jittered copies of the best; each row its own
        step) and on the family's tensors, projected back into the family after each step. A
        normalised step suits piecewise-linear runs (max-affine oracles) whose gradients jump."""
        gen = torch.Generator().manual_seed(int(self.rng.integers(2**31)))
        z = (z0[None, :] + 0.05 * torch.randn(self.B, z0.numel(), dtype=torch.float64, generator=gen)).requires_grad_(True)
        leaves = list(pb.leaves.values())
        for i in range(GRAD_STEPS):
            out = ev(z)
            ok = torch.isfinite(out.score)
            if not bool(ok.any()) or not out.score.requires_grad:
                return
            try:
                out.score[ok].sum().backward()
            except RuntimeError:  # an in-place update on the graph (per-sample state): not differentiable here
                return
            lr = GRAD_LR * (1.0 - i / GRAD_STEPS)
            with torch.no_grad():
                gz = z.grad.nan_to_num(0.0, posinf=0.0, neginf=0.0)
                z += lr * gz / torch.linalg.vector_norm(gz, dim=1, keepdim=True).clamp_min(1e-300)
                for p in leaves:
                    if p.grad is not None:
                        gp = p.grad.nan_to_num(0.0, posinf=0.0, neginf=0.0)
                        p += lr * gp / torch.linalg.vector_norm(gp).clamp_min(1e-300) * torch.linalg.vector_norm(p).clamp_min(1.0) * 0.1
                        p.grad = None
                z.grad = None
            family.project(pb)
            if self.over():
                return


def _replays(inst: Instance, result, c, b: int) -> bool:
    """The saved instance, re-run alone, gives the batch's verdict and worst ratio for candidate b."""
    _, _, r = inst.replay(result)
    w0, w = r.worst_ratio[0], c.worst_ratio[b]
    return bool(r.violated.any()) == bool(c.violated[b]) and (bool(w0 == w) or bool(w0.isnan() & w.isnan()))


def search(result, *, families: list[str] | None = None, optimizer: str | None = None, budget: Budget | str = "60",
           seed: int = 0, B: int = 32, method: str = "auto", factor: float = 1.0, stop_on_violation: bool = True,
           T_max: int = T_MAX, examples: str = "own", progress: Callable | None = None, example=None) -> Finding:
    """Search instances that maximise the worst ratio of ``result`` (a key or a Result).

    ``factor``: the bound is multiplied by it (a planted false bound below 1); ``families``:
    restrict to these families; ``optimizer``: to this optimizer's examples; ``examples``: which
    registered example runs serve as templates (``objective.templates``); ``example``: a
    ``theory.Example`` to start from instead (``ratecheck.testing.assert_holds(search=...)``).
    """
    r = theory.get(result) if isinstance(result, str) else result
    if method not in METHODS:
        raise unknown("method", method, METHODS)
    if not 0 < factor:
        raise out_of_range("factor", factor, "(0, inf)")
    if B < 2:
        raise out_of_range("B", B, "integers >= 2")
    for f in families or ():
        fam.get(f)
    budget = budget if isinstance(budget, Budget) else Budget.parse(budget)
    tpls = [Template(r, example)] if example is not None else templates(r, optimizer, examples)
    s = _Search(r, tpls, families, budget, seed, B, method, factor, stop_on_violation, T_max, progress)
    restarts = 0
    while not s.spent():
        s.restart()
        restarts += 1
    return Finding(r.key, factor, s.best, s.violated, s.evals, time.perf_counter() - s.t0, restarts, s.history)
