"""Stage 6: fuse the ranked hit lists of several channels into one ranking (pure functions).

Two named methods, as in the literature:

- ``rrf``: Reciprocal Rank Fusion (Cormack et al., 2009), ``sum_c w_c / (k + rank_c)``. It needs
  no score calibration, so channels with different similarity scales mix safely.
- ``weighted``: a weighted sum of per-channel scores min–max normalised over each list; it keeps
  the size of the score gaps, which RRF throws away.

Every fused item keeps the contribution of each channel, for the "why" view and explanations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from convrec.types import Hit

Method = Literal["rrf", "weighted"]
RRF_K = 60  # the constant of the original paper; larger flattens the head of each list


@dataclass(frozen=True)
class Fused:
    """One item after fusion: total score and each channel's share of it."""

    item_id: str
    score: float
    breakdown: dict[str, float] = field(default_factory=dict)


def fuse(
    ranked: Mapping[str, Sequence[Hit]],
    weights: Mapping[str, float] | None = None,
    method: Method = "rrf",
    rrf_k: int = RRF_K,
) -> list[Fused]:
    """Fuse hit lists keyed by query name (each best-first) into one list, best first.

    Ties are broken by item id so the order is deterministic.
    """
    weights = weights or {}
    totals: dict[str, dict[str, float]] = {}
    for name, hits in ranked.items():
        w = float(weights.get(name, 1.0))
        if w == 0 or not hits:
            continue
        for item_id, part in _contributions(hits, method, rrf_k).items():
            totals.setdefault(item_id, {})[name] = w * part
    out = [Fused(i, sum(parts.values()), parts) for i, parts in totals.items()]
    out.sort(key=lambda f: (-f.score, f.item_id))
    return out


def _contributions(hits: Sequence[Hit], method: Method, rrf_k: int) -> dict[str, float]:
    """Per-item contribution of one list; an item listed twice counts once, at its best rank."""
    out: dict[str, float] = {}
    if method == "rrf":
        for rank, hit in enumerate(hits, start=1):
            out.setdefault(hit.item_id, 1.0 / (rrf_k + rank))
        return out
    scores = [h.score for h in hits]
    lo, hi = min(scores), max(scores)
    for hit in hits:
        norm = 1.0 if hi == lo else (hit.score - lo) / (hi - lo)
        out[hit.item_id] = max(out.get(hit.item_id, 0.0), norm)
    return out
