"""Stage 4: turn what the user asked for into one Query per retrieval channel."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from convrec.state import DialogueState, to_where
from convrec.types import Query

if TYPE_CHECKING:
    from convrec.config import FusionSettings

# Which collections a source can meet: text queries reach the sentence-transformer channel and,
# through the image–text model, the item images and the CLIP text of items; an image query reaches
# the same two CLIP channels.
TEXT_ROUTES = (("text", "text"), ("clip_text>image", "image"), ("clip_text>clip_text", "clip_text"))
IMAGE_ROUTES = (("image>image", "image"), ("image>clip_text", "clip_text"))


def build_queries(
    text: str = "",
    image: str | None = None,
    where: dict[str, object] | None = None,
    weights: Mapping[str, float] | None = None,
    channels: frozenset[str] = frozenset({"text", "image", "clip_text"}),
) -> tuple[Query, ...]:
    """Queries for a free-text wish and/or an example image, on the channels the index has.

    ``weights`` maps a query name (see TEXT_ROUTES / IMAGE_ROUTES) to its fusion weight; names
    left out weigh 1.0. A weight of 0 drops the query.
    """
    weights = weights or {}
    out: list[Query] = []
    text = text.strip()
    if text:
        for name, channel in TEXT_ROUTES:
            if channel in channels and weights.get(name, 1.0) > 0:
                out.append(Query(name, channel, text=text, where=where, weight=_w(weights, name)))
    if image:
        for name, channel in IMAGE_ROUTES:
            if channel in channels and weights.get(name, 1.0) > 0:
                out.append(Query(name, channel, image=image, where=where, weight=_w(weights, name)))
    return tuple(out)


def _w(weights: Mapping[str, float], name: str) -> float:
    return float(weights.get(name, 1.0))


# Words that make a wish visual: it then also goes to the image–text model, which has seen
# pictures ("a white phone", "something dark and moody", "a colourful poster").
_VISUAL = """white black red blue green yellow orange pink purple violet brown grey gray silver gold
    golden beige navy teal colour color colours colors colourful colorful dark bright light pale
    shiny matte glossy metallic neon pastel vivid moody gloomy sunny looks look looking style
    stylish design designed sleek slim thin thick round square curved retro vintage minimalist
    elegant cute poster photo picture image shade tone"""
VISUAL_WORDS = frozenset(_VISUAL.split())
ITEM_ROUTE = "like:{item_id}>{channel}"  # query name of an item-to-item route


def is_visual(wish: str) -> bool:
    """True when a wish talks about how something looks (colour, style, mood of the picture)."""
    return any(w in VISUAL_WORDS for w in re.findall(r"[a-z]+", wish.lower()))


def describe_preferences(state: DialogueState) -> str:
    """The soft preferences, positive hard constraints and wishes as readable text, e.g.
    ``"Comedy, Animation. director: Pete Docter. something for the kids"``.

    Dislikes and exclusions stay out: a sentence encoder reads "not horror" as close to horror.
    They act through the ``where`` filter and the rerank penalty instead.
    """
    values: dict[str, list[str]] = {}
    for p in state.liked:
        values.setdefault(p.attribute, []).append(p.value)
    for c in state.constraints:
        if c.op in ("eq", "in") and not isinstance(c.value, bool):
            values.setdefault(c.attribute, []).extend(str(v) for v in c.values())
    parts = []
    for attribute, vals in values.items():
        vals = list(dict.fromkeys(vals))
        if attribute in BARE_ATTRIBUTES:
            parts.append(", ".join(vals))
        else:
            parts.append(f"{attribute.replace('_', ' ')}: {', '.join(vals)}")
    parts.extend(w.strip() for w in state.wishes if w.strip())
    return ". ".join(parts)


# Attributes whose values read well on their own ("Comedy", "Sony") in a text query.
BARE_ATTRIBUTES = frozenset({"genres", "genre", "category", "maker", "brand", "os"})


def queries_from_state(
    state: DialogueState,
    catalog: str,
    channels: frozenset[str] | Iterable[str],
    settings: FusionSettings,
    image: str | None = None,
    *,
    flagged: Collection[str] | None = None,
    ids: tuple[str, ...] | None = None,
    where: bool = True,
    context: str = "",
) -> tuple[Query, ...]:
    """One Query per channel route for the dialogue state, each carrying the hard constraints:
    the ``where`` of :func:`~convrec.state.to_where` (``flagged``: the list attributes the
    index flags; left out with ``where=False``) and the allowed ``ids`` (constraints the caller
    evaluated itself).

    - ``text``: the soft preferences and wishes as text (:func:`describe_preferences`);
    - ``context``: the recent dialogue itself (``context``) on the text channel, for what the
      conversation is about beyond the extracted preferences (not with an image: the photo is
      then what "this" refers to);
    - ``clip_text>image`` / ``clip_text>clip_text``: the visual wishes, for the image–text model;
    - ``like:<id>><channel>``: each liked item's own stored vector (never its re-embedded title)
      on every channel it is indexed in, weight ``settings.item_weights[channel] / n``;
    - ``image>image`` / ``image>clip_text``: an uploaded photo.

    With nothing to go on (only constraints, or a cold start) the text query falls back to the
    catalog name, so the filtered catalog is still ranked (the popularity prior then leads).
    Seen, rejected and disliked items cannot be excluded by a Chroma ``where`` (it filters
    metadata, not ids); the caller over-fetches and drops ``state.hidden_items()``.
    """
    channels = frozenset(channels)
    where_ = to_where(state, flagged) if where else None
    weights = settings.weights
    out: list[Query] = []
    text = describe_preferences(state)
    liked = state.liked_items[-settings.max_item_queries :] if settings.max_item_queries else ()
    if not text and not liked and not image:
        text = catalog
    if text and "text" in channels and weights.get("text", 1.0) > 0:
        out.append(Query("text", "text", text, where=where_, weight=_w(weights, "text"), ids=ids))
    context = context.strip() if not image else ""  # with a photo, "more like this" means it
    if context and "text" in channels and weights.get("context", 0.0) > 0:
        w = weights["context"]
        out.append(Query("context", "text", context, where=where_, weight=w, ids=ids))
    visual = ". ".join(w.strip() for w in state.wishes if is_visual(w))
    if visual:
        for name, channel in TEXT_ROUTES[1:]:
            if channel in channels and weights.get(name, 1.0) > 0:
                w = _w(weights, name)
                out.append(Query(name, channel, text=visual, where=where_, weight=w, ids=ids))
    for channel, w in settings.item_weights.items():
        if channel not in channels or w <= 0:
            continue
        for item_id in liked:
            name = ITEM_ROUTE.format(item_id=item_id, channel=channel)
            out.append(
                Query(name, channel, item_id=item_id, where=where_, weight=w / len(liked), ids=ids)
            )
    if image:
        imgs = build_queries(image=image, where=where_, weights=weights, channels=channels)
        out.extend(replace(q, ids=ids) for q in imgs)
    return tuple(out)
