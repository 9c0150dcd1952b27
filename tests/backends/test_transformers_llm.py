"""TransformersLLM with the real SmolLM2-135M, offline: generate, stream, JSON-schema constraint."""

from __future__ import annotations

import json
import re
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
    compact = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert text == compact  # no spaces after separators: a fifth fewer tokens to decode


def test_json_opening_is_read_with_the_prompt_and_decoding_stops_at_the_closing_brace(
    smollm: TransformersLLM,
) -> None:
    """The text the grammar forces first is appended as the tokenizer spells it and read in the
    prompt's forward pass; the model then runs once per token it chooses, with no step for an
    end-of-turn token once the document is complete."""
    import xgrammar as xgr
    from transformers import DynamicCache

    from convrec.backends.json_decode import decode_json

    messages = [Message("user", "I want a black or white phone under 300 dollars. Reply in JSON.")]
    opening = xgr.GrammarMatcher(smollm._grammar(PREFS_SCHEMA)).find_jump_forward_string()
    assert opening == '{"category":"'
    opening_ids = smollm.tokenizer.encode(opening, add_special_tokens=False)
    prompt = [int(t) for t in smollm._inputs(messages)["input_ids"][0]]
    calls: list[int] = []
    hook = smollm.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        new = decode_json(
            smollm.model, smollm.tokenizer, smollm._grammar(PREFS_SCHEMA), prompt,
            DynamicCache(config=smollm.model.config), 0, 48,
        )  # fmt: skip
    finally:
        hook.remove()
    text = smollm.tokenizer.decode(new)
    jsonschema.validate(json.loads(text), PREFS_SCHEMA)
    assert new[: len(opening_ids)] == opening_ids and text.endswith("}")
    # one forward pass for the prompt and the opening, then one per chosen token but the last:
    # as many passes as chosen tokens, none for an end-of-turn token
    assert len(calls) == len(new) - len(opening_ids) > 1
    assert smollm.generate(messages, max_new_tokens=48, json_schema=PREFS_SCHEMA) == text


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
    # left padding must not change the greedy answer of the shorter chat: a padding fault
    # (positions, mask) derails it from the first token; a batch's other matrix shapes only
    # round differently, which may flip a late near-tie (transformers 5.25: "blue. It's" vs
    # "blue, but"), so the opening words must agree
    alone = smollm.generate(short, max_new_tokens=12).split("\n", 1)[0]
    words = [re.findall(r"[\w']+", text.lower())[:5] for text in (batch[0], alone)]
    assert words[0] == words[1] and len(words[0]) == 5
    assert not batch[1].lstrip().startswith("People like comedies")  # continued, not restarted
    assert smollm.generate_batch([]) == []


LONG_SYSTEM = Message(
    "system",
    "You are a helpful assistant for choosing films. Answer in one short sentence, name real "
    "films only, and never ask the user a question back.",
)


def test_a_shared_beginning_is_read_once_and_answers_do_not_change(settings: Settings) -> None:
    """A later prompt that starts like an earlier one reuses its cached keys and values, and
    greedy answers are those of a model that keeps no cache (the same prompts, in the same order,
    also through stream and the JSON constraint). Without the int8 decoding copies: a prompt read
    in two pieces differs from one read whole by about 1e-5, which the copies' bfloat16 rounding
    can turn into a different greedy token where two are nearly tied."""
    exact = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"int8_decode": False})}
    )
    cached = TransformersLLM(exact.llm.model, exact, max_new_tokens=64)
    plain = TransformersLLM(exact.llm.model, exact, max_new_tokens=64, prefix_cache=0)
    assert cached.prefixes is not None and plain.prefixes is None
    first = [LONG_SYSTEM, Message("user", "A film about space?")]
    second = [*first, Message("assistant", "Apollo 13."), Message("user", "Another one?")]
    third = [LONG_SYSTEM, Message("user", "A film about the sea?")]
    assert cached.generate(first) == plain.generate(first)
    assert cached.prefixes.hits == 0  # nothing cached yet
    assert cached.generate(second) == plain.generate(second)
    assert cached.prefixes.hits == 1
    shared = len(cached._inputs(first)["input_ids"][0])
    assert cached.prefixes.reused_tokens >= shared  # the whole first prompt
    assert "".join(cached.stream(third)) == plain.generate(third)
    assert cached.prefixes.hits == 2
    answer = cached.generate(third, json_schema=PREFS_SCHEMA)
    assert answer == plain.generate(third, json_schema=PREFS_SCHEMA)
    jsonschema.validate(json.loads(answer), PREFS_SCHEMA)
    assert cached.prefixes.hits == 3


def test_prefix_cache_hands_out_the_longest_shared_beginning() -> None:
    """Pure bookkeeping, with a stand-in for transformers' cache (length and crop only)."""
    from convrec.backends.transformers_llm import MIN_SHARED, PrefixCache

    class Stub:
        def __init__(self, n: int) -> None:
            self.n = n

        def get_seq_length(self) -> int:
            return self.n

        def crop(self, remove: int) -> None:
            assert remove < 0
            self.n += remove

    pool = PrefixCache(size=2)
    a = list(range(40))
    b = list(range(30)) + [99] * 10
    pool.keep(a, Stub(40))
    pool.keep(b, Stub(40))
    pool.keep(list(range(5)), Stub(5))  # shorter than MIN_SHARED: not kept
    n, cache = pool.take([*range(35), 7, 8])
    assert n == 35 and cache.get_seq_length() == 35  # a's beginning, cut to what is shared
    assert pool.take(list(range(35)))[0] == 30  # a is taken; b shares 30
    assert pool.take(list(range(35))) == (0, None)  # nothing left
    pool.keep(a, Stub(40))
    assert pool.take(a)[0] == len(a) - 2  # the rest is read as a prompt: two tokens at least
    pool.keep([1] * MIN_SHARED, Stub(MIN_SHARED))
    assert pool.take([1] * (MIN_SHARED - 1) + [2])[1] is None  # shares less than MIN_SHARED
    for k in range(3):
        pool.keep([k] * 20, Stub(20))
    assert len(pool._entries) == 2  # the oldest is dropped


def test_int8_copies_decode_close_to_the_original_weights_and_prompts_read_exactly(
    settings: Settings,
) -> None:
    """Decoding steps use the int8 copies; a prompt's logits are the unmodified model's, and a
    step's are close to them (same top token on this prompt)."""
    import torch

    from convrec.backends.int8_decode import Int8DecodeLinear

    plain_settings = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"int8_decode": False})}
    )
    plain = TransformersLLM(settings.llm.model, plain_settings).model
    int8 = TransformersLLM(settings.llm.model, settings).model
    wrapped = [m for m in int8.modules() if isinstance(m, Int8DecodeLinear)]
    assert wrapped and not any(isinstance(m, Int8DecodeLinear) for m in plain.modules())
    assert int8.lm_head.linear.weight is int8.model.embed_tokens.weight  # still tied
    ids = torch.tensor([[1, 504, 3485, 314, 260, 2379, 30, 378, 2379, 314]])
    with torch.inference_mode():
        a, b = plain(ids, use_cache=True), int8(ids, use_cache=True)
        assert torch.equal(a.logits, b.logits)  # many positions: the original weights
        step = ids[:, -1:]
        a = plain(step, cache=a.past_key_values).logits[0, -1]
        b = int8(step, cache=b.past_key_values).logits[0, -1]
    assert not torch.equal(a, b)  # one position: the copies were used
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.99
    assert int(a.argmax()) == int(b.argmax())
