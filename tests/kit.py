"""The shared test kit: one replay LLM for pure-logic tests, the real test LLM capped per call,
real Chroma servers on loopback ports, and helpers that build and index small real catalogs.
Fixtures built from these live in conftest.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from convrec.catalog.schema import Catalog
from convrec.types import AttrValue, Item, Message

if TYPE_CHECKING:
    from convrec.config import Settings


ROOT = Path(__file__).resolve().parents[1]  # the checkout
# INSPIRED's dev split: in ../shared beside the checkout, as the project's docs place it; the
# workspace copy otherwise (not shipped: third-party data).
_DEV_TSVS = [
    ROOT.parent / "shared" / "data" / "inspired" / "dev.tsv",
    Path("/work/shared/data/inspired/dev.tsv"),
]
INSPIRED_DEV = next((p for p in _DEV_TSVS if p.is_file()), _DEV_TSVS[0])


def movie(id_: str, title: str, year: int, genres: tuple[str, ...]) -> Item:
    """A movie with a year, genres and one director (Jane Doe)."""
    attrs: dict[str, AttrValue] = {"year": year, "genres": genres, "director": ("Jane Doe",)}
    return Item(id_, title, category="movie", attributes=attrs)


# Six films with overlapping titles (Alien, Aliens) and genres, for the rules and the grounding.
TINY_MOVIES = Catalog("movies", Path("."), (
    movie("1", "The Terminator", 1984, ("Action", "Sci-Fi")),
    movie("2", "Alien", 1979, ("Horror", "Sci-Fi")),
    movie("3", "Aliens", 1986, ("Action", "Horror", "Sci-Fi")),
    movie("4", "Airplane!", 1980, ("Comedy",)),
    movie("5", "Jurassic Park", 1993, ("Adventure", "Sci-Fi")),
    movie("6", "Notting Hill", 1999, ("Comedy", "Romance")),
))  # fmt: skip


class Call(NamedTuple):
    """One call a ReplayLLM answered: ``generate``, ``stream`` or ``batch``, and its messages."""

    kind: str
    messages: list[Message]

    @property
    def text(self) -> str:
        return "\n".join(m.content for m in self.messages)


class ReplayLLM:
    """Pure logic only: an LLM stand-in that replays queued outputs (an exception queued is raised
    instead), for ``generate`` and ``stream`` alike, and records every call and JSON schema. A
    backend's real behaviour is tested against the real model (tests/backends)."""

    def __init__(self, *outputs: str | Exception) -> None:
        self.outputs = list(outputs)
        self.calls: list[Call] = []
        self.schemas: list[Mapping[str, Any] | None] = []

    @property
    def prompts(self) -> list[str]:
        """Each call's messages as one text."""
        return [c.text for c in self.calls]

    def next(self, kind: str, messages: Sequence[Message]) -> str:
        self.calls.append(Call(kind, list(messages)))
        out = self.outputs.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int | None = None,
        json_schema: Mapping[str, Any] | None = None,
    ) -> str:
        self.schemas.append(json_schema)
        return self.next("generate", messages)

    def stream(
        self, messages: Sequence[Message], *, max_new_tokens: int | None = None
    ) -> Iterator[str]:
        out = self.next("stream", messages)
        for i in range(0, len(out), 7):  # arbitrary chunks, across line breaks
            yield out[i : i + 7]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chroma_exe() -> str:
    exe = Path(sys.executable).parent / "chroma"
    if not exe.exists():
        pytest.fail(
            f"`chroma` CLI not found next to {sys.executable}; install chromadb in the venv"
        )
    return str(exe)


@contextmanager
def running_chroma(path: Path, port: int | None = None) -> Iterator[tuple[str, int]]:
    """A real `chroma run --path path/db` on ``port`` (default: a free loopback port); always
    terminated (the data in ``path`` stays, so a second run on it is a restart)."""
    port = port or free_port()
    log = (path / "server.log").open("a")
    proc = subprocess.Popen(
        [
            chroma_exe(),
            "run",
            "--path",
            str(path / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{port}/api/v2/heartbeat"
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not start: {(path / 'server.log').read_text()}")
            time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def index_into(settings: Settings, root: Path) -> None:
    from convrec.backends.chroma_store import make_store
    from convrec.backends.clip_embedder import make_image_text_embedder
    from convrec.backends.st_embedder import SentenceTransformerEmbedder
    from convrec.catalog.index import index_catalog
    from convrec.catalog.layout import open_catalog

    index_catalog(
        open_catalog(root, settings),
        settings,
        make_store(settings),
        SentenceTransformerEmbedder.from_settings(settings),
        make_image_text_embedder(settings),
    )


class Capped:
    """The real test LLM with ``settings.llm.max_new_tokens`` as a hard upper bound per call (as
    the setting documents), so every turn runs the real stages in bounded time on 2 cores."""

    def __init__(self, llm: Any, cap: int) -> None:
        self.llm, self.cap = llm, cap

    def generate(self, messages: Any, *, max_new_tokens: int | None = None, **kw: Any) -> str:
        return str(self.llm.generate(messages, max_new_tokens=self._n(max_new_tokens), **kw))

    def stream(self, messages: Any, *, max_new_tokens: int | None = None) -> Iterator[str]:
        return iter(self.llm.stream(messages, max_new_tokens=self._n(max_new_tokens)))

    def _n(self, n: int | None) -> int:
        return min(n or self.cap, self.cap)


def subset_catalog(full: Catalog, keep: set[str], settings: Settings, popular: int) -> None:
    from convrec.catalog.layout import catalog_dir, write_catalog

    ranked = sorted(full.items, key=lambda it: -(it.popularity or 0.0))
    keep = keep | {it.id for it in ranked[:popular]}
    items = [  # absolute image paths: the subset lives in another cache
        replace(
            it, image_paths=tuple(str(full.image_path(it, i)) for i in range(len(it.image_paths)))
        )
        for it in full.items
        if it.id in keep
    ]
    write_catalog(catalog_dir(full.name, settings), items, {"name": full.name})
