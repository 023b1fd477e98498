"""MADGRAD and MirrorMADGRAD (Defazio & Jelassi, arXiv 2101.11075), batched.

Three methods:

- ``madgrad``: the authors' PyTorch code (``madgrad`` 1.3, ``madgrad/madgrad.py``) [CODE];
- ``mirror_madgrad``: the authors' mirror-descent variant (``madgrad/mirror_madgrad.py``) [CODE];
- ``madgrad_paper``: the analysed variant, with the ``G`` term in the denominator and
  lambda-weighted primal averaging, as in the derived convergence theorem of
  ``docs/references/madgrad.md`` §4.3 [SECONDARY for the G term; DERIVED for the indexing].

Each run of a batch is independent: hyper-parameters are tensors [B] and every operation is
elementwise or reduces over the last dim only.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import TypedDict

import torch

from ratecheck.errors import out_of_range

from .base import (HP, NO_OUT, BaseState, DecayPaths, Optimizer, cube_root, decay_paths, nonneg, per_run, positive, register,
                   scaled_sum, unit)

_FLAG = HP(0.0, 0.0, 1.0, doc="0 or 1")


# Under torch.compile inductor inlines an elementwise value into each of its readers unless it
# realizes it; a Newton step of the cube root reads the previous one twice, so the expression
# tree of the step doubles per Newton step. Realizing values of more than 20 operations (the
# cube root's intermediates: a loop of their own) compiles MADGRAD in 12-16 s instead of 19-22 s
# (float32, float64; inductor's caches off) and runs its compiled step at [256 x 200] in 0.27 ms
# instead of 0.32; at B*d = 1e7 the two are equal within the noise (2026-12-07, 2-core CPU).
_COMPILE_OPTIONS = MappingProxyType({"realize_cpu_opcount_threshold": 20})


def _check_flag(opt: Optimizer, name: str, v: torch.Tensor) -> None:
    ok = (v == 0) | (v == 1)
    if not bool(ok.all()):
        raise out_of_range(f"{opt.name}: {name}", v[~ok][0].item(), "0 (off) or 1 (on)")


def _denominator(nu: torch.Tensor, eps: torch.Tensor, eps_zero: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(raw, guarded): raw = nu^(1/3) + eps; guarded replaces exact zeros (eps = 0, coordinate
    never touched) by +inf so those coordinates do not move, as the authors' code does. Without
    a run with eps = 0 (``eps_zero`` False) raw > 0 or NaN everywhere and the guard is skipped."""
    raw = cube_root(nu) + per_run(eps)
    return raw, (torch.where(raw == 0, torch.full_like(raw, math.inf), raw) if eps_zero else raw)


def _extremes(nu: torch.Tensor, raw: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
    """info ``denom_min`` and ``denom_max``: min and max over coordinates of raw = nu^(1/3) + eps.

    Under ``torch.compile`` they are the cube roots of nu's min and max, plus eps (x -> x^(1/3)
    + eps is non-decreasing; the computed roots are within 1.75 u, ``cube_root``): inductor
    reduces nu, the new state it stores anyway, in the loop that computes it, where a reduction
    of raw had a loop of its own that stored the cube roots ([B, d]) for it (MirrorMADGRAD's
    compiled step at B*d = 1e7)."""
    if torch.compiler.is_compiling():
        lo, hi = cube_root(torch.stack((nu.amin(dim=-1), nu.amax(dim=-1)))) + eps  # one cube root: compile time
        return {"denom_min": lo, "denom_max": hi}
    return {"denom_min": raw.amin(dim=-1), "denom_max": raw.amax(dim=-1)}


def _paths(hp: dict[str, torch.Tensor]) -> dict[str, bool]:
    """The step's branches, decided once at init: the decay branches (``decay_paths``) and
    ``eps_zero`` (some run needs the zero-denominator guard)."""
    return {**decay_paths(hp, "decouple_decay"), "eps_zero": bool((hp["eps"] == 0).any())}


def _paths_of(state: dict) -> dict[str, bool]:
    return {k: state[k] for k in ("coupled_wd", "decoupled_wd", "eps_zero")}


def _effective_lr(lr: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    # The authors' code adds eps to a non-zero lr "for stability"; lr = 0 stays 0.
    return torch.where(lr != 0, lr + eps, lr)


Tensor = torch.Tensor


class PathsState(BaseState, DecayPaths):
    eps_zero: bool  # the step's branches are decided once at init (``_paths``)


class MADGRADState(PathsState):
    x0: Tensor
    s: Tensor
    nu: Tensor


class MirrorMADGRADState(PathsState):
    z: Tensor
    v: Tensor


class MADGRADPaperState(BaseState):
    x0: Tensor
    s: Tensor
    nu: Tensor
    S: Tensor


# "lambda" is a keyword, so these info declarations use the functional form.
MADGRADInfo = TypedDict(
    "MADGRADInfo", {"lr": Tensor, "lr_eff": Tensor, "lambda": Tensor, "denom_min": Tensor, "denom_max": Tensor}
)
MADGRADPaperInfo = TypedDict(
    "MADGRADPaperInfo",
    {"lr": Tensor, "lambda": Tensor, "c": Tensor, "S": Tensor, "denom_min": Tensor, "denom_max": Tensor},
)


@register("madgrad")
class MADGRAD(Optimizer):
    """MADGRAD as in the authors' code (``madgrad.MADGRAD``, package 1.3) [CODE].

    With k the step counter (from 0), c = 1 - momentum and lr' = lr + eps (lr' = 0 if lr = 0):

        g_k     = grad + wd * x_k                        (coupled decay, decouple_decay = 0)
        lam_k   = lr' * sqrt(k + 1)
        nu      += lam_k * g_k^2 ;   s += lam_k * g_k
        z       = x0 - s / (nu^(1/3) + eps)               (entries with a zero denominator: z = x0)
        x_{k+1} = (1 - c) * x_k + c * z
        x_{k+1} -= lr' * wd * x_k                          (decouple_decay = 1)

    Reference: Defazio & Jelassi, "Adaptivity without Compromise", arXiv 2101.11075;
    facebookresearch/madgrad ``madgrad/madgrad.py`` (1.3).

    Two places where the authors' code has a special path, and what this port does:

    - momentum = 0: the code keeps no x0 and recovers it each step as p + s/denominator. That is
      x0 unless decoupled decay moved p, in which case the recovered point drifts by
      -lr' * wd * x_k per step. The port stores x0 and applies that drift explicitly to the
      runs with momentum 0 and decoupled decay, so it follows the code's trajectory without
      dividing by the denominator. The code's recovery divides 0/0 when eps = 0 on a coordinate
      that never had a gradient (at least the first step), giving NaN; the port does not
      reproduce that NaN (there s = 0, so the recovered offset is 0).
    - eps = 0: zero denominators become +inf, so never-touched coordinates stay put (as the code).

    info: ``lr`` (nominal), ``lr_eff`` (lr + eps quirk), ``lambda`` (lam_k), ``denom_min`` and
    ``denom_max`` (min/max over coordinates of nu_{k+1}^(1/3) + eps, before the zero guard).
    """

    name = "madgrad"
    reference = "Defazio & Jelassi, arXiv 2101.11075; facebookresearch/madgrad 1.3 (madgrad.py)"
    hyperparams = {
        "lr": nonneg(1e-2, "step size; the code uses lr + eps when lr > 0"),
        "momentum": unit(0.9, "primal-averaging momentum; c = 1 - momentum"),
        "weight_decay": nonneg(0.0, "L2 weight decay"),
        "eps": nonneg(1e-6, "added to the cube-root denominator (and to lr)"),
        "decouple_decay": _FLAG,
    }
    state_type = MADGRADState
    compile_options = _COMPILE_OPTIONS
    info_type = MADGRADInfo
    donates = True
    example_hp = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3, "eps": 1e-6}

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        _check_flag(self, "decouple_decay", hp["decouple_decay"])
        return {"x0": x0.clone(), "s": torch.zeros_like(x0), "nu": torch.zeros_like(x0), **_paths(hp)}

    def _step(self, state, grad, loss, out=NO_OUT):
        hp = state["hp"]
        x, x0, k = state["x"], state["x0"], state["k"]
        eps, wd, mom = hp["eps"], hp["weight_decay"], hp["momentum"]
        decouple = hp["decouple_decay"] != 0
        lr_eff = _effective_lr(hp["lr"], eps)
        lam = lr_eff * (k + 1) ** 0.5
        c = 1 - mom
        g = torch.where(per_run(decouple), grad, grad + per_run(wd) * x) if state["coupled_wd"] else grad
        tmp = torch.mul(per_run(lam), g, out=out.get("tmp"))  # the workspace: lam g, (lam g) g, then z
        s = torch.add(state["s"], tmp, out=out.get("s"))
        nu = torch.add(state["nu"], torch.mul(tmp, g, out=out.get("tmp")), out=out.get("nu"))
        raw, den = _denominator(nu, eps, state["eps_zero"])
        z = torch.sub(x0, torch.div(s, den, out=out.get("tmp")), out=out.get("tmp"))
        x_new = scaled_sum(x, per_run(1 - c), per_run(c), z, out=out.get("x"), scratch=out.get("tmp"))
        x0_new = x0
        if state["decoupled_wd"]:
            shrink = per_run(torch.where(decouple, lr_eff * wd, torch.zeros_like(wd))) * x
            x_new = x_new - shrink
            # With momentum 0 the code re-derives x0 from p, so decoupled decay moves it too.
            x0_new = torch.where(per_run(mom == 0), x0 - shrink, x0)
        info = {
            "lr": hp["lr"],
            "lr_eff": lr_eff,
            "lambda": lam,
            **_extremes(nu, raw, eps),
        }
        return {"x": x_new, "x0": x0_new, "s": s, "nu": nu, **_paths_of(state)}, info


@register("mirror_madgrad")
class MirrorMADGRAD(Optimizer):
    """MirrorMADGRAD as in the authors' code (``madgrad.MirrorMADGRAD``, package 1.3) [CODE].

    With k from 0, c = 1 - momentum, lr' = lr + eps (lr' = 0 if lr = 0), v_0 = 0, z_0 = x_0:

        z       -= lr' * wd * z                          (decouple_decay = 1, before the step)
        g_k     = grad + wd * x_k                         (decouple_decay = 0)
        v       = sqrt(k / (k+1)) * v + g_k^2
        z       -= lr' * (k+1)^(1/3) * g_k / (v^(1/3) + eps)   (zero denominators: no move)
        x_{k+1} = (1 - c) * x_k + c * z

    Equivalently [DERIVED, docs/references/madgrad.md §3] v_{k+1} = (k+1)^(-1/2) sum_{i<=k} sqrt(i+1) g_i^2.

    Reference: facebookresearch/madgrad ``madgrad/mirror_madgrad.py`` (1.3); arXiv 2101.11075.

    info: ``lr``, ``lr_eff``, ``lambda`` (lr' * (k+1)^(1/3), the step multiplier),
    ``denom_min``, ``denom_max`` (over coordinates of v^(1/3) + eps, before the zero guard).
    """

    name = "mirror_madgrad"
    reference = "facebookresearch/madgrad 1.3 (mirror_madgrad.py); arXiv 2101.11075"
    hyperparams = {
        "lr": nonneg(1e-2, "step size; the code uses lr + eps when lr > 0"),
        "momentum": unit(0.9, "primal-averaging momentum; c = 1 - momentum"),
        "weight_decay": nonneg(0.0, "L2 weight decay"),
        "eps": nonneg(0.0, "added to the cube-root denominator (and to lr)"),
        "decouple_decay": _FLAG,
    }
    state_type = MirrorMADGRADState
    compile_options = _COMPILE_OPTIONS
    donates = True
    info_type = MADGRADInfo
    example_hp = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3, "eps": 0.0}

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        _check_flag(self, "decouple_decay", hp["decouple_decay"])
        return {"z": x0.clone(), "v": torch.zeros_like(x0), **_paths(hp)}

    def _step(self, state, grad, loss, out=NO_OUT):
        hp = state["hp"]
        x, z, k = state["x"], state["z"], state["k"]
        eps, wd, mom = hp["eps"], hp["weight_decay"], hp["momentum"]
        decouple = hp["decouple_decay"] != 0
        lr_eff = _effective_lr(hp["lr"], eps)
        ratio = _decay_ratio(k, lr_eff)
        lam = lr_eff * (k + 1) ** (1 / 3)
        c = 1 - mom
        if state["decoupled_wd"]:
            z = torch.where(per_run(decouple), z + per_run(-lr_eff * wd) * z, z)
        g = torch.where(per_run(decouple), grad, grad + per_run(wd) * x) if state["coupled_wd"] else grad
        tmp = out.get("tmp")
        v = scaled_sum(state["v"], ratio, g, g, out=out.get("v"), scratch=tmp)
        raw, den = _denominator(v, eps, state["eps_zero"])
        # -(lr' mult) rounds as the code's (-lr') mult (the sign is exact); under torch.compile
        # the step then reads the realized info entry instead of a power per vector of entries.
        z = torch.add(z, torch.mul(per_run(-lam), torch.div(g, den, out=tmp), out=tmp), out=out.get("z"))
        x_new = scaled_sum(x, per_run(1 - c), per_run(c), z, out=out.get("x"), scratch=tmp)
        info = {
            "lr": hp["lr"],
            "lr_eff": lr_eff,
            "lambda": lam,
            **_extremes(v, raw, eps),
        }
        return {"x": x_new, "z": z, "v": v, **_paths_of(state)}, info


def _decay_ratio(k: int, like: torch.Tensor) -> float | torch.Tensor:
    """sqrt(k / (k + 1)), MirrorMADGRAD's decay of v (the authors' code: ``math.pow(k/(k+1), 1/2)``).

    Eager: that power of a Python float, as the code. Under ``torch.compile`` k is symbolic, and
    inductor would evaluate the factor inside the step's loop, once per vector of entries (with
    ``-fmath-errno`` a libm call cannot be hoisted out of it): there it is ``math.sqrt`` of the
    ratio as a per-run column of ``like``'s dtype (``base.per_run``, computed once per step). The
    column rounds the factor to the dtype as multiplying by the Python float does; sqrt is
    correctly rounded and glibc's pow has an error below 1 ulp, so the two differ by at most
    1 ulp, far inside the compiled step's tolerance (relative 1e-12 in float64, ``compiled``)."""
    if torch.compiler.is_compiling():
        return per_run(torch.full_like(like, math.sqrt(k / (k + 1))))
    return (k / (k + 1)) ** 0.5


_AVERAGING = ("lambda", "constant")


@register("madgrad_paper")
class MADGRADPaper(Optimizer):
    """MADGRAD as analysed: the G term in the denominator, no eps, no lr + eps quirk.

    With lam_i = lr * sqrt(i+1), S_k = sum_{i<=k} lam_i, z_0 = x_0, s_0 = nu_0 = 0, step k:

        s_{k+1}  = s_k + lam_k g_k ;   nu_{k+1} = nu_k + lam_k g_k^2
        d_{k+1}  = (lam_{k+1} G^2 + nu_{k+1})^(1/3)
        z_{k+1}  = x_0 - s_{k+1} / d_{k+1}
        x_{k+1}  = (1 - c_{k+1}) x_k + c_{k+1} z_{k+1}

    with c_{k+1} = lam_{k+1} / S_{k+1} (``averaging="lambda"``, the analysed choice, so that
    x_k = S_k^{-1} sum_{i<=k} lam_i z_i) or c = 1 - momentum (``averaging="constant"``).

    Provenance: the G term and its omission from Algorithm 1 are [SECONDARY] (a third-party
    note quoting the paper); the paper's own index on lam in the G term is [UNVERIFIED]. The
    indexing here is the one of the derived theorem in docs/references/madgrad.md §4.3 [DERIVED],
    whose bound (needs |g_{k,j}| <= G) the theory module evaluates. Reference: arXiv 2101.11075.

    info: ``lr``, ``lambda`` (lam_k), ``c`` (c_{k+1}), ``S`` (S_{k+1}), ``denom_min``,
    ``denom_max`` (over coordinates of d_{k+1}).
    """

    name = "madgrad_paper"
    reference = "Defazio & Jelassi, arXiv 2101.11075 (analysed variant); docs/references/madgrad.md §4.3"
    state_type = MADGRADPaperState
    compile_options = _COMPILE_OPTIONS
    info_type = MADGRADPaperInfo
    example_hp = {"lr": 0.1, "G": 2.0, "momentum": 0.9}

    def __init__(self, averaging: str = "lambda"):
        if averaging not in _AVERAGING:
            raise out_of_range("averaging", averaging, ", ".join(repr(a) for a in _AVERAGING))
        self.averaging = averaging
        self.hyperparams = {
            "lr": positive(None, "gamma: lam_k = lr * sqrt(k+1)"),
            "G": positive(None, "bound on |g_{k,j}| in the denominator's G term"),
            "momentum": unit(0.9, "used only with averaging='constant': c = 1 - momentum"),
        }

    def _init(self, x0, hp, **extra):
        super()._init(x0, hp, **extra)
        return {"x0": x0.clone(), "s": torch.zeros_like(x0), "nu": torch.zeros_like(x0), "S": hp["lr"].clone()}

    def _step(self, state, grad, loss):
        hp = state["hp"]
        x, x0, k = state["x"], state["x0"], state["k"]
        lr, G = hp["lr"], hp["G"]
        lam = lr * (k + 1) ** 0.5
        lam_next = lr * (k + 2) ** 0.5
        s = state["s"] + per_run(lam) * grad
        nu = state["nu"] + per_run(lam) * (grad * grad)
        d = cube_root(nu + per_run(lam_next * G * G))
        z = x0 - s / d
        S = state["S"] + lam_next
        c = lam_next / S if self.averaging == "lambda" else 1 - hp["momentum"]
        x_new = x * per_run(1 - c) + per_run(c) * z
        info = {"lr": lr, "lambda": lam, "c": c, "S": S, "denom_min": d.amin(dim=-1), "denom_max": d.amax(dim=-1)}
        return {"x": x_new, "x0": x0, "s": s, "nu": nu, "S": S}, info

    def __repr__(self) -> str:
        return f"MADGRADPaper(averaging={self.averaging!r})"
