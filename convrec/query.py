"""Stage 4: turn what the user asked for into one Query per retrieval channel."""

from __future__ import annotations

from collections.abc import Mapping

from convrec.types import Query

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
