"""train-clip on real phone photos: one quick epoch, determinism, resume, a loadable checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convrec.backends.clip_embedder import CONFIG_FILE, WEIGHTS_FILE, OpenClipEmbedder
from convrec.cli import main
from convrec.config import Settings
from convrec.training import data, sources
from convrec.training.clip_eval import recall_at_k
from convrec.training.clip_train import TrainConfig, train_clip
from convrec.training.pairs import Pair


@pytest.fixture(scope="module")
def phone_pairs(settings: Settings) -> list[Pair]:
    """40 real STF phone photos with spec captions: 32 to train on, 8 held out."""
    raw = sources.phone_pairs(settings)[:40]
    return [
        Pair(p.origin, p.caption, "phones", "train" if i < 32 else "heldout")
        for i, p in enumerate(raw)
    ]


def _tiny(**kw: Any) -> TrainConfig:
    base = TrainConfig(variant="scratch", epochs=1, batch_size=16, warmup_steps=2, image_size=32)
    return replace(base, **kw)


def test_train_clip_cli_one_epoch_writes_loadable_checkpoint(
    phone_pairs: list[Pair], settings: Settings, tmp_path: Path
) -> None:
    jsonl = tmp_path / "pairs.jsonl"
    rows = [{"image": p.image, "caption": p.caption, "split": p.split} for p in phone_pairs]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "ckpt"
    config = tmp_path / "convrec.toml"
    config.write_text(
        f'cache_dir = "{tmp_path}"\nmodels_dir = "{settings.models_path}"\n'
        f'downloads_dir = "{settings.downloads_path}"\n'
    )
    args = ["--config", str(config), "train-clip", "--pairs", str(jsonl), "--out", str(out)]
    assert main([*args, "--epochs", "1", "--variant", "locked-text", "--image-size", "32"]) == 0
    saved = json.loads((out / CONFIG_FILE).read_text())
    assert saved["convrec"]["n_train"] == 32 and len(saved["convrec"]["losses"]) == 1
    # The frozen MiniLM tower is referenced by name, not copied: the file holds the image tower.
    assert (out / WEIGHTS_FILE).stat().st_size < 15e6
    emb = OpenClipEmbedder.from_spec(str(out), settings)
    vecs = emb.encode_images([Path(phone_pairs[0].image)])
    texts = emb.encode_texts(["a black phone"])
    assert vecs.shape == (1, 384) and texts.shape == (1, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)


def test_same_seed_same_losses_and_weights(
    phone_pairs: list[Pair], settings: Settings, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    a = train_clip(phone_pairs, tmp_path / "a", _tiny(seed=3), settings)
    b = train_clip(phone_pairs, tmp_path / "b", _tiny(seed=3), settings)
    c = train_clip(phone_pairs, tmp_path / "c", _tiny(seed=4), settings)
    assert a.losses == b.losses
    assert a.losses != c.losses
    wa, wb, wc = (load_file(str(r.out_dir / WEIGHTS_FILE)) for r in (a, b, c))
    key = "visual.conv1.weight"
    assert (wa[key] == wb[key]).all() and not (wa[key] == wc[key]).all()


def test_resume_continues_from_checkpoint(
    phone_pairs: list[Pair], settings: Settings, tmp_path: Path
) -> None:
    straight = train_clip(phone_pairs, tmp_path / "straight", _tiny(epochs=2), settings)
    first = train_clip(phone_pairs, tmp_path / "resumed", _tiny(epochs=1), settings)
    resumed = train_clip(phone_pairs, tmp_path / "resumed", _tiny(epochs=2), settings, resume=True)
    assert resumed.losses[0] == first.losses[0]
    assert len(resumed.losses) == 2
    # An epoch-1 state + the same schedule and per-epoch shuffles gives the uninterrupted run.
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-5)


def test_recall_at_k_and_exact_random_baseline() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(20, 8))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    captions = [f"c{i}" for i in range(20)]
    perfect = recall_at_k(vecs, vecs, captions)
    assert perfect["i2t_R@1"] == 1.0 and perfect["t2i_R@1"] == 1.0
    assert perfect["random_R@1"] == pytest.approx(1 / 20)
    assert perfect["random_R@5"] == pytest.approx(5 / 20)
    shuffled = recall_at_k(vecs, vecs[::-1], captions)
    assert shuffled["i2t_R@1"] < 0.2
    # Duplicate captions count as one answer, and the baseline accounts for them.
    dup = recall_at_k(vecs[:4], vecs[:4], ["a", "a", "b", "c"])
    assert dup["random_R@1"] == pytest.approx((0.5 + 0.5 + 0.25 + 0.25) / 4)


def test_captions_from_real_sources(settings: Settings, tmp_path: Path) -> None:
    spec = {
        "maker": {"name": "Sony"},
        "name": {"id": "Xperia Z Tablet"},
        "os": {"type": "android", "ver": "4.1"},
        "display": {"s": 10.1},
        "date": "2013-03-01T00:00:00.000Z",
    }
    assert sources.phone_caption(spec) == (
        "Sony Xperia Z Tablet, an Android 4.1 tablet with a 10.1-inch screen, 2013"
    )
    svg = tmp_path / "apple.svg"
    svg.write_text(
        '<svg viewBox="0 0 100 100" width="100" height="100" '
        'xmlns="http://www.w3.org/2000/svg" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:cc="http://web.resource.org/cc/" '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        "<metadata><rdf:RDF><cc:Work><dc:title>Red apple</dc:title><dc:subject><rdf:Bag>"
        "<rdf:li>fruit</rdf:li><rdf:li>Jane Doe</rdf:li></rdf:Bag></dc:subject><dc:creator>"
        "<cc:Agent><dc:title>Jane Doe</dc:title></cc:Agent></dc:creator></cc:Work></rdf:RDF>"
        '</metadata><circle cx="50" cy="50" r="40" fill="#d00"/></svg>'
    )
    meta = sources._openclipart_meta(svg)
    assert meta == ("Red apple", ["fruit"])
    assert sources._openclipart_caption(*meta, "food/fruit") == "Red apple: fruit, food"
    img = data.load_image(str(svg), size=32)
    assert img.size == (32, 32) and img.getpixel((0, 0)) == (255, 255, 255)
    r, g, b = img.convert("RGB").getpixel((16, 16))  # type: ignore[misc]
    assert r > 150 and g < 60 and b < 60


def test_catalog_dir_pairs_use_item_images_and_text(
    phone_pairs: list[Pair], settings: Settings, tmp_path: Path
) -> None:
    from convrec.training.pairs import catalog_pairs

    rows = [
        {"id": str(i), "title": f"Phone {i}", "description": p.caption, "image_paths": [p.image]}
        for i, p in enumerate(phone_pairs[:6])
    ]
    rows.append({"id": "x", "title": "No photo", "description": "", "image_paths": []})
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    pairs = catalog_pairs(str(tmp_path), settings)
    assert [p.image for p in pairs] == [p.image for p in phone_pairs[:6]]
    assert pairs[0].caption == f"Phone 0. {phone_pairs[0].caption}"
    assert {p.split for p in pairs} <= {"train", "heldout"}
