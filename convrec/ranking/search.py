"""Multimodal catalog search: a text wish and/or an example image in, fused catalog items out.

``CatalogSearch`` runs stages 4–6 (query → retrieve → fuse) over one indexed catalog, with the
backends :func:`convrec.wiring.open_search` chose. The dialogue facade builds on the same stages;
the search app and `convrec search` use this one directly.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from convrec.catalog.convert import check_image
from convrec.errors import InputError
from convrec.ranking.fuse import fuse
from convrec.ranking.query import build_queries
from convrec.types import AttrValue, Recommendation

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.config import Settings
    from convrec.protocols import VectorStore
    from convrec.ranking.retrieve import Retriever

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchResult:
    """One search: the ranked recommendations and which channels answered."""

    query: str
    image: str | None
    recommendations: tuple[Recommendation, ...]
    channels: tuple[str, ...]


class CatalogSearch:
    """Search one built and indexed catalog. Thread-safe for concurrent ``search`` calls."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        store: VectorStore,
        retriever: Retriever,
        channels: tuple[str, ...],
    ) -> None:
        """Built by :func:`convrec.wiring.open_search`, which picks the backends."""
        self.catalog = catalog
        self.settings = settings
        self.store = store
        self.retriever = retriever
        self.channels = channels
        self._lock = threading.Lock()  # torch encoders are not re-entrant across threads

    def search(
        self, text: str = "", image: str | Path | None = None, k: int | None = None
    ) -> SearchResult:
        """The top ``k`` catalog items for a text wish, an example image, or both."""
        text = (text or "").strip()
        limit = self.settings.limits.max_message_chars
        if len(text) > limit:
            raise InputError(
                f"The query is {len(text)} characters long; the limit is {limit}. Fix: shorten it "
                "or raise limits.max_message_chars."
            )
        image_path = self._check_image(image) if image else None
        if not text and image_path is None:
            raise InputError("Nothing to search for. Fix: type what you want or add an image.")
        k = k or self.settings.limits.recommendations
        fusion = self.settings.fusion
        queries = build_queries(
            text, image_path, weights=fusion.weights, channels=frozenset(self.channels)
        )
        with self._lock:
            hits = self.retriever.retrieve(queries, self.settings.limits.candidates_per_channel)
        fused = fuse(hits, {q.name: q.weight for q in queries}, method=fusion.method)
        recs = []
        for f in fused:
            item = self.catalog.get(f.item_id)
            if item is None:  # a stale index record: never show an item the catalog lacks
                log.warning("index holds %s, which is not in the catalog; re-index", f.item_id)
                continue
            img = str(self.catalog.image_path(item)) if item.image_paths else None
            recs.append(Recommendation(item.id, item.title, f.score, f.breakdown, image=img))
            if len(recs) == k:
                break
        used = tuple(sorted({q.channel for q in queries}))
        return SearchResult(text, image_path, tuple(recs), used)

    def attributes(self, item_id: str, limit: int = 6) -> list[tuple[str, str]]:
        """Up to ``limit`` displayable (name, value) pairs of an item, lists joined: the price,
        the values read from its photo ("colour", "red (photo)"), then the rest; attributes in
        the catalog's ``hidden`` role (codes, counts, confidences) are never shown."""
        item = self.catalog[item_id]
        roles = self.catalog.roles
        shown = [(n, v) for n, v in item.attributes.items() if n not in roles.hidden]
        derived = [(n, f"{_show(v)} (photo)") for n, v in shown if n in roles.derived]
        out = derived + [(n, _show(v)) for n, v in shown if n not in roles.derived]
        if item.price is not None:
            out.insert(0, ("price", f"{item.price:g}"))
        return [(n, v) for n, v in out if v][:limit]

    def _check_image(self, image: str | Path) -> str:
        path = Path(image).expanduser()
        if not path.is_file():
            raise InputError(f"Image {path} does not exist. Fix: upload or name an image file.")
        size, limit = path.stat().st_size, self.settings.limits.max_image_bytes
        if size > limit:
            raise InputError(
                f"Image {path.name} is {size} bytes; the limit is {limit}. Fix: use a smaller "
                "image or raise limits.max_image_bytes."
            )
        problem = check_image(path, decode=True)
        if problem is not None:
            raise InputError(
                f"{path.name}: {problem}. Fix: upload a complete PNG, JPEG or WebP photo."
            )
        return str(path)


def _show(value: AttrValue) -> str:
    if isinstance(value, tuple):
        return ", ".join(value[:4]) + (" …" if len(value) > 4 else "")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
