"""The sweep's progress bar on stderr (rich): run-steps done, runs, elapsed and ETA, the cell
being run. Silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts run-steps (one step of one run) over a whole sweep.

    ``on_step`` is cheap enough for the hot loop: it adds an integer and hands the count to rich
    at most every ``interval`` seconds; it never touches device tensors.
    """

    def __init__(self, total_runs: int, total_steps: int, stream: TextIO | None = None, enabled: bool | None = None, interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total_runs, self.total_steps = total_runs, max(total_steps, 1)
        self.runs = self.steps = 0
        self.interval = interval
        self._last = time.perf_counter()
        self.label = ""
        self._batch = 0
        self._bar = None
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                BarColumn(), TaskProgressColumn(),
                TextColumn("runs {task.fields[runs]}  steps {task.completed:,.0f}/{task.total:,.0f}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("{task.description}", style="dim"),
                console=Console(file=self.stream), refresh_per_second=5,
            )
            self._task = self._bar.add_task("", total=self.total_steps, runs=f"0/{total_runs}")
            self._bar.start()

    def start_batch(self, label: str, batch: int) -> None:
        """A new chunk of ``batch`` runs begins; each of its steps advances ``batch`` run-steps."""
        self.label, self._batch = label, batch
        self._push()

    def on_step(self, t: int) -> None:
        self.steps += self._batch
        if self._bar is not None:
            now = time.perf_counter()
            if now - self._last >= self.interval:
                self._last = now
                self._push()

    def end_batch(self) -> None:
        self.runs += self._batch
        self._push()

    def advance(self, label: str, runs: int, steps: int) -> None:
        """A whole batch finished elsewhere (a Ray task): count its runs and run-steps at once."""
        self.label = label
        self.runs += runs
        self.steps += steps
        self._push()

    def close(self) -> None:
        if self._bar is not None:
            self._push()
            self._bar.stop()

    def _push(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.steps, description=self.label, runs=f"{self.runs}/{self.total_runs}")
