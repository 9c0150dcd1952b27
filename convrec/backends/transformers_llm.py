"""Local LLM backend: an in-process transformers LM; greedy, streaming, JSON-schema constrained.

Constrained decoding uses xgrammar: the schema is compiled once per (model, schema) into a grammar
and applied as a logits processor, so every token the model emits keeps the output a valid prefix
of a document that matches the schema.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from convrec.errors import LLMError, MissingDependencyError
from convrec.models import ensure

if TYPE_CHECKING:
    from convrec.config import Settings
    from convrec.types import Message

log = logging.getLogger(__name__)


class TransformersLLM:
    """Runs a packaged name, local directory or hub id in-process (see `convrec models list`)."""

    def __init__(
        self,
        model: str,
        settings: Settings,
        *,
        max_new_tokens: int | None = None,
        threads: int | None = None,
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
        self.load_seconds = time.perf_counter() - start
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

    def _gen_kwargs(self, inputs: Any, max_new_tokens: int | None) -> dict[str, Any]:
        return {
            **inputs,
            # The configured limit is an upper bound: a caller may ask for fewer, never more.
            "max_new_tokens": min(max_new_tokens or self.max_new_tokens, self.max_new_tokens),
            "do_sample": False,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }

    def _json_processor(self, schema: Mapping[str, Any]) -> Any:
        import xgrammar as xgr
        from xgrammar.contrib.hf import LogitsProcessor

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            if self._compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(
                    self.tokenizer, vocab_size=self.model.config.vocab_size
                )
                self._compiler = xgr.GrammarCompiler(info, max_threads=2)
            # Compact JSON: a small model left free to add whitespace may never close the object.
            self._grammars[key] = self._compiler.compile_json_schema(key, any_whitespace=False)
        return LogitsProcessor(self._grammars[key])  # stateful: one per generate() call

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
            kwargs["logits_processor"] = [self._json_processor(json_schema)]
        try:
            with torch.inference_mode():
                out = self.model.generate(**kwargs)
        except RuntimeError as e:
            raise LLMError(
                f"Generation with {self.name} failed: {e}. Fix: shorten the prompt."
            ) from e
        new = out[0, inputs["input_ids"].shape[1] :]
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
        kwargs = self._gen_kwargs(self._inputs(messages), max_new_tokens)
        kwargs.update(streamer=streamer, stopping_criteria=StoppingCriteriaList([_Stop()]))
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs)
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
