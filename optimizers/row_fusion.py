"""An inductor fusion heuristic for batched steps on the CPU: rows first, per-run scalars apart.

A compiled step works on [B, d] tensors, one row per run, and on per-run [B] scalars between
its passes (step sizes, norms, masks, ``base.per_run``'s columns). Everything it computes for
row b depends on row b only, so inductor's C++ backend can run it as one loop over the rows
with a pass over each row per dependent reduction, the row still in the L1 cache ("outer-loop
fusion"). But inductor's scheduler also puts the [B] nodes into that loop's group, and their
loops go over the rows 8 at a time (vectorised), while the [B, d] loops go one row at a time.
The C++ backend requires one outer loop for every member of the group, finds two, and falls back
to one loop nest per member: a pass over memory for every reduction of a buffer the step has
just written (``OuterLoopFusedSchedulerNode.check_outer_fusion_loop_level_attr`` in torch 2.13).

``RowFusion`` forbids fusing two CPU nodes whose largest loops differ by more than ``RATIO`` = 2
in size: a per-run node ([B], or [B, 16] for a ``per_run`` column) and a [B, d] node when d > 32.
So the per-run nodes run in loops of their own and the [B, d] nodes keep their fused row loop.
(The rule sees sizes, not the rows: the scheduler's sizes may merge a [B, d] loop into one of
B*d.) For d <= 32 inductor's own heuristics decide, as without it. Every compile here takes it
(``compiled.inductor_options``: inductor's ``inductor_choices_class``, installed around each
call by ``compiled.compile_with``). On other devices it changes nothing. It decides fusion
only, never the arithmetic of a node, and the compiled steps stay within the documented
tolerance of eager (tests/optimizers/test_compiled.py, heavy). Measured in docs/speed.md
("Row fusion").
"""

from __future__ import annotations

import math

from torch._inductor.choices import InductorChoices

# Loops differing in size by more than this never fuse on the CPU: a [B, d] loop against a per-run
# node up to [B, 16] (``base.per_run`` materialises a column as the maximum of 16 copies) once
# d > 2 * 16.
RATIO = 2


def _largest_loop(node) -> int | None:
    """The number of iterations of the node's largest loop; None (no opinion) when a size is
    symbolic or a member has no loop sizes (an extern kernel, a template)."""
    largest = 1
    try:
        for sub in node.get_nodes():
            _, (sizes, reduction) = sub.group
            largest = max(largest, math.prod(int(s) for s in (*sizes, *reduction)))
    except (AttributeError, TypeError, ValueError):
        return None
    return largest


def _on_cpu(node) -> bool:
    try:
        device = node.get_device()
    except AttributeError:
        return False
    return device is not None and device.type == "cpu"


class RowFusion(InductorChoices):
    """Inductor's own heuristics, and no fusion of per-run nodes into [B, d] loops on the CPU."""

    @staticmethod
    def can_fuse(scheduler, node1, node2, shared_data_score: int) -> bool:
        if _on_cpu(node1) and _on_cpu(node2):
            a, b = _largest_loop(node1), _largest_loop(node2)
            if a is not None and b is not None and max(a, b) > RATIO * min(a, b):
                return False
        return InductorChoices.can_fuse(scheduler, node1, node2, shared_data_score)

    def uuid(self) -> str:  # part of inductor's cache key: a change here must change it
        return f"ratecheck.row_fusion/ratio={RATIO}/v1"
