"""A one-line progress bar on stderr: runs, run-steps, rate and ETA. Silent when not a tty."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _hms(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _si(n: float) -> str:
    for unit, k in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= k:
            return f"{n / k:.1f}{unit}"
    return f"{int(n)}"


class Progress:
    """Counts run-steps (one step of one run) over a whole sweep.

    ``on_step`` is cheap enough for the hot loop: it adds an integer and redraws at most
    every ``interval`` seconds; it never touches device tensors.
    """

    def __init__(self, total_runs: int, total_steps: int, stream: TextIO | None = None, enabled: bool | None = None, interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total_runs, self.total_steps = total_runs, max(total_steps, 1)
        self.runs = self.steps = 0
        self.interval = interval
        self.t0 = self._last = time.perf_counter()
        self.label = ""
        self._batch = 0

    def start_batch(self, label: str, batch: int) -> None:
        """A new chunk of ``batch`` runs begins; each of its steps advances ``batch`` run-steps."""
        self.label, self._batch = label, batch

    def on_step(self, t: int) -> None:
        self.steps += self._batch
        if self.enabled:
            now = time.perf_counter()
            if now - self._last >= self.interval:
                self._last = now
                self._draw(now)

    def end_batch(self) -> None:
        self.runs += self._batch
        if self.enabled:
            self._draw(time.perf_counter())

    def advance(self, label: str, runs: int, steps: int) -> None:
        """A whole batch finished elsewhere (a Ray task): count its runs and run-steps at once."""
        self.label = label
        self.runs += runs
        self.steps += steps
        if self.enabled:
            self._draw(time.perf_counter())

    def close(self) -> None:
        if self.enabled:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        el = now - self.t0
        frac = min(self.steps / self.total_steps, 1.0)
        eta = el * (1 - frac) / frac if frac > 0 else float("nan")
        width = 20
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        line = (
            f"\r[{bar}] {100 * frac:5.1f}%  runs {self.runs}/{self.total_runs}  steps {_si(self.steps)}/{_si(self.total_steps)}"
            f"  {_hms(el)} elapsed, ETA {_hms(eta) if eta == eta else '?'}  {self.label[:40]}"
        )
        self.stream.write(line.ljust(120)[:160])
        self.stream.flush()
