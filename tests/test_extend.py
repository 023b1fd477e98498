"""The extension API (ratecheck.extend), ratecheck.testing and the plugin's pieces, in process.

Every registration here is made inside ``ratecheck.registrations()`` and checked to be gone
after it. The user's view (files in an empty directory, pytest in a subprocess) is
tests/test_testing_example.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import ratecheck
from ratecheck import optimizers, problems, theory
from ratecheck.errors import CertificationError, RatecheckError
from ratecheck.experiments.runner import run
from ratecheck.extend import gradient_certificate
from ratecheck.optimizers import from_torch
from ratecheck.testing import assert_fails, assert_holds, problems_of_class
from ratecheck.theory import Result, Sides, access


def best_iterate(trace, problem, gradient_term=True):
    """min_{k<=n} f(x_k) - f* <= (D^2 + sum eta_k^2 ||g_k||^2) / (2 sum eta_k) (convex, any steps)."""
    T = access.steps(trace)
    lr, g = access.col(trace, "lr"), access.col(trace, "grad_norm")
    observed = -access.running_max(-access.rows(trace, "subopt")[:T])
    num = access.D(trace) ** 2 + (torch.cumsum(lr**2 * g**2, dim=0) if gradient_term else 0.0)
    return Sides(observed, num / (2 * torch.cumsum(lr, dim=0)), scale=access.subopt_magnitude(trace, problem)[:T],
                 terms=access.step_index(trace) + 1)


BOUND = Result(key="test.best_iterate", title="best iterate", paper="test", arxiv="", provenance="DERIVED",
               source="tests/test_extend.py", statement="min f(x_k) - f* <= (D^2 + sum eta^2 g^2) / (2 sum eta)",
               optimizers=("sgd",), sides=best_iterate, requires={"convex"}, iterate="best")
WRONG = dataclasses.replace(BOUND, key="test.no_gradient_term", sides=lambda t, p: best_iterate(t, p, False))
ARGS = {"hp": {"lr": [0.1, 10.0]}, "seeds": 2, "T": 60}


def test_a_torch_optim_class_runs_per_run_like_torch():
    pb = problems.get("l1_distance", d=6, seed=0)
    lrs = [0.01, 0.05, 0.1]
    with ratecheck.registrations():
        ratecheck.register_optimizer("torch_sgd", torch.optim.SGD)
        opt = optimizers.get("torch_sgd", nesterov=True)
        assert {"lr", "momentum", "dampening", "weight_decay"} <= set(opt.hyperparams)
        x0 = pb.x0(3, seed=1)
        tr = run(pb, opt, x0, 30, hp={"lr": torch.tensor(lrs), "momentum": 0.9}, keep_iterates=True)
    assert "torch_sgd" not in optimizers.names()
    for b, lr in enumerate(lrs):
        p = torch.nn.Parameter(x0[b].clone())
        ref = torch.optim.SGD([p], lr=lr, momentum=0.9, nesterov=True)
        for t in range(30):
            assert torch.equal(tr.iterates["x"][t, b], p.detach())
            p.grad = pb.grad(p.detach()[None])[0]
            ref.step()
    assert torch.equal(tr["lr"][:30], torch.tensor(lrs).expand(30, 3))
    with pytest.raises(RatecheckError, match="expects a torch.optim.Optimizer subclass"):
        from_torch(int)
    with pytest.raises(RatecheckError, match=r"\['lr'\] are hyper-parameters"):
        from_torch(torch.optim.SGD)(lr=0.1)


def test_registrations_are_undone_and_clashes_refused():
    class Quad(problems.Problem):
        def _value(self, x):
            return 0.5 * (x * x).sum(-1)

        def _grad(self, x):
            return x.clone()

    quad = Quad(name="my_quad", d=3, f_star=0.0, x_star=np.zeros(3), tags={"convex", "smooth"},
                certificate=problems.Certificate("closed form"), L=1.0, mu=1.0)
    with ratecheck.registrations():
        ratecheck.register_problem("my_quad", quad)
        ratecheck.register_result(dataclasses.replace(BOUND, key="test.mine"))
        theory.example(theory.Example(("test.mine",), "my_quad", "sgd", {"lr": 0.5}))

        @ratecheck.register_optimizer("my_sgd")
        class MySGD(optimizers.get("sgd").__class__):
            name = "my_sgd"

        assert problems.get("my_quad") is quad and "test.mine" in theory.names() and "my_sgd" in optimizers.names()
        with pytest.raises(RatecheckError, match="registered twice"):
            ratecheck.register_problem("l1_distance", lambda: quad)
        with pytest.raises(RatecheckError, match="has name 'my_sgd'; register it under that name"):
            ratecheck.register_optimizer("other", MySGD)
    assert "my_quad" not in problems.names() and "test.mine" not in theory.names() and "my_sgd" not in optimizers.names()
    assert all("test.mine" not in e.results for e in theory.examples())
    assert gradient_certificate(quad.grad, np.zeros(3)).residual == 0.0
    with pytest.raises(CertificationError, match="not certified"):
        gradient_certificate(quad.grad, np.full(3, 1e-6))


def test_assert_holds_passes_and_a_violation_names_the_run(tmp_path):
    outcomes = assert_holds(BOUND, "sgd", ["l1_distance", "max_affine"], **ARGS)
    assert [o.problem.name for o in outcomes] == ["l1_distance", "max_affine"] and all(o.checked == 4 for o in outcomes)
    assert_holds(BOUND, "sgd", "l1_distance", dtype="float32", **ARGS)
    with pytest.raises(AssertionError) as e:
        assert_holds(WRONG, "sgd", "l1_distance", out=tmp_path, **ARGS)
    msg = str(e.value)
    assert msg.startswith("test.no_gradient_term [DERIVED, theorem] VIOLATED on ")
    first = next(line for line in msg.splitlines() if "first violation" in line)
    step, obs, bnd, ratio = (float(v) for v in
                             re.search(r"step (\d+): observed (\S+) > bound (\S+) \(ratio (\S+),", first).groups())
    assert obs > bnd and math.isclose(ratio, obs / bnd, rel_tol=1e-3)
    run_line = next(line for line in msg.splitlines() if "worst: run" in line)
    assert "(seed " in run_line and "lr=10" in run_line
    saved = np.load(next(tmp_path.glob("l1_distance-run*.npz")))
    meta = json.loads(str(saved["meta"]))
    assert meta["hp"] == {"lr": 10.0, "weight_decay": 0.0} and meta["result"] == "test.no_gradient_term"
    row = int(step)
    assert saved["observed"][row] == pytest.approx(obs, rel=1e-5) and saved["trace/subopt"].shape == (61,)
    assert (tmp_path / f"{next(tmp_path.glob('*.npz')).stem}.png").is_file()
    assert str(tmp_path) in msg


def test_assert_fails_is_the_mutation_test():
    assert_fails(WRONG, "sgd", "l1_distance", **ARGS)
    with pytest.raises(AssertionError, match=r"expected to fail.*\n  l1_distance: held on 4 checked runs, worst observed/bound"):
        assert_fails(BOUND, "sgd", "l1_distance", **ARGS)


def test_search_inside_assert_holds_finds_what_the_runs_asked_for_miss(tmp_path):
    # the false bound (no gradient term) holds on the runs asked for: small steps, T = 3 ...
    few = {"hp": {"lr": 0.01}, "seeds": 1, "T": 3, "out": tmp_path}
    assert_holds(WRONG, "sgd", "l1_distance", **few)
    # ... and the falsify search finds an instance of the class that breaks it (budgets in
    # evaluations are deterministic), while the true bound survives the same search
    with pytest.raises(AssertionError, match=r"VIOLATED on an instance found by the falsify search(.|\n)*instance: .*instance\.json"):
        assert_holds(WRONG, "sgd", "l1_distance", search="20e", **few)
    assert (tmp_path / "instance.json").is_file()
    assert_holds(BOUND, "sgd", "l1_distance", search="10e", **few)


def test_no_information_is_no_pass_and_bad_input_is_named(tmp_path):
    blind = dataclasses.replace(BOUND, key="test.blind", sides=lambda t, p: Sides(access.nan_rows(t), access.nan_rows(t)))
    with pytest.raises(AssertionError, match="not checked on l1_distance: 2 units: no finite row"):
        assert_holds(blind, "sgd", "l1_distance", hp={"lr": 0.1}, seeds=2, T=5, out=tmp_path)
    for bad, match in ((dataclasses.replace(BOUND, provenance="UNVERIFIED"), r"\[UNVERIFIED\]: shown, never asserted"),
                       (dataclasses.replace(BOUND, role="erratum"), "an erratum")):
        with pytest.raises(RatecheckError, match=match):
            assert_holds(bad, "sgd", "l1_distance", **ARGS)
    with pytest.raises(RatecheckError, match="is a result for sgd; got optimizer 'adam'"):
        assert_holds(BOUND, "adam", "l1_distance", **ARGS)
    with pytest.raises(RatecheckError, match="does not apply to problem 'rosenbrock': problem tag missing: convex"):
        assert_holds(BOUND, "sgd", "rosenbrock", **ARGS)
    with pytest.raises(RatecheckError, match="unknown function class 'convx'"):
        problems_of_class(["convx"])


def test_plugin_selects_problems_by_class_and_validates_options():
    from ratecheck import pytest_plugin as plugin

    assert plugin._select("t", classes=["convex", "lipschitz"], exclude=["lad"]) == ["abs_1d", "l1_distance", "max_affine", "norm_residual"]
    assert plugin._select("t", classes=["convex"], stochastic=True) == problems_of_class(["convex", "finite_sum"])
    for kw, match in (({"classes": ["convx"]}, "unknown function class"), ({"names": ["nope"]}, "unknown problem 'nope'"),
                      ({"classes": "convex"}, "lists of classes"), ({"classes": ["nonconvex", "lipschitz", "nonsmooth"]}, "no registered problem")):
        with pytest.raises(pytest.UsageError, match=match):
            plugin._select("t", **kw)
    saved = dict(plugin.OPTIONS)

    def config(**opts):
        return SimpleNamespace(addinivalue_line=lambda *a: None, getoption=lambda name: opts.get(name))

    try:
        with pytest.raises(pytest.UsageError, match="dtype='float16' is not supported; allowed: float64, float32, bfloat16"):
            plugin.pytest_configure(config(**{"--ratecheck-dtype": "float16"}))
        plugin.pytest_configure(config(**{"--ratecheck-dtype": "float32", "--ratecheck-device": "cpu"}))
        outcome = assert_holds(BOUND, "sgd", "l1_distance", **ARGS)
        assert outcome[0].trace.meta["dtype"] == "torch.float32"
    finally:
        plugin.OPTIONS.clear()
        plugin.OPTIONS.update(saved)


def test_a_result_in_expectation_reports_the_group(tmp_path):
    args = {"options": {"schedule": "linear"}, "hp": {"lr": [0.1, 0.3]}, "seeds": 8, "T": 60, "batch_size": 4}
    assert [o.checked for o in assert_holds("schedules.thm10_expected", "sgd", "lad", **args)] == [2]
    res = theory.get("schedules.thm10_expected")
    shrunk = dataclasses.replace(res, key="test.shrunk", sides=lambda t, p: dataclasses.replace(
        s := res.sides(t, p), bound=s.bound * 1e-3))
    with pytest.raises(AssertionError, match=r"VIOLATED on 2 of 2 checked groups of seeds") as e:
        assert_holds(shrunk, "sgd", "lad", out=tmp_path, **args)
    # theory.check orders groups by their hyper-parameters: group 0 is lr = 0.1, group 1 lr = 0.3
    assert re.search(r"worst: (group 0 \(mean over seeds\), lr=0\.1|group 1 \(mean over seeds\), lr=0\.3), weight_decay=0", str(e.value))
