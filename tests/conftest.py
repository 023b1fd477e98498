import os

import pytest
import torch
from hypothesis import settings

# Property tests draw the same examples on every run (CI must not fail on a draw it never saw
# before); HYPOTHESIS_PROFILE=explore draws new ones, to hunt for counterexamples by hand.
settings.register_profile("default", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Two cores on CI: keep torch from oversubscribing (one thread per worker under `pytest -n`,
# which `make test` uses).
_THREADS = "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2"
torch.set_num_threads(int(os.environ.get("RATECHECK_TEST_THREADS", _THREADS)))


@pytest.fixture(autouse=True)
def _float64_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
