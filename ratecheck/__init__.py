"""ratecheck: put step-size theory to the test.

Sub-packages (each a top-level folder of the repository):

- ``ratecheck.problems``    objectives with certified minimizers
- ``ratecheck.optimizers``  batched functional optimizers and torch.optim adapters
- ``ratecheck.theory``      bounds, Lyapunov quantities, invariants, PEP worst cases
- ``ratecheck.experiments`` specs, runner, result store
- ``ratecheck.figures``     plotting

Extending it from your own code (``ratecheck.extend``, docs/testing.md): ``register_problem``,
``register_optimizer``, ``register_result``, ``registrations()``; asserting bounds in pytest:
``ratecheck.testing``.
"""

__version__ = "0.1.0"

_EXTEND = ("register_problem", "register_optimizer", "register_result", "registrations")


def __getattr__(name: str):
    # Lazy, so that ``import ratecheck`` (the pytest plugin does it in every pytest run) stays
    # free of torch until the extension API is used.
    if name in _EXTEND:
        from . import extend

        return getattr(extend, name)
    raise AttributeError(f"module 'ratecheck' has no attribute {name!r}")


def problems_table() -> list[dict]:
    """One summary row per registered problem (default parameters)."""
    from ratecheck import problems

    return [problems.get(name).summary() for name in problems.names()]
