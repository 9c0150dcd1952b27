"""Turn a model spec string (packaged name, local directory or hub id) into something loadable."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from convrec.errors import ModelError
from convrec.models import cache, registry
from convrec.models.provision import build

if TYPE_CHECKING:
    from convrec.config import Settings

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")

# Cached directories verified in this process, keyed by their files' (name, size, mtime) so a
# changed file is re-hashed, but repeated loads of an untouched cache are not.
_verified: dict[Path, tuple[tuple[str, int, int], ...]] = {}


@dataclass(frozen=True)
class ModelRef:
    """Where a spec string points: a packaged model (cached at `path`), a local dir, or a hub id."""

    spec: str
    source: Literal["packaged", "local", "hub"]
    path: Path | None = None
    hub_id: str | None = None
    packaged: registry.ModelSpec | None = None


@dataclass(frozen=True)
class ModelStatus:
    """One packaged model's state in the cache, for `convrec models list`."""

    name: str
    role: str
    kind: str
    description: str
    available: bool
    path: Path
    size_bytes: int
    reason: str = ""


def _in_hub_cache(hub_id: str) -> bool:
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(hub_id, local_files_only=True)
    except Exception:  # any miss (not cached, bad id) means "not available offline"
        return False
    return True


def resolve(spec: str, settings: Settings) -> ModelRef:
    """Classify `spec` without building anything; raise ModelError when it cannot work."""
    packaged = registry.get(spec)
    if packaged is not None:
        return ModelRef(spec, "packaged", path=settings.models_path / spec, packaged=packaged)
    path = Path(spec).expanduser()
    if path.is_dir():
        return ModelRef(spec, "local", path=path.resolve())
    names = ", ".join(registry.names())
    if spec.startswith(("/", ".", "~")) or not _HUB_ID.match(spec):
        raise ModelError(
            f"Model {spec!r} is not a packaged name, an existing directory or a hub id. "
            f"Fix: use one of the packaged names ({names}) or the path of a model directory."
        )
    if settings.hub_offline and not _in_hub_cache(spec):
        raise ModelError(
            f"Model {spec!r} looks like a hub id, but HF_HUB_OFFLINE is set and it is not in the "
            "local Hugging Face cache. Fix: with internet access set HF_HUB_OFFLINE=0 so it can be "
            f"downloaded, or use a packaged name ({names}) or a local model directory."
        )
    return ModelRef(spec, "hub", hub_id=spec)


def _signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    stats = ((p, p.stat()) for p in sorted(root.rglob("*")) if p.is_file())
    return tuple((p.name, s.st_size, s.st_mtime_ns) for p, s in stats)


def _ready(root: Path) -> cache.CacheCheck:
    if root.is_dir() and _verified.get(root) == _signature(root):
        return cache.CacheCheck(True)
    check = cache.verify(root)
    if check.ok:
        _verified[root] = _signature(root)
    return check


def provision(ref: ModelRef, settings: Settings) -> Path:
    """Make sure the packaged model of `ref` is built and verified in the cache; return its dir."""
    assert ref.packaged is not None and ref.path is not None
    name = ref.packaged.name
    with cache.locked(settings.models_path, name):
        check = _ready(ref.path)
        if check.ok:
            stale = _stale(ref.packaged, ref.path)
            if stale is None:
                return ref.path
            check = cache.CacheCheck(False, stale)
        if ref.path.exists():
            cache.discard(ref.path, check.reason)
        log.info("provisioning %s into %s", name, ref.path)
        packaged = ref.packaged
        cache.install(settings.models_path, name, lambda tmp: build(packaged, settings, tmp))
        _verified[ref.path] = _signature(ref.path)
    return ref.path


def _stale(spec: registry.ModelSpec, root: Path) -> str | None:
    """Why the cached copy of a built model no longer matches what it is built from (None when
    it does): a new convrec ships a retrained convrec-clip."""
    origin = getattr(spec, "origin", None)
    if origin is None:
        return None
    built = ((cache.read_manifest(root) or {}).get("source") or {}).get("origin")
    now = origin()
    return None if built == now else f"built from {built or 'an older copy'}, now {now}"


def ensure(spec: str, settings: Settings) -> str:
    """A path or hub id to hand to from_pretrained / SentenceTransformer; provisions packaged
    models on demand (once; later calls verify the cache and reuse it)."""
    ref = resolve(spec, settings)
    if ref.source == "packaged":
        return str(provision(ref, settings))
    if ref.source == "local":
        return str(ref.path)
    assert ref.hub_id is not None
    return ref.hub_id


def status(settings: Settings) -> list[ModelStatus]:
    """State of every packaged model (sizes checked against the manifest; hashes are not)."""
    out = []
    for name in registry.names():
        spec = registry.get(name)
        assert spec is not None
        root = settings.models_path / name
        check = cache.verify(root, hashes=False)
        out.append(
            ModelStatus(
                name=name,
                role=spec.role,
                kind=spec.kind,
                description=spec.description,
                available=check.ok,
                path=root,
                size_bytes=cache.size_of(root) if check.ok else 0,
                reason=check.reason,
            )
        )
    return out
