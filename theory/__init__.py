"""Theory as code: one object per theorem, lemma, Lyapunov inequality or invariant.

Every result carries its provenance and role; ``applicable(optimizer, problem)`` lists the
results that apply to a run, ``check(result, trace, problem)`` evaluates one per run and step,
and ``report`` turns checks into table rows with one status vocabulary.
"""

from ratecheck.allocator import keep_freed_memory

keep_freed_memory()  # freed tensors kept for reuse, not faulted in again: ratecheck/allocator.py

from . import report
from .access import Unavailable
from .base import (
    RESULTS, Assumption, CheckResult, Example, Provenance, Result, Role, Sides, applicable, candidates, check,
    example, examples, get, names, register,
)

__all__ = [
    "RESULTS", "Assumption", "report", "CheckResult", "Example", "Provenance", "Result", "Role", "Sides", "Unavailable",
    "applicable", "candidates", "check", "example", "examples", "get", "names", "register",
]
