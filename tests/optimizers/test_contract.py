"""The optimizer contract, checked for every registered optimizer (and a few configurations).

For each method, with its ``example_hp`` and the problem constants it asks for
(``problem_kwargs``), on a small interpolating least-squares finite sum with per-run minibatches:

- a batch of runs equals the same runs made one at a time, bit for bit in float64 (30 steps,
  different starts, seeds and step sizes per run);
- float32 in, float32 state and info out;
- a NaN gradient in one run freezes and flags that run only; the others are bit-identical to
  a clean batch;
- every info value is a [B] tensor; one step's info has exactly the declared keys (``info_keys``,
  derived from the class's ``info_type``, plus "diverged"), and the state exactly the entries of
  its ``state_type`` (also for options that change the hyper-parameters, G_term, and for a
  wrapped base);
- the torch.optim adapter reproduces the functional trajectory bit for bit (two parameter
  tensors in one group), and a state_dict saved with torch.save and loaded with torch.load
  (default weights_only) into a fresh adapter continues on the identical trajectory.
"""

from __future__ import annotations

import io
import math

import pytest
import torch

from ratecheck.optimizers import TorchAdapter, get, names
from ratecheck.optimizers.base import HP, LRInfo, Optimizer, typed_keys
from ratecheck.rng import sample_indices
from tests._lib.core import least_squares


PROBLEM = least_squares(n=24, d=6, seed=3)
BATCH = 3  # minibatch size
STEPS = 30
B = 4


def _refined_norms(rows: int) -> torch.Tensor:
    k = torch.arange(60, dtype=torch.float64)
    return torch.stack([2.0 + torch.cos(k / (5.0 + r)) for r in range(rows)])


# (id, name, options, extra init arguments as a function of the number of runs)
EXTRA_CONFIGS = [
    ("sgd-linear", "sgd", {"schedule": "linear"}, lambda b: {"T": 45}),
    ("sgd-custom-per-run", "sgd", {"schedule": "custom"},
     lambda b: {"lr_schedule": torch.linspace(1.0, 0.1, 50).repeat(b, 1) * (1 + torch.arange(b))[:, None] / b}),
    ("sgd-refined-per-run", "sgd", {"schedule": "refined"}, lambda b: {"norms": _refined_norms(b), "T": 45, "nvals": 200}),
    ("adam-warmup_cosine", "adam", {"schedule": "warmup_cosine"}, lambda b: {"T": 45, "warmup": 5}),
    ("sgd_momentum-nesterov", "sgd_momentum", {"schedule": "step"},
     lambda b: {"nesterov": True, "dampening": 0.0, "T": 45, "milestones": [10, 20], "gamma": 0.5}),
    ("heavy_ball-momentum_schedule", "heavy_ball", {"schedule": "cosine"},
     lambda b: {"T": 45, "momentum_schedule": torch.linspace(1.0, 0.5, 45)}),
    ("spa-c_schedule", "spa", {}, lambda b: {"c_schedule": torch.linspace(1.0, 2.0, 45)}),
    ("psgd-a-per-run", "psgd", {"schedule": "linear"},
     lambda b: {"T": 45, "a": 0.5 + torch.arange(b * PROBLEM.d, dtype=torch.float64).reshape(b, PROBLEM.d) / (b * PROBLEM.d)}),
]

CONFIGS = [pytest.param(n, {}, None, id=n) for n in names()] + [
    pytest.param(n, o, e, id=i) for i, n, o, e in EXTRA_CONFIGS
]


def _hp(opt, runs: int, vary: bool, extra_fn) -> dict:
    hp = dict(opt.example_hp)
    for name in opt.problem_kwargs:
        hp.setdefault(name, getattr(PROBLEM, name))
    if extra_fn is not None:
        hp.update(extra_fn(runs))
    if vary:
        # Different values per run for every (0, inf) hyper-parameter given: a leak across runs shows.
        factors = torch.tensor([1.0, 0.5, 1.5, 0.75])[:runs]
        for name, spec in opt.hyperparams.items():
            if name in hp and isinstance(spec, HP) and spec.low == 0 and spec.low_open and spec.high == math.inf:
                if isinstance(hp[name], (int, float)) and not isinstance(hp[name], bool):
                    hp[name] = hp[name] * factors
    return hp


def _slice(hp: dict, b: int, runs: int) -> dict:
    return {k: (v[b : b + 1] if isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] == runs else v) for k, v in hp.items()}


def _oracle(x: torch.Tensor, seeds: torch.Tensor, t: int, m: int = BATCH):
    idx = sample_indices(seeds, t, m, PROBLEM.n)
    return PROBLEM.component_grad(x, idx), PROBLEM.component_value(x, idx), idx


def _m(opt) -> int:
    # Per-datapoint methods (TAPS/MOTAPS) take one sample per step, as the authors' code.
    return 1 if opt.needs_indices else BATCH


def _run(opt, x0, hp, seeds, steps=STEPS, nan_at=None, donate=False, ptrs=None):
    """``donate``: each step gets the state from two steps back as ``out`` (the runner's loop);
    ``ptrs`` collects the data pointer of every x then."""
    state, spare = opt.init(x0, **hp), None
    xs, infos = [state["x"].clone()], []
    for t in range(steps):
        g, loss, idx = _oracle(state["x"], seeds, t, _m(opt))
        if nan_at is not None and t == nan_at[0]:
            g = g.clone()
            g[nan_at[1], 0] = math.nan
        new, info = opt.step(state, g, loss, idx, out=spare) if donate else opt.step(state, g, loss, idx)
        spare, state = (state if donate else None), new
        xs.append(state["x"].clone())
        if ptrs is not None:
            ptrs.append(state["x"].data_ptr())
        infos.append({k: v.clone() for k, v in info.items()})
    return state, torch.stack(xs), infos


def _x0(runs: int, dtype=torch.float64) -> torch.Tensor:
    return PROBLEM.x0(runs, scale=0.5, seed=11, dtype=dtype)


def _tensors(obj, prefix=""):
    """(path, tensor) for every tensor in a nested state."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}[{i}]")


@pytest.mark.parametrize("name,options,extra", CONFIGS)
def test_batched_equals_separate_runs(name, options, extra):
    opt = get(name, **options)
    seeds = torch.tensor([5, 6, 7, 8])
    hp = _hp(opt, B, vary=True, extra_fn=extra)
    x0 = _x0(B)
    state, xs, infos = _run(opt, x0, hp, seeds)
    assert not bool(state["diverged"].any()), f"{name} diverged on the contract problem"
    for b in range(B):
        sb, xb, ib = _run(opt, x0[b : b + 1], _slice(hp, b, B), seeds[b : b + 1])
        assert torch.equal(xs[:, b], xb[:, 0]), f"{name}: run {b} differs from its separate run"
        for t, (i_all, i_one) in enumerate(zip(infos, ib)):
            for k in i_all:
                assert torch.equal(i_all[k][b : b + 1], i_one[k]), f"{name}: info[{k!r}] run {b} step {t}"
        for path, v in _tensors(state):
            if v.ndim >= 1 and v.shape[0] == B and path != ".hp" and not path.startswith(".schedules"):
                other = dict(_tensors(sb))[path]
                assert torch.equal(v[b : b + 1], other), f"{name}: state{path} run {b}"
    # The runs really differ (different x0/seeds/hps), so the comparison above is not vacuous.
    assert not torch.equal(xs[-1, 0], xs[-1, 1])


@pytest.mark.parametrize("name,options,extra", CONFIGS)
def test_info_values_are_per_run(name, options, extra):
    opt = get(name, **options)
    _, _, infos = _run(opt, _x0(B), _hp(opt, B, False, extra), torch.arange(B), steps=3)
    for info in infos:
        assert set(opt.info_keys) | {"diverged"} <= set(info), f"{name}: info lacks {set(opt.info_keys) - set(info)}"
        for k, v in info.items():
            assert isinstance(v, torch.Tensor) and v.shape == (B,), f"{name}: info[{k!r}] has shape {getattr(v, 'shape', None)}"


# Options that change the declared hyper-parameters, problem attributes or a wrapped base.
KEY_CONFIGS = CONFIGS + [
    pytest.param("dadapt_da", {"option": "II", "G_term": True}, None, id="dadapt_da-II-G_term"),
    pytest.param("dadapt_gd", {"G_term": False}, None, id="dadapt_gd-no-G_term"),
    pytest.param("dadapt_resetting", {"G_term": True}, None, id="dadapt_resetting-G_term"),
    pytest.param("mechanic", {"base": "dadapt_gd", "store_delta": False}, None, id="mechanic-dadapt_gd-no-delta"),
    pytest.param("mechanic_optax", {"base": "dadapt_adam_code"}, None, id="mechanic_optax-dadapt_adam_code"),
]


def _assert_declared_state(opt, state: dict, where: str) -> None:
    td = opt.state_type
    required, declared = set(td.__required_keys__), set(td.__annotations__)
    assert required <= set(state), f"{where}: state lacks {sorted(required - set(state))} of {td.__name__}"
    assert set(state) <= declared, f"{where}: state has undeclared {sorted(set(state) - declared)} (not in {td.__name__})"
    if isinstance(state.get("base"), dict) and isinstance(getattr(opt, "base", None), Optimizer):
        _assert_declared_state(opt.base, state["base"], f"{where} (base {opt.base.name})")


@pytest.mark.parametrize("name,options,extra", KEY_CONFIGS)
def test_one_step_has_exactly_the_declared_info_and_state(name, options, extra):
    opt = get(name, **options)
    declared = typed_keys(type(opt).info_type)
    assert len(set(opt.info_keys)) == len(opt.info_keys) and "diverged" not in opt.info_keys
    # info_keys is the declaration (a wrapper such as Mechanic appends per-instance keys after it).
    assert opt.info_keys[: len(declared)] == declared, f"{name}: info_keys {opt.info_keys} not derived from {declared}"
    hp = _hp(opt, B, False, extra)
    state = opt.init(_x0(B), **hp)
    _assert_declared_state(opt, state, f"{name} after init")
    for t in range(2):
        g, loss, idx = _oracle(state["x"], torch.arange(B), t, _m(opt))
        state, info = opt.step(state, g, loss, idx)
        assert set(info) == set(opt.info_keys) | {"diverged"}, (
            f"{name}: info keys differ from the declaration: extra {sorted(set(info) - set(opt.info_keys) - {'diverged'})}, "
            f"missing {sorted(set(opt.info_keys) - set(info))}"
        )
        _assert_declared_state(opt, state, f"{name} after step {t}")


def test_info_keys_are_derived_not_written():
    with pytest.raises(TypeError, match="info_type"):

        class _Handwritten(Optimizer):  # noqa: F841
            info_keys = ("lr",)

    class _Declared(Optimizer):
        info_type = LRInfo

    class _Inherits(_Declared):
        pass

    assert _Declared.info_keys == ("lr",) and _Inherits.info_keys == ("lr",) and Optimizer.info_keys == ()


@pytest.mark.parametrize("name,options,extra", CONFIGS)
def test_float32_stays_float32(name, options, extra):
    opt = get(name, **options)
    state, xs, infos = _run(opt, _x0(B, torch.float32), _hp(opt, B, False, extra), torch.arange(B), steps=10)
    assert xs.dtype == torch.float32 and bool(torch.isfinite(xs).all())
    assert not bool(state["diverged"].any())
    for path, v in _tensors(state):
        if v.is_floating_point():
            assert v.dtype == torch.float32, f"{name}: state{path} is {v.dtype}"
    for info in infos:
        for k, v in info.items():
            if v.is_floating_point():
                assert v.dtype == torch.float32, f"{name}: info[{k!r}] is {v.dtype}"


@pytest.mark.parametrize("name,options,extra", CONFIGS)
def test_nan_gradient_freezes_only_its_run(name, options, extra):
    opt = get(name, **options)
    runs, bad, at = 3, 1, 4
    hp, x0, seeds = _hp(opt, runs, False, extra), _x0(runs), torch.arange(runs)
    _, clean, _ = _run(opt, x0, hp, seeds, steps=10)
    state, xs, infos = _run(opt, x0, hp, seeds, steps=10, nan_at=(at, bad))
    for t, info in enumerate(infos):
        expected = [False] * runs
        if t >= at:
            expected[bad] = True
        assert info["diverged"].tolist() == expected, f"{name}: step {t}"
    keep = [b for b in range(runs) if b != bad]
    assert torch.equal(xs[:, keep], clean[:, keep])
    assert bool((xs[at + 1 :, bad] == xs[at, bad]).all())  # frozen at its last finite iterate
    assert bool(torch.isfinite(xs).all())


@pytest.mark.parametrize("name,options,extra", CONFIGS)
def test_donating_the_old_state_changes_no_bit(name, options, extra):
    """step(state, ..., out=<the state from two steps back>) equals the step without ``out`` bit
    for bit in float64 (iterates, info, the NaN freeze of one run); a method that ``donates``
    writes its new x into the donated buffers (two x buffers in turn once the loop runs)."""
    opt = get(name, **options)
    hp, x0, seeds = _hp(opt, 3, True, extra), _x0(3), torch.arange(3)
    for nan_at in (None, (4, 1)):
        ptrs: list[int] = []
        ref, xs, infos = _run(opt, x0, hp, seeds, steps=12, nan_at=nan_at)
        got, ys, jnfos = _run(opt, x0, hp, seeds, steps=12, nan_at=nan_at, donate=True, ptrs=ptrs)
        assert torch.equal(xs, ys), f"{name}: donated iterates differ (NaN at {nan_at})"
        for t, (a, b) in enumerate(zip(infos, jnfos)):
            for k in a:
                torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, equal_nan=True, msg=f"{name}: info[{k!r}] step {t}")
        if opt.donates and nan_at is None:
            assert len(set(ptrs[2:])) == 2, f"{name}: x is not written into the donated buffers"


def _adapter_run(opt_name, options, hp, p_init, seeds, steps, adapter=None, params=None):
    """Drive a TorchAdapter over two parameter tensors holding the flat vector x."""
    if params is None:
        params = [torch.nn.Parameter(p_init[:2].clone()), torch.nn.Parameter(p_init[2:].clone().reshape(2, -1))]
    if adapter is None:
        adapter = TorchAdapter(params, opt_name, options, **hp)
    xs = []
    for t in range(steps):
        x = torch.cat([p.detach().reshape(-1) for p in params])[None, :]
        g, loss, idx = _oracle(x, seeds, t, _m(adapter.method))
        params[0].grad = g[0, :2].clone()
        params[1].grad = g[0, 2:].reshape(2, -1).clone()
        adapter.step(loss=loss[0], idx=idx[0])
        xs.append(torch.cat([p.detach().reshape(-1) for p in params]))
    return adapter, params, torch.stack(xs)


@pytest.mark.parametrize("name,options,extra", CONFIGS)
def test_torch_adapter_reproduces_functional_and_state_dict_round_trips(name, options, extra):
    hp = _hp(get(name, **options), 1, False, extra)
    hp = {k: (v[0] if isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] == 1 and k.endswith("_schedule") else v) for k, v in hp.items()}
    x0, seeds = _x0(1), torch.tensor([3])
    _, fx, _ = _run(get(name, **options), x0, hp, seeds, steps=20)
    adapter, params, ax = _adapter_run(name, options, hp, x0[0], seeds, 10)
    assert torch.equal(ax, fx[1:11, 0]), f"{name}: the adapter's trajectory differs from the functional one"
    assert set(adapter.param_groups[0]["info"]) >= set(get(name, **options).info_keys)

    buf = io.BytesIO()
    torch.save(adapter.state_dict(), buf)
    buf.seek(0)
    loaded = torch.load(buf)  # default weights_only: a checkpoint must load without pickled classes
    params2 = [torch.nn.Parameter(p.detach().clone()) for p in params]
    fresh = TorchAdapter(params2, name, options, **hp)
    fresh.load_state_dict(loaded)

    def cont(ad, ps):
        xs = []
        for t in range(10, 20):
            x = torch.cat([p.detach().reshape(-1) for p in ps])[None, :]
            g, loss, idx = _oracle(x, seeds, t, _m(ad.method))
            ps[0].grad = g[0, :2].clone()
            ps[1].grad = g[0, 2:].reshape(2, -1).clone()
            ad.step(loss=loss[0], idx=idx[0])
            xs.append(torch.cat([p.detach().reshape(-1) for p in ps]))
        return torch.stack(xs)

    reloaded = cont(fresh, params2)
    original = cont(adapter, params)
    assert torch.equal(reloaded, original), f"{name}: training after load_state_dict left the trajectory"
    assert torch.equal(original, fx[11:21, 0])
