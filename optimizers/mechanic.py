"""Mechanic: a learning-rate tuner that learns one global scale over any base optimizer.

Cutkosky, Defazio, Mehta, *Mechanic: A Learning Rate Tuner*, arXiv 2306.00144 (NeurIPS 2023).
The update follows the authors' PyTorch code, mechanic-pytorch 0.0.1
(``optimizedlearning/mechanic``, ``src/mechanic_pytorch/mechanic.py``) [CODE]; the variant
"optax" follows ``google-deepmind/optax``, ``optax/contrib/_mechanic.py`` [CODE]. The paper's
Algorithm 1 itself was not available (see docs/references/mechanic.md, [UNVERIFIED] there).

With the base optimizer producing the update u_t from the gradient g_t at x_t, and n tuners
with decay factors beta_i, the method plays x_t = x_ref + S_t Delta_t, S_t = sum_i s_{t,i}:

    Delta_{t+1} = Delta_t + u_t,   y_t = x_t + u_t   (post-base-step point; x_t for "optax")
    h_t   = < Delta_t, g_t + lambda S_t ||g_t|| y_t / (||y_t|| + eps) >
    m_t   = max(beta m_{t-1}, |h_t|)                 ("optax": |h_t| + eps)
    v_t   = beta^2 v_{t-1} + h_t^2
    r_t   = max(0, beta r_{t-1} - s_t h_t)           ("optax": beta r_{t-1} - clip(h_t, +-m_{t-1}) s_t,
                                                      stored unclamped, max(0, r_t) in the wealth)
    W_t   = (s_init / n) m_t + r_t
    s_{t+1} = W_t / (sqrt(v_t) + eps)
    x_{t+1} = x_ref + Delta_{t+1} max(S_{t+1}, 0)

The base optimizer is any optimizer of this package; its state is nested in Mechanic's
(``state["base"]``) and always sees the played point x_t, as in the PyTorch wrapper, so
methods whose update depends on x (weight decay, D-Adaptation's x0) behave as there.

Hyper-parameters of the base are passed to ``init`` with the prefix ``base_``
(``init(x0, base_lr=1.0, s_decay=0.0)``); so are its non-hyper-parameter init options.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import torch

from ratecheck.errors import RatecheckError, out_of_range, unknown

from .base import HP, NO_OUT, BaseState, Optimizer, dot, get, nonneg, norm, per_run, positive, register, typed_keys

#: mechanic-pytorch 0.0.1's default betas; optax's ``1 - 0.1**i``, i = 1..6, are the same values.
DEFAULT_BETAS = (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)
VARIANTS = ("pytorch", "optax")
PREFIX = "base_"

Tensor = torch.Tensor


class _MechanicStateRequired(BaseState):
    x_ref: Tensor
    betas: Tensor  # [B, n]
    s: Tensor  # [B, n]: the tuners' scales
    v: Tensor
    r: Tensor
    m: Tensor
    base: dict[str, Any]  # the base optimizer's state


class MechanicState(_MechanicStateRequired, total=False):
    delta: Tensor  # only with store_delta=True


class MechanicInfo(TypedDict):
    """The fixed part of Mechanic's info; an instance adds ``{q}_{i}`` for q in PER_TUNER and each
    tuner i, and the base's info keys prefixed ``base_`` (``Mechanic.info_keys``)."""

    h: Tensor
    s_sum_prev: Tensor
    s_sum: Tensor
    wealth: Tensor
    reward: Tensor


PER_TUNER = ("s", "r", "m", "v", "W")


class Mechanic(Optimizer):
    """Mechanic over a base optimizer of this package (see the module docstring for the update).

    Options (structural, fixed per instance):

    - ``base``: a registered optimizer name or an ``Optimizer`` instance (default "sgd");
      ``base_options``: options for building it by name;
    - ``betas``: the n tuners' decay factors in [0, 1] (default the six of mechanic-pytorch);
      ``init(..., betas=...)`` may override them per run with a tensor [n] or [B, n];
    - ``variant``: "pytorch" (mechanic-pytorch 0.0.1: s_0 = 0, m_0 = 1e-6, |h| in m, reward
      clamped at 0 when stored, decay term at the post-base-step point) or "optax" (s_0 = s_init,
      m_0 = 0, |h| + eps in m, h clipped to [-m_{t-1}, m_{t-1}] in the reward, reward stored
      unclamped, decay term at x_t);
    - ``store_delta``: True keeps Delta_t in the state (exact); False recomputes it as
      (x_t - x_ref) / (S_t + eps), which is mechanic-pytorch's default (``store_delta=False``)
      and optax's only behaviour. The recomputation shrinks Delta by S/(S + eps) each step.

    ``info``: ``h`` (h_t), ``s_sum_prev`` (S_t, the scale x_t was played at), ``s_sum``
    (S_{t+1}), ``wealth`` and ``reward`` (sums over the tuners), per tuner i ``s_i``
    (s_{t+1,i}), ``r_i``, ``m_i``, ``v_i``, ``W_i``, and the base's info keys prefixed ``base_``.
    """

    reference = "Cutkosky, Defazio & Mehta, Mechanic, arXiv 2306.00144; code: mechanic-pytorch 0.0.1, optax contrib"
    state_type = MechanicState
    info_type = MechanicInfo
    donates = True

    def __init__(
        self,
        base: str | Optimizer = "sgd",
        base_options: dict[str, Any] | None = None,
        betas: Sequence[float] = DEFAULT_BETAS,
        variant: str = "pytorch",
        store_delta: bool = True,
    ):
        if variant not in VARIANTS:
            raise unknown("Mechanic variant", variant, VARIANTS)
        if isinstance(base, str):
            self.base = get(base, **(base_options or {}))
        elif isinstance(base, Optimizer):
            if base_options:
                raise RatecheckError("mechanic: base_options apply only when base is a name; got an Optimizer instance")
            self.base = base
        else:
            raise RatecheckError(f"mechanic: base must be an optimizer name or an Optimizer; got {type(base).__name__}")
        if isinstance(self.base, Mechanic):
            raise RatecheckError("mechanic: base must not itself be Mechanic")
        if not isinstance(store_delta, bool):
            raise out_of_range("mechanic: store_delta", store_delta, "True, False")
        self.betas = _check_betas(betas)
        self.variant = variant
        self.store_delta = store_delta
        self.name = "mechanic" if variant == "pytorch" else "mechanic_optax"
        optax = variant == "optax"
        own = {
            "s_decay": nonneg(0.01, "lambda: the 'weight-decay-esque' term of h"),
            "s_init": positive(1e-6 if optax else 1e-8, "initial scale; an underestimate of the right scale"),
            "eps": positive(1e-8, "added to sqrt(v), ||x|| and (store_delta=False) S"),
            "m_init": nonneg(0.0 if optax else 1e-6, "initial max |h| per tuner (mechanic-pytorch: 1e-6)"),
        }
        self.hyperparams = {**own, **{PREFIX + k: spec for k, spec in self.base.hyperparams.items()}}
        self.needs_loss = self.base.needs_loss
        self.needs_indices = self.base.needs_indices
        n = len(self.betas)
        per_tuner = tuple(f"{q}_{i}" for q in PER_TUNER for i in range(n))
        self.info_keys = typed_keys(MechanicInfo) + per_tuner + tuple(PREFIX + k for k in self.base.info_keys)
        self.example_hp = {PREFIX + k: v for k, v in self.base.example_hp.items()}

    @property
    def problem_kwargs(self) -> tuple[str, ...]:  # type: ignore[override]
        """The base's problem attributes (passed unprefixed by the runner, routed to the base)."""
        return tuple(self.base.problem_kwargs)

    def __repr__(self) -> str:
        return f"Mechanic(base={self.base!r}, variant={self.variant!r}, store_delta={self.store_delta})"

    # -- init -------------------------------------------------------------------------------
    def init(self, x0: torch.Tensor, **hp: Any):
        # The runner passes the base's problem attributes unprefixed; route them to the base.
        for name in self.base.problem_kwargs:
            if name in hp and PREFIX + name in self.hyperparams:
                value = hp.pop(name)
                hp.setdefault(PREFIX + name, value)
        return super().init(x0, **hp)

    def _init(self, x0, hp, **extra):
        B = x0.shape[0]
        betas = extra.pop("betas", None)
        base_kw: dict[str, Any] = {k[len(PREFIX):]: v for k, v in hp.items() if k.startswith(PREFIX)}
        for key in list(extra):
            if key.startswith(PREFIX):
                base_kw[key[len(PREFIX):]] = extra.pop(key)
            elif key in self.base.problem_kwargs:
                base_kw[key] = extra.pop(key)
        if extra:
            raise RatecheckError(
                f"unknown hyper-parameter(s) {sorted(extra)} for {self.name}; allowed: "
                f"{sorted(self.hyperparams)} and 'betas' (base options take the prefix {PREFIX!r})"
            )
        n = len(self.betas)
        if betas is None:
            b = torch.tensor(self.betas, dtype=torch.float64).expand(B, n)
        else:
            b = torch.as_tensor(betas, dtype=torch.float64)
            if b.ndim == 1:
                b = b.expand(B, -1)
            if b.shape != (B, n):
                raise RatecheckError(f"{self.name}: betas has shape {tuple(b.shape)}; allowed: [{n}] or [{B}, {n}]")
            _check_betas(b.reshape(-1).tolist())
        b = b.to(device=x0.device, dtype=x0.dtype).contiguous()
        zeros = torch.zeros(B, n, device=x0.device, dtype=x0.dtype)
        s0 = per_run(hp["s_init"]).expand(B, n).clone() if self.variant == "optax" else zeros.clone()
        state = {
            "x_ref": x0.clone(),
            "betas": b,
            "s": s0,
            "v": zeros.clone(),
            "r": zeros.clone(),
            "m": per_run(hp["m_init"]).expand(B, n).clone(),
            "base": self.base.init(x0, **base_kw),
        }
        if self.store_delta:
            state["delta"] = torch.zeros_like(x0)
        return state

    # -- step -------------------------------------------------------------------------------
    def _step(self, state, grad, loss, idx=None, out=NO_OUT):
        hp = state["hp"]
        lam, s_init, eps = hp["s_decay"], hp["s_init"], hp["eps"]
        x, x_ref, betas = state["x"], state["x_ref"], state["betas"]
        s, m, v, r = state["s"], state["m"], state["v"], state["r"]
        n = betas.shape[-1]
        S = s.sum(dim=-1)

        base_state = dict(state["base"])
        base_state["x"] = x
        args = (base_state, grad, loss, idx) if self.needs_indices else (base_state, grad, loss)
        compiling = torch.compiler.is_compiling()
        if compiling:  # the base's update and its freeze apart: _h_in_one_pass reads both
            base_raw, base_info = self.base.advance(*args)
            base_new, base_info = self.base.hold_diverged(base_state, base_raw, base_info)
        else:
            base_new, base_info = self.base.step(*args)
        y = base_new["x"]
        tmp, tmp2, x_out = out.get("tmp"), out.get("tmp2"), out.get("x")  # x's buffer holds the decay term first
        u = torch.sub(y, x, out=tmp)

        delta = state["delta"] if self.store_delta else torch.div(torch.sub(x, x_ref, out=tmp2), per_run(S + eps), out=tmp2)
        if compiling:
            h = self._h_in_one_pass(delta, grad, x, base_raw["x"], base_info["diverged"], S, lam, eps)
        else:
            # mechanic-pytorch evaluates the decay term at the parameters after the base step;
            # both JAX versions at x_t (docs/references/mechanic.md, section 3).
            point = y if self.variant == "pytorch" else x
            decay = torch.mul(per_run(lam), point, out=x_out)
            decay = torch.mul(torch.mul(decay, per_run(S), out=x_out), per_run(norm(grad)), out=x_out)
            decay = torch.div(decay, per_run(norm(point) + eps), out=x_out)
            h = dot(delta, torch.add(grad, decay, out=x_out), x_out)
        delta_new = torch.add(delta, u, out=out.get("delta") if self.store_delta else tmp2)

        hc = per_run(h)
        if self.variant == "pytorch":
            m_new = torch.maximum(betas * m, hc.abs())
            r_new = torch.clamp(betas * r - s * hc, min=0.0)
            r_wealth = r_new
        else:
            m_new = torch.maximum(betas * m, hc.abs() + per_run(eps))
            clipped = torch.minimum(torch.maximum(hc, -m), m)
            r_new = betas * r - clipped * s
            r_wealth = torch.clamp(r_new, min=0.0)
        v_new = betas * betas * v + hc * hc
        W = m_new * per_run(s_init) / n + r_wealth
        s_new = W / (torch.sqrt(v_new) + per_run(eps))
        S_new = s_new.sum(dim=-1)
        x_new = torch.add(x_ref, torch.mul(delta_new, per_run(torch.clamp(S_new, min=0.0)), out=x_out), out=x_out)

        base_new = dict(base_new)
        base_new["x"] = x_new
        new = {"x": x_new, "x_ref": x_ref, "betas": betas, "s": s_new, "v": v_new, "r": r_new, "m": m_new, "base": base_new}
        if self.store_delta:
            new["delta"] = delta_new

        info = {"h": h, "s_sum_prev": S, "s_sum": S_new, "wealth": W.sum(dim=-1), "reward": r_new.sum(dim=-1)}
        for q, t in zip(PER_TUNER, (s_new, r_new, m_new, v_new, W)):
            # one unbind per quantity: the same column views as t[:, i], one dispatch instead of n
            info.update((f"{q}_{i}", col) for i, col in enumerate(t.unbind(-1)))
        for k, val in base_info.items():
            if k != "diverged":
                info[PREFIX + k] = val
        return new, info

    def _h_in_one_pass(self, delta, grad, x, y_raw, frozen, S, lam, eps):
        """h = <Delta, g + lambda S ||g|| p / (||p|| + eps)> under ``torch.compile``, from sums that
        one pass over the rows computes: h = <Delta, g> + lambda S ||g|| <Delta, p> / (||p|| + eps).

        The point p is the base's new x (``pytorch``), which the base's divergence freeze sets
        back to x in its frozen runs, or x itself (``optax``). Eager computes the freeze first
        and then the decay term and h over p: three passes over the entries, since each waits for
        per-run values of the pass before (the freeze's probe, then ||p||). Here the sums of
        both candidates are taken in the pass that takes the probe's, and each run picks its own
        (``where(frozen, ., .)``, exact). The same h up to the reordering of the sums, inside
        the compiled step's tolerance (tests/optimizers/test_compiled.py, the frozen-base run
        included). At B*d = 1e7 the compiled step makes two passes over the rows instead of
        four (docs/speed.md, "Mechanic's passes")."""
        if self.variant == "pytorch":
            sq = torch.where(frozen, (x * x).sum(-1), (y_raw * y_raw).sum(-1))
            dp = torch.where(frozen, (delta * x).sum(-1), (delta * y_raw).sum(-1))
        else:
            sq, dp = (x * x).sum(-1), (delta * x).sum(-1)
        return (delta * grad).sum(-1) + lam * S * norm(grad) * dp / (sq.sqrt() + eps)


def _check_betas(betas: Sequence[float]) -> tuple[float, ...]:
    try:
        vals = tuple(float(b) for b in betas)
    except TypeError:
        raise RatecheckError(f"mechanic: betas must be a sequence of numbers in [0, 1]; got {betas!r}") from None
    if not vals:
        raise RatecheckError("mechanic: betas is empty; allowed: one or more numbers in [0, 1]")
    spec = HP(None, 0.0, 1.0)
    for b in vals:
        if not bool(spec.contains(torch.tensor(b))):
            raise out_of_range("mechanic: betas entry", b, spec.allowed())
    return vals


@register("mechanic")
def mechanic(**options: Any) -> Mechanic:
    """Mechanic as in mechanic-pytorch 0.0.1 (options: base, base_options, betas, store_delta)."""
    variant = options.pop("variant", "pytorch")
    if variant == "optax":
        raise RatecheckError("mechanic: use the name 'mechanic_optax' for the optax variant")
    return Mechanic(variant=variant, **options)


@register("mechanic_optax")
def mechanic_optax(**options: Any) -> Mechanic:
    """Mechanic as in optax.contrib.mechanize: h clipping, |h| + eps, s_0 = s_init, m_0 = 0."""
    variant = options.pop("variant", "optax")
    if variant == "pytorch":
        raise RatecheckError("mechanic_optax: use the name 'mechanic' for the pytorch variant")
    return Mechanic(variant=variant, **options)
