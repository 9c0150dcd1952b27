"""Image–text models compared on the hand labels: which phone photos each finds for a colour.

Usage: HF_HUB_OFFLINE=1 python eval/vision/clip_compare.py NAME=SPEC [NAME=SPEC ...] [--out DIR]
(SPEC: convrec-clip, a checkpoint directory, or an open_clip ARCH/TAG). Needs the phones catalog
built and `convrec train-clip --data default` run once (its render index names the held-out
photos). Writes DIR/clip_compare.json and .md (default eval/reports/vision).

Each model embeds the 380 labelled phone photos and the requests "a {colour} phone", "I want a
{colour} phone", "do you have any {colour} phones?"; precision@10 is the share of the 10 nearest
photos whose hand label is that colour, averaged over the phrasings. The photos the models were
trained on are most of these (90%; the held-out 10% are too few for a top-10), so this measures
what a model learnt to see in the catalog's own photos, not how it generalises to new ones.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from report import COLOURS, REQUESTS, load_labels  # noqa: E402
from sheets import photos  # noqa: E402

from convrec.backends.clip_embedder import OpenClipEmbedder  # noqa: E402
from convrec.config import load_settings  # noqa: E402

K = 10


def precision(spec: str, truth: dict[str, dict[str, Any]]) -> dict[str, float]:
    settings = load_settings()
    model = OpenClipEmbedder.from_spec(spec, settings)
    rows = [(i, p) for i, p in photos() if i in truth]
    ids = [i for i, _ in rows]
    images = np.asarray(model.encode_images([str(p) for _, p in rows]), dtype=np.float32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    out = {}
    for colour in COLOURS:
        texts = [t.format(c=colour) for t in REQUESTS]
        queries = np.asarray(model.encode_texts(texts), dtype=np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        scores = []
        for q in queries:
            top = np.argsort(-(images @ q))[:K]
            scores.append(sum(truth[ids[j]]["colour"] == colour for j in top) / K)
        out[colour] = round(float(np.mean(scores)), 3)
    out["mean"] = round(float(np.mean([out[c] for c in COLOURS])), 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="NAME=SPEC")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "reports" / "vision")
    args = parser.parse_args()
    truth, _ = load_labels(HERE / "labels.jsonl")
    result = {}
    for entry in args.models:
        name, _, spec = entry.partition("=")
        result[name] = {"spec": spec, "p@10": precision(spec or name, truth)}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    command = "HF_HUB_OFFLINE=1 python eval/vision/clip_compare.py " + " ".join(args.models)
    lines = [
        "# Image–text models on the hand-labelled phone photos (colour requests, P@10)",
        "",
        f"Commit {commit}; command: `{command}` (version-1: the weights shipped before, from "
        "git; the retrain: `convrec train-clip` on version 1's captions, same seed).",
        "",
        "| model | " + " | ".join(COLOURS) + " | mean |",
        "|---|" + "---|" * (len(COLOURS) + 1),
    ]
    for name, r in result.items():
        p = r["p@10"]
        lines.append(f"| {name} | " + " | ".join(str(p[c]) for c in (*COLOURS, "mean")) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "clip_compare.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (args.out / "clip_compare.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
