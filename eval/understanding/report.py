"""Slot precision/recall/F1 of stage 1 (understanding) on the hand-labelled utterances.

Usage: python eval/understanding/report.py [--quick] [--models smollm2-135m qwen2.5-coder-0.5b]
       [--llm-limit N] [--max-new-tokens 96] [--out DIR] [--data utterances_heldout.jsonl]

Paths: ``rules`` (the deterministic extractors alone, every utterance) and ``llm+rules:<model>``
(the full parser, :func:`convrec.dialogue.understand.understand`, with that model). ``--llm-limit``
runs
the models on an evenly spaced subset (the CPU cost is seconds per turn); the report states n.
Slots (what is compared, as sets per utterance):
intent; constraint (attribute, eq|ne, value) with ``in``/``nin`` split per value and numbers
rounded to 0.1; like / dislike / release (attribute, value); relative (attribute, direction);
wish (each content word); item (role, title) for liked/disliked/seen/rejected/mentioned, compared
by title so duplicate catalog entries count once; flag (reset, insist).
Parse failures: turns where the LLM's output was unusable (invalid JSON/schema or an LLM error).
``--data`` scores another labelled file (e.g. the held-out ``utterances_heldout.jsonl``); its
report is written as ``report_<stem>.json`` / ``report_<stem>.md``.
Also callable: ``report(...)`` returns the dict written to report.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from convrec.catalog.build import build_catalog
from convrec.config import Settings, load_settings
from convrec.dialogue.lexicon import Lexicon, norm_phrase
from convrec.dialogue.state import Constraint, DialogueState, Pref, Release, StateDelta, apply
from convrec.dialogue.understand import READ_BY_RULES, understand
from convrec.evaluation.provenance import code_version
from convrec.types import Message

HERE = Path(__file__).resolve().parent
DATA = HERE / "utterances.jsonl"
SLOTS = ("intent", "constraint", "like", "dislike", "release", "relative", "wish", "item", "flag")
WISH_STOP = frozenset({"a", "an", "the", "one", "phone", "movie", "film", "something", "and"})
Slot = tuple[Any, ...]


def load(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _num(v: Any) -> Any:
    return round(float(v), 1) if isinstance(v, int | float) and not isinstance(v, bool) else v


def _cons(attr: str, op: str, value: Any) -> list[Slot]:
    kind = {"in": "eq", "nin": "ne"}.get(op, op)
    vals = value if isinstance(value, list | tuple) else [value]
    return [("constraint", attr, kind, str(_num(v)).lower()) for v in vals]


def _wishes(texts: Iterable[str]) -> list[Slot]:
    return [("wish", w) for t in texts for w in norm_phrase(t).split() if w not in WISH_STOP]


def expected_slots(exp: dict[str, Any]) -> set[Slot]:
    out: set[Slot] = {("intent", exp.get("intent", "chitchat"))}
    for a, op, v in exp.get("add", []):
        out.update(_cons(a, op, v))
    for key in ("like", "dislike"):
        out |= {(key, a, str(v).lower()) for a, v in exp.get(key, [])}
    out |= {("release", a, (v or "").lower()) for a, v in exp.get("release", [])}
    out |= {("relative", a, d) for a, d in exp.get("relative", [])}
    out.update(_wishes(exp.get("wishes", [])))
    for role in ("liked", "disliked", "seen", "rejected", "mentioned"):
        out |= {("item", role, norm_phrase(t)) for t in exp.get(role, [])}
    out |= {("flag", f) for f in ("reset", "insist") if exp.get(f)}
    return out


def predicted_slots(d: StateDelta, lex: Lexicon) -> set[Slot]:
    out: set[Slot] = {("intent", d.intent or "chitchat")}
    for c in d.add:
        out.update(_cons(c.attribute, c.op, c.value))
    out |= {("like", p.attribute, p.value.lower()) for p in d.like}
    out |= {("dislike", p.attribute, p.value.lower()) for p in d.dislike}
    out |= {("release", r.attribute, (r.value or "").lower()) for r in d.release}
    out |= {("relative", r.attribute, r.direction) for r in d.relative}
    out.update(_wishes(d.wishes))
    roles = {
        "liked": d.liked_items,
        "disliked": d.disliked_items,
        "seen": d.seen_items,
        "rejected": d.rejected,
        "mentioned": d.mentioned,
    }
    for role, ids in roles.items():
        out |= {("item", role, norm_phrase(lex.items[i].title)) for i in ids if i in lex.items}
    out |= {("flag", f) for f in ("reset", "insist") if getattr(d, f)}
    return out


def _state(rec: dict[str, Any]) -> DialogueState:
    s = rec.get("state", {})
    delta = StateDelta(
        add=tuple(
            Constraint(
                a,
                op,
                tuple(v) if isinstance(v, list) else v,
                multi=a in ("genres", "director", "cast"),
            )
            for a, op, v in s.get("add", [])
        ),
        like=tuple(Pref(a, v) for a, v in s.get("like", [])),
        dislike=tuple(Pref(a, v) for a, v in s.get("dislike", [])),
        release=tuple(Release(a, v) for a, v in s.get("release", [])),
    )
    state = apply(DialogueState(), delta) if rec.get("state") else DialogueState()
    return DialogueState(**{**state.__dict__, "turns": rec.get("state_turns", 0)})


def _shown(titles: Sequence[str], lex: Lexicon) -> tuple[str, ...]:
    first: dict[str, str] = {}
    for i, it in lex.items.items():
        first.setdefault(it.title, i)
    return tuple(first[t] for t in titles if t in first)


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {
        "precision": round(p, 3),
        "recall": round(r, 3),
        "f1": round(2 * p * r / (p + r) if p + r else 0.0, 3),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 3) if xs else 0.0


def evaluate(
    records: list[dict[str, Any]],
    lexicons: dict[str, Lexicon],
    llm: Any,
    max_new_tokens: int,
    read_when: Literal["needed", "always"] = "needed",
) -> dict[str, Any]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    latencies: list[float] = []
    failures = contradictions = reads = 0
    errors: list[dict[str, Any]] = []
    for rec in records:
        lex = lexicons[rec["catalog"]]
        history = [Message(r, c) for r, c in rec["history"]] + [Message("user", rec["message"])]
        u = understand(
            history, _state(rec), lex, llm, _shown(rec["shown"], lex),
            max_new_tokens=max_new_tokens, read_when=read_when,
        )  # fmt: skip
        latencies.append(u.latency_s)
        reads += llm is not None and u.reason != READ_BY_RULES
        failures += u.reason.startswith(("invalid", "LLM error"))
        contradictions += u.reason.startswith("contradiction")
        exp, got = expected_slots(rec["expected"]), predicted_slots(u.delta, lex)
        for kind in SLOTS:
            e = {s for s in exp if s[0] == kind}
            g = {s for s in got if s[0] == kind}
            c = counts[kind]
            c[0], c[1], c[2] = c[0] + len(e & g), c[1] + len(g - e), c[2] + len(e - g)
        if exp != got:
            errors.append(
                {
                    "id": rec["id"],
                    "message": rec["message"],
                    "missed": sorted(map(str, exp - got)),
                    "extra": sorted(map(str, got - exp)),
                    "reason": u.reason,
                }
            )
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    n = len(records)
    return {
        "n": n,
        "overall": prf(*total),
        "per_slot": {k: prf(*counts[k]) for k in SLOTS if any(counts[k])},
        "exact_match": round(1 - len(errors) / n, 3) if n else 0.0,
        "parse_failure_rate": round(failures / n, 3) if llm is not None and n else None,
        "contradiction_rate": round(contradictions / n, 3) if llm is not None and n else None,
        "llm_read_rate": round(reads / n, 3) if llm is not None and n else None,
        "latency_s": {
            "p50": _pct(latencies, 0.5),
            "p95": _pct(latencies, 0.95),
            "mean": round(statistics.fmean(latencies), 3) if latencies else 0.0,
        },
        "errors": errors,
    }


def report(
    models: Sequence[str] = ("smollm2-135m", "qwen2.5-coder-0.5b"),
    *,
    limit: int | None = None,
    llm_limit: int | None = None,
    max_new_tokens: int = 96,
    read_when: Literal["needed", "always"] = "needed",
    out: Path | None = HERE,
    settings: Settings | None = None,
    data: Path = DATA,
    llms: dict[str, Any] | None = None,
    server: str = "",
) -> dict[str, Any]:
    """Evaluate every path; write report.json and report.md into ``out`` (None: don't write),
    or report_<stem>.* when ``data`` is not the default utterances.jsonl.
    ``llms`` maps model names to already loaded LLMs (tests pass the session's SmolLM2).
    ``server``: an OpenAI-compatible base URL serving ``models`` under those names (e.g. the
    packaged GGUF under llama.cpp) instead of in-process transformers."""
    settings = settings or load_settings()
    records = load(data)
    if limit:
        records = records[:: max(1, len(records) // limit)][:limit]
    # build_catalog reuses a built catalog and builds a missing one from the registry packages.
    lexicons = {
        c: Lexicon.from_catalog(build_catalog(c, settings).catalog)
        for c in sorted({r["catalog"] for r in records})
    }
    paths = {"rules": evaluate(records, lexicons, None, max_new_tokens)}
    sub = records[:: max(1, len(records) // llm_limit)][:llm_limit] if llm_limit else records
    if llm_limit:
        paths["rules (same subset)"] = evaluate(sub, lexicons, None, max_new_tokens)
    for name in models:
        start = time.perf_counter()
        llm = (llms or {}).get(name) or _llm(name, settings, server)
        key = f"llm+rules:{name}" + ("@server" if server else "")
        paths[key] = evaluate(sub, lexicons, llm, max_new_tokens, read_when)
        paths[key]["wall_s"] = round(time.perf_counter() - start, 1)
        del llm
    result = {
        "commit": code_version(),
        "data": data.name,
        "utterances": len(records),
        "llm_utterances": len(sub),
        "paths": paths,
        "max_new_tokens": max_new_tokens,
        "read_when": read_when,
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        stem = "report" if data.resolve() == DATA else f"report_{data.stem}"
        (out / f"{stem}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        (out / f"{stem}.md").write_text(markdown(result))
    return result


def _llm(name: str, settings: Settings, server: str) -> Any:
    if not server:
        from convrec.backends.transformers_llm import TransformersLLM

        return TransformersLLM(name, settings)
    from convrec.backends.openai_llm import OpenAICompatLLM

    llm = settings.llm.model_copy(update={"backend": "openai", "base_url": server,
                                          "api_model": name})  # fmt: skip
    return OpenAICompatLLM.from_settings(settings.model_copy(update={"llm": llm}))


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Commit: {result.get('commit', 'unknown')}",
        "",
        "# Understanding: slot precision / recall / F1",
        "",
        f"{result['utterances']} hand-labelled utterances"
        f" (eval/understanding/{result.get('data', DATA.name)});"
        f" LLM paths on {result['llm_utterances']} of them (evenly spaced)."
        f" max_new_tokens={result['max_new_tokens']};"
        f" llm.read_when={result.get('read_when', 'always')}. Generated by report.py.",
        "",
        "| path | n | P | R | F1 | exact turns | LLM read | parse failures | contradictions "
        "| latency p50 / p95 (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["paths"].items():
        o, lat = r["overall"], r["latency_s"]
        pf = "–" if r["parse_failure_rate"] is None else f"{r['parse_failure_rate']:.1%}"
        cr = "–" if r["contradiction_rate"] is None else f"{r['contradiction_rate']:.1%}"
        rd = r.get("llm_read_rate")
        rd = "–" if rd is None else f"{rd:.1%}"
        lines.append(
            f"| {name} | {r['n']} | {o['precision']:.3f} | {o['recall']:.3f} | "
            f"{o['f1']:.3f} | {r['exact_match']:.1%} | {rd} | {pf} | {cr} | "
            f"{lat['p50']:.2f} / {lat['p95']:.2f} |"
        )
    lines += [
        "",
        "## Per slot (F1)",
        "",
        "| path | " + " | ".join(SLOTS) + " |",
        "|---|" + "---|" * len(SLOTS),
    ]
    for name, r in result["paths"].items():
        cells = [f"{r['per_slot'][k]['f1']:.2f}" if k in r["per_slot"] else "–" for k in SLOTS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    rules = result["paths"]["rules"]
    lines += ["", "## Remaining errors of the rules path", ""]
    lines += [
        f"- `{e['id']}` {e['message']!r}: missed {e['missed']}, extra {e['extra']}"
        for e in rules["errors"]
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 utterances, test model only")
    ap.add_argument("--models", nargs="*", default=["smollm2-135m", "qwen2.5-coder-0.5b"])
    ap.add_argument("--limit", type=int, default=None, help="utterances for every path")
    ap.add_argument("--llm-limit", type=int, default=None, help="utterances for the LLM paths")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--data", type=Path, default=DATA, help="labelled utterances (JSONL)")
    ap.add_argument("--server", default="", help="OpenAI-compatible base URL serving --models")
    ap.add_argument(
        "--read-when", choices=["needed", "always"], default="needed",
        help="when the LLM reads a message (llm.read_when; needed = the product default)",
    )  # fmt: skip
    a = ap.parse_args(argv)
    if a.quick:
        result = report(["smollm2-135m"], limit=20, max_new_tokens=32, out=a.out, data=a.data)
    else:
        result = report(
            a.models,
            limit=a.limit,
            llm_limit=a.llm_limit,
            max_new_tokens=a.max_new_tokens,
            out=a.out,
            server=a.server,
            read_when=a.read_when,
            data=a.data,
        )
    for name, r in result["paths"].items():
        print(f"{name}: n={r['n']} F1={r['overall']['f1']:.3f} p50={r['latency_s']['p50']}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
