"""Labelling tool for the phone photos: numbered contact sheets to label by eye, and a checker.

Usage:
  python eval/vision/sheets.py order                  # the seeded labelling order (id per line)
  python eval/vision/sheets.py sheet START [--n 12]   # render photos START..START+n of that order
  python eval/vision/sheets.py one ID                 # one photo, large
  python eval/vision/sheets.py check FILE             # validate a labels file (labels.jsonl: two
                                                      # labellers, a: 0–199, b: 160–379)

Sheets go to ~/.cache/convrec/vision/sheets/ (the photos are third-party data: never committed).
A label line is {"id", "image", "colour", "form", "labeller", "note"}; colour is the body colour
(casing or back, not the screen) as one of COLOURS, form one of FORMS.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from convrec import catalog_dir
from convrec.config import load_settings

COLOURS = ("black", "white", "silver", "gold", "red", "pink", "blue", "green", "purple",
           "yellow", "orange", "brown")  # fmt: skip
FORMS = ("phone", "tablet", "watch", "flip")
OUT = Path.home() / ".cache" / "convrec" / "vision" / "sheets"
SEED = 0
THUMB = 260


def photos() -> list[tuple[str, Path]]:
    """(item id, image path) for every phones item with a photo, in the seeded labelling order."""
    root = catalog_dir("phones", load_settings())
    rows = []
    with open(root / "items.jsonl", encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            if item.get("image_paths"):
                rows.append((item["id"], root / item["image_paths"][0]))
    rows.sort()
    random.Random(SEED).shuffle(rows)
    return rows


def sheet(start: int, n: int) -> Path:
    rows = photos()[start : start + n]
    cols = 4
    cell_h = THUMB + 22
    canvas = Image.new("RGB", (cols * THUMB, -(-len(rows) // cols) * cell_h), (128, 128, 128))
    draw = ImageDraw.Draw(canvas)
    for i, (item_id, path) in enumerate(rows):
        with Image.open(path) as im:
            thumb = im.convert("RGB")
            thumb.thumbnail((THUMB - 6, THUMB - 6))
        x, y = (i % cols) * THUMB, (i // cols) * cell_h
        canvas.paste(thumb, (x + 3, y + 3))
        draw.text((x + 4, y + THUMB + 4), f"#{start + i}  {item_id}", fill=(255, 255, 255))
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"sheet_{start:03d}.png"
    canvas.save(out)
    return out


def one(item_id: str) -> Path:
    path = dict(photos())[item_id]
    OUT.mkdir(parents=True, exist_ok=True)
    with Image.open(path) as im:
        big = im.convert("RGB")
        big.thumbnail((900, 900))
    out = OUT / f"one_{item_id}.png"
    big.save(out)
    return out


def check(path: Path) -> list[str]:
    """The problems in a labels file (empty when it is valid)."""
    known = dict(photos())
    problems, seen = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        key = (row.get("id"), row.get("labeller"))
        if row.get("id") not in known:
            problems.append(f"line {n}: unknown id {row.get('id')!r}")
        if row.get("colour") not in COLOURS:
            problems.append(f"line {n}: colour {row.get('colour')!r} not in {COLOURS}")
        if row.get("form") not in FORMS:
            problems.append(f"line {n}: form {row.get('form')!r} not in {FORMS}")
        if key in seen:
            problems.append(f"line {n}: {key} labelled twice")
        seen.add(key)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("order")
    s = sub.add_parser("sheet")
    s.add_argument("start", type=int)
    s.add_argument("--n", type=int, default=12)
    o = sub.add_parser("one")
    o.add_argument("id")
    c = sub.add_parser("check")
    c.add_argument("file", type=Path)
    args = parser.parse_args()
    if args.cmd == "order":
        for i, (item_id, _) in enumerate(photos()):
            sys.stdout.write(f"{i}\t{item_id}\n")
    elif args.cmd == "sheet":
        sys.stdout.write(f"{sheet(args.start, args.n)}\n")
    elif args.cmd == "one":
        sys.stdout.write(f"{one(args.id)}\n")
    else:
        problems = check(args.file)
        sys.stdout.write("\n".join(problems) + ("\n" if problems else "valid\n"))
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
