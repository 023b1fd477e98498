"""Certified minimizers: solve once, certify, cache on disk with the certificate beside it.

A cache entry is two files named ``<problem>-<key>``: ``.npz`` (x*, optional dual variables)
and ``.json`` (f*, the certificate, the key's ingredients and a hash of x*). The key hashes
the problem name, its parameters and a fingerprint of its data, so a change of any of them
misses the cache instead of loading a stale minimizer.

Two places are searched, in order: the user cache (``$RATECHECK_CACHE``, else
``~/.cache/ratecheck``) and the shipped cache ``problems/certified/`` (committed for every
default instance, so a machine without cvxpy prints the problem table). Every entry is
re-verified on load by the problem's own cheap check (a duality gap or a gradient norm
computed from the data); an entry that fails is reported with a warning and recomputed. A
solve whose certificate is above its tolerance raises ``CertificationError`` and writes
nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ratecheck.atomic import atomic_write, atomic_write_json
from ratecheck.errors import CertificationError

from .base import Certificate

CACHE_VERSION = 1
SHIPPED = Path(__file__).with_name("certified")


@dataclass
class Solution:
    """A candidate minimizer with optional dual variables (for duality-gap certificates)."""

    x_star: np.ndarray
    dual: np.ndarray | None = None


@dataclass
class Verified:
    """What a problem's ``verify`` returns: f(x*) recomputed and the certificate it passes."""

    f_star: float
    certificate: Certificate

    @property
    def ok(self) -> bool:
        c = self.certificate
        return math.isfinite(self.f_star) and math.isfinite(c.residual) and c.residual <= c.tol


def user_cache_dir() -> Path:
    env = os.environ.get("RATECHECK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "ratecheck"


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of the data arrays."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _canonical(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in sorted(params.items()):
        if isinstance(v, float):
            out[k] = repr(v)
        elif isinstance(v, (int, str, bool)) or v is None:
            out[k] = v
        # Arrays are covered by the data fingerprint.
    return out


def cache_key(name: str, params: dict[str, Any], data: dict[str, np.ndarray]) -> str:
    blob = json.dumps(
        {"v": CACHE_VERSION, "name": name, "params": _canonical(params), "data": fingerprint(data)},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _x_hash(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float64).tobytes()).hexdigest()


def _paths(folder: Path, name: str, key: str) -> tuple[Path, Path]:
    stem = f"{name}-{key}"
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def _load(npz: Path, meta: Path, key: str) -> tuple[Solution, dict]:
    info = json.loads(meta.read_text())
    if info.get("key") != key:
        raise ValueError(f"key {info.get('key')!r} != {key!r}")
    with np.load(npz, allow_pickle=False) as z:
        x = np.array(z["x_star"], dtype=np.float64)
        dual = np.array(z["dual"], dtype=np.float64) if "dual" in z.files else None
    if _x_hash(x) != info.get("x_star_sha256"):
        raise ValueError("x* does not match the hash stored beside it")
    return Solution(x, dual), info


def _store(folder: Path, name: str, key: str, sol: Solution, ver: Verified, params: dict) -> None:
    npz, meta = _paths(folder, name, key)
    arrays = {"x_star": np.asarray(sol.x_star, dtype=np.float64)}
    if sol.dual is not None:
        arrays["dual"] = np.asarray(sol.dual, dtype=np.float64)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(npz, lambda f: f.write(buf.getvalue()))
    c = ver.certificate
    atomic_write_json(
        meta,
        {
            "key": key,
            "problem": name,
            "params": _canonical(params),
            "f_star": repr(ver.f_star),
            "x_star_sha256": _x_hash(sol.x_star),
            "certificate": {"method": c.method, "residual": c.residual, "tol": c.tol, "detail": c.detail},
        },
    )


def certified(
    name: str,
    params: dict[str, Any],
    data: dict[str, np.ndarray],
    solve: Callable[[], Solution],
    verify: Callable[[Solution], Verified],
    *,
    write_to: Path | None = None,
) -> tuple[Solution, Verified]:
    """Load a verified minimizer from a cache, or solve, certify and store one.

    ``verify(sol)`` recomputes f(x*) and the certificate from the data (cheap). A cached entry
    is accepted only if it passes ``verify`` and its stored f* agrees with the recomputed one
    to 1e-12 relative. ``write_to`` overrides the user cache (used to refresh the shipped one).
    """
    key = cache_key(name, params, data)
    for folder in (user_cache_dir(), SHIPPED):
        npz, meta = _paths(folder, name, key)
        if not (npz.exists() or meta.exists()):
            continue
        try:
            sol, info = _load(npz, meta, key)
            ver = verify(sol)
            stored = float(info["f_star"])
            if not ver.ok:
                raise ValueError(f"certificate fails on reload: {ver.certificate}")
            if abs(stored - ver.f_star) > 1e-12 * (1.0 + abs(ver.f_star)):
                raise ValueError(f"stored f*={stored!r} but f(x*)={ver.f_star!r}")
            return sol, ver
        except Exception as e:  # a damaged file of any kind is reported and recomputed
            warnings.warn(f"cached minimizer {npz} for {name} failed verification ({e}); recomputing", stacklevel=3)
    sol = solve()
    ver = verify(sol)
    if not ver.ok:
        raise CertificationError(
            f"{name}: the solver's point is not certified: {ver.certificate} "
            f"(residual {ver.certificate.residual!r} above tolerance {ver.certificate.tol!r}); nothing cached"
        )
    try:
        _store(write_to or user_cache_dir(), name, key, sol, ver, params)
    except OSError as e:
        warnings.warn(f"could not write the certified minimizer of {name} to the cache ({e})", stacklevel=3)
    return sol, ver


def refresh_shipped() -> list[str]:
    """Recompute the shipped cache for every default instance that uses one (maintainers only)."""
    import ratecheck.problems.base as base

    os.environ["RATECHECK_CACHE"] = str(SHIPPED)
    for f in SHIPPED.glob("*"):
        if f.suffix in (".npz", ".json"):
            f.unlink()
    done = []
    for n in base.names():
        base.get(n)
        done.append(n)
    return done


if __name__ == "__main__":
    print("refreshed:", ", ".join(refresh_shipped()))
