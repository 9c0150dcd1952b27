"""Raw LLM explanations for realistic requests on both shipped catalogs, with claims.py's verdict.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/explanations/generate.py [--out DIR] [--requests FILE]

For each request (one or two user messages) the system ranks as :meth:`ConvRec.recommend` does
(no explanations), then the explanation stage runs as in a turn (``settings.llm.explain_mode``,
default ``items``: one batched generation for the five items) through a wrapper that records the
model's first answers and refuses any further call, so nothing is regenerated: an item whose
first answer fails the grounding check gets its template, and the explanation's ``problems`` are
claims.py's verdict on the first answer. Recorded per item: the request, the preferences lines
the model was shown, the item's id (its fields and description stay in the built catalog, out of
the repository: score.py and blind.py read them from there), the first answer as the model wrote
it (``raw``: the prompt's opening plus its continuation) and as claims.py read it (``text``,
after ``convrec.explain.explanations.clean``), and the verdict. Greedy decoding: a rerun gives the
same text.

Writes ``explanations.jsonl`` (one record per explanation) and ``explanations.meta.json`` (the
code version, the LLM settings and the requests) to ``--out`` (default: this folder). The requests
are :data:`REQUESTS` unless ``--requests`` names a JSON file of the same shape (a fresh set that
no rule or checker was changed against, e.g. ``v7/requests.json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from convrec import ConvRec, load_settings
from convrec.dialogue.state import DialogueState
from convrec.errors import LLMError
from convrec.evaluation.provenance import code_version
from convrec.explain.explanations import (
    _continued,
    clean,
    explain_recommendations,
    stated_preferences,
)
from convrec.types import Message

log = logging.getLogger("eval.explanations.generate")
HERE = Path(__file__).resolve().parent
K = 5  # items explained per request (the app's default list length)

# What a movie fan or a phone buyer would type: genres, liked titles, people, decades, negations,
# lengths; makers, carriers, sizes, memory, cores, years. Two-message requests are one dialogue.
REQUESTS: dict[str, list[list[str]]] = {
    "movies": [
        ["A funny animated movie for the whole family."],
        ["I loved The Matrix. Something with the same sci-fi action feel?"],
        ["A really scary horror film from the 80s."],
        ["Any good dramas with Tom Hanks?"],
        ["I liked Pulp Fiction and Fargo. More crime movies like those, but no horror."],
        ["A romantic comedy from the 90s, nothing too long."],
        ["Something directed by Steven Spielberg."],
        ["I'd like a war film.", "Not a musical, and preferably made after 1990."],
        ["A classic film noir from the 1940s."],
        ["I like Meryl Streep.", "Maybe a comedy this time."],
        ["A French movie, ideally a romance."],
        ["A kids movie under 90 minutes for a rainy afternoon."],
    ],
    "phones": [
        ["A Samsung phone with at least 4 GB of RAM."],
        ["A small phone, screen under 5 inches."],
        ["I need lots of storage, 64 GB or more, but not an iPhone."],
        ["An octa-core phone released in 2015 or later."],
        ["A Sony phone on DoCoMo."],
        ["Something with a big screen for videos, 6 inches or more, no Sharp please."],
        ["I want a Fujitsu phone.", "With at least 3 GB of RAM."],
        ["A cheap old Android phone from 2012 with a quad-core processor."],
    ],
}


class FirstAnswers:
    """The LLM for one explanation call: passes the first generation through and records it;
    any later call (the regeneration of failed items) fails, so those items get templates."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.conversations: list[Sequence[Message]] = []
        self.answers: list[str] = []

    def _once(self) -> None:
        if self.answers:
            raise LLMError("first answers only (eval/explanations/generate.py)")

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int | None = None
    ) -> list[str]:
        self._once()
        out = list(self.llm.generate_batch(conversations, max_new_tokens=max_new_tokens))
        self.conversations, self.answers = list(conversations), out
        return out

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        json_schema: Mapping[str, Any] | None = None,
    ) -> str:
        raise LLMError("generate_batch only: this script runs explain_mode='items'")

    def stream(
        self, messages: Sequence[Message], *, max_new_tokens: int | None = None
    ) -> Iterator[str]:
        raise LLMError("generate_batch only: this script runs explain_mode='items'")


def state_for(rec: ConvRec, history: list[Message]) -> DialogueState:
    """The dialogue state after each user message, exactly as ``ConvRec.recommend`` builds it."""
    state = DialogueState()
    for n, m in enumerate(history):
        if m.role == "user":
            state = rec._prefix_state(tuple(history[: n + 1]), state)
    return state


def explain_request(
    rec: ConvRec, llm: Any, catalog: str, r: int, said: list[str]
) -> list[dict[str, Any]]:
    history = [Message("user", s) for s in said]
    state = state_for(rec, history)
    recs = rec.rank(state, K, history)
    first = FirstAnswers(llm)
    settings = rec.settings
    explained = explain_recommendations(recs, state, rec.catalog, first, settings, mode="items")
    prefs = stated_preferences(state, rec.catalog)
    records = []
    for i, (one, e) in enumerate(zip(recs, explained.explanations, strict=True)):
        item = rec.catalog[one.item_id]
        raw = ""
        if i < len(first.answers):
            raw = _continued(first.conversations[i][-1].content, first.answers[i])
        text = clean(raw, item.title) if raw else ""
        if e.passed and e.text != text:
            log.warning("reconstructed text differs from the shown one: %r vs %r", text, e.text)
        records.append({
            "id": f"{catalog}-{r:02d}-{i + 1}",
            "catalog": catalog,
            "request": said,
            "preferences": prefs,
            "rank": i + 1,
            "item_id": item.id,
            "title": item.title,
            "raw": raw,
            "text": text,
            "claims": {"passed": e.passed, "problems": list(e.problems)},
        })  # fmt: skip
    return records


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--requests", type=Path, help="JSON {catalog: [[message, ...], ...]}")
    args = ap.parse_args(argv)
    requests_by_catalog = REQUESTS
    if args.requests is not None:
        requests_by_catalog = json.loads(args.requests.read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings(None)
    commit = code_version()  # the code this process imported (a commit made meanwhile is not)
    log.info("code %s, LLM %s (%s, %s)", commit, settings.llm.model,
             settings.llm.backend, settings.llm.dtype)  # fmt: skip
    llm = None
    records: list[dict[str, Any]] = []
    for catalog, requests in requests_by_catalog.items():
        rec = ConvRec.from_config(catalog=catalog, settings=settings, llm=llm)
        llm = rec.llm
        for r, said in enumerate(requests, start=1):
            start = time.perf_counter()
            got = explain_request(rec, llm, catalog, r, said)
            records += got
            passed = sum(g["claims"]["passed"] for g in got)
            took = time.perf_counter() - start
            log.info("%s %d/%d %r: %d passed claims.py of %d, %.1f s", catalog, r, len(requests),
                     said, passed, len(got), took)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "explanations.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    meta = {"commit": commit, "llm": {"model": settings.llm.model,
            "backend": settings.llm.backend, "dtype": settings.llm.dtype},
            "explain_mode": "items", "k": K, "n": len(records),
            "requests": requests_by_catalog}  # fmt: skip
    (args.out / "explanations.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("wrote %d explanations to %s", len(records), path)


if __name__ == "__main__":
    main()
