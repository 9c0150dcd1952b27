"""Local LLM backend: an in-process transformers LM; greedy, streaming, JSON-schema constrained.

Constrained decoding uses xgrammar: the schema is compiled once per (model, schema) into a grammar
that masks the model's choices, so every token it emits keeps the output a valid prefix of a
document that matches the schema; the text it forces before the model's first choice is read with
the prompt (:mod:`convrec.backends.json_decode`).

Prompts share long beginnings: the understanding prompt's instructions on every turn, the
explanation prompt's instructions and the user's preferences for every item of a list. `generate`
and `stream` keep the key/value cache of their last few prompts (:class:`PrefixCache`) and start
the next prompt from the longest beginning it shares with one of them, so only the new tokens are
prefilled. Batched generation (left padding shifts every position) starts from scratch.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from convrec.errors import LLMError, MissingDependencyError
from convrec.models import ensure

if TYPE_CHECKING:
    from convrec.config import Settings
    from convrec.types import Message

log = logging.getLogger(__name__)

MIN_SHARED = 16  # a shorter shared beginning is not worth a cache copy


class PrefixCache:
    """The key/value caches of the last ``size`` prompts, by token ids.

    :meth:`take` hands out the cache that shares the longest beginning with a new prompt, cut to
    that beginning, and forgets it (generation extends it in place); :meth:`keep` stores the
    cache a generation left. One thread at a time may use an entry: taking removes it."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[tuple[int, ...], Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._next = 0
        self.hits = 0
        self.reused_tokens = 0

    def take(self, ids: Sequence[int]) -> tuple[int, Any]:
        """``(n, cache)``: the cache of the first ``n`` tokens of ``ids``, or ``(0, None)`` when
        none shares ``MIN_SHARED``. At least two tokens are left to read, so the rest of the
        prompt is read as a prompt (with the original weights when decoding uses int8 copies)."""
        best, best_n = None, 0
        with self._lock:
            for key, (cached, _) in self._entries.items():
                n = _shared(cached, ids)
                if n > best_n:
                    best, best_n = key, n
            best_n = min(best_n, len(ids) - 2)
            if best is None or best_n < MIN_SHARED:
                return 0, None
            _, cache = self._entries.pop(best)
            self.hits += 1
            self.reused_tokens += best_n
        return best_n, _cut(cache, best_n)

    def keep(self, ids: Sequence[int], cache: Any) -> None:
        """Store ``cache``, which holds the keys and values of ``ids`` (or of a beginning of
        them: the last token a generation emits was never read back)."""
        length = cache.get_seq_length()
        if length < MIN_SHARED:
            return
        with self._lock:
            self._entries[self._next] = (tuple(ids[:length]), cache)
            self._next += 1
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def _cut(cache: Any, length: int) -> Any:
    """``cache`` cut to its first ``length`` tokens (in place)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)  # transformers 5: a negative count removes that many tokens
    return cache


def _shared(a: Sequence[int], b: Sequence[int]) -> int:
    """The length of the common beginning of two token sequences."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class TransformersLLM:
    """Runs a packaged name, local directory or hub id in-process (see `convrec models list`)."""

    def __init__(
        self,
        model: str,
        settings: Settings,
        *,
        max_new_tokens: int | None = None,
        threads: int | None = None,
        prefix_cache: int | None = None,
    ) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:  # pragma: no cover - torch is a core dependency
            raise MissingDependencyError("transformers", purpose="the local LLM") from e
        n_threads = settings.llm.threads if threads is None else threads
        if n_threads > 0:
            torch.set_num_threads(n_threads)
        self.name = model
        self.max_new_tokens = max_new_tokens or settings.llm.max_new_tokens
        start = time.perf_counter()
        location = ensure(model, settings)
        self.tokenizer = AutoTokenizer.from_pretrained(location)
        if self.tokenizer.pad_token is None:  # batched decoding pads (left) with it
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = getattr(torch, settings.llm.dtype)
        self.model: Any = AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
        self.model.eval()
        if settings.llm.int8_decode:
            from convrec.backends import int8_decode

            if int8_decode.supported(self.model):
                int8_decode.add_int8_decode(self.model)
        self.load_seconds = time.perf_counter() - start
        size = settings.llm.prefix_cache if prefix_cache is None else prefix_cache
        self.prefixes: PrefixCache | None = PrefixCache(size) if size > 0 else None
        self._grammars: dict[str, Any] = {}
        self._compiler: Any = None
        log.info("loaded %s from %s in %.1f s", model, location, self.load_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> TransformersLLM:
        """The model named by settings.llm.model, with its token and thread limits."""
        return cls(settings.llm.model, settings)

    def _template(self, messages: Sequence[Message], **kw: Any) -> Any:
        """The chat template applied; a last assistant message is an opening to continue."""
        chat = [{"role": m.role, "content": m.content} for m in messages]
        opening = bool(chat) and chat[-1]["role"] == "assistant"
        return self.tokenizer.apply_chat_template(
            chat, add_generation_prompt=not opening, continue_final_message=opening, **kw
        )

    def _inputs(self, messages: Sequence[Message]) -> Any:
        return self._template(messages, return_tensors="pt", return_dict=True)

    def _reuse(self, inputs: Any, kwargs: dict[str, Any]) -> None:
        """Start ``kwargs`` (one prompt) from a cached beginning when there is one."""
        if self.prefixes is None:
            return
        ids = [int(t) for t in inputs["input_ids"][0]]
        shared, cache = self.prefixes.take(ids)
        if cache is not None:
            kwargs["cache"] = cache
            log.debug("prompt of %d tokens starts from %d cached", len(ids), shared)

    def _keep(self, out: Any, prompt_length: int) -> None:
        """Remember the cache of the prompt a generation read, for the next prompt. The answer's
        keys and values are left out: decoding may have used the int8 copies, and a later prompt
        that repeats the answer must read it as a model without the cache would."""
        cache = getattr(out, "cache", None)
        if self.prefixes is not None and cache is not None and hasattr(cache, "crop"):
            self.prefixes.keep([int(t) for t in out.sequences[0, :prompt_length]],
                               _cut(cache, prompt_length))  # fmt: skip

    def _gen_kwargs(self, inputs: Any, max_new_tokens: int | None) -> dict[str, Any]:
        return {
            **inputs,
            # The configured limit is an upper bound: a caller may ask for fewer, never more.
            "max_new_tokens": min(max_new_tokens or self.max_new_tokens, self.max_new_tokens),
            "do_sample": False,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }

    def _grammar(self, schema: Mapping[str, Any]) -> Any:
        """The schema compiled into an xgrammar grammar for this tokenizer (once per schema)."""
        import xgrammar as xgr

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            if self._compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(
                    self.tokenizer, vocab_size=self.model.config.vocab_size
                )
                self._compiler = xgr.GrammarCompiler(info, max_threads=2)
            # Compact JSON: a small model left free to add whitespace may never close the object,
            # and xgrammar's default separators (", ", ": ") cost a fifth more tokens to decode.
            self._grammars[key] = self._compiler.compile_json_schema(
                key, any_whitespace=False, separators=(",", ":")
            )
        return self._grammars[key]

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        json_schema: Mapping[str, Any] | None = None,
    ) -> str:
        """Greedy completion of the chat; with `json_schema`, output is constrained to it."""
        import torch

        inputs = self._inputs(messages)
        kwargs = self._gen_kwargs(inputs, max_new_tokens)
        if json_schema is not None:
            return self._generate_json(inputs, json_schema, kwargs["max_new_tokens"])
        self._reuse(inputs, kwargs)
        kwargs.update(return_dict_in_generate=True, use_cache=True)
        try:
            with torch.inference_mode():
                out = self.model.generate(**kwargs)
        except RuntimeError as e:
            raise LLMError(
                f"Generation with {self.name} failed: {e}. Fix: shorten the prompt."
            ) from e
        self._keep(out, inputs["input_ids"].shape[1])
        new = out.sequences[0, inputs["input_ids"].shape[1] :]
        return str(self.tokenizer.decode(new, skip_special_tokens=True))

    def _generate_json(self, inputs: Any, schema: Mapping[str, Any], max_new_tokens: int) -> str:
        """Greedy answer constrained to ``schema`` (:func:`convrec.backends.json_decode.
        decode_json`), from the cached beginning of the prompt when there is one."""
        from transformers import DynamicCache

        from convrec.backends.json_decode import decode_json

        ids = [int(t) for t in inputs["input_ids"][0]]
        start, cache = self.prefixes.take(ids) if self.prefixes is not None else (0, None)
        if cache is None:
            start, cache = 0, DynamicCache(config=self.model.config)
        try:
            new = decode_json(
                self.model, self.tokenizer, self._grammar(schema), ids, cache, start, max_new_tokens
            )
        except RuntimeError as e:
            raise LLMError(
                f"Generation with {self.name} failed: {e}. Fix: shorten the prompt."
            ) from e
        if self.prefixes is not None:  # the prompt's keys and values, for the next prompt
            self.prefixes.keep(ids, _cut(cache, len(ids)))
        return str(self.tokenizer.decode(new, skip_special_tokens=True))

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int | None = None
    ) -> list[str]:
        """Greedy answers to several chats in one batched decode (left-padded), each cut at its
        first line break. On a CPU a batch of 5 short answers costs little more than one."""
        import torch

        if not conversations:
            return []
        texts = [self._template(c, tokenize=False) for c in conversations]
        enc = self.tokenizer(
            texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False
        )
        kwargs = self._gen_kwargs(enc, max_new_tokens)
        kwargs.update(stop_strings=["\n"], tokenizer=self.tokenizer)
        try:
            with torch.inference_mode():
                out = self.model.generate(**kwargs)
        except RuntimeError as e:
            raise LLMError(
                f"Batched generation with {self.name} failed: {e}. Fix: shorten the prompts."
            ) from e
        new = out[:, enc["input_ids"].shape[1] :]
        answers = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [str(a).split("\n", 1)[0] for a in answers]

    def stream(
        self, messages: Sequence[Message], *, max_new_tokens: int | None = None
    ) -> Iterator[str]:
        """Yield text pieces as they are generated (same greedy output as `generate`). Closing the
        iterator early stops the generation thread at the next token."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        stop = threading.Event()

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return stop.is_set()

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        inputs = self._inputs(messages)
        kwargs = self._gen_kwargs(inputs, max_new_tokens)
        kwargs.update(streamer=streamer, stopping_criteria=StoppingCriteriaList([_Stop()]))
        self._reuse(inputs, kwargs)
        kwargs.update(return_dict_in_generate=True, use_cache=True)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self._keep(self.model.generate(**kwargs), inputs["input_ids"].shape[1])
            except BaseException as e:  # surfaced to the consumer below
                errors.append(e)
                streamer.end()

        thread = threading.Thread(target=run, name="convrec-llm-stream", daemon=True)
        thread.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            stop.set()
            thread.join()
        if errors:
            raise LLMError(f"Streaming from {self.name} failed: {errors[0]}.") from errors[0]
