"""One contract for every LLM backend: the real test model in-process (TransformersLLM), the same
model behind a real llama.cpp server (OpenAICompatLLM), and the kit's ReplayLLM that pure-logic
tests stand on, so a fake cannot drift from what the real backends do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kit import ReplayLLM

from convrec.protocols import LLM
from convrec.types import Message

ASK = [Message("user", "Name one film genre in one word.")]
SCHEMA = {
    "type": "object",
    "properties": {"genre": {"type": "string", "enum": ["comedy", "drama", "horror"]}},
    "required": ["genre"],
    "additionalProperties": False,
}


@pytest.fixture(params=["replay", "transformers", "openai"])
def llm(request: pytest.FixtureRequest, settings_factory: Any, tmp_path: Path) -> Iterator[LLM]:
    if request.param == "replay":
        yield ReplayLLM("Drama.", "Horror, maybe.", '{"genre": "drama"}')
    elif request.param == "transformers":
        yield request.getfixturevalue("smollm")
    else:
        from convrec.backends.openai_llm import OpenAICompatLLM

        base = request.getfixturevalue("llama_server")
        settings = settings_factory(tmp_path, llm={"base_url": base, "api_model": ""})
        with OpenAICompatLLM.from_settings(settings) as real:
            yield real


def test_every_backend_keeps_the_llm_contract(llm: LLM) -> None:
    assert isinstance(llm, LLM)
    text = llm.generate(ASK, max_new_tokens=12)
    assert isinstance(text, str) and text.strip()
    chunks = list(llm.stream(ASK, max_new_tokens=12))
    assert chunks and all(isinstance(c, str) for c in chunks) and "".join(chunks).strip()
    data = json.loads(llm.generate(ASK, max_new_tokens=24, json_schema=SCHEMA))
    assert set(data) == {"genre"} and data["genre"] in ("comedy", "drama", "horror")
