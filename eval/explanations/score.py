"""How well each explanation checker agrees with hand labels of the raw explanations.

    .venv/bin/python eval/explanations/score.py [--dir eval/explanations]

Reads ``explanations.jsonl`` (eval/explanations/generate.py: the model's first answers and
claims.py's verdict on each) and ``labels.jsonl`` (hand labels: faithful, personalised, fluent,
note). For each checker — claims.py's verdict as recorded, and
:func:`convrec.evaluation.faithful.independent_verdict` run here on the same text — reports its
accuracy against the hand ``faithful`` label and the confusion counts (flagged but faithful:
false alarms; passed but unfaithful: misses), with every disagreement listed; plus the shares of
faithful, personalised and fluent explanations by hand. Writes report.json and report.md to
``--dir``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from convrec import load_settings
from convrec.catalog.layout import open_catalog
from convrec.evaluation.faithful import independent_verdict
from convrec.evaluation.msgcheck import MessageCheck
from convrec.evaluation.provenance import code_version
from convrec.explain.claims import checker_for
from convrec.explain.explanations import _check, clean

log = logging.getLogger("eval.explanations.score")
HERE = Path(__file__).resolve().parent
COMMAND = ".venv/bin/python eval/explanations/score.py"
CHECKERS = {
    "claims": "convrec.explain.claims via convrec.explain.explanations (as recorded: the "
    "grounding check plus the explanation stage's format rejections)",
    "claims_content": "the recorded claims verdict with the format rejections ('not a sentence', "
    "'copied the prompt') ignored: the grounding check alone",
    "faithful": "convrec.evaluation.faithful.independent_verdict (written before the "
    "explanations were generated; not changed after scoring)",
    "claims_now": "convrec.explain.claims at the scoring commit, run here on the same text "
    "(the recorded verdict is the generating commit's)",
}
FORMAT = ("not a sentence", "copied the prompt", "no explanation")
MULTI = ("directed by", "denies genre", "written by")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def liked_titles(preferences: list[str]) -> list[str]:
    """The titles the user liked or disliked, from the preference lines the model was shown."""
    out: list[str] = []
    for line in preferences:
        for label in ("liked: ", "disliked: "):
            if line.startswith(label):
                out += line[len(label) :].split("; ")
    return out


def kind(problem: str) -> str:
    """What sort of claim a checker's problem is about: "genre Musical" -> "genre",
    "maker: Sharp" -> "maker", "not a sentence" stays whole."""
    if problem in FORMAT:
        return problem
    if ":" in problem:
        return problem.split(":", 1)[0]
    return next((m for m in MULTI if problem.startswith(m)), problem.split(" ", 1)[0])


def agreement(rows: list[dict[str, Any]], checker: str) -> dict[str, Any]:
    """Accuracy of ``checker``'s pass/flag against the hand 'faithful' label, and the confusion."""
    counts = Counter((r[checker]["passed"], r["label"]["faithful"]) for r in rows)
    n = len(rows)
    tp = counts[(False, False)]  # flagged, unfaithful
    fp = counts[(False, True)]  # flagged, faithful
    fn = counts[(True, False)]  # passed, unfaithful
    tn = counts[(True, True)]  # passed, faithful
    po = (tp + tn) / n if n else 0.0
    flag, unf = (tp + fp) / n if n else 0.0, (tp + fn) / n if n else 0.0
    pe = flag * unf + (1 - flag) * (1 - unf)
    return {
        "n": n,
        "accuracy": round(po, 3),
        "cohen_kappa": round((po - pe) / (1 - pe), 3) if pe < 1 else None,
        "passed_and_faithful": tn,
        "flagged_and_unfaithful": tp,
        "flagged_but_faithful": fp,
        "passed_but_unfaithful": fn,
        "flag_precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "flag_recall": round(tp / (tp + fn), 3) if tp + fn else None,
    }


def share(rows: list[dict[str, Any]], key: str) -> float:
    return round(sum(r["label"][key] for r in rows) / len(rows), 3) if rows else 0.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=HERE)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    records = read_jsonl(args.dir / "explanations.jsonl")
    labels = {r["id"]: r for r in read_jsonl(args.dir / "labels.jsonl")}
    missing = [r["id"] for r in records if r["id"] not in labels]
    if missing:
        raise SystemExit(f"{len(missing)} explanations have no hand label, e.g. {missing[:3]}")
    settings = load_settings(None)
    catalogs = {
        name: open_catalog(name, settings) for name in sorted({r["catalog"] for r in records})
    }
    checks = {name: MessageCheck(cat) for name, cat in catalogs.items()}
    rows = []
    for r in records:
        item = catalogs[r["catalog"]][r["item_id"]]
        ok, problems = independent_verdict(
            r["raw"], item, checks[r["catalog"]], allowed=liked_titles(r["preferences"])
        )
        content = [p for p in r["claims"]["problems"] if p not in FORMAT]
        text = clean(r["raw"], item.title) if r["raw"] else ""
        stated, titles = " ".join(r["preferences"]), liked_titles(r["preferences"])
        now = (
            _check(checker_for(catalogs[r["catalog"]]), text, item, stated, titles) if text else []
        )
        now = now if text else ["no explanation"]
        rows.append(
            {
                "id": r["id"],
                "catalog": r["catalog"],
                "raw": r["raw"],
                "claims": r["claims"],
                "claims_content": {"passed": not content, "problems": content},
                "faithful": {"passed": ok, "problems": problems},
                "claims_now": {"passed": not now, "problems": now},
                "label": labels[r["id"]],
            }
        )
    groups = {"all": rows, **{c: [r for r in rows if r["catalog"] == c] for c in catalogs}}
    meta_path = args.dir / "explanations.meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    report: dict[str, Any] = {
        "commit": code_version(),
        "generated_at": meta.get("commit", "unknown"),
        "command": COMMAND,
        "n": len(rows),
        "per_catalog": {c: len(g) for c, g in groups.items() if c != "all"},
        "hand": {
            g: {k: share(rs, k) for k in ("faithful", "personalised", "fluent")}
            for g, rs in groups.items()
        },
        "checkers": {c: {g: agreement(rs, c) for g, rs in groups.items()} for c in CHECKERS},
        "checkers_agree": round(
            sum(r["claims"]["passed"] == r["faithful"]["passed"] for r in rows) / len(rows), 3
        ),
        "disagreements": {
            c: [
                {
                    "id": r["id"],
                    "kind": "flagged but faithful"
                    if r["label"]["faithful"]
                    else "passed but unfaithful",
                    "text": r["raw"],
                    "problems": r[c]["problems"],
                    "note": r["label"].get("note", ""),
                }
                for r in rows
                if r[c]["passed"] != r["label"]["faithful"]
            ]
            for c in CHECKERS
        },
    }
    report["false_alarm_kinds"] = {
        c: dict(
            Counter(
                k
                for d in report["disagreements"][c]
                if d["kind"] == "flagged but faithful"
                for k in dict.fromkeys(kind(p) for p in d["problems"])
            ).most_common()
        )
        for c in CHECKERS
    }
    (args.dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (args.dir / "report.md").write_text(markdown(report))
    for c in CHECKERS:
        a = report["checkers"][c]["all"]
        log.info(
            "%s: accuracy %.3f, %d flagged but faithful, %d passed but unfaithful",
            c,
            a["accuracy"],
            a["flagged_but_faithful"],
            a["passed_but_unfaithful"],
        )
    log.info("hand: %s; wrote %s", report["hand"]["all"], args.dir / "report.md")


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Commit: {report['commit']}",
        "",
        "# Explanation checkers against hand labels",
        "",
        f"Command: `{report['command']}` (explanations from "
        "`HF_HUB_OFFLINE=1 .venv/bin/python eval/explanations/generate.py`).",
        "",
        f"{report['n']} raw first answers of the default LLM (generated at commit "
        f"{report['generated_at']}; before any regeneration or "
        f"template), {', '.join(f'{n} {c}' for c, n in report['per_catalog'].items())}; "
        "labelled by hand from the text and the item's fields only, before any per-item verdict "
        "of either checker was looked at (generate.py's log shows only how many of each "
        "request's five passed claims.py). Explanations of one request share their phrasing, "
        "so errors come in clusters: 20 requests, not 97 independent cases.",
        "",
        "## Hand labels (share of explanations)",
        "",
        "| group | faithful | personalised | fluent |",
        "|---|---|---|---|",
    ]
    for g, h in report["hand"].items():
        lines.append(f"| {g} | {h['faithful']:.3f} | {h['personalised']:.3f} | {h['fluent']:.3f} |")
    lines += [
        "",
        "## Each checker against the hand 'faithful' label",
        "",
        "Flagged = the checker found an unsupported claim. Precision/recall of flagging the "
        "unfaithful ones.",
        "",
        "| checker | group | accuracy | kappa | passed & faithful | flagged & unfaithful "
        "| flagged but faithful | passed but unfaithful | flag precision | flag recall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c, per in report["checkers"].items():
        for g, a in per.items():
            lines.append(
                f"| {c} | {g} | {a['accuracy']:.3f} | {a['cohen_kappa']} | "
                f"{a['passed_and_faithful']} | {a['flagged_and_unfaithful']} | "
                f"{a['flagged_but_faithful']} | {a['passed_but_unfaithful']} | "
                f"{a['flag_precision']} | {a['flag_recall']} |"
            )
    lines += [
        "",
        "claims (as recorded) and faithful give the same verdict on "
        f"{report['checkers_agree']:.3f} of the explanations.",
        "",
        "Checkers: " + "; ".join(f"`{c}` = {d}" for c, d in CHECKERS.items()) + ".",
    ]
    for c, rows in report["disagreements"].items():
        lines += ["", f"## Disagreements of {c} with the hand label ({len(rows)})", ""]
        kinds = report["false_alarm_kinds"][c]
        if kinds:
            counted = ", ".join(f"{k} {n}" for k, n in kinds.items())
            lines += [f"False alarms by the kind of claim flagged (explanations): {counted}.", ""]
        for r in rows:
            why = f"; hand note: {r['note']}" if r["note"] else ""
            lines.append(
                f"- `{r['id']}` {r['kind']}: {r['text']!r} — checker: "
                f"{', '.join(r['problems']) or 'nothing'}{why}"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
