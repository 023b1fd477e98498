# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Optimal linear decay schedules and refinements (arXiv 2310.07831)
#
# Defazio, Cutkosky, Mehta, Mishchenko, *Optimal linear decay learning rate schedules and
# further refinements* (v1: *When, why and how much? Adaptive learning rate scheduling by
# refinement*).
#
# **Claims.**
# - [PAPER, abstract] "our theory predicts that the best choice is the linear-decay schedule
#   that sets the stepsize proportionally to 1 - t/T"; refinement from observed gradient norms
#   "gives further improvements".
# - [DERIVED, reference note §5, §13] linear decay with eta = D/(G sqrt(T+1)) has last-iterate
#   gap at most D G / sqrt(T+1), and this bound is tight: the PEP worst case equals it.
# - [DERIVED, note §10] refined weights ||g_t||^-2 give warm-up when early norms are large and
#   faster annealing when norms rise at the end; flat norms give exactly linear decay.
# - [DERIVED] a schedule refined from an EARLIER run's norms keeps (B) on the new run: the earlier run's
#   prediction D / sqrt(sum Nhat^-2) times (1 + rho)/2, rho the weighted mean of the squared norm ratios
#   (`schedules.refined_transfer`, section 5).
# - [CODE/DERIVED, note §7] the numerically optimal schedule for constant norms is almost exactly
#   linear decay, with sqrt(T) x bound = 2.0040 at T = 200.
#
# The paper's own theorem numbers and constants are not known to us; every registered result
# below is a [DERIVED] restatement with a proof in docs/theory/linear_decay_refinement.md.
#
# **Registered results** (read from `ratecheck.theory` when the notebook runs):

# %%
from ratecheck import notebook as nb

KEYS = nb.claims(nb.keys_with("schedules."))

# %%
import math
import time

import numpy as np
import pandas as pd
import torch
import matplotlib.pyplot as plt

from ratecheck import optimizers, problems
from ratecheck.notebook import display
from ratecheck.experiments.runner import run
from ratecheck.figures.style import BOUND_STYLE, RC, color

# ratecheck.figures.style selects the Agg backend for file output; draw inline here instead.
# %matplotlib inline
plt.rcParams.update(RC)
torch.set_default_dtype(torch.float64)  # every theory check runs in float64
T_START = time.perf_counter()

# %%
QUICK = True  # False: longer runs, a finer lr grid, larger PEP sizes (minutes)

T = 100 if QUICK else 1000                      # steps per run
N_LR = 4 if QUICK else 9                        # lr grid: eta* x 10^[-1, 1], eta* = D / (G sqrt(T+1))
PROBLEMS = [("l1_distance", {}), ("lad", {}), ("logistic", {})]
PEP_N = [2, 4, 8] if QUICK else [2, 4, 8, 16, 32, 50]
N_SYNTH = 2000                                  # length of the synthetic gradient-norm profiles
T_OPT = 200                                     # horizon of the numerically optimal schedule

# %%
ROWS = []  # the check table: rows of ratecheck.theory.report (nb.check_trace) and stated values (nb.value_check)

# %% [markdown]
# ## 1. Constant vs linear decay vs cosine vs refined on convex problems
#
# Deterministic full-gradient SGD from one start, a grid of base step sizes around
# eta* = D / (G sqrt(T+1)). The refined schedule takes the gradient norms of the linear-decay
# run with the same base lr (`schedule="refined"`, median filter tau = 0.1 as the authors' code).
# Every applicable registered result is checked on every run.

# %%
SCHEDULES = ["constant", "linear", "cosine", "refined"]
runs = {}  # (problem, schedule) -> (problem, trace, checks)
for name, params in PROBLEMS:
    p = problems.get(name, **params)
    x0 = p.x0(1, seed=0).repeat(N_LR, 1)
    D = float(p.dist_to_opt(x0[:1])[0])
    lrs = D / (p.G * math.sqrt(T + 1)) * torch.logspace(-1, 1, N_LR)
    for sched in SCHEDULES:
        hp = {"lr": lrs, "T": T}
        if sched == "refined":
            hp["norms"] = runs[(name, "linear")][1]["grad_norm"][:T].T  # [B, T]: one norm log per run
        tr = run(p, optimizers.get("sgd", schedule=sched), x0, T, hp=hp, keep_iterates=True)
        runs[(name, sched)] = (p, tr, nb.check_trace(ROWS, tr, p, f"sgd/{sched}", prefix="schedules."))
print(f"{len(runs)} cells run and checked")

# %%
fig, axes = plt.subplots(2, len(PROBLEMS), figsize=(4.2 * len(PROBLEMS), 7))
for j, (name, _) in enumerate(PROBLEMS):
    ax_lr, ax_rate = axes[0, j], axes[1, j]
    for i, sched in enumerate(SCHEDULES):
        p, tr, checks = runs[(name, sched)]
        lrs, final = tr.meta["hp"]["lr"], tr["subopt"][-1]
        ax_lr.plot(lrs, final, "-o", color=color(i), ms=3, label=sched)
        b = int(torch.argmin(final))
        t = np.arange(1, T + 1)
        ax_rate.plot(t, tr["subopt"][1:, b], color=color(i), label=f"{sched} (lr {lrs[b]:.2g})")
        if sched == "linear":
            bnd = checks["schedules.thm10"].bound[1:, b]
            ax_rate.plot(t, bnd, color=color(i), label="Theorem 10 bound [DERIVED]", **BOUND_STYLE)
            if "schedules.linear_decay" in checks and bool(checks["schedules.linear_decay"].checked[b]):
                ax_rate.plot([T], [float(checks["schedules.linear_decay"].bound[T, b])], "s", color=color(i),
                             label="linear-decay bound at T [DERIVED]")
    ax_lr.set(xscale="log", yscale="log", xlabel="base lr", ylabel="f(x_T) - f*", title=f"{name}: final gap vs lr")
    ax_rate.set(xscale="log", yscale="log", xlabel="step t", ylabel="f(x_t) - f*", title=f"{name}: best lr per schedule")
    ax_lr.legend(frameon=False, fontsize=7)
    ax_rate.legend(frameon=False, fontsize=6)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. The tight PEP worst case of linear decay beside the bound
#
# PEPit solves for the worst convex G-Lipschitz function and start with ||x_0 - x*|| <= D
# (D = G = 1) after n linear-decay steps at eta = D/(G sqrt(n+1)). Bound (B) with w = 1 gives
# D G / sqrt(n+1) ([DERIVED], note §5); Theorem 10 applied to the same schedule with
# ||g_t|| = G is about twice as large.

# %%
from ratecheck.theory import pep
from ratecheck.theory import schedules as S

pep_rows = []
for n in PEP_N:
    eta = 1.0 / math.sqrt(n + 1)
    steps = S.linear_decay_schedule(n, eta)
    v = pep.sgd_worst_case(steps, 1.0, G=1.0)
    bound_b = float(S.linear_decay_bound(eta, n, 1.0, 1.0))
    thm10 = float(S.thm10_prefix_bounds(steps, 1.0, np.ones(n + 1))[-1])
    pep_rows.append({"n": n, "PEP worst case": v.value, "status": v.status, "bound (B) = 1/sqrt(n+1)": bound_b,
                     "Theorem 10": thm10})
    nb.value_check(ROWS, f"PEP(linear decay, n={n}) = bound (B)", "DERIVED", "note §5, §13",
                v.ok and pep.within_solver_tolerance(v.value, bound_b), f"{v.value:.8f} vs {bound_b:.8f}")
    nb.value_check(ROWS, f"PEP(linear decay, n={n}) <= Theorem 10", "DERIVED", "note §7",
                v.ok and pep.below_with_solver_tolerance(v.value, thm10))
pep_table = pd.DataFrame(pep_rows)
display(pep_table)
fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.plot(pep_table["n"], pep_table["PEP worst case"], "o", color=color(0), mfc="none", label="PEP worst case")
ax.plot(pep_table["n"], pep_table["bound (B) = 1/sqrt(n+1)"], color=color(1), label="bound (B) [DERIVED]", **BOUND_STYLE)
ax.plot(pep_table["n"], pep_table["Theorem 10"], color=color(2), label="Theorem 10 [DERIVED]", **BOUND_STYLE)
ax.set(xscale="log", yscale="log", xlabel="steps n", ylabel="f(x_n) - f*", title="linear decay, D = G = 1")
ax.legend(frameon=False)
plt.show()

# %% [markdown]
# ## 3. Refined schedules from synthetic gradient-norm profiles
#
# The authors' synthetic profiles ([CODE] `synthetic_sched_grid.py`, reference values recomputed
# in note §10): piecewise-linear norms smoothed by a Gaussian filter, weights ||g_t||^-2
# (`optimizers.refine.schedule_from_weights`). Then the full pipeline
# (`optimizers.refine.refined_schedule`: median filter, weights, normalisation) on noisy copies,
# as it would see a real norm log.

# %%
from scipy.ndimage import gaussian_filter1d
from ratecheck.optimizers import refine

grid = np.linspace(0, 1, N_SYNTH)
PROFILES = {  # values at fractions 0, .003, .02, .03, .1, 1 of the run (note §10)
    "flat": [1, 1, 1, 1, 1, 1],
    "decreasing": [15, 6, 4, 2, 1, 1],
    "rising at the end": [15, 6, 4, 2, 1, 2],
    "falling at the end": [15, 6, 4, 2, 1, 0.7],
}
norms = {k: gaussian_filter1d(np.interp(grid, [0, .003, .02, .03, .1, 1], v), sigma=40.0, mode="nearest")
         for k, v in PROFILES.items()}
shapes = {k: refine.schedule_from_weights(g ** refine.SGD_POWER) for k, g in norms.items()}
rng = np.random.default_rng(0)
noisy = {k: g * np.exp(0.3 * rng.standard_normal(N_SYNTH)) for k, g in norms.items()}
piped = {k: refine.refined_schedule(g, tau=0.1, nvals=N_SYNTH) for k, g in noisy.items()}

at = lambda s, f: float(s[int(math.floor(f * (N_SYNTH - 1)))])
peak = {k: 100 * int(np.argmax(s)) / (N_SYNTH - 1) for k, s in shapes.items()}
display(pd.DataFrame([{"profile": k, "argmax %": peak[k], **{f"s at {int(100 * f)}%": at(s, f) for f in (0, .05, .1, .5, .9)}}
                      for k, s in shapes.items()]))

nb.value_check(ROWS, "flat norms give exactly linear decay", "DERIVED", "note §6",
            float(np.abs(shapes["flat"] - np.linspace(1, 0, N_SYNTH)).max()) < 1e-12)
for k in ("decreasing", "rising at the end", "falling at the end"):
    nb.value_check(ROWS, f"warm-up: '{k}' peaks near 12-15% of the run", "CODE", "note §10 (synthetic_sched_grid.py)",
                12.0 <= peak[k] <= 15.1, f"argmax {peak[k]:.1f}%")
nb.value_check(ROWS, "annealing: norms rising at the end decay faster (s at 90%)", "DERIVED", "note §10",
            at(shapes["rising at the end"], .9) < at(shapes["decreasing"], .9) < at(shapes["falling at the end"], .9))

fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
for i, k in enumerate(PROFILES):
    axes[0].plot(grid, noisy[k], color=color(i), alpha=0.25, lw=0.5)
    axes[0].plot(grid, norms[k], color=color(i), label=k)
    axes[1].plot(grid, shapes[k], color=color(i), label=k)
    axes[2].plot(grid, piped[k], color=color(i), label=k)
axes[0].set(yscale="log", xlabel="t / T", ylabel="||g_t||", title="gradient-norm profiles (noisy copies faint)")
axes[1].set(xlabel="t / T", ylabel="lr multiplier", title="refined schedule, exact profiles")
axes[2].set(xlabel="t / T", ylabel="lr multiplier", title="refine pipeline on the noisy copies (tau = 0.1)")
for ax in axes:
    ax.legend(frameon=False, fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. The optimal schedule from the numerical solver
#
# `theory.schedules.optimal_schedule` minimises the Theorem-10 bound over all schedules
# (L-BFGS-B as the authors' `find_schedule`). For constant norms it should be almost exactly
# linear decay (note §7 table); for the norms observed on a real run it is set beside the
# closed-form refined schedule of bound (B).

# %%
g_flat = np.ones(T_OPT)
lam, bound_opt = S.optimal_schedule(g_flat, 1.0)
lam = lam.numpy()
t = np.arange(1, T_OPT + 1)
bench = {
    "constant": S.constant_step_thm10(T_OPT)[1],
    "linear 1 - t/(T+1)": float(S.thm10_optimal_base(1 - t / (T_OPT + 1), 1.0, g_flat)[1]),
    "cosine": float(S.thm10_optimal_base(0.5 * (1 + np.cos(np.pi * (t - 1) / T_OPT)), 1.0, g_flat)[1]),
    "numerically optimal": bound_opt,
}
display(pd.DataFrame([{"schedule": k, "sqrt(T) x Theorem-10 bound": math.sqrt(T_OPT) * v} for k, v in bench.items()]))
NOTE7 = {"constant": 2.6216, "linear 1 - t/(T+1)": 2.0216, "cosine": 2.0754, "numerically optimal": 2.0040}
for k, ref in NOTE7.items():
    got = math.sqrt(T_OPT) * bench[k]
    nb.value_check(ROWS, f"sqrt(T) x bound, {k}, T=200 = {ref}", "DERIVED", "note §7 table", abs(got - ref) <= 1e-4, f"{got:.5f}")
fr = [0, .25, .5, .75, .95, 1]
shape = lam / lam.max()
got = np.array([shape[int(math.floor(f * (T_OPT - 1)))] for f in fr])
ref = np.array([1, .754, .504, .255, .061, .049])
nb.value_check(ROWS, "optimal schedule for flat norms = note §7 values (tol 0.01)", "DERIVED", "note §7",
            bool(np.all(np.abs(got - ref) <= 0.01)), np.array2string(got, precision=3))

# The same solver on the norms of the best linear-decay run on l1_distance.
p, tr, _ = runs[("l1_distance", "linear")]
b = int(torch.argmin(tr["subopt"][-1]))
a = S.run_arrays(tr, p)
g_obs, D_obs = a["gnorm"][:, b], float(a["D"][b])  # time on dim 0
lam_obs, bound_obs = S.optimal_schedule(g_obs, D_obs)
lam_obs, ref_steps = lam_obs.numpy(), S.refined_schedule(g_obs, D_obs).numpy()
print(f"l1_distance, norms of the best linear run: Theorem-10-optimal bound {bound_obs:.4g}; "
      f"refined (B) bound {float(S.refined_bound(g_obs, D_obs)):.4g}; linear decay as run, Theorem 10 "
      f"{float(S.thm10_prefix_bounds(a['steps'][:, b], D_obs, g_obs)[-1]):.4g}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
axes[0].plot(t / T_OPT, shape, color=color(0), label="numerically optimal (Theorem 10)")
axes[0].plot(t / T_OPT, 1 - t / (T_OPT + 1), color=color(1), label="linear decay", **BOUND_STYLE)
axes[0].set(xlabel="t / T", ylabel="eta_t / max", title=f"constant norms, T = {T_OPT}")
n_obs = len(g_obs)
axes[1].plot(np.arange(n_obs), lam_obs / lam_obs.max(), color=color(0), label="numerically optimal (Theorem 10)")
axes[1].plot(np.arange(n_obs - 1), ref_steps / ref_steps.max(), color=color(2), label="refined, bound (B)")
axes[1].plot(np.arange(n_obs - 1), a["steps"][:, b] / a["steps"][:, b].max(), color=color(1), label="linear decay (as run)", **BOUND_STYLE)
axes[1].set(xlabel="step t", ylabel="eta_t / max", title="l1_distance: observed norms")
for ax in axes:
    ax.legend(frameon=False, fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. A refined schedule used on a second run
#
# The real use of refinement: the schedule is built from the gradient norms of an EARLIER run and used
# on a new one. A first linear-decay run from other starts (seed 1) gives the norms; the second run
# (seed 0) uses `schedule="refined"` with them (tau = 0.1, nvals = T: the weights stay on the run's
# grid). The runner records the schedule's init arguments, so `schedules.refined_transfer` rebuilds
# the weights w_t = Nhat_t^-2 of the earlier (smoothed) norms and checks (B) with them and the new
# run's own norms (docs/theory/linear_decay_refinement.md#refined-transfer). The lr is chosen so that
# (B)'s eta = D / sqrt(sum w): the bound is then the earlier run's prediction D / sqrt(sum Nhat^-2) times
# (1 + rho)/2, rho the weighted mean of (G_t / Nhat_t)^2.

# %%
from ratecheck.optimizers.refine import smooth_norms

transfer = []
for name in ("l1_distance", "lad", "max_affine"):
    p = problems.get(name)
    x_first, x_second = p.x0(4, seed=1), p.x0(4, seed=0)
    D = p.dist_to_opt(x_second).double()
    first = run(p, optimizers.get("sgd", schedule="linear"), x_first, T,
                hp={"lr": D / (p.G * math.sqrt(T + 1)), "T": T})
    norms = first["grad_norm"][:T].T  # [B, T]
    w = (smooth_norms(norms, tau=0.1, nvals=T) ** -2.0).T  # [T, B]: the refinement's weights
    lr = D / torch.sqrt(w.sum(0)) / S.weights_eta(w, 1.0)
    tr = run(p, optimizers.get("sgd", schedule="refined"), x_second, T,
             hp={"lr": lr, "T": T, "norms": norms, "nvals": T, "tau": 0.1}, keep_iterates=True)
    c = nb.check_trace(ROWS, tr, p, "sgd/refined from an earlier run", prefix="schedules.")["schedules.refined_transfer"]
    G_run = tr["grad_norm"][:T].double()
    rho = (w**2 * G_run**2).sum(0) / w.sum(0)
    transfer.append({"problem": name, "f(x_T) - f* (mean)": float(tr["subopt"][T].mean()),
                     "earlier run's prediction D/sqrt(sum Nhat^-2)": float((D / torch.sqrt(w.sum(0))).mean()),
                     "rho (mean)": float(rho.mean()), "(B) bound (mean) [DERIVED]": float(c.bound[T].mean()),
                     "closed form (1+rho)/2 x prediction": float(S.transfer_bound(w, D, G_run).mean()),
                     "worst observed/bound": float(c.worst_ratio.max())})
display(pd.DataFrame(transfer))

# %% [markdown]
# ## 6. The per-coordinate form: SGD with a fixed diagonal preconditioner
#
# `psgd` runs x_{t+1} = x_t - lr_t A^{-1} g_t with A = diag(a) fixed before the run (here the
# problem's `coordinate_scale`: the weights of `l1_distance`, the feature column RMS of `lad`). It is SGD
# in the coordinates A^{1/2} x, so (B) and linear decay hold with D_A = ||x_0 - x*||_A and
# ||g_t||_{A^-1} (docs/theory/linear_decay_refinement.md#preconditioned). A second run refined from a
# first run's l1 norms with power -1 (the authors' Adam pipeline) is checked by
# `schedules.precond_refined_transfer`, with (B)'s weights from the earlier run and this run's ||g_t||_{A^-1}.

# %%
pre = []
for name in ("l1_distance", "lad"):
    p = problems.get(name)
    x0 = p.x0(4, seed=0)
    a = torch.as_tensor(p.coordinate_scale)
    D_A = torch.sqrt((a * (x0 - p.x_star_tensor(x0)) ** 2).sum(-1))
    G_A = p.G / math.sqrt(float(a.min()))
    lr = D_A / (G_A * math.sqrt(T + 1)) * T / (T + 1)
    lin = run(p, optimizers.get("psgd", schedule="linear", precond="problem"), x0, T, hp={"lr": lr, "T": T}, keep_iterates=True)
    c_lin = nb.check_trace(ROWS, lin, p, "psgd/linear", prefix="schedules.precond_")
    first = run(p, optimizers.get("psgd", schedule="linear", precond="problem"), p.x0(4, seed=1), T, hp={"lr": lr, "T": T})
    ref = run(p, optimizers.get("psgd", schedule="refined", precond="problem"), x0, T,
              hp={"lr": lr, "T": T, "norms": first["grad_l1"][:T].T, "power": -1.0, "tau": 0.1, "nvals": T}, keep_iterates=True)
    c_ref = nb.check_trace(ROWS, ref, p, "psgd/refined from l1 norms", prefix="schedules.precond_")
    for label, tr, c in (("linear", lin, c_lin["schedules.precond_linear_decay"]),
                         ("refined (l1, power -1)", ref, c_ref["schedules.precond_refined_transfer"])):
        pre.append({"problem": name, "schedule": label, "f(x_T) - f* (mean)": float(tr["subopt"][T].mean()),
                    "A-norm bound (mean) [DERIVED]": float(c.bound[T].mean()), "worst observed/bound": float(c.worst_ratio.max())})
display(pd.DataFrame(pre))

# %% [markdown]
# ## 7. Stochastic gradients: (B), linear decay and Theorem 10 in expectation
#
# Least absolute deviations with minibatch gradients (batch 4), 16 seeds per setting, constant steps
# and linear decay at eta* = D / (G sqrt(T+1)). `schedules.thm_b_expected`,
# `schedules.linear_decay_expected` and `schedules.thm10_expected` [DERIVED] bound E[f(x_T) - f*] by
# the deterministic forms with ||g_t||^2 replaced by its mean over seeds
# (docs/theory/linear_decay_refinement.md#theorem-b-in-expectation); `psgd` with the problem's
# diagonal preconditioner is checked by their A-norm forms. Each panel: the mean over seeds of
# f(x_t) - f* with the band of margin(n, R) standard errors (the Student-t quantile with a Bonferroni
# split over the rows, docs/theory/README.md#in-expectation) against the mean bound (dashed). The
# verdicts are the check table's rows, not the picture.

# %%
from ratecheck.figures.style import subplots

lad = problems.get("lad")
N_SEEDS = 16
x0 = lad.x0(1, seed=0).expand(N_SEEDS, -1).clone()  # one start, so the seeds differ by their minibatches only
D = float((x0[0] - lad.x_star_tensor(x0)[0]).norm())
eta = D / (lad.G * math.sqrt(T + 1))
stoch = [("sgd/constant", "sgd", {"schedule": "constant"}, "schedules.thm10_expected"),
         ("sgd/linear", "sgd", {"schedule": "linear"}, "schedules.linear_decay_expected"),
         ("sgd/linear", "sgd", {"schedule": "linear"}, "schedules.thm_b_expected"),
         ("psgd/linear", "psgd", {"schedule": "linear", "precond": "problem"}, "schedules.precond_linear_decay_expected")]
fig, axes = subplots(len(stoch), ncols=2, size=(4.0, 3.0))
traces = {}
for ax, (label, name, kw, key) in zip(axes, stoch):
    if label not in traces:
        traces[label] = run(lad, optimizers.get(name, **kw), x0, T, hp={"lr": eta * T / (T + 1), "T": T},
                            batch_size=4, seeds=torch.arange(N_SEEDS))
        nb.check_trace(ROWS, traces[label], lad, f"{label} x{N_SEEDS} seeds", prefix="schedules.", stochastic=True)
    nb.mean_over_seeds(ax, key, traces[label], lad, title=f"lad, {label}: {key}")
    ax.set_yscale("log")
fig.tight_layout()

# %% [markdown]
# ## Check table
#
# One row per (run, result registered for the run's optimizer; `optimizer` is the run's label),
# from `ratecheck.theory.report` through `ratecheck.notebook.final`:
# `checked` runs where the result's assumptions hold and at least one step is informative (a 1%
# violation would exceed the round-off tolerance, docs/theory/README.md#tolerance),
# `frac_checked` the fraction of steps that were informative, `violated` runs with a step where
# observed > bound beyond the tolerance, `worst_ratio` max observed/bound. `n/a` and ERROR rows say
# why below the table; `role` separates theorems from implementation checks (true by construction of the
# update) and errata (printed statements known to be false: expected to fail, never counted);
# [UNVERIFIED] rows are shown, never counted; `value` rows are numbers stated in our reference
# notes. The headline counts theorems apart. The last line is `PASS`, or an AssertionError lists
# the violated or failing asserted results.

# %%
print(f"notebook ran in {time.perf_counter() - T_START:.1f} s (QUICK = {QUICK})")
nb.final(ROWS)
