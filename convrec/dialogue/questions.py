"""Questions about items already shown: "how much RAM does the first one have?", "tell me more
about the Sony", "compare the first two", "which is newer?".

Such a message asks for an answer from the items' own fields, not a new list. It is a question
(a question mark, or a question or request word first) that refers to shown items: by position
("the second one", "the last one", "the first two"), by pointing ("that one", "it", "both of
them"), by a value only one shown item holds ("the Sony", "the one with the big screen" is left
to the LLM) or by title. What it asks about is read against the catalog's attributes (their
names and common words for them: "how long" is the runtime, "who's in it" the cast); an aspect
the catalog holds no attribute for ("a good camera") is kept, so the answer can say so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from convrec.types import Item

# Words for attributes, beyond the attribute's own name ("ram_gb" is also "ram").
ATTRIBUTE_WORDS: Mapping[str, tuple[str, ...]] = {
    "ram_gb": ("ram", "memory"),
    "storage_gb": ("storage", "space", "capacity", r"gb of storage"),
    "screen_inches": ("screen", "display", "how big", "size"),
    "release_year": ("come out", "came out", "released", "release", "when", "how old", "what year",
                     "newer", "older", "newest", "oldest", "recent", "year"),
    "year": ("come out", "came out", "released", "when", "how old", "what year", "newer",
             "older", "newest", "oldest", "recent", "year"),
    "runtime_min": ("how long", "length", "runtime", "running time", "minutes", "longer",
                    "shorter", "long is"),
    "cast": ("who'?s in", "who is in", "who stars", "starring", "actors?", "cast", "stars in"),
    "director": ("directed", "director", "who made"),
    "writer": ("wrote", "written", "writer", "screenplay"),
    "genres": ("genre", "what kind", "what sort", "what type"),
    "maker": ("who makes", "maker", "brand", "manufacturer", "made by"),
    "os": ("operating system", r"\bos\b", "android or", "ios or"),
    "os_version": ("android version", "os version", "version"),
    "cores": ("cores",),
    "cpu": ("processor", "chip", "cpu", "chipset"),
    "cpu_ghz": ("ghz", "clock", "how fast"),
    "carrier": ("carrier", "network", "operator"),
    "language": ("language",),
    "country": ("country", "where .* made"),
    "mean_rating": ("rating", "rated", "how good"),
    "colour": ("colou?r",),
}  # fmt: skip
# Aspects people ask about that catalogs often lack: asked and unknown, they get a plain "the
# catalog does not say".
ASPECTS = ("camera", "battery", "price", "cost", "weight", "waterproof", "water resistant",
           "speakers?", "sound", "headphone jack", "fingerprint", "5g", "nfc", "sd card", "plot",
           "ending", "soundtrack", "budget", "box office", "awards?", "subtitles", "age rating",
           "scary", "violent")  # fmt: skip
# Which way a comparison goes, for the attribute it names.
COMPARATIVES: Mapping[str, tuple[str, str]] = {
    "newer": ("year", "max"), "newest": ("year", "max"), "more recent": ("year", "max"),
    "latest": ("year", "max"), "older": ("year", "min"), "oldest": ("year", "min"),
    "more ram": ("ram_gb", "max"), "more memory": ("ram_gb", "max"), "less ram": ("ram_gb", "min"),
    "more storage": ("storage_gb", "max"), "bigger screen": ("screen_inches", "max"),
    "larger screen": ("screen_inches", "max"), "bigger": ("screen_inches", "max"),
    "smaller": ("screen_inches", "min"), "longer": ("runtime_min", "max"),
    "shorter": ("runtime_min", "min"), "faster": ("cpu_ghz", "max"),
    "more cores": ("cores", "max"), "better rated": ("mean_rating", "max"),
}  # fmt: skip

_QUESTION_START = re.compile(
    r"^\s*(?:and\s+|so\s+|ok(?:ay)?,?\s+|what about [^,?]+[,?]\s*)?"
    r"(?:how|what|what's|whats|who|who's|whos|when|which|where|why|does|do|is|are|has|have|can|"
    r"could|will|tell me|say more|more about|compare|describe|any details|details)\b",
    re.I,
)
_COMPARE = re.compile(r"\b(?:compare|comparison|versus|vs\.?|difference|which (?:one |of )?"
                      r"(?:is|has|was|of|one)|which\b.*\b(?:or|and)\b)", re.I)  # fmt: skip
_ORDS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3,
         "4th": 3, "fifth": 4, "5th": 4, "last": -1}  # fmt: skip
_POSITION = re.compile(
    r"\b(?:the\s+)?(first|second|third|fourth|fifth|last|1st|2nd|3rd|4th|5th)"
    r"(?:\s+(two|three|ones?|movies?|films?|phones?|items?|options?))?\b"
    r"|\b(?:number|no\.?|#)\s*([1-5])\b",
    re.I,
)
_BOTH = re.compile(r"\b(?:both(?: of (?:them|these|those))?|the two(?: of them)?|these two|"
                   r"those two|either)\b", re.I)  # fmt: skip
_POINT = re.compile(r"\b(?:that|this)(?: one| phone| movie| film)?\b|\bit\b|\bit'?s\b", re.I)
_REFINE = re.compile(
    r"\b(?:like|similar to|more of)\b.*\b(?:but|except)\b|\b(?:more|something|anything|others?|"
    r"ones?|stuff) (?:like|similar)\b|\bnot\b.*\b(?:first|second|third|last|that)\b"
    r"|\b(?:something|anything|any|phones?|movies?|films?) (?:\w+ )?(?:cheaper|newer|older|"
    r"bigger|smaller|longer|shorter) than\b",
    re.I,
)


@dataclass(frozen=True)
class ItemQuestion:
    """A question about shown items: ``act`` "ask_item" (about each) or "compare" (between
    them); the ``attributes`` asked about (none: "tell me more"), the ``aspects`` asked that
    the catalog holds no attribute for, and ``extreme``: which way a comparison goes
    ("newer": ``("year", "max")``)."""

    act: Literal["ask_item", "compare"]
    items: tuple[str, ...]
    attributes: tuple[str, ...] = ()
    aspects: tuple[str, ...] = ()
    extreme: tuple[str, str] | None = None


def read_question(
    message: str,
    shown: Sequence[Item],
    attributes: Sequence[str],
    pointed: Sequence[Item] | None = None,
) -> ItemQuestion | None:
    """The :class:`ItemQuestion` ``message`` asks about the ``shown`` items (in list order),
    whose catalog has ``attributes``; ``pointed``: what "it" and "both of them" mean (the items
    just compared first; default ``shown``). None when it is no question about them."""
    text = message.strip()
    low = text.lower()
    pointed = pointed or shown
    if not pointed or not (text.endswith("?") or _QUESTION_START.search(low)):
        return None
    if _REFINE.search(low):  # "more like the second but newer", "not the first one?"
        return None
    shown = shown or pointed  # compared by name, nothing listed: positions are the compared
    items = _referred(low, shown, pointed)
    compare = bool(_COMPARE.search(low))
    if not items:
        if not compare:
            return None
        items = [it.id for it in shown[:2]]  # "which is newer?": the first two
    if compare and len(items) < 2:
        items = [*items, *(it.id for it in shown if it.id not in items)][:2]
    asked = _attributes(low, attributes)
    extreme = next(((attr, way) for word, (attr, way) in COMPARATIVES.items()
                    if re.search(rf"\b{word}\b", low)), None)  # fmt: skip
    if extreme is not None:
        attr = _year(attributes) if extreme[0] == "year" else extreme[0]
        extreme = (attr, extreme[1]) if attr in attributes else None
        if extreme and extreme[0] not in asked:
            asked = [extreme[0], *asked]
    aspects = [a.rstrip("s?") for a in ASPECTS if re.search(rf"\b{a}\b", low)]
    two = len(items) > 1 and (compare or extreme is not None)  # "is the first newer than …"
    act: Literal["ask_item", "compare"] = "compare" if two else "ask_item"
    return ItemQuestion(act, tuple(dict.fromkeys(items)), tuple(dict.fromkeys(asked)),
                        tuple(dict.fromkeys(aspects)), extreme)  # fmt: skip


def _year(attributes: Sequence[str]) -> str:
    return next((a for a in ("release_year", "year") if a in attributes), "year")


def _attributes(low: str, attributes: Sequence[str]) -> list[str]:
    """The catalog attributes ``low`` asks about, by name or by a word for them."""
    found: list[tuple[int, str]] = []
    for attr in attributes:
        words = [re.escape(attr.replace("_", " ")), *ATTRIBUTE_WORDS.get(attr, ())]
        base = attr.split("_")[0]
        if base not in ("n", "mean", "release", "os", "cpu"):
            words.append(re.escape(base))
        for w in words:
            m = re.search(rf"\b{w}", low)
            if m:
                found.append((m.start(), attr))
                break
    found.sort()
    out = [a for _, a in found]
    # "when did it come out" names the year once; keep the catalog's year attribute
    years = [a for a in out if a in ("year", "release_year")]
    return [a for a in out if a not in years[1:]]


def _referred(low: str, shown: Sequence[Item], pointed: Sequence[Item]) -> list[str]:
    """The shown items ``low`` refers to, in the order it names them."""
    out: list[tuple[int, str]] = []
    for m in _POSITION.finditer(low):
        word, count, number = m.group(1), m.group(2), m.group(3)
        if word is not None:
            n = _ORDS[word.lower()]
            if count in ("two", "three") and n == 0:  # "the first two"
                out += [
                    (m.start() + k, it.id) for k, it in enumerate(shown[: 2 + (count == "three")])
                ]
                continue
        else:
            n = int(number) - 1
        if -len(shown) <= n < len(shown):
            out.append((m.start(), shown[n].id))
    if _BOTH.search(low):
        out += [(len(low) + k, it.id) for k, it in enumerate(pointed[:2])]
    for it in shown:  # a shown title, or a value only this shown item holds ("the Sony")
        title = it.title.lower()
        if title and title in low:
            out.append((low.index(title), it.id))
    if not out:
        out += _by_value(low, shown)
    if not out and _POINT.search(low):
        out.append((0, pointed[0].id))
    out.sort()
    return list(dict.fromkeys(i for _, i in out))


def _by_value(low: str, shown: Sequence[Item]) -> list[tuple[int, str]]:
    """ "the Sony", "the HTC one": a word value (maker, brand …) a shown item holds, said after
    "the"; the first shown item that holds it."""
    out: dict[str, tuple[int, str]] = {}
    for it in shown:
        for value in it.attributes.values():
            if not isinstance(value, str) or not value or len(value) > 30 or value in out:
                continue
            m = re.search(rf"\bthe {re.escape(value.lower())}\b", low)
            if m:
                out[value] = (m.start(), it.id)
    return list(out.values())
