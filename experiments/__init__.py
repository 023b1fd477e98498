"""Specs, the batched runner and the result store; ``load(DIR)``: a results folder as data frames."""


def __getattr__(name):
    # ``load`` lives in frames.py, imported on first use: pandas is not needed to run a spec.
    if name in ("load", "Results"):
        from . import frames

        return getattr(frames, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
