"""Scripted dialogues (eval/dialogues/*.yaml) as data: turns and the expectations on each reply.

Loaded and validated against the catalogs by :mod:`convrec.evaluation.scripted.loader`; checked
against replies by :mod:`convrec.evaluation.scripted.expectations`. The YAML schema is documented in
``eval/dialogues/README.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, get_args

from convrec.dialogue.state import field_value
from convrec.resources import SOURCE_ROOT
from convrec.types import Item

DIALOGUES_DIR = SOURCE_ROOT / "eval" / "dialogues"
Op: TypeAlias = Literal["eq", "ne", "in", "nin", "lt", "le", "gt", "ge"]
OPS: tuple[str, ...] = get_args(Op)
NEGATIVE_OPS = ("ne", "nin")
ACTIONS = ("ask", "recommend", "clarify", "answer")
PSEUDO = {"category": "str", "price": "float"}  # Item fields checked like attributes
Scalar: TypeAlias = str | int | float | bool


@dataclass(frozen=True)
class Previous:
    """A value taken from an item shown before: the attribute's value on the ``rank``-th item
    (1-based) of the last recommendations ("newer than that one", "same maker as the second")."""

    rank: int

    def __str__(self) -> str:
        return f"that of shown #{self.rank}"


@dataclass(frozen=True)
class AttrCheck:
    """``attribute op value`` on one item; ``share`` is the least share of the recommendations
    that must satisfy it (1.0 for ``constraints``, default 0.5 for ``prefer``)."""

    attribute: str
    op: Op
    value: Scalar | tuple[Scalar, ...] | Previous
    share: float = 1.0

    @property
    def negative(self) -> bool:
        return self.op in NEGATIVE_OPS

    def values(self) -> tuple[Scalar, ...]:
        if isinstance(self.value, Previous):
            raise ValueError(f"{self} refers to a shown item: resolve() it first")
        return self.value if isinstance(self.value, tuple) else (self.value,)

    def resolve(self, previous: Sequence[Item]) -> AttrCheck | None:
        """This check with a :class:`Previous` value replaced by the shown item's value; None
        when that item was not shown or lacks the attribute."""
        if not isinstance(self.value, Previous):
            return self
        rank = self.value.rank
        v = field_value(previous[rank - 1], self.attribute) if len(previous) >= rank else None
        if v is None or v == "" or isinstance(v, tuple):
            return None
        return AttrCheck(self.attribute, self.op, v, self.share)  # type: ignore[arg-type]

    def holds(self, item: Item) -> bool:
        """True when ``item`` satisfies the check. An item lacking the attribute satisfies only
        ``ne``/``nin`` (it cannot have the unwanted value); a list attribute (genres) satisfies
        ``eq``/``in`` when it holds any of the values, ``ne``/``nin`` when it holds none."""
        if isinstance(self.value, Previous):
            raise ValueError(f"{self} refers to a shown item: resolve() it first")
        have = field_value(item, self.attribute)
        if have is None or have == "":
            return self.negative
        if self.op in ("lt", "le", "gt", "ge"):
            if not isinstance(have, int | float) or isinstance(have, bool):
                return False
            x, v = float(have), float(self.value)  # type: ignore[arg-type]
            return {"lt": x < v, "le": x <= v, "gt": x > v, "ge": x >= v}[self.op]
        owned = {value_key(h) for h in (have if isinstance(have, tuple) else (have,))}
        hit = bool(owned & {value_key(v) for v in self.values()})
        return not hit if self.negative else hit

    def __str__(self) -> str:
        value = (
            "[" + ", ".join(map(str, self.value)) + "]"
            if isinstance(self.value, tuple)
            else (str(self.value))
        )
        share = "" if self.share == 1.0 else f" (at least {self.share:.0%} of items)"
        return f"{self.attribute} {self.op} {value}{share}"


@dataclass(frozen=True)
class ItemRef:
    """An item named in a dialogue (by title, ``Title (Year)`` or ``id:ID``) and the catalog ids
    it resolves to: several ids when the catalog lists one product more than once (a phone sold
    by two carriers)."""

    name: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Mention:
    """The reply's words must name a shown item's field: ``item`` is a 1-based rank in the last
    recommendations before the turn, or a named item; ``attribute`` None means its title."""

    item: int | ItemRef
    attribute: str | None = None

    def __str__(self) -> str:
        what = self.item.name if isinstance(self.item, ItemRef) else f"shown #{self.item}"
        return f"{what}: {self.attribute or 'title'}"


@dataclass(frozen=True)
class Expect:
    """What one turn's reply must satisfy (see eval/dialogues/README.md)."""

    action: tuple[str, ...] = ()  # allowed actions; () = any
    constraints: tuple[AttrCheck, ...] = ()
    prefer: tuple[AttrCheck, ...] = ()
    include: tuple[ItemRef, ...] = ()
    exclude: tuple[ItemRef, ...] = ()
    exclude_previous: int | Literal["all"] | None = None  # a 1-based rank, or all of them
    grounded: bool = False
    text_excludes: tuple[str, ...] = ()
    text_includes: tuple[str, ...] = ()  # regular expressions, case-insensitive
    mentions: tuple[Mention, ...] = ()


@dataclass(frozen=True)
class Turn:
    user: str
    expect: Expect = field(default_factory=Expect)
    image_of: ItemRef | None = None  # upload this item's photo with the message


@dataclass(frozen=True)
class Dialogue:
    id: str
    catalog: str
    turns: tuple[Turn, ...]
    tags: tuple[str, ...] = ()
    quick: bool = False
    source: str = ""  # file name, for messages
    description: str = ""

    @property
    def digest(self) -> str:
        """A short hash of the dialogue's content: a rerun redoes a dialogue that was edited."""
        blob = json.dumps(repr((self.catalog, self.turns)), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def value_key(value: object) -> str:
    """How string values compare: case-insensitive, trimmed."""
    return str(value).strip().lower()


__all__ = [
    "DIALOGUES_DIR",
    "AttrCheck",
    "Dialogue",
    "Expect",
    "ItemRef",
    "Previous",
    "Turn",
    "value_key",
]
