"""The `phones` catalog: stf-device-db devices with their photos and text generated from specs."""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import re
import tarfile
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from convrec.catalog import visual
from convrec.catalog.build import Built, Source
from convrec.types import AttrValue, Item

log = logging.getLogger(__name__)

NAME = "phones"
BUILDER_VERSION = 5  # 2: attribute roles; 3: colour and form from the photos; 4: colour only;
# 5: a maker or manufacturer named as the carrier is no carrier
# What each attribute is to the stages (see convrec.catalog.schema.ROLES).
ROLES = visual.with_roles({
    "hidden": ["model_code", "resolution"],
    "unread": ["model_code", "resolution"],
    "never_ask": ["carrier", "cpu", "model_code", "os_version", "resolution"],
    "unlisted": ["carrier", "cpu", "os_version"],
})  # fmt: skip
SOURCES = (
    Source("npm", "@devicefarmer/stf-device-db", "1.4.0",
           "69e91d2594802cd029ee7c7b4b253b9d0aa4797be3132a76ad3c0af8fd1bafef", "CC-BY-SA-4.0"),
)  # fmt: skip
DEVICES_FILE = "package/dist/devices-latest.json"
PHOTOS_DIR = "package/dist/photo/x800"
PLACEHOLDER_PHOTO = "_default.jpg"  # devices without a real photo use a copy of this file
TABLET_INCHES = 7.0  # the data has no form factor; a screen of 7 inches or more is a tablet

# The data spells makers and carriers in several ways (and some in Japanese).
_MAKERS = {
    "SAMSUNG": "Samsung", "Sony mobile": "Sony", "SONY": "Sony", "富士通": "Fujitsu",
    "SHARP": "Sharp", "KYOCERA": "Kyocera", "CASIO": "Casio", "DELL": "Dell",
}  # fmt: skip
_CARRIERS = {"ドコモ": "DoCoMo", "MVNO/Other": "MVNO", "Motorola Smartphones": "Motorola"}
_MANUFACTURERS = frozenset({"Foxconn"})  # named as the carrier of devices they make for others
_OS = {
    "android": "Android", "ios": "iOS", "windowsmobile": "Windows Mobile",
    "windowsphone": "Windows Phone", "blackberry": "BlackBerry", "firefox": "Firefox OS",
    "Android Wear": "Android Wear",
}  # fmt: skip


def build(archives: Mapping[str, Path], workdir: Path) -> Built:
    tgz = archives[SOURCES[0].package]
    with tarfile.open(tgz) as tar:
        tar.extractall(workdir, filter="data")
    devices: dict[str, dict[str, Any]] = json.loads((workdir / DEVICES_FILE).read_text("utf-8"))
    photos = workdir / PHOTOS_DIR
    placeholder = _md5(photos / PLACEHOLDER_PHOTO)
    items: list[Item] = []
    no_photo: list[str] = []
    for code, spec in tqdm(sorted(devices.items()), desc="phones", unit="device"):
        photo = photos / f"{code}.jpg"
        has_photo = photo.is_file() and _md5(photo) != placeholder
        if not has_photo:
            no_photo.append(code)
        items.append(device_item(code, spec, (str(photo),) if has_photo else ()))
    log.info("phones: %d devices, %d without a real photo (loaded without images)",
             len(items), len(no_photo))  # fmt: skip
    items = visual.derive(items, lambda it: Path(it.image_paths[0]) if it.image_paths else None)
    categories: dict[str, int] = {}
    for it in items:
        categories[it.category] = categories.get(it.category, 0) + 1
    manifest = {
        "roles": ROLES,
        "counts": {
            "devices": len(devices),
            "without_photo": len(no_photo),
            "categories": categories,
        },
        "without_photo": no_photo,
        "derived": visual.summary(items),
        "notes": "Photos equal to the package's placeholder (_default.jpg) are not real photos and "
        f"are left out. Category is 'tablet' for screens of {TABLET_INCHES} inches or more.",
    }
    return Built(items, manifest)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _clean(text: Any) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(text or ""))).strip()


def _product(code: str, name: Mapping[str, Any]) -> str:
    """The product name; some entries keep the model code in ``id`` and the name in ``long``."""
    short, long = _clean(name.get("id")), _clean(name.get("long"))
    if long and " " in long and (short == code or " " not in short):
        for prefix in (short, code):
            if prefix and long.startswith(prefix + " "):
                long = long[len(prefix) + 1 :]
        return long
    return short or long or code


def _network(maker: str, carrier: str) -> str:
    """The carrier a device was sold for; "" when the data names its maker ("Samsung
    Electronics" for an unlocked Samsung) or its manufacturer ("Foxconn") there instead."""
    carrier = _CARRIERS.get(carrier, carrier)
    first = carrier.split(" ", 1)[0].lower()
    if carrier in _MANUFACTURERS or (maker and first == maker.split(" ", 1)[0].lower()):
        return ""
    return carrier


def _version(text: str) -> float | None:
    m = re.match(r"(\d+)(?:\.(\d+))?", text)
    return float(f"{m.group(1)}.{m.group(2) or 0}") if m else None


def _gb(mb: Any, digits: int) -> float | None:
    return round(float(mb) / 1024, digits) if isinstance(mb, int | float) and mb > 0 else None


def _fmt(x: float) -> str:
    return f"{x:g}"


def device_item(code: str, spec: Mapping[str, Any], images: tuple[str, ...]) -> Item:
    """One device → Item with generated title and description and typed attributes."""
    maker = _clean((spec.get("maker") or {}).get("name"))
    maker = _MAKERS.get(maker, maker)
    product = _product(code, spec.get("name") or {})
    title = (
        product if not maker or product.lower().startswith(maker.lower()) else f"{maker} {product}"
    )
    model_code = _clean((spec.get("name") or {}).get("long")) or code
    if " " in model_code:
        model_code = code
    os_spec = spec.get("os") or {}
    os_ver = _clean(os_spec.get("ver"))
    os_name = _OS.get(str(os_spec.get("type")), "")
    if not os_name and "Mobile" in os_ver:
        os_name, os_ver = "Windows", os_ver
    display = spec.get("display") or {}
    cpu = spec.get("cpu") or {}
    memory = spec.get("memory") or {}
    carrier = _network(maker, _clean((spec.get("carrier") or {}).get("name")))
    date = str(spec.get("date") or "")[:10] or None

    attrs: dict[str, AttrValue] = {"model_code": model_code}
    values: dict[str, AttrValue | None] = {
        "maker": maker or None,
        "os": os_name or None,
        "os_version": _version(os_ver),
        "ram_gb": _gb(memory.get("ram"), 2),
        "storage_gb": _gb(memory.get("rom"), 1),
        "screen_inches": float(display["s"]) if display.get("s") else None,
        "cores": int(cpu["cores"]) if cpu.get("cores") else None,
        "cpu_ghz": float(cpu["freq"]) if cpu.get("freq") else None,
        "cpu": _clean(cpu.get("name")) or None,
        "release_year": int(date[:4]) if date else None,
        "carrier": carrier or None,
        "resolution": f"{display['w']}x{display['h']}" if display.get("h") else None,
    }  # fmt: skip
    attrs.update({k: v for k, v in values.items() if v is not None})
    screen = values["screen_inches"]
    category = "tablet" if isinstance(screen, float) and screen >= TABLET_INCHES else "phone"
    if os_name == "Android Wear":
        category = "smartwatch"
    return Item(
        id=code,
        title=title,
        description=_describe(title, model_code, category, os_name, os_ver, date, attrs),
        category=category,
        attributes=attrs,
        image_paths=images,
        date=date,
    )


def _a(word: str) -> str:
    """The indefinite article for ``word`` ("an 8-core", "an Android", "a 4-core")."""
    return "an" if word[:1].upper() in "AEIOU8" or word[:2] in ("11", "18") else "a"


def _describe(
    title: str, code: str, category: str, os_name: str, os_ver: str, date: str | None,
    a: Mapping[str, Any],
) -> str:  # fmt: skip
    kind = f"{os_name} {os_ver} {category}".strip() if os_name else category
    first = f"{title} ({code}) is {_a(kind)} {kind}"
    if "maker" in a and not title.startswith(str(a["maker"])):
        first += f" made by {a['maker']}"
    if date:
        first += f", released in {calendar.month_name[int(date[5:7])]} {date[:4]}"
    if "carrier" in a and a["carrier"] != "MVNO":
        first += f" for {a['carrier']}"
    parts = [first + "."]
    specs = []
    if "screen_inches" in a:
        res = f" {a['resolution']}" if "resolution" in a else ""
        specs.append(f"a {_fmt(float(a['screen_inches']))}-inch{res} display")
    if "cores" in a:
        ghz = f" {_fmt(float(a['cpu_ghz']))} GHz" if "cpu_ghz" in a else ""
        name = f" {a['cpu']}" if "cpu" in a else ""
        specs.append(f"{_a(str(a['cores']))} {a['cores']}-core{ghz}{name} processor")
    if "ram_gb" in a:
        specs.append(f"{_fmt(float(a['ram_gb']))} GB of RAM")
    if "storage_gb" in a:
        specs.append(f"{_fmt(float(a['storage_gb']))} GB of storage")
    if specs:
        body = ", ".join(specs[:-1]) + (" and " if len(specs) > 1 else "") + specs[-1]
        parts.append(f"It has {body}.")
    return " ".join(parts)
