import os

import pytest
import torch

# Two cores on CI: keep torch from oversubscribing.
torch.set_num_threads(int(os.environ.get("RATECHECK_TEST_THREADS", "2")))


@pytest.fixture(autouse=True)
def _float64_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
