"""One error type for user mistakes, with messages that name the bad value and the allowed ones."""

from __future__ import annotations

from collections.abc import Iterable


class RatecheckError(ValueError):
    """A user mistake (bad name, shape, dtype, hyper-parameter, spec entry).

    The CLI prints these as one line, without a traceback. Subclasses ``ValueError`` so that
    "invalid hyper-parameter raises ValueError" holds for every check in the package.
    """


class CertificationError(RatecheckError):
    """A solver returned a point whose optimality certificate is above its tolerance."""


def unknown(kind: str, value: object, allowed: Iterable[str]) -> RatecheckError:
    """Error for a name that is not in a registry, listing what is."""
    names = ", ".join(sorted(allowed))
    return RatecheckError(f"unknown {kind} {value!r}; known {kind}s: {names}")


def out_of_range(name: str, value: object, allowed: str) -> RatecheckError:
    """Error for a parameter outside its range; ``allowed`` is written like '(0, inf)'."""
    return RatecheckError(f"{name}={value!r} is out of range; allowed: {allowed}")
