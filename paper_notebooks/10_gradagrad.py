# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # GradaGrad (arXiv 2206.06900): not implemented
#
# Defazio, Zhou, Xiao, *Grad-GradaGrad? A Non-Monotone Adaptive Stochastic Gradient Method*
# (2022).
#
# **Status.** ratecheck has no GradaGrad optimizer, no defaults and no bound: the update rule has
# not been read from the paper's text, and the project does not implement a method from a guess
# (docs/gradagrad.md, docs/references/gradagrad.md §3). This notebook runs nothing and shows no result.
#
# **What is known** [SECONDARY: the abstract, and the introduction as rendered by ar5iv]:
# - setting: stochastic minimisation of an expectation of convex, possibly non-smooth functions;
# - family: mirror descent x_(k+1) = x_k - A_(k+1)^(-1) g_k (the paper's eq. (1)) with a positive
#   diagonal A_(k+1) adjusted during the run;
# - idea: AdaGrad's denominator only grows, so its steps only shrink; GradaGrad accumulates a
#   quantity that can decrease as well, so the learning rate can grow or shrink;
# - claims: a convergence rate similar to AdaGrad's, and experiments showing non-monotone
#   adaptation.
#
# **What is missing:** the accumulator and its grow/shrink rule; any safeguards; the theorem
# (assumptions, constants, which iterate); the experiments (tasks, baselines, numbers). No
# official or third-party implementation is known.
#
# **What could be checked without the rule** ([DERIVED], docs/references/gradagrad.md §4): identities
# that hold for any positive diagonal scaling, monotone or not (the mirror-descent regret
# identity, the cost of non-monotonicity, the AdaGrad reference bound, the dual-averaging
# counterpart). The library does not implement them yet, so nothing is run here.

# %%
QUICK = True  # nothing to run: kept for uniformity with the other notebooks

# %%
from ratecheck import optimizers, theory

found_opt = [n for n in optimizers.names() if "grada" in n.lower()]
found_res = [k for k in theory.names() if "grada" in k.lower()]
print("GradaGrad optimizers registered:", found_opt or "none")
print("GradaGrad theory results registered:", found_res or "none")
print("GradaGrad is not implemented: its update rule (the accumulator and the rule that makes it grow or")
print("shrink) has not been read from the paper's text; see docs/gradagrad.md. No result is shown.")
if found_opt or found_res:
    raise AssertionError("the library now registers GradaGrad objects; this notebook must be rewritten to check them")
print("NOT IMPLEMENTED")
