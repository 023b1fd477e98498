"""Benchmark of the search against PEP's exact worst case (``ratecheck falsify --pep``).

SGD x_{t+1} = x_t - eta_t g_t with fixed steps (constant, or linear decay eta_t = eta (1 - t/T)),
eta = D/(G sqrt T), on convex G-Lipschitz functions with ||x_0 - x*|| <= D (D = G = 1), last
iterate. PEP (``theory.pep.sgd_worst_case``) gives the exact worst f(x_T) - f* over the class;
every instance the search can build lies in the class, so found <= PEP must hold (up to PEP's
stated solver accuracy), and found / PEP measures how close the search gets. For any bound that
depends only on (D, G, steps), search ratio / PEP ratio = found / PEP.

The search runs the library's ``sgd`` through ``runner.run`` on the ``max_affine`` family with
G_max = G (every piece's gradient projected into the G-ball), x_0 on the sphere of radius D around
x*, and 2(T + 2) pieces in dimension T + 2 (PEP's worst case interpolates a max of affine functions
through the T + 1 iterates and x*, so the family contains it). Gradient ascent (Adam) on the
pieces, offsets and x_0, several random restarts, the best f(x_T) - f* kept.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from ratecheck import optimizers
from ratecheck.experiments.runner import run

from . import families as fam

TS = (1, 2, 4, 8, 16)
SCHEDULES = ("constant", "linear")
TARGET = 0.9


def steps(schedule: str, T: int, D: float = 1.0, G: float = 1.0) -> np.ndarray:
    from ratecheck.optimizers import schedules

    return D / (G * math.sqrt(T)) * getattr(schedules, schedule)(T).numpy()


def _worst_found(schedule: str, T: int, seconds: float, seed: int, B: int = 8, iters: int = 300) -> float:
    """Best f(x_T) - f* over restarts of Adam on (pieces, offsets, x_0), D = G = 1."""
    rng = np.random.default_rng(seed)
    d, m = T + 2, 2 * (T + 2)
    lr = 1.0 / math.sqrt(T)
    opt = optimizers.get("sgd", schedule=schedule)
    hp = {"lr": lr, **({"T": T} if schedule != "constant" else {})}
    best, t0 = 0.0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        g = rng.standard_normal((m, d))
        g = g / np.linalg.norm(g, axis=1, keepdims=True)
        params = {"d": d, "g": g.tolist(), "c": rng.uniform(0.0, 0.01, m).tolist(),
                  "x_star": [0.0] * d, "f_star": 0.0, "G_max": 1.0}
        pb = fam.get("max_affine").build(params, requires_grad=True)
        u = torch.tensor(rng.standard_normal((B, d)), dtype=torch.float64, requires_grad=True)
        adam = torch.optim.Adam([u, *pb.leaves.values()], lr=0.05)
        # a decaying step settles on the ties between pieces where the worst cases sit
        decay = torch.optim.lr_scheduler.CosineAnnealingLR(adam, iters)
        for _ in range(iters):
            adam.zero_grad()
            x0 = u / torch.linalg.vector_norm(u, dim=1, keepdim=True)  # ||x_0 - x*|| = D = 1
            tr = run(pb, opt, x0, T, hp=dict(hp))
            gap = tr["subopt"][T]
            best = max(best, float(gap.detach().max()))
            (-gap.sum()).backward()
            adam.step()
            decay.step()
            fam.get("max_affine").project(pb)
            if time.perf_counter() - t0 >= seconds:
                break
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
