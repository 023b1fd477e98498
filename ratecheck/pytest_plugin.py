"""The ratecheck pytest plugin (entry point ``pytest11``: installing ratecheck enables it).

It does nothing unless a test uses it, and imports nothing heavy (no torch) until then:

- ``@pytest.mark.ratecheck_problems(classes=[...], names=[...], exclude=[...], stochastic=False)``
  with the fixture ``ratecheck_problem``: the test runs once per registered problem whose tags
  include every one of ``classes`` (and is a finite sum, when ``stochastic``), or once per name in
  ``names``; the fixture is the built ``Problem``, the test id its name;
- fixtures ``ratecheck_device`` and ``ratecheck_dtype`` (torch objects);
- options ``--ratecheck-device`` (auto, cpu, cuda, cuda:N) and ``--ratecheck-dtype`` (float64,
  float32, bfloat16): the defaults of those fixtures and of ``ratecheck.testing.assert_holds``;
  ``--ratecheck-out DIR``: where failing runs are saved (default: beside the test file).
"""

from __future__ import annotations

import pytest

# Read by ratecheck.testing (through sys.modules, so that using it does not need the plugin).
OPTIONS: dict = {}


def pytest_addoption(parser):
    group = parser.getgroup("ratecheck", "ratecheck: bounds checked on optimizer runs")
    group.addoption("--ratecheck-device", default=None, help="device of ratecheck runs: auto, cpu, cuda, cuda:N (default cpu)")
    group.addoption("--ratecheck-dtype", default=None, help="dtype of ratecheck runs: float64 (default), float32, bfloat16")
    group.addoption("--ratecheck-out", default=None, help="folder for the trace and figure of a failing run (default: beside the test)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "ratecheck_problems(classes=(), names=(), exclude=(), stochastic=False): run the test once per "
        "ratecheck problem of these function classes (fixture ratecheck_problem)",
    )
    device, dtype = config.getoption("--ratecheck-device"), config.getoption("--ratecheck-dtype")
    if device is not None or dtype is not None:  # validated here, so a typo stops the run with one line
        from ratecheck.device import resolve_device, resolve_dtype
        from ratecheck.errors import RatecheckError

        try:
            if device is not None:
                resolve_device(device)
            if dtype is not None:
                resolve_dtype(dtype)
        except RatecheckError as e:
            raise pytest.UsageError(str(e)) from None
    OPTIONS.clear()
    OPTIONS.update(device=device, dtype=dtype, out=config.getoption("--ratecheck-out"))


def pytest_unconfigure(config):
    OPTIONS.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    # Lets assert_holds save a failing run beside the test that ran it.
    OPTIONS["current_test"] = (str(item.path), item.name)
    yield
    OPTIONS.pop("current_test", None)


def pytest_generate_tests(metafunc):
    if "ratecheck_problem" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("ratecheck_problems")
    if marker is None:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid} uses the fixture ratecheck_problem without "
            "@pytest.mark.ratecheck_problems(classes=[...]) or (names=[...])"
        )
    names = _select(metafunc.definition.nodeid, *marker.args, **marker.kwargs)
    metafunc.parametrize("ratecheck_problem", names, ids=names, indirect=True)


def _select(nodeid: str, classes=(), names=(), exclude=(), stochastic: bool = False) -> list[str]:
    from ratecheck.errors import RatecheckError
    from ratecheck.problems import names as registered
    from ratecheck.testing import problems_of_class

    if isinstance(classes, str) or isinstance(names, str) or isinstance(exclude, str):
        raise pytest.UsageError(f"{nodeid}: ratecheck_problems takes lists of classes, names and exclude, not strings")
    try:
        picked = list(names) if names else problems_of_class(classes, stochastic=stochastic)
        known = set(registered())
        for n in [*picked, *exclude]:
            if n not in known:
                raise RatecheckError(f"unknown problem {n!r}; known problems: {', '.join(sorted(known))}")
    except RatecheckError as e:
        raise pytest.UsageError(f"{nodeid}: {e}") from None
    picked = [n for n in picked if n not in set(exclude)]
    if not picked:
        raise pytest.UsageError(f"{nodeid}: no registered problem has the classes {list(classes)} (after exclude={list(exclude)})")
    return picked


@pytest.fixture
def ratecheck_problem(request):
    """The ratecheck ``Problem`` this instance of the test runs on (see the marker)."""
    from ratecheck.problems import get

    return get(request.param)


@pytest.fixture
def ratecheck_device(request):
    from ratecheck.device import resolve_device

    return resolve_device(request.config.getoption("--ratecheck-device") or "cpu")


@pytest.fixture
def ratecheck_dtype(request):
    from ratecheck.device import resolve_dtype

    return resolve_dtype(request.config.getoption("--ratecheck-dtype") or "float64")
