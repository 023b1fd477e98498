"""Specs, the batched runner and the result store."""
