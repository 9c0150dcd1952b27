"""``convrec eval --suite inspired``: the INSPIRED turn-level protocol for our system (with and
without the LLM) and the baselines, on the movies catalog, in one run (see :mod:`.inspired`)."""

from __future__ import annotations

import logging
from pathlib import Path

from convrec.errors import InputError
from convrec.evaluation.baselines import BASELINES, Ranker, SystemRanker, make_baselines
from convrec.evaluation.inspired import evaluate, load_turns
from convrec.evaluation.suite import SYSTEMS, EvalContext, SuiteResult

log = logging.getLogger(__name__)

CURVE_KS = (1, 5, 10, 20, 50)
QUICK_TURNS = 4
# Published numbers on INSPIRED, from papers with a DIFFERENT catalog and setup: context only.
REFERENCES = (
    ("GPT-4 zero-shot (He et al., CIKM 2023)", {"R@1": 0.066, "R@10": 0.185, "R@20": 0.218}),
    ("UniCRS (Wang et al., KDD 2022)", {"R@1": 0.09}),
)
DEFAULT_TSV = Path("../shared/data/inspired/dev.tsv")
COLUMNS = ("R@1", "R@10", "R@50", "NDCG@10", "dedup_R@1", "dedup_R@10", "dedup_R@50")


def run(ctx: EvalContext, tsv: Path | None = None) -> SuiteResult:
    """Rank the movies catalog before every covered recommender turn, for every system."""
    from convrec.catalog.layout import open_catalog

    tsv = tsv or ctx.tsv or DEFAULT_TSV
    if not tsv.is_file():
        raise InputError(
            f"No INSPIRED split at {tsv}. Fix: pass --tsv PATH to a dev/test .tsv in the INSPIRED "
            "format (columns dialog_id, utt_id, speaker, text, movies)."
        )
    catalog = open_catalog("movies", ctx.settings)
    turns, stats = load_turns(tsv, catalog)
    if ctx.quick:
        turns = turns[:QUICK_TURNS]
    rankers: dict[str, Ranker] = {
        name: SystemRanker(ctx.system(name, "movies")) for name in SYSTEMS
    }
    rankers.update(make_baselines(catalog, ctx.settings, BASELINES))
    journals = {name: ctx.journal("inspired", name, tsv=str(tsv.resolve())) for name in rankers}
    results = evaluate(turns, rankers, CURVE_KS, journals)
    curves = {
        "INSPIRED: Recall@k": {
            name: [(float(k), m.get(f"R@{k}", 0.0)) for k in CURVE_KS]
            for name, m in results.items()
        }
    }
    details = {
        "tsv": str(tsv),
        "catalog_items": len(catalog),
        "evaluated_turns": len(turns),
        "stats": stats,
        "references": [{"source": who, **nums} for who, nums in REFERENCES],
    }
    return SuiteResult("inspired", results, details, _markdown(results, details), curves)


def _markdown(results: dict[str, dict[str, float]], details: dict[str, object]) -> str:
    stats = details["stats"]
    assert isinstance(stats, dict)
    lines = [
        "### INSPIRED (turn-level, movies catalog)",
        "",
        f"Split: `{details['tsv']}`. {details['evaluated_turns']} recommender turns evaluated "
        f"(of {stats['recommender_turns_with_movies']} that name a movie; the others' targets are "
        f"not in the catalog). Target coverage: {stats['distinct_targets_in_catalog']} of "
        f"{stats['distinct_targets']} titles ({stats['target_coverage']:.1%}). "
        "dedup: targets not mentioned earlier in the dialogue.",
        "",
        "| system | " + " | ".join(COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    best = {c: max(m.get(c, 0.0) for m in results.values()) for c in COLUMNS}
    for name, m in sorted(results.items(), key=lambda kv: -kv[1].get("R@10", 0.0)):
        cells = [_cell(m.get(c, 0.0), best[c]) for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Published numbers (other catalogs and setups, for context only):", ""]
    lines += [
        f"- {who}: " + ", ".join(f"{k} {v:.3f}" for k, v in nums.items())
        for who, nums in REFERENCES
    ]
    return "\n".join(lines) + "\n"


def _cell(value: float, best: float) -> str:
    return f"**{value:.3f}**" if value == best and best > 0 else f"{value:.3f}"
