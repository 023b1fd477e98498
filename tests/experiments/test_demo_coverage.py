"""The demo's stochastic cells check at least one bound per adaptive method (issue 11).

A small demo-like spec (the shipped demo's stochastic problems and its non-SGD optimizers, T = 150,
4 seeds) runs through the CLI; for every (problem, method) at least one theorem-role result of kind
bound or lyapunov must be checked (status ok), so a method cannot silently drop to invariants only."""

from __future__ import annotations

import csv
import json
import tomllib

from ratecheck.cli import main, shipped_specs
from ratecheck.theory import get


def _toml(v) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return json.dumps(v)


def _demo_like(tmp_path):
    raw = tomllib.loads(shipped_specs()["demo"].read_text())
    lines = ['name = "demo-coverage"', "T = 150", "seeds = 4", 'oracle = "stochastic"',
             f"batch_size = {raw['batch_size']}", 'results = "auto"']
    # l1_distance has no finite sum: it is the demo's deterministic cell
    for p in raw["problem"]:
        if p["name"] != "l1_distance":
            lines += ["[[problem]]", *(f"{k} = {_toml(v)}" for k, v in p.items())]
    methods = [o for o in raw["optimizer"] if o["name"] != "sgd"]
    for o in methods:
        lines += ["[[optimizer]]", *(f"{k} = {_toml(v)}" for k, v in o.items())]
    path = tmp_path / "demo_coverage.toml"
    path.write_text("\n".join(lines) + "\n")
    return path, {o.get("label", o["name"]) for o in methods}


def test_demo_stochastic_cells_check_a_bound_per_adaptive_method(tmp_path):
    path, methods = _demo_like(tmp_path)
    assert methods >= {"D-Adaptation", "Prodigy", "MoMo"}
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    (folder,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    with open(folder / "checks.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = {(r["problem"], r["optimizer"]) for r in rows}
    assert {m for _, m in cells} == methods and len(cells) == 2 * len(methods)
    for cell in sorted(cells):
        bounds = [r["result"] for r in rows if (r["problem"], r["optimizer"]) == cell and r["role"] == "theorem"
                  and r["status"] == "ok" and get(r["result"]).kind in ("bound", "lyapunov")]
        assert bounds, f"{cell}: no theorem-role bound or Lyapunov result checked in a stochastic cell"
