import functools
import os
import tempfile

import pytest

from ratecheck import problems

# Hermetic: never read or write the user's cache; default instances come from the shipped one.
os.environ["RATECHECK_CACHE"] = tempfile.mkdtemp(prefix="ratecheck-test-cache-")


@functools.cache
def _build(name):
    return problems.get(name)


@pytest.fixture(scope="session")
def build():
    """Default instances, built once per session (some load and verify a cached minimizer)."""
    return _build
