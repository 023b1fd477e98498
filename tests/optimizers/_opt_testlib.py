# Temporary shim while tests/optimizers/test_contract.py still imports it by name; removed at the end.
from tests._lib.core import least_squares  # noqa: F401
