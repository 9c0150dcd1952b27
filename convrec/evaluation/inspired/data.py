"""INSPIRED turn-level protocol: rank the catalog before every recommender turn that names a movie.

For each RECOMMENDER utterance mentioning movies, the dialogue before it is the context and the
mentioned movies are the targets (as in CRSLab / UniCRS). Targets are mapped to catalog items by
normalized title and year; turns whose targets the catalog lacks are counted in the coverage and
left out of the recall. "dedup" drops targets already mentioned earlier in the dialogue.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from convrec.catalog.titles import TitleIndex
from convrec.errors import InputError
from convrec.evaluation.baselines import Context, Ranker
from convrec.evaluation.metrics import mean, ndcg_at_k, recall_at_k
from convrec.evaluation.suite import Journal
from convrec.types import Message, Role

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog

log = logging.getLogger(__name__)

KS = (1, 10, 50)
_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")
ROLES: dict[str, Role] = {"SEEKER": "user", "RECOMMENDER": "assistant"}
NEEDED = ("dialog_id", "utt_id", "speaker", "text", "movies")


HALVES = ("tune", "check")


def half(dialog_id: str) -> str:
    """Which half of the split a dialogue belongs to: ``"tune"`` (weights and rules may be fitted
    on it) or ``"check"`` (held out: reported figures come from it). Fixed by a hash of the
    dialogue id, so every script and every session splits the same way."""
    digest = hashlib.sha256(dialog_id.encode("utf-8")).digest()
    return HALVES[digest[0] % 2]


@dataclass(frozen=True)
class Turn:
    """One evaluated recommender turn."""

    dialog_id: str
    utt_id: int
    context: Context
    targets: tuple[str, ...]  # "Name (Year)" as annotated
    target_ids: tuple[str, ...]  # catalog ids of the covered targets
    new_ids: tuple[str, ...]  # covered targets not mentioned earlier in the dialogue


def _titles(cell: str) -> list[str]:
    return [t.strip() for t in cell.split(";") if t.strip()]


def _read(tsv: Path) -> list[dict[str, str]]:
    if not tsv.is_file():
        raise InputError(f"No INSPIRED file at {tsv}. Fix: pass the path of a dev/test .tsv split.")
    with tsv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    missing = [c for c in NEEDED if rows and c not in rows[0]]
    if not rows or missing:
        raise InputError(f"{tsv} is not an INSPIRED split (missing columns {missing or NEEDED}).")
    return rows


def title_index(catalog: Catalog) -> TitleIndex[str]:
    rows = []
    for it in catalog.items:
        year = it.attributes.get("year")
        rows.append((it.title, year if isinstance(year, int) else None, it.id))
    return TitleIndex(rows, tolerance=1)


def match(index: TitleIndex[str], title: str) -> str | None:
    m = _TITLE_YEAR.match(title)
    return index.find(m.group(1), int(m.group(2))) if m else index.find(title, None)


def load_turns(tsv: Path, catalog: Catalog) -> tuple[list[Turn], dict[str, Any]]:
    """The evaluated turns of ``tsv`` and coverage statistics."""
    index = title_index(catalog)
    dialogs: dict[str, list[dict[str, str]]] = {}
    for row in _read(tsv):
        dialogs.setdefault(row["dialog_id"], []).append(row)
    turns: list[Turn] = []
    all_targets: set[str] = set()
    covered: set[str] = set()
    n_turns = 0
    for dialog_id, rows in dialogs.items():
        rows.sort(key=lambda r: int(r["utt_id"]))
        messages: list[Message] = []
        mentioned: list[str] = []
        for row in rows:
            text = row["text"].replace("QUOTATION_MARK", '"').strip()
            titles = _titles(row["movies"])
            ids = [i for i in (match(index, t) for t in titles) if i is not None]
            if row["speaker"] == "RECOMMENDER" and titles:
                n_turns += 1
                all_targets.update(titles)
                covered.update(t for t in titles if match(index, t) is not None)
                if ids:
                    ctx = Context(tuple(messages), tuple(mentioned))
                    new = tuple(i for i in dict.fromkeys(ids) if i not in mentioned)
                    turns.append(
                        Turn(dialog_id, int(row["utt_id"]), ctx, tuple(titles),
                             tuple(dict.fromkeys(ids)), new)
                    )  # fmt: skip
            role: Role = ROLES.get(row["speaker"], "user")
            if messages and messages[-1].role == role:  # one message per speaker turn
                messages[-1] = Message(role, f"{messages[-1].content} {text}".strip())
            else:
                messages.append(Message(role, text))
            mentioned.extend(ids)
    stats = {
        "dialogs": len(dialogs),
        "recommender_turns_with_movies": n_turns,
        "turns_with_a_covered_target": len(turns),
        "turns_with_a_new_covered_target": sum(1 for t in turns if t.new_ids),
        "distinct_targets": len(all_targets),
        "distinct_targets_in_catalog": len(covered),
        "target_coverage": len(covered) / len(all_targets) if all_targets else 0.0,
    }
    return turns, stats


def evaluate(
    turns: Sequence[Turn],
    rankers: Mapping[str, Ranker],
    ks: Sequence[int] = KS,
    journals: Mapping[str, Journal] | None = None,
    per_turn: dict[str, dict[str, list[tuple[str, float]]]] | None = None,
) -> dict[str, dict[str, float]]:
    """Mean Recall@k and NDCG@10 per ranker, over all covered turns and deduplicated.

    With ``journals`` (one per ranker), each turn's ranked list is recorded as it is made and a
    rerun reuses it, so an interrupted run resumes. ``per_turn``, when given, receives each
    ranker's per-turn values with their dialogue, ``{ranker: {metric: [(dialog_id, value)]}}``,
    in the same turn order for every ranker (so two rankers' lists are paired).
    """
    depth = max(ks)
    out: dict[str, dict[str, float]] = {}
    for name, ranker in rankers.items():
        journal = (journals or {}).get(name)
        rows: dict[str, list[tuple[str, float]]] = {}
        for turn in tqdm(turns, desc=f"inspired {name}", unit="turn"):
            key = f"{turn.dialog_id}:{turn.utt_id}"
            ranked: list[str] = journal.get(key) if journal is not None and key in journal else []
            if journal is None or key not in journal:
                ranked = ranker.rank(turn.context, depth)
                if journal is not None:
                    journal.put(key, ranked)
            for variant, relevant in (("", turn.target_ids), ("dedup_", turn.new_ids)):
                if not relevant:
                    continue
                d = turn.dialog_id
                for k in ks:
                    value = recall_at_k(ranked, relevant, k)
                    rows.setdefault(f"{variant}R@{k}", []).append((d, value))
                rows.setdefault(f"{variant}NDCG@10", []).append(
                    (d, ndcg_at_k(ranked, relevant, 10))
                )
        out[name] = {metric: mean([v for _, v in values]) for metric, values in rows.items()}
        if per_turn is not None:
            per_turn[name] = rows
    return out
