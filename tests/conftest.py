"""Shared fixtures: offline settings over the shared model cache, the tiny LLM loaded once, and
the real phones subset indexed once per module (helpers in kit.py)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from kit import Capped, free_port, index_into

from convrec.config import Settings, load_settings

if TYPE_CHECKING:
    from convrec.backends.transformers_llm import TransformersLLM
    from convrec.catalog.schema import Catalog
    from convrec.engine import ConvRec

# Tests never reach a model hub; set before anything imports huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Models and downloaded wheels are shared across tests and runs on purpose (provisioning is slow);
# everything else a test writes goes to a temp dir.
SHARED_CACHE = Path("~/.cache/convrec").expanduser()
TEST_LLM = "smollm2-135m"
SERVED_ALIAS = "served-smollm2"  # the name the llama.cpp server lists under /v1/models


def make_settings(cache_dir: Path, **overrides: Any) -> Settings:
    """Settings with a private cache dir, the shared models/downloads, and no CONVREC_* vars."""
    base: dict[str, Any] = {
        "models_dir": str(SHARED_CACHE / "models"),
        "downloads_dir": str(SHARED_CACHE / "downloads"),
    }
    return load_settings(environ={}, cache_dir=str(cache_dir), **{**base, **overrides})


@pytest.fixture(scope="session")
def settings_factory() -> Any:
    """`make_settings(cache_dir, **overrides)`, for tests that need their own settings."""
    return make_settings


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Offline settings for the session: temp cache dir, shared model cache, the test LLM."""
    return make_settings(tmp_path_factory.mktemp("convrec-cache"), llm={"model": TEST_LLM})


@pytest.fixture(scope="session")
def smollm(settings: Settings) -> TransformersLLM:
    """SmolLM2-135M loaded once per session (provisioned into the shared cache if missing)."""
    from convrec.backends.transformers_llm import TransformersLLM

    return TransformersLLM(TEST_LLM, settings, max_new_tokens=64)


N_OTHERS = 40  # phones besides the Sonys in the phones subset


@pytest.fixture(scope="module")
def phones_dir(tmp_path_factory: pytest.TempPathFactory, settings_factory: Any) -> Path:
    """A catalog directory of real phones: every Sony with a photo plus some others."""
    from convrec.catalog.build import build_catalog
    from convrec.catalog.layout import open_catalog, write_catalog

    settings = settings_factory(tmp_path_factory.mktemp("build"))
    build_catalog("phones", settings)
    full = open_catalog("phones", settings)
    with_photo = [it for it in full.items if it.image_paths]
    sony = [it for it in with_photo if it.attributes.get("maker") == "Sony"][:12]
    others = [it for it in with_photo if it.attributes.get("maker") != "Sony"][:N_OTHERS]
    items = [
        replace(
            it, image_paths=tuple(str(full.image_path(it, i)) for i in range(len(it.image_paths)))
        )
        for it in sony + others
    ]
    root = tmp_path_factory.mktemp("catalogs") / "phones-sub"
    write_catalog(root, items, {"name": "phones-sub"})
    return root


@pytest.fixture(scope="module")
def indexed(
    phones_dir: Path,
    settings_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    settings = settings_factory(
        tmp_path_factory.mktemp("convrec"),
        catalog=str(phones_dir),
        limits={"recommendations": 3},
        # the LLM explains (not the default "facts"), so the real model's path is covered here
        llm={"model": "smollm2-135m", "max_new_tokens": 24, "explain_mode": "items"},
    )
    index_into(settings, phones_dir)
    return settings


@pytest.fixture(scope="module")
def rec(indexed: Settings, smollm: Any) -> ConvRec:
    from convrec.engine import ConvRec

    return ConvRec.from_config(settings=indexed, llm=Capped(smollm, indexed.llm.max_new_tokens))


@pytest.fixture(scope="module")
def real_catalogs(
    settings_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Catalog]:
    """The shipped catalogs: the ones already built in the shared cache, else built here (from
    the shared downloads, so only a clean machine fetches the source packages)."""
    from convrec.catalog.build import build_catalog
    from convrec.catalog.layout import built_catalogs, open_catalog

    shared = settings_factory(Path("~/.cache/convrec").expanduser())
    fresh = settings_factory(tmp_path_factory.mktemp("shipped"))
    out = {}
    for name in ("phones", "movies"):
        settings = shared if built_catalogs((name,), shared) else fresh
        if settings is fresh:
            build_catalog(name, fresh)
        out[name] = open_catalog(name, settings)
    return out


# -- a real llama.cpp server on 127.0.0.1 (OpenAICompatLLM's tests) ------------------------------


@pytest.fixture(scope="session")
def llama_server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `python -m llama_cpp.server` on a free loopback port; yield its base URL (…/v1)."""
    if importlib.util.find_spec("llama_cpp") is None:
        why = 'llama-cpp-python is not installed: pip install -e ".[server]" (make test does)'
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{why}. Under CI=true the real-server tests must run, not skip.")
        pytest.skip(why)
    from convrec.models import registry
    from convrec.models.provision import assemble_gguf
    from convrec.models.registry import GGUFSpec

    spec = registry.get(TEST_LLM)
    assert isinstance(spec, GGUFSpec), f"{TEST_LLM} is no longer a packaged GGUF"
    gguf = assemble_gguf(spec, settings)  # from the shared download cache, sha256-verified
    log_path, port = tmp_path_factory.mktemp("llama_server") / "server.log", free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    cmd += ["--model_alias", SERVED_ALIAS, "--host", "127.0.0.1", "--port", str(port)]
    # One thread: llama.cpp's threads spin at barriers, which on a busy 2-core machine (other
    # tests, other jobs) made generation 5-8x slower than a single thread.
    cmd += ["--n_ctx", "2048", "--n_threads", "1"]
    base = f"http://127.0.0.1:{port}/v1"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited {proc.returncode}: {log_path.read_text()}")
            try:
                if httpx.get(base + "/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready in 120 s: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()  # uvicorn waits for an abandoned generation to end: give it 3 s
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(gguf.parent, ignore_errors=True)  # assemble_gguf's private directory


@pytest.fixture(scope="session")
def built_movies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, Settings]:
    """The movies catalog with its real ratings, built once in a fresh cache (from the shared
    downloads), and its settings: for the collaborative model's tests."""
    from convrec.catalog.build import build_catalog

    settings = make_settings(tmp_path_factory.mktemp("cf-cache"))
    return build_catalog("movies", settings).catalog, settings


def use_cache(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Point the CLI at ``settings``' cache and the test model (CONVREC_* variables)."""
    env = {
        "CACHE_DIR": settings.cache_dir,
        "MODELS_DIR": settings.models_dir,
        "DOWNLOADS_DIR": settings.downloads_dir,
        "LLM__MODEL": TEST_LLM,
        "LLM__MAX_NEW_TOKENS": "48",
    }
    for key, value in env.items():
        monkeypatch.setenv(f"CONVREC_{key}", str(value))
