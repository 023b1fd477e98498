"""Shared pieces of the experiments tests: tiny specs and throwaway theory results."""

from __future__ import annotations

import contextlib
import textwrap


from ratecheck import theory
from ratecheck.theory.base import RESULTS, Result

TINY = """
name = "tiny"
T = 30
seeds = 3
record = 10
results = {results}
[[problem]]
name = "l1_distance"
params = {{ d = 4 }}
[[problem]]
name = "abs_1d"
[[optimizer]]
name = "sgd"
label = "sgd small"
lr = [0.01, 0.05]
[[optimizer]]
name = "sgd"
label = "sgd big"
lr = 0.5
"""


def tiny_spec(tmp_path, results='["test.lipschitz"]', extra: str = "") :
    p = tmp_path / "tiny.toml"
    p.write_text(textwrap.dedent(TINY.format(results=results)) + extra)
    return p


def _lipschitz_bound(tr, pb):
    # f(x) - f* <= G ||x - x*|| for a G-Lipschitz f (x* a minimizer): holds on every run.
    return pb.G * tr["dist"]


@contextlib.contextmanager
def throwaway_results(*, violated_provenance: str | None = None):
    """Register test.lipschitz (holds) and, optionally, test.too_tight (violated), then remove them."""
    made = [
        Result(key="test.lipschitz", title="Lipschitz bound", paper="test", arxiv="", provenance="DERIVED",
               source="tests/experiments", statement="f(x_t) - f* <= G ||x_t - x*||", optimizers=("sgd",),
               observed=lambda tr, pb: tr["subopt"], bound=_lipschitz_bound, requires=frozenset({"lipschitz"})),
    ]
    if violated_provenance is not None:
        made.append(
            Result(key="test.too_tight", title="wrong bound", paper="test", arxiv="", provenance=violated_provenance,
                   source="tests/experiments", statement="f(x_t) - f* <= (f(x_t) - f*) / 2", optimizers=("sgd",),
                   observed=lambda tr, pb: tr["subopt"], bound=lambda tr, pb: 0.5 * tr["subopt"], kind="bound")
        )
    theory.names()  # load the registry first, so that our keys are added to a loaded one
    for r in made:
        theory.register(r)
    try:
        yield made
    finally:
        for r in made:
            RESULTS._items.pop(r.key, None)


import pytest


@pytest.fixture
def make_spec(tmp_path):
    return lambda results='["test.lipschitz"]', extra="": tiny_spec(tmp_path, results, extra)


@pytest.fixture
def results_registered():
    return throwaway_results
