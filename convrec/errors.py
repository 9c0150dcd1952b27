"""Error hierarchy: every message says what went wrong and how to fix it."""

from __future__ import annotations


class ConvRecError(Exception):
    """Base class for every error convrec raises on purpose."""


class ConfigError(ConvRecError):
    """The configuration (convrec.toml, CONVREC_* variables or keyword arguments) is invalid."""


class MissingDependencyError(ConvRecError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        fix = f'pip install "convrec[{extra}]"' if extra else f"pip install {package}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"{package} is not installed{what}. Fix: {fix}")


class ModelError(ConvRecError):
    """A model could not be provisioned, verified or loaded."""


class IntegrityError(ModelError):
    """A downloaded or cached artefact does not match its pinned sha256."""


class LLMError(ConvRecError):
    """The language model backend failed (server down, timeout, bad response)."""


class CatalogError(ConvRecError):
    """A catalog could not be read, built or validated."""


class IndexError_(ConvRecError):
    """The vector index is missing, stale or was given invalid vectors."""


class StoreError(ConvRecError):
    """The vector store (embedded or server Chroma) failed."""


class InputError(ConvRecError):
    """User input (a message, an image, a session id) is invalid."""
