"""Ablation on INSPIRED dev: each channel route and rerank term removed in turn.

    HF_HUB_OFFLINE=1 python eval/ablation_inspired.py [--tsv ../shared/data/inspired/dev.tsv]
        [--out eval/reports/ablation_inspired]

Same protocol as eval/tune.py (states read once by the deterministic parser, only the ranking
stage runs per variant, retrieval answers remembered), on all covered dev turns, with the
current default settings as the full system. Writes report.json and report.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm
from tune import DEFAULT_TSV, HERE, read_states, scorer, with_value

from convrec import load_settings
from convrec.evaluation.inspired.data import load_turns

log = logging.getLogger("eval.ablation_inspired")

# Variant → the settings changes that remove one channel route or rerank term.
VARIANTS: dict[str, dict[str, Any]] = {
    "full system (defaults)": {},
    "− preference text route": {"fusion.weights.text": 0.0},
    "− dialogue context route": {"fusion.weights.context": 0.0},
    "− CLIP routes (visual wishes)": {
        "fusion.weights.clip_text>clip_text": 0.0,
        "fusion.weights.clip_text>image": 0.0,
    },
    "− item-to-item routes (liked items)": {
        "fusion.item_weights.text": 0.0,
        "fusion.item_weights.clip_text": 0.0,
    },
    "− liked-item feedback term": {"rerank.liked_weight": 0.0},
    "− disliked-item feedback term": {"rerank.disliked_weight": 0.0},
    "− popularity prior": {"rerank.popularity_weight": 0.0},
    "− MMR diversity": {"rerank.mmr_lambda": 1.0},
    "− exploration": {"rerank.exploration": "off"},
    "RRF instead of weighted fusion": {"fusion.method": "rrf"},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tsv", type=Path, default=DEFAULT_TSV)
    parser.add_argument("--out", type=Path, default=HERE / "reports" / "ablation_inspired")
    parser.add_argument("--config")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from convrec import ConvRec

    base = load_settings(args.config)
    data = base.model_dump()
    data["llm"]["backend"] = "none"
    data["sessions"]["path"] = str(args.out / "sessions.db")
    base = type(base).model_validate(data)
    rec = ConvRec.from_config(settings=base, catalog="movies")
    turns, stats = load_turns(args.tsv, rec.catalog)
    start = time.perf_counter()
    score = scorer(rec, turns, read_states(rec, turns))
    rows = []
    for name, changes in tqdm(VARIANTS.items(), desc="variants", unit="variant"):
        settings = base
        for knob, value in changes.items():
            settings = with_value(settings, knob, value)
        rows.append({"variant": name, "changes": changes, **score(settings)})
    from convrec.evaluation.provenance import code_version

    result = {
        "commit": code_version(),
        "command": "python eval/ablation_inspired.py",
        "turns": len(turns),
        "stats": stats,
        "rows": rows,
        "seconds": round(time.perf_counter() - start, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    full = rows[0]
    lines = [
        f"Commit: {result['commit']}",
        "",
        "# Ablation on INSPIRED dev (ranking stage, deterministic parser)",
        "",
        f"Command: `{result['command']}` ({result['seconds']:.0f} s), {len(turns)} covered turns.",
        "Each row removes one channel route or rerank term from the default settings.",
        "",
        "| variant | R@10 | Δ | dedup R@10 | Δ | NDCG@10 |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['R@10']:.4f} | {r['R@10'] - full['R@10']:+.4f} "
            f"| {r['dedup_R@10']:.4f} | {r['dedup_R@10'] - full['dedup_R@10']:+.4f} "
            f"| {r['NDCG@10']:.4f} |"
        )
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    log.info("wrote %s", args.out / "report.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
