"""One generic test per registered result: it is exercised, it holds, and it can fail.

For every result that is not [UNVERIFIED] (theorems, implementation checks, errata), a registered
``Example`` run must check it on at least one run, on most of the rows where its bound is defined;
asserted results must hold there in float64 and float32 (no round-off false alarm), errata must
fail in float64; and a planted violation just above the tolerance at the tightest checked row
(the bound shrunk so that this row exceeds it by 100 tolerances) must be caught.
Also: every optimizer a result names is registered, and every source resolves to a file inside
the repository.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ratecheck import optimizers, theory
from ratecheck.theory import Role
from ratecheck.theory.example_runs import examples_for, run_example

ROOT = Path(__file__).resolve().parents[2]
KEYS = [k for k in theory.names() if theory.get(k).provenance.assertable]
DTYPES = [torch.float64, torch.float32]


def _checks(key, dtype):
    r = theory.get(key)
    exs = examples_for(key)
    assert exs, f"{key}: no registered Example exercises it (theory.example(Example(results=({key!r},), ...)))"
    out = []
    for ex in exs:
        pb, tr = run_example(ex, dtype)
        out.append((pb, tr, theory.check(r, tr, pb)))
    return r, out


def _planted(c):
    """A perturbation of the sides that puts the tightest counted row 100 tolerances past its bound."""
    slack = torch.where(c.counted, (c.bound - c.observed) / c.tol.clamp_min(1e-300), torch.inf)
    t, u = divmod(int(slack.argmin()), slack.shape[1])
    obs, bnd, tol = float(c.observed[t, u]), float(c.bound[t, u]), float(c.tol[t, u])
    if c.result.kind == "identity":
        return lambda s: replace(s, bound=s.bound + 100.0 * c.tol.nan_to_num(0.0))
    target = obs - 100.0 * tol
    # In expectation the check compares the mean bound with the mean observed side minus Z standard
    # errors of observed - bound: a shift moves the mean bound and leaves that spread as it is,
    # whereas scaling per-run bounds that differ between seeds would change it.
    if obs > 0 and bnd > 0 and target > 0 and not c.result.in_expectation:
        return lambda s: replace(s, bound=s.bound * (target / bnd))
    return lambda s: replace(s, bound=s.bound - (bnd - target))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("key", KEYS)
def test_result_is_exercised_holds_and_can_fail(key, dtype):
    r, runs = _checks(key, dtype)
    checked = [c for _, _, c in runs if bool(c.checked.any())]
    if dtype == torch.float64:
        assert checked, f"{key}: not checked on any run of its examples: {[c.reasons for _, _, c in runs]}"
        best = 0.0
        for c in checked:
            defined = (c.observed.isfinite() & c.bound.isfinite()).sum(dim=0).clamp_min(1)
            best = max(best, float((c.rows_checked / defined)[c.checked].max()))
        assert best >= 0.5, f"{key}: checked on only {best:.0%} of the rows where it is defined"
    for pb, tr, c in runs:
        if r.role is Role.ERRATUM:
            continue
        bad = c.violated
        assert not bool(bad.any()), (
            f"{key} ({dtype}) violated on {pb.name}: units {bad.nonzero().flatten().tolist()} at rows "
            f"{c.first_violation[bad].tolist()}, worst ratio {c.worst_ratio[bad].tolist()}")
    if r.role is Role.ERRATUM and dtype == torch.float64:
        assert any(bool(c.violated.any()) for _, _, c in runs), f"{key}: an erratum not shown false by its examples"
    for pb, tr, c in runs:
        if r.role is Role.ERRATUM or not bool(c.checked.any()):
            continue
        planted = theory.check(r, tr, pb, perturb=_planted(c))
        assert bool(planted.violated.any()), f"{key} ({dtype}): a violation of 100 tolerances at its tightest row is not caught"


@pytest.mark.parametrize("key", theory.names())
def test_optimizers_are_registered(key):
    unknown = [o for o in theory.get(key).optimizers if o not in optimizers.names()]
    assert not unknown, f"{key}: unregistered optimizers {unknown}"


@pytest.mark.parametrize("key", theory.names())
def test_source_starts_with_a_file_of_the_repository(key):
    """Sections and anchors of every citation are checked repository-wide by tests/test_citations.py."""
    src = theory.get(key).source
    m = re.match(r"([\w./-]+\.md)", src)
    assert m, f"{key}: source {src!r} does not start with a file of the repository"
    assert (ROOT / m.group(1)).is_file(), f"{key}: {m.group(1)} does not exist"


def test_no_submodule_shadows_a_public_function():
    """``theory.examples()`` etc. stay callable once every theory submodule is imported."""
    import importlib
    import pkgutil

    for m in pkgutil.iter_modules(theory.__path__):
        importlib.import_module(f"ratecheck.theory.{m.name}")
    for name in ("examples", "check", "applicable", "candidates", "get", "names", "register", "example"):
        assert callable(getattr(theory, name)) and not isinstance(getattr(theory, name), type(theory)), name
