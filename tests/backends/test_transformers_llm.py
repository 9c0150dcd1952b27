"""TransformersLLM with the real SmolLM2-135M, offline: generate, stream, JSON-schema constraint."""

from __future__ import annotations

import json
import threading

import jsonschema

from convrec.backends.transformers_llm import TransformersLLM
from convrec.config import Settings
from convrec.protocols import LLM
from convrec.types import Message

PROMPT = [Message("system", "You are concise."), Message("user", "Name three fruits.")]

PREFS_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"enum": ["phone", "movie"]},
        "max_price": {"type": "integer", "minimum": 0},
        "colors": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 2},
    },
    "required": ["category", "max_price", "colors"],
    "additionalProperties": False,
}


def test_generates_text_and_satisfies_protocol(smollm: TransformersLLM) -> None:
    assert isinstance(smollm, LLM)
    text = smollm.generate(PROMPT, max_new_tokens=16)
    assert text.strip()
    assert "<|im_end|>" not in text and "Name three fruits" not in text  # only the new tokens


def test_stream_joins_to_the_greedy_generation(smollm: TransformersLLM) -> None:
    expected = smollm.generate(PROMPT, max_new_tokens=16)
    pieces = list(smollm.stream(PROMPT, max_new_tokens=16))
    assert len(pieces) > 1
    assert "".join(pieces) == expected


def test_closing_a_stream_early_stops_generation(smollm: TransformersLLM) -> None:
    stream = smollm.stream(PROMPT, max_new_tokens=200)
    assert next(stream)
    stream.close()  # joins the worker, which stops at the next token
    assert not [t for t in threading.enumerate() if t.name == "convrec-llm-stream"]


def test_json_schema_constrains_the_output(smollm: TransformersLLM) -> None:
    messages = [
        Message("system", "Extract the user's preferences as JSON."),
        Message("user", "I want a black or white phone under 300 dollars."),
    ]
    text = smollm.generate(messages, max_new_tokens=64, json_schema=PREFS_SCHEMA)
    jsonschema.validate(json.loads(text), PREFS_SCHEMA)


def test_make_llm_defaults_to_the_local_backend(settings: Settings) -> None:
    from convrec.backends import make_llm

    llm = make_llm(settings)  # settings.llm.model is the test model, backend "transformers"
    assert isinstance(llm, TransformersLLM) and isinstance(llm, LLM)
    assert llm.generate([Message("user", "Say hi.")], max_new_tokens=4).strip()


def test_weights_load_in_the_configured_precision(settings: Settings) -> None:
    import torch

    assert TransformersLLM(settings.llm.model, settings).model.dtype == torch.float32  # default
    bf16 = settings.llm.model_copy(update={"dtype": "bfloat16"})
    half = settings.model_copy(update={"llm": bf16})
    llm = TransformersLLM(half.llm.model, half)
    assert llm.model.dtype == torch.bfloat16
    assert llm.generate([Message("user", "Say hi.")], max_new_tokens=4).strip()


def test_configured_token_limit_is_an_upper_bound(smollm: TransformersLLM) -> None:
    long = [Message("user", "Write a very long story about a dragon and a knight.")]
    text = smollm.generate(long, max_new_tokens=1000)
    n = len(smollm.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert 0 < n <= smollm.max_new_tokens == 64


def test_batch_continues_openings_and_matches_single_generation(smollm: TransformersLLM) -> None:
    from convrec.protocols import BatchLLM

    assert isinstance(smollm, BatchLLM)
    short = [Message("user", "What colour is the sky?"), Message("assistant", "The sky is")]
    long = [
        Message("system", "You are a helpful assistant who answers in one sentence."),
        Message("user", "Why do people like comedies? Think about the reasons."),
        Message("assistant", "People like comedies because"),
    ]
    batch = smollm.generate_batch([short, long], max_new_tokens=12)
    assert len(batch) == 2 and all("\n" not in a for a in batch)
    # left padding must not change the greedy answer of the shorter chat
    alone = smollm.generate(short, max_new_tokens=12).split("\n", 1)[0]
    assert batch[0].strip() == alone.strip() and batch[0].strip()
    assert not batch[1].lstrip().startswith("People like comedies")  # continued, not restarted
    assert smollm.generate_batch([]) == []
