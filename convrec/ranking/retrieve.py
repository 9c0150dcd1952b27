"""Stage 5: run each Query against its channel's collection through the VectorStore protocol."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from convrec.catalog.layout import collection_name
from convrec.errors import IndexError_

if TYPE_CHECKING:
    import numpy as np

    from convrec.protocols import CollaborativeModel, ImageTextEmbedder, TextEmbedder, VectorStore
    from convrec.types import Hit, Query

log = logging.getLogger(__name__)

CF_CHANNEL = "cf"  # queries answered by the collaborative model, not the vector store
TEXT_CHANNELS = ("text", "content")  # channels embedded with the text embedder


class Retriever:
    """Embeds each distinct query input once and asks the store for the nearest items; ``cf``
    queries go to the collaborative model (when the catalog has one)."""

    def __init__(
        self,
        store: VectorStore,
        catalog: str,
        text: TextEmbedder | None = None,
        image_text: ImageTextEmbedder | None = None,
        collaborative: CollaborativeModel | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.text = text
        self.image_text = image_text
        self.collaborative = collaborative

    def retrieve(self, queries: Sequence[Query], k: int) -> dict[str, list[Hit]]:
        """Hits per query name, best first. Queries whose encoder is missing raise IndexError_."""
        cache: dict[tuple[str, str], np.ndarray] = {}
        out: dict[str, list[Hit]] = {}
        for q in queries:
            if q.channel == CF_CHANNEL:
                out[q.name] = self._neighbours(q, k)
                continue
            collection = collection_name(self.catalog, q.channel)
            vector = self._vector(q, collection, cache)
            out[q.name] = self.store.query(collection, vector, k, where=q.where, ids=q.ids)
            log.debug("%s: %d hits from %s", q.name, len(out[q.name]), collection)
        return out

    def _neighbours(self, q: Query, k: int) -> list[Hit]:
        """The collaborative neighbours of ``q.items`` (within ``q.ids`` when set). The model
        knows no metadata: a ``where`` on this query is the caller's to apply."""
        if self.collaborative is None:
            raise IndexError_(
                f"Catalog {self.catalog!r} has no collaborative model. Fix: add interactions "
                "(`convrec catalog load ... --interactions FILE`) and run `convrec index`."
            )
        allowed = None if q.ids is None else frozenset(q.ids)
        return self.collaborative.similar(q.items, k, allowed=allowed)

    def _vector(
        self, q: Query, collection: str, cache: dict[tuple[str, str], np.ndarray]
    ) -> np.ndarray:
        if q.item_id is not None:
            # Item-to-item: the item's own stored vector in the same space, never its re-embedded
            # title.
            return self.store.vectors(collection, [q.item_id])[0]
        if q.image is not None:
            key = ("image", q.image)
            if key not in cache:
                cache[key] = self._image_text("an image query").encode_images([Path(q.image)])[0]
            return cache[key]
        if q.channel in TEXT_CHANNELS:
            key = ("text", q.text)
            if key not in cache:
                if self.text is None:
                    raise IndexError_(
                        "A text query needs the text embedder. Fix: set embed.text_model."
                    )
                cache[key] = self.text.encode_queries([q.text])[0]
            return cache[key]
        key = ("clip", q.text)
        if key not in cache:
            cache[key] = self._image_text("a visual text query").encode_texts([q.text])[0]
        return cache[key]

    def _image_text(self, what: str) -> ImageTextEmbedder:
        if self.image_text is None:
            raise IndexError_(
                f"{what.capitalize()} needs the image–text model. Fix: set "
                "embed.image_text_model (default convrec-clip) and run `convrec index CATALOG`."
            )
        return self.image_text
