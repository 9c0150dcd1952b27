"""Small Protocols for every swappable backend: LLM, embedders, vector store, collaborative."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

    from convrec.types import Hit, Message


@runtime_checkable
class LLM(Protocol):
    """A chat model. ``json_schema`` constrains the output where the backend can."""

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        json_schema: Mapping[str, Any] | None = None,
    ) -> str: ...

    def stream(
        self, messages: Sequence[Message], *, max_new_tokens: int | None = None
    ) -> Iterator[str]: ...


@runtime_checkable
class BatchLLM(Protocol):
    """An LLM that answers several independent chats in one call (batched decoding, or parallel
    requests a server batches). A chat whose last message is the assistant's is continued from
    that opening. Each answer stops at the first line break."""

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int | None = None
    ) -> list[str]: ...


@runtime_checkable
class TextEmbedder(Protocol):
    """Sentence embeddings, L2-normalised, shape (n, dim)."""

    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class ImageTextEmbedder(Protocol):
    """Images and texts in one space (CLIP-style), L2-normalised, shape (n, dim)."""

    dim: int

    def encode_images(self, images: Sequence[Path | Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


# The filter language of ``VectorStore.query(where=...)``, which every store implements (it is
# Chroma's metadata filter): a clause is ``{key: value}`` (equality) or ``{key: {op: operand}}``
# with ``op`` one of WHERE_OPS (``$in``/``$nin`` take a list); ``{"$and": [clause, ...]}`` and
# ``{"$or": [clause, ...]}`` combine clauses. Keys are item metadata keys: scalar attributes, and
# for list attributes one boolean flag per value (:func:`convrec.catalog.schema.flag_key`).
Where = Mapping[str, Any]
WHERE_OPS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")


def and_where(conditions: Mapping[str, Any]) -> dict[str, Any] | None:
    """A :data:`Where` from ``{key: value-or-operator}``: two or more keys need ``$and``."""
    clauses = [{k: v} for k, v in conditions.items()]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@runtime_checkable
class VectorStore(Protocol):
    """Named collections of id → (vector, metadata). Embedded and server Chroma implement it.
    Collections are named by :func:`convrec.catalog.layout.collection_name`."""

    location: str  # where the store lives (a directory or a server URL), for error messages

    def count(self, collection: str) -> int: ...  # 0 for a collection that does not exist

    # The collection-level metadata (``dim``, and the ``model`` the indexer recorded); {} if none.
    def info(self, collection: str) -> dict[str, Any]: ...

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None: ...

    def delete(self, collection: str, ids: Sequence[str]) -> None: ...

    def query(
        self,
        collection: str,
        vector: np.ndarray,
        k: int,
        where: Where | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Hit]: ...

    # Metadata by id (all records when ids is None): the indexer diffs content hashes with it.
    def get(
        self, collection: str, ids: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]: ...

    # Stored vectors of ids, in order: item-to-item retrieval, metadata-only rewrites.
    def vectors(self, collection: str, ids: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class CollaborativeModel(Protocol):
    """Items that people who liked the given items also liked (from the catalog's interactions).

    ``similar`` returns catalog ids best first with a score (``Hit.channel == "cf"``), never a
    query item, an ``exclude`` item or, when ``allowed`` is given, an item outside it; unknown
    query ids are ignored. ``item_id in model`` says whether an item has neighbours.
    """

    def similar(
        self,
        item_ids: Sequence[str],
        k: int,
        allowed: Collection[str] | None = None,
        exclude: Collection[str] = (),
    ) -> list[Hit]: ...

    def __contains__(self, item_id: object) -> bool: ...
