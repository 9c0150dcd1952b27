"""The LLM's reading of a message: a small JSON schema, a strict parser, and grounding checks.

The schema is kept small so a 0.5B model can fill it: an intent, hard ``constraints`` as
``{attribute, op, value}``, soft ``likes``/``dislikes`` as bare values, free-text ``wishes`` and
titles as plain strings. Nothing the model writes is trusted:

- the output must be one JSON object that validates against :data:`SCHEMA` (no repair beyond
  stripping a Markdown code fence), else :class:`ParseError`;
- a value is kept only if it is *grounded*: the catalog value (or one of its lexicon synonyms)
  occurs in the message, or is within one typo of a word span in it (rapidfuzz ratio ≥
  ``TYPO_RATIO`` on values of at least 5 letters); a number only if it occurs in the message;
- attributes must be catalog attributes from the lexicon (``"genre"`` → ``genres`` via the
  lexicon's attribute words); values must be catalog values of that attribute;
- titles become item ids only through the catalog's fuzzy title matcher, and only when the title
  occurs in the message or names an item that was just shown. A string is never taken as an id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from convrec.dialogue.extractors import cue_words
from convrec.dialogue.lexicon import STOPWORDS, Lexicon, ValueRef, norm_phrase, tokenize
from convrec.dialogue.numbers import find_bounds
from convrec.dialogue.state import INTENTS
from convrec.dialogue.title_match import find_titles

TYPO_RATIO = 85.0  # rapidfuzz ratio for a value to count as a typo of message words
NOT_WISHES = frozenset((
    "movie", "movies", "film", "films", "phone", "phones", "something", "please", "want", "like",
    "good", "nice", "great", "some", "less", "most", "very", "really", "tonight", "today",
    # the request itself ("just show me", "can you recommend one", "I need something")
    "show", "just", "recommend", "recommendation", "recommendations", "suggest", "suggestion",
    "suggestions", "find", "give", "need", "looking", "look", "get", "buy", "watch", "see",
    "ones", "thing", "things", "kind", "sort", "type", "maybe", "also", "instead", "now",
    "again", "still", "ok", "okay", "thanks", "thank", "yeah", "can", "could", "would",
    "fine", "matter", "prefer", "only", "from", "than", "under", "over", "above", "below",
    # words for the items themselves, and function words of the languages the rules read
    "flick", "flicks", "handy", "mobile", "smartphone", "cellphone", "device", "por", "favor",
    "sin", "de", "pas", "un", "une", "le", "la", "les", "des", "el", "los", "las", "con", "para",
    "ein", "eine", "mit", "und", "je", "ich", "suche", "cherche", "busco", "quiero", "algo",
))  # fmt: skip
MAX_LIST = 4  # items per list the model may write
_TEXT = {"type": "string", "maxLength": 40}
_LIST = {"type": "array", "items": _TEXT, "maxItems": MAX_LIST}
LIST_FIELDS = ("likes", "dislikes", "wishes", "liked_titles", "disliked_titles", "rejected_titles")
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {"enum": list(INTENTS)},
        "constraints": {
            "type": "array",
            "maxItems": MAX_LIST,
            "items": {
                "type": "object",
                "properties": {
                    "attribute": _TEXT,
                    "op": {"enum": ["eq", "ne", "gte", "lte"]},
                    "value": {"type": ["string", "number"]},
                },
                "required": ["attribute", "op", "value"],
                "additionalProperties": False,
            },
        },
        **{name: _LIST for name in LIST_FIELDS},
    },
    "required": ["intent"],
    "additionalProperties": False,
}
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


class ParseError(ValueError):
    """The LLM output is not one JSON object matching :data:`SCHEMA` (the reason says where)."""


@dataclass(frozen=True)
class Reading:
    """The LLM's output after schema validation, before grounding (strings as the model wrote)."""

    intent: str | None = None
    constraints: tuple[tuple[str, str, str | float], ...] = ()
    likes: tuple[str, ...] = ()
    dislikes: tuple[str, ...] = ()
    wishes: tuple[str, ...] = ()
    liked_titles: tuple[str, ...] = ()
    disliked_titles: tuple[str, ...] = ()
    rejected_titles: tuple[str, ...] = ()


def _check(value: Any, schema: dict[str, Any], where: str) -> None:
    """Validate ``value`` against the subset of JSON Schema that :data:`SCHEMA` uses."""
    if "enum" in schema:
        if value not in schema["enum"]:
            raise ParseError(f"{where}: {value!r} is not one of {schema['enum']}")
        return
    declared = schema.get("type", [])
    types: list[str] = [declared] if isinstance(declared, str) else list(declared)
    ok = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
    }
    if not any(ok[t] for t in types):
        raise ParseError(f"{where}: expected {'/'.join(types)}, got {type(value).__name__}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False and set(value) - set(props):
            raise ParseError(f"{where}: unknown keys {sorted(set(value) - set(props))}")
        missing = [k for k in schema.get("required", ()) if k not in value]
        if missing:
            raise ParseError(f"{where}: missing {missing}")
        for k, v in value.items():
            _check(v, props[k], f"{where}.{k}")
    elif isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            raise ParseError(f"{where}: more than {schema['maxItems']} items")
        for i, v in enumerate(value):
            _check(v, schema["items"], f"{where}[{i}]")
    elif isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        raise ParseError(f"{where}: longer than {schema['maxLength']} characters")


def parse(text: str) -> Reading:
    """The :class:`Reading` in ``text``, or :class:`ParseError` (never a partial result)."""
    text = text.strip()
    fence = _FENCE.match(text)
    if fence:
        text = fence.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(f"not JSON ({e.msg} at {e.pos})") from e
    _check(data, SCHEMA, "$")
    return Reading(
        intent=data["intent"],
        constraints=tuple(
            (c["attribute"], c["op"], c["value"]) for c in data.get("constraints", ())
        ),
        **{name: tuple(s.strip() for s in data.get(name, ()) if s.strip()) for name in LIST_FIELDS},
    )


@dataclass
class Grounder:
    """Grounds the values and titles of a :class:`Reading` in one message (see module doc)."""

    lex: Lexicon
    message: str
    shown: Sequence[str] = ()
    dropped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.toks = tokenize(self.message)
        self.words = [t.norm for t in self.toks]
        self.found = {r for s in self.lex.find_values(self.toks, self.message) for r in s.refs}
        self.numbers = {float(n.replace(",", ".")) for n in _NUMBER.findall(self.message)}
        self.numbers |= {b.value for b in find_bounds(self.message)}
        # words the rules already read as values, titles or numbers are no wishes ("sci", "80s")
        spans = [(s.first, s.last) for s in self.lex.find_values(self.toks, self.message)]
        spans += [(m.first, m.last) for m in find_titles(self.lex, self.message, self.toks)]
        chars = [(b.start, b.end) for b in find_bounds(self.message)]
        self.covered = {self.words[i] for a, b in spans for i in range(a, b)}
        self.covered |= {t.norm for t in self.toks if any(a <= t.start < b for a, b in chars)}
        self.covered |= cue_words(self.message)
        self.attributes = {r.attribute for rs in self.lex.values.values() for r in rs}
        self.attributes |= set(self.lex.numeric)

    def drop(self, what: str) -> None:
        self.dropped.append(what)

    def _in_message(self, phrase: str, fuzzy: bool) -> bool:
        from rapidfuzz import fuzz

        words = phrase.split()
        n = len(words)
        if not n:
            return False
        windows = [" ".join(self.words[i : i + n]) for i in range(len(self.words) - n + 1)]
        if phrase in windows:
            return True
        cutoff = TYPO_RATIO if fuzzy and len(phrase) >= 5 else 101.0
        return any(fuzz.ratio(phrase, w) >= cutoff for w in windows)

    def attribute(self, name: str) -> str | None:
        """The catalog attribute ``name`` means (its own name or an attribute word), or None."""
        if name in self.attributes:
            return name
        attrs = self.lex.names.get(norm_phrase(name), ())
        return attrs[0] if attrs else None

    def value(self, text: str, attribute: str | None = None) -> ValueRef | None:
        """The grounded catalog value ``text`` names (of ``attribute`` if given), else None."""
        key = norm_phrase(text)
        refs = [r for r in self.lex.values.get(key, ()) if attribute in (None, r.attribute)]
        if not refs:
            self.drop(f"not a catalog value: {text!r}")
            return None
        grounded = [r for r in refs if r in self.found]
        if not grounded and self._in_message(key, fuzzy=True):
            grounded = refs
        if not grounded:
            self.drop(f"not in the message: {text!r}")
            return None
        return grounded[0]

    def number(self, value: float) -> bool:
        if any(abs(value - n) <= max(1.0, 0.05 * abs(n)) for n in self.numbers):
            return True
        self.drop(f"number not in the message: {value!r}")
        return False

    def wish(self, text: str) -> str | None:
        """A wish in the user's own words (every word of it occurs in the message); words that
        are catalog values, titles, numbers, attribute names or stopwords are not wishes."""
        key = norm_phrase(text)
        if not (key and len(key.split()) <= 3 and all(w in self.words for w in key.split())):
            self.drop(f"wish not in the message: {text!r}")
            return None
        rest = [w for w in key.split() if not self._known(w)]
        if not rest:
            self.drop(f"not a wish: {text!r}")
            return None
        return " ".join(rest)

    def unread(self, wishes: Sequence[str] = ()) -> list[str]:
        """Words of the message the rules did not read (``wishes``: the rules' own wishes),
        the only words an LLM reading could still ground something new in."""
        theirs = {w for phrase in wishes for w in norm_phrase(phrase).split()}
        return [w for w in self.words if w not in theirs and not self._known(w)]

    def _known(self, word: str) -> bool:
        return (
            word in self.covered
            or any(c.isdigit() for c in word)
            or word in self.lex.values
            or word in self.lex.names
            or word in STOPWORDS
            or word in NOT_WISHES
            or bool(self.lex.typo(word))
        )

    def title(self, text: str) -> str | None:
        """The item id the catalog matcher finds for ``text``, if the message or ``shown``
        supports it; ambiguous or unknown titles give None."""
        matches = [m for m in find_titles(self.lex, text, tokenize(text)) if not m.ambiguous]
        if not matches:
            self.drop(f"not a catalog title: {text!r}")
            return None
        item_id = max(matches, key=lambda m: (m.last - m.first, m.score)).ids[0]
        key = norm_phrase(text)
        said = self._in_message(key, fuzzy=True)
        if said and " " not in key and len(key) < 6:  # "Up", "Heat": only when capitalised
            said = any(t.norm == key and self.message[t.start].isupper() for t in self.toks)
        if said or (item_id in self.shown and _POINTS.search(self.message)):
            return item_id  # a shown item only when the message points at one ("that one")
        self.drop(f"title not in the message: {text!r}")
        return None


# Words that point at a shown item: without one, a reading that names a shown title ("disliked:
# Aliens" after "Ideally made after 2000") puts words in the user's mouth.
_POINTS = re.compile(
    r"\b(?:first|second|third|fourth|fifth|last|that|this|these|those|it|them|one|ones|both|"
    r"either|neither|top|bottom|previous|above|former|latter)\b",
    re.IGNORECASE,
)

__all__ = ["SCHEMA", "Grounder", "ParseError", "Reading", "parse"]
