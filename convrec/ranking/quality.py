"""How well known and how well rated each catalog item is: the quality prior of the rerank.

Both parts lie in [0, 1] over the catalog:

- ``known``: ``log(1 + n) / log(1 + max n)``, n the item's interactions (ratings, purchases,
  plays) by the users the collaborative model is fitted on, when the catalog has
  interactions, else its ``popularity``;
- ``rated``: the item's mean rating shrunk towards the catalog's mean by ``prior_count``
  pseudo-ratings (a Bayesian average: two 5-star ratings do not beat two hundred 4.5s), then
  scaled between the lowest and the highest such average. Items without ratings are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog


@dataclass(frozen=True)
class Quality:
    """Per item id: ``known`` and ``rated`` in [0, 1] (see the module docstring)."""

    known: Mapping[str, float] = field(default_factory=dict)
    rated: Mapping[str, float] = field(default_factory=dict)


def quality_from_stats(
    counts: Mapping[str, float],
    means: Mapping[str, float] | None = None,
    prior_count: float = 10.0,
) -> Quality:
    """The quality of items with ``counts`` interactions and (optionally) ``means`` ratings."""
    top = max(counts.values(), default=0.0)
    known = (
        {i: math.log1p(max(n, 0.0)) / math.log1p(top) for i, n in counts.items()} if top > 0 else {}
    )
    rated: dict[str, float] = {}
    if means:
        total = sum(counts.get(i, 0.0) for i in means)
        overall = sum(counts.get(i, 0.0) * m for i, m in means.items()) / total if total else 0.0
        shrunk = {
            i: (counts.get(i, 0.0) * m + prior_count * overall) / (counts.get(i, 0.0) + prior_count)
            for i, m in means.items()
            if counts.get(i, 0.0) + prior_count > 0
        }
        lo, hi = min(shrunk.values(), default=0.0), max(shrunk.values(), default=0.0)
        if hi > lo:
            rated = {i: (v - lo) / (hi - lo) for i, v in shrunk.items()}
    return Quality(known, rated)


def catalog_quality(catalog: Catalog, prior_count: float = 10.0) -> Quality:
    """The quality of ``catalog``'s items, from its interactions when it has them, else from
    ``Item.popularity``. Computed once per catalog and prior (remembered in ``catalog.memo``)."""
    key = ("quality", prior_count)
    hit = catalog.memo.get(key)
    if isinstance(hit, Quality):
        return hit
    from convrec.catalog.interactions import read_interactions

    found = read_interactions(catalog)
    if found is not None and len(found):
        # Only the users the collaborative model may see: held-out users' ratings are
        # evaluation targets, and their own rating must not lift their target.
        table = found.training()
        grouped = table.groupby("item")["value"]
        counts = {str(i): float(n) for i, n in grouped.size().items()}
        means = (
            {str(i): float(m) for i, m in grouped.mean().items()}
            if found.kind == "rating"
            else None
        )
        out = quality_from_stats(counts, means, prior_count)
    else:
        pops = {it.id: it.popularity for it in catalog.items if it.popularity is not None}
        out = quality_from_stats(pops, None, prior_count)
    catalog.memo[key] = out
    return out
