"""Issue 13's speed targets, and the verdict of a benchmark's repeated ratios on one.

Each benchmark ratio is measured ``--repeats`` times, back to back, on a machine that other
processes share, where a ratio moves by up to +-15 % between repeats (docs/speed.md). A verdict
on the median alone would report that noise as a result. So a target is "ok" only when every
repeat meets it, "MISSED" only when none does, and "noise" when the repeats fall on both sides:
the reader then knows the measurement, not the code, decided nothing. With one repeat the
verdict rests on that single ratio, and the table says how many repeats it saw.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A bound on a ratio: ``ratio <= bound`` when ``at_most``, else ``ratio >= bound``."""

    label: str
    bound: float
    at_most: bool

    def met(self, ratio: float) -> bool:
        return ratio <= self.bound if self.at_most else ratio >= self.bound

    def verdict(self, ratios: Sequence[float]) -> str:
        if not ratios:
            raise ValueError(f"{self.label}: no ratio measured")
        hits = [self.met(r) for r in ratios]
        return "ok" if all(hits) else "MISSED" if not any(hits) else "noise"

    def __str__(self) -> str:
        return f"{self.label} {'<=' if self.at_most else '>='} {self.bound:.3g}"


FULL = Target("full / ceiling", 0.9, at_most=False)  # 1: the whole run against the oracle-only ceiling
STEP = Target("step / pass", 3.0, at_most=True)  # 2: at B*d >= STEP_MIN_SIZE on the CPU
STEP_MIN_SIZE = 10**6
RECORD = Target("record / bare", 1.2, at_most=True)  # 3: the runner's recording
GPU_STEP = Target("step / copy", 2.0, at_most=True)  # 4: the step at >= 50% of the copy's bandwidth
GPU_FULL = Target("full / ceiling", 1 / 1.3, at_most=False)  # 4: the whole run within 1.3x the oracle


def legend(repeats: int) -> str:
    """The verdicts' meaning, for a table's header."""
    return f"verdicts over {repeats} repeat(s): ok = every repeat meets the target, MISSED = none does, noise = some do"


def spread(ratios: Sequence[float]) -> str:
    """``median [min-max]`` of the repeats, two decimals."""
    return f"{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"
