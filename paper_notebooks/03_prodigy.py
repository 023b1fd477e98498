# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Prodigy (arXiv 2306.06101), with D-Adaptation with Resetting
#
# Mishchenko & Defazio, *Prodigy: An Expeditiously Adaptive Parameter-Free Learner* (ICML 2024).
#
# **Claims.**
# - [PAPER, v4 abstract] Prodigy improves the convergence rate of D-Adaptation by a factor of
#   sqrt(log(D/d_0)); in practice its estimate d grows much faster.
# - [DERIVED, docs/references/prodigy.md §4] per-run inequalities P0-P4 (d-hat <= D; the distance
#   travelled and the sum of squared steps bounded by the estimate), a suboptimality bound
#   computable at every step, and the official code's invariant I-P.
# - [UNVERIFIED] the paper's theorem statements (its Theorem 1 shape, its sequence lemma) and
#   the Resetting algorithm of v1: shown, never asserted.
# - [DERIVED, docs/theory/prodigy.md#da-rate, #resetting-rate] for our reconstructions of the DA form and
#   of Resetting, as implemented: rates O(DG sqrt(log(D/d_0)/n)) (the DA form with no log n factor).
#
# The paper's full text was not available; see docs/references/prodigy.md for what is certain.
#
# **Registered results** (read from `ratecheck.theory` when the notebook runs):

# %%
from ratecheck import notebook as nb

KEYS = nb.claims(nb.keys_with("prodigy."))

# %% [markdown]
# Also checked on the Resetting runs: `dadaptation.resetting_d_le_max_d0_D` (derived from
# Theorem 6, which bounds every estimate that becomes d, since each epoch is Algorithm 1 with
# constant weights).

# %%
import time

import numpy as np
import pandas as pd
import torch
import matplotlib.pyplot as plt

from ratecheck import optimizers, problems, theory
from ratecheck.notebook import display
from ratecheck.experiments.runner import run
from ratecheck.figures.style import BOUND_STYLE, RC, color

# ratecheck.figures.style selects the Agg backend for file output; draw inline here instead.
# %matplotlib inline
plt.rcParams.update(RC)
torch.set_default_dtype(torch.float64)  # every theory check runs in float64
T_START = time.perf_counter()

# %%
QUICK = True  # False: longer runs, more starts and problems

T = 1000 if QUICK else 5000
STARTS = 3 if QUICK else 16
D0 = 1e-6
PROBLEMS = ["abs_1d", "l1_distance", "lad"] if QUICK else \
           ["abs_1d", "l1_distance", "lad", "norm_residual", "max_affine", "logistic", "huber"]
METHODS = [  # (label, optimizer name, options): Prodigy's three forms beside D-Adaptation's
    ("D-Adapt DA", "dadapt_da", {}),
    ("D-Adapt GD", "dadapt_gd", {"G_term": True}),
    ("Prodigy GD", "prodigy_gd", {}),
    ("Prodigy DA [UNVERIFIED alg.]", "prodigy_da", {}),
    ("Prodigy Adam (code)", "prodigy_adam", {}),
    ("Resetting [UNVERIFIED alg.]", "dadapt_resetting", {"G_term": True}),
]

# %%
ROWS = []  # the check table: rows of ratecheck.theory.report (nb.check_trace) and stated values (nb.value_check)

# %% [markdown]
# ## 1. Growth of d: Prodigy vs D-Adaptation
#
# Every method from the same starts with d_0 = 1e-6 (G-variants take the problem's G).
# Every applicable registered result is checked on every run.

# %%
runs = {}
for name in PROBLEMS:
    p = problems.get(name)
    x0 = torch.tensor([[1.0]]) if name == "abs_1d" else p.x0(STARTS, seed=2)
    for label, opt, opts in METHODS:
        tr = run(p, optimizers.get(opt, **opts), x0, T, hp={"d0": D0}, keep_iterates=True)
        keys = None
        if opt == "dadapt_resetting":
            keys = [r.key for r in theory.applicable(opt, p)]
        runs[(name, label)] = (p, tr, nb.check_trace(ROWS, tr, p, label, keys))

fig, axes = plt.subplots(1, len(PROBLEMS), figsize=(3.6 * len(PROBLEMS), 3.3), squeeze=False)
reach = []
for ax, name in zip(axes[0], PROBLEMS):
    for i, (label, opt, _) in enumerate(METHODS):
        p, tr, _ = runs[(name, label)]
        ratio = tr["d"][:T] / tr["dist"][0]
        ax.plot(np.arange(1, T + 1), ratio.median(dim=1).values, color=color(i), label=label)
        hit = (ratio >= 0.1).any(dim=1)
        reach.append({"problem": name, "method": label, "d_T / D (median)": float((tr["d_next"][T - 1] / tr["dist"][0]).median()),
                      "first k with d_k >= D/10": int(hit.nonzero()[0]) if bool(hit.any()) else None})
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="step k", ylabel="d_k / D", title=name)
axes[0, 0].legend(frameon=False, fontsize=6)
fig.tight_layout()
plt.show()
display(pd.DataFrame(reach).pivot(index="method", columns="problem", values="first k with d_k >= D/10"))

# %% [markdown]
# The rates the papers state for the deterministic convex G-Lipschitz case, as shapes
# (`theory.prodigy.rate_comparison`; where a constant is unknown it is set to 1, so compare
# shapes, not values). The factor Prodigy gains over D-Adaptation is sqrt(log2+(D/d_0)).

# %%
from ratecheck.theory import prodigy as PR

n = torch.logspace(0, 4, 50)
rates = PR.rate_comparison(n, 1.0, 1.0, D0)
PROV = {"dadapt_da_v1": "PAPER, proof broken", "dadapt_da_final": "SECONDARY", "dadapt_gd": "SECONDARY shape",
        "prodigy_gd": "SECONDARY shape", "prodigy_da": "UNVERIFIED", "resetting": "UNVERIFIED"}
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for i, (k, v) in enumerate(rates.items()):
    ax.plot(n, v, color=color(i), label=f"{k} [{PROV[k]}]")
ax.set(xscale="log", yscale="log", xlabel="n", ylabel="rate (D = G = 1)", title=f"guarantees, d_0 = {D0:g}")
ax.legend(frameon=False, fontsize=6)
plt.show()

# %% [markdown]
# ## 2. The invariants and the computable bound along the runs
#
# P2 (distance travelled), P4 (sum of squared steps) and the computable suboptimality bound
# for Prodigy GD on one start of each problem: observed (solid) against bound (dashed).

# %%
show = ["prodigy.P2", "prodigy.P4", "prodigy.computable_bound"]
fig, axes = plt.subplots(1, len(show), figsize=(4.2 * len(show), 3.3))
k = np.arange(1, T + 1)
for ax, key in zip(axes, show):
    for i, name in enumerate(PROBLEMS):
        _, _, checks = runs[(name, "Prodigy GD")]
        if key not in checks:
            continue
        c = checks[key]
        ax.plot(k, c.observed[:, 0], color=color(i), label=name)
        b = c.bound[:, 0]
        ok = torch.isfinite(b)
        ax.plot(k[ok.numpy()], b[ok], color=color(i), **BOUND_STYLE)
    r = theory.get(key)
    ax.set(xscale="log", yscale="log", xlabel="step n", title=f"{key} [{r.provenance.value}]")
    ax.legend(frameon=False, fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. D-Adaptation with Resetting
#
# A reconstruction of v1's design ([UNVERIFIED] algorithm): d is held fixed inside an epoch and
# replaced, with a restart from x_0, when the epoch's estimate exceeds twice d. Asserted:
# d <= max(d_0, D) (Theorem 6, general weights) and the epoch bound and rate of section 4 [DERIVED].

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
for i, name in enumerate(PROBLEMS):
    p, tr, _ = runs[(name, "Resetting [UNVERIFIED alg.]")]
    D = tr["dist"][0, 0]
    axes[0].plot(np.arange(1, T + 1), tr["d_next"][:T, 0] / D, color=color(i), label=name)
    resets = tr["reset"][:T, 0].nonzero().flatten().numpy()
    axes[0].plot(resets + 1, (tr["d_next"][resets, 0] / D).numpy(), "|", color=color(i), ms=8)
    axes[1].plot(np.arange(1, T + 1), tr["subopt"][1:, 0], color=color(i), label=name)
    print(f"{name}: {int(tr['epoch'][T - 1, 0])} resets; d_T / D = {float(tr['d_next'][T - 1, 0] / D):.3g}")
axes[0].axhline(1.0, color="black", lw=0.8)
axes[0].set(xscale="log", yscale="log", xlabel="step k", ylabel="d / D (resets marked)", title="Resetting: the estimate")
axes[1].set(xscale="log", yscale="log", xlabel="step k", ylabel="f(x_k) - f*", title="Resetting: suboptimality")
for ax in axes:
    ax.legend(frameon=False, fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Rates of the dual-averaging form and of Resetting [DERIVED]
#
# Proved here for the algorithms as implemented (docs/theory/prodigy.md#da-rate, #resetting-rate):
# Prodigy DA's computable bound and its rate (2 + sqrt 3) D G sqrt(rho (1 + rho)), rho = 2m/(n+2-m),
# m = floor(2 log2(D/d_0)) + 1, i.e. O(DG sqrt(log(D/d_0)/n)) with no log n; Resetting's bound on the
# longest epoch so far, O(DG sqrt(log_r(D/d_0)/n)). Observed (solid) against bound (dashed), first start.

# %%
show = [("Prodigy DA [UNVERIFIED alg.]", "prodigy.da_computable_bound"), ("Prodigy DA [UNVERIFIED alg.]", "prodigy.da_rate"),
        ("Resetting [UNVERIFIED alg.]", "prodigy.resetting_rate")]
fig, axes = plt.subplots(1, len(show), figsize=(4.2 * len(show), 3.3))
for ax, (label, key) in zip(axes, show):
    for i, name in enumerate(PROBLEMS):
        c = runs[(name, label)][2].get(key)
        if c is None:
            continue
        ax.plot(k, c.observed[:, 0], color=color(i), label=name)
        b = c.bound[:, 0]
        ok = torch.isfinite(b)
        ax.plot(k[ok.numpy()], b[ok], color=color(i), **BOUND_STYLE)
    ax.set(xscale="log", yscale="log", xlabel="step n", title=f"{key} [{theory.get(key).provenance.value}]")
    ax.legend(frameon=False, fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# Under minibatch gradients (`lad`, minibatch 8, one start, 8 seeds), the first step of the DA chain holds in
# expectation (`prodigy.da_l5_expected` [DERIVED]): sum_k d_k^2 (f(x_k) - f*), mean over seeds with its
# 10-90% band, against the mean of D ||s_{n+1}|| - sum_k d_k^2 <g_k, x_0 - x_k>.

# %%
SEEDS = 8
p_lad = problems.get("lad")
tr_sto = run(p_lad, optimizers.get("prodigy_da"), p_lad.x0(1, seed=2).expand(SEEDS, -1).clone(), T,
             hp={"d0": D0}, batch_size=8, seeds=torch.arange(SEEDS))
sto = nb.check_trace(ROWS, tr_sto, p_lad, "Prodigy DA/minibatch 8", stochastic=True)
obs = torch.cumsum(tr_sto["d"][:T].double() ** 2 * tr_sto["subopt"][:T].double(), 0)
fig, ax = plt.subplots(figsize=(5.5, 3.3))
ax.plot(k, obs.mean(dim=1), color=color(0), label="sum d_k^2 (f(x_k) - f*), mean over seeds")
ax.fill_between(k, obs.quantile(0.1, dim=1), obs.quantile(0.9, dim=1), color=color(0), alpha=0.2, lw=0)
ax.plot(k, sto["prodigy.da_l5_expected"].bound[:, 0], color=color(0), label="mean bound [DERIVED]", **BOUND_STYLE)
ax.set(xscale="log", yscale="log", xlabel="step n", title="Prodigy DA, lad, minibatch 8")
ax.legend(frameon=False, fontsize=7)
plt.show()

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
