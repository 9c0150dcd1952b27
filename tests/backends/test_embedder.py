"""SentenceTransformerEmbedder with the real packaged MiniLM, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convrec.backends.st_embedder import SentenceTransformerEmbedder
from convrec.config import Settings, load_settings
from convrec.errors import ModelError
from convrec.protocols import TextEmbedder

SHARED = Path("~/.cache/convrec").expanduser()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        environ={},
        cache_dir=str(tmp_path_factory.mktemp("cache")),
        models_dir=str(SHARED / "models"),
        downloads_dir=str(SHARED / "downloads"),
        embed={"batch_size": 8},
    )


@pytest.fixture(scope="module")
def minilm(settings: Settings) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder.from_settings(settings)


def test_protocol_dim_dtype_and_norm(minilm: SentenceTransformerEmbedder) -> None:
    assert isinstance(minilm, TextEmbedder)
    assert minilm.dim == 384 and minilm.batch_size == 8
    texts = [f"sentence number {i} about phones" for i in range(19)]  # > one batch of 8
    docs = minilm.encode_documents(texts)
    queries = minilm.encode_queries(["a phone"])
    assert docs.shape == (19, 384) and queries.shape == (1, 384)
    assert docs.dtype == np.float32 and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(docs).all()


def test_empty_input_gives_empty_matrix(minilm: SentenceTransformerEmbedder) -> None:
    out = minilm.encode_documents([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_semantic_ranking(minilm: SentenceTransformerEmbedder) -> None:
    docs = minilm.encode_documents(
        [
            "Toy Story: Woody and Buzz Lightyear, toys that come alive, in an animated adventure.",
            "A gritty crime drama about a New York detective hunting a serial killer.",
            "Sony Xperia Z Ultra, an Android phone with a 6.4-inch display.",
        ]
    )
    q = minilm.encode_queries(["animated movie about toys", "Sony phone with a big screen"])
    sims = q @ docs.T
    assert int(np.argmax(sims[0])) == 0
    assert int(np.argmax(sims[1])) == 2


def test_query_and_document_paths_match_for_minilm(minilm: SentenceTransformerEmbedder) -> None:
    # MiniLM has no query/document prompts, so both paths must give the same vector.
    a = minilm.encode_queries(["same text"])
    b = minilm.encode_documents(["same text"])
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_local_directory_and_name(settings: Settings, minilm: SentenceTransformerEmbedder) -> None:
    local = settings.models_path / "all-minilm-l6-v2"
    emb = SentenceTransformerEmbedder(str(local), batch_size=4)
    assert emb.dim == 384 and emb.name == "all-minilm-l6-v2"
    np.testing.assert_allclose(
        emb.encode_documents(["x y z"]), minilm.encode_documents(["x y z"]), atol=1e-5
    )


def test_bad_model_gives_the_fix(tmp_path: Path) -> None:
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ModelError, match="convrec models fetch"):
        SentenceTransformerEmbedder(str(tmp_path / "empty-model"))
