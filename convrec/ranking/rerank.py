"""Stage 6b: the rerank terms on top of channel fusion (pure functions, no models, no store).

The fused channel score is normalised by the best candidate's, so it lies in [0, 1] and the terms
below mix with it on one scale. Each term is a named entry of the recommendation's breakdown, and
the score is exactly the sum of the breakdown:

- channel routes (``text``, ``clip_text>image``, ``like:<id>>text`` …): the fused share of each;
- ``liked_items`` / ``disliked_items``: ``+liked_weight · max cos(item, liked)`` and
  ``−disliked_weight · max cos(item, disliked)`` on the item vectors given (negative cosines
  count as 0: an unrelated item is neither boosted nor penalised);
- ``preferences``: ``+preference_weight ·`` the share of liked attribute values the item has,
  ``−disliked_weight`` when it has a disliked value (soft preferences are boosts, not filters);
- ``unverified``: ``−unverified_weight`` per value the user ruled out that the item has no value
  to check against (it passed the filter unknown: "not in English", language missing);
- ``popularity`` and ``rating``: the quality prior (:mod:`convrec.ranking.quality`),
  ``popularity_weight · known`` and ``rating_weight · rated``, each divided by
  ``1 + popularity_fade · n`` where n counts what the user has told us, so the prior leads at a
  cold start and fades as preferences accumulate. When the user asks for obscure items
  ("hidden gems"), the ``popularity`` term is ``−popularity_weight · known`` instead;
- ``exploration``: what :func:`convrec.dialogue.policy.explore` adds (Thompson draw or an epsilon
swap);
- ``diversity``: MMR (Carbonell & Goldstein, 1998). Items are picked greedily by
  ``λ·rel − (1−λ)·max cos(item, picked)``; dividing by λ gives the term
  ``−(1−λ)/λ · max cos(item, picked)``. A penalty only grows as more items are picked, so the
  final scores stay in rank order.

Hidden items (seen, rejected, disliked) and the liked items themselves are never returned, nor is
an id the catalog lookup does not know.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from convrec.catalog.titles import variant_key
from convrec.dialogue.policy import explore
from convrec.dialogue.state import field_value
from convrec.types import Item, Recommendation

if TYPE_CHECKING:
    from convrec.config import RerankSettings
    from convrec.dialogue.state import DialogueState, Pref
    from convrec.ranking.fuse import Fused
    from convrec.ranking.quality import Quality

TERMS = (
    "liked_items",
    "disliked_items",
    "preferences",
    "unverified",
    "popularity",
    "rating",
    "exploration",
    "diversity",
)
MIN_LAMBDA = 0.05  # MMR λ below this would make the diversity term explode (1/λ)


def popularity_prior(
    item: Item, state: DialogueState, settings: RerankSettings, max_popularity: float
) -> float | None:
    """The faded popularity term (None when the item or the catalog has no popularity)."""
    if item.popularity is None or max_popularity <= 0 or settings.popularity_weight == 0:
        return None
    norm = math.log1p(max(item.popularity, 0.0)) / math.log1p(max_popularity)
    fade = 1.0 + settings.popularity_fade * state.evidence()
    return settings.popularity_weight * norm / fade


def quality_prior(
    item_id: str,
    state: DialogueState,
    settings: RerankSettings,
    quality: Quality,
    *,
    obscure: bool = False,
) -> dict[str, float]:
    """The faded ``popularity`` and ``rating`` terms of one item (those the item has)."""
    fade = 1.0 + settings.popularity_fade * state.evidence()
    out: dict[str, float] = {}
    known = quality.known.get(item_id)
    if known is not None and settings.popularity_weight:
        sign = -1.0 if obscure else 1.0
        out["popularity"] = sign * settings.popularity_weight * known / fade
    rated = quality.rated.get(item_id)
    if rated is not None and settings.rating_weight:
        out["rating"] = settings.rating_weight * rated / fade
    return out


def _values(item: Item, attribute: str) -> set[str]:
    value = item.category if attribute == "category" else item.attributes.get(attribute)
    if value is None:
        return set()
    vals = value if isinstance(value, tuple) else (value,)
    return {str(v).lower() for v in vals}


def holds_pref(item: Item, pref: Pref) -> bool:
    """``item`` has the preferred value (case-insensitive)."""
    return pref.value.lower() in _values(item, pref.attribute)


def liked_share(
    item: Item, state: DialogueState, faded: Mapping[Pref, float] | None = None
) -> float:
    """The share of the user's liked values (soft preferences) that ``item`` holds; a value in
    ``faded`` counts with its weight there (below 1) instead of 1."""
    if not state.liked:
        return 0.0
    faded = faded or {}
    held = [faded.get(p, 1.0) for p in state.liked if holds_pref(item, p)]
    return sum(held) / len(state.liked)


def unverified(item: Item, state: DialogueState) -> int:
    """How many of the values the user ruled out the item has no value to be checked against
    (a film of unknown language for "not in English"). Keywords are left out: most items have
    none, and "no gore" would put every film without tags last."""
    return sum(
        1
        for c in state.constraints
        if c.said
        and c.op in ("ne", "nin")
        and c.attribute != "keywords"
        and field_value(item, c.attribute) in (None, "", ())
    )


def preference_term(
    item: Item,
    state: DialogueState,
    settings: RerankSettings,
    faded: Mapping[Pref, float] | None = None,
) -> float | None:
    """Soft preferences: boost by the share of liked values, penalty for a disliked one."""
    if not state.liked and not state.disliked:
        return None
    out = settings.preference_weight * liked_share(item, state, faded)
    if any(holds_pref(item, p) for p in state.disliked):
        out -= settings.disliked_weight
    return out


def _unit(vectors: Mapping[str, np.ndarray], ids: Sequence[str]) -> np.ndarray | None:
    rows = [np.asarray(vectors[i], dtype=np.float32) for i in ids if i in vectors]
    if not rows:
        return None
    m = np.stack(rows)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def _max_sim(v: np.ndarray | None, others: np.ndarray | None) -> float:
    if v is None or others is None:
        return 0.0
    return max(0.0, float((others @ v).max()))


def rerank(
    fused: Sequence[Fused],
    lookup: Callable[[str], Item | None],
    state: DialogueState,
    settings: RerankSettings,
    k: int,
    vectors: Mapping[str, np.ndarray] | None = None,
    *,
    max_popularity: float = 0.0,
    quality: Quality | None = None,
    obscure: bool = False,
    faded: Mapping[Pref, float] | None = None,
    seed: int = 0,
) -> list[Recommendation]:
    """The top ``k`` recommendations from fused candidates (best first), each with its breakdown.

    ``lookup`` maps an id to its catalog Item (``catalog.get``); ``vectors`` holds item vectors
    (one space) for the candidates and the liked/disliked items — without them the feedback and
    diversity terms are left out. Only the first ``settings.pool`` visible candidates are scored.
    ``quality`` gives the quality prior (:mod:`convrec.ranking.quality`); without it the prior is
    ``Item.popularity`` against ``max_popularity``. ``obscure``: the user asked for little-known
    items. ``faded``: liked values that weigh less than 1 in the preference term.
    """
    hidden = state.hidden_items() | set(state.liked_items)
    # Items that share a title and a year (a phone's regional variants) are one item to a
    # person: the best ranked stands for them all, and none stands in for a hidden one. A
    # remake ("Cape Fear", 1962 and 1991) is another film.
    titles = {variant_key(it) for i in hidden if (it := lookup(i)) is not None}
    pool: list[tuple[Item, Fused]] = []
    for f in fused:
        if f.item_id in hidden:
            continue
        item = lookup(f.item_id)
        if item is None:  # a stale index record: never show an item the catalog lacks
            continue
        key = variant_key(item)
        if key in titles:
            continue
        titles.add(key)
        pool.append((item, f))
        if len(pool) == settings.pool:
            break
    if not pool or k < 1:
        return []
    vectors = vectors or {}
    liked = _unit(vectors, state.liked_items)
    disliked = _unit(vectors, state.disliked_items)
    scale = max(f.score for _, f in pool) or 1.0
    parts: dict[str, dict[str, float]] = {}
    for item, f in pool:
        terms = {name: part / scale for name, part in f.breakdown.items()}
        v = _unit(vectors, [item.id])
        v = None if v is None else v[0]
        if liked is not None and settings.liked_weight:
            terms["liked_items"] = settings.liked_weight * _max_sim(v, liked)
        if disliked is not None and settings.disliked_weight:
            terms["disliked_items"] = -settings.disliked_weight * _max_sim(v, disliked)
        pref = preference_term(item, state, settings, faded)
        if pref is not None:
            terms["preferences"] = pref
        unknown = unverified(item, state)
        if unknown and settings.unverified_weight:
            terms["unverified"] = -settings.unverified_weight * unknown
        if quality is not None:
            terms.update(quality_prior(item.id, state, settings, quality, obscure=obscure))
        else:
            pop = popularity_prior(item, state, settings, max_popularity)
            if pop is not None:
                terms["popularity"] = -pop if obscure else pop
        parts[item.id] = terms
    items = {item.id: item for item, _ in pool}
    base = sorted(((sum(parts[i].values()), i) for i in parts), key=lambda t: (-t[0], t[1]))
    _explore(base, items, parts, state, settings, seed)
    order = _mmr(parts, vectors, settings.mmr_lambda, k)
    return [
        Recommendation(i, items[i].title, sum(parts[i].values()), dict(parts[i])) for i in order
    ]


def _explore(
    base: list[tuple[float, str]],
    items: Mapping[str, Item],
    parts: dict[str, dict[str, float]],
    state: DialogueState,
    settings: RerankSettings,
    seed: int,
) -> None:
    """Add the ``exploration`` term so that the scores reproduce ``policy.explore``'s order."""
    if settings.exploration == "off" or settings.exploration_weight == 0:
        return
    scored = [(items[i], s) for s, i in base]
    out = explore(
        scored, state, mode=settings.exploration, seed=seed, weight=settings.exploration_weight
    )
    if settings.exploration == "thompson":
        old = {i: s for s, i in base}
        for it, s in out:
            parts[it.id]["exploration"] = s - old[it.id]
        return
    # epsilon: explore may move one item up into the last top slot; give it a score between
    # its new neighbours so the order survives the sort.
    ids = [it.id for it, _ in out]
    if ids == [i for _, i in base]:
        return
    scores = {i: s for s, i in base}
    moved = next(i for i, (_, b) in zip(ids, base, strict=True) if i != b)
    at = ids.index(moved)
    above = scores[ids[at - 1]] if at > 0 else scores[moved] + 1.0
    below = scores[ids[at + 1]]
    parts[moved]["exploration"] = (above + below) / 2 - scores[moved]


def _mmr(
    parts: dict[str, dict[str, float]],
    vectors: Mapping[str, np.ndarray],
    lam: float,
    k: int,
) -> list[str]:
    """Greedy MMR pick of ``k`` ids; adds the ``diversity`` term to ``parts`` in place."""
    score = {i: sum(p.values()) for i, p in parts.items()}
    ranked = sorted(score, key=lambda i: (-score[i], i))
    if lam >= 1.0 or not vectors:
        return ranked[:k]
    ids = [i for i in ranked if i in vectors]
    if len(ids) < len(ranked):  # items without a vector cannot be compared: relevance only
        return ranked[:k]
    mat = _unit(vectors, ids)
    assert mat is not None
    factor = (1.0 - lam) / max(lam, MIN_LAMBDA)
    rel = np.array([score[i] for i in ids])
    closest = np.zeros(len(ids))  # max similarity to the items picked so far
    left = np.ones(len(ids), dtype=bool)
    picked: list[str] = []
    for _ in range(min(k, len(ids))):
        adjusted = np.where(left, rel - factor * np.maximum(closest, 0.0), -np.inf)
        j = int(np.argmax(adjusted))  # argmax takes the first: ranked order breaks ties
        if factor and picked:
            parts[ids[j]]["diversity"] = -factor * max(0.0, float(closest[j]))
        picked.append(ids[j])
        left[j] = False
        closest = np.maximum(closest, mat @ mat[j])
    return picked
