"""The refined step-size schedule computed from a gradient-norm log (arXiv 2310.07831).

Defazio, Cutkosky, Mehta & Mishchenko, "Optimal linear decay learning rate schedules and further
refinements" (v1: "When, why and how much? Adaptive learning rate scheduling by refinement").

Theory ([DERIVED], reference note linear_decay_refinement.md §4, §6): SGD with weights w_t run
through the online-to-last-iterate conversion is plain SGD with

    eta_t = eta * w_t * w_{t+1:T} / w_{1:T}          (eta_T = 0),

and the weights minimising its bound are w_t ∝ ||g_t||^{-2}.  The practical pipeline ([CODE],
``facebookresearch/adaptive_scheduling``: ``visual.py`` and ``find_schedule.py::
find_closed_form_schedule``; note §9) smooths the norm log first:

1. drop non-finite entries (the code drops +-inf), optionally ``trim`` entries at each end
   (``visual.py`` uses 2, for artefacts of its CSV exports; default here 0); if fewer than
   ``nvals`` remain, interpolate linearly onto ``nvals`` points;
2. median filter of width ``2*floor(floor(tau*nvals)/2) + 1`` on the log reflect-padded on the
   right by twice the width (scipy ``mode='nearest'`` on the left), then linear resampling onto
   ``nvals`` points;
3. weights w_t = Ghat_t^power (power -2: l2 norms, SGD; power -1: l1 norms, Adam);
4. s_t = w_t * sum_{p>t} w_p / w_{last} for t < last, s_last = 0;
5. s / max(s), then (here) linear resampling to the run length.

Everything is batched over rows: ``norms`` [n] or [B, n] gives [length] or [B, length].
NumPy in, NumPy out; torch in, torch (float64, same device) out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ratecheck.errors import RatecheckError, out_of_range

SGD_POWER = -2.0  # weights ||g_t||_2^{-2}: log l2 norms of an SGD run
ADAM_POWER = -1.0  # weights ||g_t||_1^{-1}: log l1 norms of an Adam run


def _as_rows(norms: Any, name: str = "norms") -> tuple[np.ndarray, bool]:
    was_torch = isinstance(norms, torch.Tensor)
    a = norms.detach().cpu().double().numpy() if was_torch else np.asarray(norms, dtype=np.float64)
    if a.ndim not in (1, 2) or a.shape[-1] < 2:
        raise RatecheckError(f"{name} has shape {a.shape}; allowed: [n] or [B, n] with n >= 2")
    return np.atleast_2d(a), a.ndim == 1


def _back(out: np.ndarray, single: bool, like: Any) -> Any:
    out = out[0] if single else out
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(out, dtype=torch.float64, device=like.device)
    return out


def _resample(y: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of y (on an even grid of [0, 1]) onto n even points (as visual.py)."""
    return np.interp(np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, len(y)), y)


def filter_width(tau: float, nvals: int) -> int:
    """Odd median-filter width 2*floor(floor(tau*nvals)/2) + 1 (1001 for tau=0.1, nvals=10000)."""
    return 2 * (int(tau * nvals) // 2) + 1


def smooth_norms(norms: Any, tau: float = 0.1, nvals: int = 10_000, trim: int = 0) -> Any:
    """Steps 1-2 of the pipeline: the median-filtered norm log on ``nvals`` points ([nvals] or [B, nvals])."""
    from scipy.ndimage import median_filter

    rows, single = _as_rows(norms)
    tau = float(tau)
    if not 0.0 <= tau <= 1.0:
        raise out_of_range("tau", tau, "[0, 1]")
    if isinstance(nvals, bool) or not isinstance(nvals, int) or nvals < 2:
        raise out_of_range("nvals", nvals, "integers >= 2")
    if isinstance(trim, bool) or not isinstance(trim, int) or trim < 0:
        raise out_of_range("trim", trim, "integers >= 0")
    width = filter_width(tau, nvals)
    pad = 2 * width
    out = np.empty((rows.shape[0], nvals))
    for b, row in enumerate(rows):
        g = row[np.isfinite(row)]
        if trim:
            g = g[trim:-trim]
        if len(g) < 2:
            raise RatecheckError(f"norms row {b} has {len(g)} finite entries after trim={trim}; allowed: >= 2")
        if bool((g <= 0).any()):
            raise out_of_range(f"norms row {b} entry", float(g[g <= 0][0]), "(0, inf) (a zero norm has infinite weight)")
        if len(g) < nvals:
            g = _resample(g, nvals)
        filtered = median_filter(np.pad(g, (0, pad), mode="reflect"), size=width, mode="nearest")[:-pad]
        out[b] = _resample(filtered, nvals)
    return _back(out, single, norms)


def schedule_from_weights(weights: Any) -> Any:
    """Steps 4-5 without smoothing: s_t ∝ w_t * sum_{p>t} w_p, s_last = 0, normalised to max 1.

    ``weights`` [T] or [B, T], positive. This is the closed form of Theorem B's schedule
    eta_t = eta w_t w_{t+1:T} / w_{1:T} (note §4) up to the scale."""
    w, single = _as_rows(weights, "weights")
    if not bool(np.isfinite(w).all()) or bool((w <= 0).any()):
        raise out_of_range("weights entry", float(w[~(np.isfinite(w) & (w > 0))][0]), "finite values > 0")
    tail = np.flip(np.cumsum(np.flip(w, axis=-1), axis=-1), axis=-1)
    s = np.zeros_like(w)
    s[:, :-1] = w[:, :-1] * tail[:, 1:] / tail[:, -1:]
    s = s / s.max(axis=-1, keepdims=True)
    return _back(s, single, weights)


def refined_schedule(
    norms: Any,
    power: float = SGD_POWER,
    tau: float = 0.1,
    nvals: int = 10_000,
    trim: int = 0,
    length: int | None = None,
) -> Any:
    """The refined schedule (multipliers, max 1, last entry 0) from a gradient-norm log.

    ``norms`` [n] or [B, n] (l2 norms with power -2 for SGD, l1 norms with power -1 for Adam);
    ``length`` defaults to the number of norms left after ``trim``. ``tau=0`` turns smoothing
    off; ``nvals=n, tau=0`` gives exactly ``schedule_from_weights(norms**power)``."""
    power = float(power)
    if not (np.isfinite(power) and power < 0):
        raise out_of_range("power", power, "(-inf, 0) (-2 for l2 norms/SGD, -1 for l1 norms/Adam)")
    rows, single = _as_rows(norms)
    if length is None:
        counts = {int(np.isfinite(r).sum()) - 2 * trim for r in rows}
        if len(counts) != 1:
            raise RatecheckError(f"norms rows have different finite lengths {sorted(counts)}; pass length=")
        length = counts.pop()
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise out_of_range("length", length, "integers >= 1")
    ghat = smooth_norms(rows, tau=tau, nvals=nvals, trim=trim)
    s = schedule_from_weights(ghat**power)
    out = np.stack([_resample(r, length) for r in s])
    return _back(out, single, norms)


def optimal_steps(norms: Any, D: float) -> Any:
    """The step sizes minimising bound (B) for given norms G_t and distance D ([DERIVED], note §6):

        eta_t = D * G_t^{-2} * (Q_T - Q_t) / Q_T^{3/2},   Q_t = sum_{p<=t} G_p^{-2},

    for which f(x_T) - f* <= D / sqrt(Q_T). No smoothing; ``norms`` [T] or [B, T] positive."""
    g, single = _as_rows(norms)
    if not bool(np.isfinite(g).all()) or bool((g <= 0).any()):
        raise out_of_range("norms entry", float(g[~(np.isfinite(g) & (g > 0))][0]), "finite values > 0")
    if not (np.isfinite(D) and D > 0):
        raise out_of_range("D", D, "(0, inf)")
    w = g**-2.0
    Q = np.cumsum(w, axis=-1)
    eta = D * w * (Q[:, -1:] - Q) / Q[:, -1:] ** 1.5
    return _back(eta, single, norms)
