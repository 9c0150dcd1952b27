"""Simulated users: each has a hidden target item, a persona, and the facts it can tell about it.

Movies (a catalog with MovieLens ``ratings.parquet``): a seeded sample of real MovieLens users. For
each, one movie the user rated ≥ ``TARGET_MIN`` that the catalog has is held out as the target
(MovieLens ``movieId`` → catalog id ``str(movieId)``, as the builder does); the persona comes from
the user's *other* ratings ≥ ``LIKED_MIN``: their favourite genres and a couple of liked titles
they may mention as references. Other catalogs (phones): a seeded sample of catalog items, with no
persona. Targets whose title cannot be kept out of a sentence (``leaks.distinctive``) are skipped.
Simulated MovieLens users are drawn only among the users held out of the collaborative model
(``convrec.catalog.interactions.held_out_user``), so none of their ratings, and no target, is in
the model's training data.

A :class:`Fact` is one thing the user can say about its target ("Something from the 1990s."),
with the share of the catalog that fits it: the smaller, the more it narrows the search.
"""

from __future__ import annotations

import bisect
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from convrec.catalog.interactions import held_out_user
from convrec.catalog.titles import normalize
from convrec.errors import InputError
from convrec.evaluation.simulated.leaks import distinctive, leaks

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.types import Item

TARGET_MIN = 4.5  # a held-out target was rated at least this
LIKED_MIN = 4.0  # persona: the user's other ratings at least this
MIN_LIKED = 5  # other liked catalog movies a user needs for a persona
N_GENRES, N_REFERENCES, N_KEYWORDS, N_CAST = 3, 2, 2, 2
RATINGS_FILE = "ratings.parquet"
USELESS = 0.9  # a fact that nearly every item shares ("a movie") is not worth saying
# Tiers: what a user says first. General facts, then liked titles and plot keywords, then people.
GENERAL, HINT, PEOPLE = 0, 1, 2
# Attributes no user states: ids, codes, counts, prose, specs nobody knows by heart.
UNSAID = frozenset({"model_code", "resolution", "awards", "n_ratings", "mean_rating", "cpu",
                    "os_version", "writer", "title"})  # fmt: skip

# TMDB keywords about the film, not its story: nobody asks for "a duringcreditsstinger".
META_KEYWORD = re.compile(r"stinger|woman director|^\d+s$|independent film|sequel|remake", re.I)

Rating = tuple[str, str, float]  # (user id, catalog item id, rating)


@dataclass(frozen=True)
class SimUser:
    """One simulated user: ``key`` is unique within a run ("movies/u15", "phones/i<id>")."""

    key: str
    catalog: str
    target_id: str
    user_id: str = ""  # the MovieLens userId, "" for a target drawn from the catalog
    liked_genres: tuple[str, ...] = ()  # most liked first
    references: tuple[str, ...] = ()  # ids of liked items the user may name (never the target)


@dataclass(frozen=True)
class Fact:
    """One thing the user can say about its target. ``key`` identifies it in ``revealed`` sets."""

    attribute: str
    value: str
    text: str
    share: float
    tier: int = GENERAL

    @property
    def key(self) -> str:
        return f"{self.attribute}={self.value}"


def read_ratings(catalog: Catalog) -> list[Rating]:
    """The catalog's MovieLens ratings as (user id, item id, rating), items the catalog has."""
    import pandas as pd

    path = catalog.root / RATINGS_FILE
    if not path.is_file():
        raise InputError(
            f"Catalog {catalog.name!r} has no {RATINGS_FILE}. Fix: rebuild it with "
            "`convrec catalog build movies --force`."
        )
    df = pd.read_parquet(path, columns=["userId", "movieId", "rating"])
    rows = zip(df["userId"], df["movieId"], df["rating"], strict=True)
    return [(str(int(u)), str(int(m)), float(r)) for u, m, r in rows if str(int(m)) in catalog]


def _order(ids: Iterable[str]) -> list[str]:
    return sorted(ids, key=lambda s: (len(s), s))  # numeric ids in numeric order


def movie_users(
    catalog: Catalog,
    ratings: Iterable[Rating],
    n: int,
    seed: int,
    *,
    among: Callable[[str], bool] | None = None,
) -> list[SimUser]:
    """``n`` real users with a held-out target each; the first ``m`` of a larger ``n`` are the
    same users with the same targets (so a quick run is a prefix of a full one). ``among``
    restricts the users drawn (:func:`draw_users` passes ``held_out_user``)."""
    by_user: dict[str, dict[str, float]] = {}
    for user, item, rating in ratings:
        if item in catalog and (among is None or among(user)):
            by_user.setdefault(user, {})[item] = rating
    eligible: list[tuple[str, list[str]]] = []
    for user in _order(by_user):
        rated = by_user[user]
        targets = [
            i
            for i in _order(rated)
            if rated[i] >= TARGET_MIN
            and catalog[i].attributes.get("genres")
            and distinctive(catalog[i].title)
        ]
        if targets and sum(r >= LIKED_MIN for r in rated.values()) > MIN_LIKED:
            eligible.append((user, targets))
    random.Random(f"simusers:{seed}").shuffle(eligible)
    titles = Counter(normalize(it.title) for it in catalog.items)
    out = []
    for user, targets in eligible[:n]:
        target = random.Random(f"{seed}:{user}").choice(targets)
        liked = {i: r for i, r in by_user[user].items() if r >= LIKED_MIN and i != target}
        out.append(_persona(catalog, user, target, liked, titles))
    return out


def _persona(
    catalog: Catalog, user: str, target: str, liked: dict[str, float], titles: Counter[str]
) -> SimUser:
    genres = Counter(g for i in liked for g in _values(catalog[i], "genres"))
    favourite = tuple(g for g, _ in sorted(genres.items(), key=lambda kv: (-kv[1], kv[0])))
    goal = catalog[target]
    wanted = set(_values(goal, "genres"))

    def usable(i: str) -> bool:
        title = catalog[i].title
        return (
            titles[normalize(title)] == 1  # one item of that title: the system cannot be unsure
            and distinctive(title)
            and not leaks(title, goal.title)
            and not leaks(goal.title, title)
        )

    refs = sorted(
        (i for i in liked if usable(i)),
        key=lambda i: (
            -len(wanted & set(_values(catalog[i], "genres"))),
            -liked[i],
            -(catalog[i].popularity or 0.0),
            i,
        ),
    )
    return SimUser(f"{catalog.name}/u{user}", catalog.name, target, user,
                   favourite[:N_GENRES], tuple(refs[:N_REFERENCES]))  # fmt: skip


def item_users(catalog: Catalog, n: int, seed: int) -> list[SimUser]:
    """``n`` catalog items as targets (seeded; a smaller ``n`` gives a prefix), no persona."""
    ids = [it.id for it in catalog.items if distinctive(it.title)]
    random.Random(f"simusers:{seed}").shuffle(ids)
    return [SimUser(f"{catalog.name}/i{i}", catalog.name, i) for i in ids[:n]]


def draw_users(catalog: Catalog, n: int, seed: int) -> list[SimUser]:
    """MovieLens users held out of the collaborative model for a catalog with ratings, catalog
    items otherwise."""
    if (catalog.root / RATINGS_FILE).is_file():
        return movie_users(catalog, read_ratings(catalog), n, seed, among=held_out_user)
    return item_users(catalog, n, seed)


def _values(item: Item, attribute: str) -> tuple[str, ...]:
    value = item.category if attribute == "category" else item.attributes.get(attribute)
    if value is None or value == "" or isinstance(value, bool):
        return ()
    return tuple(str(v) for v in value) if isinstance(value, tuple) else (str(value),)


class FactBook:
    """The catalog's value counts, to word each fact of a target and measure its share."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.n = max(len(catalog.items), 1)
        self.counts: dict[str, Counter[str]] = {}
        self.numbers: dict[str, list[float]] = {}
        for it in catalog.items:
            for attr, value in (("category", it.category), *it.attributes.items()):
                if isinstance(value, bool) or value is None or value == "":
                    continue
                if isinstance(value, int | float):
                    self.numbers.setdefault(attr, []).append(float(value))
                else:
                    vals = value if isinstance(value, tuple) else (value,)
                    self.counts.setdefault(attr, Counter()).update(str(v).lower() for v in vals)
        for values in self.numbers.values():
            values.sort()

    def _share(self, attr: str, value: str) -> float:
        return self.counts.get(attr, Counter())[value.lower()] / self.n

    def _between(self, attr: str, lo: float, hi: float) -> float:
        xs = self.numbers.get(attr, [])
        return (bisect.bisect_right(xs, hi) - bisect.bisect_left(xs, lo)) / self.n

    def facts(self, user: SimUser) -> tuple[Fact, ...]:
        """Everything ``user`` can say about its target, none of which names it."""
        item = self.catalog[user.target_id]
        out = [f for attr in ("category", *item.attributes) for f in self._facts(item, attr)]
        for ref in user.references:
            title = self.catalog[ref].title
            out.append(Fact("liked_item", title, f"I also loved {title}.", 1 / self.n, HINT))
        return tuple(f for f in out if f.share < USELESS and not leaks(f.text, item.title))

    def _facts(self, item: Item, attr: str) -> list[Fact]:
        if attr in UNSAID:
            return []
        value = item.category if attr == "category" else item.attributes.get(attr)
        if isinstance(value, int | float) and not isinstance(value, bool):
            fact = self._number(attr, float(value))
            return [fact] if fact else []
        words = _values(item, attr)
        if attr == "keywords":  # the rarest plot keywords tell the most
            words = tuple(w for w in words if not META_KEYWORD.search(w))
            words = tuple(sorted(words, key=lambda w: (self._share(attr, w), w))[:N_KEYWORDS])
        elif attr == "cast":
            words = words[:N_CAST]
        elif attr in ("director", "country", "language"):
            words = words[:1]
        tier = PEOPLE if attr in ("director", "cast") else HINT if attr == "keywords" else GENERAL
        return [Fact(attr, w, say(attr, w), self._share(attr, w), tier) for w in words]

    def _number(self, attr: str, v: float) -> Fact | None:
        """A bound that keeps the target, worded so convrec.dialogue.numbers reads it back."""
        if attr == "year":
            decade = int(v) // 10 * 10
            return Fact(attr, f"{decade}s", f"Something from the {decade}s.",
                        self._between(attr, decade, decade + 9))  # fmt: skip
        if attr == "release_year":
            return Fact(attr, f"{v:g}", f"Released in {v:g} or later.",
                        self._between(attr, v, 1e9))  # fmt: skip
        if attr == "runtime_min":
            lo, hi, value, text = (
                (0, 90, "up to 90", "At most 90 minutes long.")
                if v <= 90
                else (91, 120, "90 to 120", "Between 90 and 120 minutes long.")
                if v <= 120
                else (121, 1e9, "over 120", "More than 120 minutes long.")
            )
            return Fact(attr, value, text, self._between(attr, lo, hi))
        if attr == "screen_inches":
            return Fact(attr, f"{v:g}", f"A {v:g} inch screen.",
                        self._between(attr, v - 0.2, v + 0.2))  # fmt: skip
        floors = {"ram_gb": "GB of RAM", "storage_gb": "GB of storage", "cores": "cores",
                  "cpu_ghz": "GHz"}  # fmt: skip
        if attr in floors:
            return Fact(attr, f"{v:g}", f"At least {v:g} {floors[attr]}.",
                        self._between(attr, v, 1e9))  # fmt: skip
        return None  # a number we do not know how a user would bound


def say(attribute: str, value: str) -> str:
    """The sentence a user says to state ``attribute`` = ``value``."""
    templates = {
        "genres": "Something in the {} genre.", "category": "A {}, please.",
        "director": "Directed by {}.", "cast": "With {} in it.", "country": "A film from {}.",
        "language": "In {}.", "keywords": "Something about {}.", "maker": "Made by {}.",
        "os": "Running {}.", "carrier": "On {}.",
    }  # fmt: skip
    template = templates.get(attribute, attribute.replace("_", " ").capitalize() + ": {}.")
    return template.format(value)


def next_fact(facts: Sequence[Fact], revealed: Iterable[str]) -> Fact | None:
    """The most informative fact not said yet: lower tier first, then the smaller share."""
    said = set(revealed)
    left = [f for f in facts if f.key not in said]
    return min(left, key=lambda f: (f.tier, f.share, f.attribute, f.value), default=None)


__all__ = [
    "Fact",
    "FactBook",
    "SimUser",
    "draw_users",
    "item_users",
    "movie_users",
    "next_fact",
    "read_ratings",
    "say",
]
