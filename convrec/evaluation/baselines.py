"""Baseline rankers measured beside the full system, on the same catalog and turns.

Each ranker maps a dialogue context to a ranked list of catalog item ids. Like the system, every
baseline but ``mentioned`` leaves out the items the dialogue already named (the system counts
them as seen), so no baseline spends list slots on them:

- ``popularity``: the most rated items, whatever was said;
- ``bm25``: Okapi BM25 of the user's messages against item text;
- ``dense``: the last two messages embedded as one query, nearest item texts (the analogue of
  iEvaLM's "embed the conversation" baseline, with our embedder);
- ``dense-user``: each of the user's last messages embedded, the newest weighing most
  (1, 1/2, 1/4 …), nearest item texts summed;
- ``item-knn``: the items named earlier in the dialogue, their item-kNN neighbours (cosine over
  the catalog's interactions, fitted on the same users as the system's model): a real
  collaborative recommender, not a text matcher (catalogs with interactions only);
- ``mentioned``: the items mentioned earlier in the dialogue, most recent first (the naive
  "repeat what was said" baseline).
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.config import Settings
    from convrec.engine import ConvRec
    from convrec.protocols import CollaborativeModel, TextEmbedder, VectorStore
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


def _unseen(ids: Iterable[str], context: Context, k: int) -> list[str]:
    """The first ``k`` of ``ids`` that the dialogue did not name."""
    seen = set(context.mentioned)
    return [i for i in ids if i not in seen][:k]


class PopularityRanker:
    def __init__(self, catalog: Catalog) -> None:
        items = sorted(catalog.items, key=lambda it: (-(it.popularity or 0.0), it.id))
        self._order = [it.id for it in items]

    def rank(self, context: Context, k: int) -> list[str]:
        return _unseen(self._order, context, k)


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
        scores = self.scores(" ".join(m.content for m in context.messages if m.role == "user"))
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        return _unseen((self.ids[n] for n, _ in best), context, k)


class DenseRanker:
    """The last ``turns`` messages, embedded as one query, against the text channel."""

    def __init__(
        self, catalog: Catalog, embedder: TextEmbedder, store: VectorStore, turns: int = 2
    ) -> None:
        from convrec.catalog.layout import collection_name

        self.collection = collection_name(catalog.name, "text")
        self.embedder, self.store, self.turns = embedder, store, turns

    def rank(self, context: Context, k: int) -> list[str]:
        text = " ".join(m.content for m in context.messages[-self.turns :]).strip()
        if not text:
            return []
        vector = self.embedder.encode_queries([text])[0]
        hits = self.store.query(self.collection, vector, k + len(context.mentioned))
        return _unseen((h.item_id for h in hits), context, k)


class RecentUserRanker(DenseRanker):
    """Each of the user's last ``turns`` messages embedded; an item's score is the sum over
    messages of weight × similarity, the newest message weighing 1 and each earlier one half
    the next."""

    def rank(self, context: Context, k: int) -> list[str]:
        said = [m.content for m in context.messages if m.role == "user" and m.content.strip()]
        said = said[-self.turns :]
        if not said:
            return []
        vectors = self.embedder.encode_queries(said)
        scores: dict[str, float] = {}
        depth = max(100, k) + len(context.mentioned)
        for age, vector in enumerate(reversed(vectors)):
            for h in self.store.query(self.collection, vector, depth):
                scores[h.item_id] = scores.get(h.item_id, 0.0) + 0.5**age * h.score
        best = sorted(scores, key=lambda i: (-scores[i], i))
        return _unseen(best, context, k)


class ItemKNNRanker:
    """The neighbours of the items named earlier in the dialogue in an item-kNN model; with
    nothing named yet, the most popular items."""

    def __init__(self, model: CollaborativeModel, popular: Ranker) -> None:
        self.model, self.popular = model, popular

    def rank(self, context: Context, k: int) -> list[str]:
        named = list(dict.fromkeys(context.mentioned))
        hits = self.model.similar(named, k, exclude=named) if named else []
        out = _unseen((h.item_id for h in hits), context, k)
        if len(out) < k:  # too few neighbours: fill with the most popular
            out += [i for i in self.popular.rank(context, k + len(out)) if i not in out]
        return out[:k]


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


BASELINES = ("popularity", "bm25", "dense", "dense-user", "item-knn", "mentioned")


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
        elif name == "dense-user":
            from convrec.backends.chroma_store import make_store
            from convrec.backends.st_embedder import SentenceTransformerEmbedder

            embedder = SentenceTransformerEmbedder.from_settings(settings)
            out[name] = RecentUserRanker(catalog, embedder, make_store(settings), turns=3)
        elif name == "item-knn":
            from convrec.backends.cf_fit import fit_or_load

            knn = settings.model_copy(
                update={"cf": settings.cf.model_copy(update={"model": "item_knn"})}
            )
            model = fit_or_load(catalog, knn)
            if model is None:
                log.info("no item-knn baseline: catalog %s has no interactions", catalog.name)
                continue
            out[name] = ItemKNNRanker(model, PopularityRanker(catalog))
        elif name == "mentioned":
            out[name] = MentionedRanker()
        else:
            raise ValueError(f"Unknown baseline {name!r}. Fix: use one of {', '.join(BASELINES)}.")
    return out
