"""Adversarial search for instances that break or tighten a registered result's bound.

``search(result_key, budget="60")`` returns a ``Finding`` whose ``best`` is a replayable
``Instance``; ``families`` holds the problem families with x* and f* by construction; ``atlas`` the
per-paper slack tables; ``pep_bench`` the comparison with PEP's exact worst case. docs/falsify.md.
"""

from .instance import Instance
from .search import Budget, Finding, search

__all__ = ["Budget", "Finding", "Instance", "search"]
