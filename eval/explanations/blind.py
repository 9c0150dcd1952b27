"""Explanations of two code versions and two modes, labelled blind, scored per source.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/explanations/generate.py --out eval/explanations/v2
    .venv/bin/python eval/explanations/blind.py build --work /tmp/label   # the blind set
    (a labeller writes /tmp/label/labels.jsonl; copy it to eval/explanations/v2/labels.jsonl)
    .venv/bin/python eval/explanations/blind.py score

``build`` mixes, in one shuffled set (seed 7) with opaque ids: the LLM's first answers of
``v2/explanations.jsonl``; the template sentences (the rules-only system's explanations and the
LLM's fallback) for the same requests and items, made here; and 20 first answers of the older
code (``explanations.jsonl``, hand-labelled before) as anchors, so the labeller's agreement with
the earlier labels can be checked. Each row shows the request, the item's catalog fields and the
explanation; the labeller sees nothing of where it came from. ``v2/key.json`` maps each opaque
id back to its source and record; the set itself, which holds catalog text, stays outside the
repository. ``score`` reports the faithful, personalised and fluent shares per source and the
anchors' agreement with the earlier labels, in ``v2/report.md`` and ``v2/report.json``.

The template writer again, at a later commit (``v3``: the default explanations, re-labelled
after the fixes the v2 labels asked for):

    HF_HUB_OFFLINE=1 .venv/bin/python eval/explanations/blind.py build-v3 --work /tmp/label3
    (a new labeller writes /tmp/label3/labels.jsonl; copy it to eval/explanations/v3/labels.jsonl)
    .venv/bin/python eval/explanations/blind.py score-v3

``build-v3`` shuffles (seed 11) the templates of the same requests made at this commit with 20
of v2's template rows (the anchors, labelled in v2), so the new labeller's agreement with the
earlier one is measured on the same kind of text. Later labellings of the template writer do the
same into their own folder (``v5``, ``v6``): ``blind.py build-templates v6 --work /tmp/label6``,
then ``blind.py score-templates v6``. ``v8`` and ``v9`` rank and explain new requests instead
(``TEMPLATE_REQUESTS``): v8 the 20 of v7, v9 to v19 20 more each (``v9/requests.json``
and so on, each written by an assistant who saw neither the code nor the catalogs
and committed before any answer to it was made).

The two packaged LLMs side by side (``v4``: the model choice of issue 16), at one commit, in
``explain_mode = "items"``:

    CONVREC_LLM__MODEL=qwen2.5-coder-0.5b HF_HUB_OFFLINE=1 .venv/bin/python \
        eval/explanations/generate.py --out eval/explanations/v4/0.5b
    (the same with qwen2.5-coder-1.5b and --out eval/explanations/v4/1.5b)
    .venv/bin/python eval/explanations/blind.py build-v4 --work /tmp/label4
    (a new labeller writes /tmp/label4/labels.jsonl; copy it to eval/explanations/v4/labels.jsonl)
    .venv/bin/python eval/explanations/blind.py score-v4
    .venv/bin/python eval/explanations/score.py --dir eval/explanations/v4/0.5b   # and 1.5b

``score-v4`` also writes each model's labels by record id, so ``score.py`` measures both
grounding checkers against labels they were never tuned on. ``build-v4`` shuffles (seed 13)
both models' first answers with 20 of v2's LLM answers (the
anchors, labelled in v2).

``v7`` does the same for 20 new requests (``v7/requests.json``), so the checkers, changed after
the v4 labels were read, are measured again out of sample:

    HF_HUB_OFFLINE=1 .venv/bin/python eval/explanations/generate.py \
        --requests eval/explanations/v7/requests.json --out eval/explanations/v7/0.5b
    (the same with CONVREC_LLM__MODEL=qwen2.5-coder-1.5b and --out eval/explanations/v7/1.5b)
    .venv/bin/python eval/explanations/blind.py build-models v7 --work /tmp/label7
    (a new labeller writes /tmp/label7/labels.jsonl; copy it to eval/explanations/v7/labels.jsonl)
    .venv/bin/python eval/explanations/blind.py score-models v7
    .venv/bin/python eval/explanations/score.py --dir eval/explanations/v7/0.5b   # and 1.5b
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
V2 = HERE / "v2"
V3 = HERE / "v3"
V4_MODELS = ("0.5b", "1.5b")
# both packaged LLMs' answers labelled blind: folder → (seed, id prefix, which requests)
MODEL_SETS = {
    "v4": (13, "z", "The same 20 requests as v2 and v3"),
    "v7": (
        23,
        "q",
        "20 new requests (v7/requests.json, written before any of their answers "
        "was read; no rule or checker was changed against them)",
    ),
}
# the template writer labelled again at later commits, as v3: folder → (seed, id prefix)
TEMPLATE_SETS = {
    "v3": (11, "y"),
    "v5": (17, "w"),
    "v6": (19, "u"),
    "v8": (29, "t"),
    "v9": (31, "s"),
    "v10": (37, "r"),
    "v11": (41, "p"),
    "v12": (43, "o"),
    "v13": (47, "n"),
    "v14": (53, "m"),
    "v15": (59, "l"),
    "v16": (61, "k"),
    "v17": (67, "j"),
    "v18": (71, "h"),
    "v19": (73, "g"),
}
# sets made for requests other than generate.py's: folder → requests file
TEMPLATE_REQUESTS = {
    "v8": HERE / "v7" / "requests.json",
    "v9": HERE / "v9" / "requests.json",
    "v10": HERE / "v10" / "requests.json",
    "v11": HERE / "v11" / "requests.json",
    "v12": HERE / "v12" / "requests.json",
    "v13": HERE / "v13" / "requests.json",
    "v14": HERE / "v14" / "requests.json",
    "v15": HERE / "v15" / "requests.json",
    "v16": HERE / "v16" / "requests.json",
    "v17": HERE / "v17" / "requests.json",
    "v18": HERE / "v18" / "requests.json",
    "v19": HERE / "v19" / "requests.json",
}
Key = dict[str, dict[str, str]]  # opaque id → {"source": …, "record": …}
LABELS = ("faithful", "personalised", "fluent")
ANCHORS = 20
SEED = 7


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def templates(requests: dict[str, list[list[str]]] | None = None) -> list[dict[str, Any]]:
    """The template explanation of each listed item, per request (generate.py's unless given),
    rules only, as a list shows them (:func:`convrec.explain.explanations.templates`); where
    nothing meets every constraint, the relaxed list the app would show (from v14 on)."""
    sys.path.insert(0, str(HERE))
    import generate as g

    from convrec import ConvRec, load_settings
    from convrec.explain.explanations import templates as written
    from convrec.types import Message

    out = []
    for catalog, said_list in (requests or g.REQUESTS).items():
        settings = load_settings(llm={"backend": "none"})
        rec = ConvRec.from_config(settings=settings, catalog=catalog)
        for r, said in enumerate(said_list, start=1):
            history = [Message("user", s) for s in said]
            before = g.state_for(rec, history[:-1])
            state = g.state_for(rec, history)
            ranked = rec.rank(state, g.K, history)
            if not ranked:  # as the app does: the least certain constraint relaxed
                fresh = [c for c in state.constraints if c not in before.constraints]
                state, ranked, _ = rec.relax(state, g.K, history, fresh)
            for i, (one, text) in enumerate(zip(ranked, written(ranked, state, rec.catalog),
                                                strict=True)):  # fmt: skip
                item = rec.catalog[one.item_id]
                out.append({"id": f"{catalog}-{r:02d}-{i + 1}", "catalog": catalog,
                            "request": said, "item_id": item.id, "title": item.title,
                            "text": text})  # fmt: skip
    return out


def _write_blind(work: Path, rows: list[tuple[str, dict[str, Any]]], prefix: str) -> Key:
    """``work``/blind.jsonl: each row as the labeller sees it (the request, the item's catalog
    fields, the text) under an opaque id; returns the key from each id to its source and
    record."""
    from convrec import load_settings
    from convrec.catalog.layout import open_catalog

    catalogs = {c: open_catalog(c, load_settings()) for c in {r["catalog"] for _, r in rows}}
    key: Key = {}
    work.mkdir(parents=True, exist_ok=True)
    with (work / "blind.jsonl").open("w", encoding="utf-8") as f:
        for n, (source, r) in enumerate(rows, start=1):
            bid = f"{prefix}{n:03d}"
            key[bid] = {"source": source, "record": r["id"]}
            item = catalogs[r["catalog"]][r["item_id"]]
            fields = {"category": item.category, "description": item.description,
                      "date": item.date, "attributes": item.attributes}  # fmt: skip
            row = {"id": bid, "request": r["request"], "title": r["title"], "fields": fields,
                   "explanation": r["text"] or r.get("raw", "")}  # fmt: skip
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return key


def _result(groups: dict[str, list[dict[str, Any]]], agree: dict[str, list[bool]]) -> Any:
    """The labels' shares per group and the anchors' agreement with the earlier labels."""
    shares = {
        g: {lab: sum(bool(r[lab]) for r in rows) / len(rows) for lab in LABELS} | {"n": len(rows)}
        for g, rows in sorted(groups.items())
    }
    return {"shares": shares, "anchor_agreement": {k: sum(v) / len(v) for k, v in agree.items()}}


def _table(shares: dict[str, dict[str, float]]) -> list[str]:
    return ["| source | n | faithful | personalised | fluent |", "|---|---|---|---|---|"] + [
        f"| {g} | {s['n']} | {s['faithful']:.3f} | {s['personalised']:.3f} | {s['fluent']:.3f} |"
        for g, s in shares.items()
    ]


def build(work: Path) -> None:
    new = _jsonl(V2 / "explanations.jsonl")
    old = _jsonl(HERE / "explanations.jsonl")
    made = templates()
    (V2 / "templates.jsonl").write_text(
        "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in made), encoding="utf-8"
    )
    rng = random.Random(SEED)
    rows = [("llm_v2", r) for r in new] + [("template_v2", r) for r in made]
    rows += [("llm_v1", r) for r in rng.sample(old, ANCHORS)]
    rng.shuffle(rows)
    key = _write_blind(work, rows, "x")
    (V2 / "key.json").write_text(json.dumps(key, indent=1) + "\n", encoding="utf-8")


def score() -> dict[str, Any]:
    key = json.loads((V2 / "key.json").read_text(encoding="utf-8"))
    labels = {r["id"]: r for r in _jsonl(V2 / "labels.jsonl")}
    earlier = {r["id"]: r for r in _jsonl(HERE / "labels.jsonl")}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    agree: dict[str, list[bool]] = defaultdict(list)
    for bid, where in key.items():
        label = labels[bid]
        for name in (where["source"], f"{where['source']}:{where['record'].split('-')[0]}"):
            groups[name].append(label)
        if where["source"] == "llm_v1" and where["record"] in earlier:
            for lab in LABELS:
                agree[lab].append(label[lab] == earlier[where["record"]][lab])
    result: dict[str, Any] = _result(groups, agree)
    (V2 / "report.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    meta = json.loads((V2 / "explanations.meta.json").read_text(encoding="utf-8"))
    lines = [
        f"Commit: {meta['commit']} (LLM answers; templates and scoring at the commit that added "
        "this report)",
        "",
        "# Explanations labelled blind: the LLM with reasons, the template, the older LLM",
        "",
        "`.venv/bin/python eval/explanations/blind.py score` (see its docstring for the set).",
        "Labelled by an assistant that saw only the request, the item's fields and the text, "
        "shuffled, never the source. 20 requests × 5 items: errors come in clusters.",
        "",
        *_table(result["shares"]),
    ]
    lines += [
        "",
        "Anchors (older first answers labelled by hand before): the blind labels agree with the "
        "earlier ones on "
        + ", ".join(f"{k} {v:.2f}" for k, v in result["anchor_agreement"].items())
        + f" ({ANCHORS} explanations).",
    ]
    (V2 / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return result


def build_v3(work: Path, out: Path = V3, seed: int = 11, prefix: str = "y") -> None:
    from convrec.evaluation.provenance import code_version

    asked = TEMPLATE_REQUESTS.get(out.name)
    made = templates(json.loads(asked.read_text(encoding="utf-8")) if asked else None)
    out.mkdir(exist_ok=True)
    (out / "templates.jsonl").write_text(
        "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in made), encoding="utf-8"
    )
    (out / "templates.meta.json").write_text(json.dumps({"commit": code_version()}) + "\n")
    rng = random.Random(seed)
    rows = [(f"template_{out.name}", r) for r in made]
    rows += [("template_v2", r) for r in rng.sample(_jsonl(V2 / "templates.jsonl"), ANCHORS)]
    rng.shuffle(rows)
    key = _write_blind(work, rows, prefix)
    (out / "key.json").write_text(json.dumps(key, indent=1) + "\n", encoding="utf-8")


Labelled = tuple[
    Key, dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]], dict[str, list[bool]]
]


def _labelled(out: Path, anchors: str) -> Labelled:
    """``out``'s key and labels, the labels grouped by source and by source and catalog, and the
    anchors' (rows of v2's source ``anchors``) agreement with v2's labels of the same rows."""
    key = json.loads((out / "key.json").read_text(encoding="utf-8"))
    labels = {r["id"]: r for r in _jsonl(out / "labels.jsonl")}
    v2_key = json.loads((V2 / "key.json").read_text(encoding="utf-8"))
    v2_labels = {r["id"]: r for r in _jsonl(V2 / "labels.jsonl")}
    earlier = {w["record"]: v2_labels[b] for b, w in v2_key.items() if w["source"] == anchors}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    agree: dict[str, list[bool]] = defaultdict(list)
    for bid, where in key.items():
        label = labels[bid]
        if where["source"] == anchors:
            for lab in LABELS:
                agree[lab].append(label[lab] == earlier[where["record"]][lab])
            continue
        for group in (where["source"], f"{where['source']}:{where['record'].split('-')[0]}"):
            groups[group].append(label)
    return key, labels, groups, agree


def score_v3(out: Path = V3) -> dict[str, Any]:
    name = f"template_{out.name}"
    key, labels, groups, agree = _labelled(out, "template_v2")
    result: dict[str, Any] = _result(groups, agree)
    (out / "report.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    commit = json.loads((out / "templates.meta.json").read_text())["commit"]
    agreed = ", ".join(f"{k} {v:.2f}" for k, v in result["anchor_agreement"].items())
    lines = [
        f"Commit: {commit} (the templates); labels as in v2: blind, shuffled with 20 anchors",
        "",
        "# The default explanations (the template writer) labelled blind again",
        "",
        f"`.venv/bin/python eval/explanations/blind.py score-templates {out.name}` (see its "
        "docstring for the set).",
        (
            f"The 20 new requests of {TEMPLATE_REQUESTS[out.name].relative_to(HERE)}, which no "
            "template rule was changed against,"
            if out.name in TEMPLATE_REQUESTS
            else "The same 20 requests as v2,"
        )
        + " ranked and explained at the commit above. Labelled by an "
        "assistant that saw only the request, the item's fields and the text, never the code or "
        "the source. Errors come in clusters: 20 requests, not ~100 independent cases.",
        "",
        *_table(result["shares"]),
    ]
    lines += [
        "",
        "Anchors (20 of v2's template rows, labelled in v2): the new labels agree with the "
        "earlier ones on " + agreed + ".",
    ]
    notes = [
        f"- {key[b]['record']}: {'' if r['faithful'] else 'not faithful; '}"
        f"{'' if r['fluent'] else 'not fluent; '}{r.get('note', '')}"
        for b, r in sorted(labels.items())
        if key[b]["source"] == name and not (r["faithful"] and r["fluent"])
    ]
    lines += ["", "## What the labeller found wrong", "", *sorted(notes)]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return result


def build_v4(work: Path, version: str = "v4") -> None:
    seed, prefix, _ = MODEL_SETS[version]
    out = HERE / version
    rng = random.Random(seed)
    rows = [(f"llm_{m}", r) for m in V4_MODELS for r in _jsonl(out / m / "explanations.jsonl")]
    rows += [("llm_v2", r) for r in rng.sample(_jsonl(V2 / "explanations.jsonl"), ANCHORS)]
    rng.shuffle(rows)
    key = _write_blind(work, rows, prefix)
    (out / "key.json").write_text(json.dumps(key, indent=1) + "\n", encoding="utf-8")


def score_v4(version: str = "v4") -> dict[str, Any]:
    out, which = HERE / version, MODEL_SETS[version][2]
    key, labels, groups, agree = _labelled(out, "llm_v2")
    for m in V4_MODELS:  # by record id too, for the checkers' agreement (score.py --dir)
        mine = sorted(w["record"] for w in key.values() if w["source"] == f"llm_{m}")
        by_record = {w["record"]: labels[b] for b, w in key.items() if w["source"] == f"llm_{m}"}
        text = "".join(
            json.dumps({**by_record[r], "id": r}, ensure_ascii=False) + "\n" for r in mine
        )
        (out / m / "labels.jsonl").write_text(text, encoding="utf-8")
    result: dict[str, Any] = _result(groups, agree)
    (out / "report.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    metas = {m: json.loads((out / m / "explanations.meta.json").read_text()) for m in V4_MODELS}
    command = "score-v4" if version == "v4" else f"score-models {version}"
    agreed = ", ".join(f"{k} {v:.2f}" for k, v in result["anchor_agreement"].items())
    lines = [
        "Commits: " + "; ".join(f"{m} answers at {meta['commit']}" for m, meta in metas.items()),
        "",
        "# The two packaged LLMs' explanations labelled blind (explain_mode items)",
        "",
        f"`.venv/bin/python eval/explanations/blind.py {command}` (see its docstring for the set).",
        f"{which}; each model's first answers, before any regeneration. "
        "Labelled by an assistant that saw only the request, the item's fields and the text, "
        "never the code or the source. Errors come in clusters: 20 requests, not ~100 "
        "independent cases. The default explanations (the template writer) were labelled 1.000 "
        "on all three at v3.",
        "",
        *_table(result["shares"]),
        "",
        f"Anchors ({ANCHORS} of v2's LLM answers, labelled in v2): the new labels agree with the "
        "earlier ones on " + agreed + ".",
    ]
    notes = [
        f"- {key[b]['source']} {key[b]['record']}: {'' if r['faithful'] else 'not faithful; '}"
        f"{'' if r['fluent'] else 'not fluent; '}{'' if r['personalised'] else 'not personal; '}"
        f"{r.get('note', '')}"
        for b, r in sorted(labels.items())
        if key[b]["source"] != "llm_v2" and not all(r[lab] for lab in LABELS)
    ]
    lines += ["", "## What the labeller found wrong", "", *sorted(notes)]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--work", type=Path, default=Path("/tmp/label"))
    sub.add_parser("score")
    b3 = sub.add_parser("build-v3")
    b3.add_argument("--work", type=Path, default=Path("/tmp/label3"))
    sub.add_parser("score-v3")
    bt = sub.add_parser("build-templates", help="the template writer's set at this commit")
    bt.add_argument("version", choices=sorted(TEMPLATE_SETS))
    bt.add_argument("--work", type=Path, required=True)
    st = sub.add_parser("score-templates")
    st.add_argument("version", choices=sorted(TEMPLATE_SETS))
    b4 = sub.add_parser("build-v4")
    b4.add_argument("--work", type=Path, default=Path("/tmp/label4"))
    sub.add_parser("score-v4")
    bm = sub.add_parser("build-models", help="both LLMs' answers of a set, blind")
    bm.add_argument("version", choices=sorted(MODEL_SETS))
    bm.add_argument("--work", type=Path, required=True)
    sm = sub.add_parser("score-models")
    sm.add_argument("version", choices=sorted(MODEL_SETS))
    args = ap.parse_args()
    if args.cmd == "build":
        build(args.work)
    elif args.cmd == "build-v3":
        build_v3(args.work)
    elif args.cmd == "score-v3":
        print(json.dumps(score_v3(), indent=1))
    elif args.cmd == "build-templates":
        seed, prefix = TEMPLATE_SETS[args.version]
        build_v3(args.work, HERE / args.version, seed, prefix)
    elif args.cmd == "score-templates":
        print(json.dumps(score_v3(HERE / args.version), indent=1))
    elif args.cmd == "build-v4":
        build_v4(args.work)
    elif args.cmd == "score-v4":
        print(json.dumps(score_v4(), indent=1))
    elif args.cmd == "build-models":
        build_v4(args.work, args.version)
    elif args.cmd == "score-models":
        print(json.dumps(score_v4(args.version), indent=1))
    else:
        print(json.dumps(score(), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
