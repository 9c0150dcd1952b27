"""OpenClipEmbedder: shipped convrec-clip on held-out phone photos; spec resolution errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from convrec.backends.clip_embedder import (
    SHIPPED_DIR,
    WEIGHTS_FILE,
    OpenClipEmbedder,
    make_image_text_embedder,
)
from convrec.config import Settings
from convrec.errors import ModelError
from convrec.protocols import ImageTextEmbedder
from convrec.training import data, sources


@pytest.fixture(scope="module")
def shipped(settings: Settings) -> OpenClipEmbedder:
    return make_image_text_embedder(settings)


@pytest.fixture(scope="module")
def heldout_phones(settings: Settings) -> list[sources.RawPair]:
    """Phone photos in the fixed held-out split (same pixel-hash rule the training used)."""
    out = []
    for pair in sources.phone_pairs(settings):
        digest = hashlib.sha256(data.load_image(pair.origin).tobytes()).hexdigest()
        if data.is_held_out(digest, seed=0):
            out.append(pair)
    assert len(out) >= 20
    return out


def test_shipped_checkpoint_is_small_and_normalised(shipped: OpenClipEmbedder) -> None:
    assert (SHIPPED_DIR / WEIGHTS_FILE).stat().st_size < 40e6
    assert isinstance(shipped, ImageTextEmbedder)
    texts = shipped.encode_texts(["a red phone", "a tablet", "a frog"])
    assert texts.shape == (3, shipped.dim) and texts.dtype == np.float32
    assert np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-4)
    assert shipped.encode_images([]).shape == (0, shipped.dim)


def test_shipped_model_matches_heldout_phone_photos_to_their_captions(
    shipped: OpenClipEmbedder, heldout_phones: list[sources.RawPair]
) -> None:
    images = shipped.encode_images([Path(p.origin) for p in heldout_phones])
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-4)
    # Own caption vs captions from other sources: chance is 50%.
    distractors = ["grinning face: happy, smile", "A frog.", "card: white, recreation, games"]
    own = shipped.encode_texts([p.caption for p in heldout_phones])
    other = shipped.encode_texts(distractors)
    own_sim = (images * own).sum(axis=1)
    wins = (own_sim[:, None] > images @ other.T).mean()
    assert wins > 0.9
    # Own caption vs another held-out phone's caption (harder: names and specs only); chance 50%.
    sims = images @ own.T
    beats = (np.diag(sims)[:, None] > sims).sum() / (len(sims) * (len(sims) - 1))
    assert beats > 0.55  # measured 0.59 for the shipped model (37 photos)


def test_pil_images_and_paths_give_the_same_vectors(
    shipped: OpenClipEmbedder, heldout_phones: list[sources.RawPair]
) -> None:
    from PIL import Image

    path = Path(heldout_phones[0].origin)
    with Image.open(path) as im:
        from_pil = shipped.encode_images([im.copy()])
    assert np.allclose(from_pil, shipped.encode_images([path]), atol=1e-5)


@pytest.mark.parametrize("spec", ["ViT-B-32/laion2b_s34b_b79k", "hf-hub:timm/ViT-B-16-SigLIP"])
def test_hub_specs_offline_raise_model_error(settings: Settings, spec: str) -> None:
    assert settings.hub_offline  # conftest sets HF_HUB_OFFLINE=1
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        OpenClipEmbedder.from_spec(spec, settings)


def test_unknown_spec_and_broken_checkpoint_raise_model_error(
    settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="Unknown image–text model"):
        OpenClipEmbedder.from_spec("not-a-model", settings)
    with pytest.raises(ModelError, match="not an open_clip checkpoint"):
        OpenClipEmbedder.from_spec(str(tmp_path), settings)
