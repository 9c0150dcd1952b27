"""Frozen dataclasses passed between pipeline stages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

# An attribute value is typed so that it can become a Chroma metadata filter.
AttrValue: TypeAlias = str | int | float | bool | tuple[str, ...]
Role: TypeAlias = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@dataclass(frozen=True)
class Item:
    """One catalog item. Only items of the loaded catalog are ever recommended."""

    id: str
    title: str
    description: str = ""
    category: str = ""
    attributes: dict[str, AttrValue] = field(default_factory=dict)
    image_paths: tuple[str, ...] = ()
    price: float | None = None
    popularity: float | None = None
    date: str | None = None  # ISO 8601 (YYYY or YYYY-MM-DD)

    @property
    def text(self) -> str:
        """The text that represents the item to text encoders."""
        parts = [self.title]
        if self.category:
            parts.append(self.category)
        if self.description:
            parts.append(self.description)
        return ". ".join(p.strip().rstrip(".") for p in parts if p.strip()) + "."

    @property
    def content(self) -> str:
        """What the item is, without its name: the category, its word-valued attributes
        (genres, keywords, maker …) and the description with the title replaced by "It".

        The routes that carry what the user asks for query this text, so a request word that
        only repeats a title ("a movie for the family" → *The Family*) cannot rank that item;
        what it is about has to match.
        """
        parts = [self.category] if self.category else []
        for name, value in self.attributes.items():
            words = value if isinstance(value, tuple) else (value,)
            shown = [w for w in words[:MAX_CONTENT_VALUES] if isinstance(w, str) and _wordy(w)]
            if shown:
                parts.append(f"{name.replace('_', ' ')}: {', '.join(shown)}")
        if self.description:
            parts.append(_without_title(self.description, self.title))
        return ". ".join(p.strip().rstrip(".") for p in parts if p.strip()) + "."


MAX_CONTENT_VALUES = 12  # values of one attribute in Item.content (long keyword lists are noise)


def _wordy(value: str) -> bool:
    """A value that reads as words ("Comedy", "Steven Spielberg"), not a code ("SM-G900F")."""
    return any(c.isalpha() for c in value) and not any(c.isdigit() for c in value)


def _without_title(text: str, title: str) -> str:
    """``text`` with each occurrence of ``title`` (case-insensitive) replaced by "It"."""
    name = title.strip()
    if len(name) < 2:
        return text
    return re.sub(re.escape(name), "It", text, flags=re.IGNORECASE)


@dataclass(frozen=True)
class Hit:
    """One retrieval result from one channel (higher score = more similar)."""

    item_id: str
    score: float
    channel: str


@dataclass(frozen=True)
class Query:
    """One retrieval request on one channel (collection ``<catalog>__<channel>``).

    Exactly one source is set: ``text`` (embedded with the channel's text encoder), ``image`` (a
    file, embedded with the image–text model), ``item_id`` (that item's stored vector, never
    re-embedded) or ``items`` (on the ``cf`` channel: those items' neighbours in the
    collaborative model). ``name`` keys the hit list the fusion sees, e.g. ``"clip_text>image"``.
    """

    name: str
    channel: str
    text: str = ""
    image: str | None = None
    item_id: str | None = None
    items: tuple[str, ...] = ()
    where: dict[str, object] | None = None
    weight: float = 1.0
    # Only these items may be returned (a hard constraint the ``where`` cannot express); None:
    # any item.
    ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Recommendation:
    """A ranked catalog item with its score and the contribution of each channel or term."""

    item_id: str
    title: str
    score: float
    breakdown: dict[str, float] = field(default_factory=dict)
    explanation: str = ""
    image: str | None = None  # absolute path of the item's first image, if it has one
    # How the explanation was obtained: "llm" (grounded as generated), "regenerated" (grounded
    # on the second try) or "template" (built from the item's fields); "" before explaining.
    explanation_source: str = ""
