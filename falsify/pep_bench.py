"""Benchmark of the search against PEP's exact worst case (``ratecheck falsify --pep``).

SGD x_{t+1} = x_t - eta_t g_t with fixed steps (constant, or linear decay eta_t = eta (1 - t/T)),
eta = D/(G sqrt T), on convex G-Lipschitz functions with ||x_0 - x*|| <= D (D = G = 1), last
iterate. PEP (``theory.pep.sgd_worst_case``) gives the exact worst f(x_T) - f* over the class;
every instance the search can build lies in the class, so found <= PEP must hold (up to PEP's
stated solver accuracy), and found / PEP measures how close the search gets. For any bound that
depends only on (D, G, steps), search ratio / PEP ratio = found / PEP.

Parametrisation attached to the trajectory: x_0 = r e_1 (0 <= r <= D; rotations make any start
this one), one piece per iterate, (f_t, g_t) anchored at the iterate x_t that the steps produce
from x_0 and g_0..g_{t-1}, t = 0..T, in dimension T + 2. As a ``max_affine`` instance (x* = 0,
f* = 0, G_max = G) piece t is g_t.x - c_t with c_t = g_t.x_t - f_t. Search: SLSQP (scipy) from
random starts maximises f_T subject to the conditions under which piece t is the one the oracle
returns at x_t (f_t >= f_s + g_s.(x_t - x_s) + MARGIN for every s != t, f_t >= MARGIN against the
constant piece), c_t >= 0 and ||g_t|| <= G. SLSQP's answer is only a proposal: the score is the
library's ``sgd`` run through ``runner.run`` on the ``max_affine`` instance built from it (c
clamped to >= 0 and every g_t projected into the G-ball, so the instance is in the class whatever
SLSQP returned); where a piece is not active where intended, the oracle returns another one and
the run, not the proposal, is scored. No PEP solution enters the search.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from scipy.optimize import minimize

from ratecheck import optimizers
from ratecheck.experiments.runner import run

from . import families as fam

TS = (1, 2, 4, 8, 16)
SCHEDULES = ("constant", "linear")
TARGET = 0.9
MARGIN = 1e-7  # strict activity of the intended piece at its iterate, far above float64 round-off (D = G = 1)
MAXITER = 300


def steps(schedule: str, T: int, D: float = 1.0, G: float = 1.0) -> np.ndarray:
    from ratecheck.optimizers import schedules

    return D / (G * math.sqrt(T)) * getattr(schedules, schedule)(T).numpy()


def iterates(r: float, g: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """x_0 = r e_1, x_{t+1} = x_t - eta_t g_t: the T + 1 points the pieces are attached to."""
    X = np.zeros((len(eta) + 1, g.shape[1]))
    X[0, 0] = r
    X[1:] = r * np.eye(1, g.shape[1]) - np.cumsum(eta[:, None] * g[:-1], axis=0)
    return X


def instance(r: float, g: np.ndarray, f: np.ndarray, eta: np.ndarray, G: float = 1.0):
    """(max_affine problem, x_0 [1, d]) of pieces (f_t, g_t) at the iterates; in the class by construction."""
    X = iterates(r, g, eta)
    params = {"d": g.shape[1], "g": g.tolist(), "c": (np.einsum("ij,ij->i", g, X) - f).tolist(),
              "x_star": [0.0] * g.shape[1], "f_star": 0.0, "G_max": G}
    return fam.get("max_affine").build(params), torch.tensor(X[:1])


def _propose(eta: np.ndarray, rng: np.random.Generator, D: float, G: float) -> tuple[float, np.ndarray, np.ndarray]:
    """SLSQP from a random start: (r, g [T+1, d], f [T+1]) maximising f_T under the activity conditions."""
    T = len(eta)
    d = T + 2
    off = ~np.eye(T + 1, dtype=bool)

    def unpack(z):
        return z[0], z[1 : 1 + (T + 1) * d].reshape(T + 1, d), z[1 + (T + 1) * d :]

    def cons(z):
        r, g, f = unpack(z)
        GX = g @ iterates(r, g, eta).T  # GX[s, t] = g_s.x_t
        own = np.diag(GX)
        act = f[:, None] - f[None, :] - GX.T + own[None, :]  # [t, s]: f_t - f_s - g_s.(x_t - x_s)
        return np.concatenate([act[off] - MARGIN, f - MARGIN, own - f, G**2 - (g**2).sum(1), [r, D - r]])

    g0 = rng.standard_normal((T + 1, d))
    g0 *= G / np.linalg.norm(g0, axis=1, keepdims=True)
    f0 = 0.5 * np.maximum(np.einsum("ij,ij->i", g0, iterates(D, g0, eta)), 0.0)
    z0 = np.concatenate([[D], g0.ravel(), f0])
    grad = np.zeros_like(z0)
    grad[-1] = -1.0
    res = minimize(lambda z: -z[-1], z0, jac=lambda z: grad, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": cons}], options={"maxiter": MAXITER})
    return unpack(res.x)


def _worst_found(schedule: str, T: int, seconds: float, seed: int) -> float:
    """Best f(x_T) - f* of the real run over random restarts until ``seconds`` are spent (at least one), D = G = 1."""
    rng = np.random.default_rng(seed)
    eta = steps(schedule, T)
    opt = optimizers.get("sgd", schedule=schedule)
    hp = {"lr": 1.0 / math.sqrt(T), **({"T": T} if schedule != "constant" else {})}
    best, t0 = 0.0, time.perf_counter()
    while True:  # at least one restart, however small the budget
        r, g, f = _propose(eta, rng, 1.0, 1.0)
        pb, x0 = instance(min(max(r, 0.0), 1.0), g, f, eta)
        best = max(best, float(run(pb, opt, x0, T, hp=dict(hp))["subopt"][T][0]))
        if time.perf_counter() - t0 >= seconds:
            return best


def bench(Ts=TS, schedules=SCHEDULES, seconds: float = 20.0, seed: int = 0) -> list[dict]:
    """Rows (schedule, T, found, PEP, found/PEP) with the seconds of search per row."""
    from ratecheck.theory.pep import sgd_worst_case

    rows = []
    for sched in schedules:
        for T in Ts:
            pep = sgd_worst_case(steps(sched, T), 1.0, G=1.0)
            found = _worst_found(sched, T, seconds, seed)
            rows.append({"schedule": sched, "T": T, "found": found, "pep": pep.value, "pep_status": pep.status,
                         "ratio": found / pep.value, "seconds": seconds})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| schedule | T | search f(x_T)-f* | PEP | search / PEP |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['schedule']} | {r['T']} | {r['found']:.5f} | {r['pep']:.5f} | {r['ratio']:.3f} |")
    return "\n".join(lines)
