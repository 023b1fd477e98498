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
  the optional parameter ``G_max``, projection keeps every ||g_j|| <= G_max: a fixed class).
  Every convex G-Lipschitz function's worst case for a first-order method is of this form on the
  points it visits (the interpolation theorem behind PEP: Taylor, Hendrickx & Glineur 2017).
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
    pb.G = float(torch.linalg.vector_norm(g.detach(), dim=1).max())
    _ma_refresh(pb)


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
