"""The batched runner: recorded values against a plain per-run loop, checkpoints, batching."""

import math

import numpy as np
import pytest
import torch

from ratecheck import optimizers, problems
from ratecheck.experiments.runner import run
from ratecheck.experiments.trace import concat, log_checkpoints
from ratecheck.problems.base import Certificate, Problem


def reference_sgd(problem, x0, lr, T):
    """One run, written out plainly in numpy: iterates, f, distances, averages."""
    w, t = problem.params["w"], problem.x_star
    f = lambda x: float(np.sum(w * np.abs(x - t)))
    x = x0.copy()
    xs = [x.copy()]
    for _ in range(T):
        x = x - lr * np.sign(x - t) * w
        xs.append(x.copy())
    xs = np.array(xs)
    avg = np.cumsum(xs, axis=0) / np.arange(1, T + 2)[:, None]
    return {
        "subopt": np.array([f(v) for v in xs]),
        "dist": np.linalg.norm(xs - t, axis=1),
        "subopt_avg": np.array([f(v) for v in avg]),
        "dist_avg": np.linalg.norm(avg - t, axis=1),
        "grad_norm": np.array([np.linalg.norm(np.sign(v - t) * w) for v in xs[:-1]]),
    }


def test_recorded_quantities_match_a_plain_loop_at_every_and_checkpoint_step():
    p = problems.get("l1_distance", d=4)
    x0 = p.x0(3, seed=1)
    lrs = torch.tensor([0.01, 0.05, 0.2])
    T = 40
    cp = log_checkpoints(T, 8)
    full = run(p, optimizers.get("sgd"), x0, T, hp={"lr": lrs})
    part = run(p, optimizers.get("sgd"), x0, T, hp={"lr": lrs}, checkpoints=cp)
    for b in range(3):
        ref = reference_sgd(p, x0[b].numpy(), float(lrs[b]), T)
        for k in ("subopt", "dist", "subopt_avg", "dist_avg"):
            np.testing.assert_allclose(full[k][:, b].numpy(), ref[k], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(full["grad_norm"][:T, b].numpy(), ref["grad_norm"], rtol=1e-12)
        assert math.isnan(float(full["grad_norm"][T, b]))
        np.testing.assert_allclose(full["lr"][:T, b].numpy(), float(lrs[b]))
    # with checkpoints: per-step quantities are still every step; the average only at checkpoints
    assert torch.equal(part["subopt"], full["subopt"]) and torch.equal(part["dist"], full["dist"])
    on = torch.zeros(T + 1, dtype=torch.bool)
    on[cp] = True
    assert torch.equal(part["subopt_avg"][on], full["subopt_avg"][on])
    assert part["subopt_avg"][~on].isnan().all() and part["dist_avg"][~on].isnan().all()


class TinySum(Problem):
    """f(x) = (1/n) sum_i 0.5 (a_i . x - b_i)^2 with a consistent system (f* = 0)."""

    def _data(self):
        return {"A": self.params["A"], "b": self.params["b"]}

    # Elementwise products and last-dim sums (no matmul), so each row is computed the same way
    # whatever the batch size.
    def _value(self, x):
        t = self.tensors(x)
        r = (x[:, None, :] * t["A"][None]).sum(-1) - t["b"]
        return 0.5 * (r**2).mean(dim=-1)

    def _grad(self, x):
        t = self.tensors(x)
        r = (x[:, None, :] * t["A"][None]).sum(-1) - t["b"]
        return (r[:, :, None] * t["A"][None]).mean(dim=1)

    def component_value(self, x, idx):
        t = self.tensors(x)
        r = (t["A"][idx] * x[:, None, :]).sum(-1) - t["b"][idx]
        return 0.5 * (r**2).mean(dim=-1)

    def component_grad(self, x, idx):
        t = self.tensors(x)
        a = t["A"][idx]
        r = (a * x[:, None, :]).sum(-1) - t["b"][idx]
        return (r[:, :, None] * a).mean(dim=1)


def tiny_sum():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((12, 3))
    xs = rng.standard_normal(3)
    return TinySum(name="tiny_sum", d=3, f_star=0.0, x_star=xs, tags=frozenset({"convex", "smooth", "finite_sum"}),
                   certificate=Certificate("closed form"), n=12, params={"A": A, "b": A @ xs})


def test_stochastic_batch_equals_separate_runs_and_chunks_concat():
    p = tiny_sum()
    x0 = p.x0(4, seed=2)
    seeds = torch.tensor([5, 6, 7, 8])
    lr = torch.tensor([0.05, 0.1, 0.05, 0.1])
    cp = log_checkpoints(25, 6)
    whole = run(p, optimizers.get("sgd"), x0, 25, hp={"lr": lr}, seeds=seeds, batch_size=2, checkpoints=cp)
    parts = [run(p, optimizers.get("sgd"), x0[i : i + 1], 25, hp={"lr": lr[i : i + 1]}, seeds=seeds[i : i + 1], batch_size=2, checkpoints=cp)
             for i in range(4)]
    joined = concat(parts)
    for k in whole.data:
        assert torch.equal(whole[k].nan_to_num(-1.0), joined[k].nan_to_num(-1.0)), k
    assert torch.equal(joined.meta["seeds"], seeds) and torch.equal(joined.meta["hp"]["lr"], lr)
    # loss is the minibatch loss, subopt the full objective (here only at checkpoints)
    assert not torch.equal(whole["loss"][cp[:-1]], whole["subopt"][cp[:-1]])
    assert whole["subopt"][cp].isfinite().all()


def test_init_args_are_recorded_and_joined():
    """Init arguments that are not hyper-parameters (a schedule's T, refined norms) are kept in the trace."""
    p = problems.get("l1_distance", d=4)
    x0 = p.x0(4, seed=1)
    norms = torch.rand(4, 10, dtype=torch.float64) + 0.5
    opt = lambda: optimizers.get("sgd", schedule="refined")
    whole = run(p, opt(), x0, 10, hp={"lr": 0.1, "T": 10, "norms": norms, "nvals": 10})
    assert set(whole.meta["init_args"]) == {"T", "norms", "nvals"} and "lr" not in whole.meta["init_args"]
    assert torch.equal(whole.meta["init_args"]["norms"], norms) and whole.meta["init_args"]["T"] == 10
    parts = [run(p, opt(), x0[i : i + 2], 10, hp={"lr": 0.1, "T": 10, "norms": norms[i : i + 2], "nvals": 10}) for i in (0, 2)]
    joined = concat(parts)
    assert torch.equal(joined.meta["init_args"]["norms"], norms) and joined.meta["init_args"]["nvals"] == 10


def test_on_step_hook_and_bad_checkpoints():
    p = problems.get("abs_1d")
    seen = []
    run(p, optimizers.get("sgd"), p.x0(2), 7, hp={"lr": 0.1}, on_step=seen.append)
    assert seen == list(range(7))
    with pytest.raises(ValueError, match="checkpoints must lie in"):
        run(p, optimizers.get("sgd"), p.x0(2), 7, hp={"lr": 0.1}, checkpoints=torch.tensor([0, 9]))


def test_diverged_run_is_flagged_and_kept():
    p = problems.get("abs_1d")
    x0 = torch.tensor([[1.0], [1.0]])
    tr = run(p, optimizers.get("sgd"), x0, 5, hp={"lr": torch.tensor([0.1, math.inf])})
    assert tr["diverged"][-1].tolist() == [0.0, 1.0]
    assert torch.isfinite(tr["subopt"][:, 1]).all()  # frozen at its last finite state


@pytest.mark.parametrize("pname,params,bs", [("l1_distance", {"d": 7}, None), ("least_squares", {}, 4)])
def test_recorded_quantities_bit_identical_to_direct_evaluation(pname, params, bs):
    """float64: every per-step record equals the quantity evaluated directly at the kept x_t, bit
    for bit (dist = ||x_t - x*||, loss = the oracle's value at x_t, grad_norm = ||g_t||), so the
    recording's buffers and fused oracle change no value the theory reads."""
    prob, opt = problems.get(pname, **params), optimizers.get("sgd")
    x0 = prob.x0(5, seed=3, dtype=torch.float64)
    T = 12
    tr = run(prob, opt, x0, T, hp={"lr": 0.01}, seeds=torch.arange(5), batch_size=bs, keep_iterates=True)
    xs = tr.iterates["x"]
    x_star = prob.x_star_tensor(x0)
    assert torch.equal(tr["dist"], torch.stack([torch.linalg.vector_norm(x - x_star, dim=-1) for x in xs]))
    for t in range(T):
        if bs is None:
            loss, g = prob.value_and_grad(xs[t])
            assert torch.equal(tr["subopt"][t], loss - prob.f_star), t  # f(x_t): the loss is taken at x_t
        else:
            idx = prob.sample_indices(torch.arange(5), t, bs)
            loss, g = prob.component_value(xs[t], idx), prob.component_grad(xs[t], idx)
        assert torch.equal(tr["loss"][t], loss), t
        assert torch.equal(tr["grad_norm"][t], torch.linalg.vector_norm(g, dim=-1)), t
    assert tr["loss"][T].isnan().all() and tr["grad_norm"][T].isnan().all()


@pytest.mark.heavy
@pytest.mark.parametrize("pname,oname,bs", [("l1_distance", "sgd", None), ("least_squares", "momo", 4)])
def test_compiled_iteration_equals_eager_within_tolerance(pname, oname, bs):
    """run(compile=True): oracle, step and norms as one compiled function; every record equals
    eager within the documented relative 1e-12 (float64; runner.compiled_iteration), and the
    step counters do not recompile each step."""
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    prob = problems.get(pname)
    x0 = prob.x0(6, seed=2, dtype=torch.float64)
    hp = {"lr": 0.01 if oname == "sgd" else 1.0}
    kw = dict(hp=hp, seeds=torch.arange(6), batch_size=bs)
    eager = run(prob, optimizers.get(oname), x0, 20, **kw)
    comp = run(prob, optimizers.get(oname), x0, 20, compile=True, **kw)
    for k, v in eager.data.items():
        scale = v.abs().nan_to_num(0.0).amax().clamp_min(1e-300)
        diff = (comp.data[k] - v).abs().nan_to_num(0.0).amax()
        assert torch.equal(comp.data[k].isnan(), v.isnan()) and diff <= 1e-12 * scale, (k, float(diff / scale))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] <= 3
