"""ratecheck's glibc settings (ratecheck/allocator.py): a freed large tensor is reused, not faulted in again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ratecheck import allocator

pytestmark = pytest.mark.skipif(allocator._glibc() is None, reason="glibc only: other C libraries keep their settings")

PROBE = """
import resource, torch
import ratecheck.{module}
from ratecheck import allocator
n = 5_000_000  # 40 MB: above glibc's largest mmap threshold (32 MiB)
for _ in range(10):  # the heap grows until a freed block fits a new one with torch's alignment
    torch.empty(n, dtype=torch.float64).fill_(1.0)
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    torch.empty(n, dtype=torch.float64).fill_(1.0)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 20
allocator.release()
print(allocator.keep_freed_memory(), faults / (n * 8 / 4096))
"""


def _probe(module: str, **env: str) -> tuple[bool, float]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0] == "True", float(out[1])


@pytest.mark.parametrize("module", ["problems", "optimizers", "theory"])
def test_importing_ratecheck_keeps_freed_tensors_for_reuse(module):
    applied, faults_per_page = _probe(module)
    assert applied and faults_per_page < 0.05, (applied, faults_per_page)


def test_the_settings_can_be_left_alone():
    applied, faults_per_page = _probe("problems", RATECHECK_MALLOC="default")
    # glibc's own settings: every 40 MB tensor is a fresh mmap, each of its pages faulted in
    assert not applied and faults_per_page > 0.9, faults_per_page
