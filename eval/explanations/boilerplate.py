"""Boilerplate in the explanations a run showed: the sentences that recur across explanations.

    python eval/explanations/boilerplate.py [JOURNAL ...] [--out eval/reports/boilerplate]

Reads the scripted suite's journals (default: eval/reports/scripted/journal/scripted-*.jsonl),
takes every recommended item's explanation from the replies ("1. Title: explanation"), splits it
into sentences and reduces each to its skeleton: the item's title and every number masked. Per
system it reports the share of explanations that hold each skeleton (the goal: none above 10%),
and the share of lists in which one sentence (title masked, numbers kept) opens at least three
of the explanations: the same reason said again and again within one reply. Writes report.json
and report.md to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from convrec.evaluation.provenance import code_version

GOAL = 0.10
_LINE = re.compile(r"^\s*\d+\.\s+(?P<title>.+?): (?P<text>.+)$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def explanations(reply: str) -> list[tuple[str, str]]:
    """(title, explanation) of each numbered line of a reply."""
    out = []
    for line in reply.splitlines():
        m = _LINE.match(line)
        if m:
            out.append((m.group("title"), m.group("text")))
    return out


def skeletons(title: str, text: str) -> list[str]:
    """The sentences of ``text``, each with ``title`` and the numbers masked."""
    return [
        _NUMBER.sub("<n>", s.replace(title, "<title>")).strip()
        for s in _SENTENCE.split(text)
        if s.strip()
    ]


def opener(title: str, text: str) -> str:
    """The first sentence of ``text``, the title masked, numbers kept: "from 2014" and "from
    2016" tell two items apart, the same words before each do not."""
    return _SENTENCE.split(text.strip())[0].replace(title, "<title>")


def measure(records: list[dict[str, Any]]) -> dict[str, Any]:
    holding: Counter[str] = Counter()
    n, lists, repeated = 0, 0, 0
    for record in records:
        for turn in record.get("turns", []):
            found = explanations(turn.get("reply", ""))
            if not found:
                continue
            lists += 1
            openers = Counter(opener(t, x) for t, x in found)
            repeated += bool(openers) and max(openers.values()) >= 3
            for title, text in found:
                n += 1
                holding.update(set(skeletons(title, text)))
    top = [{"sentence": s, "explanations": c, "share": round(c / n, 4)}
           for s, c in holding.most_common(10)] if n else []  # fmt: skip
    return {
        "explanations": n,
        "lists": lists,
        "max_share": top[0]["share"] if top else 0.0,
        "over_goal": sum(1 for s, c in holding.items() if c / max(n, 1) > GOAL),
        "lists_repeating_an_opener": round(repeated / lists, 4) if lists else 0.0,
        "top": top,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("journals", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=Path("eval/reports/boilerplate"))
    args = parser.parse_args()
    journals = args.journals or sorted(
        Path("eval/reports/scripted/journal").glob("scripted-*.jsonl")
    )
    if not journals:
        raise SystemExit("No journal found. Fix: run `convrec eval --suite scripted` first.")
    report: dict[str, Any] = {"commit": code_version(), "systems": {}}
    for path in journals:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if "value" in r]  # the first line holds the run's settings
        runs = {r.get("code") for r in rows}
        system = path.stem.removeprefix("scripted-")
        report["systems"][system] = {"journal": str(path), "ran_at": sorted(map(str, runs)),
                                     **measure([r["value"] for r in rows])}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    md = [f"# Boilerplate in the explanations, commit {report['commit']}", "",
          "`python eval/explanations/boilerplate.py` over the scripted suite's journals. A "
          "sentence's skeleton is the sentence with the item's title and every number masked; "
          f"goal: none in more than {GOAL:.0%} of the explanations.", ""]  # fmt: skip
    for system, r in report["systems"].items():
        md += [f"## {system} (replies at {', '.join(r['ran_at'])})", "",
               f"{r['explanations']} explanations in {r['lists']} lists; the most frequent "
               f"skeleton is in {r['max_share']:.1%} of them; {r['over_goal']} above the goal; "
               f"{r['lists_repeating_an_opener']:.1%} of the lists open three or more "
               "explanations with the same sentence (numbers kept).", "",
               "| skeleton | explanations | share |", "|---|---|---|",
               *(f"| {t['sentence']} | {t['explanations']} | {t['share']:.1%} |" for t in r["top"]),
               ""]  # fmt: skip
    (args.out / "report.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
