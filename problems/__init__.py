"""Problem library: batched objectives with exact or certified minimizers.

``get(name, **params)`` builds a problem; ``names()`` lists them. Every module in this
package registers its problems with ``@register("name")`` at import time.
"""

from .base import PROBLEMS, Certificate, Problem, get, names, register

__all__ = ["PROBLEMS", "Certificate", "Problem", "get", "names", "register"]
