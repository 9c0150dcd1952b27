"""ChromaStore contract tests, run against a real embedded store and a real `chroma run` server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from kit import free_port, running_chroma

from convrec.backends.chroma_store import ChromaStore, make_store
from convrec.catalog.layout import collection_name
from convrec.config import load_settings
from convrec.errors import IndexError_, StoreError
from convrec.protocols import WHERE_OPS, VectorStore, and_where
from convrec.types import Hit


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with running_chroma(tmp_path_factory.mktemp("chroma-server")) as address:
        yield address


@pytest.fixture(params=["embedded", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ChromaStore:
    if request.param == "embedded":
        return ChromaStore.embedded(tmp_path / "chroma")
    host, port = request.getfixturevalue("chroma_server")
    return ChromaStore.connect(host, port)


@pytest.fixture
def col() -> str:
    """A fresh collection name (the server is shared by the whole session)."""
    return collection_name(f"t{uuid.uuid4().hex[:8]}", "text")


def unit(rng: np.random.Generator, n: int, d: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_round_trip_query_get_vectors(store: ChromaStore, col: str) -> None:
    assert isinstance(store, VectorStore)
    rng = np.random.default_rng(0)
    vecs = unit(rng, 20)
    ids = [f"i{n}" for n in range(20)]
    metas = [
        {"maker": "Sony" if n % 2 else "LG", "ram_gb": n % 5, "big": n > 10} for n in range(20)
    ]
    store.upsert(col, ids, vecs, metas)
    assert store.count(col) == 20
    hits = store.query(col, vecs[7], k=3)
    assert all(isinstance(h, Hit) for h in hits)
    assert (hits[0].item_id, hits[0].channel) == ("i7", "text")
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)  # score = 1 - cosine distance
    assert hits[0].score >= hits[1].score >= hits[2].score
    expected = float(vecs[7] @ vecs[int(hits[1].item_id[1:])])
    assert hits[1].score == pytest.approx(expected, abs=1e-4)
    assert store.get(col, ["i3"]) == {"i3": metas[3]}
    assert set(store.get(col)) == set(ids)
    np.testing.assert_allclose(store.vectors(col, ["i4", "i2"]), vecs[[4, 2]], atol=1e-6)
    assert store.info(col)["dim"] == 8


def test_upsert_replaces_and_delete_removes(store: ChromaStore, col: str) -> None:
    rng = np.random.default_rng(1)
    vecs = unit(rng, 3)
    store.upsert(col, ["a", "b", "c"], vecs, [{"v": 1}] * 3)
    store.upsert(col, ["a"], vecs[[2]], [{"v": 2}])
    assert store.count(col) == 3
    assert store.get(col, ["a"])["a"]["v"] == 2
    hits = store.query(col, vecs[2], k=3)
    assert {h.item_id for h in hits[:2]} == {"a", "c"}
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    store.delete(col, ["b", "missing"])
    assert set(store.get(col)) == {"a", "c"}
    with pytest.raises(IndexError_, match="not in"):
        store.vectors(col, ["b"])


def test_id_restriction_skips_ids_the_collection_lacks(store: ChromaStore, col: str) -> None:
    rng = np.random.default_rng(2)
    vecs = unit(rng, 3)
    store.upsert(col, ["a", "b", "c"], vecs, [{"v": 1}] * 3)
    got = store.query(col, vecs[0], k=3, ids=["b", "ghost", "a"])  # Chroma alone refuses "ghost"
    assert {h.item_id for h in got} == {"a", "b"} and got[0].item_id == "a"
    assert store.query(col, vecs[0], k=3, ids=["ghost"]) == []
    store.upsert(col, ["d"], vecs[[0]], [{"v": 1}])  # writes keep the known ids current
    store.delete(col, ["a"])
    assert {h.item_id for h in store.query(col, vecs[0], k=3, ids=["a", "d"])} == {"d"}


def test_where_and_filter(store: ChromaStore, col: str) -> None:
    rng = np.random.default_rng(2)
    n = 30
    metas = [
        {"maker": ["Sony", "LG", "Apple"][i % 3], "ram_gb": i % 6, "genres_animation": i % 2 == 0}
        for i in range(n)
    ]
    store.upsert(col, [f"i{i}" for i in range(n)], unit(rng, n), metas)
    where = and_where({"maker": "Sony", "ram_gb": {"$gte": 3}})
    assert where == {"$and": [{"maker": "Sony"}, {"ram_gb": {"$gte": 3}}]}
    hits = store.query(col, unit(rng, 1)[0], k=n, where=where)
    want = {f"i{i}" for i in range(n) if i % 3 == 0 and i % 6 >= 3}
    assert {h.item_id for h in hits} == want
    assert and_where({"genres_animation": True}) == {"genres_animation": True}
    flagged = store.query(col, unit(rng, 1)[0], k=n, where=and_where({"genres_animation": True}))
    assert len(flagged) == n // 2


def test_every_operator_of_the_filter_language(store: ChromaStore, col: str) -> None:
    """The protocol's filter language (convrec.protocols.Where), operator by operator, on each
    store: embedded and server Chroma answer alike."""
    rng = np.random.default_rng(4)
    metas = [{"n": i, "kind": "ab"[i % 2], "flag": i < 2} for i in range(6)]
    store.upsert(col, [f"i{i}" for i in range(6)], unit(rng, 6), metas)
    cases = {
        "$eq": ({"kind": {"$eq": "a"}}, {0, 2, 4}),
        "$ne": ({"kind": {"$ne": "a"}}, {1, 3, 5}),
        "$gt": ({"n": {"$gt": 3}}, {4, 5}),
        "$gte": ({"n": {"$gte": 3}}, {3, 4, 5}),
        "$lt": ({"n": {"$lt": 2}}, {0, 1}),
        "$lte": ({"n": {"$lte": 2}}, {0, 1, 2}),
        "$in": ({"n": {"$in": [1, 5]}}, {1, 5}),
        "$nin": ({"n": {"$nin": [1, 5]}}, {0, 2, 3, 4}),
    }
    assert set(cases) == set(WHERE_OPS)
    combined = {"$or": [{"flag": True}, {"$and": [{"kind": "b"}, {"n": {"$gt": 2}}]}]}
    for where, want in [*cases.values(), (combined, {0, 1, 3, 5})]:
        hits = store.query(col, unit(rng, 1)[0], k=6, where=where)
        assert {h.item_id for h in hits} == {f"i{i}" for i in want}, where


@pytest.mark.parametrize(
    ("vectors", "match"),
    [
        (np.array([[np.nan] * 8], dtype=np.float32), "NaN"),
        (np.array([[np.inf] + [0.0] * 7], dtype=np.float32), "NaN or inf"),
        (np.ones((1, 5), dtype=np.float32), "dimension 5"),
        (np.zeros((0, 8), dtype=np.float32), "Empty"),
    ],
)
def test_bad_vectors_rejected(
    store: ChromaStore, col: str, vectors: np.ndarray, match: str
) -> None:
    store.upsert(col, ["ok"], unit(np.random.default_rng(3), 1), [{"v": 1}])
    ids = [f"x{i}" for i in range(len(vectors))]
    with pytest.raises(IndexError_, match=match):
        store.upsert(col, ids, vectors, [{"v": 1}] * len(ids))
    with pytest.raises(IndexError_, match=match if len(vectors) else "Empty"):
        store.query(col, vectors[0] if len(vectors) else vectors, k=1)
    assert set(store.get(col)) == {"ok"}  # nothing bad reached Chroma


def test_shape_mismatch_and_duplicates_rejected(store: ChromaStore, col: str) -> None:
    v = unit(np.random.default_rng(4), 2)
    with pytest.raises(IndexError_, match="one vector and one metadata per id"):
        store.upsert(col, ["a", "b", "c"], v, [{"v": 1}] * 3)
    with pytest.raises(IndexError_, match="duplicate"):
        store.upsert(col, ["a", "a"], v, [{"v": 1}] * 2)
    with pytest.raises(IndexError_, match="Empty upsert"):
        store.upsert(col, [], v[:0], [])


def test_missing_collection_says_how_to_fix(store: ChromaStore, col: str) -> None:
    with pytest.raises(IndexError_, match="convrec index"):
        store.query(col, np.ones(8, dtype=np.float32), k=1)
    assert store.get(col) == {}
    assert store.count(col) == 0


def test_batches_larger_than_chroma_max(store: ChromaStore, col: str) -> None:
    n = store.max_batch + 7
    rng = np.random.default_rng(5)
    store.upsert(col, [f"i{i}" for i in range(n)], unit(rng, n, 4), [{"n": i} for i in range(n)])
    assert store.count(col) == n
    assert len(store.get(col)) == n


def test_make_store_modes(tmp_path: Path, chroma_server: tuple[str, int]) -> None:
    s = load_settings(environ={}, cache_dir=str(tmp_path))
    embedded = make_store(s)
    assert not embedded.server and Path(embedded.location) == tmp_path / "chroma"
    host, port = chroma_server
    server = make_store(
        load_settings(environ={}, store={"mode": "server", "host": host, "port": port})
    )
    assert server.server and server.disk_bytes() is None


def test_search_breadth_is_set_on_new_and_existing_collections(
    tmp_path: Path, chroma_server: tuple[str, int], col: str
) -> None:
    """Chroma's default ef_search (100) is approximate for 100+ results and differs between
    processes on a 9k index; every collection a store opens gets the configured breadth, kept
    in the index for the next process."""
    rng = np.random.default_rng(3)
    host, port = chroma_server
    for make in (
        lambda ef: ChromaStore.embedded(tmp_path / "chroma", ef_search=ef),
        lambda ef: ChromaStore.connect(host, port, ef_search=ef),
    ):
        old = make(None)  # an index built before the setting: Chroma's default
        old.upsert(col, ["a", "b"], unit(rng, 2), [{"n": 1}, {"n": 2}])
        assert old.client.get_collection(col).configuration["hnsw"]["ef_search"] == 100
        new = make(500)
        assert [h.item_id for h in new.query(col, unit(rng, 1), 2)]  # opening sets it
        assert make(None).client.get_collection(col).configuration["hnsw"]["ef_search"] == 500
        fresh = collection_name(f"t{uuid.uuid4().hex[:8]}", "text")
        new.create(fresh, 8)
        assert new.client.get_collection(fresh).configuration["hnsw"]["ef_search"] == 500
    settings = load_settings(environ={}, cache_dir=str(tmp_path / "c"))
    assert make_store(settings).ef_search == settings.store.ef_search == 500


def test_server_down_gives_the_fix() -> None:
    with pytest.raises(StoreError, match=r"chroma run --path DIR --host 127.0.0.1 --port \d+"):
        ChromaStore.connect("127.0.0.1", free_port())


def test_embedded_store_makes_no_network_attempt(tmp_path: Path) -> None:
    """Chroma's default embedding function downloads an ONNX model; we must never trigger it."""
    script = textwrap.dedent(
        f"""
        import sys
        seen = []
        def hook(event, args):
            if event == "socket.connect":
                seen.append(repr(args[1]))
            elif event == "socket.getaddrinfo" and args[0] not in ("127.0.0.1", "localhost"):
                seen.append(repr(args[0]))
        sys.addaudithook(hook)
        import numpy as np
        from convrec.backends.chroma_store import ChromaStore
        s = ChromaStore.embedded({str(tmp_path / "db")!r})
        s.upsert("cat__text", ["a", "b"], np.eye(2, 4, dtype=np.float32), [{{"x": 1}}, {{"x": 2}}])
        s2 = ChromaStore.embedded({str(tmp_path / "db")!r})
        assert [h.item_id for h in s2.query("cat__text", np.eye(1, 4)[0], 2)] == ["a", "b"]
        s2.get("cat__text"); s2.vectors("cat__text", ["b"])
        print("CONNECTS", seen)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "CONNECTS []" in out.stdout, out.stdout
