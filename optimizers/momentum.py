r"""SGD with momentum in three forms, and the exact conversions between them.

Notation ([DERIVED], reference note spa_momentum.md §1-2; Defazio, "Momentum via primal
averaging", arXiv 2010.00406). Step k = 0, 1, ... evaluates g_k at x_k; every parameter may
change with k (a schedule).

* PyTorch form (``sgd_momentum``), torch.optim.SGD semantics:
  b_1 = g_0,  b_{k+1} = mu_k b_k + (1 - tau) g_k  (k >= 1),  x_{k+1} = x_k - lr_k b_{k+1}
  (Nesterov: x_{k+1} = x_k - lr_k (g_k + mu_k b_{k+1})).
* Heavy ball (``heavy_ball``), Polyak (1964):
  x_{k+1} = x_k - alpha_k g_k + beta_k (x_k - x_{k-1}),  x_{-1} = x_0.
* Stochastic primal averaging (``spa``): z_0 = x_0,
  z_{k+1} = z_k - eta_k g_k,  x_{k+1} = (1 - c_k) x_k + c_k z_{k+1}.
  (c_k here is the note's c_{k+1}: the weight used at step k.)

Exact conversions (all iterates x_k equal; sequences indexed by step k):

* PyTorch -> heavy ball: b_k = -(x_k - x_{k-1}) / lr_{k-1}, hence
  alpha_0 = lr_0, alpha_k = (1 - tau) lr_k (k >= 1),  beta_k = mu_k lr_k / lr_{k-1}.
  (The note states tau = 0; the dampening term follows from the same line, [DERIVED].)
* SPA -> heavy ball: z_k - x_k = (1 - c_{k-1})/c_{k-1} (x_k - x_{k-1}), hence
  alpha_k = c_k eta_k,  beta_k = c_k (1 - c_{k-1}) / c_{k-1}.
* heavy ball -> SPA (inverse; c_0 is free, c_0 = 1 - beta_0 is the stationary choice):
  c_k = beta_k c_{k-1} / (1 - c_{k-1}),  eta_k = alpha_k / c_k.
* Constant (lr, mu), tau = 0: c = 1 - mu, eta = lr / (1 - mu), and z_k - x_k = -(lr mu/(1-mu)) b_k.

beta_0 has no effect (x_0 - x_{-1} = 0); the conversions set beta_0 = mu_0 (from PyTorch) and
beta_0 = 1 - c_0 (from SPA). Nesterov's form is not a heavy-ball method and is not converted.
Use ``as_hp`` to turn converted sequences into ``init`` arguments of a ``schedule='custom'``
optimizer.
"""

from __future__ import annotations

from typing import Any, TypedDict

import torch

from ratecheck.errors import RatecheckError, out_of_range

from .base import HP, NO_OUT, nonneg, per_run, positive, register, scaled_sum, unit
from .schedules import Scheduled, ScheduledState, carry

Tensor = torch.Tensor


class SGDMomentumState(ScheduledState):
    buf: Tensor
    use_wd: bool  # decided once in init: some run has weight decay
    use_nesterov: bool  # some run is Nesterov
    zero_momentum: bool  # some run has mu_k = 0 at some step


class HeavyBallState(ScheduledState):
    x_prev: Tensor


class SPAState(ScheduledState):
    z: Tensor


class MomentumInfo(TypedDict):
    lr: Tensor
    momentum: Tensor


class SPAInfo(TypedDict):
    lr: Tensor
    c: Tensor


# -- conversions --------------------------------------------------------------------------------
def _seq(v: Any, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    t = torch.as_tensor(v, dtype=torch.float64)
    if like is not None:
        try:
            t = torch.broadcast_to(t, like.shape)
        except RuntimeError:
            raise RatecheckError(f"{name} has shape {tuple(t.shape)}; allowed: a scalar or {tuple(like.shape)}") from None
    elif t.ndim == 0:
        raise RatecheckError(f"{name} must be a sequence [..., T]; got a scalar")
    if not bool(torch.isfinite(t).all()):
        raise out_of_range(f"{name} entry", t[~torch.isfinite(t)][0].item(), "finite values")
    return t


def _positive(t: torch.Tensor, name: str) -> None:
    if bool((t <= 0).any()):
        raise out_of_range(f"{name} entry", t[t <= 0][0].item(), "(0, inf)")


def pytorch_to_heavy_ball(lr: Any, momentum: Any, dampening: Any = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(lr_k, mu_k, tau) of torch.optim.SGD -> heavy-ball (alpha_k, beta_k); lr [..., T] > 0."""
    lr = _seq(lr, "lr")
    _positive(lr, "lr")
    mu = _seq(momentum, "momentum", lr)
    tau = _seq(dampening, "dampening", lr)
    alpha = torch.cat([lr[..., :1], (1.0 - tau[..., 1:]) * lr[..., 1:]], dim=-1)
    beta = torch.cat([mu[..., :1], mu[..., 1:] * lr[..., 1:] / lr[..., :-1]], dim=-1)
    return alpha, beta


def heavy_ball_to_pytorch(alpha: Any, beta: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Heavy-ball (alpha_k, beta_k) -> torch.optim.SGD (lr_k, mu_k) with dampening 0."""
    alpha = _seq(alpha, "alpha")
    _positive(alpha, "alpha")
    beta = _seq(beta, "beta", alpha)
    mu = torch.cat([beta[..., :1], beta[..., 1:] * alpha[..., :-1] / alpha[..., 1:]], dim=-1)
    return alpha.clone(), mu


def spa_to_heavy_ball(eta: Any, c: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """SPA (eta_k, c_k) -> heavy-ball (alpha_k, beta_k); c_k > 0."""
    eta = _seq(eta, "eta")
    c = _seq(c, "c", eta)
    _positive(c, "c")
    alpha = c * eta
    beta = torch.cat([1.0 - c[..., :1], c[..., 1:] * (1.0 - c[..., :-1]) / c[..., :-1]], dim=-1)
    return alpha, beta


def heavy_ball_to_spa(alpha: Any, beta: Any, c0: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Heavy-ball (alpha_k, beta_k) -> SPA (eta_k, c_k), c_0 = ``c0`` (default 1 - beta_0).

    Where c_{k-1} = 1 (x_k = z_k) the heavy ball must have beta_k = 0, and c_k = 1 is taken.
    Raises where a c_k leaves (0, 1]: the recursion's fixed point 1 - beta is unstable, so a
    rising step size (warm-up) drives c past 1 and a falling one drives it to 0 (note §3)."""
    alpha = _seq(alpha, "alpha")
    beta = _seq(beta, "beta", alpha)
    c = torch.empty_like(alpha)
    c[..., 0] = 1.0 - beta[..., 0] if c0 is None else torch.as_tensor(c0, dtype=torch.float64)
    for k in range(1, alpha.shape[-1]):
        prev = c[..., k - 1]
        full = prev == 1.0
        if bool((full & (beta[..., k] != 0)).any()):
            raise RatecheckError(f"heavy ball with beta_{k} != 0 after c_{k - 1} = 1 has no SPA form")
        c[..., k] = torch.where(full, torch.ones_like(prev), beta[..., k] * prev / torch.where(full, 0.5, 1.0 - prev))
    bad = ~((c > 0) & (c <= 1))
    if bool(bad.any()):
        k = int(torch.nonzero(bad.reshape(-1, bad.shape[-1]).any(dim=0))[0])
        raise RatecheckError(
            f"these heavy-ball parameters have no SPA form: c_{k}={c[..., k].reshape(-1)[0].item():g} leaves the "
            "allowed range (0, 1] (c_k grows past 1 when the step size rises, e.g. during warm-up, and "
            "reaches 0 when beta_k = 0); allowed: sequences whose c_k stay in (0, 1]"
        )
    return alpha / c, c


def pytorch_to_spa(lr: Any, momentum: Any, dampening: Any = 0.0, c0: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.optim.SGD (lr_k, mu_k, tau) -> SPA (eta_k, c_k); c_0 defaults to 1 - mu_0."""
    return heavy_ball_to_spa(*pytorch_to_heavy_ball(lr, momentum, dampening), c0)


def spa_to_pytorch(eta: Any, c: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """SPA (eta_k, c_k) -> torch.optim.SGD (lr_k, mu_k) with dampening 0."""
    return heavy_ball_to_pytorch(*spa_to_heavy_ball(eta, c))


def constant_pytorch_to_spa(lr: float, momentum: float) -> tuple[float, float]:
    """Constant (lr, mu), no dampening -> constant SPA (eta, c) = (lr / (1 - mu), 1 - mu)."""
    if not 0.0 <= momentum < 1.0:
        raise out_of_range("momentum", momentum, "[0, 1)")
    return lr / (1.0 - momentum), 1.0 - momentum


def as_hp(**sequences: Any) -> dict[str, Any]:
    """``init`` arguments for per-step sequences: name=[T] or [B, T] -> name (the value at step 0),
    name_schedule (the sequence divided by it) and T. Use with ``schedule='custom'``."""
    out: dict[str, Any] = {}
    T = None
    for name, seq in sequences.items():
        s = _seq(seq, name)
        if s.ndim not in (1, 2):
            raise RatecheckError(f"{name} has shape {tuple(s.shape)}; allowed: [T] or [B, T]")
        T = s.shape[-1] if T is None else T
        if s.shape[-1] != T:
            raise RatecheckError(f"{name} has length {s.shape[-1]}; the other sequences have length {T}")
        base = s[..., :1]
        if bool(((base == 0) & (s != 0)).any()):
            raise RatecheckError(f"{name} is 0 at step 0 but not later: not a multiple of its first value")
        table = torch.where(base == 0, torch.ones_like(s), s / torch.where(base == 0, 1.0, base))
        out[name] = base[..., 0] if s.ndim == 2 else float(base[0])
        out[f"{name}_schedule"] = table
    out["T"] = T
    return out


# -- the three forms ---------------------------------------------------------------------------
@register("sgd_momentum")
class SGDMomentum(Scheduled):
    r"""SGD with momentum exactly as torch.optim.SGD (momentum, dampening, nesterov, weight decay).

        d_k = g_k + wd x_k;   b_1 = d_0,   b_{k+1} = mu_k b_k + (1 - tau) d_k  (k >= 1);
        x_{k+1} = x_k - lr_k * (nesterov ? d_k + mu_k b_{k+1} : b_{k+1})

    with lr_k = lr * m_k (``schedule``) and mu_k = momentum * (``momentum_schedule``[k], default 1).
    Where mu_k = 0 the step is plain SGD (as torch, which then ignores the buffer).

    Provenance: torch.optim.SGD ([CODE], PyTorch ``torch/optim/sgd.py``; cross-checked step by
    step in tests); Sutskever et al. (2013) for the Nesterov form. Default momentum here is 0.9
    (torch's is 0).

    info: ``lr`` = lr_k, ``momentum`` = mu_k, both [B].
    """

    name = "sgd_momentum"
    reference = "torch.optim.SGD; Polyak (1964); Sutskever et al. (2013)"
    scheduled = ("lr", "momentum")
    hyperparams = {
        "lr": positive(None, "base step size"),
        "momentum": unit(0.9, "momentum mu (torch's default is 0)"),
        "dampening": HP(0.0, 0.0, 1.0, doc="dampening tau"),
        "nesterov": HP(0.0, 0.0, 1.0, doc="1 (True) for Nesterov momentum, else 0"),
        "weight_decay": nonneg(0.0, "L2 weight decay added to the gradient"),
    }
    state_type = SGDMomentumState
    info_type = MomentumInfo
    donates = True
    example_hp = {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-3}

    def _init(self, x0, hp, **extra):
        state = self._init_schedules(x0, hp, extra)
        super()._init(x0, hp, **extra)
        nest = hp["nesterov"]
        if not bool(((nest == 0) | (nest == 1)).all()):
            raise out_of_range(f"{self.name}: nesterov", nest[(nest != 0) & (nest != 1)][0].item(), "0 or 1 (False/True)")
        bad = (nest == 1) & ((hp["momentum"] <= 0) | (hp["dampening"] != 0))
        if bool(bad.any()):
            raise RatecheckError(f"{self.name}: nesterov=1 requires momentum > 0 and dampening = 0 (as torch.optim.SGD)")
        state["buf"] = torch.zeros_like(x0)
        state["use_wd"] = bool((hp["weight_decay"] != 0).any())
        state["use_nesterov"] = bool((nest == 1).any())
        state["zero_momentum"] = bool((hp["momentum"] == 0).any()) or "momentum" in state["schedules"]
        return state

    def _step(self, state, grad, loss, out=NO_OUT):
        lr, mu = self._at(state, "lr"), self._at(state, "momentum")
        x = state["x"]
        d = grad + per_run(state["hp"]["weight_decay"]) * x if state["use_wd"] else grad
        if state["k"] == 0:
            buf = d.clone()  # torch starts the buffer at the first gradient, without dampening
        else:  # mu b + (1 - tau) d
            buf = scaled_sum(per_run(mu), state["buf"], per_run(1.0 - state["hp"]["dampening"]), d,
                             out=out.get("buf"), scratch=out.get("tmp"))
        step = buf
        if state["use_nesterov"]:
            step = torch.where(per_run(state["hp"]["nesterov"] == 1), d + per_run(mu) * buf, buf)
        if state["zero_momentum"]:
            step = torch.where(per_run(mu == 0), d, step)
        x_new = torch.sub(x, torch.mul(per_run(lr), step, out=out.get("tmp")), out=out.get("x"))
        return carry(state, x=x_new, buf=buf), {"lr": lr, "momentum": mu}


@register("heavy_ball")
class HeavyBall(Scheduled):
    r"""Polyak's heavy-ball method.

        x_{k+1} = x_k - alpha_k g_k + beta_k (x_k - x_{k-1}),   x_{-1} = x_0,

    alpha_k = lr * m_k (``schedule``), beta_k = momentum * ``momentum_schedule``[k] (default 1;
    the effective beta_k may exceed 1, e.g. after converting a warm-up schedule).

    Provenance: Polyak, "Some methods of speeding up the convergence of iteration methods"
    (1964); form and conversions: reference note spa_momentum.md §1-2 [DERIVED].

    info: ``lr`` = alpha_k, ``momentum`` = beta_k, both [B].
    """

    name = "heavy_ball"
    reference = "Polyak (1964); Defazio arXiv 2010.00406 (conversions)"
    scheduled = ("lr", "momentum")
    hyperparams = {
        "lr": positive(None, "step alpha"),
        "momentum": unit(0.9, "heavy-ball coefficient beta"),
    }
    state_type = HeavyBallState
    info_type = MomentumInfo
    example_hp = {"lr": 0.05, "momentum": 0.8}

    def _init(self, x0, hp, **extra):
        state = self._init_schedules(x0, hp, extra)
        super()._init(x0, hp, **extra)
        state["x_prev"] = x0.clone()
        return state

    def _step(self, state, grad, loss):
        alpha, beta = self._at(state, "lr"), self._at(state, "momentum")
        x = state["x"]
        x_new = x - per_run(alpha) * grad + per_run(beta) * (x - state["x_prev"])
        return carry(state, x=x_new, x_prev=x), {"lr": alpha, "momentum": beta}


@register("spa")
class SPA(Scheduled):
    r"""Stochastic primal averaging: SGD on z, x an exponential average of z.

        z_0 = x_0,   z_{k+1} = z_k - eta_k g_k,   x_{k+1} = (1 - c_k) x_k + c_k z_{k+1},

    with g_k taken at x_k, eta_k = lr * m_k (``schedule``) and c_k = c * ``c_schedule``[k]
    (default 1; the effective c_k must lie in (0, 1]). Constant (lr, mu) PyTorch momentum is
    SPA with eta = lr/(1 - mu), c = 1 - mu; the holding-c, decaying-eta schedule is the
    "SPA-natural" one of the note (§3).

    Provenance: Defazio, "Momentum via primal averaging", arXiv 2010.00406 (the SPA form);
    equations and conversions: reference note spa_momentum.md §1-3 [DERIVED].

    info: ``lr`` = eta_k, ``c`` = c_k, both [B].
    """

    name = "spa"
    reference = "Defazio, arXiv 2010.00406"
    scheduled = ("lr", "c")
    hyperparams = {
        "lr": positive(None, "step eta of the z sequence"),
        "c": HP(0.1, 0.0, 1.0, low_open=True, doc="averaging weight c (= 1 - momentum)"),
    }
    state_type = SPAState
    info_type = SPAInfo
    example_hp = {"lr": 0.5, "c": 0.1}

    def _check_effective(self, name, base, table):
        if name == "c":
            eff = base.detach().cpu().double()[:, None] * (table if table.ndim == 2 else table[None, :])
            bad = (eff <= 0) | (eff > 1)
            if bool(bad.any()):
                raise out_of_range(f"{self.name}: effective c = c * c_schedule[k]", eff[bad][0].item(), "(0, 1]")

    def _init(self, x0, hp, **extra):
        state = self._init_schedules(x0, hp, extra)
        super()._init(x0, hp, **extra)
        state["z"] = x0.clone()
        return state

    def _step(self, state, grad, loss):
        eta, c = self._at(state, "lr"), self._at(state, "c")
        z = state["z"] - per_run(eta) * grad
        x = per_run(1.0 - c) * state["x"] + per_run(c) * z
        return carry(state, x=x, z=z), {"lr": eta, "c": c}
