"""``convrec eval --suite inspired``: the INSPIRED turn-level protocol for our system (with and
without the LLM) and the baselines, on the movies catalog, in one run (see :mod:`.inspired`)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from convrec.errors import InputError
from convrec.evaluation.baselines import BASELINES, Ranker, SystemRanker, make_baselines
from convrec.evaluation.inspired.data import HALVES, evaluate, half, load_turns
from convrec.evaluation.metrics import mean, paired_bootstrap
from convrec.evaluation.suite import EvalContext, SuiteResult
from convrec.resources import SOURCE_ROOT

log = logging.getLogger(__name__)

CURVE_KS = (1, 5, 10, 20, 50)
QUICK_TURNS = 4
# Published numbers on INSPIRED, from papers with a DIFFERENT catalog and setup: context only.
REFERENCES = (
    ("GPT-4 zero-shot (He et al., CIKM 2023)", {"R@1": 0.066, "R@10": 0.185, "R@20": 0.218}),
    ("UniCRS (Wang et al., KDD 2022)", {"R@1": 0.09}),
)
# The dev split beside the checkout (../shared/…), wherever the command runs from.
DEFAULT_TSV = SOURCE_ROOT.parent / "shared" / "data" / "inspired" / "dev.tsv"
COLUMNS = ("R@1", "R@10", "R@50", "NDCG@10", "dedup_R@1", "dedup_R@10", "dedup_R@50")
PAIRED = ("R@10", "dedup_R@10", "dedup_R@50")  # metrics whose differences get an interval
CHECK_COLUMNS = ("R@10", "dedup_R@10", "dedup_R@50", "dedup_NDCG@10")


def run(ctx: EvalContext, tsv: Path | None = None) -> SuiteResult:
    """Rank the movies catalog before every covered recommender turn, for every system."""
    from convrec.catalog.layout import open_catalog

    tsv = check_tsv(tsv or ctx.tsv)
    catalog = open_catalog("movies", ctx.settings)
    turns, stats = load_turns(tsv, catalog)
    if ctx.quick:
        turns = turns[:QUICK_TURNS]
    rankers: dict[str, Ranker] = {
        name: SystemRanker(ctx.system(name, "movies")) for name in ctx.systems
    }
    rankers.update(make_baselines(catalog, ctx.settings, BASELINES))
    journals = {name: ctx.journal("inspired", name, tsv=str(tsv.resolve())) for name in rankers}
    per_turn: dict[str, dict[str, list[tuple[str, float]]]] = {}
    results = evaluate(turns, rankers, CURVE_KS, journals, per_turn)
    by_half = {h: _half_means(per_turn, h) for h in HALVES}
    for name, metrics in results.items():
        for h, means in by_half.items():
            metrics.update({f"{h}:{m}": v for m, v in means.get(name, {}).items()})
    curves = {
        "INSPIRED: Recall@k": {
            name: [(float(k), m.get(f"R@{k}", 0.0)) for k in CURVE_KS]
            for name, m in results.items()
        }
    }
    details = {
        "tsv": str(tsv),
        "split": split_of(tsv),
        "tsv_sha256": hashlib.sha256(tsv.read_bytes()).hexdigest(),
        "catalog_items": len(catalog),
        "evaluated_turns": len(turns),
        "stats": stats,
        "references": [{"source": who, **nums} for who, nums in REFERENCES],
        "paired": paired(per_turn, ctx.seed),
        "paired_check": paired(per_turn, ctx.seed, only="check"),
        "halves": {
            h: sorted({t.dialog_id for t in turns if half(t.dialog_id) == h}) for h in HALVES
        },
    }
    return SuiteResult("inspired", results, details, _markdown(results, details), curves)


PerTurn = dict[str, dict[str, list[tuple[str, float]]]]


def check_tsv(tsv: Path | None) -> Path:
    """``tsv`` (default :data:`DEFAULT_TSV`) when it is a file, else a clear error: checked
    before any suite runs, not after hours of simulation."""
    tsv = tsv or DEFAULT_TSV
    if not tsv.is_file():
        raise InputError(
            f"No INSPIRED split at {tsv}. Fix: pass --tsv PATH to a dev/test .tsv in the INSPIRED "
            "format (columns dialog_id, utt_id, speaker, text, movies)."
        )
    return tsv


def split_of(tsv: Path) -> str:
    """``test`` for INSPIRED's test split (``test.tsv``: held out from all development), else
    ``dev`` (split into a tune and a check half by
    :func:`~convrec.evaluation.inspired.data.half`)."""
    return "test" if tsv.stem == "test" else "dev"


def _half_means(per_turn: PerTurn, which: str) -> dict[str, dict[str, float]]:
    """Each ranker's mean metrics over the turns of one half of the split."""
    return {
        name: {
            m: mean([v for d, v in rows if half(d) == which])
            for m, rows in metrics.items()
            if any(half(d) == which for d, _ in rows)
        }
        for name, metrics in per_turn.items()
    }


def per_dialogue(rows: list[tuple[str, float]], only: str | None = None) -> dict[str, float]:
    """The mean of each dialogue's turns (of one half when ``only`` is set)."""
    groups: dict[str, list[float]] = {}
    for d, v in rows:
        if only is None or half(d) == only:
            groups.setdefault(d, []).append(v)
    return {d: mean(vs) for d, vs in groups.items()}


def paired(per_turn: PerTurn, seed: int, only: str | None = None) -> list[dict[str, object]]:
    """``full`` (else ``no-llm``) minus every other ranker on the :data:`PAIRED` metrics: the
    mean per-dialogue difference and its 95% bootstrap interval, dialogues resampled (turns of
    one dialogue are not independent). ``only``: the dialogues of one half of the split."""
    ours_name = "full" if "full" in per_turn else "no-llm"
    ours = per_turn.get(ours_name)
    if ours is None:
        return []
    rows: list[dict[str, object]] = []
    for name, theirs in per_turn.items():
        if name == ours_name:
            continue
        for metric in PAIRED:
            if metric in ours and metric in theirs:
                a, b = per_dialogue(ours[metric], only), per_dialogue(theirs[metric], only)
                common = sorted(set(a) & set(b))
                diff, lo, hi = paired_bootstrap([a[d] for d in common], [b[d] for d in common],
                                                seed=seed)  # fmt: skip
                rows.append({"system": ours_name, "versus": name, "metric": metric,
                             "dialogues": len(common), "diff": diff, "low": lo,
                             "high": hi})  # fmt: skip
    return rows


def _markdown(results: dict[str, dict[str, float]], details: dict[str, object]) -> str:
    stats = details["stats"]
    assert isinstance(stats, dict)
    len_old = stats["turns_with_a_covered_target"] - stats["turns_with_a_new_covered_target"]
    lines = [
        f"### INSPIRED {details.get('split', 'dev')} split (turn-level, movies catalog)",
        "",
        f"Split: `{details['tsv']}`. {details['evaluated_turns']} recommender turns evaluated "
        f"(of {stats['recommender_turns_with_movies']} that name a movie; the others' targets are "
        f"not in the catalog). Target coverage: {stats['distinct_targets_in_catalog']} of "
        f"{stats['distinct_targets']} titles ({stats['target_coverage']:.1%}). "
        "dedup: targets not mentioned earlier in the dialogue.",
        "",
        f"Our systems never re-recommend a movie the dialogue already named (it counts as seen), "
        f"so on the {len_old} turns whose targets were all named before they score 0 by design; "
        "those turns are all that `mentioned` can score on. The dedup columns compare every "
        "system on new targets only.",
        "",
        "| system | " + " | ".join(COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    best = {c: max(m.get(c, 0.0) for m in results.values()) for c in COLUMNS}
    for name, m in sorted(results.items(), key=lambda kv: -kv[1].get("R@10", 0.0)):
        cells = [_cell(m.get(c, 0.0), best[c]) for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if details.get("split") == "test":
        lines += [
            "",
            f"**Held-out test split** (sha256 `{str(details.get('tsv_sha256'))[:12]}`): no rule, "
            "weight or setting was developed or tuned on these dialogues; the dev split serves "
            "for that. These are the headline figures.",
        ]
    halves = details.get("halves")
    if isinstance(halves, dict) and details.get("split") != "test":
        n_check = len(halves.get("check", []))
        lines += [
            "",
            f"**Check half** ({n_check} dialogues, fixed by `inspired.half`): nothing was tuned "
            "on these dialogues; the tuned defaults come from the other half (eval/tune.py). "
            "These are the headline figures.",
            "",
            "| system | " + " | ".join(CHECK_COLUMNS) + " |",
            "|---" * (len(CHECK_COLUMNS) + 1) + "|",
        ]
        keys = [f"check:{c}" for c in CHECK_COLUMNS]
        top = {c: max(m.get(c, 0.0) for m in results.values()) for c in keys}
        order = sorted(results.items(), key=lambda kv: -kv[1].get("check:dedup_R@10", 0.0))
        for name, m in order:
            lines.append(
                f"| {name} | " + " | ".join(_cell(m.get(c, 0.0), top[c]) for c in keys) + " |"
            )
        lines += _paired_markdown(details.get("paired_check"), "the check half's")
    lines += _paired_markdown(details.get("paired"), "all")
    lines += ["", "Published numbers (other catalogs and setups, for context only):", ""]
    lines += [
        f"- {who}: " + ", ".join(f"{k} {v:.3f}" for k, v in nums.items())
        for who, nums in REFERENCES
    ]
    return "\n".join(lines) + "\n"


def _paired_markdown(rows: object, which: str) -> list[str]:
    if not isinstance(rows, list) or not rows:
        return []
    cells: dict[str, dict[str, str]] = {}
    for r in rows:
        cells.setdefault(r["versus"], {})[r["metric"]] = (
            f"{r['diff']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]"
        )
    lines = [
        "",
        f"Paired difference over {which} dialogues ({rows[0]['dialogues']}), `{rows[0]['system']}` "
        "minus each other system: the mean per-dialogue difference and its 95% bootstrap "
        "interval, dialogues resampled (an interval that contains 0 is within the noise):",
        "",
        "| versus | " + " | ".join(PAIRED) + " |",
        "|---" * (len(PAIRED) + 1) + "|",
    ]
    for name, by_metric in cells.items():
        lines.append(f"| {name} | " + " | ".join(by_metric.get(m, "") for m in PAIRED) + " |")
    return lines


def _cell(value: float, best: float) -> str:
    return f"**{value:.3f}**" if value == best and best > 0 else f"{value:.3f}"
