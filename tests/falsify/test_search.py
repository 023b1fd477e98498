"""The search: finds the known-false statements from random instances, agrees with the check on
replay, catches a planted false bound, and raises no false alarm on a correct result (quick
budgets; the full matrices are under -m heavy in test_matrix.py)."""

import math

import pytest

from ratecheck import theory
from ratecheck.falsify.cli import main
from ratecheck.falsify.instance import Instance
from ratecheck.falsify.search import Budget, search
from tests.falsify.fixtures import T2_FINAL_AS_PRINTED


def test_finds_v1_theorem2_without_a_hint(tmp_path):
    # templates from the other D-Adaptation examples only: d_0 fractions 1e-3..0.5 of D, never 0.99 D
    f = search("dadaptation.T2_v1", budget=Budget(seconds=20), seed=0, B=16, examples="others", T_max=300)
    assert f.violated
    path = f.best.save(tmp_path / "i.json")
    _, _, c = Instance.load(path).replay()
    assert bool(c.violated.any())


def test_replay_reproduces_the_search_ratio(tmp_path):
    f = search("dadaptation.L9", budget=Budget(evals=2), seed=3, B=8, method="random", T_max=150)
    assert f.best is not None and math.isfinite(f.best.score)
    inst = Instance.load(f.best.save(tmp_path / "i.json"))
    _, _, c = inst.replay()
    assert float(c.worst_ratio[0]) == f.best.score  # a batch of B equals B separate runs, bit for bit


def test_planted_false_bound_is_caught_and_true_bound_holds():
    # T6: d_{n+1} <= max(d_0, D) is tight (d_0 >= D gives equality); x 0.8 must be caught
    planted = search("dadaptation.T6_d_le_max_d0_D", budget=Budget(seconds=10), seed=0, B=8, factor=0.8, T_max=150)
    assert planted.violated
    true = search("dadaptation.T6_d_le_max_d0_D", budget=Budget(evals=3), seed=0, B=8, method="random", T_max=150)
    assert not true.violated and true.best.score <= 1.0


def test_gradient_phase_runs_and_keeps_instances_in_class():
    f = search("schedules.thm10", budget=Budget(evals=4), seed=1, B=4, method="grad", T_max=40)
    assert f.best is not None and not f.violated


def test_cli_writes_instance_trajectory_and_figure(tmp_path, capsys):
    rc = main(["dadaptation.T2_v1", "--examples", "others", "--budget", "20", "-B", "8", "--T-max", "150",
                "--out", str(tmp_path)])
    assert rc == 0  # an erratum found violated is expected, not a failure
    out = tmp_path / "dadaptation.T2_v1"
    for name in ("instance.json", "trajectory.csv", "trajectory.png", "search.csv", "search.png"):
        assert (out / name).is_file()
    assert main(["--replay", str(out / "instance.json")]) == 0
    assert "VIOLATED" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["nope.result"], ["dadaptation.L9", "--budget", "x"], ["dadaptation.L9", "-B", "1"],
                                  ["dadaptation.L9", "--family", "nope"], ["--replay", "/nonexistent.json"], []])
def test_bad_arguments_exit_2(argv, capsys):
    from ratecheck.cli import main as rc_main

    try:
        rc = rc_main(["falsify", *argv])
    except SystemExit as e:  # argparse's own errors exit from inside the parser
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1


@pytest.mark.heavy
def test_finds_final_theorem2_as_printed_without_a_hint():
    """Full budget: 3 minutes on one core (G far above the gradient norms, T >= ~300)."""
    f = search(T2_FINAL_AS_PRINTED, budget=Budget(seconds=180), seed=0, B=16, examples="others")
    assert f.violated and f.best.score > 1.0
    assert theory.get("dadaptation.T2_final")  # the registered statement kept the G^2 and is asserted


def test_pep_brackets_what_the_search_finds():
    """Every instance lies in the convex G-Lipschitz class, so found <= PEP's exact worst case; the
    trajectory-attached search reaches the target at T = 2 within its first restarts."""
    from ratecheck.falsify.pep_bench import TARGET, _worst_found, steps
    from ratecheck.theory.pep import below_with_solver_tolerance, sgd_worst_case

    pep = sgd_worst_case(steps("linear", 2), 1.0, G=1.0)
    found = _worst_found("linear", 2, seconds=0.5, seed=0)
    assert TARGET * pep.value < found and below_with_solver_tolerance(found, pep.value)


def test_trajectory_pieces_stay_in_the_class_whatever_is_proposed():
    """Pieces with norms above G and values above g_t.x_t: the instance projects them (||g|| <= G,
    c >= 0), so f(x*) = f* = 0 and f >= 0 hold exactly, and f is G-Lipschitz."""
    import numpy as np
    import torch

    from ratecheck.falsify.pep_bench import instance, steps

    rng = np.random.default_rng(0)
    eta = steps("constant", 4)
    g, f = 3.0 * rng.standard_normal((5, 6)), np.abs(rng.standard_normal(5)) + 10.0
    pb, x0 = instance(1.0, g, f, eta)
    gm, c = pb.family_tensors["G"], pb.family_tensors["c"]
    assert float(torch.linalg.vector_norm(gm, dim=1).max()) <= 1.0 + 1e-15 and float(c.min()) >= 0.0
    assert float(pb.value(torch.zeros(1, 6))[0]) == 0.0 and torch.linalg.vector_norm(x0) <= 1.0
    x = torch.tensor(rng.standard_normal((200, 6)))
    y = torch.tensor(rng.standard_normal((200, 6)))
    assert float(pb.value(x).min()) >= 0.0
    assert bool((abs(pb.value(x) - pb.value(y)) <= torch.linalg.vector_norm(x - y, dim=1) * (1 + 1e-12)).all())


@pytest.mark.heavy
def test_search_reaches_the_target_beside_pep_for_every_T():
    """The full table of docs/falsify.md#pep at 10 s per row: found / PEP >= 0.9, found <= PEP."""
    from ratecheck.falsify.pep_bench import TARGET, bench
    from ratecheck.theory.pep import below_with_solver_tolerance

    for r in bench(seconds=10.0):
        assert TARGET <= r["ratio"] and below_with_solver_tolerance(r["found"], r["pep"]), r


def test_atlas_table_and_figure(tmp_path):
    from ratecheck.falsify import atlas

    rows = atlas.rows_for("mda", budget=0.3, B=4, keys=["mda.primal_averaging_potential"])
    assert rows[0]["library"] > 0.5 and all(k in rows[0] for k in ("l1", "max_affine"))
    assert "mda.primal_averaging_potential" in atlas.markdown(rows)
    assert atlas.figure(rows, "mda", tmp_path / "a.png").is_file()


def test_a_recurrence_autograd_cannot_follow_falls_back_to_derivative_free():
    # TAPS updates its per-sample state in place (index_put on the graph): backward raises, the
    # gradient phase is skipped, the search goes on
    f = search("motaps.taps_lyapunov", budget=Budget(evals=5), seed=0, B=4, method="grad", T_max=40)
    assert f.evals == 5 and not f.violated


def test_taps_large_step_bookkeeping_found_by_the_search_holds():
    """The search's instance that broke motaps.target_bookkeeping (TAPS, gamma = 23.9 > 2 q): the
    replay's round-off model now carries earlier errors through the step's factor |1 - gamma/q|,
    so the identity holds there, and is still checked on most rows."""
    from pathlib import Path

    from ratecheck.falsify.instance import Instance

    _, _, c = Instance.load(Path(__file__).with_name("taps_gamma24_bookkeeping.json")).replay()
    assert c.holds.all() and c.rows_checked.min() >= 0.5 * c.observed.shape[0]


def test_in_expectation_each_candidate_is_its_own_group():
    """Two candidates whose hyper-parameters coincide (both clipped to a range's end) but whose start
    points differ are two groups of seeds, each scored as if it ran alone (merged, their mixture was
    a violation no replay confirmed: why momo.polyak_interp_rate's planted copy stuck at 0.8)."""
    import numpy as np
    import torch

    from ratecheck.falsify import families as F
    from ratecheck.falsify.objective import Space, evaluate, templates

    tpl = templates(theory.get("momo.polyak_interp_rate"))[0]
    sp = Space.make(tpl, F.get("lad").build(F.get("lad").sample(np.random.default_rng(0))), 30)
    z = sp.random(2, np.random.default_rng(1))
    z[:, sp.problem.d + 1] = 5.0  # lr clipped to the same end of its range
    x0, hp = sp.decode(z)
    both = evaluate(sp, x0, hp, 1.0, 0, z)
    for b in range(2):
        x0b, hpb = sp.decode(z[b : b + 1], torch.tensor([b]))
        alone = evaluate(sp, x0b, hpb, 1.0, b * tpl.group, z[b : b + 1])
        assert float(alone.score[0]) == float(both.score[b])


def test_momo_fejer_underflow_rows_are_not_checked():
    """The one apparent violation of a registered result in the 2026-12-06 second-round matrix
    (docs/falsify.md#false-alarms): MoMo on a 1-D LAD instance converges to x* within 1e-161, and
    the Lyapunov row compared ||x_{t+1} - x*||^2 = 7.6e-322 with a bound of 0: subnormal numbers,
    below the range where the relative round-off model of the tolerance holds. Such rows are now
    not informative (access.underflow_floor), so the replay has no violated row, and the rows at
    normal magnitudes are still checked."""
    from pathlib import Path

    import torch

    _, _, c = Instance.load(Path(__file__).with_name("momo_fejer_underflow.json")).replay()
    big = torch.maximum(c.observed.abs(), c.bound.abs())
    floor = torch.finfo(torch.float64).tiny / (torch.finfo(torch.float64).eps / 2)
    assert bool(((c.observed > c.bound + c.tol) & (big > 0) & (big < floor)).any())  # the subnormal rows are there
    assert not bool(c.violated.any())
    assert bool(c.counted.any())


def test_momo_fejer_ema_roundoff_is_counted():
    """The third apparent violation of the 2026-12-06 matrix (docs/falsify.md#false-alarms): MoMo with
    beta = 0.99 on a 2-sample 1-D LAD instance with minibatches of one. The EMAs fbar, d and gamma
    carry the round-off of their own updates over ~1/(1 - beta) steps, which the gap's magnitude
    model did not count: without that term (``Sides.carried``) a row is 1.6 tolerances past its bound;
    with it every row holds and rows are still checked."""
    import math
    from dataclasses import replace
    from pathlib import Path

    import torch

    from ratecheck import theory

    pb, tr, c = Instance.load(Path(__file__).with_name("momo_fejer_ema_roundoff.json")).replay()
    assert not bool(c.violated.any()) and bool(c.counted.any())
    old = theory.check(theory.get("momo.fejer"), tr, pb, perturb=lambda s: replace(s, carried=None))
    assert bool(old.violated.any())
    excess = torch.where(old.counted & (old.tol > 0), (old.observed - old.bound) / old.tol, -math.inf)
    assert 1.0 < float(excess.max()) < 3.0


def test_spa_l1_value_roundoff_alarm_is_fixed():
    """A false alarm of the 2026-12-06 second-round matrix, fixed (docs/falsify.md#false-alarms): SGD+M
    on a 2-D family quadratic with eigenvalues (0, 1.24), started at distance ~12 from x* along the null
    direction. f - f* is 1e-8..7e-12 at the rows once flagged (27, 30, 37), but f = f* + (1/2) r^T Q r
    sums terms of size (1/2)|r|^T|Q||r| = 85.6 there, whose round-off the old magnitude |f| + |f*| (1.03)
    missed. Regression: the problem's value magnitude (1/2) lambda_max(|Q|) ||x - x*||^2 + |f*| bounds
    those terms (computed here from the kept iterates), exceeds the old magnitude there, and with it every
    checked row holds, row 27 still among them."""
    from pathlib import Path

    import torch

    from ratecheck.theory import access as A

    pb, tr, c = Instance.load(Path(__file__).with_name("spa_l1_value_roundoff.json")).replay()
    assert c.all_hold, f"violated at rows {c.first_violation.tolist()}"
    assert int(c.rows_checked[0]) > 0
    new = A.subopt_magnitude(tr, pb)[:, 0]
    old = tr["subopt"][:, 0].abs() + 2.0 * abs(pb.f_star)
    t = pb.tensors(torch.zeros(1, 2, dtype=torch.float64))
    for row in (27, 30, 37):  # the rows the old tolerance flagged
        r = (tr.iterates["x"][row, 0] - t["xs"].reshape(-1)).abs()
        terms = 0.5 * float(r @ t["Q"].abs() @ r) + abs(pb.f_star)  # what _value sums, f* added once
        assert terms > 80.0 * float(old[row])
        assert float(new[row]) >= terms  # the recorded-distance bound covers the terms (+ the subtracted |f*|)
        assert float(c.observed[row, 0] - c.bound[row, 0]) <= float(c.tol[row, 0])
    assert bool(c.counted[27, 0])  # f - f* = 9e-8 there: still informative, and holds


def test_momo_floor_statement_excludes_flat_steps():
    """Found by the 2026-12-06 matrix on the registered implementation invariant: MoMo started on a
    flat region of a max-affine function (d_t = 0) takes tau_t = alpha / rho_t > 0 whatever the model
    says, so rho_t lb_t <= h_t - tau_t ||d_t||^2 failed at every row (lb = 0 above f* = -1.94). The
    statement now excludes d_t = 0, where x does not move; those rows are n/a with that reason."""
    from pathlib import Path

    _, _, c = Instance.load(Path(__file__).with_name("momo_floor_flat_start.json")).replay()
    assert not bool(c.checked.any()) and "d_t = 0" in c.reasons[0]
