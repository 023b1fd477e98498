"""Device and dtype resolution. CUDA when available, else CPU; nothing assumes a GPU."""

from __future__ import annotations

import torch

from .errors import RatecheckError

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise RatecheckError(f"device={name!r} is not a device; allowed: auto, cpu, cuda, cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        # torch knows mps, xpu, hpu, meta, ...; the runner and the theory checks are tested on CPU and CUDA only.
        raise RatecheckError(f"device={name!r} is not supported; allowed: auto, cpu, cuda, cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RatecheckError(f"device={name!r} requested but CUDA is not available; allowed here: auto, cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RatecheckError(f"device={name!r}: this machine has {torch.cuda.device_count()} CUDA device(s); allowed: cuda:0..cuda:{torch.cuda.device_count() - 1}")
    return dev


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        if name not in DTYPES.values():
            raise RatecheckError(f"dtype={name} is not supported; allowed: {', '.join(DTYPES)}")
        return name
    try:
        return DTYPES[name]
    except KeyError:
        raise RatecheckError(f"dtype={name!r} is not supported; allowed: {', '.join(DTYPES)}") from None
