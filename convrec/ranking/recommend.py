"""Stages 4–6 as one call for the facade: ``rank`` (no LLM; explanations are
:mod:`convrec.explain`).

``rank``: state → queries per channel route → retrieval → channel fusion → rerank terms. Item ids
only ever come from retrieval hits and must be in the catalog, so no LLM output can put an item
the catalog lacks on the list.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from convrec.catalog.layout import CHANNELS, collection_name
from convrec.dialogue.state import Pref, field_value, holds, unflagged
from convrec.errors import ConvRecError, IndexError_
from convrec.ranking.fuse import fuse
from convrec.ranking.quality import catalog_quality
from convrec.ranking.query import DialogueContext, queries_from_state
from convrec.ranking.rerank import holds_pref, rerank
from convrec.ranking.retrieve import CF_CHANNEL
from convrec.ranking.wishes import WISH_ROUTE, wish_hits

if TYPE_CHECKING:
    import numpy as np

    from convrec.catalog.schema import Catalog
    from convrec.config import Settings
    from convrec.dialogue.state import Constraint, DialogueState
    from convrec.ranking.retrieve import Retriever
    from convrec.types import Hit, Item, Query, Recommendation

log = logging.getLogger(__name__)

MAX_FETCH = 5000  # the most candidates one channel is asked for (hidden items included)


def indexed_channels(retriever: Retriever) -> frozenset[str]:
    """The channels of the retriever's catalog that hold records (needs ``store.count``), plus
    ``cf`` when the retriever has a collaborative model."""
    cf = {CF_CHANNEL} if retriever.collaborative is not None else set()
    count = getattr(retriever.store, "count", None)
    if count is None:
        return frozenset(CHANNELS) | cf
    found = {c for c in CHANNELS if count(collection_name(retriever.catalog, c)) > 0}
    return frozenset(found | cf)


def rank(
    state: DialogueState,
    retriever: Retriever,
    catalog: Catalog,
    settings: Settings,
    k: int | None = None,
    image: str | None = None,
    *,
    channels: Iterable[str] | None = None,
    timings: dict[str, float] | None = None,
    context: DialogueContext | None = None,
) -> list[Recommendation]:
    """The top ``k`` catalog items for the dialogue state, each with its per-term breakdown.

    ``channels`` are the indexed channels (detected from the store when None; pass them to save
    a lookup per turn). ``timings``, when given, receives the seconds spent per step.
    ``context``: what the ranking takes from the user's own words (the context routes, a wish
    for little-known items, liked values from before a change of subject; see
    :func:`~convrec.ranking.query.dialogue_context`).
    """
    clock = time.perf_counter()
    ctx = context or DialogueContext()
    k = k or settings.limits.recommendations
    # the wish route over the whole catalog, read once: it seeds a theme no allowed item holds,
    # and its allowed part is the route
    themed = wish_hits(catalog, state, len(catalog.items)) if state.wishes else []
    state = with_wish_seeds(catalog, with_style_seeds(catalog, state), k, themed)
    fade = {p: settings.fusion.context_shift for p in confirmed_stale(catalog, state, ctx.stale)}
    times = timings if timings is not None else {}
    chans = frozenset(channels) if channels is not None else indexed_channels(retriever)
    if settings.store.filter_by == "ids":  # every constraint by id, no metadata filter
        post: tuple[Constraint, ...] = ()
        allowed = allowed_ids(catalog, state.constraints, positive_only=False)
    else:  # metadata filters, plus ids for list attributes the index holds no flags for
        post = unflagged(state, catalog.flagged)
        allowed = allowed_ids(catalog, post)
    queries = queries_from_state(
        state, catalog.name, chans, settings.fusion, image, ids=allowed,
        flagged=catalog.flagged, where=settings.store.filter_by == "where", context=ctx.parts,
        derived=catalog.roles.derived,
    )  # fmt: skip
    if allowed is None and state.constraints:
        # the collaborative model knows no ``where``: give it the items that meet every
        # constraint, so it finds the liked items' nearest among them (a year bound would
        # otherwise drop most of its top neighbours after the fact)
        every = allowed_ids(catalog, state.constraints, positive_only=False)
        queries = tuple(replace(q, ids=every) if q.channel == CF_CHANNEL else q for q in queries)
    hidden = state.hidden_items() | set(state.liked_items)
    fetch = min(settings.limits.candidates_per_channel + len(hidden), MAX_FETCH)
    times["queries"] = time.perf_counter() - clock
    # items never shown (seen, rejected, the liked ones) leave each list before fusion: a liked
    # item tops its own item-to-item list, and min-max normalisation around it would squeeze
    # its neighbours (Memento 0.27 after Inception's own 1.0)
    hits = {name: [h for h in found if h.item_id not in hidden]
            for name, found in _retrieve(retriever, queries, fetch).items()}  # fmt: skip
    weights = {q.name: q.weight for q in queries}
    match_weight = settings.fusion.weights.get(MATCH_ROUTE, 0.0)
    if state.liked and match_weight > 0:
        hits[MATCH_ROUTE] = match_hits(catalog, state, fetch, allowed, fade, obscure=ctx.obscure)
        # Weighted fusion rescales each list: a route of stale values must weigh less instead.
        fresh = sum(fade.get(p, 1.0) for p in state.liked) / len(state.liked)
        weights[MATCH_ROUTE] = match_weight * fresh
    wish_weight = settings.fusion.weights.get(WISH_ROUTE, 0.0)
    keep = None if allowed is None else set(allowed)
    if wish_weight > 0 and (found := [h for h in themed if keep is None or h.item_id in keep]):
        hits[WISH_ROUTE], weights[WISH_ROUTE] = found[:fetch], wish_weight
    times["retrieve"] = time.perf_counter() - clock - times["queries"]
    mark = time.perf_counter()
    if settings.store.filter_by == "where" and state.constraints:
        # the collaborative model and the match route know no ``where``: apply it here
        for name in {CF_CHANNEL, MATCH_ROUTE, WISH_ROUTE} & set(hits):
            hits[name] = [
                h for h in hits[name] if _satisfies(catalog.get(h.item_id), state.constraints)
            ]
    fused = fuse(hits, weights, method=settings.fusion.method)
    if post:  # constraints the ``where`` left out (list attributes without flags)
        fused = [f for f in fused if _satisfies(catalog.get(f.item_id), post)]
    pool = [f.item_id for f in fused if f.item_id not in hidden][: settings.rerank.pool]
    vectors = _vectors(retriever, chans, [*pool, *state.liked_items, *state.disliked_items])
    # an uploaded photo's look (its colour) is a soft preference of the rerank only: the photo's
    # own routes already find what looks like it
    looks = with_photo_looks(state, image, catalog.roles.derived) if image else state
    recs = rerank(
        fused,
        catalog.get,
        looks,
        settings.rerank,
        k,
        vectors,
        quality=catalog_quality(catalog, settings.rerank.rating_prior_count),
        obscure=ctx.obscure,
        faded=fade,
        seed=settings.seed,
    )
    out = []
    for r in recs:
        item = catalog[r.item_id]
        img = str(catalog.image_path(item)) if item.image_paths else None
        out.append(replace(r, image=img))
    times["fuse"] = time.perf_counter() - mark
    log.debug("ranked %d of %d fused in %.0f ms", len(out), len(fused), 1e3 * sum(times.values()))
    return out


def with_photo_looks(state: DialogueState, image: str, derived: Collection[str]) -> DialogueState:
    """``state`` with the look of an uploaded photo ("more like this") as liked values of the
    ``derived`` attributes the user did not state ("more like this, but in black" keeps black)."""
    from convrec.catalog import visual

    wanted = [a for a in derived if a in visual.DERIVED]
    stated = {p.attribute for p in (*state.liked, *state.disliked)}
    if not wanted or set(wanted) <= stated:
        return state
    try:
        found = visual.read(Path(image)).attributes()
    except (OSError, ValueError) as e:  # the image routes report an unreadable photo
        log.info("no look read from the uploaded photo: %s", e)
        return state
    extra = tuple(
        Pref(a, str(found[a])) for a in wanted if a not in stated and isinstance(found.get(a), str)
    )
    return replace(state, liked=(*state.liked, *extra)) if extra else state


def confirmed_stale(catalog: Catalog, state: DialogueState, stale: Iterable[Pref]) -> list[Pref]:
    """The ``stale`` values that none of the items which changed the subject holds: "I like Tom
    Hanks", then "I loved Big" leaves Hanks wanted; "I like comedies", then "I loved Inception"
    fades the comedies."""

    items = [catalog.get(i) for i in state.subject_items]
    held = [it for it in items if it is not None]
    return [p for p in stale if not any(holds_pref(it, p) for it in held)]


STYLE_SEEDS = 3  # best-known items of a person liked for their style, not their own work


def with_style_seeds(catalog: Catalog, state: DialogueState) -> DialogueState:
    """``state`` with liked items added for the ranking only: a person both liked and ruled out
    ("a Wes Anderson feel, but not by him") stands for their style, so their best-known items
    seed the item-to-item routes that find films like theirs."""
    excluded = {(c.attribute, str(v).lower()) for c in state.constraints if c.op in ("ne", "nin")
                for v in c.values()}  # fmt: skip
    styles = [p for p in state.liked if (p.attribute, p.value.lower()) in excluded]
    if not styles:
        return state
    known = catalog_quality(catalog).known
    seeds: list[str] = []
    for p in styles:
        theirs = [it.id for it in catalog.items if holds_pref(it, p)]
        seeds += sorted(theirs, key=lambda i: (-known.get(i, 0.0), i))[:STYLE_SEEDS]
    new = tuple(i for i in dict.fromkeys(seeds) if i not in state.liked_items)
    return replace(state, liked_items=(*state.liked_items, *new)) if new else state


def with_wish_seeds(
    catalog: Catalog, state: DialogueState, k: int, found: Sequence[Hit] | None = None
) -> DialogueState:
    """``state`` with liked items added for the ranking only: when fewer than ``k`` items that
    meet the constraints hold a wished keyword ("a heist movie", then "before 1980": the
    catalog's heist films are all later), the best-known items that hold it but miss a
    constraint seed the item-to-item routes, which find their nearest among the items that
    meet them (a seed is never shown: a liked item is not)."""
    if not state.wishes:
        return state
    if found is None:  # the wish route over the whole catalog (rank passes its own)
        found = wish_hits(catalog, state, len(catalog.items))
    meeting = [h for h in found if _satisfies(catalog.get(h.item_id), state.constraints)]
    if not found or len(meeting) >= k:
        return state
    hidden = state.hidden_items() | set(state.liked_items) | {h.item_id for h in meeting}
    seeds = [h.item_id for h in found if h.item_id not in hidden][:STYLE_SEEDS]
    return replace(state, liked_items=(*state.liked_items, *seeds)) if seeds else state


MATCH_ROUTE = "match"  # the catalog items that hold the user's liked values (no embedding)


def match_hits(
    catalog: Catalog,
    state: DialogueState,
    k: int,
    allowed: tuple[str, ...] | None = None,
    faded: Mapping[Pref, float] | None = None,
    *,
    obscure: bool = False,
) -> list[Hit]:
    """The ``k`` items holding the most of the user's liked values (genres, people, makers …),
    scored by the share they hold, the better known first among equals; only ``allowed`` ids
    when given. Word overlap plays no part: an animated family comedy is found because it is
    one, whatever its title says. ``faded``: weights of liked values below 1; ``obscure``: the
    best rated come first among equals instead (the user asked for little-known items)."""
    from convrec.ranking.rerank import liked_share
    from convrec.types import Hit

    quality = catalog_quality(catalog)
    pool = catalog.items if allowed is None else [catalog[i] for i in allowed if i in catalog]
    scored = [(liked_share(it, state, faded), it.id) for it in pool]
    scored = [(share, i) for share, i in scored if share > 0]
    prior = quality.rated if obscure else quality.known
    scored.sort(key=lambda t: (-t[0], -prior.get(t[1], 0.0), t[1]))
    return [Hit(i, share, MATCH_ROUTE) for share, i in scored[:k]]


_ALLOWED_MAX = 256  # constraint sets whose allowed ids a catalog remembers


def allowed_ids(
    catalog: Catalog, constraints: tuple[Constraint, ...], *, positive_only: bool = True
) -> tuple[str, ...] | None:
    """The catalog items that satisfy all ``constraints``, to restrict retrieval to; None when
    there is nothing to restrict (no constraints, or with ``positive_only`` none that asks for
    a value: exclusions alone are then filtered after fusion). Remembered per constraint set."""
    if not constraints or (positive_only and not any(c.op in ("eq", "in") for c in constraints)):
        return None
    memo: OrderedDict[tuple[Constraint, ...], tuple[str, ...]]
    memo = catalog.memo.setdefault("allowed_ids", OrderedDict())
    hit = memo.get(constraints)
    if hit is None:
        hit = tuple(it.id for it in catalog.items if _satisfies(it, constraints))
        memo[constraints] = hit
        while len(memo) > _ALLOWED_MAX:
            memo.popitem(last=False)
    return hit


def _satisfies(item: Item | None, constraints: tuple[Constraint, ...]) -> bool:
    return item is not None and all(holds(c, field_value(item, c.attribute)) for c in constraints)


def _retrieve(retriever: Retriever, queries: tuple[Query, ...], k: int) -> dict[str, list[Hit]]:
    """Hits per query. An item-to-item query whose item a channel lacks (a phone without a
    photo has no ``image`` record) is skipped, not fatal."""
    hits = retriever.retrieve([q for q in queries if q.item_id is None], k)
    for q in queries:
        if q.item_id is not None:
            try:
                hits.update(retriever.retrieve([q], k))
            except IndexError_:
                log.debug("%s: item %s is not in channel %s", q.name, q.item_id, q.channel)
    return hits


def _vectors(
    retriever: Retriever, channels: frozenset[str], ids: list[str]
) -> dict[str, np.ndarray]:
    """Stored vectors of ``ids`` in one space (the text channel when indexed); {} on a stale
    index (the feedback and diversity terms are then left out, the turn still answers)."""
    channel = next((c for c in ("text", "clip_text", "image") if c in channels), None)
    ids = list(dict.fromkeys(ids))
    if channel is None or not ids:
        return {}
    try:
        rows = retriever.store.vectors(collection_name(retriever.catalog, channel), ids)
    except ConvRecError as e:
        log.warning("no item vectors for the rerank (%s); re-run `convrec index`", e)
        return {}
    return dict(zip(ids, rows, strict=True))
