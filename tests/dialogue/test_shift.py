"""A newly liked kind replaces the earlier liked kinds the catalog rarely puts with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.catalog.schema import Catalog
from convrec.dialogue.lexicon import Lexicon
from convrec.dialogue.shift import rarely_together
from convrec.dialogue.state import DialogueState, Pref, apply
from convrec.dialogue.understand import understand
from convrec.types import Item, Message


def _films() -> tuple[Item, ...]:
    kinds = (
        [("Animation", "Children", "Comedy")] * 30
        + [("Horror",)] * 60
        + [("Comedy", "Horror")] * 10  # horror comedies: Comedy and Horror go together
        + [("Comedy",)] * 30
        + [("Animation", "Horror")] * 1
        + [("Animation",)] * 40  # 1 of 71 animated films and of 41 horror films: rare
    )
    return tuple(
        Item(str(i), f"Film {i}", category="movie", attributes={"genres": k, "year": 2000})
        for i, k in enumerate(kinds)
    )


@pytest.fixture(scope="module")
def lex() -> Lexicon:
    return Lexicon.from_catalog(Catalog("movies", Path("."), _films()))


def test_kinds_go_together_by_the_catalogs_counts(lex: Lexicon) -> None:
    assert rarely_together(lex, "genres", "Horror", "Children")  # never on one film
    assert rarely_together(lex, "genres", "Animation", "Horror")  # 1 of 71 of each
    assert not rarely_together(lex, "genres", "Comedy", "Horror")  # 10 horror comedies


def _turns(lex: Lexicon, *messages: str) -> DialogueState:
    state, history = DialogueState(), []
    for m in messages:
        history.append(Message("user", m))
        state = apply(state, understand(history, state, lex, None).delta)
        history.append(Message("assistant", "Here are a few."))
    return state


def test_a_scary_turn_drops_the_family_kinds_and_keeps_comedy(lex: Lexicon) -> None:
    state = _turns(lex, "a funny animated movie for the family", "something scary")
    liked = {p.value for p in state.liked if p.attribute == "genres"}
    assert "Horror" in liked and "Comedy" in liked
    assert not liked & {"Children", "Animation"}


def test_kinds_named_together_stay_together(lex: Lexicon) -> None:
    state = _turns(lex, "a scary animated movie")
    liked = {p.value for p in state.liked}
    assert {"Horror", "Animation"} <= liked
    assert Pref("genres", "Horror") in state.liked


def test_a_delta_read_twice_releases_each_kind_once(lex: Lexicon) -> None:
    """Understanding displaces the rules' reading and again the reading merged with the LLM's."""
    from convrec.dialogue.shift import displace
    from convrec.dialogue.state import StateDelta

    state = DialogueState(liked=(Pref("genres", "Children"), Pref("genres", "Animation")))
    once = displace(StateDelta(like=(Pref("genres", "Horror"),)), state, lex)
    assert len(once.release) == 2
    assert displace(once, state, lex).release == once.release
