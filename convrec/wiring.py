"""Where backends are chosen and built for one catalog: the vector store, the text and
image-text embedders, the collaborative model, wired into the retrieval stage. The facades
(:class:`convrec.engine.ConvRec`, the search app, `convrec search`) call it; stages never do:
they see the protocols only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from convrec.catalog.layout import CHANNELS, collection_name
from convrec.errors import ConvRecError, IndexError_
from convrec.ranking.retrieve import CF_CHANNEL, Retriever
from convrec.ranking.search import CatalogSearch

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.config import Settings
    from convrec.protocols import CollaborativeModel, VectorStore

log = logging.getLogger(__name__)


def open_store(settings: Settings) -> VectorStore:
    """The configured vector store (embedded Chroma, or a Chroma server)."""
    from convrec.backends.chroma_store import make_store

    return make_store(settings)


def open_search(
    catalog: Catalog | str | None = None,
    settings: Settings | None = None,
    store: VectorStore | None = None,
) -> CatalogSearch:
    """Search over ``catalog`` (an opened catalog, a shipped name or a directory; default
    ``settings.catalog``): the channels its index has, each queried with the model it was built
    with, plus the collaborative route when the catalog has interactions."""
    from convrec.catalog.layout import open_catalog
    from convrec.config import load_settings

    settings = settings or load_settings()
    if catalog is None or isinstance(catalog, str):
        catalog = open_catalog(catalog or settings.catalog, settings)
    store = store or open_store(settings)
    channels = tuple(c for c in CHANNELS if store.count(collection_name(catalog.name, c)) > 0)
    if not channels:
        raise IndexError_(
            f"Catalog {catalog.name!r} has no index in {store.location}. "
            f"Fix: run `convrec index {catalog.name}`."
        )
    collaborative = _collaborative(catalog, settings)
    if collaborative is not None:
        channels = (*channels, CF_CHANNEL)
    text = _text(catalog, settings, store, channels)
    image_text = _image_text(catalog, settings, store, channels)
    retriever = Retriever(store, catalog.name, text, image_text, collaborative)
    return CatalogSearch(catalog, settings, store, retriever, channels)


def _collaborative(catalog: Catalog, settings: Settings) -> CollaborativeModel | None:
    """The catalog's collaborative model (fitted by `convrec index`, or now if its interactions
    changed since); None without interactions or with ``cf.model = "none"``."""
    if settings.cf.model == "none":
        return None
    from convrec.backends.cf_fit import fit_or_load

    try:
        return fit_or_load(catalog, settings)
    except ConvRecError as e:
        log.warning("%s: no collaborative route (%s)", catalog.name, e)
        return None


def _text(
    catalog: Catalog, settings: Settings, store: VectorStore, channels: tuple[str, ...]
) -> Any:
    def make() -> Any:
        from convrec.backends.st_embedder import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder.from_settings(settings)

    return _embedder(catalog, store, channels, ("text", "content"), make)


def _image_text(
    catalog: Catalog, settings: Settings, store: VectorStore, channels: tuple[str, ...]
) -> Any:
    def make() -> Any:
        from convrec.backends.clip_embedder import make_image_text_embedder

        return make_image_text_embedder(settings)

    return _embedder(catalog, store, channels, ("image", "clip_text"), make)


def _embedder(
    catalog: Catalog,
    store: VectorStore,
    channels: tuple[str, ...],
    space: tuple[str, ...],
    make: Callable[[], Any],
) -> Any:
    """The embedder of one vector space (``space``: its channels), built only when the index
    has one of them, and checked against the model each of them was indexed with."""
    used = [c for c in space if c in channels]
    if not used:
        return None
    emb = make()
    for channel in used:
        _check_space(catalog, store, channel, emb)
    return emb


def _check_space(catalog: Catalog, store: VectorStore, channel: str, embedder: object) -> None:
    """Refuse to query an index built with another model: the scores would be meaningless."""
    from convrec.catalog.index import model_id

    name = collection_name(catalog.name, channel)
    built_with = store.info(name).get("model")
    if built_with and built_with != model_id(embedder):
        raise IndexError_(
            f"{name} was indexed with {built_with!r} but the settings select "
            f"{model_id(embedder)!r}. Fix: run `convrec index {catalog.name}` again, or "
            "set the embed models back."
        )
