"""index_catalog with real MiniLM, a real (untrained) open_clip model and real embedded Chroma."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kit import running_chroma
from PIL import Image

from convrec.backends.chroma_store import ChromaStore
from convrec.backends.st_embedder import SentenceTransformerEmbedder
from convrec.catalog.index import HASH_KEY, index_catalog
from convrec.catalog.layout import CHANNELS
from convrec.catalog.schema import Catalog
from convrec.config import Settings, load_settings
from convrec.errors import IndexError_
from convrec.types import Item

SHARED = Path("~/.cache/convrec").expanduser()


def make_settings(cache: Path, **kw: Any) -> Settings:
    return load_settings(
        environ={},
        cache_dir=str(cache),
        models_dir=str(SHARED / "models"),
        downloads_dir=str(SHARED / "downloads"),
        **kw,
    )


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder.from_settings(make_settings(tmp_path_factory.mktemp("c")))


class Counting:
    """Wraps an embedder and records every input it was asked to encode."""

    def __init__(self, inner: Any, name: str | None = None) -> None:
        self.inner, self.dim = inner, inner.dim
        self.seen: list[Any] = []
        self.name = name or getattr(inner, "name", "inner")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.asarray(self.inner.encode_documents(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.inner.encode_queries(texts))

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        self.seen.extend(str(p) for p in images)
        return np.asarray(self.inner.encode_images(images))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.asarray(self.inner.encode_texts(texts))


class TinyClip:
    """A REAL open_clip CLIP, tiny and randomly initialised (no download): an ImageTextEmbedder."""

    name = "tiny-random-clip"
    dim = 32

    def __init__(self) -> None:
        import open_clip
        import torch
        from open_clip.model import CLIPTextCfg, CLIPVisionCfg

        torch.manual_seed(0)
        vision = CLIPVisionCfg(layers=1, width=64, head_width=32, patch_size=16, image_size=64)
        text = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=2, layers=1)
        self.model = open_clip.CLIP(embed_dim=self.dim, vision_cfg=vision, text_cfg=text).eval()
        self.tokenizer = open_clip.get_tokenizer("ViT-B-32")
        self.preprocess = open_clip.image_transform(64, is_train=False)
        self.torch = torch

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        pics = [Image.open(p).convert("RGB") if isinstance(p, str | Path) else p for p in images]
        with self.torch.no_grad():
            batch = self.torch.stack([self.preprocess(p) for p in pics])
            return self.model.encode_image(batch, normalize=True).numpy().astype(np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        with self.torch.no_grad():
            out = self.model.encode_text(self.tokenizer(list(texts)), normalize=True)
            return out.numpy().astype(np.float32)


COLOURS = {
    "red": (220, 20, 20),
    "blue": (20, 20, 220),
    "green": (20, 200, 20),
    "yellow": (230, 220, 20),
}


def toy_catalog(root: Path) -> Catalog:
    """Six phones; four with a photo (plain colour), two without."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for n, (maker, colour) in enumerate(
        [
            ("Sony", "red"),
            ("LG", "blue"),
            ("Apple", "green"),
            ("Sony", "yellow"),
            ("HTC", None),
            ("Nokia", None),
        ]
    ):
        images: tuple[str, ...] = ()
        if colour:
            Image.new("RGB", (40, 80), COLOURS[colour]).save(root / "images" / f"p{n}.png")
            images = (f"images/p{n}.png",)
        items.append(
            Item(
                id=f"p{n}",
                title=f"{maker} Phone {n}",
                description=f"An Android phone by {maker} with a {4 + n * 0.3:.1f}-inch screen.",
                category="phone",
                attributes={"maker": maker, "ram_gb": n % 4, "tags": ("android", maker.lower())},
                image_paths=images,
                price=100.0 + n,
            )
        )
    return Catalog(name="toy", root=root, items=tuple(items))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with running_chroma(tmp_path_factory.mktemp("chroma-server")) as address:
        yield address


@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_text_channel_incremental_and_deletes(
    tmp_path: Path, minilm: SentenceTransformerEmbedder, mode: str, request: pytest.FixtureRequest
) -> None:
    settings = make_settings(tmp_path, embed={"batch_size": 4})
    if mode == "server":
        host, port = request.getfixturevalue("server")
        store = ChromaStore.connect(host, port)
    else:
        store = ChromaStore.embedded(settings.store_path)
    cat = toy_catalog(tmp_path / "cat")
    enc = Counting(minilm)
    stats = index_catalog(cat, settings, store, enc, channels=["text"])
    (ch,) = stats.channels
    assert (ch.collection, ch.count, ch.dim, ch.embedded) == ("toy__text", 6, 384, 6)
    assert len(enc.seen) == 6
    meta = store.get("toy__text", ["p0"])["p0"]
    assert meta["maker"] == "Sony" and meta["tags_sony"] is True and len(meta[HASH_KEY]) == 32

    enc.seen.clear()  # second run: nothing changed, nothing encoded
    assert index_catalog(cat, settings, store, enc, channels=["text"]).channels[0].unchanged == 6
    assert enc.seen == []

    items = list(cat.items)
    items[1] = replace(items[1], description="A rugged phone for hikers with a huge battery.")
    items[2] = replace(items[2], price=999.0, attributes={"maker": "Apple"})  # metadata only
    del items[5]
    cat2 = replace(cat, items=tuple(items), _by_id={})
    ch = index_catalog(cat2, settings, store, enc, channels=["text"]).channels[0]
    assert enc.seen == [items[1].text]
    assert (ch.embedded, ch.refreshed, ch.deleted, ch.count) == (1, 1, 1, 5)
    assert "p5" not in store.get("toy__text")
    p2 = store.get("toy__text", ["p2"])["p2"]
    assert p2["price"] == 999.0 and "ram_gb" not in p2 and "tags_android" not in p2  # no stale keys
    q = minilm.encode_queries(["phone for hiking with long battery life"])[0]
    assert store.query("toy__text", q, 1)[0].item_id == "p1"


def test_model_change_rebuilds_collection(
    tmp_path: Path, minilm: SentenceTransformerEmbedder
) -> None:
    settings = make_settings(tmp_path)
    store = ChromaStore.embedded(settings.store_path)
    cat = toy_catalog(tmp_path / "cat")
    index_catalog(cat, settings, store, Counting(minilm, name="model-a"), channels=["text"])
    other = Counting(minilm, name="model-b")
    assert index_catalog(cat, settings, store, other, channels=["text"]).channels[0].embedded == 6
    assert store.info("toy__text")["model"] == "model-b"


def test_image_channels_with_real_open_clip(
    tmp_path: Path, minilm: SentenceTransformerEmbedder
) -> None:
    settings = make_settings(tmp_path)
    store = ChromaStore.embedded(settings.store_path)
    cat = toy_catalog(tmp_path / "cat")
    clip = Counting(TinyClip())
    stats = index_catalog(cat, settings, store, minilm, clip)
    by = {c.channel: c for c in stats.channels}
    assert [c.channel for c in stats.channels] == list(CHANNELS)
    assert (by["image"].count, by["image"].dim) == (4, 32)  # only items with a photo
    assert (by["clip_text"].count, by["text"].count) == (6, 6)
    assert set(store.get("toy__image")) == {"p0", "p1", "p2", "p3"}
    own = clip.inner.encode_images([cat.root / "images/p3.png"])[0]
    top = store.query("toy__image", own, 1)[0]
    assert top.item_id == "p3" and top.score == pytest.approx(1.0, abs=1e-4)
    assert store.query("toy__image", own, 2, where={"maker": "Sony"})[0].item_id == "p3"

    # A new photo for p0 re-embeds p0's image only; the text channels stay untouched.
    Image.new("RGB", (40, 80), COLOURS["green"]).save(cat.root / "images/p0.png")
    clip.seen.clear()
    by = {c.channel: c for c in index_catalog(cat, settings, store, minilm, clip).channels}
    assert clip.seen == [str(cat.root / "images/p0.png")]
    assert (by["image"].embedded, by["clip_text"].embedded, by["text"].embedded) == (1, 0, 0)


def test_without_image_embedder_text_is_indexed_and_skip_is_logged(
    tmp_path: Path, minilm: SentenceTransformerEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    store = ChromaStore.embedded(settings.store_path)
    with caplog.at_level(logging.WARNING, logger="convrec.catalog.index"):
        stats = index_catalog(toy_catalog(tmp_path / "cat"), settings, store, minilm)
    by = {c.channel: c for c in stats.channels}
    assert by["text"].count == 6 and not by["text"].skipped
    assert "image–text embedder" in by["image"].skipped and by["clip_text"].skipped
    assert store.collections() == ["toy__content", "toy__text"]
    assert "channel image of toy skipped" in caplog.text


def test_unknown_channel_rejected(tmp_path: Path, minilm: SentenceTransformerEmbedder) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(IndexError_, match="Unknown channel"):
        index_catalog(toy_catalog(tmp_path / "c"), settings, ChromaStore.embedded(tmp_path / "s"),
                      minilm, channels=["audio"])  # fmt: skip


KILL_SCRIPT = """
import sys, time
from pathlib import Path
from convrec.backends.chroma_store import ChromaStore
from convrec.backends.st_embedder import SentenceTransformerEmbedder
from convrec.catalog.index import index_catalog
from convrec.catalog.schema import Catalog
from convrec.config import load_settings
from convrec.types import Item

cache, models, progress = sys.argv[1], sys.argv[2], Path(sys.argv[3])
settings = load_settings(environ={}, cache_dir=cache, models_dir=models, embed={"batch_size": 8})
st = SentenceTransformerEmbedder.from_settings(settings)

class Slow:
    dim, name = st.dim, st.name
    def encode_documents(self, texts):
        out = st.encode_documents(texts)
        with progress.open("a") as f:
            f.write("batch\\n")
        time.sleep(0.05)
        return out
    def encode_queries(self, texts):
        return st.encode_queries(texts)

items = tuple(
    Item(id=f"m{i}", title=f"Movie {i}", description=f"Story number {i} about {i % 7} toys.",
         attributes={"year": 1990 + i % 30})
    for i in range(240)
)
store = ChromaStore.embedded(settings.store_path)
index_catalog(Catalog(name="kill", root=Path(cache), items=items), settings, store, Slow(),
              channels=["text"])
print("FINISHED")
"""


def test_kill_9_mid_run_then_resume(tmp_path: Path, minilm: SentenceTransformerEmbedder) -> None:
    progress = tmp_path / "progress.txt"
    script = tmp_path / "run_index.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT))
    argv = [sys.executable, str(script), str(tmp_path), str(SHARED / "models"), str(progress)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not (progress.exists() and progress.read_text().count("batch") >= 5):
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "indexing subprocess made no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    settings = make_settings(tmp_path, embed={"batch_size": 8})
    store = ChromaStore.embedded(settings.store_path)
    before = store.get("kill__text")
    assert 0 < len(before) < 240, f"kill landed outside the run ({len(before)} records)"
    assert all(m.get(HASH_KEY) and m.get("year") for m in before.values())  # complete records
    vecs = store.vectors("kill__text", sorted(before))
    assert np.isfinite(vecs).all() and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)

    items = tuple(
        Item(
            id=f"m{i}",
            title=f"Movie {i}",
            description=f"Story number {i} about {i % 7} toys.",
            attributes={"year": 1990 + i % 30},
        )
        for i in range(240)
    )
    enc = Counting(minilm)
    ch = index_catalog(Catalog("kill", tmp_path, items), settings, store, enc, channels=["text"])
    ch0 = ch.channels[0]
    assert ch0.embedded == 240 - len(before) == len(enc.seen)  # only the missing ones
    assert ch0.count == 240
    hits = store.query("kill__text", minilm.encode_queries(["Story number 7"])[0], 240)
    ids = [h.item_id for h in hits]
    assert len(ids) == len(set(ids)) == 240  # no duplicates in the vector index either


# -- relevance on REAL catalog items (the shipped catalogs, built into a temp cache) ----------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose cache holds the real phones and movies catalogs, built from the registries."""
    from convrec.catalog.build import build_catalog

    settings = make_settings(tmp_path_factory.mktemp("catalogs"))
    build_catalog("phones", settings)
    build_catalog("movies", settings)
    return settings


def subset(cat: Catalog, keep: Sequence[str], n_others: int) -> Catalog:
    """The items named in ``keep`` plus the first ``n_others`` others, as a catalog."""
    chosen = [it for it in cat.items if it.id in keep]
    chosen += [it for it in cat.items if it.id not in keep][:n_others]
    return replace(cat, name=f"{cat.name}-subset", items=tuple(chosen), _by_id={})


def top_titles(store: ChromaStore, cat: Catalog, query: str, emb: Any, k: int) -> list[Item]:
    hits = store.query(f"{cat.name}__text", emb.encode_queries([query])[0], k)
    return [cat[h.item_id] for h in hits]


def test_relevance_on_real_subsets(
    built: Settings, tmp_path: Path, minilm: SentenceTransformerEmbedder
) -> None:
    from convrec.catalog.layout import open_catalog

    store = ChromaStore.embedded(tmp_path / "chroma")
    movies = open_catalog("movies", built)
    toys = [it.id for it in movies.items if it.title.startswith("Toy Story")]
    assert toys, "the movies catalog lost Toy Story"
    sub = subset(movies, toys, 150)
    index_catalog(sub, built, store, minilm, channels=["text"])
    top = top_titles(store, sub, "animated movie about toys", minilm, 3)
    assert all(it.title.startswith("Toy Story") for it in top[: min(3, len(toys))]), top

    phones = open_catalog("phones", built)
    sony = [it.id for it in phones.items if it.attributes.get("maker") == "Sony"][:15]
    sub = subset(phones, sony, 100)
    index_catalog(sub, built, store, minilm, channels=["text"])
    top = top_titles(store, sub, "Sony phone with a big screen", minilm, 5)
    assert [it.attributes.get("maker") for it in top] == ["Sony"] * 5, top


@pytest.mark.slow
def test_acceptance_full_catalogs(
    built: Settings, tmp_path: Path, minilm: SentenceTransformerEmbedder
) -> None:
    from convrec.catalog.layout import open_catalog

    store = ChromaStore.embedded(tmp_path / "chroma")
    phones = open_catalog("phones", built)
    stats = index_catalog(phones, built, store, minilm, channels=["text"])
    assert stats.channels[0].count == len(phones)
    top = top_titles(store, phones, "Sony phone with a big screen", minilm, 5)
    assert sum(it.attributes.get("maker") == "Sony" for it in top) >= 4, top

    movies = open_catalog("movies", built)
    stats = index_catalog(movies, built, store, minilm, channels=["text"])
    assert stats.channels[0].count == len(movies)
    top = top_titles(store, movies, "animated movie about toys", minilm, 5)
    assert any(it.title.startswith("Toy Story") for it in top[:3]), top
    # Text alone ranks the live-action "Toys" (1992) first; genre matching is the fusion's job.
    genres = [it.attributes.get("genres") for it in top]
    assert sum(isinstance(g, tuple) and "Animation" in g for g in genres) >= 3, top


def test_cli_index_stats(
    tmp_path: Path, minilm: SentenceTransformerEmbedder, capsys: pytest.CaptureFixture[str]
) -> None:
    from convrec.catalog.layout import write_catalog
    from convrec.cli import main

    toy = toy_catalog(tmp_path / "src")
    items = [
        replace(it, image_paths=tuple(str(toy.root / p) for p in it.image_paths))
        for it in toy.items
    ]
    write_catalog(tmp_path / "shop", items, {"name": "shop"})
    config = tmp_path / "convrec.toml"
    config.write_text(
        f'cache_dir = "{tmp_path / "cache"}"\nmodels_dir = "{SHARED / "models"}"\n'
        f'downloads_dir = "{SHARED / "downloads"}"\n'
    )
    argv = ["--config", str(config), "index", str(tmp_path / "shop"), "--stats"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "shop__text: 6 records (6 embedded" in out
    # The shipped convrec-clip (the default image–text model) embeds the 4 photos and 6 texts.
    assert "shop__image: 4 records (4 embedded" in out
    assert "shop__clip_text: 6 records (6 embedded" in out
    assert "store size on disk:" in out and "MB" in out
    assert main(argv) == 0  # idempotent re-run
    assert "shop__text: 6 records (0 embedded, 0 refreshed, 0 deleted, 6 unchanged)" in (
        capsys.readouterr().out
    )
    assert main(["--config", str(config), "index", "shop", "--channels", "audio"]) == 2
