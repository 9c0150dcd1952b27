"""Title normalization and the title+year join used to enrich MovieLens with Wikidata and TMDB."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from convrec.types import Item

T = TypeVar("T")

# Articles MovieLens moves to the end ("Matrix, The"), in the languages it uses.
_ARTICLES = (
    "the", "a", "an", "les", "la", "le", "l'", "il", "lo", "gli", "i", "el", "los", "las",
    "das", "der", "die", "den", "det", "de", "het", "un", "une", "o", "os", "as", "en", "et",
)  # fmt: skip
_TRAILING_ARTICLE = re.compile(
    r"^(.*?),\s*(" + "|".join(re.escape(a) for a in _ARTICLES) + r")$", re.I
)
_PAREN = re.compile(r"\s*\(([^()]*)\)\s*")
_AKA = re.compile(r"^(?:a\.k\.a\.?|aka)\s+", re.I)
_NON_WORD = re.compile(r"[^0-9a-z]+")
_LEADING_ARTICLE = re.compile(r"^(the|a|an) ")


def fix_article(title: str) -> str:
    """``"Matrix, The"`` → ``"The Matrix"``; ``"Haine, La"`` → ``"La Haine"``."""
    m = _TRAILING_ARTICLE.match(title.strip())
    if not m:
        return title.strip()
    article = m.group(2)
    sep = "" if article.endswith("'") else " "
    return f"{article}{sep}{m.group(1)}"


def display_title(ml_title: str) -> str:
    """A readable title from a MovieLens title: article moved back, alternate titles kept."""
    main, alts = split_alternates(ml_title)
    out = fix_article(main)
    if alts:
        out += " (" + ", ".join(fix_article(a) for a in alts) + ")"
    return out


def split_alternates(title: str) -> tuple[str, list[str]]:
    """``"Cinema Paradiso (Nuovo cinema Paradiso)"`` → ``("Cinema Paradiso", ["Nuovo ..."])``."""
    found = [a.strip() for a in _PAREN.findall(title) if a.strip()]
    alts = [a for a in found if not _AKA.match(a)]
    alts += [_AKA.sub("", a).strip() for a in found if _AKA.match(a)]  # "a.k.a. Se7en" → "Se7en"
    main = _PAREN.sub(" ", title).strip()
    return main, [a for a in alts if a]


def normalize(title: str) -> str:
    """Join key: article fixed, accents stripped, lower case, ``&`` → and, punctuation removed."""
    text = fix_article(title)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace("&", " and ").replace("'", "")
    text = _NON_WORD.sub(" ", text).strip()
    return _LEADING_ARTICLE.sub("", text)


def variant_key(item: Item) -> tuple[str, str]:
    """What makes two items one to a person: the normalised title and the year (a phone's
    carrier models are one phone; a remake, "Cape Fear" 1962 and 1991, is another film)."""
    return normalize(item.title), (item.date or "")[:4]


def title_keys(title: str) -> list[str]:
    """All join keys of one title: the main title, then each alternate title.

    The text before a colon is deliberately not a key: "Kung Fu Panda: Secrets of the Furious
    Five" would then match "Kung Fu Panda".
    """
    main, alts = split_alternates(title)
    keys = [normalize(main)] + [normalize(a) for a in alts]
    return [k for i, k in enumerate(keys) if k and k not in keys[:i]]


class TitleIndex(Generic[T]):
    """Rows of one source, found by normalized title and a year within ``tolerance``."""

    def __init__(self, rows: Iterable[tuple[str, int | None, T]], tolerance: int = 1) -> None:
        self.tolerance = tolerance
        self._by_key: dict[str, list[tuple[int | None, T]]] = {}
        for title, year, row in rows:
            for key in [*title_keys(title)[:1], normalize(title)]:
                bucket = self._by_key.setdefault(key, [])
                if not any(r is row for _, r in bucket):
                    bucket.append((year, row))

    def find(self, title: str, year: int | None) -> T | None:
        """Best row for a title: exact key, then alternates; the nearest year wins."""
        for key in title_keys(title):
            hit = self._nearest(self._by_key.get(key, ()), year)
            if hit is not None:
                return hit
        return None

    def _nearest(self, bucket: Sequence[tuple[int | None, T]], year: int | None) -> T | None:
        best: tuple[int, T] | None = None
        for y, row in bucket:
            if year is None or y is None:
                continue
            gap = abs(y - year)
            if gap <= self.tolerance and (best is None or gap < best[0]):
                best = (gap, row)
        return best[1] if best else None
