"""Parametric problem families whose minimiser x* and value f* hold by construction.

A family turns a parameter dict (``Family.sample`` draws one, JSON-serialisable: lists and
numbers) into a ``Problem`` of the library contract, with no solver in the loop. The oracles
read their data from torch tensors (``Problem.family_tensors``) instead of cached numpy arrays,
so a search can differentiate a run with respect to them (``build(params, requires_grad=True)``);
``project`` maps such tensors back into the family (positive weights, a spectrum in [0, L], ...)
after a gradient step, so that every candidate stays inside the function class it claims.

Families [DERIVED, each certificate stated at the class]:

- ``max_affine``: f(x) = f* + max(0, max_j g_j.(x - x*) - c_j), c_j >= 0. The constant piece
  makes f >= f* = f(x*) exactly; convex, non-smooth, G-Lipschitz with G = max_j ||g_j|| (with
  the optional parameter ``G_max``, projection keeps every ||g_j|| <= G_max and G = G_max: a fixed
  class).
  Every convex G-Lipschitz function's worst case for a first-order method is of this form on the
  points it visits (the interpolation theorem behind PEP: Taylor, Hendrickx & Glineur 2017).
- ``adaptive``: max-affine with x* = 0, f* = 0, c_j >= 0, ||g_j|| <= G, its pieces chosen along the
  run (a resisting oracle; the comment above ``AdaptiveMaxAffine``), saved as a ``max_affine``.
- ``l1``: f(x) = sum_j w_j |x_j - x*_j|, w_j > 0; f* = 0, x* unique, G = ||w||.
- ``quadratic``: f(x) = f* + (1/2)(x - x*)^T U diag(lam) U^T (x - x*), lam in [0, L]; smooth
  (L = max lam), strongly convex when min lam > 0, G = L r on ball(x*, r).
- ``least_squares``: (1/2n)||Ax - b||^2 with b = A x_p (computed by the model's own oracle, so
  the residual at x_p is exactly 0): f* = 0, x* = x_p, every component minimised there
  (interpolating finite sum).
- ``lad``: (1/n)||Ax - b||_1 with b = A x_p likewise: f* = 0, x* = x_p, interpolating,
  non-smooth, G = min(mean_i ||a_i||, ||A||_2/sqrt(n)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ratecheck.errors import unknown
from ratecheck.problems.base import Certificate, ball_scope, default_radius
from ratecheck.problems.l1_distance import WeightedL1
from ratecheck.problems.linear_model import Absolute, LinearModel, Squared
from ratecheck.problems.max_affine import MaxAffine
from ratecheck.problems.quadratic import Quadratic

F64 = torch.float64
MAX_DIM = 16


class _TensorData:
    """Oracles read ``family_tensors`` (float64 torch, possibly requiring grad), cast per call."""

    family_tensors: dict[str, torch.Tensor]

    def tensors(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v.to(device=like.device, dtype=like.dtype) for k, v in self.family_tensors.items()}


class FamilyMaxAffine(_TensorData, MaxAffine):
    pass


class FamilyL1(_TensorData, WeightedL1):
    pass


class FamilyQuadratic(_TensorData, Quadratic):
    pass


class FamilyLinear(_TensorData, LinearModel):
    def component_f_star(self):
        return np.zeros(self.n)


@dataclass(frozen=True)
class Family:
    """``sample(rng) -> params``; ``build(params, requires_grad) -> Problem``; ``project(problem)``
    clamps the problem's differentiable tensors back into the family (in place, no grad)."""

    name: str
    tags: frozenset[str]
    sample: Callable[[np.random.Generator], dict]
    build: Callable[..., object]
    project: Callable[[object], None]
    doc: str

    @property
    def finite_sum(self) -> bool:
        return "finite_sum" in self.tags


def _dim(rng: np.random.Generator) -> int:
    # one dimension twice as often: the worst cases of many of these bounds are 1-D (|x| for D-Adaptation)
    return int(rng.choice([1, 1, 2, 3, 4, 6, 8, 12, MAX_DIM]))


def _scale(rng: np.random.Generator) -> float:
    return float(10.0 ** rng.uniform(-1.5, 1.5))


def _t(a, requires_grad: bool) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=F64).requires_grad_(requires_grad)


def _leaves(pb, leaves: dict[str, torch.Tensor], requires_grad: bool) -> None:
    """The tensors a gradient step updates (empty unless ``requires_grad``)."""
    pb.leaves = leaves if requires_grad else {}


# -- max-affine -----------------------------------------------------------------------------------


def _ma_sample(rng):
    d = _dim(rng)
    m = int(rng.integers(1, 2 * d + 3))
    g = rng.standard_normal((m, d)) * _scale(rng)
    c = rng.exponential(0.5, m) * float(rng.random() < 0.7)  # often all pieces active at x*
    return {"d": d, "g": g.tolist(), "c": c.tolist(), "x_star": rng.standard_normal(d).tolist(), "f_star": float(rng.normal())}


def _ma_build(p, requires_grad=False):
    g, c = _t(p["g"], requires_grad), _t(p["c"], requires_grad)
    d = int(p["d"])
    pb = FamilyMaxAffine(
        name="family:max_affine", d=d, f_star=float(p["f_star"]), x_star=np.asarray(p["x_star"]),
        tags=frozenset({"convex", "lipschitz", "nonsmooth"}), certificate=Certificate("closed form", detail="f >= f* by the constant piece"),
        G=float(torch.linalg.vector_norm(g.detach(), dim=1).max()), x_star_unique=False, params={"family": "max_affine", "d": d},
        description="f* + max(0, max_j g_j.(x - x*) - c_j)",
    )
    pb.pieces = (g, c)
    pb.G_max = p.get("G_max")
    if pb.G_max is not None:
        _ma_project(pb)
    _ma_refresh(pb)
    _leaves(pb, {"g": g, "c": c}, requires_grad)
    return pb


def _ma_refresh(pb):
    g, c = pb.pieces
    zero = torch.zeros(1, g.shape[1], dtype=F64)
    # Row 0 is the constant piece (gradient 0, offset 0): the argmax picks it at x* on ties.
    pb.family_tensors = {"G": torch.cat([zero, g]), "c": torch.cat([torch.zeros(1, dtype=F64), torch.clamp(c, min=0.0)]),
                         "xs": torch.as_tensor(pb.x_star, dtype=F64)}


def _ma_project(pb):
    g, c = pb.pieces
    with torch.no_grad():
        c.clamp_(min=0.0)
        if pb.G_max is not None:  # a G-Lipschitz class: every piece's gradient in the ball of radius G_max
            g.mul_(torch.clamp(pb.G_max / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(1e-300), max=1.0))
    # the class's constant where one is fixed (what an optimizer reading the problem's G is given)
    pb.G = float(pb.G_max) if pb.G_max is not None else float(torch.linalg.vector_norm(g.detach(), dim=1).max())
    _ma_refresh(pb)


# -- adaptive max-affine: a resisting oracle ---------------------------------------------------------
#
# The pieces of a max-affine function (x* = 0, f* = 0) chosen ONLINE along the run, as the resisting
# oracles of lower-bound proofs do: at step t, at the iterate x_t, piece t (g_t, f_t = its value at
# x_t) is chosen so that (i) it is the active piece at x_t (f_t > every earlier piece's value there,
# and f_t > 0, the constant piece), (ii) it stays below the function's value F_s at every earlier
# iterate x_s (so the oracle's earlier answers are what the final fixed function returns there),
# (iii) c_t = g_t.x_t - f_t >= 0 (f(x*) = f* = 0) and ||g_t|| <= G. The direction of g_t is a
# signed mix of x_t, x_0 - x_t, g_{t-1}, a random direction r fixed per candidate, x_t rotated by a
# right angle in the plane of x_0 and r, and a fresh random direction per step (weights from the
# candidate's latent, per phase of the run); given the direction u, (i)-(iii) are linear in
# (||g_t||, f_t) plus the box ||g_t|| <= G: a 2-D polytope whose ranges are exact (an interval for
# ||g_t||, then one for f_t), and the latent places the choice inside them.
# Where the polytope is empty the oracle answers with the function built so far (the piece is the
# zero piece, a copy of the constant one). Every inequality keeps a margin of ADV_MARGIN relative to
# ||g_{t-1}|| (||x_0|| + ||x_t||), far above the round-off of the values compared, and is checked
# once more on the values the fixed function computes, so its argmax is the chosen piece at x_t.
# The construction is only a proposal: the final pieces are a plain ``max_affine`` instance that the
# search re-runs and scores (objective.evaluate), and a row whose rerun does not reproduce the
# construction's iterates scores -inf.

ADV_DIRS = 6  # x_t, x_0 - x_t, g_{t-1}, r, x_t rotated in the plane of x_0 and r, a fresh random one
ADV_PER_PHASE = ADV_DIRS + 2  # + where ||g_t|| and f_t sit in their feasible ranges
ADV_MARGIN = 1e-9
ADV_RADIAL = 1e-3  # least cosine between g_t and x_t


def _unit(v: torch.Tensor) -> torch.Tensor:
    n = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    return torch.where(n > 0, v / n.clamp_min(1e-300), torch.zeros_like(v))


class BatchedMaxAffine(FamilyMaxAffine):
    """B max-affine functions, one per row of the batch (``family_tensors`` G [B, m, d], c [B, m]),
    each computed with the same operations as a plain instance (``plain(b)`` its parameters)."""

    def _pieces(self, x):
        t = self.tensors(x)
        return (t["G"] * (x - t["xs"])[:, None, :]).sum(-1) - t["c"]

    def _value(self, x):
        return BatchedMaxAffine._value_and_grad(self, x)[0]

    def _grad(self, x):
        return BatchedMaxAffine._value_and_grad(self, x)[1]

    def _value_and_grad(self, x):  # one pass over the pieces; the same bits as the plain instance's two
        B = self.family_tensors["G"].shape[0]
        if x.shape[0] != B:  # rows of several steps, [k B, d] (the theory's oracle calls): B at a time
            if x.shape[0] % B:
                raise ValueError(f"{x.shape[0]} points for {B} functions; allowed: a multiple of {B}")
            parts = [BatchedMaxAffine._value_and_grad(self, x[i : i + B]) for i in range(0, x.shape[0], B)]
            return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        v = self._pieces(x)
        i = v.argmax(dim=-1)
        return v.gather(-1, i[:, None])[:, 0] + self.f_star, self.tensors(x)["G"][torch.arange(B), i]

    def plain(self, b: int) -> dict:
        """``max_affine`` family parameters of row b (the constant piece 0 is implicit there, and so are
        zero pieces, its copies: the argmax picks row 0 first, so dropping them changes no answer)."""
        G, c = self.family_tensors["G"][b, 1:], self.family_tensors["c"][b, 1:]
        keep = (G != 0).any(-1) | (c != 0)
        G, c = G[keep], c[keep]
        return {"d": self.d, "g": G.tolist(), "c": c.tolist(), "x_star": [0.0] * self.d, "f_star": 0.0, "G_max": self.G}


def _batched(d: int, G: torch.Tensor, c: torch.Tensor, G_max: float) -> BatchedMaxAffine:
    """Every ||g_j|| <= G_max (the class's constant, stated as G)."""
    pb = BatchedMaxAffine(
        name="family:max_affine", d=d, f_star=0.0, x_star=np.zeros(d), tags=frozenset({"convex", "lipschitz", "nonsmooth"}),
        certificate=Certificate("closed form", detail="f >= f* by the constant piece, c_j >= 0"),
        G=G_max, x_star_unique=False, params={"family": "max_affine", "d": d},
        description="max(0, max_j g_j.x - c_j), one function per run",
    )
    pb.family_tensors = {"G": G, "c": c, "xs": torch.zeros(d, dtype=F64)}
    pb.leaves = {}
    return pb


class AdaptiveMaxAffine(BatchedMaxAffine):
    """The resisting oracle (module comment above). ``start(latent, x0, T)`` before each run;
    ``fixed()`` after it: the functions the run met, as a ``BatchedMaxAffine``."""

    adaptive = True

    def start(self, latent: torch.Tensor, x0: torch.Tensor, T: int) -> None:
        B, d = x0.shape
        self.T, self.t, self.x0 = T, 0, x0.detach().to(F64)
        self.w = latent.detach().to(F64).reshape(B, self.phases, ADV_PER_PHASE)
        self.gen = torch.Generator().manual_seed(int(self.params["seed"]))
        self.r = _unit(torch.randn(B, d, dtype=F64, generator=self.gen))
        self.family_tensors = {"G": torch.zeros(B, T + 1, d, dtype=F64), "c": torch.zeros(B, T + 1, dtype=F64),
                               "xs": torch.zeros(d, dtype=F64)}
        self.X, self.F = torch.zeros(B, T, d, dtype=F64), torch.zeros(B, T, dtype=F64)
        self.g_prev = torch.zeros(B, d, dtype=F64)

    def _choose(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(g_t [B, d], c_t [B]) at x_t (zero where no piece satisfies (i)-(iii))."""
        t, B = self.t, x.shape[0]
        w = self.w[:, min(self.phases - 1, t * self.phases // self.T)]
        e0 = _unit(self.x0)
        e1 = _unit(self.r - (self.r * e0).sum(-1, keepdim=True) * e0)  # the plane of x_0 and r: x_t's rotation in it
        rot = (x * e0).sum(-1, keepdim=True) * e1 - (x * e1).sum(-1, keepdim=True) * e0
        dirs = torch.stack([_unit(x), _unit(self.x0 - x), _unit(self.g_prev), self.r, _unit(rot),
                            _unit(torch.randn(B, self.d, dtype=F64, generator=self.gen))], dim=1)
        u = _unit((w[:, :ADV_DIRS, None] * dirs).sum(1))
        # (iii) needs u.x_t > 0: a direction outside that half-space gets the missing radial component
        u = _unit(u + (ADV_RADIAL - (u * dirs[:, 0]).sum(-1, keepdim=True)).clamp(min=0.0) * dirs[:, 0])
        # the scale of the values compared: the last answer's norm (G before the first), so that
        # gradients that decay along the run are not cut off by a margin stated in G
        gn = torch.linalg.vector_norm(self.g_prev, dim=-1)
        size = torch.linalg.vector_norm(self.x0, dim=-1) + torch.linalg.vector_norm(x, dim=-1)
        delta = ADV_MARGIN * torch.where(gn > 0, gn, self.G) * size
        ux = (u * x).sum(-1)
        a = (u[:, None, :] * (self.X[:, :t] - x[:, None, :])).sum(-1)  # u.(x_s - x_t) [B, t]
        b = self.F[:, :t] - m[:, None] - 2 * delta[:, None]  # (ii) with (i): alpha a_s <= b_s
        cap = torch.full((B, 1), self.G * (1 - 1e-12), dtype=F64)  # ||g_t|| <= G with room for its rounding
        hi = torch.cat([torch.where(a > 0, b / a.where(a > 0, 1.0), math.inf), cap], -1).amin(-1)
        lo = torch.cat([torch.where(a < 0, b / a.where(a < 0, 1.0), -math.inf), 0 * cap], -1).amax(-1)
        lo = torch.maximum(lo, (m + 2 * delta) / ux.where(ux > 0, 1.0))  # (iii) with (i): alpha u.x_t >= f_t > m
        ok = (ux > 0) & ~((a == 0) & (b < 0)).any(-1) & (lo <= hi) & (torch.linalg.vector_norm(u, dim=-1) > 0)
        alpha = lo + torch.sigmoid(w[:, ADV_DIRS]) * (hi - lo)
        f_hi = torch.cat([(alpha * ux - delta)[:, None], self.F[:, :t] - delta[:, None] - alpha[:, None] * a], -1).amin(-1)
        f = m + delta + torch.sigmoid(w[:, ADV_DIRS + 1]) * (f_hi - m - delta)
        g = alpha[:, None] * u
        c = (g * x).sum(-1) - f
        # the conditions once more on the values the fixed function will compute
        at_s = (g[:, None, :] * self.X[:, :t]).sum(-1) - c[:, None]
        ok &= ((g * x).sum(-1) - c > m + 0.5 * delta) & (c > 0) & (at_s < self.F[:, :t] - 0.5 * delta[:, None]).all(-1)
        ok &= torch.isfinite(g).all(-1) & torch.isfinite(c)
        return torch.where(ok[:, None], g, 0.0), torch.where(ok, c, 0.0)

    def _value_and_grad(self, x):
        if self.t < self.T:
            x64 = x.detach().to(F64)
            g, c = self._choose(x64, self._value(x64))
            self.family_tensors["G"][:, self.t + 1], self.family_tensors["c"][:, self.t + 1] = g, c
        fx, gx = super()._value_and_grad(x)
        if self.t < self.T:
            self.X[:, self.t], self.F[:, self.t] = x.detach().to(F64), fx.detach().to(F64)
            self.g_prev = gx.detach().to(F64)
            self.t += 1
        return fx, gx

    def tensors(self, like):
        # during the run only pieces 0..t+1 exist; the later rows are zero pieces, copies of row 0
        n = self.T + 1 if self.t >= self.T else self.t + 2
        return {k: (v[:, :n] if k != "xs" else v).to(device=like.device, dtype=like.dtype)
                for k, v in self.family_tensors.items()}

    def fixed(self) -> BatchedMaxAffine:
        """The functions the run met, zero pieces moved last (order kept) and cut to the longest row."""
        G, c = self.family_tensors["G"], self.family_tensors["c"]
        zero = ~((G != 0).any(-1) | (c != 0))
        zero[:, 0] = False  # the constant piece stays first
        order = torch.sort(zero.to(torch.int8), dim=1, stable=True).indices
        m = int((~zero).sum(1).max())
        order = order[:, :m]
        return _batched(self.d, G.gather(1, order[:, :, None].expand(-1, -1, self.d)), c.gather(1, order), self.G)


def _adv_sample(rng):
    return {"d": _dim(rng), "G": _scale(rng), "phases": int(rng.choice([1, 2, 4])), "seed": int(rng.integers(2**31))}


def _adv_build(p, requires_grad=False):
    d = int(p["d"])
    pb = AdaptiveMaxAffine(
        name="family:adaptive", d=d, f_star=0.0, x_star=np.zeros(d), tags=frozenset({"convex", "lipschitz", "nonsmooth"}),
        certificate=Certificate("closed form", detail="pieces g.x - c with c >= 0, ||g|| <= G, and the constant 0"),
        G=float(p["G"]), x_star_unique=False, params={"family": "adaptive", "d": d, "seed": int(p["seed"])},
        description="max-affine, pieces chosen along the run (a resisting oracle)",
    )
    pb.phases, pb.n_latent, pb.leaves = int(p["phases"]), int(p["phases"]) * ADV_PER_PHASE, {}
    pb.family_tensors = {}
    return pb


# -- weighted l1 -----------------------------------------------------------------------------------

W_MIN = 1e-3


def _l1_sample(rng):
    d = _dim(rng)
    w = np.exp(rng.normal(0.0, 1.0, d)) * _scale(rng)
    return {"d": d, "w": w.tolist(), "x_star": rng.standard_normal(d).tolist()}


def _l1_build(p, requires_grad=False):
    w = _t(p["w"], requires_grad)
    d = int(p["d"])
    pb = FamilyL1(
        name="family:l1", d=d, f_star=0.0, x_star=np.asarray(p["x_star"]),
        tags=frozenset({"convex", "lipschitz", "nonsmooth"}), certificate=Certificate("closed form"),
        G=float(torch.linalg.vector_norm(w.detach())), params={"family": "l1", "d": d, "w": w.detach().numpy()},
        description="sum_j w_j |x_j - x*_j|",
    )
    pb.family_tensors = {"w": w, "t": torch.as_tensor(pb.x_star, dtype=F64)}
    _leaves(pb, {"w": w}, requires_grad)
    return pb


def _l1_project(pb):
    w = pb.family_tensors["w"]
    with torch.no_grad():
        w.clamp_(min=W_MIN)
    pb.G = float(torch.linalg.vector_norm(w.detach()))


# -- quadratic ---------------------------------------------------------------------------------------


def _q_sample(rng):
    d = _dim(rng)
    L = _scale(rng)
    lam = L * np.exp(rng.uniform(np.log(1e-4), 0.0, d))
    lam[rng.integers(d)] = L
    if d > 1 and rng.random() < 0.3:
        lam[rng.integers(d)] = 0.0  # a flat direction: convex, not strongly convex
    U, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return {"d": d, "lam": lam.tolist(), "U": U.tolist(), "x_star": rng.standard_normal(d).tolist(), "f_star": float(rng.normal())}


def _q_consts(pb):
    lam = pb.family_tensors["lam"].detach()
    pb.L, pb.mu = float(lam.max()), float(lam.min())
    r = default_radius(pb.x_star)
    pb.G, pb.G_scope, pb.G_radius = pb.L * r, ball_scope(r), r
    pb.tags = frozenset({"convex", "smooth"} | ({"strongly_convex"} if pb.mu > 0 else set()))
    pb.x_star_unique = pb.mu > 0


def _q_refresh(pb):
    lam, U = pb.family_tensors["lam"], pb.family_tensors["U"]
    pb.family_tensors["Q"] = (U * lam) @ U.T


def _q_build(p, requires_grad=False):
    lam = _t(p["lam"], requires_grad)
    d = int(p["d"])
    pb = FamilyQuadratic(
        name="family:quadratic", d=d, f_star=float(p["f_star"]), x_star=np.asarray(p["x_star"]), tags=frozenset({"convex"}),
        certificate=Certificate("closed form"), params={"family": "quadratic", "d": d},
        description="f* + (1/2)(x - x*)^T U diag(lam) U^T (x - x*)",
    )
    pb.family_tensors = {"lam": lam, "U": _t(p["U"], False), "xs": torch.as_tensor(pb.x_star, dtype=F64)}
    _q_refresh(pb)
    _q_consts(pb)
    _leaves(pb, {"lam": lam}, requires_grad)
    return pb


def _q_project(pb):
    with torch.no_grad():
        pb.family_tensors["lam"].clamp_(min=0.0)
    _q_refresh(pb)
    _q_consts(pb)


# -- linear models with a planted solution -------------------------------------------------------------


def _lin_sample(rng):
    d = _dim(rng)
    n = int(rng.integers(d + 1, 4 * d + 3))
    A = rng.standard_normal((n, d)) * _scale(rng) / np.sqrt(d)
    u = rng.random()
    if u < 0.3:  # few distinct rows, repeated: minibatch gradients of little or no variance
        A = A[rng.integers(int(rng.choice([1, 2])), size=n)]
        if u < 0.15:
            # half of them with entries of one magnitude c (A_ij = +-c). In 1-D every sampled gradient is
            # then the full one, c sign(x - x*): noise-free, and every coordinate at the coordinate bound
            # max |A_ij| at every step (the tight case of per-coordinate bounds such as MADGRAD's closed
            # form); with one distinct row the same holds in d > 1. Decided by the same draw u, so every
            # other draw is what it was before.
            A = np.sign(A) * np.abs(A).mean()
    return {"d": d, "n": n, "A": A.tolist(), "x_star": rng.standard_normal(d).tolist()}


def _lin_refresh(pb):
    A = pb.family_tensors["A"]
    pb.family_tensors["At"] = A.T
    # b from the model's own score kernel at x_p: the residual there is exactly 0 in float64.
    xs = torch.as_tensor(pb.x_star, dtype=F64)[None, :]
    with torch.no_grad():
        b = (xs[:, None, None, :] * A.detach()[None, :, None, :]).sum(-1)[0]
    pb.family_tensors["Y"] = b
    An = A.detach().numpy()
    eig = np.linalg.eigvalsh(An.T @ An / pb.n)
    pb.x_star_unique = bool(eig[0] > 1e-12 * eig[-1])  # repeated rows (rank < d): x_p is one minimiser of many
    if isinstance(pb.loss, Squared):
        r = default_radius(pb.x_star)
        pb.L, pb.mu = float(eig[-1]), float(max(eig[0], 0.0))
        pb.G, pb.G_scope, pb.G_radius = pb.L * r, ball_scope(r), r
    else:
        pb.G = float(min(np.linalg.norm(An, axis=1).mean(), np.sqrt(eig[-1])))


def _lin_build(loss_name):
    def build(p, requires_grad=False):
        A = _t(p["A"], requires_grad)
        n, d = A.shape
        squared = loss_name == "least_squares"
        tags = {"convex", "finite_sum", "interpolating"} | ({"smooth", "strongly_convex"} if squared else {"lipschitz", "nonsmooth"})
        pb = FamilyLinear(
            name=f"family:{loss_name}", d=d, n=n, f_star=0.0, x_star=np.asarray(p["x_star"]), tags=frozenset(tags),
            certificate=Certificate("closed form", detail="b = A x_p by the model's own kernel"),
            params={"family": loss_name, "d": d, "n": n}, description=f"{loss_name} with a planted solution b = A x_p",
        ).setup(Squared() if squared else Absolute(), A.detach().numpy(), np.zeros(n), 1, 0.0)
        pb.family_tensors = {"A": A}
        _lin_refresh(pb)
        if squared and pb.mu <= 1e-12:
            pb.tags = pb.tags - {"strongly_convex"}
        _leaves(pb, {"A": A}, requires_grad)
        return pb
    return build


def _lin_project(pb):
    _lin_refresh(pb)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("max_affine", frozenset({"convex", "lipschitz", "nonsmooth"}), _ma_sample, _ma_build, _ma_project,
               "f* + max(0, max_j g_j.(x - x*) - c_j), c_j >= 0"),
        Family("adaptive", frozenset({"convex", "lipschitz", "nonsmooth"}), _adv_sample, _adv_build, lambda pb: None,
               "max(0, max_t g_t.x - c_t), c_t >= 0, ||g_t|| <= G, pieces chosen along the run (a resisting oracle)"),
        Family("l1", frozenset({"convex", "lipschitz", "nonsmooth"}), _l1_sample, _l1_build, _l1_project,
               "sum_j w_j |x_j - x*_j|, w_j > 0"),
        Family("quadratic", frozenset({"convex", "smooth", "strongly_convex"}), _q_sample, _q_build, _q_project,
               "f* + (1/2)(x - x*)^T U diag(lam) U^T (x - x*), lam in [0, L]"),
        Family("least_squares", frozenset({"convex", "smooth", "strongly_convex", "finite_sum", "interpolating"}), _lin_sample,
               _lin_build("least_squares"), _lin_project, "(1/2n)||Ax - b||^2, b = A x_p"),
        Family("lad", frozenset({"convex", "lipschitz", "nonsmooth", "finite_sum", "interpolating"}), _lin_sample,
               _lin_build("lad"), _lin_project, "(1/n)||Ax - b||_1, b = A x_p"),
    )
}


def get(name: str) -> Family:
    if name not in FAMILIES:
        raise unknown("family", name, FAMILIES)
    return FAMILIES[name]


def names() -> list[str]:
    return list(FAMILIES)
