"""Exact worst cases of fixed-step first-order methods by performance estimation (PEPit).

Each function builds a PEP (Drori & Teboulle 2014; Taylor, Hendrickx & Glineur 2017) for one
method with fixed step sizes, solves the SDP and returns ``PepValue(value, status)``: the dual
value, i.e. a certified upper bound on the worst case over the function class and all starting
points with ||x_0 - x*|| <= D, equal to the worst case up to the solver's accuracy.

Function classes (``function_class``):
- "lipschitz": convex with every subgradient norm <= G (PEPit ``ConvexLipschitzFunction``);
- "smooth": convex and L-smooth (``SmoothConvexFunction``);
- "qg": convex with the quadratic-growth upper bound QG+ (``ConvexQGFunction``; used by
  PEPit's heavy-ball example).

The metric is f(x_n) - f* at the last iterate, or min_t f(x_t) - f* over x_0..x_n
(``best=True``; PEPit maximises the minimum of repeated metrics).

Solver accuracy: ``PEP_RTOL`` (relative) and ``PEP_ATOL`` state how far a solved value may sit
from the exact worst case; comparisons against runs and bounds use exactly these, never more.
PEPit and cvxpy are imported lazily. Reference: Goujaud et al., PEPit, Math. Prog. Comp. 16
(2024); PerformanceEstimation/PEPit examples (subgradient_method.py,
heavy_ball_momentum_qg_convex.py). See docs/references/reference_implementations.md §4.

Which methods and closed forms are cross-checked how: docs/theory/README.md#pep-exact-worst-cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ratecheck.errors import RatecheckError, out_of_range, unknown

PEP_RTOL = 1e-6  # Clarabel interior-point accuracy on these SDPs (observed <= 5e-8), relative
PEP_ATOL = 1e-7
CLASSES = ("lipschitz", "smooth", "qg")
SOLVERS = ("CLARABEL", "SCS", "MOSEK")


@dataclass(frozen=True)
class PepValue:
    value: float
    status: str  # the solver's status, e.g. "optimal"; anything else is not trustworthy
    solver: str

    @property
    def ok(self) -> bool:
        return self.status == "optimal"


def _steps(name: str, a: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise RatecheckError(f"{name} must be finite; got {a[~np.isfinite(a)][:3]}")
    return a


def _positive(name: str, v) -> float:
    if v is None or not np.isfinite(v) or v <= 0:
        raise out_of_range(name, v, "(0, inf)")
    return float(v)


def _start(function_class: str, D: float, G: float | None, L: float | None):
    """A PEP with one function of the class, its minimiser, and x_0 with ||x_0 - x*|| <= D."""
    try:
        from PEPit import PEP
        from PEPit.functions import ConvexLipschitzFunction, ConvexQGFunction, SmoothConvexFunction
    except ImportError as e:  # pragma: no cover - PEPit is a test dependency
        raise RatecheckError("PEPit is not installed; install the 'pep' extra (pip install PEPit)") from e
    if function_class not in CLASSES:
        raise unknown("function class", function_class, CLASSES)
    D = _positive("D", D)
    problem = PEP()
    if function_class == "lipschitz":
        func = problem.declare_function(ConvexLipschitzFunction, M=_positive("G", G))
    elif function_class == "smooth":
        func = problem.declare_function(SmoothConvexFunction, L=_positive("L", L))
    else:
        func = problem.declare_function(ConvexQGFunction, L=_positive("L", L))
    xs = func.stationary_point()
    fs = func(xs)
    x0 = problem.set_initial_point()
    problem.set_initial_condition((x0 - xs) ** 2 <= D**2)
    return problem, func, xs, fs, x0


def _solve(problem, solver: str) -> PepValue:
    if solver not in SOLVERS:
        raise unknown("solver", solver, SOLVERS)
    value = problem.solve(wrapper="cvxpy", solver=solver, verbose=0)
    prob = getattr(problem.wrapper, "prob", None)
    status = str(getattr(prob, "status", "unknown"))
    return PepValue(float(value), status, solver)


def sgd_worst_case(steps, D: float = 1.0, *, G: float | None = None, L: float | None = None,
                   function_class: str = "lipschitz", best: bool = False, solver: str = "CLARABEL") -> PepValue:
    """Worst case of f(x_n) - f* (or min_t, ``best``) for x_{t+1} = x_t - eta_t g_t, t < n.

    ``steps`` = eta_0..eta_{n-1} (any fixed sequence, including zeros).
    """
    eta = _steps("steps", steps)
    problem, func, xs, fs, x = _start(function_class, D, G, L)
    for e in eta:
        g, f = func.oracle(x)
        if best:
            problem.set_performance_metric(f - fs)
        x = x - float(e) * g
    problem.set_performance_metric(func(x) - fs)
    return _solve(problem, solver)


def spa_worst_case(eta, c, D: float = 1.0, *, L: float | None = None, G: float | None = None,
                   function_class: str = "smooth", solver: str = "CLARABEL") -> PepValue:
    """Worst case of f(x_n) - f* for SPA: z_{k+1} = z_k - eta_k g_k, x_{k+1} = (1 - c_{k+1}) x_k + c_{k+1} z_{k+1}.

    ``eta`` = eta_0..eta_{n-1}; ``c`` = c_1..c_n (the averaging weight used to form x_{k+1}).
    Defazio, arXiv 2010.00406 (SPA form); z_0 = x_0.
    """
    eta, c = _steps("eta", eta), _steps("c", c)
    if eta.shape != c.shape:
        raise RatecheckError(f"eta and c need the same length; got {eta.size} and {c.size}")
    problem, func, xs, fs, x = _start(function_class, D, G, L)
    z = x
    for e, ck in zip(eta, c):
        g = func.gradient(x)
        z = z - float(e) * g
        x = (1 - float(ck)) * x + float(ck) * z
    problem.set_performance_metric(func(x) - fs)
    return _solve(problem, solver)


def heavy_ball_worst_case(alpha, beta, D: float = 1.0, *, L: float | None = None, G: float | None = None,
                          function_class: str = "smooth", solver: str = "CLARABEL") -> PepValue:
    """Worst case of f(x_n) - f* for x_{k+1} = x_k - alpha_k g_k + beta_k (x_k - x_{k-1}), x_{-1} = x_0."""
    alpha, beta = _steps("alpha", alpha), _steps("beta", beta)
    if alpha.shape != beta.shape:
        raise RatecheckError(f"alpha and beta need the same length; got {alpha.size} and {beta.size}")
    problem, func, xs, fs, x = _start(function_class, D, G, L)
    x_prev = x
    for a, b in zip(alpha, beta):
        g = func.gradient(x)
        x, x_prev = x - float(a) * g + float(b) * (x - x_prev), x
    problem.set_performance_metric(func(x) - fs)
    return _solve(problem, solver)


def sgd_momentum_worst_case(lr, beta: float, D: float = 1.0, *, L: float | None = None, G: float | None = None,
                            function_class: str = "smooth", solver: str = "CLARABEL") -> PepValue:
    """Worst case of f(x_n) - f* for PyTorch SGD+M: m_{k+1} = beta m_k + g_k, x_{k+1} = x_k - lr_k m_{k+1}, m_0 = 0."""
    lr = _steps("lr", lr)
    problem, func, xs, fs, x = _start(function_class, D, G, L)
    m = None
    for a in lr:
        g = func.gradient(x)
        m = g if m is None else float(beta) * m + g
        x = x - float(a) * m
    problem.set_performance_metric(func(x) - fs)
    return _solve(problem, solver)


# -- closed forms known to be tight (for cross-checks) -------------------------------------------


def subgradient_best_iterate_tight(n: int, D: float, G: float) -> tuple[float, float]:
    """(gamma, value): constant step gamma = D / (G sqrt(n+1)) has worst best-iterate gap G D / sqrt(n+1).

    Tight; [CODE] PEPit examples/unconstrained_convex_minimization/subgradient_method.py
    (Drori & Teboulle 2016).
    """
    gamma = D / (G * np.sqrt(n + 1))
    return float(gamma), float(G * D / np.sqrt(n + 1))


def gd_smooth_tight(n: int, D: float, L: float) -> float:
    """GD with step 1/L on L-smooth convex f: worst f(x_n) - f* = L D^2 / (4n + 2), tight.

    Drori & Teboulle, Math. Prog. 145 (2014); attained by a Huber function.
    """
    return float(L * D * D / (4 * n + 2))


def spa_uniform_qg_tight(n: int, D: float, L: float) -> float:
    """SPA with c_k = 1/(k+1), eta = 1/L on QG+ convex: worst f(x_n) - f* = L D^2 / (2(n+1)), tight.

    [CODE] PEPit examples/unconstrained_convex_minimization/heavy_ball_momentum_qg_convex.py
    (heavy ball alpha_k = 1/(L(k+2)), beta_k = k/(k+2); docs/references/spa_momentum.md §5 item 6).
    """
    return float(L * D * D / (2 * (n + 1)))


def within_solver_tolerance(value: float, reference: float) -> bool:
    """|value - reference| <= PEP_RTOL |reference| + PEP_ATOL."""
    return abs(value - reference) <= PEP_RTOL * abs(reference) + PEP_ATOL


def below_with_solver_tolerance(lower: float, upper: float) -> bool:
    """lower <= upper allowing the stated solver accuracy on either side."""
    return lower <= upper + PEP_RTOL * abs(upper) + PEP_ATOL


def sgd_bracket(steps, D: float = 1.0, G: float = 1.0, solver: str = "CLARABEL") -> dict[str, float | str]:
    """PEP worst case of the last iterate beside the paper's bounds, for one fixed SGD schedule.

    Convex G-Lipschitz class, ||x_0 - x*|| <= D. Returns {"pep", "status", "thm10" (best virtual
    step, all norms G), "thm_b" (best weighting, all norms G)}: the exact worst case must sit at
    or below both bounds (within PEP_RTOL). For the CLI (`ratecheck pep`) and notebooks.
    """
    from .schedules import bound_weighted_best, thm10_prefix_bounds

    eta = _steps("steps", steps)
    g = np.full(eta.size + 1, _positive("G", G))
    v = sgd_worst_case(eta, D, G=G, solver=solver)
    return {
        "pep": v.value,
        "status": v.status,
        "thm10": float(thm10_prefix_bounds(eta, D, g)[-1]),
        "thm_b": float(bound_weighted_best(eta, D, g)) if np.all(eta > 0) else float("nan"),
    }


# -- command line (`ratecheck pep`) ---------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`ratecheck pep`: the exact worst case of a fixed-schedule method beside the paper's bounds.

    SGD on convex G-Lipschitz functions prints the PEP value with Theorem 10 and bound (B) of
    arXiv 2310.07831 for the same steps; SGD on L-smooth convex functions, SPA, heavy ball and
    PyTorch momentum print the PEP value (and the tight closed form for GD with step 1/L).
    """
    from ratecheck.cli import OneLineParser
    from ratecheck.optimizers import schedules

    p = OneLineParser(prog="ratecheck pep", description=main.__doc__.splitlines()[0])
    p.add_argument("--method", default="sgd", choices=("sgd", "spa", "heavy_ball", "sgd_momentum"))
    p.add_argument("--schedule", default="linear", choices=("constant", "linear", "cosine"))
    p.add_argument("-T", type=int, default=10, help="number of steps (PEP size grows as T^2; T <= 50 is quick)")
    p.add_argument("--class", dest="function_class", default=None, choices=("lipschitz", "smooth"),
                   help="function class (default: lipschitz for sgd, smooth for the momentum methods)")
    p.add_argument("--lr", type=float, default=None,
                   help="base step (default: D/(G sqrt T) on Lipschitz functions, 1/L on smooth ones)")
    p.add_argument("--momentum", type=float, default=0.9, help="beta of heavy ball / PyTorch momentum")
    p.add_argument("--c", type=float, default=0.1, help="SPA averaging weight")
    p.add_argument("-D", type=float, default=1.0, help="||x0 - x*|| <= D")
    p.add_argument("-G", type=float, default=1.0, help="Lipschitz constant")
    p.add_argument("-L", type=float, default=1.0, help="smoothness constant")
    a = p.parse_args(argv)
    if a.T < 1:
        raise RatecheckError(f"-T {a.T} is out of range; allowed: integers >= 1")
    # Ranges of the method and class constants: a step, radius or constant <= 0 (or non-finite)
    # poses no worst-case problem, and SPA needs an averaging weight that moves x.
    for flag, v, ok, allowed in (("--lr", a.lr, lambda v: v is None or 0 < v < np.inf, "(0, inf)"),
                                 ("-D", a.D, lambda v: 0 < v < np.inf, "(0, inf)"),
                                 ("-G", a.G, lambda v: 0 < v < np.inf, "(0, inf)"),
                                 ("-L", a.L, lambda v: 0 < v < np.inf, "(0, inf)"),
                                 ("--c", a.c, lambda v: 0 < v <= 1, "(0, 1]"),
                                 ("--momentum", a.momentum, lambda v: 0 <= v < 1, "[0, 1)")):
        if not ok(v):
            raise RatecheckError(f"{flag} {v!r} is out of range; allowed: {allowed}")
    fclass = a.function_class or ("lipschitz" if a.method == "sgd" else "smooth")
    lip = fclass == "lipschitz"
    base = a.lr if a.lr is not None else (a.D / (a.G * np.sqrt(a.T)) if lip else 1.0 / a.L)
    steps = base * getattr(schedules, a.schedule)(a.T).numpy()
    consts = {"G": a.G} if lip else {"L": a.L}
    print(f"# {a.method}, {a.schedule} schedule, T={a.T}, base step {base:.6g}, {fclass} class, D={a.D}, "
          + ", ".join(f"{k}={v}" for k, v in consts.items()))
    if a.method == "sgd" and lip:
        r = sgd_bracket(steps, a.D, a.G)
        print(f"PEP worst case f(x_T)-f*   {r['pep']:.8g}   ({r['status']})")
        print(f"Theorem 10 bound           {r['thm10']:.8g}   [DERIVED] arXiv 2310.07831")
        print(f"bound (B), best weighting  {r['thm_b']:.8g}   [DERIVED] arXiv 2310.07831")
        ok = below_with_solver_tolerance(r["pep"], min(r["thm10"], np.nan_to_num(r["thm_b"], nan=np.inf)))
        print("PEP <= bounds: " + ("yes" if ok else "NO"))
        return 0 if ok else 1
    if a.method == "sgd":
        v = sgd_worst_case(steps, a.D, L=a.L, function_class="smooth")
        print(f"PEP worst case f(x_T)-f*   {v.value:.8g}   ({v.status})")
        if a.schedule == "constant" and np.isclose(base * a.L, 1.0):
            print(f"tight closed form L D^2/(4T+2) = {gd_smooth_tight(a.T, a.D, a.L):.8g}")
        return 0
    if a.method == "spa":
        v = spa_worst_case(steps, np.full(a.T, a.c), a.D, **consts, function_class=fclass)
    elif a.method == "heavy_ball":
        v = heavy_ball_worst_case(steps, np.full(a.T, a.momentum), a.D, **consts, function_class=fclass)
    else:
        v = sgd_momentum_worst_case(steps, a.momentum, a.D, **consts, function_class=fclass)
    print(f"PEP worst case f(x_T)-f*   {v.value:.8g}   ({v.status})")
    return 0


if __name__ == "__main__":  # python -m ratecheck.theory.pep: the same as `ratecheck pep`, errors included
    import sys

    from ratecheck.cli import main as cli_main

    sys.exit(cli_main(["pep", *sys.argv[1:]]))
