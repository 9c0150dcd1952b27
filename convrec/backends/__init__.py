"""Backends behind the Protocols in convrec.protocols; ``make_llm`` picks the configured LLM."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convrec.config import Settings
    from convrec.protocols import LLM


def make_llm(settings: Settings) -> LLM:
    """The LLM that ``settings.llm.backend`` names: in-process transformers or an
    OpenAI-compatible server (vLLM, llama.cpp server, TGI) at ``settings.llm.base_url``."""
    if settings.llm.backend == "openai":
        from convrec.backends.openai_llm import OpenAICompatLLM

        return OpenAICompatLLM.from_settings(settings)
    from convrec.backends.transformers_llm import TransformersLLM

    return TransformersLLM.from_settings(settings)
