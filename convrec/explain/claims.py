"""The grounding check of explanations: which claims of a text an item's fields do not support.

Deterministic, no models. Claims checked: genres (and their adjective forms), people (known cast,
directors and writers, and any name after "directed by", "starring"…), names from small
vocabularies such as makers or countries, years and decades, numbers with units, prices, awards
and colours (only when the item's own text names the colour).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from convrec.catalog.schema import AttributeRoles
from convrec.dialogue.extractors import CORE_COUNTS
from convrec.explain.untrusted import instructs, plain_sentences
from convrec.types import Item

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog

NAMED_VOCAB_MAX = 300  # a str attribute with at most this many values is checked as a name set
_COLOURS = "white black red blue green yellow orange pink purple violet brown grey gray silver gold"
COLOURS = frozenset((_COLOURS + " golden beige navy teal turquoise").split())
# Extra surface forms of genre names (MovieLens genres, plus common adjectives).
GENRE_FORMS = {
    "animation": ("animated",),
    "romance": ("romantic", "romances"),
    "sci-fi": ("science fiction", "science-fiction", "sci fi"),
    "film-noir": ("film noir", "noir"),
    "comedy": ("comedies",),
    "documentary": ("documentaries",),
    "mystery": ("mysteries",),
    "fantasy": ("fantasies",),
    "children": ("children's",),
}
_UNIT = (
    r"(?P<num>\d+(?:\.\d+)?)\s*-?\s*(?P<unit>inch(?:es)?|in\b|\"|gb|tb|mb|ghz|mhz|mp|megapixels?|"
    r"mah|min(?:ute)?s?|hours?|hrs?|cores?)(?![a-z])"
)
_UNIT_RE = re.compile(_UNIT, re.IGNORECASE)
_CORE_RE = re.compile(
    r"\b(?:(?P<word>" + "|".join(CORE_COUNTS) + r")|(?P<num>\d+))[\s-]?cores?\b", re.IGNORECASE
)
# "it does not have the maker Sharp, which you do not want": a value named to rule it out
_RULED_OUT = re.compile(
    r"\b(?:not|no|never|without|isn'?t|doesn'?t|don'?t|nor)\b(?:\s+[\w'’-]+){0,4}\s*$",
    re.IGNORECASE,
)
_PRICE_RE = re.compile(r"[$€£]\s?(\d[\d,]*(?:\.\d+)?)")
_YEAR_RE = re.compile(r"(?<![\d.])((?:19|20)\d\d)(s?)(?![\d])")
_QUOTED_RE = re.compile(r"[\"“]([^\"“”]{1,80})[\"”]")  # a span in double quotes
_DECADE_RE = re.compile(r"(?<![\w\d])'?([1-9]0)s\b")
_AWARD_RE = re.compile(r"\b(Oscars?|Academy Awards?|Golden Globes?|BAFTAs?)\b")
_NAME_RE = re.compile(r"[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)+")
_ROLE_RE = re.compile(
    r"\b(?i:(?P<role>directed by|director|starring|stars|featuring|written by|writer|actor|"
    r"actress))\s+(?P<names>[A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+)+(?:\s*(?:,|and)\s*"
    r"[A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+)+)*)"
)
# "no horror", "not a horror film", "without any horror": a genre named to rule it out is no
# claim that the item has it.
_NEGATED = re.compile(
    r"\b(?:no|not|never|without|isn'?t|non|nothing|free of|avoids?)(?:\s+(?:a|an|any|the|too|"
    r"much|real|scary|gory))*[\s-]*$",
    re.IGNORECASE,
)
# Which field a role word needs its names in ("directed by X" when X only wrote it is a claim
# the item does not support).
ROLE_FIELDS = {"direct": ("director",), "writ": ("writer",)}
ACTOR_FIELDS = ("cast", "actors")


def values_of(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, tuple) else (str(value),)


def _genre_pattern(genre: str) -> re.Pattern[str]:
    g = genre.lower()
    forms = {g, g + "s", *GENRE_FORMS.get(g, ())}
    alt = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alt})(?![\w-])", re.IGNORECASE)


def item_text(item: Item) -> str:
    """Everything the item's own record says, as one text."""
    parts = [item.title, item.description, item.category, item.date or ""]
    for value in item.attributes.values():
        parts.extend(values_of(value))
    if item.price is not None:
        parts.append(f"{item.price:g}")
    return " ".join(parts)


def _numbers(item: Item) -> list[float]:
    out = [float(v) for v in item.attributes.values() if isinstance(v, int | float)]
    out += [float(n) for n in re.findall(r"\d+(?:\.\d+)?", item_text(item))]
    if item.price is not None:
        out.append(float(item.price))
    return out


def _close(a: float, b: float, rel: float = 0.02) -> bool:
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), 0.051)


class GroundingChecker:
    """Finds claims in a text that an item's fields do not support. Deterministic, no models.

    The vocabularies (genres, people, small name sets such as makers or countries) are built once
    from the catalog, so a genre or person the item lacks is caught even when the model invents it
    from another item.
    """

    def __init__(self, items: Iterable[Item], roles: AttributeRoles | None = None) -> None:
        """``roles``: the catalog's attribute roles (genre, person, hidden); by default those
        the attributes' names suggest."""
        items = list(items)
        if roles is None:
            roles = AttributeRoles.inferred({a for it in items for a in it.attributes})
        self.genre_attrs, self.person_attrs = roles.genre, roles.person
        genres: set[str] = set()
        people: set[str] = set()
        named: dict[str, set[str]] = {}
        for it in items:
            for attr, value in it.attributes.items():
                if isinstance(value, bool | int | float):
                    continue
                vals = values_of(value)
                if attr in roles.genre:
                    genres.update(v for v in vals if re.fullmatch(r"[A-Za-z][A-Za-z' -]+", v))
                elif attr in roles.person:
                    people.update(v for v in vals if " " in v)
                elif attr not in roles.hidden:
                    named.setdefault(attr, set()).update(vals)
        self.genres = {g: _genre_pattern(g) for g in sorted(genres)}
        self.people = frozenset(people)
        self.named = {
            attr: {
                v: re.compile(rf"(?<![\w-]){re.escape(v)}(?![\w-])")
                for v in sorted(vals)
                if len(v) >= 3 and any(c.isupper() for c in v)
            }
            for attr, vals in named.items()
            if 1 < len(vals) <= NAMED_VOCAB_MAX
        }

    def problems(
        self, text: str, item: Item, stated: str = "", titles: Sequence[str] = ()
    ) -> list[str]:
        """Unsupported claims of ``text`` about ``item`` ([] when grounded).

        Sentences quoted from the item's own description are grounded by definition, but for
        those that give orders or carry markup (:mod:`convrec.explain.untrusted`): a text that
        repeats one is a problem, wherever it came from.
        ``stated`` is what the user said (their numbers may be repeated back); ``titles`` are
        titles the text may quote (the item's own is always allowed) and are removed before
        checking, so "Black Swan" claims neither a colour nor a genre.
        """
        planted = ["repeats an instruction or markup"] if instructs(text) else []
        # quoting the description is grounded; before the titles go, since a sentence may open
        # with the item's own title ("Interstellar chronicles the adventures of …")
        for sentence in plain_sentences(item.description):
            if len(sentence) >= 20 and sentence in text:
                text = text.replace(sentence, " ")
        # the user's own words quoted back ("the closest matches to "a red one"") claim nothing
        for quoted in _QUOTED_RE.findall(text):
            if quoted.strip() and quoted.lower() in stated.lower():
                text = text.replace(quoted, " ")
        for title in sorted({item.title, *titles}, key=len, reverse=True):
            if title:
                text = re.sub(re.escape(title), " ", text, flags=re.IGNORECASE)
        fields = item_text(item)
        low = fields.replace(item.title, " ").lower()  # "Black Swan" is no evidence of a colour
        out: list[str] = planted
        item_genres = {
            g.lower() for a in self.genre_attrs for g in values_of(item.attributes.get(a))
        }
        for genre, pattern in self.genres.items():
            negated = [bool(_NEGATED.search(text[: m.start()])) for m in pattern.finditer(text)]
            if genre.lower() not in item_genres and not all(negated):
                out.append(f"genre {genre}")
            elif genre.lower() in item_genres and any(negated):  # "no horror" about a horror film
                out.append(f"denies genre {genre}")
        item_people = {p for a in self.person_attrs for p in values_of(item.attributes.get(a))}
        for name in self._names(text):
            if name not in item_people and name not in fields:
                out.append(f"person {name}")
        for m in _ROLE_RE.finditer(text):
            role = m.group("role").lower()
            attrs = next((f for k, f in ROLE_FIELDS.items() if role.startswith(k)), ACTOR_FIELDS)
            if not any(a in item.attributes for a in attrs):
                continue  # the catalog does not record this role: only the name check applies
            holders = {p for a in attrs for p in values_of(item.attributes.get(a))}
            for name in re.split(r"\s*(?:,|\band\b)\s*", m.group("names")):
                name = re.sub(r"['’]s$", "", name).rstrip(".,")
                if name and name in item_people and name not in holders:
                    out.append(f"{role} {name}")
        for attr, values in self.named.items():
            own = set(values_of(item.attributes.get(attr)))
            for value, pattern in values.items():
                if value in own or value in fields:
                    continue
                named = list(pattern.finditer(text))
                if named and not all(_RULED_OUT.search(text[: m.start()]) for m in named):
                    out.append(f"{attr} {value}")
        out += self._numeric(text, item, stated)
        for colour in sorted(COLOURS & set(re.findall(r"[a-z]+", text.lower()))):
            if not re.search(rf"\b{colour}\b", low):
                out.append(f"colour {colour}")
        for award in _AWARD_RE.findall(text):
            if award.lower().rstrip("s") not in low:
                out.append(f"award {award}")
        return list(dict.fromkeys(out))

    def _names(self, text: str) -> set[str]:
        """Known people anywhere in the text, and any name after "directed by", "starring"…"""
        found: set[str] = set()
        for run in _NAME_RE.findall(text):
            words = [re.sub(r"['’]s$", "", w).rstrip(".,") for w in run.split()]
            for n in range(2, 5):
                for i in range(len(words) - n + 1):
                    span = " ".join(words[i : i + n])
                    if span in self.people:
                        found.add(span)
        for m in _ROLE_RE.finditer(text):
            for name in re.split(r"\s*(?:,|\band\b)\s*", m.group("names")):
                name = re.sub(r"['’]s$", "", name).rstrip(".,")
                if name and not any(name in f or f in name for f in found):
                    found.add(name)
        return found

    def _numeric(self, text: str, item: Item, stated: str) -> list[str]:
        nums = _numbers(item)
        said = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", stated)]
        out: list[str] = []
        cores = item.attributes.get("cores")
        if isinstance(cores, int | float):  # a core count is the item's, whatever the user said
            for m in _CORE_RE.finditer(text):
                n = CORE_COUNTS[m.group("word").lower()] if m.group("word") else int(m.group("num"))
                if n != cores and not _RULED_OUT.search(text[: m.start()]):
                    out.append(f"cores {m.group(0)}")
            text = _CORE_RE.sub(" ", text)
        years = {int(n) for n in nums if 1800 <= n <= 2100 and float(n).is_integer()}
        for m in _YEAR_RE.finditer(text):
            year, decade = int(m.group(1)), bool(m.group(2))
            ok = any(year <= y < year + 10 for y in years) if decade else year in years
            if not ok and float(year) not in said:
                out.append(f"year {m.group(0)}")
        for m in _DECADE_RE.finditer(text):
            d = int(m.group(1))
            start = 1900 + d if d >= 30 else 2000 + d
            if not any(start <= y < start + 10 for y in years) and float(d) not in said:
                out.append(f"decade {m.group(0).strip()}")
        for m in _UNIT_RE.finditer(text):
            value, unit = float(m.group("num")), m.group("unit").lower()
            targets = [value * 60, value] if unit.startswith(("hour", "hr")) else [value]
            rel = 0.1 if unit.startswith(("hour", "hr")) else 0.02
            if not any(_close(t, n, rel) for t in targets for n in [*nums, *said]):
                out.append(f"number {m.group(0).strip()}")
        for m in _PRICE_RE.finditer(text):
            value = float(m.group(1).replace(",", ""))
            if not any(_close(value, n) for n in [*nums, *said]):
                out.append(f"price {m.group(0)}")
        return out


_CHECKERS: dict[int, tuple[Catalog, GroundingChecker]] = {}


def checker_for(catalog: Catalog) -> GroundingChecker:
    """The catalog's checker, built once per loaded catalog."""
    hit = _CHECKERS.get(id(catalog))
    if hit is not None and hit[0] is catalog:
        return hit[1]
    if len(_CHECKERS) >= 4:
        _CHECKERS.clear()
    checker = GroundingChecker(catalog.items, catalog.roles)
    _CHECKERS[id(catalog)] = (catalog, checker)
    return checker
