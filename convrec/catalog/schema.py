"""The catalog model: field mappings, load reports, the Catalog itself and Chroma-ready metadata."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeAlias

from convrec.errors import CatalogError
from convrec.types import AttrValue, Item

# The attribute types a mapping may declare; "list[str]" becomes a tuple of strings on the Item.
AttrType: TypeAlias = Literal["str", "int", "float", "bool", "list[str]"]
ATTR_TYPES: tuple[str, ...] = ("str", "int", "float", "bool", "list[str]")
MetaValue: TypeAlias = str | int | float | bool

# Separator used for list attributes joined into one metadata string (and for list cells in CSV).
LIST_SEP = ";"
# A list attribute with more distinct values than this in a catalog (cast, keywords) gets no
# per-value flags: every flag is a metadata key, and tens of thousands of keys make each Chroma
# query with a ``where`` hundreds of times slower. Constraints on it are applied by id instead.
FLAG_LIMIT = 256


# The roles an attribute can play, declared once per catalog (builders and `convrec catalog load
# --role` write them to the manifest) and read by every stage:
ROLES: Mapping[str, str] = {
    "person": "names people (director, cast ...); the first listed leads when one name has "
    "several roles",
    "genre": "the item's kinds (genres)",
    "hidden": "never claimed in an explanation (codes, counts, tags)",
    "unread": "its values are not read in what the user types (codes, prose, tags)",
    "never_ask": "the policy never asks about it (codes, counts, long lists of people, specs)",
    "unlisted": "its values are not listed to the LLM that reads the user's message",
    "derived": "read from the item's photo by convrec, with a confidence (<name>_confidence); "
    "what the user says of it is a soft preference, never a filter",
}
# What convrec derives from photos (convrec.catalog.visual) and the confidence of each.
_DERIVED = ("colour",)
_CONFIDENCES = ("colour_confidence",)
# Where a catalog declares no roles: attributes of these names play them (the shipped catalogs'
# declarations, by name).
DEFAULT_ROLES: Mapping[str, tuple[str, ...]] = {
    "person": ("director", "cast", "writer", "author", "artist", "actors", "creator"),
    "genre": ("genres", "genre"),
    "hidden": ("model_code", "n_ratings", "keywords", "awards", "resolution", *_CONFIDENCES),
    "unread": ("model_code", "resolution", "awards", "keywords", *_CONFIDENCES),
    "never_ask": ("model_code", "resolution", "awards", "keywords", "n_ratings", "mean_rating",
                  "cast", "writer", "cpu", "carrier", "os_version", *_DERIVED, *_CONFIDENCES),
    "unlisted": ("n_ratings", "cpu", "carrier", "os_version", *_CONFIDENCES),
    "derived": _DERIVED,
}  # fmt: skip


@dataclass(frozen=True)
class AttributeRoles:
    """Which attributes play each role (see :data:`ROLES`); ``person`` keeps its declared order."""

    person: tuple[str, ...] = ()
    genre: tuple[str, ...] = ()
    hidden: frozenset[str] = frozenset()
    unread: frozenset[str] = frozenset()
    never_ask: frozenset[str] = frozenset()
    unlisted: frozenset[str] = frozenset()
    derived: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttributeRoles:
        """From ``{role: [attribute, ...]}``; an unknown role is an error that names the known."""
        unknown = set(data) - set(ROLES)
        if unknown:
            raise CatalogError(
                f"Unknown attribute role(s) {', '.join(sorted(unknown))}. "
                f"Fix: use {', '.join(ROLES)}."
            )
        for role, names in data.items():
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise CatalogError(
                    f"Role {role!r} must list attribute names, not {names!r}. "
                    f'Fix: e.g. "{role}": ["director", "cast"].'
                )

        def named(role: str) -> tuple[str, ...]:
            return tuple(data.get(role, ()))

        return cls(
            person=named("person"),
            genre=named("genre"),
            hidden=frozenset(named("hidden")),
            unread=frozenset(named("unread")),
            never_ask=frozenset(named("never_ask")),
            unlisted=frozenset(named("unlisted")),
            derived=frozenset(named("derived")),
        )

    @classmethod
    def inferred(cls, attributes: Iterable[str]) -> AttributeRoles:
        """The :data:`DEFAULT_ROLES` of the attributes a catalog has."""
        have = set(attributes)
        return cls.from_dict(
            {r: [a for a in names if a in have] for r, names in DEFAULT_ROLES.items()}
        )

    def to_dict(self) -> dict[str, list[str]]:
        return {r: sorted(v) if isinstance(v, frozenset) else list(v)
                for r in ROLES if (v := getattr(self, r))}  # fmt: skip


@dataclass(frozen=True)
class FieldMapping:
    """Which source column feeds which Item field; attributes map a column to its declared type.

    Only ``id`` is required. ``image_paths`` may name a list column or a ``;``-separated string.
    """

    id: str = "id"
    title: str | None = "title"
    description: str | None = "description"
    category: str | None = "category"
    price: str | None = "price"
    popularity: str | None = "popularity"
    date: str | None = "date"
    image_paths: str | None = "image_paths"
    attributes: Mapping[str, AttrType] = field(default_factory=dict)
    roles: Mapping[str, Sequence[str]] = field(default_factory=dict)  # role → attributes

    def __post_init__(self) -> None:
        AttributeRoles.from_dict(self.roles)  # an unknown role fails here, with the fix
        for name, kind in self.attributes.items():
            if kind not in ATTR_TYPES:
                raise CatalogError(
                    f"Attribute {name!r} has type {kind!r}; use one of {', '.join(ATTR_TYPES)}."
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldMapping:
        """Build from a mapping.json object: the same keys as the dataclass fields."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise CatalogError(
                f"Unknown key(s) in the field mapping: {', '.join(sorted(unknown))}. "
                f"Fix: use only {', '.join(sorted(known))}."
            )
        if "id" in data and not data["id"]:
            raise CatalogError('The field mapping must name the id column. Fix: set "id".')
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["attributes"] = dict(self.attributes)
        out["roles"] = {r: list(v) for r, v in self.roles.items()}
        return out


@dataclass(frozen=True)
class Problem:
    """One bad cell or row: ``row`` is 1-based (data rows, header excluded)."""

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class LoadReport:
    """What a load produced: the good items and every problem found (nothing dropped silently)."""

    items: tuple[Item, ...]
    problems: tuple[Problem, ...]
    rows: int  # data rows read from the file
    rejected: tuple[int, ...] = ()  # row numbers that did not become items

    def summary(self) -> str:
        return (
            f"{self.rows} rows read, {len(self.items)} items loaded, {len(self.rejected)} rows "
            f"rejected, {len(self.problems)} problems"
        )


@dataclass(frozen=True)
class Catalog:
    """A loaded catalog directory: its items (in file order) and its manifest."""

    name: str
    root: Path
    items: tuple[Item, ...]
    manifest: Mapping[str, Any] = field(default_factory=dict)
    _by_id: Mapping[str, Item] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._by_id:
            object.__setattr__(self, "_by_id", {it.id: it for it in self.items})

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def get(self, item_id: str) -> Item | None:
        return self._by_id.get(item_id)

    def __getitem__(self, item_id: str) -> Item:
        try:
            return self._by_id[item_id]
        except KeyError:
            raise CatalogError(f"Item {item_id!r} is not in catalog {self.name!r}.") from None

    @cached_property
    def memo(self) -> dict[Any, Any]:
        """Lookups derived from the items (e.g. the ids a constraint set allows), kept as long
        as this loaded catalog."""
        return {}

    @cached_property
    def roles(self) -> AttributeRoles:
        """The attribute roles the manifest declares (``roles``, else the load mapping's), else
        those :data:`DEFAULT_ROLES` gives the attributes the items have."""
        declared = self.manifest.get("roles") or (self.manifest.get("mapping") or {}).get("roles")
        if declared:
            return AttributeRoles.from_dict(declared)
        return AttributeRoles.inferred({a for it in self.items for a in it.attributes})

    @cached_property
    def flagged(self) -> frozenset[str]:
        """The list attributes that get per-value flags (see :func:`flagged_attributes`)."""
        return flagged_attributes(self.items)

    def image_path(self, item: Item, index: int = 0) -> Path:
        """Absolute path of one of the item's images (paths in items.jsonl are relative)."""
        return self.root / item.image_paths[index]


_KEY_SAFE = re.compile(r"[^0-9a-z]+")


def flag_key(attr: str, value: str) -> str:
    """Key of the flag for one list value: ``genres`` + ``Sci-Fi`` → ``genres_sci_fi``."""
    return f"{attr}_{norm_value(value)}"


def flagged_attributes(items: Iterable[Item], limit: int = FLAG_LIMIT) -> frozenset[str]:
    """List attributes with at most ``limit`` distinct values over ``items`` (genres, not cast)."""
    values: dict[str, set[str]] = {}
    for item in items:
        for name, value in item.attributes.items():
            if isinstance(value, tuple):
                values.setdefault(name, set()).update(value)
    return frozenset(name for name, vals in values.items() if len(vals) <= limit)


def norm_value(value: object) -> str:
    """A list value as its flag suffix: ``"Sci-Fi"`` → ``"sci_fi"`` (case and punctuation free)."""
    return _KEY_SAFE.sub("_", str(value).lower()).strip("_")


def item_metadata(item: Item, flagged: Collection[str] | None = None) -> dict[str, MetaValue]:
    """Flat, Chroma-safe metadata for filtering with ``where``.

    Scalars (str/int/float/bool) pass through under their attribute name. Chroma metadata cannot
    hold lists (in all versions), so a list attribute ``genres=("Animation", "Comedy")`` becomes:

    - one string ``genres = "Animation;Comedy"`` (for display and ``$contains``-style matching), and
    - one flag per value, ``genres_animation = True`` and ``genres_comedy = True``
      (see :func:`flag_key`), so ``where={"genres_animation": True}`` filters on one value —
      only for the attributes in ``flagged`` (all list attributes when None; a catalog passes
      :attr:`Catalog.flagged`).

    ``category``, ``price``, ``popularity`` and ``date`` are added when set; ``None`` is never
    emitted (Chroma rejects it). Attribute names that clash with those keys are prefixed ``attr_``.
    """
    meta: dict[str, MetaValue] = {"title": item.title}
    if item.category:
        meta["category"] = item.category
    for key in ("price", "popularity"):
        value = getattr(item, key)
        if value is not None:
            meta[key] = float(value)
    if item.date:
        meta["date"] = item.date
    reserved = set(meta) | {"title", "category", "price", "popularity", "date"}
    for name, value in item.attributes.items():
        key = f"attr_{name}" if name in reserved else name
        if isinstance(value, tuple):
            meta[key] = LIST_SEP.join(value)
            if flagged is None or name in flagged:
                for v in value:
                    meta[flag_key(key, v)] = True
        else:
            meta[key] = value
    return meta


def item_to_dict(item: Item) -> dict[str, Any]:
    """JSON-ready dict of an Item (lists for tuples); the inverse of :func:`item_from_dict`."""
    attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in item.attributes.items()}
    out: dict[str, Any] = {"id": item.id, "title": item.title}
    if item.description:
        out["description"] = item.description
    if item.category:
        out["category"] = item.category
    out["attributes"] = attrs
    if item.image_paths:
        out["image_paths"] = list(item.image_paths)
    for key in ("price", "popularity", "date"):
        if getattr(item, key) is not None:
            out[key] = getattr(item, key)
    return out


def item_from_dict(data: Mapping[str, Any]) -> Item:
    """Rebuild an Item written by :func:`item_to_dict`."""
    attrs: dict[str, AttrValue] = {}
    for k, v in (data.get("attributes") or {}).items():
        attrs[k] = tuple(str(x) for x in v) if isinstance(v, list) else v
    return Item(
        id=str(data["id"]),
        title=str(data.get("title") or ""),
        description=str(data.get("description") or ""),
        category=str(data.get("category") or ""),
        attributes=attrs,
        image_paths=tuple(data.get("image_paths") or ()),
        price=data.get("price"),
        popularity=data.get("popularity"),
        date=data.get("date"),
    )
