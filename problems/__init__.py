"""Problem library: batched objectives with exact or certified minimizers.

``get(name, **params)`` builds a problem; ``names()`` lists them. Every module in this
package registers its problems with ``@register("name")`` at import time.
"""

from ratecheck.allocator import keep_freed_memory

keep_freed_memory()  # freed tensors kept for reuse, not faulted in again: ratecheck/allocator.py

from .base import PROBLEMS, Certificate, Problem, get, names, register

__all__ = ["PROBLEMS", "Certificate", "Problem", "get", "names", "register"]
