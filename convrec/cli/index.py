"""`convrec index CATALOG [--stats] [--channels ...]`: build or update a catalog's vector index."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

from convrec.errors import ConvRecError, InputError

if TYPE_CHECKING:
    from convrec.catalog.index import IndexStats
    from convrec.catalog.schema import Catalog
    from convrec.config import Settings
    from convrec.protocols import ImageTextEmbedder

log = logging.getLogger(__name__)


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "index",
        help="embed a catalog into the vector index (incremental)",
        description="Embed a catalog (phones, movies or a catalog directory) into one Chroma "
        "collection per channel. Re-runs embed only what changed.",
    )
    parser.add_argument("catalog", help="phones, movies or a catalog directory")
    parser.add_argument("--stats", action="store_true", help="print counts, dims, disk size, time")
    parser.add_argument(
        "--channels", default="text,content,image,clip_text", help="comma-separated (default: all)"
    )
    parser.set_defaults(func=cmd_index)


def _image_text_embedder(settings: Settings) -> tuple[ImageTextEmbedder | None, str]:
    """The configured image–text embedder, or None and the reason it is unavailable."""
    try:
        from convrec.backends.clip_embedder import make_image_text_embedder

        emb: Any = make_image_text_embedder(settings)
    except (ConvRecError, ImportError, OSError) as e:
        return None, f"{settings.embed.image_text_model}: {e}"
    if not getattr(emb, "name", None):
        emb.name = settings.embed.image_text_model  # identifies the vector space in the index
    return emb, ""


def cmd_index(args: argparse.Namespace) -> int:
    from convrec.backends.chroma_store import make_store
    from convrec.backends.st_embedder import SentenceTransformerEmbedder
    from convrec.catalog.index import index_catalog
    from convrec.catalog.layout import CHANNELS, open_catalog
    from convrec.config import load_settings

    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    bad = [c for c in channels if c not in CHANNELS]
    if bad or not channels:
        raise InputError(f"Unknown channel(s) {bad}. Fix: --channels with {', '.join(CHANNELS)}.")
    settings = load_settings(args.config)
    catalog = open_catalog(args.catalog, settings)
    store = make_store(settings)
    text = (
        SentenceTransformerEmbedder.from_settings(settings)
        if {"text", "content"} & set(channels)
        else None
    )
    image_text, why = None, ""
    if {"image", "clip_text"} & set(channels):
        image_text, why = _image_text_embedder(settings)
        if image_text is None:
            log.warning("image channels skipped, the image–text model is unavailable: %s", why)
    stats = index_catalog(
        catalog, settings, store, text, image_text, channels=channels, image_text_unavailable=why
    )
    for c in stats.channels:
        done = (
            f"skipped: {c.skipped.split(' (')[0]}"
            if c.skipped
            else (
                f"{c.count} records ({c.embedded} embedded, {c.refreshed} refreshed, {c.deleted} "
                f"deleted, {c.unchanged} unchanged)"
            )
        )
        _out(f"{c.collection}: {done}")
    _collaborative(catalog, settings)
    if args.stats:
        _print_stats(stats, store.location)
    return 0


def _collaborative(catalog: Catalog, settings: Settings) -> None:
    """Fit the catalog's collaborative model (or load it when its inputs are unchanged)."""
    import time

    from convrec.backends.cf_fit import cf_dir, fit_or_load

    t0 = time.perf_counter()
    model = fit_or_load(catalog, settings)
    if model is not None:
        _out(f"collaborative model ({settings.cf.model}): {len(model)} items with neighbours, "
             f"{time.perf_counter() - t0:.2f} s, at {cf_dir(catalog, settings)}")  # fmt: skip


def _print_stats(stats: IndexStats, location: str) -> None:
    _out(f"\nindex of {stats.catalog} at {location}")
    _out(f"{'channel':<10} {'collection':<28} {'count':>7} {'dim':>5} {'seconds':>8}")
    for c in stats.channels:
        dim = str(c.dim) if c.dim else "-"
        _out(f"{c.channel:<10} {c.collection:<28} {c.count:>7} {dim:>5} {c.seconds:>8.2f}")
    disk = "n/a (server)" if stats.disk_bytes is None else f"{stats.disk_bytes / 1e6:.1f} MB"
    _out(f"store size on disk: {disk}; time taken: {stats.seconds:.2f} s")
