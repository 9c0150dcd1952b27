"""Pipeline speed on this machine: a scripted 5-turn movies dialogue with the default models.

Per turn: understanding of the real message (rules + LLM as ``llm.read_when`` says, timed, and
timed again with the LLM forced to read), the state update (the scripted delta is applied, so
every run ranks the same states), retrieval + fusion + rerank (``convrec.ranking.recommend.rank``),
and
explanations for 5 items (``convrec.explain.explanations.explain_recommendations`` with the default
LLM). Every LLM call
is replayed as a bare ``model.generate`` forced to the same number of new tokens on the same
prompt, so each step is also reported as a ratio to bare decoding (overhead made visible).

Needs: `convrec catalog build movies` and `convrec index movies --channels text,clip_text`.
Usage: python eval/bench_pipeline.py [--out eval/reports/pipeline] [--turns 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from convrec.backends.chroma_store import make_store
from convrec.backends.clip_embedder import make_image_text_embedder
from convrec.backends.st_embedder import SentenceTransformerEmbedder
from convrec.backends.transformers_llm import TransformersLLM
from convrec.catalog.layout import open_catalog
from convrec.config import load_settings
from convrec.dialogue.lexicon import Lexicon
from convrec.dialogue.state import Constraint, DialogueState, Pref, StateDelta, apply
from convrec.dialogue.understand import READ_BY_RULES, understand
from convrec.explain.explanations import explain_recommendations
from convrec.ranking.recommend import indexed_channels, rank
from convrec.ranking.retrieve import Retriever
from convrec.types import Message

log = logging.getLogger("eval.bench_pipeline")
GOALS = {"retrieval_fusion_ms": 100, "first_list_s": 3.0, "explain_5_s": 15.0}


class Recording:
    """Wraps the LLM; records prompt, output and seconds of every call."""

    def __init__(self, llm: TransformersLLM) -> None:
        self.llm = llm
        self.calls: list[dict[str, Any]] = []

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        json_schema: Mapping[str, Any] | None = None,
    ) -> str:
        t = time.perf_counter()
        out = self.llm.generate(messages, max_new_tokens=max_new_tokens, json_schema=json_schema)
        self._add(messages, out, time.perf_counter() - t, max=max_new_tokens, schema=json_schema)
        return out

    def stream(
        self, messages: Sequence[Message], *, max_new_tokens: int | None = None
    ) -> Iterator[str]:
        t = time.perf_counter()
        pieces = []
        for piece in self.llm.stream(messages, max_new_tokens=max_new_tokens):
            pieces.append(piece)
            yield piece
        self._add(messages, "".join(pieces), time.perf_counter() - t)

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int | None = None
    ) -> list[str]:
        t = time.perf_counter()
        outs = self.llm.generate_batch(conversations, max_new_tokens=max_new_tokens)
        seconds = time.perf_counter() - t
        counts = [len(self.llm.tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outs]
        # one batched decode runs as many steps as its longest answer
        self.calls.append({"batch": [list(c) for c in conversations], "output": outs,
                           "tokens": sum(counts), "steps": max(counts, default=0),
                           "s": seconds})  # fmt: skip
        return outs

    def _add(self, messages: Sequence[Message], out: str, seconds: float, **asked: Any) -> None:
        """One call: the prompt, the answer, its tokens and seconds, and what else was asked
        (``max``, ``schema``: a replay can repeat the call)."""
        n = len(self.llm.tokenizer(out, add_special_tokens=False)["input_ids"])
        self.calls.append({"messages": list(messages), "output": out, "tokens": n, "s": seconds}
                          | asked)  # fmt: skip


def bare_seconds(llm: TransformersLLM, call: Mapping[str, Any]) -> float:
    """A bare greedy ``model.generate`` of exactly as many new tokens on the same prompt (for
    a batched call: the same left-padded batch, as many steps as its longest answer)."""
    import torch

    if "batch" in call:
        texts = [llm._template(c, tokenize=False) for c in call["batch"]]
        inputs = llm.tokenizer(
            texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False
        )
        tokens = int(call["steps"])
    else:
        inputs, tokens = llm._inputs(call["messages"]), int(call["tokens"])
    kw = llm._gen_kwargs(inputs, max(tokens, 1))
    t = time.perf_counter()
    with torch.inference_mode():
        llm.model.generate(**kw, min_new_tokens=max(tokens, 1))
    return time.perf_counter() - t


def script(catalog: Any) -> list[tuple[str, StateDelta]]:
    by_title = {it.title: it.id for it in catalog.items}
    toy, shrek = by_title["Toy Story"], by_title["Shrek"]
    return [
        ("a funny animated movie for the family", StateDelta(
            intent="recommend", like=(Pref("genres", "Animation"), Pref("genres", "Comedy")),
            wishes=("funny movie for the family",))),
        ("I loved Toy Story", StateDelta(intent="feedback", liked_items=(toy,))),
        ("nothing older than 1995", StateDelta(
            intent="refine", add=(Constraint("year", "gte", 1995),))),
        ("I didn't like Shrek", StateDelta(intent="feedback", disliked_items=(shrek,))),
        ("something bright and colourful", StateDelta(
            intent="refine", wishes=("bright and colourful",))),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="eval/reports/pipeline")
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument(
        "--bare-turns", type=int, default=5, help="turns whose LLM calls are replayed bare"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings()
    catalog = open_catalog("movies", settings)
    store = make_store(settings)
    t0 = time.perf_counter()
    text, clip = (
        SentenceTransformerEmbedder.from_settings(settings),
        make_image_text_embedder(settings),
    )
    retriever = Retriever(store, catalog.name, text, clip)
    channels = indexed_channels(retriever)
    llm = TransformersLLM.from_settings(settings)
    load_s = time.perf_counter() - t0
    rec_llm = Recording(llm)
    lexicon = Lexicon.from_catalog(catalog)
    state = DialogueState()
    history: list[Message] = []
    rows: list[dict[str, Any]] = []
    for turn, (message, delta) in enumerate(script(catalog)[: args.turns]):
        history.append(Message("user", message))
        t = time.perf_counter()  # the LLM + rules reading, timed; the scripted delta is applied
        read = understand(history, state, lexicon, llm, (), settings)
        understand_s = time.perf_counter() - t
        t = time.perf_counter()  # the same message with the LLM forced to read it
        understand(history, state, lexicon, llm, (), settings, read_when="always")
        forced_s = time.perf_counter() - t
        t = time.perf_counter()
        state = apply(state, delta)
        update_s = time.perf_counter() - t
        timings: dict[str, float] = {}
        t = time.perf_counter()
        recs = rank(state, retriever, catalog, settings, 5, channels=channels, timings=timings)
        rank_s = time.perf_counter() - t
        first = len(rec_llm.calls)
        t = time.perf_counter()
        out = explain_recommendations(recs, state, catalog, rec_llm, settings)
        explain_s = time.perf_counter() - t
        calls = rec_llm.calls[first:]
        tokens = sum(c["tokens"] for c in calls)
        bare = 0.0
        if turn < args.bare_turns:
            bare = sum(bare_seconds(llm, c) for c in calls)
        per_token = bare / max(tokens, 1)
        rows.append({
            "message": message,
            "understand_s": understand_s,
            "understand_path": read.path,
            "understand_reason": read.reason,
            "understand_forced_s": forced_s,
            "state_update_ms": 1e3 * update_s,
            "queries_ms": 1e3 * timings["queries"],
            "retrieve_ms": 1e3 * timings["retrieve"],
            "fuse_rerank_ms": 1e3 * timings["fuse"],
            "retrieval_fusion_ms": 1e3 * rank_s,
            "first_list_s": understand_s + update_s + rank_s,
            "explain_s": explain_s,
            "llm_calls": len(calls),
            "llm_tokens": tokens,
            "bare_decode_s": bare or None,
            "explain_vs_bare": explain_s / bare if bare else None,
            "rank_in_decode_tokens": rank_s / per_token if bare and tokens else None,
            "sources": [e.source for e in out.explanations],
            "items": [
                {"title": r.title, "explanation": r.explanation, "source": e.source,
                 "problems": list(e.problems),
                 "breakdown": {k: round(v, 4) for k, v in r.breakdown.items()}}
                for r, e in zip(out.recommendations, out.explanations, strict=True)
            ],
        })  # fmt: skip
        history.append(Message("assistant", " ".join(r.explanation for r in out.recommendations)))
        done = f"({tokens} tokens, bare {bare:.1f} s), {rows[-1]['sources']}"
        log.info("%r: rank %.0f ms, explain %.1f s %s", message, 1e3 * rank_s, explain_s, done)
    write(rows, Path(args.out), settings, load_s, len(catalog), args.bare_turns)
    return 0


def median(rows: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rows if r[key] is not None))


def write(
    rows: list[dict[str, Any]],
    out: Path,
    settings: Any,
    load_s: float,
    n_items: int,
    bare_turns: int,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sources = [s for r in rows for s in r["sources"]]
    summary = {
        "retrieval_fusion_ms": median(rows, "retrieval_fusion_ms"),
        "retrieve_ms": median(rows, "retrieve_ms"),
        "fuse_rerank_ms": median(rows, "fuse_rerank_ms"),
        "first_list_s": median(rows, "first_list_s"),
        "understand_s": median(rows, "understand_s"),
        "understand_forced_s": median(rows, "understand_forced_s"),
        "llm_reads": sum(r["understand_reason"] != READ_BY_RULES for r in rows),
        "explain_5_s": median(rows, "explain_s"),
        "explain_vs_bare": median(rows, "explain_vs_bare"),
        "rank_in_decode_tokens": median(rows, "rank_in_decode_tokens"),
        "faithfulness": sources.count("llm") / len(sources),
        "regenerated": sources.count("regenerated") / len(sources),
        "template": sources.count("template") / len(sources),
        "explanations": len(sources),
    }
    meta = {
        "catalog_items": n_items,
        "llm": settings.llm.model,
        "text_model": settings.embed.text_model,
        "image_text_model": settings.embed.image_text_model,
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "python": platform.python_version(),
        "models_load_s": load_s,
        "bare_replay_turns": bare_turns,
        "goals": GOALS,
    }
    (out / "bench_pipeline.json").write_text(
        json.dumps({"summary": summary, "meta": meta, "turns": rows}, indent=2) + "\n"
    )
    md = [
        "# Pipeline speed (scripted 5-turn movies dialogue, medians over turns)",
        "",
        "| step | median | goal |",
        "|---|---|---|",
        f"| retrieval + fusion + rerank | {summary['retrieval_fusion_ms']:.0f} ms | ≤ 100 ms |",
        f"| — of which retrieval (Chroma + query encoding) | {summary['retrieve_ms']:.0f} ms | |",
        f"| — of which fusion + rerank (+ item vectors) | {summary['fuse_rerank_ms']:.0f} ms | |",
        f"| first ranked list (understanding + state update + ranking) "
        f"| {summary['first_list_s']:.2f} s | ≤ 3 s |",
        f"| — of which understanding (llm.read_when = {settings.llm.read_when}; the LLM read "
        f"{summary['llm_reads']} of {len(rows)} messages) | {summary['understand_s']:.2f} s | |",
        f"| understanding with the LLM reading every message (read_when = always) "
        f"| {summary['understand_forced_s']:.2f} s | |",
        f"| explanations for 5 items | {summary['explain_5_s']:.1f} s | ≤ 15 s |",
        f"| explanations ÷ bare decode of the same tokens | {summary['explain_vs_bare']:.2f} | |",
        f"| ranking, in bare decode tokens | {summary['rank_in_decode_tokens']:.1f} tokens | |",
        f"| faithfulness (first answer grounded) | {100 * summary['faithfulness']:.0f}% "
        f"({summary['explanations']} explanations; regenerated "
        f"{100 * summary['regenerated']:.0f}%, template {100 * summary['template']:.0f}%) "
        "| ≥ 95% |",
        "",
        f"Catalog: movies, {n_items} items, channels text + clip_text; LLM {settings.llm.model}; "
        f"{meta['cpus']} CPUs; load average at the end {meta['load_average_at_end'][0]:.1f} "
        "(the machine is shared, so absolute times are pessimistic). Understanding runs the rules "
        "and the LLM on the real message (timed); the scripted state change is then applied, "
        "so every run ranks the same states. Bare decode "
        f"replays ran for the first {bare_turns} turn(s); a ratio below 1 means the bare replay "
        "was slower than the pipeline's own call (CPU contention from other jobs varies).",
        "",
        "| turn | rank ms | explain s | LLM calls | tokens | ÷ bare | sources |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['explain_vs_bare']:.2f}" if r["explain_vs_bare"] else "–"
        md.append(
            f"| {r['message']} | {r['retrieval_fusion_ms']:.0f} | {r['explain_s']:.1f} | "
            f"{r['llm_calls']} | {r['llm_tokens']} | {ratio} | {', '.join(r['sources'])} |"
        )
    md += ["", "## Explanations of the last turn", ""]
    for it in rows[-1]["items"]:
        md.append(f"- **{it['title']}** ({it['source']}): {it['explanation']}")
    (out / "bench_pipeline.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
