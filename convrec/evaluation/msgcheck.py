"""Does a simulated user's message say something its hidden target does not hold?

A second, deliberately simple reader, written apart from convrec's understanding (it imports
nothing of ``convrec.dialogue.extractors``, ``convrec.dialogue.numbers`` or
``convrec.dialogue.lexicon``), so that free-mode
messages are not filtered by the parser the system under test uses. It reads three things:

- **named values**: a catalog value of a text attribute (a genre, a person, a maker, a language,
  a carrier) that the message names and the target holds in none of its fields. Genres are matched
  with their everyday forms ("comedies", "romantic", "animated", "science fiction"); a multi-word
  value in any case; a one-word value only when written with a capital ("Sharp", not "a sharp
  screen") and only for attributes of a small vocabulary (makers, languages, carriers: one-word
  people such as "Common" or "Divine" are mostly everyday words);
- **years**: "1994", "the 90s", "the nineties", "the late 1980s", with "before"/"after"-style words
  on either side ("older than 1990", "2011 or later");
- **amounts**: minutes or hours of a film, GB of RAM or storage, screen inches, cores, GHz, with
  "under"/"at least"-style words, else a tolerance.

A value right after a negation ("no horror", "nothing with Tom Hanks") is not claimed. Titles the
user is meant to name (its liked references) are blanked out first. :meth:`MessageCheck.clashes`
returns what contradicts the target, e.g. ``["genres: romantic", "year: 1940s"]``; empty when the
message holds nothing the target lacks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.types import Item

# Text attributes not checked: free prose, codes, and plot keywords (a story may name anything).
MAX_SINGLE_VOCABULARY = 500
SKIP = frozenset({"keywords", "title", "awards", "model_code", "cpu", "resolution", "writer"})
GENRE_FORMS = {
    "comedy": ("comedy", "comedies", "comedic"),
    "romance": ("romance", "romances", "romantic", "rom-com", "romcom"),
    "animation": ("animation", "animated", "cartoon", "cartoons"),
    "sci-fi": ("sci-fi", "scifi", "science fiction", "science-fiction"),
    "science fiction": ("sci-fi", "scifi", "science fiction", "science-fiction"),
    "thriller": ("thriller", "thrillers"),
    "documentary": ("documentary", "documentaries"),
    "musical": ("musical", "musicals"),
    "mystery": ("mystery", "mysteries"),
    "western": ("western", "westerns"),
    "drama": ("drama", "dramas"),
    "horror": ("horror",),
    "film-noir": ("film noir", "film-noir", "noir"),
    "children": ("children's", "kids'", "kids movie", "kids film", "family film", "family movie"),
    "action": ("action",),
    "adventure": ("adventure", "adventures"),
    "fantasy": ("fantasy",),
    "crime": ("crime",),
    "war": ("war movie", "war film", "war drama", "war epic"),
}
NEGATIONS = frozenset(("no", "not", "nothing", "without", "never", "none", "nor", "hate", "hated",
                       "dislike", "avoid", "except", "instead", "than", "isn't", "aren't",
                       "don't", "doesn't", "won't", "didn't"))  # fmt: skip
AT_MOST = ("under", "below", "less than", "at most", "no more than", "up to", "shorter than",
           "smaller than", "before", "older than", "earlier than", "prior to", "until",
           "no later than", "within", "max", "maximum")  # fmt: skip
AT_LEAST = ("over", "above", "more than", "at least", "no less than", "longer than", "bigger than",
            "larger than", "greater than", "after", "since", "newer than", "later than",
            "no earlier than", "min", "minimum")  # fmt: skip
AFTER_AT_MOST = ("or less", "or under", "or below", "or earlier", "or older", "or before",
                 "or fewer")  # fmt: skip
AFTER_AT_LEAST = ("or more", "or above", "or later", "or newer", "or after", "and up", "or over",
                  "plus", "+")  # fmt: skip
DECADE_WORDS = {"twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950,
                "sixties": 1960, "seventies": 1970, "eighties": 1980, "nineties": 1990}  # fmt: skip
NUMBER_WORDS = {"one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "an": 1.0, "half a": 0.5,
                "half an": 0.5, "one and a half": 1.5, "two and a half": 2.5}  # fmt: skip
_DECADE_WORD = "|".join(DECADE_WORDS)
YEAR_RE = re.compile(
    r"(?:\b(early|mid|late)[- ](?:the )?)?"
    rf"(?:\b((?:19|20)\d0)'?s\b|'(\d0)s\b|\b(\d0)s\b|\b((?:19|20)\d\d)\b|\b({_DECADE_WORD})\b)",
    re.I,
)
AMOUNT_RE = re.compile(
    r"\b(\d+(?:\.\d+)?)(?:\s*-?\s*(minutes?|mins?|hours?|hrs?|gb|gigabytes?|inch(?:es)?|cores?|ghz)"
    r"\b|-?(in\b|\"|”))"
    r"|\b(one and a half|two and a half|one|two|three|four|an|half an?)\s+(hours?|minutes?)\b",
    re.I,
)
_CORE_WORDS = {"single": 1, "dual": 2, "quad": 4, "hexa": 6, "octa": 8}
CORES_RE = re.compile(r"\b(single|dual|quad|hexa|octa)[- ]core\b", re.I)


def fold(text: str) -> str:
    """Lower case, accents off, curly quotes straight."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _values(item: Item, attr: str) -> tuple[str, ...]:
    value = item.category if attr == "category" else item.attributes.get(attr)
    if value is None or isinstance(value, bool | int | float):
        return ()
    return tuple(str(v) for v in value) if isinstance(value, tuple) else (str(value),)


def _number(item: Item, attr: str) -> float | None:
    value = item.attributes.get(attr)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _negated(before: str) -> bool:
    """A negation among the three words before a match ("no horror", "not with Tom Hanks")."""
    words = re.findall(r"[a-z']+", before)[-3:]
    return any(w in NEGATIONS or w.endswith("n't") for w in words)


def _bound(before: str, after: str) -> str:
    """ "<=" or ">=" when a bound word sits just before or just after a number, else "="."""
    words = [w for w in re.findall(r"[a-z+']+|\+", before) if w not in ("the", "a", "an")]
    head = " " + " ".join(words[-3:])
    tail = " ".join(re.findall(r"[a-z+']+|\+", after)[:2])
    if any(head.endswith(" " + w) for w in AT_MOST) or tail.startswith(AFTER_AT_MOST):
        return "<="
    if any(head.endswith(" " + w) for w in AT_LEAST) or tail.startswith(AFTER_AT_LEAST):
        return ">="
    return "="


class MessageCheck:
    """The catalog's vocabulary of text values, to read messages against one target."""

    def __init__(self, catalog: Catalog) -> None:
        self.values: dict[str, str] = {}  # folded value -> its attribute (the first seen)
        self.exact: dict[str, str] = {}  # one-word values as written (matched with a capital)
        self.genre_attr = ""
        distinct: dict[str, set[str]] = {}
        for item in catalog.items:
            for attr, value in item.attributes.items():
                if attr in SKIP or isinstance(value, bool | int | float) or value is None:
                    continue
                for v in value if isinstance(value, tuple) else (value,):
                    v = str(v).strip()
                    if len(v) < 3 or not re.search(r"[A-Za-z]", v):
                        continue
                    if fold(v) in GENRE_FORMS:
                        self.genre_attr = self.genre_attr or attr
                        continue
                    distinct.setdefault(attr, set()).add(v)
                    if " " in v:
                        self.values.setdefault(fold(v), attr)
                    elif v[:1].isupper():
                        self.exact.setdefault(v, attr)
        # One-word people ("Divine", "Common", "Christian") are mostly everyday words: one-word
        # values are read only for the attributes with a small vocabulary (makers, languages).
        big = {a for a, vs in distinct.items() if len(vs) > MAX_SINGLE_VOCABULARY}
        self.exact = {v: a for v, a in self.exact.items() if a not in big}
        self._multi = self._pattern(self.values)
        self._single = self._pattern(self.exact)

    @staticmethod
    def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
        alts = sorted(words, key=len, reverse=True)
        return re.compile(r"\b(" + "|".join(map(re.escape, alts)) + r")\b") if alts else None

    def clashes(self, text: str, item: Item, allowed: Sequence[str] = ()) -> list[str]:
        """What ``text`` says that ``item`` does not hold; ``allowed`` are titles the user may
        name (blanked out before reading)."""
        for title in sorted(allowed, key=len, reverse=True):
            text = re.sub(re.escape(title), " ", text, flags=re.I)
        low = fold(text)
        held = {fold(v) for attr in ("category", *item.attributes) for v in _values(item, attr)}
        out = self._genres(low, item)
        for m in self._multi.finditer(low) if self._multi else ():
            if m.group(1) not in held and not _negated(low[: m.start()]):
                out.append(f"{self.values[m.group(1)]}: {m.group(1)}")
        for m in self._single.finditer(text) if self._single else ():
            word = m.group(1)
            part = any(fold(word) in h.split() for h in held)  # "Hong" of "Hong Kong"
            if fold(word) not in held and not part and not _negated(low[: m.start()]):
                out.append(f"{self.exact[word]}: {word}")
        return out + self._years(low, item) + self._amounts(low, item)

    def _genres(self, low: str, item: Item) -> list[str]:
        if not self.genre_attr:
            return []
        held = {fold(g) for g in _values(item, self.genre_attr)}
        forms_held = {f for g in held for f in GENRE_FORMS.get(g, (g,))}
        out = []
        for genre, forms in GENRE_FORMS.items():
            for form in forms:
                for m in re.finditer(r"(?<![\w-])" + re.escape(form) + r"(?![\w-])", low):
                    if (
                        form not in forms_held
                        and genre not in held
                        and not _negated(low[: m.start()])
                    ):
                        out.append(f"{self.genre_attr}: {form}")
        return list(dict.fromkeys(out))

    def _years(self, low: str, item: Item) -> list[str]:
        attr = "year" if "year" in item.attributes else "release_year"
        year = _number(item, attr)
        if year is None:
            return []
        out = []
        for m in YEAR_RE.finditer(low):
            part, full, short, bare, exact, word = m.groups()
            if _negated(low[: m.start()]):
                continue
            if exact:
                lo = hi = float(exact)
            else:
                start = (
                    int(full) if full
                    else DECADE_WORDS[word] if word
                    else 1900 + int(short or bare) if int(short or bare) >= 30
                    else 2000 + int(short or bare)
                )  # fmt: skip
                lo, hi = float(start), float(start + 9)
                if part:
                    lo, hi = {"early": (lo, lo + 4), "mid": (lo + 3, lo + 7),
                              "late": (lo + 5, hi)}[part.lower()]  # fmt: skip
            bound = _bound(low[: m.start()], low[m.end() :])
            ok = year <= hi if bound == "<=" else year >= lo if bound == ">=" else lo <= year <= hi
            if not ok:
                out.append(f"{attr}: {m.group(0).strip()}")
        return out

    def _amounts(self, low: str, item: Item) -> list[str]:
        out = []
        for m in AMOUNT_RE.finditer(low):
            raw = m.group(1) or m.group(4)
            unit = (m.group(2) or m.group(3) or m.group(5)).lower()
            n = float(raw) if raw[0].isdigit() else NUMBER_WORDS[raw]
            if unit.startswith(("min", "hour", "hr")):
                attr, value, tol = "runtime_min", n * 60 if unit.startswith("h") else n, 15.0
                candidates = [attr]
            elif unit in ("gb", "gigabyte", "gigabytes"):
                candidates = (
                    _memory(low[m.end() : m.end() + 12])
                    or _memory(low[max(0, m.start() - 12) : m.start()])
                    or ["ram_gb", "storage_gb"]
                )
                value, tol = n, 0.0
            elif unit.startswith(("inch", "in", '"', "”")):
                candidates, value, tol = ["screen_inches"], n, 0.25
            elif unit.startswith("core"):
                candidates, value, tol = ["cores"], n, 0.0
            else:
                candidates, value, tol = ["cpu_ghz"], n, 0.1
            bound = _bound(low[: m.start()], low[m.end() :])
            held = [v for v in (_number(item, a) for a in candidates) if v is not None]
            if held and not any(_fits(v, value, tol, bound) for v in held):
                out.append(f"{'/'.join(candidates)}: {m.group(0).strip()}")
        for m in CORES_RE.finditer(low):
            cores = _number(item, "cores")
            if cores is not None and cores != _CORE_WORDS[m.group(1).lower()]:
                out.append(f"cores: {m.group(0)}")
        return out


def _memory(near: str) -> list[str]:
    """Which memory words near an amount of GB name: RAM or storage."""
    if re.search(r"\b(ram|memory)\b", near):
        return ["ram_gb"]
    if re.search(r"\b(storage|rom|space)\b", near):
        return ["storage_gb"]
    return []


def _fits(held: float, said: float, tol: float, bound: str) -> bool:
    """``held`` agrees with ``said`` under ``bound``: equal within ``tol`` (a third of it
    past a bound: "over two hours" is no 109-minute film)."""
    if bound == "<=":
        return held <= said + tol / 3
    if bound == ">=":
        return held >= said - tol / 3
    return abs(held - said) <= tol


__all__ = ["MessageCheck", "fold"]
