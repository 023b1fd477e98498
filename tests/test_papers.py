"""The paper records (ratecheck.papers) agree with what the repository holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from ratecheck import optimizers, papers, theory

ROOT = Path(__file__).resolve().parents[1]
PAPERS = [p.key for p in papers.PAPERS]


@pytest.mark.parametrize("key", PAPERS)
def test_paper_files_exist(key):
    p = papers.get(key)
    assert (ROOT / "paper_notebooks" / f"{p.notebook}.py").is_file()
    if p.theory:  # a paper with methods: spec, theory module, docs page
        assert (ROOT / p.spec).is_file(), p.spec
        assert (ROOT / "theory" / f"{p.theory}.py").is_file()
        assert (ROOT / "docs" / "theory" / f"{p.docs}.md").is_file()


@pytest.mark.parametrize("key", PAPERS)
def test_paper_optimizers_are_registered_and_documented(key):
    p = papers.get(key)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert p.arxiv in readme, f"README's methods table does not name arXiv {p.arxiv}"
    for name in p.optimizers:
        assert name in optimizers.names(), name
        assert f"`{name}`" in readme, f"README's methods table does not list {name}"
    if p.docs:
        assert f"{p.docs}.md" in (ROOT / "docs" / "theory" / "README.md").read_text(encoding="utf-8")
    assert p.notebook in (ROOT / "paper_notebooks" / "README.md").read_text(encoding="utf-8")


def test_every_result_belongs_to_a_paper_and_names_its_methods():
    for key in theory.names():
        p = papers.of_result(key)
        if p is None:  # PEP worst cases etc. live beside the paper they bracket
            continue
        r = theory.get(key)
        assert r.arxiv == p.arxiv, f"{key}: arXiv {r.arxiv} vs the paper record's {p.arxiv}"


def test_unknown_paper_is_one_line():
    with pytest.raises(Exception, match="unknown paper 'nope'"):
        papers.get("nope")


@pytest.mark.parametrize("key", [p.key for p in papers.PAPERS if "==" in p.package])
def test_every_authors_package_has_a_benchmark_case(key):
    """`ratecheck bench` measures each paper whose methods have an authors' package against it."""
    from ratecheck.experiments.bench import _cases

    p = papers.get(key)
    assert {c.name for c in _cases()} & set(p.optimizers), f"{key}: no method of {p.package} in the benchmark"


def test_pyproject_pins_every_authors_package():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for p in papers.PAPERS:
        if "==" in p.package:
            assert f'"{p.package}"' in pyproject, f"{p.package} is not in the test extra"


def test_readme_theory_table_is_the_registry_s():
    assert papers.coverage_table() in (ROOT / "README.md").read_text(encoding="utf-8"), (
        "README's per-paper theory table is stale: paste ratecheck.papers.coverage_table()")
