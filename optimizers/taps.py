"""TAPS and MOTAPS: stochastic Polyak steps toward per-datapoint targets (arXiv 2106.11851), batched.

Both follow the official code, ``gowerrobert/StochOpt-py`` ``algorithms.py::taps`` [CODE], as
transcribed in docs/references/motaps.md §2. They keep one target alpha_i per data point, so a run's
state holds a [n] vector and every step needs the index of the sampled point.
"""

from __future__ import annotations

import math
import operator

import torch

from ratecheck.errors import RatecheckError, out_of_range

from .base import HP, BaseState, LRInfo, Optimizer, per_run, positive, register, unit


def _check_n(name: str, n) -> int:
    try:
        m = operator.index(n)
    except TypeError:
        m = 0
    if isinstance(n, bool) or m < 1:
        raise out_of_range(f"{name}: n", n, "an integer >= 1 (the number of components of a finite sum)")
    return m


Tensor = torch.Tensor


class TargetedState(BaseState):
    z: Tensor
    alpha: Tensor  # [B, n]: per-datapoint targets
    alphabar: Tensor
    tau: Tensor
    n: int


class TargetedInfo(LRInfo):
    tau: Tensor
    alphabar: Tensor
    coef: Tensor
    r: Tensor
    idx: Tensor


class _Targeted(Optimizer):
    """Shared step of TAPS/MOTAPS.

    One step, sampled index i (idx [B, 1]), loss = f_i(x_k), grad = grad f_i(x_k),
    gamma = lr * (1 + beta / (1 - beta)) (the code's momentum rescaling, = lr / (1 - beta)),
    t = the global step counter from 0:

        r        = f_i(x_k) - alpha_i ;   q = ||grad f_i(x_k)||^2 + 1 ;   coef = r / q
        alpha_i += gamma * coef
        z       -= gamma * coef * grad f_i(x_k)
        x_{k+1}  = beta * x_k + (1 - beta) * z
        abar    += (alpha_i(new) - alpha_i(old)) / n
        once per epoch, when (t + 1) % n == 0:
            tau   = (1 - tau_lr) * tau + tau_lr * n / (n + 1) * abar
            alpha += gamma * (tau - abar)         (every coordinate)
            abar  += gamma * (tau - abar)

    The target correction runs once per epoch of n steps, not every step, as in the code.
    TAPS is tau_lr = 0 with tau = f*; MOTAPS starts from tau = tau0 (0 in the code) and moves it.

    In the authors' experiments f_i is the logistic loss of point i *plus* the L2 regulariser
    reg * ||w||^2 / 2; here f_i is whatever the problem's component oracle returns, and tau
    must be the minimum of the problem's f = (1/n) sum_i f_i.

    info: ``lr`` (the rescaled gamma), ``tau``, ``alphabar`` (after the step), ``coef``, ``r``,
    ``idx`` (the sampled point i, so that theory can replay alpha without the sampler).
    """

    needs_loss = True
    needs_indices = True
    state_type = TargetedState
    info_type = TargetedInfo

    def _tau0(self, x0: torch.Tensor, hp: dict[str, torch.Tensor], extra: dict) -> torch.Tensor:
        raise NotImplementedError

    def _tau_lr(self, hp: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def _init(self, x0, hp, **extra):
        if "n" not in extra:
            raise RatecheckError(f"{self.name} needs n, the number of data points (problem_kwargs {self.problem_kwargs})")
        n = _check_n(self.name, extra.pop("n"))
        tau = self._tau0(x0, hp, extra)
        super()._init(x0, hp, **extra)
        B = x0.shape[0]
        return {
            "z": x0.clone(),
            "alpha": torch.zeros(B, n, dtype=x0.dtype, device=x0.device),
            "alphabar": torch.zeros(B, dtype=x0.dtype, device=x0.device),
            "tau": tau,
            "n": n,
        }

    def _step(self, state, grad, loss, idx):
        x, z, alpha, n = state["x"], state["z"], state["alpha"], state["n"]
        B = x.shape[0]
        if idx.ndim != 2 or idx.shape[0] != B or idx.shape[1] != 1 or idx.is_floating_point():
            raise RatecheckError(
                f"{self.name} takes one sampled point per step: idx must be an integer tensor of shape "
                f"[{B}, 1]; got {tuple(idx.shape)} {idx.dtype} (minibatches m > 1 are not supported, "
                "as in the authors' code)"
            )
        hp = state["hp"]
        beta = hp["beta"]
        gamma = hp["lr"] * (1 + beta / (1 - beta))
        idx = idx.to(device=x.device, dtype=torch.int64)
        a_old = alpha.gather(1, idx)[:, 0]
        r = loss - a_old
        q = (grad * grad).sum(dim=-1) + 1
        coef = r / q
        a_new = a_old + gamma * coef
        alpha = alpha.scatter(1, idx, a_new[:, None])
        z = z - per_run(gamma * coef) * grad
        x_new = per_run(beta) * x + per_run(1 - beta) * z
        abar = state["alphabar"] + (a_new - a_old) / n
        tau = state["tau"]
        if (state["k"] + 1) % n == 0:  # the step counter, not data: no host sync
            lam = self._tau_lr(hp)
            tau = (1 - lam) * tau + lam * (n / (n + 1)) * abar
            shift = gamma * (tau - abar)
            alpha = alpha + per_run(shift)
            abar = abar + shift
        info = {"lr": gamma, "tau": tau, "alphabar": abar, "coef": coef, "r": r, "idx": idx[:, 0]}
        return {"x": x_new, "z": z, "alpha": alpha, "alphabar": abar, "tau": tau, "n": n}, info


@register("taps")
class TAPS(_Targeted):
    __doc__ = (
        "TAPS: targeted stochastic Polyak steps with the known total target tau = f* [CODE].\n\n"
        "Reference: Gower, Defazio & Rabbat, arXiv 2106.11851; gowerrobert/StochOpt-py "
        "algorithms.py::taps with tau_lr = 0 (main.py: lr 1.0, tau = f*).\n\n" + _Targeted.__doc__
    )
    name = "taps"
    reference = "Gower, Defazio & Rabbat, arXiv 2106.11851; gowerrobert/StochOpt-py algorithms.py::taps"
    hyperparams = {
        "lr": positive(1.0, "gamma (main.py uses 1.0 for TAPS)"),
        "beta": unit(0.0, "iterate-averaging momentum; the step is rescaled by 1/(1-beta)"),
    }
    problem_kwargs = ("n", "f_star")
    example_hp = {"lr": 0.5, "beta": 0.0}  # n and f_star come from the problem (problem_kwargs)

    def _tau0(self, x0, hp, extra):
        if "f_star" not in extra:
            raise RatecheckError("taps needs f_star, the minimum of f (the known total target tau)")
        f_star = extra.pop("f_star")
        t = torch.as_tensor(f_star, dtype=torch.float64)
        if t.ndim == 0:
            t = t.expand(x0.shape[0])
        if t.shape != (x0.shape[0],) or not bool(torch.isfinite(t).all()):
            raise out_of_range("taps: f_star", f_star, f"a finite number or a tensor of shape [{x0.shape[0]}]")
        return t.to(device=x0.device, dtype=x0.dtype).clone()

    def _tau_lr(self, hp):
        return torch.zeros_like(hp["lr"])


@register("motaps")
class MOTAPS(_Targeted):
    __doc__ = (
        "MOTAPS: TAPS with a moving total target tau, updated once per epoch [CODE].\n\n"
        "The tau update is a gradient step of size tau_lr/(n+1) on "
        "phi(tau) = n/2 (tau - abar)^2 + tau^2/2 [DERIVED, docs/references/motaps.md §4].\n"
        "Reference: Gower, Defazio & Rabbat, arXiv 2106.11851; gowerrobert/StochOpt-py "
        "algorithms.py::taps (function defaults tau = 0, tau_lr = 0.01, beta = 0; main.py's lr "
        "depends on the L2 weight of its logistic problem, so lr is required here).\n\n" + _Targeted.__doc__
    )
    name = "motaps"
    reference = "Gower, Defazio & Rabbat, arXiv 2106.11851; gowerrobert/StochOpt-py algorithms.py::taps"
    hyperparams = {
        "lr": positive(None, "gamma"),
        "beta": unit(0.0, "iterate-averaging momentum; the step is rescaled by 1/(1-beta)"),
        # phi(tau) decreases under the tau step exactly for tau_lr in (0, 2) (motaps.md §5.3).
        "tau_lr": HP(0.01, 0.0, 2.0, high_open=True, doc="lambda, the target's step size"),
        "tau0": HP(0.0, -math.inf, math.inf, low_open=True, high_open=True, doc="initial total target tau (0 in the code)"),
    }
    problem_kwargs = ("n",)
    example_hp = {"lr": 0.5, "beta": 0.0, "tau_lr": 0.01}  # n comes from the problem

    def _tau0(self, x0, hp, extra):
        return hp["tau0"].clone()

    def _tau_lr(self, hp):
        return hp["tau_lr"]
