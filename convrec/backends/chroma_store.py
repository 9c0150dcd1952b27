"""VectorStore on Chroma: embedded PersistentClient or HttpClient to `chroma run`, one class."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convrec.catalog.layout import channel_of
from convrec.errors import ConvRecError, IndexError_, MissingDependencyError, StoreError
from convrec.types import Hit

if TYPE_CHECKING:
    from convrec.config import Settings

log = logging.getLogger(__name__)

# Collection-level metadata keys written when a collection is created.
DIM_KEY = "dim"
SPACE = "cosine"


def validate_vectors(vectors: Any, dim: int | None, what: str = "vectors") -> np.ndarray:
    """``vectors`` as a finite float32 (n, dim) array with n ≥ 1, or IndexError_ saying why."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise IndexError_(
            f"Empty or malformed {what} (shape {arr.shape}); expected (n, dim) with n ≥ 1. "
            "Fix: pass at least one vector; skip the call when there is nothing to store."
        )
    if dim is not None and arr.shape[1] != dim:
        raise IndexError_(
            f"{what} have dimension {arr.shape[1]} but the collection holds {dim}-d vectors. Fix: "
            "use the same embedding model as when the collection was built, or rebuild the index "
            "(`convrec index CATALOG` re-creates a collection whose model changed)."
        )
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise IndexError_(
            f"{int(bad.sum())} of the {what} contain NaN or inf (rows {rows}…). Fix: check the "
            "encoder input (empty text, unreadable image) and the model weights."
        )
    return arr


class ChromaStore:
    """Collections of id → (vector, metadata) in cosine space; results come back as Hit."""

    def __init__(
        self, client: Any, *, location: str, server: bool, ef_search: int | None = None
    ) -> None:
        self.client = client
        self.location = location
        self.server = server
        self.ef_search = ef_search  # HNSW search breadth set on every collection opened
        self._dims: dict[str, int] = {}
        self._cols: dict[str, Any] = {}  # open collection handles; queries skip a lookup
        # ids per collection, loaded on the first id-restricted query: Chroma refuses a query
        # whose ``ids`` name a record the collection lacks (a phone without a photo has no
        # ``image`` record), so restrictions are intersected with this first.
        self._members: dict[str, set[str]] = {}
        self._max_batch: int | None = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def embedded(cls, path: str | Path, ef_search: int | None = None) -> ChromaStore:
        """A store in the directory ``path`` (created if missing); ``ef_search``: see
        ``StoreSettings.ef_search`` (None keeps each collection's own)."""
        chromadb, chroma_settings = _import_chromadb()
        path = Path(path).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        try:
            client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except Exception as e:
            raise StoreError(
                f"Could not open the Chroma store at {path}: {e}. Fix: check the directory is "
                "writable and not used by a different Chroma version, or set store.path elsewhere."
            ) from e
        return cls(client, location=str(path), server=False, ef_search=ef_search)

    @classmethod
    def connect(cls, host: str, port: int, ef_search: int | None = None) -> ChromaStore:
        """A store served by ``chroma run`` at ``host:port``."""
        chromadb, chroma_settings = _import_chromadb()
        try:
            client = chromadb.HttpClient(host=host, port=port, settings=chroma_settings)
            client.heartbeat()
        except Exception as e:
            raise StoreError(_server_down(host, port, e)) from e
        return cls(client, location=f"http://{host}:{port}", server=True, ef_search=ef_search)

    # -- the VectorStore protocol ------------------------------------------------------------
    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Insert or replace records; creates the collection (cosine, dim of ``vectors``)."""
        if len(ids) == 0:
            raise IndexError_(f"Empty upsert into {collection!r}: no ids. Fix: skip empty batches.")
        col = self._collection(collection, create_dim=np.asarray(vectors).shape[-1])
        arr = validate_vectors(vectors, self._dim(collection, col))
        if not (arr.shape[0] == len(ids) == len(metadatas)):
            raise IndexError_(
                f"upsert into {collection!r}: {len(ids)} ids, {arr.shape[0]} vectors and "
                f"{len(metadatas)} metadatas. Fix: pass one vector and one metadata per id."
            )
        if len(set(ids)) != len(ids):
            raise IndexError_(f"upsert into {collection!r} got duplicate ids. Fix: dedupe them.")
        step = self.max_batch
        with self._calls(f"upsert into {collection!r}"):
            for i in range(0, len(ids), step):
                col.upsert(
                    ids=list(ids[i : i + step]),
                    embeddings=arr[i : i + step],
                    metadatas=[dict(m) for m in metadatas[i : i + step]],
                )
        if collection in self._members:
            self._members[collection].update(ids)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove ``ids`` (absent ids are ignored)."""
        if not ids:
            return
        col = self._collection(collection)
        with self._calls(f"delete from {collection!r}"):
            for i in range(0, len(ids), self.max_batch):
                col.delete(ids=list(ids[i : i + self.max_batch]))
        self._members.get(collection, set()).difference_update(ids)

    def query(
        self,
        collection: str,
        vector: np.ndarray,
        k: int,
        where: Mapping[str, Any] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Hit]:
        """The ``k`` nearest records (score = 1 − cosine distance), optionally filtered by
        metadata (``where``) and restricted to ``ids`` (an empty ``ids`` matches nothing)."""
        col = self._collection(collection)
        q = validate_vectors(vector, self._dim(collection, col), what="query vector")
        if q.shape[0] != 1:
            raise IndexError_(
                f"query takes one vector, got {q.shape[0]}. Fix: query one at a time."
            )
        if k < 1:
            raise IndexError_(f"query asked for k={k} results. Fix: ask for k ≥ 1.")
        if ids is not None:
            members = self._member_ids(collection)
            ids = [i for i in ids if i in members]
            if not ids:
                return []
        with self._calls(f"query {collection!r}"):
            res = col.query(
                query_embeddings=q,
                n_results=k,
                where=dict(where) if where else None,
                ids=list(ids) if ids is not None else None,
                include=["distances"],
            )
        channel = channel_of(collection)
        ids, dists = res["ids"][0], (res["distances"] or [[]])[0]
        return [Hit(i, 1.0 - float(d), channel) for i, d in zip(ids, dists, strict=True)]

    def get(self, collection: str, ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Metadata by id, for ``ids`` or the whole collection; missing collection → {}."""
        if not self.exists(collection):
            return {}
        col = self._collection(collection)
        out: dict[str, dict[str, Any]] = {}
        with self._calls(f"read {collection!r}"):
            if ids is not None:
                for i in range(0, len(ids), self.max_batch):
                    r = col.get(ids=list(ids[i : i + self.max_batch]), include=["metadatas"])
                    out.update(zip(r["ids"], (dict(m or {}) for m in r["metadatas"]), strict=True))
                return out
            for r in self._pages(col, ["metadatas"]):
                out.update(zip(r["ids"], (dict(m or {}) for m in r["metadatas"]), strict=True))
            return out

    def _pages(self, col: Any, include: list[Any]) -> Iterator[Any]:
        """The whole collection, one ``get`` of ``max_batch`` records at a time."""
        offset = 0
        while True:
            r = col.get(limit=self.max_batch, offset=offset, include=include)
            yield r
            if len(r["ids"]) < self.max_batch:
                return
            offset += self.max_batch

    def vectors(self, collection: str, ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``ids``, in that order (item-to-item retrieval, re-tagging)."""
        col = self._collection(collection)
        dim = self._dim(collection, col)
        found: dict[str, np.ndarray] = {}
        with self._calls(f"read vectors from {collection!r}"):
            for i in range(0, len(ids), self.max_batch):
                r = col.get(ids=list(ids[i : i + self.max_batch]), include=["embeddings"])
                found.update(zip(r["ids"], r["embeddings"], strict=True))
        missing = [i for i in ids if i not in found]
        if missing:
            raise IndexError_(
                f"{len(missing)} ids are not in {collection!r} (e.g. {missing[:3]}). Fix: "
                "re-run `convrec index CATALOG`, or use ids from this catalog."
            )
        if not ids:
            return np.zeros((0, dim or 0), dtype=np.float32)
        return np.stack([np.asarray(found[i], dtype=np.float32) for i in ids])

    # -- administration (not part of the Protocol) -------------------------------------------
    @property
    def max_batch(self) -> int:
        if self._max_batch is None:
            with self._calls("ask the batch size"):
                self._max_batch = int(self.client.get_max_batch_size())
        return self._max_batch

    def collections(self) -> list[str]:
        with self._calls("list collections"):
            return sorted(
                c if isinstance(c, str) else c.name for c in self.client.list_collections()
            )

    def exists(self, collection: str) -> bool:
        return collection in self.collections()

    def _member_ids(self, collection: str) -> set[str]:
        """Every id in ``collection`` (remembered; kept current by this store's writes)."""
        if collection not in self._members:
            if not self.exists(collection):
                return set()
            ids: set[str] = set()
            with self._calls(f"list the ids of {collection!r}"):
                # ids only: with their metadata this took 1.5 s for 9,000 movies
                for r in self._pages(self._collection(collection), []):
                    ids.update(r["ids"])
            self._members[collection] = ids
        return self._members[collection]

    def count(self, collection: str) -> int:
        return int(self._collection(collection).count()) if self.exists(collection) else 0

    def info(self, collection: str) -> dict[str, Any]:
        """The collection-level metadata (``dim`` and whatever the indexer recorded)."""
        return dict(self._collection(collection).metadata or {}) if self.exists(collection) else {}

    def create(self, collection: str, dim: int, metadata: Mapping[str, Any] | None = None) -> None:
        """Create ``collection`` for ``dim``-d vectors (cosine) if it does not exist."""
        self._collection(collection, create_dim=dim, metadata=metadata)

    def drop(self, collection: str) -> None:
        if self.exists(collection):
            with self._calls(f"drop {collection!r}"):
                self.client.delete_collection(collection)
        self._dims.pop(collection, None)
        self._cols.pop(collection, None)
        self._members.pop(collection, None)

    def disk_bytes(self) -> int | None:
        """Bytes on disk of an embedded store; None for a server (its disk is not ours)."""
        if self.server:
            return None
        return sum(p.stat().st_size for p in Path(self.location).rglob("*") if p.is_file())

    # -- internals ---------------------------------------------------------------------------
    def _collection(
        self, name: str, create_dim: int | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Any:
        if name in self._cols:
            return self._cols[name]
        with self._calls(f"open collection {name!r}"):
            if create_dim is None:
                if not self.exists(name):
                    raise IndexError_(
                        f"The index has no collection {name!r} in {self.location}. Fix: run "
                        "`convrec index CATALOG` for this catalog (and channel) first."
                    )
                # embedding_function=None: we always pass vectors, so nothing is ever downloaded.
                col = self.client.get_collection(name, embedding_function=None)
            else:
                hnsw: dict[str, Any] = {"space": SPACE}
                if self.ef_search is not None:
                    hnsw["ef_search"] = self.ef_search
                col = self.client.get_or_create_collection(
                    name,
                    embedding_function=None,
                    configuration={"hnsw": hnsw},
                    metadata={**(metadata or {}), DIM_KEY: int(create_dim)},
                )
        with self._calls(f"set ef_search of {name!r}"):
            self._search_breadth(col)
        self._cols[name] = col
        return col

    def _search_breadth(self, col: Any) -> None:
        """Give ``col`` this store's ``ef_search`` if it has another (an index built before the
        setting, or with another value): the search is then exact enough to be the same in
        every process."""
        if self.ef_search is None:
            return
        hnsw = (col.configuration or {}).get("hnsw") or {}
        if hnsw.get("ef_search") != self.ef_search:
            col.modify(configuration={"hnsw": {"ef_search": self.ef_search}})
            log.info("%s: HNSW ef_search %s -> %d", col.name, hnsw.get("ef_search"),
                     self.ef_search)  # fmt: skip

    def _dim(self, name: str, col: Any) -> int | None:
        if name not in self._dims:
            dim = (col.metadata or {}).get(DIM_KEY)
            if dim is None:
                return None
            self._dims[name] = int(dim)
        return self._dims[name]

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        try:
            yield
        except ConvRecError:
            raise
        except Exception as e:
            if self.server and _looks_like_connection(e):
                host, _, port = self.location.removeprefix("http://").rpartition(":")
                raise StoreError(_server_down(host, int(port), e)) from e
            raise StoreError(f"Chroma could not {what} ({type(e).__name__}: {e}).") from e


def make_store(settings: Settings) -> ChromaStore:
    """The store ``settings.store`` names: embedded at ``settings.store_path``, or a server."""
    ef = settings.store.ef_search
    if settings.store.mode == "server":
        return ChromaStore.connect(settings.store.host, settings.store.port, ef_search=ef)
    return ChromaStore.embedded(settings.store_path, ef_search=ef)


def _import_chromadb() -> tuple[Any, Any]:
    try:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
    except ImportError as e:
        raise MissingDependencyError("chromadb", purpose="the vector index") from e
    return chromadb, ChromaSettings(anonymized_telemetry=False)


def _looks_like_connection(e: Exception) -> bool:
    text = f"{type(e).__name__} {e}".lower()
    return any(w in text for w in ("connect", "refused", "unreachable", "timed out", "timeout"))


def _server_down(host: str, port: int, e: Exception) -> str:
    return (
        f"No Chroma server answers at {host}:{port} ({type(e).__name__}: {e}). Fix: start it with "
        f'`chroma run --path DIR --host {host} --port {port}`, or set store.mode = "embedded".'
    )
