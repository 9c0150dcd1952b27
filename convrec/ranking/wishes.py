"""The wish route: items whose keywords say what the user wished for ("vampire movies, more
horror than romance": the films about vampires), matched one way for ranking and explaining."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from convrec.explain.claims import values_of
from convrec.ranking.quality import catalog_quality

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.dialogue.state import DialogueState
    from convrec.types import Hit, Item

WISH_ROUTE = "wish"


def wish_hits(
    catalog: Catalog, state: DialogueState, k: int, allowed: tuple[str, ...] | None = None
) -> list[Hit]:
    """The ``k`` items whose keywords hold the most of the user's wish words, the better known
    first among equals: beside the match route, a horror film about vampires leads the horror
    films."""
    from convrec.types import Hit

    words = wish_words(state.wishes)
    if not words:
        return []
    known = catalog_quality(catalog).known
    pool = catalog.items if allowed is None else [catalog[i] for i in allowed if i in catalog]
    scored = [
        (share, it.id) for it in pool if (share := keyword_share(it, words, state.wishes)) > 0
    ]
    scored.sort(key=lambda t: (-t[0], -known.get(t[1], 0.0), t[1]))
    return [Hit(i, share, WISH_ROUTE) for share, i in scored[:k]]


def wish_words(wishes: Sequence[str]) -> frozenset[str]:
    """The words of the wishes that can name a keyword (longer than three letters)."""
    return frozenset(w for wish in wishes for w in wish.lower().split() if len(w) > 3)


def forms(word: str) -> frozenset[str]:
    """A keyword word as a message may say it: "dystopia" as "dystopian", "heist" as "heists",
    "comedy" as "comedies"."""
    out = {word, word + "s", word + "es", word + "n"}
    if word.endswith("y"):
        out.add(word[:-1] + "ies")
    return frozenset(out)


def wished_keywords(item: Item, wishes: Sequence[str]) -> list[str]:
    """The item's keywords that a wish says whole (its last word in any of its :func:`forms`),
    holding at least one word :func:`wish_words` keeps, longest first: "time travel" when a
    wish says "time travel"; "space travel" never for it; "dystopia" for "dystopian cinema"."""
    words = wish_words(wishes)
    said = [f" {w.lower()} " for w in wishes]
    out = []
    for keyword in values_of(item.attributes.get("keywords")):
        k = " ".join(keyword.lower().split())
        if not k:
            continue
        *head, last = k.split()
        says = [" ".join([*head, f]) for f in forms(last)]
        if any(f" {x} " in s for x in says for s in said) and any(
            w in words for x in says for w in x.split()
        ):
            out.append(k)
    return sorted(dict.fromkeys(out), key=lambda k: (-len(k.split()), k))


def keyword_share(item: Item, words: frozenset[str], wishes: Sequence[str]) -> float:
    """The share of the wish ``words`` (:func:`wish_words` of ``wishes``) that the item's
    :func:`wished_keywords` cover (in any of their :func:`forms`)."""
    if not words:
        return 0.0
    said = {f for k in wished_keywords(item, wishes) for w in k.split() for f in forms(w)}
    return len(words & said) / len(words)
