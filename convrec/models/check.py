"""Smoke-check provisioned models offline: load each one, run a tiny job, report the speed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from convrec.errors import ModelError
from convrec.models import registry

if TYPE_CHECKING:
    from convrec.config import Settings

_SENTENCES = [f"A phone with a {n}-inch screen and a long battery life." for n in range(4, 68)]


@dataclass(frozen=True)
class CheckResult:
    """How one model loaded and ran: seconds to load, throughput in `unit` per second."""

    name: str
    role: str
    load_s: float
    rate: float
    unit: str
    sample: str


def _check_llm(name: str, settings: Settings) -> CheckResult:
    from convrec.backends.transformers_llm import TransformersLLM
    from convrec.types import Message

    llm = TransformersLLM(name, settings)
    messages = [Message("user", "Say hello in five words.")]
    start = time.perf_counter()
    text = llm.generate(messages, max_new_tokens=16)
    elapsed = time.perf_counter() - start
    tokens = len(llm.tokenizer(text, add_special_tokens=False)["input_ids"])
    if not text.strip():
        raise ModelError(
            f"{name} loaded but generated nothing. Fix: `convrec models fetch {name}`."
        )
    return CheckResult(name, "llm", llm.load_seconds, tokens / elapsed, "tok/s", text.strip())


def _check_text(name: str, settings: Settings) -> CheckResult:
    from convrec.backends.st_embedder import SentenceTransformerEmbedder

    start = time.perf_counter()
    emb = SentenceTransformerEmbedder.from_settings(
        settings.model_copy(
            update={"embed": settings.embed.model_copy(update={"text_model": name})}
        )
    )
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    vecs = emb.encode_documents(_SENTENCES)
    rate = len(_SENTENCES) / (time.perf_counter() - start)
    return CheckResult(name, "text-embedder", load_s, rate, "sentences/s", f"dim {vecs.shape[1]}")


def _check_image_text(name: str, settings: Settings) -> CheckResult:
    from convrec.backends.clip_embedder import OpenClipEmbedder

    start = time.perf_counter()
    emb = OpenClipEmbedder.from_spec(name, settings)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    vecs = emb.encode_texts(_SENTENCES)
    rate = len(_SENTENCES) / (time.perf_counter() - start)
    return CheckResult(name, "image-text", load_s, rate, "texts/s", f"dim {vecs.shape[1]}")


def check(name: str, settings: Settings) -> CheckResult:
    """Load the packaged model `name` offline (provisioning it if needed) and run a tiny job."""
    spec = registry.get(name)
    if spec is None:
        known = ", ".join(registry.names())
        raise ModelError(f"No packaged model named {name!r}. Fix: use one of {known}.")
    if spec.role == "llm":
        return _check_llm(name, settings)
    if spec.role == "text-embedder":
        return _check_text(name, settings)
    return _check_image_text(name, settings)
