"""The models cache: one directory per model, installed atomically, trusted via its manifest."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convrec.fetch import sha256_file

log = logging.getLogger(__name__)

# Written last: a directory without a manifest is a partial install.
MANIFEST = "convrec-manifest.json"


@dataclass(frozen=True)
class CacheCheck:
    """Result of verifying one cached model directory against its manifest."""

    ok: bool
    reason: str = ""


def write_manifest(root: Path, source: dict[str, Any]) -> None:
    """Record every file under `root` (size, sha256) plus where it came from."""
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(root).as_posix()
        files[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    body = {"version": 1, "created": time.time(), "source": source, "files": files}
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
    os.replace(tmp, root / MANIFEST)


def read_manifest(root: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data


def verify(root: Path, *, hashes: bool = True) -> CacheCheck:
    """Check `root` against its manifest: present, same sizes and (unless hashes=False) sha256."""
    if not root.is_dir():
        return CacheCheck(False, "missing")
    manifest = read_manifest(root)
    if manifest is None or not isinstance(manifest.get("files"), dict) or not manifest["files"]:
        return CacheCheck(False, "no valid manifest (partial install)")
    for rel, meta in manifest["files"].items():
        path = root / rel
        if not path.is_file():
            return CacheCheck(False, f"{rel} is missing")
        if path.stat().st_size != meta["size"]:
            return CacheCheck(False, f"{rel} has the wrong size")
    if hashes:
        for rel, meta in manifest["files"].items():
            if sha256_file(root / rel) != meta["sha256"]:
                return CacheCheck(False, f"{rel} fails its sha256")
    return CacheCheck(True)


def size_of(root: Path) -> int:
    """Total bytes of the model files under `root`, manifest excluded (0 if absent)."""
    if not root.is_dir():
        return 0
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


@contextlib.contextmanager
def locked(models_path: Path, name: str) -> Iterator[None]:
    """Hold an exclusive per-model lock: concurrent processes never build one model twice."""
    models_path.mkdir(parents=True, exist_ok=True)
    with (models_path / f".{name}.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def install(models_path: Path, name: str, build: Callable[[Path], dict[str, Any]]) -> Path:
    """Run `build(tmpdir) -> source info` in a temp dir beside the cache, write the manifest last,
    then move the result into place atomically (replacing any broken previous install)."""
    dest = models_path / name
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=models_path))
    try:
        source = build(tmp)
        write_manifest(tmp, source)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary directory
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def discard(root: Path, reason: str) -> None:
    """Delete a cached model directory that failed verification."""
    log.warning("cached model %s is unusable (%s): deleting it and rebuilding", root, reason)
    shutil.rmtree(root, ignore_errors=True)
