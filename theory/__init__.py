"""Theory as code: one object per theorem, lemma, Lyapunov inequality or invariant.

Every result carries its provenance; ``applicable(optimizer, problem)`` lists the results that
apply to a run, and ``check(result, trace, problem)`` evaluates them per run and step.
"""

from .base import RESULTS, RTOL, CheckResult, Provenance, Result, applicable, check, get, names, register

__all__ = ["RESULTS", "RTOL", "CheckResult", "Provenance", "Result", "applicable", "check", "get", "names", "register"]
