"""Shared fixtures: offline settings over the shared model cache, and the tiny LLM loaded once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from convrec.config import Settings, load_settings

if TYPE_CHECKING:
    from convrec.backends.transformers_llm import TransformersLLM

# Tests never reach a model hub; set before anything imports huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Models and downloaded wheels are shared across tests and runs on purpose (provisioning is slow);
# everything else a test writes goes to a temp dir.
SHARED_CACHE = Path("~/.cache/convrec").expanduser()
TEST_LLM = "smollm2-135m"


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
