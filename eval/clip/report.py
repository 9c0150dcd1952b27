"""Held-out retrieval report and colour/kind probe for an image–text model (default: convrec-clip).

Usage: HF_HUB_OFFLINE=1 python eval/clip/report.py [--model SPEC] [--variants FILE]
Writes eval/clip/report.json and eval/clip/report.md; a contact sheet of the probe's top hits goes
to the cache (the phone photos are CC-BY-SA third-party data and are not committed).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from convrec.backends.clip_embedder import OpenClipEmbedder
from convrec.config import load_settings
from convrec.training.clip_eval import retrieval_report
from convrec.training.pairs import default_pairs

HERE = Path(__file__).resolve().parent
PROBES = ("red phone", "white phone", "black phone", "phone with a keyboard", "tablet")
TOP = 5


def colour_fractions(path: str) -> dict[str, float]:
    """Share of the device's pixels (pure-white background excluded) that are red, white, black."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB").resize((64, 64)), dtype=np.float32) / 255
        hsv = np.asarray(im.convert("RGB").resize((64, 64)).convert("HSV"), dtype=np.float32) / 255
    device = ~(rgb.min(axis=2) > 0.96)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    n = max(int(device.sum()), 1)
    red = ((h < 0.04) | (h > 0.93)) & (s > 0.45) & (v > 0.3)
    return {
        "red": float((red & device).sum() / n),
        "white": float(((v > 0.8) & (s < 0.12) & device).sum() / n),
        "black": float(((v < 0.2) & device).sum() / n),
    }


def probe(emb: OpenClipEmbedder, phones: list[Any]) -> dict[str, Any]:
    img = emb.encode_images([Path(p.image) for p in phones])
    txt = emb.encode_texts(list(PROBES))
    sims = txt @ img.T
    colours = [colour_fractions(p.image) for p in phones]
    is_tablet = np.array([" tablet " in p.caption for p in phones])
    out: dict[str, Any] = {"pool": len(phones), "tablets_in_pool": int(is_tablet.sum())}
    for q, row in zip(PROBES, sims, strict=True):
        top = np.argsort(-row)[:TOP]
        entry: dict[str, Any] = {
            "top": [{"caption": phones[i].caption, "split": phones[i].split} for i in top]
        }
        colour = q.split()[0]
        if colour in ("red", "white", "black"):
            entry["metric"] = f"mean {colour} pixel share, top {TOP} vs all phones"
            entry["top_value"] = float(np.mean([colours[i][colour] for i in top]))
            entry["pool_value"] = float(np.mean([c[colour] for c in colours]))
        elif q == "tablet":
            entry["metric"] = f"tablets (spec: screen >= 7 in) in top {TOP} vs pool rate"
            entry["top_value"] = float(is_tablet[top].mean())
            entry["pool_value"] = float(is_tablet.mean())
        out[q] = entry
    return out


def contact_sheet(phones: list[Any], emb: OpenClipEmbedder, dest: Path) -> None:
    from PIL import Image, ImageDraw

    img = emb.encode_images([Path(p.image) for p in phones])
    sims = emb.encode_texts(list(PROBES)) @ img.T
    sheet = Image.new("RGB", (TOP * 80 + 150, len(PROBES) * 160), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (q, row) in enumerate(zip(PROBES, sims, strict=True)):
        draw.text((4, r * 160 + 70), q, fill="black")
        for c, i in enumerate(np.argsort(-row)[:TOP]):
            with Image.open(phones[i].image) as src:
                thumb = src.convert("RGB")
            thumb.thumbnail((76, 156))
            sheet.paste(thumb, (150 + c * 80, r * 160 + 2))
    dest.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(dest)


def to_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Image–text model report: `{report['model']}`", ""]
    lines += [
        "Held-out split: a fixed, seeded 10% of the deduplicated images (by pixel hash); retrieval",
        "is among all held-out pairs (`all`) or within one source. Identical captions count as one",
        "answer; the random baseline is exact for the same rule. Command: "
        "`HF_HUB_OFFLINE=1 python eval/clip/report.py`.",
        "",
        "| pool | n | i→t R@1 | i→t R@5 | i→t R@10 | t→i R@1 | t→i R@5 | t→i R@10 "
        "| random R@1/5/10 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in report["heldout"].items():
        cells = [f"{m[f'{d}_R@{k}']:.3f}" for d in ("i2t", "t2i") for k in (1, 5, 10)]
        rnd = "/".join(f"{m[f'random_R@{k}']:.3f}" for k in (1, 5, 10))
        lines.append(f"| {name} | {int(m['n'])} | " + " | ".join(cells) + f" | {rnd} |")
    if report.get("variants"):
        lines += ["", "## Variants trained (same data, seed and epochs)", ""]
        lines += ["| variant | score (mean R@1/5/10 both ways, all) | final loss | weights MB |"]
        lines += ["|---|---|---|---|"]
        for name, v in report["variants"]["variants"].items():
            lines.append(
                f"| {name} | {v['score']:.3f} | {v['losses'][-1]:.3f} | {v['weights_mb']} |"
            )
        lines += ["", f"Kept: **{report['variants']['chosen']}**."]
    p = report["probe"]
    lines += ["", "## Colour and kind probe (phone photos)", ""]
    lines += [
        f"Pool: all {p['pool']} distinct phone photos (train and held-out; captions never name a",
        "colour or a keyboard, so colour can only come from the other sources through the text",
        "space). Colour shares are a pixel heuristic (device pixels, white background excluded).",
        "",
    ]
    for q in PROBES:
        e = p[q]
        lines.append(
            f"**{q}**"
            + (
                f": {e['metric']}: {e['top_value']:.3f} vs {e['pool_value']:.3f}"
                if "metric" in e
                else " (no automatic truth)"
            )
        )
        lines += [f"- {t['caption']} ({t['split']})" for t in e["top"]]
        lines.append("")
    if report.get("notes"):
        lines += ["## Reading the contact sheet", "", report["notes"], ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="convrec-clip")
    parser.add_argument("--variants", type=Path, default=HERE / "variants.json")
    parser.add_argument("--notes", type=Path, default=HERE / "probe_notes.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    settings = load_settings()
    emb = OpenClipEmbedder.from_spec(args.model, settings)
    pairs = default_pairs(settings)
    held = [p for p in pairs if p.split == "heldout"]
    img = emb.encode_images([Path(p.image) for p in held])
    txt = emb.encode_texts([p.caption for p in held])
    phones = [p for p in pairs if p.source == "phones"]
    report: dict[str, Any] = {
        "model": args.model,
        "heldout": retrieval_report(img, txt, [p.caption for p in held], [p.source for p in held]),
        "probe": probe(emb, phones),
    }
    if args.variants.is_file():
        report["variants"] = json.loads(args.variants.read_text())
    if args.notes.is_file():
        report["notes"] = args.notes.read_text().strip()
    sheet = settings.cache_path / "clip" / "probe_sheet.png"
    contact_sheet(phones, emb, sheet)
    (HERE / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (HERE / "report.md").write_text(to_markdown(report))
    logging.info("wrote %s and report.md; contact sheet %s", HERE / "report.json", sheet)


if __name__ == "__main__":
    main()
