"""Convert raw cell values to typed Item fields and attributes, and check image files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from convrec.catalog.schema import LIST_SEP
from convrec.types import AttrValue

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


class BadValue(ValueError):
    """A value that cannot be converted; the message is the reason shown to the user."""


def as_float(value: Any, nonneg: bool = False) -> float:
    if isinstance(value, bool):
        raise BadValue(f"expected a number, got {value!r}")
    try:
        out = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise BadValue(f"not a number: {value!r}") from None
    if math.isnan(out) or math.isinf(out):
        raise BadValue(f"not a finite number: {value!r}")
    if nonneg and out < 0:
        raise BadValue(f"negative value {value!r}")
    return out


def convert_attr(value: Any, kind: str) -> AttrValue:
    """Convert one raw value to the declared attribute type; raises ValueError with the reason."""
    if kind == "list[str]":
        if isinstance(value, list | tuple):
            parts = [str(v).strip() for v in value]
        elif isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    parsed = json.loads(text)
                except json.JSONDecodeError:
                    raise BadValue(f"not a list: {value!r}") from None
                parts = [str(v).strip() for v in parsed]
            else:
                parts = [p.strip() for p in text.split(LIST_SEP)]
        else:
            raise BadValue(f"expected a list of strings, got {value!r}")
        return tuple(p for p in parts if p)
    if isinstance(value, list | tuple | dict):
        raise BadValue(f"expected {kind}, got a {type(value).__name__}")
    if kind == "str":
        return str(value).strip()
    if kind == "float":
        return as_float(value)
    if kind == "int":
        number = as_float(value)
        if not number.is_integer():
            raise BadValue(f"not an integer: {value!r}")
        return int(number)
    text = str(value).strip().lower()  # bool
    if isinstance(value, bool) or text in _TRUE | _FALSE:
        return value if isinstance(value, bool) else text in _TRUE
    raise BadValue(f"not a boolean: {value!r} (use true/false)")


def infer_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "list[str]" if isinstance(value, list | tuple) else "str"


def check_image(path: Path, decode: bool = False) -> str | None:
    """None when ``path`` is a readable image, else the reason it is not. An image too large to
    decode safely (a decompression bomb) is not readable; with ``decode`` the pixels are decoded
    too, so a truncated file is caught here rather than by the model that would read it."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        return "image file not found"
    try:
        with Image.open(path) as im:
            im.verify()
        if decode:
            with Image.open(path) as im:  # verify() leaves the image unusable: open it again
                im.load()
    except Image.DecompressionBombError as e:
        return f"image too large to decode safely ({e})"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        return f"unreadable image ({type(e).__name__}: {e})"
    return None
