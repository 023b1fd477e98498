"""glibc malloc settings for ratecheck's allocation pattern: keep freed memory for reuse.

A run, and above all the theory layer, allocates and frees the same large tensors over and over
(a bound's sides over all steps and runs, [T+1, B, d] iterates and gradients: tens of MB each).
glibc serves a block above its mmap threshold (128 KiB rising to at most 32 MiB) with a fresh
``mmap`` and unmaps it on free, and trims the heap's free top above twice that threshold, so every
such tensor faults its pages in again, one 4 KiB page at a time, each zeroed by the kernel. On the
2-core CI machine (transparent huge pages on ``madvise`` only) ``ratecheck demo`` took 8.9 million
page faults in its first minute, half of its CPU time in the kernel: 2 min 50 s, of which 1 min
41 s system time; with the settings below, 1 min 40 s with 8 s system time (docs/cli.md#memory).

``keep_freed_memory`` (called when ratecheck's problems, optimizers or theory are imported)
serves every block from the heap (``M_MMAP_MAX = 0``), keeps up to 2 GiB of free heap top
(``M_TRIM_THRESHOLD``) and grows the heap 64 MiB at a time (``M_TOP_PAD``). The cost: memory
a process freed is reused by it but not handed back to the system until ``release`` (glibc's
``malloc_trim``), which the memory check calls before it refuses a run. Set
``RATECHECK_MALLOC=default`` to leave glibc's settings alone; on other C libraries (macOS,
musl) nothing is changed.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4

TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: the largest free heap top kept, 2 GiB
TOP_PAD = 64 << 20

_applied: bool | None = None


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only: musl has mallopt with other semantics
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> bool:
    """Apply the settings once per process; True when they are in force."""
    global _applied
    if _applied is None:
        libc = _glibc()
        _applied = bool(
            libc is not None and os.environ.get("RATECHECK_MALLOC", "keep") != "default"
            and libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            and libc.mallopt(M_TOP_PAD, TOP_PAD)
        )
    return _applied


def release() -> None:
    """Hand the freed pages the heap keeps back to the system (glibc's ``malloc_trim(0)``)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
