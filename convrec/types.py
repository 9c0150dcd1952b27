"""Frozen dataclasses passed between pipeline stages."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Hit:
    """One retrieval result from one channel (higher score = more similar)."""

    item_id: str
    score: float
    channel: str
