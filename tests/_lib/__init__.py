"""Helpers shared by the test modules, imported as ``from tests._lib.core import ...`` (pytest
runs from the repository root, which pyproject.toml's ``pythonpath`` puts on sys.path).

core: the test-only least-squares oracle, the runner helpers and the tolerance helpers.
theory: hypothesis strategies and the loops that check registered results on runs.
"""
