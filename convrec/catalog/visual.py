"""Attributes derived from an item's photo: its body colour family (stored on the item, with a
confidence) and its form factor (read and reported, not stored: see :data:`DERIVED`).

Product photos are mostly a device (often its front and its back) on a plain background. The
background is what reaches the border in the corners' colour (a white body inside its outline
stays); what is left splits into device views, side by side. A view's pixels are named by colour
family; the last full view decides the body colour (a front comes first, its back beside it), a
photo with one view is read by its frame (the band along its edge: a front's screen is no body),
and a pale body by the tint its light pixels share. The form factor is read from the views'
proportions.

Everything here is pure numpy on a downscaled copy: the 380 phone photos take a few seconds.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from convrec.types import Item

log = logging.getLogger(__name__)

# The colour families a photo is named by, in the order ties are broken.
COLOURS = ("black", "white", "silver", "gold", "red", "pink", "blue", "green", "purple",
           "yellow", "orange", "brown")  # fmt: skip
FORMS = ("phone", "tablet", "watch", "flip")
# The attributes a photo gives an item, and the confidence attribute of each. The form factor
# is read too but not stored: against the hand labels it finds tablets with precision 0.44
# (eval/reports/vision), worse than the catalogs' own phone/tablet by screen size.
COLOUR, COLOUR_CONFIDENCE = "colour", "colour_confidence"
DERIVED = (COLOUR,)
CONFIDENCES = (COLOUR_CONFIDENCE,)
# The roles the derived attributes play (see convrec.catalog.schema.ROLES).
ROLES: Mapping[str, tuple[str, ...]] = {
    "derived": DERIVED,
    "hidden": CONFIDENCES,
    "unread": CONFIDENCES,
    "never_ask": DERIVED + CONFIDENCES,
    "unlisted": CONFIDENCES,
}
# Below this confidence a derived value is not stored: an unsure colour is no fact.
MIN_CONFIDENCE = 0.35

_SIDE = 192  # the photo is read at most this many pixels on its longer side
_BG_TOLERANCE = 0.03  # how far (0..1 per channel) a pixel may be from the background colour
_GAP = 0.03  # a column with less device than this share of the height separates views
_MIN_VIEW = 0.2  # a view smaller than this share of the largest one is a detail, not a view
_FRAME = 0.1  # the frame band's width, as a share of the view's shorter side
_SIDE_VIEW = 4.0  # a view this many times taller than wide is a side view
_TABLET, _FLIP = 1.6, 2.45  # slimness (long / short side): below it a tablet; phones up to _FLIP
_TINT = 0.06  # light pixels whose mean colour has this much chroma share a tint


@dataclass(frozen=True)
class Visual:
    """What one photo shows: the body colour family and the form factor, each with a confidence
    in [0, 1] (the share of the deciding pixels, or how typical the shape is)."""

    colour: str
    colour_confidence: float
    form: str
    form_confidence: float
    colours: Mapping[str, float]  # every family's share of the deciding pixels

    def attributes(self, minimum: float = MIN_CONFIDENCE) -> dict[str, str | float]:
        """The item attributes this photo supports: its colour, unless unsure."""
        if self.colour_confidence < minimum:
            return {}
        return {COLOUR: self.colour, COLOUR_CONFIDENCE: round(self.colour_confidence, 3)}


def families(rgb: np.ndarray) -> np.ndarray:
    """Each pixel's colour family, as an index into :data:`COLOURS` (``rgb``: floats in 0..1)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    chroma = mx - mn
    v = mx
    s = np.where(mx > 0, chroma / np.maximum(mx, 1e-6), 0.0)
    safe = np.maximum(chroma, 1e-6)
    h = (
        np.select(
            [mx == r, mx == g],
            [((g - b) / safe) % 6, (b - r) / safe + 2],
            (r - g) / safe + 4,
        )
        * 60.0
    )
    idx = {name: i for i, name in enumerate(COLOURS)}
    out = np.full(rgb.shape[:-1], idx["silver"], dtype=np.int8)
    grey = (s < 0.2) | (chroma < 0.09)
    out[grey & (v >= 0.8)] = idx["white"]
    out[grey & (v < 0.8)] = idx["silver"]
    out[grey & (v < 0.35)] = idx["black"]
    hue = ~grey
    warm = hue & (h >= 15) & (h < 70)
    out[hue & ((h < 15) | (h >= 345))] = idx["red"]
    out[hue & ((h < 15) | (h >= 345)) & (s < 0.55) & (v > 0.7)] = idx["pink"]
    out[warm & (s >= 0.6) & (v > 0.6) & (h < 42)] = idx["orange"]
    out[warm & (s >= 0.45) & (v > 0.6) & (h >= 42)] = idx["yellow"]
    out[warm & (s < 0.6) & (v > 0.5) & ~((s >= 0.45) & (h >= 42))] = idx["gold"]
    out[warm & (v <= 0.5)] = idx["brown"]
    out[hue & (h >= 70) & (h < 170)] = idx["green"]
    out[hue & (h >= 170) & (h < 255)] = idx["blue"]
    out[hue & (h >= 255) & (h < 290)] = idx["purple"]
    out[hue & (h >= 290) & (h < 345)] = idx["pink"]
    out[hue & (h >= 290) & (h < 345) & (v < 0.4)] = idx["purple"]
    out[v < 0.2] = idx["black"]
    return out


def _foreground(rgb: np.ndarray) -> np.ndarray:
    """True where the device is: not the background that reaches the border in its colour."""
    from scipy import ndimage

    corners = np.concatenate([rgb[:3, :3], rgb[:3, -3:], rgb[-3:, :3], rgb[-3:, -3:]])
    background = np.median(corners.reshape(-1, 3), axis=0)  # the views may fill the edges
    near = np.abs(rgb - background).max(axis=-1) <= _BG_TOLERANCE
    labels, _ = ndimage.label(near)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    outside = np.isin(labels, edge[edge > 0])
    return ndimage.binary_fill_holes(ndimage.binary_opening(~outside, iterations=1))


def _views(fg: np.ndarray) -> list[np.ndarray]:
    """The device views: the foreground split at empty columns (views stand side by side, and a
    shadow may join them), each at least :data:`_MIN_VIEW` of the largest one. A part shaped
    like two slates side by side (a front touching its back) is split in two."""
    used = fg.sum(axis=0) > max(1, _GAP * fg.shape[0])
    views, start = [], None
    for x, on in enumerate([*used, False]):
        if on and start is None:
            start = x
        elif not on and start is not None:
            views.extend(_pair(fg, start, x))
            start = None
    if not views:
        return []
    sizes = [int(v.sum()) for v in views]
    return [v for v, size in zip(views, sizes, strict=True) if size >= _MIN_VIEW * max(sizes)]


def _pair(fg: np.ndarray, start: int, end: int) -> list[np.ndarray]:
    """The foreground in columns ``start:end``, as one view or, when each half would have a
    phone's proportions, as two (split at the slimmest column of the middle)."""
    rows = np.nonzero(fg[:, start:end].any(axis=1))[0]
    height, width = (int(np.ptp(rows)) + 1 if len(rows) else 0), end - start
    cuts = [start, end]
    if height and _TABLET <= height / (width / 2) <= _FLIP:
        third = width // 3
        middle = fg[:, start + third : end - third].sum(axis=0)
        cuts = [start, start + third + int(np.argmin(middle)), end]
    out = []
    for a, b in itertools.pairwise(cuts):
        view = np.zeros_like(fg)
        view[:, a:b] = fg[:, a:b]
        out.append(view)
    return out


def _shares(fam: np.ndarray, mask: np.ndarray) -> np.ndarray:
    counts = np.bincount(fam[mask].ravel(), minlength=len(COLOURS)).astype(float)
    return counts / max(counts.sum(), 1.0)


def _frame(view: np.ndarray) -> np.ndarray:
    """The band along a view's edge (its frame, when the view is a front)."""
    from scipy import ndimage

    ys, xs = np.nonzero(view)
    short = min(int(np.ptp(ys)) + 1, int(np.ptp(xs)) + 1)
    width = max(1, round(_FRAME * short))
    return view & ~ndimage.binary_erosion(view, iterations=width)


def _colour(rgb: np.ndarray, fam: np.ndarray, views: Sequence[np.ndarray]) -> np.ndarray:
    """The family shares that decide the body colour (see the module's docstring). Several
    views: the last full view (a front is shown first and its back beside it; a thin side view
    does not count). A lone view is read whole when uniform (a back), else by its frame. A pale
    body (light pink, baby blue, champagne) reads as white pixel by pixel: when the white or
    silver pixels share one tint, they count as that tint's family."""
    if not views:
        return np.zeros(len(COLOURS))
    full = [v for v in views if _slimness(v) <= _SIDE_VIEW] or list(views)
    mask = full[-1]
    if len(full) == 1:  # a front (its screen is no body) or a back: its frame is the body
        mask = _frame(full[0])
    shares = _shares(fam, mask)
    top = int(shares.argmax())
    if COLOURS[top] == "white":
        tint = _tint(rgb[mask & (fam == top)])
        if tint is not None:
            shares[COLOURS.index(tint)] += shares[top]
            shares[top] = 0.0
    return shares


def _tint(pixels: np.ndarray) -> str | None:
    """The family of the tint light pixels share (their mean colour), if they share one."""
    if len(pixels) == 0:
        return None
    mean = pixels.mean(axis=0, keepdims=True)
    chroma = float(mean.max() - mean.min())
    if chroma < _TINT:
        return None
    low = float(mean.min())  # stretch the tint to full saturation, keep its hue
    vivid = (mean - low) / max(chroma, 1e-6) * 0.6 + 0.35
    tinted = COLOURS[int(families(vivid).ravel()[0])]
    return {"red": "pink", "orange": "gold", "yellow": "gold"}.get(tinted, tinted)


def _slimness(view: np.ndarray) -> float:
    """The view's long side over its short side."""
    ys, xs = np.nonzero(view)
    h, w = int(np.ptp(ys)) + 1, int(np.ptp(xs)) + 1
    return max(h, w) / min(h, w)


def _form(views: Sequence[np.ndarray]) -> tuple[str, float]:
    """Phone or tablet from the views' proportions: the slimmest view that is not a side view
    decides (a slate taller than wide less than :data:`_TABLET` times is a tablet). Flip phones
    and watches are left to the catalog: from the outline alone a slider, a tall phone and an
    open clamshell look alike."""
    ratios = [r for r in map(_slimness, views) if r <= _SIDE_VIEW]
    if not ratios:
        return "phone", 0.0
    ratio = max(ratios)
    if ratio < _TABLET:
        return "tablet", float(np.clip((_TABLET - ratio) / 0.25, 0.0, 1.0))
    return "phone", float(np.clip((ratio - _TABLET) / 0.15, 0.0, 1.0))


def read(path: Path) -> Visual:
    """The :class:`Visual` of one photo. Raises OSError / PIL errors on an unreadable file."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB")
        small.thumbnail((_SIDE, _SIDE))
        rgb = np.asarray(small, dtype=np.float32) / 255.0
    views = _views(_foreground(rgb))
    fam = families(rgb)
    shares = _colour(rgb, fam, views)
    top = int(np.argmax(shares))
    form, form_confidence = _form(views)
    return Visual(
        colour=COLOURS[top],
        colour_confidence=float(shares[top]),
        form=form,
        form_confidence=form_confidence,
        colours={c: round(float(x), 3) for c, x in zip(COLOURS, shares, strict=True) if x > 0},
    )


def derive(items: Sequence[Item], image_of: Callable[[Item], Path | None]) -> list[Item]:
    """``items`` with the attributes their first photo supports (:meth:`Visual.attributes`);
    an item without a readable photo is kept as it is. An item's own attribute of the same name
    is never overwritten (the catalog's word beats the pixels)."""
    from convrec.catalog.convert import check_image

    out, unread = [], 0
    for item in tqdm(items, desc="photos", unit="item", disable=len(items) < 50):
        path = image_of(item)
        if path is None or check_image(path) is not None:
            unread += path is not None
            out.append(item)
            continue
        found = read(path).attributes()
        extra = {k: v for k, v in found.items() if k not in item.attributes}
        out.append(replace(item, attributes={**item.attributes, **extra}) if extra else item)
    if unread:
        log.warning("%d photos could not be read: those items get no derived attributes", unread)
    return out


def summary(items: Sequence[Item]) -> dict[str, Any]:
    """What was derived, for the catalog manifest: the method, the threshold and the counts."""
    counts: dict[str, dict[str, int]] = {name: {} for name in DERIVED}
    for item in items:
        for name in DERIVED:
            value = item.attributes.get(name)
            if isinstance(value, str):
                counts[name][value] = counts[name].get(value, 0) + 1
    return {
        "from": "the item's first photo (convrec.catalog.visual)",
        "attributes": list(DERIVED),
        "confidence": dict(zip(DERIVED, CONFIDENCES, strict=True)),
        "min_confidence": MIN_CONFIDENCE,
        "counts": counts,
    }


def with_roles(roles: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """``roles`` plus the roles of the derived attributes (:data:`ROLES`)."""
    out = {role: list(names) for role, names in roles.items()}
    for role, names in ROLES.items():
        out[role] = list(dict.fromkeys([*out.get(role, []), *names]))
    return out
