"""Image–caption pairs for training: a JSONL file, the prepared default mixture, or a catalog."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from convrec.errors import CatalogError, InputError
from convrec.training import data, sources

if TYPE_CHECKING:
    from convrec.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    image: str
    caption: str
    source: str
    split: str  # "train" or "heldout"


def read_pairs_jsonl(path: Path, seed: int = 0) -> list[Pair]:
    """Rows ``{image, caption[, source][, split]}``; a missing split comes from the image's hash."""
    if not path.is_file():
        raise InputError(f"{path} does not exist. Fix: pass a JSONL of {{image, caption}} rows.")
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            image, caption = str(row["image"]), str(row["caption"])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise InputError(f"{path}:{n} is not an {{image, caption}} JSON row ({e}).") from e
        image_path = Path(image) if Path(image).is_absolute() else path.parent / image
        split = row.get("split") or _split_of(image_path, seed)
        pairs.append(Pair(str(image_path), caption, str(row.get("source", "pairs")), split))
    return pairs


def _split_of(image: Path, seed: int) -> str:
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    return "heldout" if data.is_held_out(digest, seed) else "train"


def default_pairs(settings: Settings) -> list[Pair]:
    """The prepared mixture (Tux Paint, OpenClipart, OpenMoji, phones); prepared on first use."""
    path = data.default_pairs_path(settings)
    if not path.is_file():
        data.prepare_data(settings)
    return read_pairs_jsonl(path, settings.seed)


def catalog_pairs(catalog: str, settings: Settings) -> list[Pair]:
    """Item images with item text. Uses the catalog helper when present, else ``items.jsonl``.

    ``phones`` works before any catalog is built: its photos and spec captions come straight from
    the registry package.
    """
    items = _open_catalog_items(catalog, settings)
    if items is None:
        if catalog == "phones":
            log.info("no phones catalog built; using the stf-device-db photos and specs directly")
            return [
                Pair(p.origin, p.caption, "phones", _split_of(Path(p.origin), settings.seed))
                for p in sources.phone_pairs(settings)
            ]
        raise CatalogError(
            f"Catalog {catalog!r} not found. Fix: build it (`convrec catalog build {catalog}`) or "
            "pass a catalog directory containing items.jsonl."
        )
    pairs = []
    for title, text, image_paths in items:
        for image in image_paths[:1]:
            if Path(image).is_file():
                caption = text or title
                pairs.append(Pair(image, caption, catalog, _split_of(Path(image), settings.seed)))
    if not pairs:
        raise CatalogError(f"Catalog {catalog!r} has no items with readable images to train on.")
    return pairs


def _open_catalog_items(
    catalog: str, settings: Settings
) -> list[tuple[str, str, tuple[str, ...]]] | None:
    open_catalog = None
    for module_name in ("convrec.catalog", "convrec.catalog.layout"):
        try:
            open_catalog = importlib.import_module(module_name).open_catalog
            break
        except (ImportError, AttributeError):
            continue
    if open_catalog is not None:
        try:
            cat = open_catalog(catalog, settings)
        except CatalogError:
            cat = None  # not a built catalog: a bare directory with items.jsonl may still do
        if cat is not None:
            root = Path(getattr(cat, "root", "."))
            return [
                (it.title, it.text, tuple(str(root / p) for p in it.image_paths))
                for it in cat.items
            ]
    directory = Path(catalog).expanduser()
    if not directory.is_dir():
        directory = settings.catalogs_path / catalog
    items_file = directory / "items.jsonl"
    if not items_file.is_file():
        return None
    out = []
    for line in items_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            paths = tuple(
                str(p if Path(p).is_absolute() else directory / p)
                for p in row.get("image_paths", ())
            )
            text = ". ".join(str(row[k]) for k in ("title", "description") if row.get(k))
            out.append((str(row.get("title", "")), text, paths))
    return out
