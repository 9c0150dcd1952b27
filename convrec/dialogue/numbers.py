"""Numbers with units, ranges, bounds and decades in a message → hard bounds on catalog attributes.

A number's kind comes from its unit ("4GB" RAM, "6 inch" screen, "$300"/"300€"/"1.2k" price,
"12MP" camera, "2010" year, "90s" decade); the bound from the words around it ("at least",
"under", "or more", "between … and …", "after", "older than"). Strict words on whole-number
attributes move by one ("after 2015" → year ≥ 2016). A number without a bound word gets the
default of its kind: prices are ceilings, capacities are floors, a year is exact, a screen size is
±0.2 inch. Kinds map to the first attribute of ``ATTRIBUTES[kind]`` that the catalog has.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from convrec.dialogue.lexicon import Lexicon, norm_phrase
from convrec.dialogue.state import Constraint

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "price": ("price",),
    "ram": ("ram_gb", "ram"),
    "storage": ("storage_gb", "storage", "rom_gb"),
    "screen": ("screen_inches", "screen", "display_inches"),
    "camera": ("camera_mp", "camera"),
    "year": ("year", "release_year"),
    "runtime": ("runtime_min", "runtime"),
    "ghz": ("cpu_ghz",),
    "cores": ("cores",),
    "battery": ("battery_mah", "battery"),
    "os": ("os_version",),
}
_NUM = r"(?<![\w.])(?P<cur>[$€£])?\s?(?P<num>\d+(?:[.,]\d+)?)\s?(?P<k>k\b)?"
_UNIT = (
    r"(?P<unit>gb|gigs?|tb|mb|inch(?:es)?|\"|''|mp|megapixels?|ghz|cores?|mah|min(?:ute)?s?"
    r"|hours?|h\b|bucks|dollars?|euros?|usd|eur|€|\$|pounds?|£)?"
)
NUMBER = re.compile(_NUM + r"[\s-]?" + _UNIT, re.I)  # "8-core", "5.5-inch" too
RANGE = re.compile(
    r"(?P<pre>\b(?:between|from|de|entre|zwischen)\s+)?" + _NUM.replace("?P<", "?P<a_") + r"\s?"
    + _UNIT.replace("?P<", "?P<a_") + r"\s*(?P<conn>and|to|or|-|–|y|et|und|a|bis)\s*" + _NUM
    + r"\s?" + _UNIT, re.I,
)  # fmt: skip
_NEEDS_PREFIX = {"and", "y", "et", "und", "a"}
DECADE = re.compile(
    r"\b(?:(?P<mod>early|mid|late)[\s-]+)?(?:the\s+)?(?:'|’)?(?P<century>19|20)?(?P<d>\d)0'?s\b"
    r"|\b(?P<word>twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties)\b",
    re.I,
)
_DECADE_WORDS = {"twenties": 2, "thirties": 3, "forties": 4, "fifties": 5, "sixties": 6,
                 "seventies": 7, "eighties": 8, "nineties": 9}  # fmt: skip
GTE_BEFORE = re.compile(
    r"(at least|minimum|min\.?|more than|over|above|greater than|bigger than|larger than|"
    r"no less than|after|since|newer than|later than|starting at|from|>=?|mindestens|au moins|"
    r"al menos|m[aá]s de|plus de|mehr als|nach|apr[eè]s)\s*$", re.I,
)  # fmt: skip
LTE_BEFORE = re.compile(
    r"(under|below|less than|at most|max\.?|maximum|up to|no more than|cheaper than|within|"
    r"before|older than|earlier than|until|smaller than|budget(?: is| of)?|<=?|spend|"
    r"menos de|moins de|weniger als|unter|bis|hasta|avant|antes de)\s*$", re.I,
)  # fmt: skip
GTE_AFTER = re.compile(r"^\s*(\+|or more|or better|or higher|or newer|or later|or after|"
                       r"and up|and above|plus\b|minimum)", re.I)  # fmt: skip
LTE_AFTER = re.compile(r"^\s*(or less|or under|or lower|or cheaper|or older|or earlier|"
                       r"or before|and below|max\b|maximum|tops\b|at most)", re.I)  # fmt: skip
_ONWARDS = re.compile(r"^\s*(?:on\b|onwards?|forwards?|and (?:on|after|later|newer|up))", re.I)
STRICT = re.compile(r"(more than|over|above|greater than|after|newer than|later than|less than|"
                    r"under|below|before|older than|earlier than)\s*$", re.I)  # fmt: skip
# "no less than 4 GB", "not more than $300": the number itself is in
_INCLUSIVE = re.compile(r"\bno[t]?\s+(?:less|more|fewer|greater|older|newer)\s+than\s*$", re.I)
# A time in the speaker's own past ("I used to watch it back in the eighties", "when I was a kid
# in 1995") is a memory, not a wish about the items: it bounds nothing.
MEMORY = re.compile(r"\b(used to|grew up|growing up|when i was|as a (kid|child|teen)|i remember)\b",
                    re.I)  # fmt: skip
# A bare screen size is a range this far either side of it ("a 10-inch tablet": 9.8 to 10.2).
SCREEN_MARGIN = 0.2
# The words a system version follows: "Android 5 or newer", "iOS 12", "version 9 at least".
_OS_BEFORE = re.compile(r"\b(?:android|ios|version)\s*$", re.I)
# A negation a few words before a bound word turns the bound around: "nothing older than 1995"
# is 1995 or newer, "no phones over $500" at most 500 ("not too" is a hedge, not a negation).
NEGATED = re.compile(
    r"\b(?:no|not|nothing|none|never|without|nor|dont want|don't want|do not want)\b(?!\s+too\b)"
    r"(?:\s+[\w'’-]+){0,3}\s*$",
    re.I,
)  # fmt: skip
_CONTEXT = {"ram": ("ram", "memory"), "storage": ("storage", "rom", "space", "internal")}


@dataclass(frozen=True)
class Bound:
    """One bound found in the text, before it is tied to a catalog attribute."""

    kind: str
    op: str  # gte | lte
    value: float
    start: int
    end: int
    # a bare year right after a capitalised word inside a sentence: that word (see _titled)
    after_name: str = ""
    # "under 90 minutes", "more than 2 GB": the value itself is out (years step by one instead)
    strict: bool = False


def _value(m: re.Match[str], prefix: str = "") -> float:
    num = float(m.group(prefix + "num").replace(",", "."))
    return num * 1000 if m.group(prefix + "k") else num


# A length of time followed by one of these is not a film's runtime.
_OTHER_SPAN = re.compile(
    r"\s*(?:-\s*)?(?:long\s+|night\s+|day\s+|work\s+|late\s+)?(?:shift|flight|drive|trip|"
    r"journey|layover|wait|commute|ride|workday|day|night|week|exam|meeting|class|lecture)s?\b",
    re.I,
)


def _memory(text: str, m: re.Match[str]) -> str | None:
    """RAM or storage, by the nearest word that says which within 25 characters ("4GB RAM and
    64GB storage": each amount by its own word; a word after the amount counts a little nearer
    than one as far before it, one across a comma or a full stop much farther)."""
    best: tuple[int, str] | None = None
    for kind, words in _CONTEXT.items():
        for w in re.finditer(rf"\b(?:{'|'.join(words)})\b", text, re.I):
            after = w.start() >= m.end()
            between = text[m.end() : w.start()] if after else text[w.end() : m.start()]
            gap = len(between) + (0 if after else 2) + (15 if re.search(r"[,;.!?]", between) else 0)
            if 0 <= gap <= 25 and (best is None or gap < best[0]):
                best = (gap, kind)
    return best[1] if best else None


def _kind(m: re.Match[str], text: str, prefix: str = "", value: float = 0.0) -> str | None:
    unit = (m.group(prefix + "unit") or "").lower()
    if m.group(prefix + "cur") or m.group(prefix + "k") or unit in (
        "bucks", "dollar", "dollars", "euro", "euros", "usd", "eur", "€", "$", "£", "pound",
        "pounds",
    ):  # fmt: skip
        return "price"
    near = text[max(0, m.start() - 25) : m.end() + 25].lower()
    if unit in ("gb", "gig", "gigs", "tb", "mb"):
        return _memory(text, m) or ("ram" if value < 16 else "storage")
    table = {"mp": "camera", "ghz": "ghz", "mah": "battery", '"': "screen", "''": "screen"}
    if unit in table:
        return table[unit]
    if unit.startswith(("inch", "in")):
        return "screen"
    if unit.startswith(("megapixel",)):
        return "camera"
    if unit.startswith(("core",)):
        return "cores"
    if unit.startswith(("min", "hour", "h")):
        # "a 12 hour night shift", "a 3 hour flight": the length of something else
        return None if _OTHER_SPAN.match(text, m.end()) else "runtime"
    if not unit and 1900 <= value <= 2099 and float(value).is_integer():
        return "year"
    if not unit and _OS_BEFORE.search(text[: m.start()]):  # "Android 5 or newer", "iOS 12"
        return "os"
    if not unit and re.search(r"(price|cost|budget|spend|cheaper|pay)", near):
        return "price"
    return None


def _scale(kind: str, unit: str, value: float) -> float:
    unit = unit.lower()
    if kind == "storage" and unit == "tb":
        return value * 1024
    if kind in ("ram", "storage") and unit == "mb":
        return value / 1024
    if kind == "runtime" and unit.startswith("h"):
        return value * 60
    return value


def _joined_decade(found: list[Bound], text: str, at: int) -> Bound | None:
    """The lower bound of a decade range that ends just before ``at`` with "or", "and", "to"
    or a dash between ("the 90s or 2000s", "70s and 80s"), so both read as one range."""
    for b in found:
        if (
            b.kind == "year"
            and b.op == "gte"
            and re.fullmatch(r"\s*(?:or|and|to|-|–)\s*(?:the\s+)?", text[b.end : at], re.I)
        ):
            return b
    return None


_AGE_BEFORE = re.compile(
    r"\b(?:in|into)\s+(?:their|his|her|my|our|your)\s+(?:early\s+|mid\s+|late\s+)?$", re.I
)


def find_bounds(text: str) -> list[Bound]:
    """Every bound in ``text``: ranges first, then decades, then single numbers."""
    out: list[Bound] = []
    used: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in used)

    for m in RANGE.finditer(text):
        if m.group("conn").lower() in _NEEDS_PREFIX and not m.group("pre"):
            continue  # "2 phones and 16GB" is not a range
        hi = _value(m)
        kind = _kind(m, text, value=hi) or _kind(m, text, "a_", _value(m, "a_"))
        if kind is None:
            continue
        unit = m.group("unit") or m.group("a_unit") or ""
        lo = _scale(kind, unit, _value(m, "a_") * (1000 if m.group("k") else 1))
        hi = _scale(kind, unit, hi)
        out += [Bound(kind, "gte", min(lo, hi), m.start(), m.end()),
                Bound(kind, "lte", max(lo, hi), m.start(), m.end())]  # fmt: skip
        used.append((m.start(), m.end()))
    for m in DECADE.finditer(text):
        if not free(m.start(), m.end()):
            continue
        if _remembered(text, m.start()) or _AGE_BEFORE.search(text[: m.start()]):
            used.append((m.start(), m.end()))  # "members in their 70s": an age, no decade
            continue
        if m.group("word"):
            first = 1900 + 10 * _DECADE_WORDS[m.group("word").lower()]
        else:
            century = m.group("century") or ("20" if m.group("d") in "012" else "19")
            first = int(century) * 100 + 10 * int(m.group("d"))
        lo, hi = first, first + 9
        mod = (m.group("mod") or "").lower()
        lo, hi = {"early": (lo, lo + 4), "mid": (lo + 3, lo + 6), "late": (lo + 5, hi)}.get(
            mod, (lo, hi)
        )
        before, strict = text[: m.start()], STRICT.search(text[: m.start()]) is not None
        within = re.search(r"(from|in|of)\s*(the\s*)?$", before, re.I)  # "from the 90s"
        op, negated = _cue(before, gte=not within)
        if op == "gte":  # "after the 90s" → ≥ 2000; "since" → ≥ 1990; "not after" → ≤ 1999
            bound = Bound("year", "gte", hi + 1 if strict else lo, m.start(), m.end())
            if negated:
                bound = Bound("year", "lte", hi if strict else lo - 1, m.start(), m.end())
            out.append(bound)
        elif op == "lte":  # "before the 90s" → ≤ 1989; "nothing before the 90s" → ≥ 1990
            bound = Bound("year", "lte", lo - 1 if strict else hi, m.start(), m.end())
            if negated:
                bound = Bound("year", "gte", lo if strict else hi + 1, m.start(), m.end())
            out.append(bound)
        elif GTE_AFTER.match(rest := text[m.end() :]) or _ONWARDS.match(rest):
            out.append(Bound("year", "gte", lo, m.start(), m.end()))  # "the 2000s or later"
        elif LTE_AFTER.match(rest):
            out.append(Bound("year", "lte", hi, m.start(), m.end()))  # "the 80s or earlier"
        else:
            joined = _joined_decade(out, text, m.start())  # "the 90s or 2000s": one range
            if joined is not None:
                pair = [b for b in out if b.start == joined.start]
                lo, hi = min(lo, *(b.value for b in pair)), max(hi, *(b.value for b in pair))
                out = [b for b in out if b.start != joined.start]
            out += [Bound("year", "gte", lo, m.start(), m.end()),
                    Bound("year", "lte", hi, m.start(), m.end())]  # fmt: skip
        used.append((m.start(), m.end()))
    for m in NUMBER.finditer(text):
        if not free(m.start(), m.end()):
            continue
        value = _value(m)
        kind = _kind(m, text, value=value)
        if kind is None:
            continue
        value = _scale(kind, m.group("unit") or "", value)
        if kind == "year" and (_remembered(text, m.start()) or _annotated(text, m)):
            used.append((m.start(), m.end()))
            continue
        found = _single(kind, value, text[: m.start()], text[m.end() :], m.start(), m.end())
        if kind == "year" and (name := _titled(text, m)):
            found = [replace(b, after_name=name) for b in found]
        out += found
        used.append((m.start(), m.end()))
    return out


def _remembered(text: str, at: int) -> bool:
    """The time at ``at`` is in a sentence about the speaker's past (:data:`MEMORY`)."""
    return MEMORY.search(re.split(r"[.!?;]", text[:at])[-1]) is not None


def _cue(before: str, gte: bool = True) -> tuple[str | None, bool]:
    """The bound word that ends ``before`` ("gte", "lte", or None; "gte" words only with
    ``gte``), and whether a negation turns it around (:func:`_negated`)."""
    for op, pattern in (("gte", GTE_BEFORE), ("lte", LTE_BEFORE)):
        found = pattern.search(before) if gte or op == "lte" else None
        if found:
            return op, _negated(before[: found.start()])
    return None, False


def _negated(before: str) -> bool:
    """A negation ends the clause ``before`` a bound word, within three words of it: "nothing
    older than", "no phones over", "I don't want anything before" (not "not too")."""
    clause = re.split(r"[.,;!?]|\bbut\b", before)[-1]
    return NEGATED.search(clause) is not None


def _annotated(text: str, m: re.Match[str]) -> bool:
    """A year in parentheses names a film's year ("Avengers: Secret Wars (2027)"), not a wish."""
    opened = re.search(r"\(\s*$", text[: m.start()]) is not None
    return opened and re.match(r"\s*\)", text[m.end() :]) is not None


def _titled(text: str, m: re.Match[str]) -> str:
    """The capitalised word right before a bare year inside a sentence ("I loved Secret Wars
    2027", "Blade Runner 2049", "a Sony 2015 phone"), with no bound word before the year
    ("from 2010") or after it ("2010 or later"); else "". Whether the year then names a title's
    year or a wanted one depends on that word (:func:`bound_constraints`)."""
    before = text[: m.start()]
    word = re.search(r"([A-Za-z][\w'’!?-]*)[:,]?\s+$", before)
    if word is None or not word.group(1)[0].isupper() or _cue(before)[0] is not None:
        return ""
    if GTE_AFTER.search(text[m.end() :]) or LTE_AFTER.search(text[m.end() :]):
        return ""
    opening = re.split(r"[.!?;]\s", before[: word.start()])[-1]
    return word.group(1) if opening.strip() else ""


# A length said to be acceptable ("3 hours is totally fine", "even 3 hours is ok").
_ALLOWED = re.compile(
    r"\s*(?:long\s+)?(?:is|are|would be|'s|’s|s)\s+(?:totally |perfectly |completely |"
    r"absolutely |also |still |really )?(?:fine|ok|okay|alright|all right|no problem|"
    r"not a problem|good)\b",
    re.IGNORECASE,
)


def _single(kind: str, value: float, before: str, after: str, a: int, b: int) -> list[Bound]:
    step = 1.0 if kind == "year" and STRICT.search(before) else 0.0
    strict = kind != "year" and STRICT.search(before) is not None and not _INCLUSIVE.search(before)
    op, negated = _cue(before)
    # a bound after the number outranks a weak one before it: "from 2010 or before"
    if LTE_AFTER.search(after) and op == "gte" and not negated:
        op = None
    if (
        kind == "year"
        and op == "gte"
        and re.search(r"\bfrom\s*$", before, re.I)
        and not (GTE_AFTER.search(after) or _ONWARDS.search(after))
    ):  # "a phone from 2015" came out in 2015; "from 2015 on" is a bound
        return [Bound(kind, "gte", value, a, b), Bound(kind, "lte", value, a, b)]
    if op == "gte" or GTE_AFTER.search(after):
        if op == "gte" and negated:  # "no more than $300": at most 300
            return [Bound(kind, "lte", value, a, b)]
        return [Bound(kind, "gte", value + step, a, b, strict=strict and op == "gte")]
    if op == "lte" or LTE_AFTER.search(after):
        if negated:  # "nothing older than 1995": 1995 on
            return [Bound(kind, "gte", value, a, b)]
        return [Bound(kind, "lte", value - step, a, b, strict=strict and op == "lte")]
    if kind == "runtime" and _ALLOWED.match(after):
        return []  # "a long epic, 3 hours is totally fine": long is allowed, not a limit
    if kind in ("price", "runtime"):
        return [Bound(kind, "lte", value, a, b)]
    if kind == "year":
        return [Bound(kind, "gte", value, a, b), Bound(kind, "lte", value, a, b)]
    if kind == "screen":
        lo, hi = value - SCREEN_MARGIN, value + SCREEN_MARGIN
        return [Bound(kind, "gte", lo, a, b), Bound(kind, "lte", hi, a, b)]
    return [Bound(kind, "gte", value, a, b)]


def attribute_for(lex: Lexicon, kind: str) -> str | None:
    """The catalog attribute that holds numbers of ``kind`` (None if the catalog has none)."""
    return next((a for a in ATTRIBUTES.get(kind, ()) if a in lex.numeric), None)


def bound_constraints(
    lex: Lexicon, text: str
) -> tuple[list[Constraint], list[tuple[int, int]], list[tuple[int, int]]]:
    """Constraints for the bounds in ``text`` the catalog can filter on and their char spans,
    and the spans of years that name a title's year rather than a wanted one: a bare year right
    after a capitalised word that is not itself a catalog value ("I loved Secret Wars 2027",
    "Alien 1979"; not "a Sony 2015 phone", not "a Comedy 2005")."""
    out: list[Constraint] = []
    spans: list[tuple[int, int]] = []
    named: list[tuple[int, int]] = []
    for b in find_bounds(text):
        attr = attribute_for(lex, b.kind)
        if attr is None:
            continue
        word = norm_phrase(b.after_name)
        refs = lex.values.get(word, ()) if word else ()
        if word and not any(norm_phrase(str(r.value)) == word for r in refs):
            named.append((b.start, b.end))
            continue
        value: int | float = round(b.value, 4)
        strict = b.strict
        if lex.numeric[attr] is int:  # whole-number attribute: round the bound inwards
            value = math.ceil(b.value) if b.op == "gte" else math.floor(b.value)
            strict = strict and value == b.value  # "under 89.5" already leaves 90 out
        out.append(Constraint(attr, "gte" if b.op == "gte" else "lte", value, strict=strict))
        spans.append((b.start, b.end))
    return out, spans, named


__all__ = [
    "ATTRIBUTES",
    "SCREEN_MARGIN",
    "Bound",
    "attribute_for",
    "bound_constraints",
    "find_bounds",
]
