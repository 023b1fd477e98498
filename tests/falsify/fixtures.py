"""Results kept for falsification tests only (not registered)."""

from __future__ import annotations


from ratecheck.theory import access as A
from ratecheck.theory import dadaptation as da
from ratecheck.theory.base import Provenance, Result, Role, Sides


def _t2_as_printed_sides(tr, pb) -> Sides:
    obs, S_t, n, size = da._t2_parts(tr, pb)
    bnd, valid = da.theorem2_final_as_printed(n, S_t, A.D(tr), A.hp(tr, "d0"))
    return Sides(obs, A.unchecked_where(valid, bnd), scale=size, terms=n + 1, undefined="n < 2 log2(D/d_0)")


# The statement registered as dadaptation.T2_final before the trust issue kept the G^2 of step (1):
# 16 log2+(D/d0)/(n+1) D sqrt(sum_{k<=t} ||g_k||^2), false for the G-variant step.
T2_FINAL_AS_PRINTED = Result(
    key="dadaptation.T2_final_as_printed", title="Theorem 2 as the final version is quoted (no G^2 under the root)",
    paper=da.PAPER, arxiv=da.ARXIV, provenance=Provenance.SECONDARY, role=Role.ERRATUM, label="Theorem 2",
    source=f"{da.DOC}#theorem-2", optimizers=da.DA, iterate="weighted_average",
    statement="n >= 2 log2(D/d0): f(xhat_t)-f* <= 16 log2+(D/d0)/(n+1) D sqrt(sum_{k<=t}||g_k||^2)",
    requires=frozenset({"convex"}), assumptions=(da.G_STEP, da.G_BOUNDS, da.D0_LE_D), sides=_t2_as_printed_sides,
)
