"""Name -> object registries (problems, optimizers, theory results).

Modules register their objects at import time with ``Registry.register``; a lookup of an
unknown name raises an error listing the known names.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from .errors import RatecheckError, unknown

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str | None = None):
        self.kind = kind
        self._items: dict[str, T] = {}
        # The package whose modules are imported (once) before any lookup, so that
        # registration by decorator needs no central list of modules.
        self._package = package
        self._loaded = package is None

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self._package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self._package}.{info.name}")

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def add(o: T) -> T:
            if name in self._items and self._items[name] is not o:
                raise RatecheckError(f"{self.kind} {name!r} registered twice")
            self._items[name] = o
            return o

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> T:
        """Remove ``name`` (a user's registration); returns what was registered."""
        self._load()
        try:
            return self._items.pop(name)
        except KeyError:
            raise unknown(self.kind, name, self._items) from None

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Registrations made inside the block are undone on exit (tests that must not leak)."""
        self._load()
        saved = dict(self._items)
        try:
            yield
        finally:
            self._items.clear()
            self._items.update(saved)

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise unknown(self.kind, name, self._items) from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._items
