"""D-Adaptation: trajectory cross-checks against the authors' package (dadaptation 3.2) and
light invariants from docs/references/dadaptation.md.

Cross-checks: one reference optimizer per run over a single float64 parameter tensor, every
constructor argument passed explicitly, >= 200 steps, on problems.get("l1_distance") and a
small least-squares objective. At every step the iterate and the package's scalars
(param_groups[0]: d, numerator_weighted, g0_norm, ...) must agree with ours to
|ours - ref| <= RTOL * (|ref| + scale), scale = the quantity's largest magnitude over the run
(the two codes evaluate the same formulas with different summation orders; observed
differences are ~1e-15 relative).
"""

from __future__ import annotations

import math

import pytest
import torch

from ratecheck import problems
from ratecheck.errors import RatecheckError
from ratecheck.optimizers import get

from tests._lib.core import CROSS_CHECK_PROBLEMS as PROBLEMS
from tests._lib.core import L1Distance as L1
from tests._lib.core import LeastSquares, cross_check, run_steps

dadaptation = pytest.importorskip("dadaptation")

RTOL = 1e-10
T = 220


# ---------------------------------------------------------------------------------------------
# Cross-checks against dadaptation 3.2
# ---------------------------------------------------------------------------------------------

SGD_HPS = [
    dict(lr=1.0, momentum=0.0, weight_decay=0.0, d0=1e-6, growth_rate=math.inf),
    dict(lr=0.5, momentum=0.9, weight_decay=1e-3, d0=1e-3, growth_rate=1.02),
    dict(lr=2.0, momentum=0.5, weight_decay=0.0, d0=1e-2, growth_rate=math.inf),
]


@pytest.mark.parametrize("prob_name", sorted(PROBLEMS))
def test_dadapt_sgd_matches_package(prob_name):
    def make(params, h):
        return dadaptation.DAdaptSGD(params, lr=h["lr"], momentum=h["momentum"], weight_decay=h["weight_decay"],
                                     log_every=0, d0=h["d0"], growth_rate=h["growth_rate"], fsdp_in_use=False)

    _, info = cross_check("dadapt_sgd_code", SGD_HPS, make,
                          [("d_next", "d"), ("numerator", "numerator_weighted"), ("g0_norm", "g0_norm")], prob_name, RTOL, T)
    # The runs must actually adapt, or the check would be vacuous.
    assert bool((info["d_next"][-1] > 10 * info["d"][0]).all())


ADAM_HPS = [
    dict(lr=1.0, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decouple=0, use_bias_correction=0, d0=1e-6, growth_rate=math.inf),
    dict(lr=1.0, beta1=0.5, beta2=0.99, eps=1e-8, weight_decay=1e-2, decouple=0, use_bias_correction=1, d0=1e-4, growth_rate=1.05),
    dict(lr=0.5, beta1=0.0, beta2=0.9, eps=1e-6, weight_decay=1e-2, decouple=1, use_bias_correction=0, d0=1e-3, growth_rate=math.inf),
]


@pytest.mark.parametrize("prob_name", sorted(PROBLEMS))
def test_dadapt_adam_matches_package(prob_name):
    def make(params, h):
        return dadaptation.DAdaptAdam(params, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                                      weight_decay=h["weight_decay"], log_every=0, decouple=bool(h["decouple"]),
                                      use_bias_correction=bool(h["use_bias_correction"]), d0=h["d0"],
                                      growth_rate=h["growth_rate"], fsdp_in_use=False)

    _, info = cross_check("dadapt_adam_code", ADAM_HPS, make, [("d_next", "d"), ("numerator", "numerator_weighted")], prob_name, RTOL, T)
    assert bool((info["d_next"][-1] > 10 * info["d"][0]).all())


ADAGRAD_HPS = [
    dict(lr=1.0, momentum=0.0, weight_decay=0.0, eps=1e-6, d0=1e-6, growth_rate=math.inf),
    dict(lr=0.7, momentum=0.9, weight_decay=1e-3, eps=1e-4, d0=1e-3, growth_rate=1.1),
]


@pytest.mark.parametrize("prob_name", sorted(PROBLEMS))
def test_dadapt_adagrad_matches_package(prob_name):
    def make(params, h):
        return dadaptation.DAdaptAdaGrad(params, lr=h["lr"], momentum=h["momentum"], log_every=0,
                                         weight_decay=h["weight_decay"], eps=h["eps"], d0=h["d0"],
                                         growth_rate=h["growth_rate"])

    pairs = [("d_next", "d"), ("s_l1", "skl1"), ("s_weighted_sq", "sksq_weighted"), ("g_weighted_sq", "gsq_weighted")]
    _, info = cross_check("dadapt_adagrad_code", ADAGRAD_HPS, make, pairs, prob_name, RTOL, T)
    assert bool((info["d_next"][-1] > 10 * info["d"][0]).all())


# ---------------------------------------------------------------------------------------------
# Paper algorithms: invariants and the toy target (docs/references/dadaptation.md)
# ---------------------------------------------------------------------------------------------


def _run(name, prob, x0, T, hp, **options):
    state, _, info = run_steps(name, prob, x0, T, hp, **options)
    return state, info


def test_toy_abs_matches_note():
    """|x| from x0 = 1, d0 = 0.1, Algorithm 1 without G (v1 Figure 1): the note's float64
    re-implementation [DERIVED] gives d_20 = 0.31950090 and a plateau 0.5003164 from k = 26
    for option I, and a plateau near 0.6145 for option II. Both values carry 7-8 digits."""
    prob = problems.get("abs_1d")
    x0 = torch.ones(1, 1)
    _, info = _run("dadapt_da", prob, x0, 100, {"d0": 0.1}, option="I")
    d = info["d"][:, 0]
    assert float(d[20]) == pytest.approx(0.31950090, rel=1e-7)
    assert torch.allclose(d[26:], torch.full_like(d[26:], 0.5003164), rtol=1e-6)
    assert float(d[25]) < 0.5
    _, info2 = _run("dadapt_da", prob, x0, 100, {"d0": 0.1}, option="II")
    assert float(info2["d"][-1, 0]) == pytest.approx(0.6145, abs=5e-5)


@pytest.mark.parametrize("option,G_term", [("I", False), ("II", False), ("I", True), ("II", True)])
def test_dual_averaging_invariants(option, G_term):
    """Thm 6 [PAPER, v1]: d_k <= max(d_0, D), d monotone; Lemma 4: d-tilde >= d-hat
    (round-off slack 1e-12 relative); Lemma 7' (G-variant) [DERIVED]: ||x_n - x_0|| <= (1+sqrt 3) d_n."""
    prob = L1()
    x0 = prob.x0(4)
    D = torch.linalg.vector_norm(x0 - prob.x_star, dim=-1)
    hp = {"d0": torch.tensor([1e-6, 1e-3, 1e-1, 1.0]) * D}
    if G_term:
        hp["G"] = prob.p.G
    opt = get("dadapt_da", option=option, G_term=G_term)
    state = opt.init(x0, **hp)
    worst_lemma7 = -math.inf
    d_prev = state["d"]
    for _ in range(300):
        state, info = opt.step(state, prob.grad(state["x"]))
        assert bool((info["d_next"] >= d_prev).all())
        d_prev = info["d_next"]
        assert bool((info["d_next"] <= torch.maximum(hp["d0"], D) * (1 + 1e-12)).all())
        gap = info["d_hat_I"] - info["d_hat_II"]
        assert bool((gap <= 1e-12 * info["d_hat_II"].abs().clamp_min(D)).all())
        if G_term:
            dist = torch.linalg.vector_norm(state["x"] - x0, dim=-1)
            worst_lemma7 = max(worst_lemma7, float((dist - (1 + math.sqrt(3)) * info["d_next"]).max()))
    if G_term:
        assert worst_lemma7 <= 1e-12
    # Weighted average x-hat = sum d_k x_k / sum d_k is finite and within the iterates' hull scale.
    assert bool(torch.isfinite(state["x_avg"]).all())


def test_dual_averaging_zero_first_gradient_stops():
    """Algorithm 1: g_0 = 0 -> exit with x_0; the other run is unaffected."""
    prob = problems.get("abs_1d")
    x0 = torch.tensor([[0.0], [1.0]])
    state, info = _run("dadapt_da", prob, x0, 20, {"d0": 0.1})
    assert float(state["x"][0, 0]) == 0.0 and not bool(state["diverged"].any())
    assert float(info["d"][-1, 0]) == 0.1 and float(info["d"][-1, 1]) > 0.1


def test_adagrad_paper_invariants():
    """Thm 16 [PAPER, v1]: d-hat <= D_inf; L17: ||s_{n+1}||_1 <= 3 d_{n+1} ||a_{n+1}||_1 with a_0 = G_inf."""
    prob = L1()
    x0 = prob.x0(3)
    D_inf = (x0 - prob.x_star).abs().max(dim=-1).values
    G_inf = float(torch.as_tensor(prob.p.params["w"]).abs().max())
    _, info = _run("dadapt_adagrad", prob, x0, 300, {"d0": torch.tensor([1e-6, 1e-3, 1e-1]) * D_inf, "G_inf": G_inf})
    assert bool((info["d_hat"] <= D_inf * (1 + 1e-12)).all())
    assert bool((info["s_l1"] <= 3 * info["d_next"] * info["a_l1"] * (1 + 1e-12)).all())
    assert bool((info["d_next"][-1] > 1e-2 * D_inf).all())


def test_gd_variant_invariants():
    """GD form: d-hat <= D (P0 with eta = lambda) [DERIVED]; the GD identity
    sum lambda<g, x0 - x> = (||s||^2 - sum lambda^2||g||^2)/2 [DERIVED] to 1e-11 relative."""
    prob = LeastSquares.random()
    x0 = prob.x0(3)
    D = torch.linalg.vector_norm(x0 - prob.x_star, dim=-1)
    G = float(torch.linalg.vector_norm(prob.grad(x0), dim=-1).max()) * 2
    for G_term in (True, False):
        hp = {"d0": torch.tensor([1e-6, 1e-2, 0.5]) * D, **({"G": G} if G_term else {})}
        _, info = _run("dadapt_gd", prob, x0, 250, hp, G_term=G_term)
        assert bool((info["d_hat"] <= D * (1 + 1e-12)).all())
        ident = 0.5 * (info["s_norm"] ** 2 - info["sum_lr2_g2"])
        assert torch.allclose(info["numerator"], ident, rtol=1e-11, atol=1e-11 * float(ident.abs().max()))


def test_sgd_code_invariant_momentum_zero():
    """DAdaptSGD with momentum 0 [DERIVED, docs/references/dadaptation.md §3.1]: d <= max(d_0, 2D)."""
    prob = L1()
    x0 = prob.x0(3)
    D = torch.linalg.vector_norm(x0 - prob.x_star, dim=-1)
    hp = {"d0": torch.tensor([1e-6, 1e-3, 1e-1]) * D, "lr": torch.tensor([1.0, 0.3, 3.0])}
    _, info = _run("dadapt_sgd_code", prob, x0, 300, hp)
    assert bool((info["d_next"] <= torch.maximum(hp["d0"], 2 * D) * (1 + 1e-12)).all())


@pytest.mark.parametrize(
    "name,hp,pattern",
    [
        ("dadapt_da", {"d0": 0.0}, r"d0=0.0 is out of range; allowed: \(0, inf\]"),
        ("dadapt_sgd_code", {"growth_rate": 0.5}, r"growth_rate=0.5 is out of range; allowed: \[1, inf\]"),
        ("dadapt_sgd_code", {"momentum": 1.0}, r"momentum=1.0 is out of range; allowed: \[0, 1\)"),
        ("dadapt_adam_code", {"beta2": 1.0}, r"beta2=1.0 is out of range"),
        ("dadapt_adam_code", {"beta1": -0.1}, r"beta1=-0.1 is out of range"),
        ("dadapt_adam_code", {"eps": 0.0}, r"eps=0.0 is out of range"),
        ("dadapt_adam_code", {"decouple": 0.5}, r"decouple=0.5 is out of range; allowed: 0 \(off\) or 1 \(on\)"),
        ("dadapt_adagrad_code", {"weight_decay": -1.0}, r"weight_decay=-1.0 is out of range"),
        ("dadapt_adagrad", {"d0": 1.0}, r"'G_inf' is required"),
        ("dadapt_da", {"d0": 1.0, "G": 1.0}, r"unknown hyper-parameter\(s\) \['G'\]"),
    ],
)
def test_bad_hyper_parameters(name, hp, pattern):
    with pytest.raises(RatecheckError, match=pattern):
        get(name).init(torch.zeros(2, 3), **hp)


def test_bad_options():
    with pytest.raises(RatecheckError, match="III"):
        get("dadapt_da", option="III")
    with pytest.raises(RatecheckError, match=r"'G' is required"):
        get("dadapt_da", G_term=True).init(torch.zeros(1, 2), d0=1.0)
