"""Liked and disliked films from real talk: the rules-only understanding on INSPIRED seekers.

Usage: python eval/understanding/titles.py [--out eval/understanding/titles_report]
       python eval/understanding/titles.py --labels eval/understanding/titles_inspired_test.jsonl \
           --tsv PATH/TO/INSPIRED/test.tsv --out eval/understanding/titles_report_test

``titles_inspired_test.jsonl`` is the held-out set: 123 SEEKER utterances of INSPIRED's test split
(data/dialog_data/test.tsv of github.com/sweetpeach/Inspired, sha256 a10f63ff2604…; not
shipped: download it to run this), labelled the same way by an assistant that neither ran nor
read the understanding code, after the rules had been changed against the dev errors. Its first
score (eval/understanding/titles_report_test_first.md) is the out-of-sample one; rules changed
after it was read make later scores in-sample.

Both files hold ids and labels only: each utterance's text is read from the split itself.

``titles_inspired.jsonl`` holds every INSPIRED dev SEEKER utterance whose annotated films the
movies catalog has, with the seeker's polarity per film labelled by hand (liked, disliked,
neutral: named without an opinion, asked about, not seen, or not talked about at all where the
annotation is wrong). Films the annotation missed or mis-mapped are added (``source: added``).
A request for films "similar to X" counts as liking X.

Each utterance is read as the system reads it (:func:`convrec.dialogue.understand.understand`, no
LLM):
the user's message last, the dialogue before it as history (one message per speaker turn) and
the state left by the seeker's earlier messages. Per half (tune, check, all):

- recall: labelled liked/disliked (item, polarity) pairs found with that polarity;
- precision: (item, polarity) pairs the system put in liked_items / disliked_items that carry
  that label (a neutral or unlabelled item counts as wrong);
- look-alikes: resolved items (liked, disliked, seen, mentioned) whose title contains a labelled
  film's title but that are another item ("The Matrix Revolutions" for "The Matrix").
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from convrec.catalog.layout import open_catalog
from convrec.config import load_settings
from convrec.dialogue.lexicon import Lexicon, norm_phrase
from convrec.dialogue.state import DialogueState, apply
from convrec.dialogue.understand import understand
from convrec.evaluation.inspired.data import HALVES
from convrec.types import Message, Role

HERE = Path(__file__).resolve().parent
LABELS = HERE / "titles_inspired.jsonl"
TSV = Path("/work/shared/data/inspired/dev.tsv")
ROLES: dict[str, Role] = {"SEEKER": "user", "RECOMMENDER": "assistant"}
Pair = tuple[str, str]  # (item id, "liked" | "disliked")


def commit() -> str:
    """``git rev-parse --short HEAD``, with ``+dirty`` when the work tree has changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True).stdout

    dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    return git("rev-parse", "--short", "HEAD").strip() + ("+dirty" if dirty else "")


def load_labels(path: Path = LABELS) -> dict[tuple[str, int], dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return {(r["dialog_id"], r["utt_id"]): r for r in rows}


def dialogues(tsv: Path = TSV) -> dict[str, list[dict[str, str]]]:
    with tsv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        out[row["dialog_id"]].append(row)
    for turns in out.values():
        turns.sort(key=lambda r: int(r["utt_id"]))
    return out


def read_all(
    labels: dict[tuple[str, int], dict[str, Any]], lex: Lexicon, tsv: Path = TSV
) -> dict[tuple[str, int], dict[str, tuple[str, ...]]]:
    """The rules' items for every labelled utterance, read in its dialogue."""
    wanted = {d for d, _ in labels}
    out: dict[tuple[str, int], dict[str, tuple[str, ...]]] = {}
    for dialog_id, rows in dialogues(tsv).items():
        if dialog_id not in wanted:
            continue
        history: list[Message] = []
        state = DialogueState()
        for row in rows:
            text = row["text"].replace("QUOTATION_MARK", '"').strip()
            role = ROLES.get(row["speaker"], "user")
            if role == "user" and text:
                got = understand([*history, Message("user", text)], state, lex, None).delta
                state = apply(state, got)
                key = (dialog_id, int(row["utt_id"]))
                if key in labels:
                    out[key] = {
                        "text": (text,),
                        "liked": got.liked_items,
                        "disliked": got.disliked_items,
                        "seen": got.seen_items,
                        "mentioned": got.mentioned,
                    }
            if history and history[-1].role == role:  # one message per speaker turn
                history[-1] = Message(role, f"{history[-1].content} {text}".strip())
            else:
                history.append(Message(role, text))
    return out


def score(
    labels: dict[tuple[str, int], dict[str, Any]],
    read: dict[tuple[str, int], dict[str, tuple[str, ...]]],
    lex: Lexicon,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Figures per half and the errors per half."""
    halves = sorted({row["half"] for row in labels.values()}, key=_half_order)
    counts: dict[str, dict[str, int]] = {h: defaultdict(int) for h in (*halves, "all")}
    errors: dict[str, list[dict[str, Any]]] = {h: [] for h in halves}
    for key, row in labels.items():
        got = read[key]
        gold: set[Pair] = {(m["item_id"], m["polarity"]) for m in row["movies"]
                           if m["polarity"] != "neutral"}  # fmt: skip
        annotated = {(m["item_id"], m["polarity"]) for m in row["movies"]
                     if m["polarity"] != "neutral" and m["source"] == "annotated"}  # fmt: skip
        pred: set[Pair] = {(i, "liked") for i in got["liked"]}
        pred |= {(i, "disliked") for i in got["disliked"]}
        named = {m["item_id"]: norm_phrase(lex.items[m["item_id"]].title) for m in row["movies"]}
        resolved = {i for k, ids in got.items() if k != "text" for i in ids}
        alike = sorted(
            i for i in resolved - set(named)
            if any(t and t in norm_phrase(lex.items[i].title) for t in named.values())
        )  # fmt: skip
        for h in (row["half"], "all"):
            c = counts[h]
            c["utterances"] += 1
            c["gold"] += len(gold)
            c["found"] += len(gold & pred)
            c["gold_annotated"] += len(annotated)
            c["found_annotated"] += len(annotated & pred)
            c["predicted"] += len(pred)
            c["correct"] += len(pred & gold)
            c["look_alikes"] += len(alike)
        if gold != pred or alike:
            title = {i: lex.items[i].title for i in {*resolved, *named}}
            errors[row["half"]].append({
                "utt": f"{key[0]}:{key[1]}",
                "text": got["text"][0],
                "missed": sorted(f"{p} {title[i]}" for i, p in gold - pred),
                "wrong": sorted(f"{p} {title[i]}" for i, p in pred - gold),
                "look_alikes": [title[i] for i in alike],
            })  # fmt: skip
    figures: dict[str, dict[str, Any]] = {}
    for h, c in counts.items():
        figures[h] = {
            **c,
            "recall": c["found"] / c["gold"] if c["gold"] else 0.0,
            "recall_annotated": c["found_annotated"] / c["gold_annotated"]
            if c["gold_annotated"]
            else 0.0,
            "precision": c["correct"] / c["predicted"] if c["predicted"] else 1.0,
        }
    return figures, errors


def _half_order(h: str) -> tuple[int, str]:
    return (HALVES.index(h) if h in HALVES else len(HALVES), h)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"commit {result['commit']}",
        "",
        "# Liked and disliked films from INSPIRED seekers (rules only)",
        "",
        f"`{result['command']}` (labels: `{result['labels']}`). Recall: labelled"
        " liked/disliked (film, polarity) pairs found; precision: pairs put in liked_items /"
        " disliked_items that carry that label; look-alikes: resolved films whose title contains"
        " a labelled film's title.",
        "",
        "| half | utterances | labelled pairs | recall | recall (annotated films) | predicted"
        " | precision | look-alikes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for h, f in result["figures"].items():
        lines.append(
            f"| {h} | {f['utterances']} | {f['gold']} | {f['recall']:.3f} ({f['found']})"
            f" | {f['recall_annotated']:.3f} ({f['found_annotated']}/{f['gold_annotated']})"
            f" | {f['predicted']} | {f['precision']:.3f} ({f['correct']}) | {f['look_alikes']} |"
        )
    for h, errs in result["errors"].items():
        lines += ["", f"## Errors, {h} half ({len(errs)})", ""]
        for e in errs:
            parts = [
                f"{k.replace('_', '-')} {', '.join(e[k])}"
                for k in ("missed", "wrong", "look_alikes")
                if e[k]
            ]
            lines.append(f"- {e['text']!r}: {'; '.join(p for p in parts if p)}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "titles_report", help="report path stem")
    ap.add_argument("--tsv", type=Path, default=TSV, help="the INSPIRED split the labels are of")
    ap.add_argument("--labels", type=Path, default=LABELS, help="labelled utterances (JSONL)")
    args = ap.parse_args(argv)
    settings = load_settings(llm={"backend": "none"})
    lex = Lexicon.from_catalog(open_catalog("movies", settings))
    labels = load_labels(args.labels)
    figures, errors = score(labels, read_all(labels, lex, args.tsv), lex)
    command = "python eval/understanding/titles.py " + " ".join(argv or sys.argv[1:])
    result = {"commit": commit(), "command": command.strip(), "labels": args.labels.name,
              "figures": figures, "errors": errors}  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    for h, f in figures.items():
        print(f"{h}: recall {f['recall']:.3f} precision {f['precision']:.3f} "
              f"look-alikes {f['look_alikes']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
