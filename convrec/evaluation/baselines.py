"""Baseline rankers measured beside the full system, on the same catalog and turns.

Each ranker maps a dialogue context to a ranked list of catalog item ids:

- ``popularity``: the most rated items, whatever was said;
- ``bm25``: Okapi BM25 of the whole dialogue text against item text;
- ``dense``: the last two turns embedded with the text embedder, nearest item texts (the
  analogue of iEvaLM's "embed the conversation" baseline, with our embedder);
- ``mentioned``: the items mentioned earlier in the dialogue, most recent first (the naive
  "repeat what was said" baseline).
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.config import Settings
    from convrec.convrec import ConvRec
    from convrec.protocols import TextEmbedder, VectorStore
    from convrec.types import Message

log = logging.getLogger(__name__)
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Context:
    """What a ranker may use: the dialogue so far and the catalog ids of items it mentioned."""

    messages: tuple[Message, ...]
    mentioned: tuple[str, ...] = ()  # most recent last


class Ranker(Protocol):
    def rank(self, context: Context, k: int) -> list[str]: ...


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class PopularityRanker:
    def __init__(self, catalog: Catalog) -> None:
        items = sorted(catalog.items, key=lambda it: (-(it.popularity or 0.0), it.id))
        self._order = [it.id for it in items]

    def rank(self, context: Context, k: int) -> list[str]:
        return self._order[:k]


class BM25Ranker:
    """Okapi BM25 (k1=1.2, b=0.75) over ``item.text``; query = every message of the context."""

    def __init__(self, catalog: Catalog, k1: float = 1.2, b: float = 0.75) -> None:
        self.ids = [it.id for it in catalog.items]
        docs = [Counter(tokens(it.text)) for it in catalog.items]
        self.lengths = [sum(d.values()) for d in docs]
        self.avg = sum(self.lengths) / max(len(docs), 1)
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for n, doc in enumerate(docs):
            for term, tf in doc.items():
                self.postings.setdefault(term, []).append((n, tf))
        total = len(docs)
        self.idf = {
            t: math.log(1 + (total - len(p) + 0.5) / (len(p) + 0.5))
            for t, p in self.postings.items()
        }

    def scores(self, query: str) -> dict[int, float]:
        out: dict[int, float] = {}
        for term, qtf in Counter(tokens(query)).items():
            idf = self.idf.get(term)
            if idf is None:
                continue
            for n, tf in self.postings[term]:
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[n] / self.avg)
                out[n] = out.get(n, 0.0) + qtf * idf * tf * (self.k1 + 1) / norm
        return out

    def rank(self, context: Context, k: int) -> list[str]:
        scores = self.scores(" ".join(m.content for m in context.messages))
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return [self.ids[n] for n, _ in best]


class DenseRanker:
    """The last ``turns`` messages, embedded as one query, against the text channel."""

    def __init__(
        self, catalog: Catalog, embedder: TextEmbedder, store: VectorStore, turns: int = 2
    ) -> None:
        from convrec.backends.chroma_store import collection_name

        self.collection = collection_name(catalog.name, "text")
        self.embedder, self.store, self.turns = embedder, store, turns

    def rank(self, context: Context, k: int) -> list[str]:
        text = " ".join(m.content for m in context.messages[-self.turns :]).strip()
        if not text:
            return []
        vector = self.embedder.encode_queries([text])[0]
        return [h.item_id for h in self.store.query(self.collection, vector, k)]


class MentionedRanker:
    def rank(self, context: Context, k: int) -> list[str]:
        return list(dict.fromkeys(reversed(context.mentioned)))[:k]


class SystemRanker:
    """Our system through its public API, ``ConvRec.recommend(messages, k)``: a fresh,
    stateless reading of the whole context per call."""

    def __init__(self, rec: ConvRec) -> None:
        self.rec = rec

    def rank(self, context: Context, k: int) -> list[str]:
        from convrec.errors import ConvRecError

        messages = [{"role": m.role, "content": m.content} for m in context.messages]
        if not any(m["role"] == "user" for m in messages):
            return []  # the seeker has said nothing yet: nothing to go on
        try:
            return [r.item_id for r in self.rec.recommend(messages, k=k, explain=False)]
        except ConvRecError as e:
            log.warning("the system failed on a turn: %s", e)
            return []


BASELINES = ("popularity", "bm25", "dense", "mentioned")


def make_baselines(
    catalog: Catalog, settings: Settings, names: Sequence[str] = BASELINES
) -> dict[str, Ranker]:
    """The named baselines on ``catalog`` (``dense`` uses the configured text model and the
    catalog's indexed text channel)."""
    out: dict[str, Ranker] = {}
    for name in names:
        if name == "popularity":
            out[name] = PopularityRanker(catalog)
        elif name == "bm25":
            out[name] = BM25Ranker(catalog)
        elif name == "dense":
            from convrec.backends.chroma_store import make_store
            from convrec.backends.st_embedder import SentenceTransformerEmbedder

            embedder = SentenceTransformerEmbedder.from_settings(settings)
            out[name] = DenseRanker(catalog, embedder, make_store(settings))
        elif name == "mentioned":
            out[name] = MentionedRanker()
        else:
            raise ValueError(f"Unknown baseline {name!r}. Fix: use one of {', '.join(BASELINES)}.")
    return out
