"""Index a catalog into one Chroma collection per channel: incremental, idempotent, crash-safe.

Channels (collection ``<catalog>__<channel>``, record id = item id):

- ``text``: the text embedder's document embedding of ``item.text`` (title and description);
- ``content``: the same embedder on ``item.content``: what the item is, without its title, so
  the routes that carry a request's genres, people and moods do not match title words;
- ``image``: the image–text embedder's embedding of the item's FIRST image (items without an image
  are not in this channel; one record per item keeps hits item-level);
- ``clip_text``: the image–text embedder's text embedding of ``item.text``.

Every record carries ``item_metadata(item)`` for ``where`` filters plus ``content_hash`` (what was
embedded: model + text, or model + image bytes) and ``meta_hash``. A re-run embeds only records
whose content hash changed, rewrites metadata whose meta hash changed (reusing the stored vector),
and deletes ids no longer in the catalog. Each batch is ONE upsert of vectors, metadata and hashes
together, so a run killed at any point leaves only complete records; the next run finishes the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from convrec.catalog.layout import CHANNELS, collection_name
from convrec.catalog.schema import Catalog, item_metadata
from convrec.errors import IndexError_
from convrec.types import Item

if TYPE_CHECKING:
    import numpy as np

    from convrec.backends.chroma_store import ChromaStore
    from convrec.config import Settings
    from convrec.protocols import ImageTextEmbedder, TextEmbedder

log = logging.getLogger(__name__)

HASH_KEY = "content_hash"
META_HASH_KEY = "meta_hash"


@dataclass(frozen=True)
class ChannelStats:
    """What one channel holds after a run, and what the run did to it."""

    channel: str
    collection: str
    count: int = 0  # records in the collection after the run
    dim: int | None = None
    embedded: int = 0  # records (re-)embedded by this run
    refreshed: int = 0  # records whose metadata alone changed (stored vector reused)
    deleted: int = 0  # records removed because their item left the catalog
    unchanged: int = 0
    seconds: float = 0.0
    skipped: str = ""  # why the channel was not indexed ("" when it was)


@dataclass(frozen=True)
class IndexStats:
    """The result of ``index_catalog``: one ChannelStats per requested channel."""

    catalog: str
    channels: tuple[ChannelStats, ...]
    seconds: float
    disk_bytes: int | None = None  # embedded store size; None for a server


@dataclass(frozen=True)
class _Source:
    """How one channel turns items into embedder inputs, hashes them and encodes them."""

    channel: str
    dim: int
    model_id: str
    inputs: Callable[[Item], Any]  # Item → the input (text or image path), or None to skip it
    fingerprint: Callable[[Any], str]  # input → stable digest of what gets embedded
    encode: Callable[[list[Any]], np.ndarray]


def model_id(embedder: object) -> str:
    """The identity of an embedder's vector space: its ``name`` if it has one, else its class."""
    return str(getattr(embedder, "name", None) or type(embedder).__qualname__)


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:32]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sources(
    catalog: Catalog,
    text_embedder: TextEmbedder | None,
    image_text_embedder: ImageTextEmbedder | None,
) -> dict[str, _Source]:
    out: dict[str, _Source] = {}

    def text_of(item: Item) -> str:
        return item.text

    def content_of(item: Item) -> str:
        return item.content

    def first_image(item: Item) -> Path | None:
        return (catalog.root / item.image_paths[0]) if item.image_paths else None

    if text_embedder is not None:
        t = text_embedder
        out["text"] = _Source(
            "text", t.dim, model_id(t), text_of, _digest, lambda xs: t.encode_documents(xs)
        )
        out["content"] = _Source(
            "content", t.dim, model_id(t), content_of, _digest, lambda xs: t.encode_documents(xs)
        )
    if image_text_embedder is not None:
        c = image_text_embedder
        out["image"] = _Source(
            "image",
            c.dim,
            model_id(c),
            first_image,
            lambda p: _file_digest(Path(p)),
            lambda xs: c.encode_images(xs),
        )
        out["clip_text"] = _Source(
            "clip_text", c.dim, model_id(c), text_of, _digest, lambda xs: c.encode_texts(xs)
        )
    return out


def index_catalog(
    catalog: Catalog,
    settings: Settings,
    store: ChromaStore,
    text_embedder: TextEmbedder | None,
    image_text_embedder: ImageTextEmbedder | None = None,
    *,
    channels: Sequence[str] = CHANNELS,
    image_text_unavailable: str = "",
) -> IndexStats:
    """Bring the index of ``catalog`` up to date for ``channels``; see the module docstring.

    Without an image–text embedder the image channels are skipped (logged, and recorded in the
    stats with ``image_text_unavailable`` as the reason when given).
    """
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise IndexError_(f"Unknown channel(s) {sorted(unknown)}. Fix: use {', '.join(CHANNELS)}.")
    start = time.perf_counter()
    sources = _sources(catalog, text_embedder, image_text_embedder)
    stats = []
    for channel in channels:
        name = collection_name(catalog.name, channel)
        if channel not in sources:
            why = (
                f"no image–text embedder available ({image_text_unavailable or 'none given'})"
                if channel not in ("text", "content")
                else "no text embedder given"
            )
            log.warning("channel %s of %s skipped: %s", channel, catalog.name, why)
            stats.append(ChannelStats(channel, name, store.count(name), skipped=why))
            continue
        stats.append(_index_channel(catalog, sources[channel], store, name, settings))
    return IndexStats(catalog.name, tuple(stats), time.perf_counter() - start, store.disk_bytes())


def _index_channel(
    catalog: Catalog, src: _Source, store: ChromaStore, name: str, settings: Settings
) -> ChannelStats:
    t0 = time.perf_counter()
    info = store.info(name)
    if info and (info.get("dim") != src.dim or info.get("model") != src.model_id):
        log.warning(
            "collection %s was built with %s (%s-d); rebuilding it for %s (%d-d)",
            name,
            info.get("model"),
            info.get("dim"),
            src.model_id,
            src.dim,
        )
        store.drop(name)
    existing = store.get(name)

    wanted: dict[str, tuple[Item, Any, dict[str, Any]]] = {}
    for item in catalog.items:
        x = src.inputs(item)
        if x is None:
            continue
        try:
            fp = src.fingerprint(x)
        except OSError as e:
            log.warning("%s: item %s skipped, its input %s is unreadable (%s)", name, item.id, x, e)
            continue
        meta: dict[str, Any] = dict(item_metadata(item, catalog.flagged))
        meta[META_HASH_KEY] = _digest(json.dumps(meta, sort_keys=True, default=str))
        meta[HASH_KEY] = _digest(src.model_id, src.channel, fp)
        wanted[item.id] = (item, x, meta)

    stale = [i for i in existing if i not in wanted]
    store.delete(name, stale)
    embed_ids = [
        i for i, w in wanted.items() if existing.get(i, {}).get(HASH_KEY) != w[2][HASH_KEY]
    ]
    to_embed = set(embed_ids)
    refresh = [
        i
        for i, w in wanted.items()
        if i not in to_embed and existing[i].get(META_HASH_KEY) != w[2][META_HASH_KEY]
    ]
    if wanted:
        store.create(
            name, src.dim, {"channel": src.channel, "model": src.model_id, "catalog": catalog.name}
        )

    def write(ids: list[str], vectors: np.ndarray) -> None:
        metas = [wanted[i][2] for i in ids]
        # Chroma's upsert MERGES metadata keys, so a key the item lost would linger: drop those
        # records first (a crash in between leaves them absent, and the next run re-adds them).
        shrunk = [i for i, m in zip(ids, metas, strict=True) if set(existing.get(i, {})) - set(m)]
        store.delete(name, shrunk)
        store.upsert(name, ids, vectors, metas)

    step = max(1, settings.embed.batch_size)
    for i in range(0, len(refresh), store.max_batch):
        chunk = refresh[i : i + store.max_batch]
        write(chunk, store.vectors(name, chunk))
    quiet = not log.isEnabledFor(logging.INFO) or not embed_ids
    with tqdm(total=len(embed_ids), desc=f"{name}", unit="item", disable=quiet) as bar:
        for i in range(0, len(embed_ids), step):
            chunk = embed_ids[i : i + step]
            write(chunk, src.encode([wanted[j][1] for j in chunk]))
            bar.update(len(chunk))

    seconds = time.perf_counter() - t0
    log.info(
        "%s: %d embedded, %d metadata refreshed, %d deleted, %d unchanged in %.1f s",
        name,
        len(embed_ids),
        len(refresh),
        len(stale),
        len(wanted) - len(embed_ids) - len(refresh),
        seconds,
    )
    return ChannelStats(
        channel=src.channel,
        collection=name,
        count=store.count(name),
        dim=src.dim,
        embedded=len(embed_ids),
        refreshed=len(refresh),
        deleted=len(stale),
        unchanged=len(wanted) - len(embed_ids) - len(refresh),
        seconds=seconds,
    )


def index_summary(stats: IndexStats) -> list[Mapping[str, Any]]:
    """Rows for display: channel, collection, count, dim, embedded, deleted, seconds, skipped."""
    return [
        {
            "channel": c.channel,
            "collection": c.collection,
            "count": c.count,
            "dim": c.dim,
            "embedded": c.embedded,
            "refreshed": c.refreshed,
            "deleted": c.deleted,
            "seconds": round(c.seconds, 2),
            "skipped": c.skipped,
        }
        for c in stats.channels
    ]
