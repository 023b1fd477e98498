"""Spec validation (good and bad specs, with their messages) and grid expansion."""

import textwrap

import pytest

from ratecheck.errors import RatecheckError
from ratecheck.experiments import spec as specmod

GOOD = """
name = "g"
T = 10
seeds = [3, 5]
record = 5
[[problem]]
name = "l1_distance"
params = { d = 3, weights = "ones" }
[[problem]]
name = "abs_1d"
label = "abs"
[[optimizer]]
name = "sgd"
lr = [0.1, 0.2, 0.3]
weight_decay = [0.0, 0.01]
[[optimizer]]
name = "sgd"
options = { schedule = ["linear", "cosine"] }
lr = 0.1
"""


def load(text):
    return specmod.loads(textwrap.dedent(text), source="spec.toml")


def test_good_spec_expands_to_cells_and_grid():
    s = load(GOOD)
    assert s.seeds == [3, 5] and s.T == 10 and s.record == 5
    assert [p.oracle for p in s.problems] == ["deterministic", "deterministic"]
    # the list-valued option expands to two optimizer entries, each a cell per problem
    assert [o.label for o in s.optimizers] == ["sgd", "sgd(schedule=linear)", "sgd(schedule=cosine)"]
    cells = s.cells()
    assert len(cells) == 2 * 3 and len({c.id for c in cells}) == 6
    pts = s.optimizers[0].hp_points()
    assert len(pts) == 6
    assert pts[0] == {"lr": 0.1, "weight_decay": 0.0} and pts[1] == {"lr": 0.1, "weight_decay": 0.01}
    assert {(p["lr"], p["weight_decay"]) for p in pts} == {(a, b) for a in (0.1, 0.2, 0.3) for b in (0.0, 0.01)}
    assert cells[0].n_runs == 6 * 2


def test_runs_are_grid_major_then_seed():
    from ratecheck.experiments.sweep import cell_runs

    s = load(GOOD)
    hp, seeds = cell_runs(s.cells()[0])
    assert seeds.tolist() == [3, 5] * 6
    assert hp["lr"].tolist() == [0.1] * 4 + [0.2] * 4 + [0.3] * 4
    assert hp["weight_decay"].tolist() == [0.0, 0.0, 0.01, 0.01] * 3


def test_hash_ignores_device_but_not_numbers():
    a, b = load(GOOD), load(GOOD.replace('name = "g"', 'name = "g"\ndevice = "cpu"'))
    c = load(GOOD.replace("T = 10", "T = 11"))
    assert a.hash == b.hash != c.hash
    assert a.cells()[0].hash == b.cells()[0].hash != c.cells()[0].hash
    q = a.quick(T=5, seeds=1)
    assert (q.T, q.seeds, q.name) == (5, [3], "g-quick") and q.hash != a.hash


BASE = """
T = 10
[[problem]]
name = "l1_distance"
[[optimizer]]
name = "sgd"
lr = 0.1
"""

BAD = [
    # (change applied to BASE, expected message fragment)
    (("T = 10", "T = 10\ncolour = 1"), r"spec.toml: unknown key 'colour'; allowed: name, description, T"),
    (("T = 10", "T = 0"), r"spec.toml: top level 'T': expected an integer >= 1, got integer 0"),
    (("T = 10", 'T = "ten"'), r"'T': expected an integer >= 1, got string 'ten'"),
    (("T = 10", ""), r"'T': expected an integer >= 1, got nothing"),
    (("T = 10", "T = 10\nseeds = [1, 1]"), r"'seeds': seeds repeat"),
    (("T = 10", "T = 10\nseeds = -2"), r"'seeds': expected an integer >= 1 or a non-empty list"),
    (("T = 10", 'T = 10\noracle = "noisy"'), r"'oracle': expected one of the oracles, got string 'noisy'; allowed: deterministic, stochastic, auto"),
    (("T = 10", 'T = 10\ndtype = "float16"'), r"'dtype': expected a dtype, got string 'float16'; allowed: float64, float32, bfloat16"),
    (("T = 10", 'T = 10\ndevice = "tpu"'), r"'device': expected a device name.*allowed: auto, cpu, cuda, cuda:N"),
    (("T = 10", 'T = 10\nrecord = "some"'), r"'record': expected \"all\" or an integer >= 2"),
    (("T = 10", 'T = 10\nresults = ["no.such.result"]'), r"'results' #1: unknown result 'no.such.result'; known results:"),
    (('name = "l1_distance"', 'name = "l2_distance"'), r"\[\[problem\]\] #1 'name': unknown problem 'l2_distance'; known problems: .*abs_1d"),
    (('name = "l1_distance"', 'name = "l1_distance"\nparams = { dim = 3 }'), r"\[\[problem\]\] #1 \(l1_distance\) 'params': unknown parameter 'dim'; allowed: d, seed, weights"),
    (('name = "l1_distance"', 'name = "l1_distance"\nparams = { d = "3" }'), r"'params' 'd': expected integer like the default 10, got string '3'"),
    (('name = "l1_distance"', 'name = "l1_distance"\nparams = { d = 0 }'), r"'params': d=0 is out of range; allowed: integers >= 1"),
    (('name = "l1_distance"', 'name = "l1_distance"\noracle = "stochastic"'), r"l1_distance is not a finite sum.*allowed: deterministic, auto"),
    (('name = "l1_distance"', 'name = "l1_distance"\nsize = 3'), r"\[\[problem\]\] #1: unknown key 'size'; allowed: name, label, params, oracle, batch_size"),
    (('name = "sgd"', 'name = "sgdd"'), r"\[\[optimizer\]\] #1 'name': unknown optimizer 'sgdd'; known optimizers: .*sgd"),
    (("lr = 0.1", 'lr = "abc"'), r"spec.toml: \[\[optimizer\]\] #1 \(sgd\) 'lr': expected number or list of numbers, got 'abc'"),
    (("lr = 0.1", "lr = [0.1, true]"), r"'lr': expected number or list of numbers"),
    (("lr = 0.1", "lr = -0.1"), r"'lr': -0.1 is out of range; allowed: \(0, inf\)"),
    (("lr = 0.1", "lr = [0.1, 0.1]"), r"'lr': values repeat"),
    (("lr = 0.1", "lr = 0.1\nmomentum = 0.9"), r"unknown key 'momentum' \(not a hyper-parameter of sgd\); allowed: name, label, options, init, refine_from, lr"),
    (("lr = 0.1", ""), r"\[\[optimizer\]\] 'sgd' on \[\[problem\]\] 'l1_distance': .*'lr' is required"),
    (("lr = 0.1", 'lr = 0.1\noptions = { shedule = "linear" }'), r"'options': unknown option 'shedule'; allowed: schedule"),
    (("lr = 0.1", 'lr = 0.1\noptions = 3'), r"'options': expected a table"),
    (("lr = 0.1", 'lr = 0.1\nrefine_from = "nothing"'), r"'refine_from': 'nothing' is not the label of an earlier"),
    (("[[optimizer]]", "[optimizer]"), r"'optimizer' must be written as \[\[optimizer\]\] tables"),
    (("[[problem]]\nname = \"l1_distance\"", ""), r"no \[\[problem\]\] table"),
    (("T = 10", "T = 10\n[[[bad"), r"spec.toml: not valid TOML"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_specs_name_location_and_allowed_values(change, message):
    old, new = change
    assert old in BASE
    with pytest.raises(RatecheckError, match=message) as e:
        load(BASE.replace(old, new, 1))
    assert "\n" not in str(e.value)


def test_duplicate_labels_are_rejected():
    text = BASE + '\n[[optimizer]]\nname = "sgd"\nlr = 0.2\n'
    with pytest.raises(RatecheckError, match=r"label 'sgd' is used twice"):
        load(text)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(RatecheckError, match="not found"):
        specmod.load(tmp_path / "nope.toml")


def test_shipped_demo_spec_parses_as_toml():
    import tomllib

    from ratecheck.cli import shipped_specs

    raw = tomllib.loads(shipped_specs()["demo"].read_text())
    assert raw["seeds"] >= 32 and {o["name"] for o in raw["optimizer"]} >= {"sgd", "dadapt_da", "momo"}
    schedules = {o.get("options", {}).get("schedule", "constant") for o in raw["optimizer"] if o["name"] == "sgd"}
    assert schedules == {"constant", "linear", "cosine", "refined"}
