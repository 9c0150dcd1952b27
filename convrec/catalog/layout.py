"""The self-contained catalog directory: write it atomically, read its manifest, open it.

Layout of ``<dir>``::

    items.jsonl    one Item per line (see schema.item_to_dict); image paths relative to <dir>
    images/        the item images, copied in
    catalog.json   the manifest: name, sources, inputs hash, counts, attribute schema, coverage
    ...            builder extras (the movies catalog keeps ratings.parquet for evaluation)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from convrec.catalog.schema import Catalog, item_from_dict, item_to_dict
from convrec.errors import CatalogError
from convrec.types import Item

if TYPE_CHECKING:
    from convrec.config import Settings

log = logging.getLogger(__name__)

# The vector-store collections an indexed catalog has, one per channel: ``text`` (title and item
# text), ``content`` (item text without the title), ``image`` (photos, image-text space) and
# ``clip_text`` (item text in the image-text space). Stages name a collection only through
# :func:`collection_name`.
CHANNELS = ("text", "content", "image", "clip_text")


def collection_name(catalog: str, channel: str) -> str:
    """``<catalog>__<channel>``, with characters Chroma rejects replaced by '-'."""
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in catalog).strip("._-")
    return f"{safe or 'catalog'}__{channel}"


def channel_of(collection: str) -> str:
    """The channel part of a ``<catalog>__<channel>`` collection name."""
    return collection.rsplit("__", 1)[-1]


ITEMS_FILE = "items.jsonl"
MANIFEST_FILE = "catalog.json"
IMAGES_DIR = "images"
SHIPPED = ("phones", "movies")
FORMAT_VERSION = 1


def catalog_dir(name_or_dir: str | Path, settings: Settings) -> Path:
    """``phones``/``movies`` (or any bare name) → settings.catalogs_path/<name>; a path → itself."""
    text = str(name_or_dir)
    if text in SHIPPED or ("/" not in text and os.sep not in text and not Path(text).is_dir()):
        return settings.catalogs_path / text
    return Path(text).expanduser()


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of the catalog at ``root``, or None when there is no complete catalog."""
    try:
        data = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and (root / ITEMS_FILE).is_file() else None


def built_catalogs(wanted: Iterable[str], settings: Settings) -> list[str]:
    """The catalogs among ``wanted`` (names or directories) that are built, in the given order."""
    return [c for c in wanted if read_manifest(catalog_dir(c, settings)) is not None]


def open_catalog(name_or_dir: str | Path, settings: Settings) -> Catalog:
    """Open a built catalog by shipped name (phones, movies) or by directory."""
    root = catalog_dir(name_or_dir, settings)
    manifest = read_manifest(root)
    if manifest is None:
        name = str(name_or_dir)
        fix = (
            f"run `convrec catalog build {name}`"
            if name in SHIPPED
            else "run `convrec catalog load FILE --out DIR` to create it"
        )
        raise CatalogError(f"No built catalog at {root} (items.jsonl + catalog.json). Fix: {fix}.")
    items: list[Item] = []
    with (root / ITEMS_FILE).open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                items.append(item_from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise CatalogError(
                    f"{root / ITEMS_FILE} line {n} is corrupt ({e}). Fix: rebuild the catalog "
                    "(`convrec catalog build NAME --force` or "
                    "`convrec catalog load ... --out DIR`)."
                ) from e
    return Catalog(
        name=str(manifest.get("name", root.name)), root=root, items=tuple(items), manifest=manifest
    )


def attribute_schema(items: Iterable[Item]) -> dict[str, str]:
    """Attribute name → type ("str", "int", "float", "bool", "list[str]") seen across items.

    An int attribute that also holds floats is reported as float; any other mix is "mixed".
    """
    kinds: dict[str, set[str]] = {}
    for item in items:
        for name, value in item.attributes.items():
            kind = "list[str]" if isinstance(value, tuple) else type(value).__name__
            kinds.setdefault(name, set()).add(kind)
    out = {}
    for name, seen in sorted(kinds.items()):
        out[name] = (
            seen.pop() if len(seen) == 1 else "float" if seen == {"int", "float"} else "mixed"
        )
    return out


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "item"


def write_catalog(
    root: Path,
    items: Iterable[Item],
    manifest: Mapping[str, Any],
    *,
    extras: Callable[[Path], None] | None = None,
) -> Catalog:
    """Write a complete catalog directory at ``root``, atomically.

    Item image paths must be absolute (or relative to the cwd); the images are copied into
    ``images/`` and the written items point there. ``extras(tmp_dir)`` may add more files.
    Everything is written to a temporary sibling directory and renamed into place, so an
    interrupted write never leaves a half catalog at ``root``.
    """
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / IMAGES_DIR).mkdir(parents=True)
    try:
        written = _write_items(tmp, list(items))
        if extras is not None:
            extras(tmp)
        full = dict(manifest)
        full.setdefault("name", root.name)
        full["format_version"] = FORMAT_VERSION
        full["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        counts = dict(full.get("counts", {}))
        counts.update(
            items=len(written),
            items_with_images=sum(1 for it in written if it.image_paths),
            images=len({p for it in written for p in it.image_paths}),
        )
        full["counts"] = counts
        full["attributes"] = attribute_schema(written)
        (tmp / MANIFEST_FILE).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n")
        _swap_in(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Catalog(name=str(full["name"]), root=root, items=tuple(written), manifest=full)


def _write_items(tmp: Path, items: list[Item]) -> list[Item]:
    copied: dict[Path, str] = {}
    used: set[str] = set()
    out: list[Item] = []
    with (tmp / ITEMS_FILE).open("w", encoding="utf-8") as f:
        for item in tqdm(items, desc="writing items", unit="item", disable=len(items) < 1000):
            rel: list[str] = []
            for k, src in enumerate(item.image_paths):
                source = Path(src).resolve()
                if source not in copied:
                    name = (
                        f"{IMAGES_DIR}/{_safe(item.id)}{'-' + str(k) if k else ''}{source.suffix}"
                    )
                    while name in used:
                        name = name.replace(".", "_x.", 1) if "." in name else name + "_x"
                    used.add(name)
                    try:
                        shutil.copyfile(source, tmp / name)
                    except OSError as e:
                        raise CatalogError(
                            f"Could not copy image {source} for item {item.id!r} ({e}). "
                            "Fix: check the file exists and is readable, then retry."
                        ) from e
                    copied[source] = name
                rel.append(copied[source])
            written = replace(item, image_paths=tuple(rel))
            f.write(json.dumps(item_to_dict(written), ensure_ascii=False) + "\n")
            out.append(written)
    return out


def _swap_in(tmp: Path, root: Path) -> None:
    old = root.parent / f".{root.name}.old-{os.getpid()}"
    if root.exists():
        os.replace(root, old)
    os.replace(tmp, root)
    shutil.rmtree(old, ignore_errors=True)
