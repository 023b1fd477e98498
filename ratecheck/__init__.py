"""ratecheck: put step-size theory to the test.

Sub-packages (each a top-level folder of the repository):

- ``ratecheck.problems``    objectives with certified minimizers
- ``ratecheck.optimizers``  batched functional optimizers and torch.optim adapters
- ``ratecheck.theory``      bounds, Lyapunov quantities, invariants, PEP worst cases
- ``ratecheck.experiments`` specs, runner, result store
- ``ratecheck.figures``     plotting
"""

__version__ = "0.1.0"


def problems_table() -> list[dict]:
    """One summary row per registered problem (default parameters)."""
    from ratecheck import problems

    return [problems.get(name).summary() for name in problems.names()]
