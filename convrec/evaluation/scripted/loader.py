"""Loading eval/dialogues/*.yaml: every name resolved against the real catalogs, or a clear error.

Titles, attributes and attribute values are checked when the suite is loaded, so a typo in a YAML
file is an error naming the file and the dialogue (with the closest catalog names), never an
expectation that passes because it checks nothing. Schema: ``eval/dialogues/README.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from convrec.catalog.layout import attribute_schema
from convrec.catalog.schema import Catalog
from convrec.catalog.titles import normalize, title_keys
from convrec.dialogue.state import field_value
from convrec.errors import InputError
from convrec.evaluation.scripted.dialogues import (
    ACTIONS,
    DIALOGUES_DIR,
    OPS,
    PSEUDO,
    AttrCheck,
    Dialogue,
    Expect,
    ItemRef,
    Mention,
    Previous,
    Scalar,
    Turn,
    value_key,
)
from convrec.types import Item

TURN_KEYS = {"user", "image_of", "expect"}
EXPECT_KEYS = {"action", "constraints", "prefer", "include", "exclude", "exclude_previous",
               "grounded", "text_excludes", "text_includes", "mentions"}  # fmt: skip
# expectations about the recommended items: they imply action "recommend" unless one is given
ITEM_KEYS = {"constraints", "prefer", "include", "exclude", "exclude_previous", "grounded"}
DIALOGUE_KEYS = {"id", "catalog", "tags", "quick", "description", "turns"}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
_TITLE_YEAR = re.compile(r"^(.*\S)\s*\((\d{4})\)$")


class CatalogVocabulary:
    """What a dialogue may name in one catalog: titles, attributes and their values."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.kinds = {**PSEUDO, **attribute_schema(catalog.items)}
        self.values: dict[str, dict[str, str]] = {}  # attribute → lower-case value → as stored
        self.titles: dict[str, list[Item]] = {}
        for it in catalog.items:
            for attr in ("category", *it.attributes):
                v = field_value(it, attr)
                for x in v if isinstance(v, tuple) else (v,):
                    if isinstance(x, str) and x:
                        self.values.setdefault(attr, {}).setdefault(x.lower(), x)
            for key in dict.fromkeys([*title_keys(it.title), normalize(it.title)]):
                self.titles.setdefault(key, []).append(it)

    def item(self, name: str) -> ItemRef:
        """The items ``name`` names, or InputError with the closest titles."""
        if name.startswith("id:"):
            if name[3:] not in self.catalog:
                raise InputError(
                    f"no item with id {name[3:]!r} in catalog {self.catalog.name!r}. Fix: use an "
                    "id from the catalog's items.jsonl, or the title"
                )
            return ItemRef(name, (name[3:],))
        m = _TITLE_YEAR.match(name)
        title, year = (m.group(1), m.group(2)) if m else (name, None)
        found = self.titles.get(normalize(title), [])
        if year is not None:
            found = [it for it in found if _year(it) == year]
        if not found:
            raise InputError(
                f"unknown title {name!r} in catalog {self.catalog.name!r}"
                f"{self._suggest(title)}. Fix: use the catalog's title (see items.jsonl)"
            )
        years = sorted({_year(it) for it in found})
        if len(years) > 1:
            raise InputError(
                f"title {name!r} names {len(found)} items of different years {years}. "
                f"Fix: add the year, e.g. '{title} ({years[-1]})'"
            )
        return ItemRef(name, tuple(it.id for it in found))

    def _suggest(self, title: str) -> str:
        from rapidfuzz import process

        near = process.extract(normalize(title), list(self.titles), limit=3, score_cutoff=70)
        if not near:
            return ""
        names = [self.titles[k][0].title for k, _, _ in near]
        return " (did you mean " + " / ".join(repr(n) for n in dict.fromkeys(names)) + "?)"

    def check(self, raw: Mapping[str, Any], share: float) -> AttrCheck:
        """An AttrCheck from ``{attribute, op, value[, share]}``, validated against the catalog."""
        _only(raw, {"attribute", "op", "value", "share"}, "a constraint")
        attr, op, value = raw.get("attribute"), raw.get("op"), raw.get("value")
        if attr not in self.kinds:
            raise InputError(
                f"unknown attribute {attr!r} for catalog {self.catalog.name!r}. Fix: use one of "
                f"{sorted(self.kinds)}"
            )
        if op not in OPS:
            raise InputError(f"unknown op {op!r} on {attr}. Fix: use one of {list(OPS)}")
        kind = self.kinds[attr]
        shared = raw.get("share", share)
        if not (_number(shared) and 0 < shared <= 1):
            raise InputError(f"share must be a number in (0, 1], not {shared!r}")
        if isinstance(value, Mapping):
            return AttrCheck(attr, op, _previous(value, attr, op, kind), float(shared))
        values: list[Any] = list(value) if isinstance(value, list) else [value]
        if op in ("in", "nin") and not isinstance(value, list):
            raise InputError(f"op {op} on {attr} needs a list value, not {value!r}")
        if op not in ("in", "nin") and isinstance(value, list):
            raise InputError(f"op {op} on {attr} needs one value, not a list. Fix: use in/nin")
        if op in ("lt", "le", "gt", "ge") or kind in ("int", "float"):
            if kind not in ("int", "float") or not all(_number(v) for v in values):
                raise InputError(
                    f"{attr} {op} {value!r}: needs a numeric attribute and a number "
                    f"({attr} is {kind})"
                )
            out: list[Scalar] = list(values)
        elif kind == "bool":
            if not all(isinstance(v, bool) for v in values):
                raise InputError(f"{attr} is a yes/no attribute: use true or false, not {value!r}")
            out = list(values)
        else:
            known = self.values.get(attr, {})
            out = []
            for v in values:
                if value_key(v) not in known:
                    raise InputError(
                        f"{attr} has no value {v!r} in catalog {self.catalog.name!r}"
                        f"{_near(str(v), list(known.values()))}"
                    )
                out.append(known[value_key(v)])
        final = tuple(out) if op in ("in", "nin") else out[0]
        return AttrCheck(attr, op, final, float(shared))


def _previous(value: Mapping[str, Any], attr: str, op: str, kind: str) -> Previous:
    _only(value, {"previous"}, f"the value of {attr}")
    rank = _rank(value.get("previous"))
    if rank is None:
        raise InputError(
            f"{{previous: N}} needs a rank from 1 (or first..fifth), not {value.get('previous')!r}"
        )
    if op in ("in", "nin") or kind == "list[str]":
        raise InputError(
            f"{{previous: N}} compares one value: use eq/ne/lt/le/gt/ge on a single-valued "
            f"attribute, not {op} on {attr} ({kind})"
        )
    return Previous(rank)


def _rank(value: object) -> int | None:
    """A 1-based rank from ``2`` or ``"second"``; None when it is neither."""
    if isinstance(value, str):
        value = ORDINALS.get(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return None


def _year(it: Item) -> str:
    year = it.attributes.get("year", it.attributes.get("release_year"))
    return str(year) if year is not None else (it.date or "")[:4]


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _near(value: str, known: list[str]) -> str:
    from rapidfuzz import process

    near = process.extract(value, known, limit=3, score_cutoff=60)
    return f" (did you mean {' / '.join(repr(k) for k, _, _ in near)}?)" if near else ""


def _only(raw: Mapping[str, Any], allowed: set[str], what: str) -> None:
    if not isinstance(raw, Mapping):
        raise InputError(f"{what} must be a mapping, not {raw!r}")
    extra = set(raw) - allowed
    if extra:
        raise InputError(f"unknown key(s) {sorted(extra)} in {what}. Fix: use {sorted(allowed)}")


def _strings(raw: object, what: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(x, str) and x.strip() for x in items):
        raise InputError(f"{what} must be a string or a list of strings, not {raw!r}")
    return [str(x) for x in items]


def _expect(raw: Mapping[str, Any], vocab: CatalogVocabulary, first: bool) -> Expect:
    _only(raw, EXPECT_KEYS, "expect")
    action = tuple(_strings(raw.get("action", []), "action"))
    if set(action) - set(ACTIONS):
        raise InputError(f"unknown action {action}. Fix: use {list(ACTIONS)}")
    if not action and ITEM_KEYS & set(raw):
        action = ("recommend",)
    said = raw.get("exclude_previous")
    previous: int | Literal["all"] | None = None
    if said is True or said == "all":
        previous = "all"
    elif said not in (None, False):
        previous = _rank(said)
        if previous is None:
            raise InputError(
                f"exclude_previous must be true/all, first..fifth or a rank from 1, not {said!r}"
            )
    if previous and first:
        raise InputError("exclude_previous on the first turn: nothing was shown before")
    checks = [*_list(raw, "constraints"), *_list(raw, "prefer")]
    if first and any(
        isinstance(c, Mapping) and isinstance(c.get("value"), Mapping) for c in checks
    ):
        raise InputError("{previous: N} on the first turn: nothing was shown before")
    grounded = raw.get("grounded", False)
    if not isinstance(grounded, bool):
        raise InputError(f"grounded must be true or false, not {grounded!r}")
    return Expect(
        action=action,
        constraints=tuple(vocab.check(c, 1.0) for c in _list(raw, "constraints")),
        prefer=tuple(vocab.check(c, 0.5) for c in _list(raw, "prefer")),
        include=tuple(vocab.item(t) for t in _strings(raw.get("include", []), "include")),
        exclude=tuple(vocab.item(t) for t in _strings(raw.get("exclude", []), "exclude")),
        exclude_previous=previous,
        grounded=grounded,
        text_excludes=tuple(_strings(raw.get("text_excludes", []), "text_excludes")),
        text_includes=tuple(_patterns(raw.get("text_includes", []))),
        mentions=tuple(_mention(m, vocab, first) for m in _list(raw, "mentions")),
    )


def _patterns(raw: object) -> list[str]:
    out = _strings(raw, "text_includes") if raw else []
    for pattern in out:
        try:
            re.compile(pattern)
        except re.error as e:
            raise InputError(f"text_includes {pattern!r} is no regular expression: {e}") from None
    return out


def _mention(raw: Any, vocab: CatalogVocabulary, first: bool) -> Mention:
    """``{item: first|2|"Title", attribute: ATTR}`` (no attribute: the item's title)."""
    if not isinstance(raw, Mapping):
        raise InputError(f"a mention is {{item: ..., attribute: ...}}, not {raw!r}")
    _only(raw, {"item", "attribute"}, "a mention")
    rank = _rank(raw.get("item"))
    if rank is None and first:
        raise InputError(f"mention {raw!r}: a named item or a rank after a list, please")
    item: int | ItemRef = rank if rank is not None else vocab.item(str(raw.get("item")))
    attribute = raw.get("attribute")
    if attribute is not None and attribute not in vocab.kinds:
        known = ", ".join(sorted(vocab.kinds))
        raise InputError(f"mention: unknown attribute {attribute!r}. Fix: use one of {known}")
    return Mention(item, attribute)


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise InputError(f"{key} must be a list")
    return value


def _turn(raw: Any, vocab: CatalogVocabulary, first: bool) -> Turn:
    if isinstance(raw, str):
        raw = {"user": raw}
    _only(raw, TURN_KEYS, "a turn")
    user = raw.get("user", "")
    if not isinstance(user, str) or (not user.strip() and "image_of" not in raw):
        raise InputError(f"a turn needs a user message (or an image_of), not {user!r}")
    image = None
    if "image_of" in raw:
        image = vocab.item(str(raw["image_of"]))
        with_photo = tuple(i for i in image.ids if vocab.catalog[i].image_paths)
        if not with_photo:
            raise InputError(f"image_of {image.name!r}: the item has no photo in the catalog")
        image = ItemRef(image.name, with_photo)
    return Turn(user, _expect(raw.get("expect") or {}, vocab, first), image)


def parse_dialogue(
    raw: Mapping[str, Any],
    default_catalog: str | None,
    vocab_for: Callable[[str], CatalogVocabulary],
) -> Dialogue:
    """One dialogue from its YAML mapping (InputError without the file/dialogue prefix)."""
    _only(raw, DIALOGUE_KEYS, "a dialogue")
    catalog = raw.get("catalog", default_catalog)
    if not isinstance(catalog, str):
        raise InputError("no catalog. Fix: set `catalog:` on the file or the dialogue")
    vocab = vocab_for(catalog)
    turns = raw.get("turns")
    if not isinstance(turns, list) or not turns:
        raise InputError("a dialogue needs a non-empty list of turns")
    parsed = []
    for n, t in enumerate(turns, start=1):
        try:
            parsed.append(_turn(t, vocab, n == 1))
        except InputError as e:
            raise InputError(f"turn {n}: {e}") from None
    return Dialogue(
        id=str(raw["id"]),
        catalog=catalog,
        turns=tuple(parsed),
        tags=tuple(_strings(raw.get("tags", []), "tags")),
        quick=bool(raw.get("quick", False)),
        description=str(raw.get("description", "")),
    )


def load_dialogues(
    paths: Iterable[Path] | Path = DIALOGUES_DIR,
    catalog_for: Callable[[str], Catalog] | None = None,
    *,
    catalogs: Sequence[str] | None = None,
    quick_only: bool = False,
) -> list[Dialogue]:
    """Every dialogue of the YAML files (a directory means its ``*.yaml``), resolved against the
    catalogs ``catalog_for(name)`` opens. ``catalogs`` keeps only dialogues of those catalogs;
    ``quick_only`` only those marked ``quick: true`` (the others are not resolved at all).
    Errors name the file and the dialogue and say how to fix the entry."""
    import yaml

    if isinstance(paths, Path):
        if not paths.is_dir():
            raise InputError(f"No dialogue directory at {paths}. Fix: pass eval/dialogues.")
        paths = sorted(paths.glob("*.yaml"))
    vocabs: dict[str, CatalogVocabulary] = {}

    def vocab_for(name: str) -> CatalogVocabulary:
        if catalog_for is None:
            raise InputError("no catalogs to resolve titles. Fix: pass catalog_for")
        if name not in vocabs:
            vocabs[name] = CatalogVocabulary(catalog_for(name))
        return vocabs[name]

    out: list[Dialogue] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise InputError(f"{path.name}: cannot read it ({e}). Fix the YAML.") from e
        if not isinstance(data, dict) or not isinstance(data.get("dialogues"), list):
            raise InputError(f"{path.name}: needs a top-level `dialogues:` list")
        default = data.get("catalog")
        for n, raw in enumerate(data["dialogues"], start=1):
            name = raw.get("id") if isinstance(raw, dict) else None
            where = f"{path.name}, dialogue {name or f'#{n}'}"
            if not isinstance(name, str) or not name:
                raise InputError(f"{where}: needs an `id`")
            if name in seen:
                raise InputError(f"{where}: id already used in {seen[name]}. Fix: rename one")
            seen[name] = path.name
            if catalogs is not None and raw.get("catalog", default) not in catalogs:
                continue
            if quick_only and raw.get("quick") is not True:
                continue
            try:
                d = parse_dialogue(raw, default, vocab_for)
            except InputError as e:
                raise InputError(f"{where}: {e}") from None
            out.append(replace(d, source=path.name))
    return out


__all__ = ["CatalogVocabulary", "load_dialogues", "parse_dialogue"]
