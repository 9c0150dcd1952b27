"""LLM backend for any OpenAI-compatible chat server (vLLM, llama.cpp server, TGI) over httpx."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx

from convrec.errors import LLMError

if TYPE_CHECKING:
    from convrec.config import Settings
    from convrec.types import Message

log = logging.getLogger(__name__)

# How a JSON schema is sent, best first. Servers differ: OpenAI and vLLM take "json_schema";
# llama-cpp-python takes only "json_object" with a "schema" key (its grammar follows the schema)
# and rejects "json_schema" with 422; some servers take neither. The first one a server accepts
# is remembered for the life of the client.
FORMAT_MODES = ("json_schema", "json_object", "none")
BATCH_WORKERS = 8  # parallel requests of one generate_batch call
# Statuses that mean "the server does not understand this request body" (FastAPI answers 422);
# see also _rejects_format.
_REJECTED = {400, 422}
# Statuses worth retrying: overloaded, rate limited or failing server.
_RETRY_STATUS = {429, 500, 502, 503, 504}
_START_HINT = (
    "start one (e.g. `python -m llama_cpp.server --model X.gguf --host 127.0.0.1 --port 8080`, "
    'installed by `pip install "convrec[server]"`) or fix llm.base_url'
)


def _response_format(mode: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    if mode == "json_schema":
        spec = {"name": "response", "schema": dict(schema), "strict": True}
        return {"type": "json_schema", "json_schema": spec}
    if mode == "json_object":
        return {"type": "json_object", "schema": dict(schema)}
    return None


class OpenAICompatLLM:
    """Chat completions from ``base_url`` (ending in /v1): greedy by default, bounded retries."""

    def __init__(
        self,
        base_url: str,
        model: str = "",
        *,
        api_key: str = "not-needed",
        timeout_s: float = 60.0,
        max_retries: int = 2,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.max_retries = max_retries
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.format_mode = FORMAT_MODES[0]
        # Connecting should never take long on a working server; reading may (long generations).
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatLLM:
        s = settings.llm
        return cls(
            s.base_url,
            s.api_model,
            api_key=s.api_key,
            timeout_s=s.timeout_s,
            max_retries=s.max_retries,
            max_new_tokens=s.max_new_tokens,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        json_schema: Mapping[str, Any] | None = None,
    ) -> str:
        body = self._body(messages, max_new_tokens)
        if json_schema is None:
            return self._content(self._post(body))
        start = FORMAT_MODES.index(self.format_mode)
        for i, mode in enumerate(FORMAT_MODES[start:], start):
            fmt = _response_format(mode, json_schema)
            request = {**body, "response_format": fmt} if fmt else body
            try:
                data = self._post(request, raise_rejected=i + 1 == len(FORMAT_MODES))
            except _Rejected as e:
                log.info("%s rejected response_format %s: %s", self.base_url, mode, e)
                continue
            if mode != self.format_mode:
                old, url = self.format_mode, self.base_url
                log.warning("%s rejects response_format %s; using %s from now on", url, old, mode)
                self.format_mode = mode
            return self._content(data)
        raise AssertionError("unreachable: the last format mode raises instead of rejecting")

    def stream(
        self, messages: Sequence[Message], *, max_new_tokens: int | None = None
    ) -> Iterator[str]:
        body = {**self._body(messages, max_new_tokens), "stream": True}
        with self._request(body) as response:
            try:
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue  # SSE comments, event names and keep-alives
                    payload = line[len("data:") :].strip()
                    if payload == "[DONE]":
                        return
                    delta = _parse(payload)["choices"][0].get("delta") or {}
                    if delta.get("content"):
                        yield str(delta["content"])
            except httpx.TransportError as e:
                raise LLMError(f"The stream from {self.base_url} broke off: {e!r}. Retry.") from e
            except (KeyError, IndexError, TypeError) as e:
                raise LLMError(f"{self.base_url} sent a malformed stream chunk: {e!r}") from e

    # -- internals -------------------------------------------------------------------------------

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int | None = None
    ) -> list[str]:
        """Several chats as parallel requests (vLLM and llama.cpp batch them on the server),
        each answer cut at its first line break."""
        from concurrent.futures import ThreadPoolExecutor

        if not conversations:
            return []
        with ThreadPoolExecutor(max_workers=min(BATCH_WORKERS, len(conversations))) as pool:
            answers = pool.map(
                lambda c: self.generate(c, max_new_tokens=max_new_tokens), conversations
            )
            return [a.strip().split("\n", 1)[0] for a in answers]

    def _body(self, messages: Sequence[Message], max_new_tokens: int | None) -> dict[str, Any]:
        return {
            "model": self._model(),
            "messages": _with_opening(messages),
            # llm.max_new_tokens is an upper bound: a caller may ask for fewer, never more.
            "max_tokens": min(max_new_tokens or self.max_new_tokens, self.max_new_tokens),
            "temperature": self.temperature,
        }

    def _model(self) -> str:
        """The configured model name, else the first one the server lists (served once)."""
        if not self.model:
            with self._request(None, path="/models") as response:
                try:
                    self.model = str(_parse(response.read())["data"][0]["id"])
                except (KeyError, IndexError, TypeError) as e:
                    raise LLMError(
                        f"{self.base_url}/models lists no model ({e!r}). Fix: set llm.api_model."
                    ) from e
            log.info("using model %r served at %s", self.model, self.base_url)
        return self.model

    def _post(self, body: dict[str, Any], raise_rejected: bool = True) -> dict[str, Any]:
        with self._request(body, raise_rejected=raise_rejected) as response:
            return _parse(response.read())

    @staticmethod
    def _content(data: Mapping[str, Any]) -> str:
        try:
            return str(data["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError) as e:
            raise LLMError(f"The server's answer has no choices[0].message.content: {e!r}") from e

    @contextmanager
    def _request(
        self,
        body: dict[str, Any] | None,
        *,
        path: str = "/chat/completions",
        raise_rejected: bool = True,
    ) -> Iterator[httpx.Response]:
        """Send one request with bounded retries; yield the open (unread) 2xx response."""
        url = self.base_url + path
        method = "GET" if body is None else "POST"
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                request = self._client.build_request(method, url, json=body)
                response = self._client.send(request, stream=True)
            except httpx.TransportError as e:  # refused, timed out, reset
                if last:
                    raise self._transport_error(e, url, attempts) from e
                self._wait(attempt, repr(e))
                continue
            try:
                status = response.status_code
                if status >= 400:
                    detail = response.read().decode("utf-8", "replace")[:500]
                    if not raise_rejected and _rejects_format(status, detail):
                        raise _Rejected(f"HTTP {status}: {detail}")
                    if status in _RETRY_STATUS and not last:
                        self._wait(attempt, f"HTTP {status}")
                        continue
                    raise LLMError(
                        f"{url} answered HTTP {status}: {detail}. Fix: {_fix(status, url)}."
                    )
                yield response
                return
            finally:
                response.close()

    def _transport_error(self, e: httpx.TransportError, url: str, attempts: int) -> LLMError:
        if isinstance(e, httpx.ConnectError):
            why = (
                f"No OpenAI-compatible server answers at {self.base_url} ({attempts} attempts; {e})"
            )
            return LLMError(f"{why}: {_START_HINT}.")
        if isinstance(e, httpx.TimeoutException):
            return LLMError(
                f"{url} did not answer within timeout_s={self.timeout_s} s ({attempts} attempts). "
                "Fix: raise llm.timeout_s, lower max_new_tokens, or check the server's load."
            )
        return LLMError(f"Request to {url} failed ({attempts} attempts; {e!r}): {_START_HINT}.")

    def _wait(self, attempt: int, why: str) -> None:
        delay = self.backoff_s * 2**attempt
        n, total = attempt + 1, self.max_retries
        log.warning("%s: %s; retry %d/%d in %.1f s", self.base_url, why, n, total, delay)
        time.sleep(delay)


class _Rejected(Exception):
    """The server refused the request body (400/422): the caller may try a simpler one."""


def _with_opening(messages: Sequence[Message]) -> list[dict[str, str]]:
    """The chat as the API takes it. A last assistant message (an opening the answer should
    continue) becomes an instruction to start with it: servers differ in how, or whether, they
    continue a final assistant message, but all of them follow this."""
    chat = [{"role": m.role, "content": m.content} for m in messages]
    if len(chat) > 1 and chat[-1]["role"] == "assistant":
        opening = chat.pop()["content"]
        ask = f"{chat[-1]['content']}\n\nStart your answer with: {opening}"
        chat[-1] = {**chat[-1], "content": ask}
    return chat


def _parse(raw: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise LLMError(f"The server answered with invalid JSON: {str(raw)[:200]!r}") from e
    if not isinstance(data, dict):
        raise LLMError(f"The server answered with {type(data).__name__}, expected an object.")
    return data


def _fix(status: int, url: str) -> str:
    if status in (401, 403):
        return "set llm.api_key to a key the server accepts"
    if status == 404:
        return f"check that llm.base_url ends in /v1 and that llm.api_model is served at {url}"
    return "check the request and the server's log"


def _rejects_format(status: int, detail: str) -> bool:
    # llama-cpp-python answers an unknown response_format with HTTP 500 (its error handler turns
    # the validation error into a 500), so a 5xx that names the field counts as a rejection too.
    return status in _REJECTED or (status >= 500 and "response_format" in detail)
