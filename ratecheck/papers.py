"""One record per paper: where its optimizers, theory, spec, notebook and docs live.

Adding a paper = its optimizer file, its theory file, its notebook, its docs page, its spec and one
``Paper`` record here (docs/adding_a_paper.md); tests/test_papers.py checks that every path exists,
every optimizer is registered, every registered result belongs to a paper and the README's
methods table names each paper.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import unknown


@dataclass(frozen=True)
class Paper:
    key: str  # spec name, `ratecheck reproduce KEY`, theory result prefix
    title: str
    arxiv: str
    optimizers: tuple[str, ...]  # registered names of the paper's methods
    package: str = ""  # the authors' package the methods are cross-checked against, "name==version"
    theory: str = ""  # theory module (ratecheck.theory.<theory>); its results' keys start with "<theory>."
    notebook: str = ""  # paper_notebooks/<notebook>.py (a jupytext percent-format notebook)
    docs: str = ""  # docs/theory/<docs>.md

    @property
    def spec(self) -> str:
        return f"experiments/specs/{self.key}.toml"


PAPERS: tuple[Paper, ...] = (
    Paper("linear_decay_refinement", "Optimal linear decay learning rate schedules and further refinements", "2310.07831",
          ("sgd", "psgd"), "torch (torch.optim.SGD + lr_scheduler)", "schedules", "01_linear_decay_refinement", "linear_decay_refinement"),
    Paper("dadaptation", "Learning-Rate-Free Learning by D-Adaptation", "2301.07733",
          ("dadapt_da", "dadapt_adagrad", "dadapt_gd", "dadapt_sgd_code", "dadapt_adam_code", "dadapt_adagrad_code"),
          "dadaptation==3.2", "dadaptation", "02_dadaptation", "dadaptation"),
    Paper("prodigy", "Prodigy: An Expeditiously Adaptive Parameter-Free Learner", "2306.06101",
          ("prodigy_gd", "prodigy_adam", "prodigy_da", "dadapt_resetting"), "prodigyopt==1.1.2", "prodigy", "03_prodigy", "prodigy"),
    Paper("mechanic", "Mechanic: A Learning Rate Tuner", "2306.00144",
          ("mechanic", "mechanic_optax"), "mechanic-pytorch==0.0.1", "mechanic", "04_mechanic", "mechanic"),
    Paper("momo", "MoMo: Momentum Models for Adaptive Learning Rates", "2305.07583",
          ("momo", "momo_adam", "momo_star", "momo_adam_star"), "momo-opt==0.1.0", "momo", "05_momo", "momo"),
    Paper("madgrad", "Adaptivity without Compromise: A Momentumized, Adaptive, Dual Averaged Gradient Method", "2101.11075",
          ("madgrad", "mirror_madgrad", "madgrad_paper"), "madgrad==1.3", "madgrad", "06_madgrad", "madgrad"),
    Paper("mda", "Dual Averaging is Surprisingly Effective for Deep Learning Optimization", "2010.10502",
          ("mda",), "", "mda", "07_mda", "mda"),
    Paper("motaps", "Stochastic Polyak Stepsize with a Moving Target", "2106.11851",
          ("taps", "motaps"), "", "motaps", "08_motaps", "motaps"),
    Paper("spa_momentum", "Momentum via Primal Averaging: Theoretical Insights and Learning Rate Schedules", "2010.00406",
          ("sgd_momentum", "heavy_ball", "spa"), "torch (torch.optim.SGD)", "spa", "09_spa_momentum", "spa_momentum"),
    Paper("gradagrad", "GradaGrad: Grad-Adapting Adaptive Gradient Methods", "2206.06900",
          (), "", "", "10_gradagrad", ""),
)


def get(key: str) -> Paper:
    for p in PAPERS:
        if p.key == key:
            return p
    raise unknown("paper", key, [p.key for p in PAPERS])


def of_result(result_key: str) -> Paper | None:
    """The paper whose theory module registered ``result_key`` (prefix before the dot)."""
    prefix = result_key.split(".", 1)[0]
    return next((p for p in PAPERS if p.theory == prefix), None)


def coverage_table() -> str:
    """The README's per-paper theory table (tests/test_papers.py keeps the README equal to it):
    theorems checked pathwise (full gradients only, or also with minibatch gradients), those
    checked in expectation, implementation checks, errata, [UNVERIFIED]."""
    from ratecheck import theory

    lines = ["| paper | theorems checked pathwise, full gradients only | theorems checked pathwise, also with minibatch "
             "gradients | theorems checked in expectation (mean over seeds) | implementation checks | errata | "
             "unverified (shown) |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for p in PAPERS:
        if not p.theory:
            continue
        rs = [theory.get(k) for k in theory.names() if k.startswith(p.theory + ".")]
        th = [r for r in rs if r.role is theory.Role.THEOREM and r.provenance.assertable]
        det = sum(not r.in_expectation and r.oracle == "deterministic" for r in th)
        sto = sum(not r.in_expectation and r.oracle != "deterministic" for r in th)
        exp = ", ".join(f"`{r.key}`" for r in th if r.in_expectation) or "—"
        impl = sum(r.role is theory.Role.IMPLEMENTATION for r in rs)
        err = sum(r.role is theory.Role.ERRATUM for r in rs)
        unv = sum(not r.provenance.assertable for r in rs)
        lines.append(f"| {p.key} (arXiv {p.arxiv}) | {det} | {sto} | {exp} | {impl} | {err} | {unv} |")
    return "\n".join(lines)
