"""INSPIRED turn-level evaluation: the full system beside the baselines, same catalog, same run.

    HF_HUB_OFFLINE=1 python eval/inspired/report.py [--tsv ../shared/data/inspired/dev.tsv]
        [--systems popularity,bm25,dense,mentioned,full] [--limit N] [--out eval/inspired]

Writes report.json and report.md. The movies catalog must be built and its text channel indexed
(`convrec catalog build movies && convrec index movies`).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

from convrec import ConvRecError, load_settings
from convrec.evaluation.baselines import (
    BM25Ranker,
    Context,
    DenseRanker,
    MentionedRanker,
    PopularityRanker,
    Ranker,
)
from convrec.evaluation.inspired.data import KS, evaluate, load_turns

log = logging.getLogger("eval.inspired")
HERE = Path(__file__).resolve().parent
DEFAULT_TSV = HERE.parents[2] / "shared" / "data" / "inspired" / "dev.tsv"
# Published numbers on INSPIRED, from papers with a DIFFERENT catalog and setup: context only.
REFERENCES = [
    ("GPT-4 zero-shot (He et al., CIKM 2023)", "R@1 .066, R@10 .185, R@20 .218"),
    ("UniCRS (Wang et al., KDD 2022)", "R@1 ≈ .09"),
]


class SystemRanker:
    """The full system through the public API: ``ConvRec.recommend(messages, k)``."""

    def __init__(self, rec: Any) -> None:
        self.rec = rec

    def rank(self, context: Context, k: int) -> list[str]:
        messages = [{"role": m.role, "content": m.content} for m in context.messages]
        if not any(m["role"] == "user" for m in messages):
            return []  # nothing said by the seeker yet: the system has nothing to go on
        try:
            return [r.item_id for r in self.rec.recommend(messages, k=k, explain=False)]
        except ConvRecError as e:
            log.warning("system failed on a turn: %s", e)
            return []


def rankers(names: list[str], catalog: Any, settings: Any) -> dict[str, Ranker]:
    out: dict[str, Ranker] = {}
    for name in names:
        if name == "popularity":
            out[name] = PopularityRanker(catalog)
        elif name == "bm25":
            out[name] = BM25Ranker(catalog)
        elif name == "dense":
            from convrec.backends.chroma_store import make_store
            from convrec.backends.st_embedder import SentenceTransformerEmbedder

            embedder = SentenceTransformerEmbedder.from_settings(settings)
            out[name] = DenseRanker(catalog, embedder, make_store(settings))
        elif name == "mentioned":
            out[name] = MentionedRanker()
        elif name == "full":
            from convrec import ConvRec

            out[name] = SystemRanker(ConvRec.from_config(catalog="movies", settings=settings))
        else:
            raise SystemExit(f"unknown system {name!r}")
    return out


def markdown(report: dict[str, Any]) -> str:
    s = report["stats"]
    lines = [
        "# INSPIRED dev: turn-level recommendation",
        "",
        f"Command: `{report['command']}`. Catalog: movies ({report['catalog_items']} items).",
        f"Turns: {s['recommender_turns_with_movies']} recommender turns name a movie; "
        f"{s['turns_with_a_covered_target']} have a target in the catalog (evaluated), "
        f"{s['turns_with_a_new_covered_target']} have a target not mentioned before (dedup). "
        f"Target coverage: {s['distinct_targets_in_catalog']} of {s['distinct_targets']} distinct "
        f"titles ({s['target_coverage']:.1%}).",
        "",
        "| system | R@1 | R@10 | R@50 | NDCG@10 | dedup R@1 | dedup R@10 | dedup R@50 "
        "| dedup NDCG@10 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in report["results"].items():
        cells = [f"{m.get(key, 0.0):.3f}" for key in
                 ("R@1", "R@10", "R@50", "NDCG@10", "dedup_R@1", "dedup_R@10", "dedup_R@50",
                  "dedup_NDCG@10")]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Published reference numbers (different catalogs and setups; not comparable):",
        "",
    ]
    lines += [f"- {who}: {what}" for who, what in REFERENCES]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tsv", type=Path, default=DEFAULT_TSV)
    parser.add_argument("--systems", default="popularity,bm25,dense,mentioned,full")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N turns")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--config")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from convrec.catalog.layout import open_catalog

    settings = load_settings(args.config)
    catalog = open_catalog("movies", settings)
    turns, stats = load_turns(args.tsv, catalog)
    if args.limit:
        turns = turns[: args.limit]
    start = time.perf_counter()
    results = evaluate(turns, rankers(args.systems.split(","), catalog, settings), KS)
    report = {
        "command": " ".join(
            ["python eval/inspired/report.py", f"--systems {args.systems}"]
            + ([f"--limit {args.limit}"] if args.limit else [])
        ),
        "machine": {"cpu": platform.machine(), "python": platform.python_version()},
        "tsv": str(args.tsv),
        "catalog_items": len(catalog),
        "evaluated_turns": len(turns),
        "stats": stats,
        "results": results,
        "seconds": round(time.perf_counter() - start, 1),
        "references": REFERENCES,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "report.md").write_text(markdown(report))
    log.info("wrote %s", args.out / "report.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
