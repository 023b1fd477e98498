"""Shared pieces of the experiments tests: tiny specs and throwaway theory results."""

from __future__ import annotations

import contextlib
import math
import textwrap

import torch

from ratecheck import theory
from ratecheck.theory import access as A
from ratecheck.theory.base import RESULTS, Assumption, Result, Role, Sides

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


def _lipschitz_sides(tr, pb):
    # f(x) - f* <= G ||x - x*|| for a G-Lipschitz f (x* a minimizer): holds on every run.
    return Sides(A.rows(tr, "subopt"), pb.G * A.rows(tr, "dist"))


def _too_tight_sides(tr, pb):
    f = A.rows(tr, "subopt")
    return Sides(f, 0.5 * f)


def _vacuous_sides(tr, pb):
    # A bound of +inf on every row says nothing: no informative row.
    f = A.rows(tr, "subopt")
    return Sides(f, torch.full_like(f, math.inf))


def _unavailable_sides(tr, pb):
    raise theory.Unavailable("needs the iterates, which this run did not keep")


def _broken_sides(tr, pb):
    raise ValueError("a bug in this result")


def _result(key, sides, **kw):
    base = dict(title=key, paper="test", arxiv="", provenance="DERIVED", source="tests/experiments/conftest.py",
                statement=f"{key} statement", optimizers=("sgd",))
    return Result(key=key, sides=sides, **{**base, **kw})


# Further throwaway results, registered on request (``throwaway_results(more=(...))``).
MORE = {
    "test.assumption_false": lambda: _result(
        "test.assumption_false", _lipschitz_sides,
        assumptions=(Assumption("lr <= 0.001", lambda tr, pb: A.hp(tr, "lr") <= 0.001),)),
    "test.needs_tag": lambda: _result("test.needs_tag", _lipschitz_sides, requires=frozenset({"strongly_convex"})),
    "test.vacuous": lambda: _result("test.vacuous", _vacuous_sides),
    "test.unavailable": lambda: _result("test.unavailable", _unavailable_sides),
    "test.broken": lambda: _result("test.broken", _broken_sides),
    "test.implementation": lambda: _result("test.implementation", _lipschitz_sides, role=Role.IMPLEMENTATION),
}


@contextlib.contextmanager
def throwaway_results(*, violated_provenance: str | None = None, violated_role: str = "theorem", more: tuple[str, ...] = ()):
    """Register test.lipschitz (holds), optionally test.too_tight (violated; its provenance and
    role given) and the results of MORE named in ``more``; remove them afterwards."""
    made = [_result("test.lipschitz", _lipschitz_sides, statement="f(x_t) - f* <= G ||x_t - x*||",
                    requires=frozenset({"lipschitz"}))]
    if violated_provenance is not None:
        made.append(_result("test.too_tight", _too_tight_sides, provenance=violated_provenance, role=violated_role,
                            statement="f(x_t) - f* <= (f(x_t) - f*) / 2"))
    made += [MORE[k]() for k in more]
    theory.names()  # load the registry first, so that our keys are added to a loaded one
    for r in made:
        theory.register(r)
    try:
        yield made
    finally:
        for r in made:
            RESULTS.unregister(r.key)


import pytest


@pytest.fixture
def make_spec(tmp_path):
    return lambda results='["test.lipschitz"]', extra="": tiny_spec(tmp_path, results, extra)


@pytest.fixture
def results_registered():
    return throwaway_results
