"""Why an item fits, as short second-person phrases that are true by construction.

Each link ties something the user said (a liked item, a liked value, a constraint, a wish) to a
field the item holds, or names the ranking route that brought it ("people who liked Inception
also liked it": the collaborative route). The explanation stage gives them to the LLM as the
reasons to put in words and builds its fallback sentence from them, so an explanation is
personal whatever the model writes, and says nothing the catalog does not hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from convrec.dialogue.numbers import SCREEN_MARGIN
from convrec.dialogue.state import holds
from convrec.explain.claims import values_of
from convrec.ranking.quality import catalog_quality
from convrec.ranking.rerank import holds_pref
from convrec.ranking.wishes import wished_keywords

if TYPE_CHECKING:
    from convrec.catalog.schema import AttributeRoles, Catalog
    from convrec.dialogue.state import Constraint, DialogueState
    from convrec.types import Item, Recommendation

MAX_LINKS = 3
PROMPT_LINKS = 2  # reasons shown to the LLM: more make a small model run on
LIKED_CONSIDERED = 2  # the most recent liked items a link may name
WELL_KNOWN = 0.75  # quality.known above which an item counts as well known at a cold start
# How an item's number reads in a reason; other attributes read "its <attribute> is <value>".
_NUMBER_FORMS = {
    "ram_gb": "it has {v:g} GB of RAM",
    "storage_gb": "it has {v:g} GB of storage",
    "screen_inches": "it has a {v:g}-inch screen",
    "runtime_min": "it is {v:g} minutes long",
    "cores": "it has {v:g} cores",
    "cpu_ghz": "it has a {v:g} GHz processor",
    "year": "it is from {v:g}",
    "release_year": "it is from {v:g}",
    "price": "it costs {v:g}",
    "os_version": "its system is version {v:g}",
}
# A bound the user set, and how a value beyond it compares ("more than the 32 GB you asked for").
_UNITS = {
    "ram_gb": "{v:g} GB",
    "storage_gb": "{v:g} GB",
    "screen_inches": "{v:g} inches",
    "runtime_min": "{v:g} minutes",
    "cores": "{v:g} cores",
    "cpu_ghz": "{v:g} GHz",
    "os_version": "version {v:g}",
}
# A bare size is read as a range this wide around it (convrec.dialogue.numbers), which an
# explanation says back as "close to the 10 inches you asked for".
AROUND_WIDTH = 2 * SCREEN_MARGIN
_BEYOND = {
    "os_version": ("later", "earlier"),
    "runtime_min": ("longer", "shorter"),
    "screen_inches": ("bigger", "smaller"),
}


# How a wanted value of these attributes reads; others read "its <attribute> is <value>".
_VALUE_FORMS = {
    "country": "it is from {v}",
    "language": "it is in {v}",
    "maker": "it is {a} {v}",
    "os": "it runs {v}",
    "carrier": "it is on {v}",
}
NOT_KINDS = frozenset({"IMAX", "(no genres listed)"})  # genre values that say no kind of film
# Genre names as they read inside a sentence ("a children's comedy", not "a Children Comedy").
_GENRE_WORDS = {
    "Animation": "animated",
    "Children": "children's",
    "Film-Noir": "noir",
    "Sci-Fi": "sci-fi",
}


def links(
    rec: Recommendation,
    item: Item,
    state: DialogueState,
    catalog: Catalog,
    standalone: bool = False,
) -> list[str]:
    """At most :data:`MAX_LINKS` reasons, most specific first: a liked item's shared people,
    its collaborative neighbourhood or shared genres; the liked values the item holds; the
    constraints it meets; a wish word in its keywords; at a cold start, that it is well known.
    ``standalone``: each reason names what it refers to (a prompt lists them one per line, so
    "their fans liked it too" would have nothing to refer to)."""
    out: list[str] = []
    found = [catalog.get(i) for i in reversed(state.liked_items[-LIKED_CONSIDERED:])]
    liked = [it for it in found if it is not None and it.id != item.id]
    shared, kinds = _item_links(item, liked)  # kinds: a genre shared with a liked film was said
    out += shared
    if liked and rec.breakdown.get("cf", 0.0) > 0:  # the collaborative route: all liked items
        names = _joined([short_title(o) for o in liked])
        named = next((i for i, r in enumerate(out) if r.startswith(f"like {names}, ")), None)
        if named is None or standalone:
            cf = f"people who liked {names} also liked it"
        else:  # the clause just before names them: no third mention
            cf = (
                "their fans liked it too"
                if len(liked) > 1
                else "people who liked that one also liked this"
            )
        out.insert(min(1, len(out)) if named is None else named + 1, cf)
    out += _value_links(item, state, catalog.roles, said=" ".join(out), genres_said=kinds)
    said = " ".join(out)  # "like Apple iPhone 11, it is an Apple": not "it is an Apple" again
    asked = ", as you asked"
    out += [
        c
        for c in _constraint_links(item, state.constraints[::-1])  # the newest request first
        if c.removesuffix(asked) not in said
    ]
    out += _wish_links(item, state.wishes)
    if not out:
        known = catalog_quality(catalog).known.get(item.id, 0.0)
        if known >= WELL_KNOWN:
            out.append("it is one of the best known here")
    return list(dict.fromkeys(out))[:MAX_LINKS]


def _shared(item: Item, other: Item, attribute: str) -> list[str]:
    mine = values_of(item.attributes.get(attribute))
    theirs = {v.lower() for v in values_of(other.attributes.get(attribute))}
    return [v for v in mine if v.lower() in theirs]


def _item_links(item: Item, liked: Sequence[Item]) -> tuple[list[str], bool]:
    """What ``item`` shares with the liked items, each liked title named once: "like Inception,
    it is by Christopher Nolan and is an action and crime movie". A fact shared with several
    liked items is said once for all of them ("like Jaws and E.T., it is by Steven Spielberg").
    Also whether a kind (shared genres) is among them."""
    facts: dict[str, list[str]] = {}  # fact → the liked titles that share it, in order
    kinds = False
    for other in liked:
        title = short_title(other)
        mine = [f"is by {v}" for v in _shared(item, other, "director")[:1]]
        mine += [f"has {v}" for v in _shared(item, other, "cast")[:1]]
        mine += [f"is {_article(v)} {v}" for v in _shared(item, other, "maker")[:1]]
        genres = [g for g in _shared(item, other, "genres") if g not in NOT_KINDS]
        if len(genres) >= 2 or (genres and not mine):  # one shared genre says little
            kind = genre_words(genres[:2])
            mine.append(f"is {_article(kind)} {kind} {_noun(item)}")
            kinds = True
        for fact in mine:
            facts.setdefault(fact, []).append(title)
    by_titles: dict[tuple[str, ...], list[str]] = {}
    for fact, titles in facts.items():
        by_titles.setdefault(tuple(titles), []).append(fact)
    return [f"like {_joined(list(t))}, it {_joined(fs)}" for t, fs in by_titles.items()], kinds


def short_title(item: Item) -> str:
    """A title without its alternates in brackets: "Raiders of the Lost Ark (Indiana Jones and
    the Raiders of the Lost Ark)" reads "Raiders of the Lost Ark"."""
    return re.sub(r"(?:\s+\([^()]*\))+$", "", item.title) or item.title


def _value_links(
    item: Item, state: DialogueState, roles: AttributeRoles, said: str, genres_said: bool
) -> list[str]:
    """The liked values (genres, people, makers …) the item holds, but for those the links
    ``said`` already name ("like Inception, it is a mystery movie" says no horror: a liked
    Horror is still said)."""
    held: dict[str, list[str]] = {}
    low = said.lower()
    for p in state.liked:
        if p.attribute in roles.genre:  # "a mystery movie" said: mystery, not horror, was said
            named = genres_said and genre_words([p.value]).lower() in low
        else:
            named = p.value in said
        if holds_pref(item, p) and not named:
            held.setdefault(p.attribute, []).append(p.value)
    out = []
    # people first (the most specific), genres last (the most shared)
    order = sorted(held, key=lambda a: (a not in roles.person, a in roles.genre))
    for attribute, values in ((a, held[a]) for a in order):
        if attribute == "director":
            out.append(f"it is directed by {_joined(values)}, as you asked")
        elif attribute in ("writer", "screenwriter"):  # "it has John Hughes" reads as cast
            out.append(f"it is written by {_joined(values)}, as you asked")
        elif attribute in roles.person:
            out.append(f"it has {_joined(values)}, whom you like")
        elif attribute in roles.genre:
            kinds = genre_words(values)
            out.append(f"it is {_article(kinds)} {kinds} {_noun(item)}, as you asked")
        elif attribute in roles.derived:  # read from the photo: say so
            look = _joined(values)
            out.append(f"it is {look} in its photo, as you asked" if attribute == "colour"
                       else f"its photo shows {_article(look)} {look}, as you asked")  # fmt: skip
        else:
            out.append(_value_form(item, attribute, values) + ", as you asked")
    return out


def _constraint_links(item: Item, constraints: Sequence[Constraint]) -> list[str]:
    """The constraints the item meets, with its own value ("3 GB of RAM, as you asked"). The
    two bounds of a range on one attribute make one link ("it is from 1954, in the 1950s you
    asked for"), never two about the same value."""
    out = []
    ranges = _ranges(item, constraints)
    # a range one side of which relaxation moved ("around 10 inches" shown a 10.4-inch tablet)
    # is no longer what was asked on either side: its other bound is no number the user said
    moved = {c.attribute for c in constraints if c.relaxed and c.op in ("gte", "lte")}
    for c in constraints:
        if c.op not in ("eq", "in", "gte", "lte") or isinstance(c.value, bool) or c.relaxed:
            continue  # a relaxed bound is not what the user asked for
        if c.op in ("gte", "lte") and c.attribute in moved:
            continue
        value = item.price if c.attribute == "price" else item.attributes.get(c.attribute)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if not holds(c, value):
                continue  # a relaxed bound: the item is shown, but not as what was asked
            form = _NUMBER_FORMS.get(c.attribute, "its {attr} is {v:g}")
            said = _an(form.format(v=float(value), attr=c.attribute.replace("_", " ")))
            limit = float(c.values()[0])
            if c.attribute in ranges and c.op in ("gte", "lte"):
                out.append(f"{said}, {ranges[c.attribute]}")
            elif c.op in ("eq", "in") or float(value) == limit or not c.said:
                out.append(said + ", as you asked")  # a size word's bound is no number asked
            elif c.attribute in ("year", "release_year"):
                # "after 2000" is stored as 2001 on: say the side, never a shifted number
                out.append(said + (f", after {limit - 1:g} as you asked" if c.op == "gte"
                                   else f", before {limit + 1:g} as you asked"))  # fmt: skip
            else:  # "it has 128 GB of storage, more than the 32 GB you asked for"
                more, less = _BEYOND.get(c.attribute, ("more", "less"))
                bound = _UNITS.get(c.attribute, "{v:g}").format(v=limit)
                word = more if c.op == "gte" else less
                out.append(f"{said}, {word} than the {bound} you asked for")
        elif c.op in ("eq", "in"):
            held = [
                v for v in values_of(value) if v.lower() in {str(w).lower() for w in c.values()}
            ]
            if held:
                out.append(_value_form(item, c.attribute, held) + ", as you asked")
    return list(dict.fromkeys(out))


# A language or country the item holds but not first: "partly in French" (Inglourious
# Basterds is mostly in English), not "in French".
_PARTLY_FORMS = {"country": "it is partly from {v}", "language": "it is partly in {v}"}


def _value_form(item: Item, attribute: str, held: Sequence[str]) -> str:
    """How the item holding the wanted ``held`` values of ``attribute`` reads."""
    form = _VALUE_FORMS.get(attribute, "its " + attribute.replace("_", " ") + " is {v}")
    first = next(iter(values_of(item.attributes.get(attribute))), None)
    if attribute in _PARTLY_FORMS and first is not None and first not in held:
        form = _PARTLY_FORMS[attribute]
    said = _joined(list(held))
    return form.format(v=said, a=_article(said))


def _ranges(item: Item, constraints: Sequence[Constraint]) -> dict[str, str]:
    """How the item's value sits in each range the user set (a lower and an upper bound on one
    attribute, both met): "in the 1950s you asked for", "close to the 10 inches you asked for"
    (a bare size reads as a small range around it), "between the 5 and 6 inches you asked for"."""
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    for c in constraints:
        value = item.price if c.attribute == "price" else item.attributes.get(c.attribute)
        if c.op not in ("gte", "lte") or not isinstance(value, int | float):
            continue
        if isinstance(value, bool) or not holds(c, value):
            continue
        if c.said and not c.relaxed:
            (lows if c.op == "gte" else highs)[c.attribute] = float(c.values()[0])
    out = {}
    for attribute in lows.keys() & highs.keys():
        lo, hi = lows[attribute], highs[attribute]
        unit = _UNITS.get(attribute, "{v:g}")
        value = item.price if attribute == "price" else item.attributes.get(attribute)
        around = attribute == "screen_inches" and round(hi - lo, 3) <= AROUND_WIDTH
        centred = isinstance(value, int | float) and abs(value - (lo + hi) / 2) < 0.05
        if lo == hi or (around and centred):
            out[attribute] = "as you asked"  # "an 8-inch screen, as you asked", not "close to"
        elif attribute in ("year", "release_year") and lo % 10 == 0 and hi == lo + 9:
            out[attribute] = f"in the {lo:g}s you asked for"
        elif attribute in ("year", "release_year"):
            out[attribute] = f"between {lo:g} and {hi:g}, as you asked"
        elif around:
            out[attribute] = f"close to the {unit.format(v=(lo + hi) / 2)} you asked for"
        else:
            out[attribute] = f"between the {lo:g} and {unit.format(v=hi)} you asked for"
    return out


def _wish_links(item: Item, wishes: Sequence[str]) -> list[str]:
    """The longest of the item's keywords a wish says ("a space adventure": keyword "space"),
    matched as the wish route matches them (:func:`convrec.ranking.wishes.wished_keywords`)."""
    hits = wished_keywords(item, wishes)
    return [f"it has the {hits[0]} theme you wished for"] if hits else []


def _noun(item: Item) -> str:
    """What the item is, in one word: its category ("movie", "phone"), else "item"."""
    return item.category or "item"


def genre_words(values: Sequence[str]) -> str:
    """Genre values as they read in a sentence: "children's and comedy"; animation leads as
    the adjective it is ("animated children's", not "animation and children's")."""
    words = [_GENRE_WORDS.get(v, v.lower()) for v in values]
    if "animated" in words and len(words) > 1:
        return "animated " + _joined([w for w in words if w != "animated"])
    return _joined(words)


def _joined(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def _an(text: str) -> str:
    """ "a 8-inch screen" → "an 8-inch screen"."""
    return re.sub(r"\ba (?=(?:8|11|18)(?:\.\d+)?-)", "an ", text)


def _article(word: str) -> str:
    """ "an Apple", "an action", but "a OnePlus", "a Unihertz"; initialisms are spelt out:
    "an LG", "an HTC", "a ZTE"."""
    if 2 <= len(word) <= 4 and word.isupper() and word.isalpha():
        return "an" if word[0] in "AEFHILMNORSX" else "a"
    low = word.lower()
    if low.startswith(("one", "uni", "use", "eu", "ui")):
        return "a"
    return "an" if low[:1] in "aeiou" else "a"


def sentence(reasons: Sequence[str]) -> str:
    """The reasons as one sentence, "as you asked" said once: "It is a comedy movie, and it is
    from France, as you asked."."""
    if not reasons:
        return ""
    asked = ", as you asked"
    parts = list(reasons)
    tagged = [i for i, r in enumerate(parts) if r.endswith(asked)]
    for i in tagged[:-1]:
        parts[i] = parts[i][: -len(asked)]
    if len(parts) == 1:
        text = parts[0]
    else:
        text = "; ".join(parts[:-1]) + ("; and " if len(parts) > 2 else ", and ") + parts[-1]
    return text[0].upper() + text[1:] + "."


__all__ = ["AROUND_WIDTH", "genre_words", "links", "sentence", "short_title"]
