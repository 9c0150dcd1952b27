"""A change of direction: a newly liked kind replaces the earlier liked kinds it rarely goes with.

"a funny animated movie for the family", later "something darker and a bit scary": Horror is
liked now, and Animation and Children, liked two turns ago, no longer apply. Whether two kinds go
together is read from the catalog, not from a list: of its Horror films 0.2% are Children's films
and 0.9% animated, while 0.3% of its Children's films are Horror. Kinds the user names in the
same message are kept together ("a scary animated film"); kinds that often go together stay
("a comedy", then "something scary": horror comedies exist).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from itertools import permutations

from convrec.dialogue.lexicon import Lexicon
from convrec.dialogue.state import DialogueState, Pref, Release, StateDelta

RARELY = 0.02  # together on fewer than 2% of either kind's items: they rarely go together
MIN_ITEMS = 20  # a kind on fewer items says nothing reliable about what it goes with


def _counts(lex: Lexicon) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str, str]]]:
    """Items per (attribute, kind) and per (attribute, kind, other kind), built once per lexicon."""
    if lex._kind_counts is None:
        single: Counter[tuple[str, str]] = Counter()
        pairs: Counter[tuple[str, str, str]] = Counter()
        for item in lex.items.values():
            for attr in lex.attr_roles.genre:
                value = item.attributes.get(attr)
                listed = value if isinstance(value, tuple) else (value,) if value else ()
                kinds = {str(k) for k in listed}
                single.update((attr, k) for k in kinds)
                pairs.update((attr, a, b) for a, b in permutations(kinds, 2))
        lex._kind_counts = (single, pairs)
    counts: tuple[Counter[tuple[str, str]], Counter[tuple[str, str, str]]] = lex._kind_counts
    return counts


def rarely_together(lex: Lexicon, attribute: str, a: str, b: str) -> bool:
    """True when kinds ``a`` and ``b`` of ``attribute`` share fewer than ``RARELY`` of either's
    items (both on at least ``MIN_ITEMS`` items)."""
    single, pairs = _counts(lex)
    na, nb = single[(attribute, a)], single[(attribute, b)]
    if min(na, nb) < MIN_ITEMS:
        return False
    both = pairs[(attribute, a, b)]
    return both < RARELY * na and both < RARELY * nb


def displace(delta: StateDelta, state: DialogueState, lex: Lexicon) -> StateDelta:
    """``delta`` plus the release of each earlier liked kind that a kind liked in this message
    rarely goes with."""
    genre = set(lex.attr_roles.genre)
    new = [p for p in delta.like if p.attribute in genre and p not in state.liked]
    if not new:
        return delta
    gone: list[Pref] = [
        old
        for old in state.liked
        if old.attribute in genre
        and old not in delta.like
        and Release(old.attribute, old.value) not in delta.release  # read twice (rules, LLM)
        and any(
            p.attribute == old.attribute and rarely_together(lex, p.attribute, p.value, old.value)
            for p in new
        )
    ]
    if not gone:
        return delta
    return replace(delta, release=(*delta.release, *(Release(p.attribute, p.value) for p in gone)))


__all__ = ["displace", "rarely_together"]
