"""madgrad.tuned_rate at horizon m = 2 in 1-D (docs/falsify.md#madgrad-planted): the worst case over convex
functions whose gradients at x_0 and x_1 lie in [-G, G] is a linear program once g_0 is fixed (x_1 then is),
and it stays below 0.8 of the rate, so the planted copy cannot be violated there; the library's run on the
l1 instance w|x - x*| is a feasible point of that program, and with w = G it attains its optimum."""

import math

import numpy as np
import torch
from scipy.optimize import linprog

from ratecheck import theory
from ratecheck.experiments.runner import run
from ratecheck.falsify import families as fam
from ratecheck.optimizers import get as get_opt
from ratecheck.theory.madgrad import tuned_lr, tuned_rate

G, R, M = 1.0, 1.0, 2


def _l1_run(w: float):
    """x_1 and the check's ratio at row 1 for madgrad_paper (lambda averaging, gamma*(2)) on w|x|, x_0 = R."""
    pb = fam.get("l1").build({"d": 1, "w": [w], "x_star": [0.0]})
    hp = {"lr": torch.tensor([tuned_lr(R, G, 1, M)], dtype=torch.float64), "G": torch.tensor([G], dtype=torch.float64)}
    tr = run(pb, get_opt("madgrad_paper", averaging="lambda"), torch.tensor([[R]], dtype=torch.float64), 4, hp=hp, keep_iterates=True)
    c = theory.check(theory.get("madgrad.tuned_rate"), tr, pb)
    assert bool(c.checked.all()) and not bool(c.violated.any())
    return float(tr.iterates["x"][1, 0, 0]), float((c.observed / c.bound)[1, 0])


def _worst_f1(g0: float, x1: float) -> float:
    """max f_1 over (g_1, f_0, f_1): f_0 <= g_0 R, f_1 <= g_1 x_1, f_1 >= f_0 + g_0 (x_1 - R),
    f_0 >= f_1 + g_1 (R - x_1), f_0, f_1 >= 0, |g_1| <= G (x* = 0, f* = 0: convex interpolation)."""
    A = [[0, 1, 0], [-x1, 0, 1], [0, 1, -1], [R - x1, -1, 1]]
    b = [g0 * R, 0.0, -g0 * (x1 - R), 0.0]
    res = linprog([0, 0, -1], A_ub=A, b_ub=b, bounds=[(-G, G), (0, None), (0, None)])
    assert res.success
    return -res.fun


def test_tuned_rate_at_m2_in_1d_is_below_the_planted_factor():
    rate = tuned_rate(R, G, 1, M)
    worst = []
    for a in np.linspace(0.05, 1.0, 20):  # g_0 = a G (a < 0 moves away from x* and makes f(x_0) - f* <= 0)
        x1, lib = _l1_run(a * G)
        w = _worst_f1(a * G, x1) / rate
        assert lib <= w * (1 + 1e-12)  # the l1 run is one of the functions the program ranges over
        worst.append(w)
    assert max(worst) == worst[-1]  # the worst g_0 is G
    assert math.isclose(worst[-1], _l1_run(G)[1], rel_tol=1e-12)  # attained by G |x - x*|
    assert 0.688 < worst[-1] < 0.689 < 0.8
