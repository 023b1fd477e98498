"""Terminal tables (rich) fit a given width, keep names whole, and stay one row per line when piped;
the progress bar counts run-steps."""

import io

from ratecheck.cli import _result_rows
from ratecheck.experiments.progress import Progress
from ratecheck.tables import render


def test_table_fits_the_width_and_keeps_keys_whole():
    rows = _result_rows()
    cols = list(rows[0])
    text = render(cols, [[r[c] for c in cols] for r in rows], width=200)
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= 200
    keys = {ln.split()[0] for ln in lines[2:] if ln and not ln.startswith(" ")}
    assert keys == {r["key"] for r in rows}  # every key whole, on the first line of its row


def test_piped_table_is_one_row_per_line():
    rows = [["a.key", "x " * 200], ["b.key", "short"]]
    lines = render(["key", "paper"], rows, stream=io.StringIO()).splitlines()
    assert len(lines) == 4 and lines[2].startswith("a.key") and lines[3].rstrip().endswith("short")


def test_progress_counts_run_steps_and_runs():
    buf = io.StringIO()
    p = Progress(4, 40, stream=buf, enabled=True, interval=0)
    for label in ("l1 / sgd", "l1 / adam"):
        p.start_batch(label, 2)
        for t in range(10):
            p.on_step(t)
        p.end_batch()
    p.close()
    assert p.steps == 40 and p.runs == 4
    assert "runs 4/4" in buf.getvalue() and "steps 40/40" in buf.getvalue()
    silent = io.StringIO()
    Progress(1, 1, stream=silent).close()  # not a terminal: nothing drawn
    assert silent.getvalue() == ""
