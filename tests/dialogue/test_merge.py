"""Merging the LLM's grounded reading into the rules' delta: the rules win on numbers, negation
and item ids; the LLM only adds what the rules did not see (pure logic)."""

from __future__ import annotations

import pytest
from kit import TINY_MOVIES

from convrec.dialogue.grounding import Grounder, Reading
from convrec.dialogue.lexicon import Lexicon
from convrec.dialogue.merge import Contradiction, merge
from convrec.dialogue.state import Constraint, Pref, StateDelta

LEX = Lexicon.from_catalog(TINY_MOVIES)


def test_the_llm_adds_what_the_rules_did_not_read() -> None:
    rules = StateDelta(intent="recommend", like=(Pref("genres", "Comedy"),))
    g = Grounder(LEX, "a comedy, maybe with some orror, quirky")
    out = merge(rules, Reading(likes=("Horror",), wishes=("quirky",)), g, refining=False)
    assert out.like == (Pref("genres", "Comedy"), Pref("genres", "Horror"))
    assert out.wishes == ("quirky",)


def test_rules_win_on_numbers_negation_and_ids() -> None:
    rules = StateDelta(
        intent="recommend",
        add=(Constraint("year", "gte", 1990), Constraint("genres", "ne", "Horror", multi=True)),
        liked_items=("2",),
    )
    g = Grounder(LEX, "no horror, after 1990, like Alien")
    reading = Reading(constraints=(("year", "gte", 1980),), liked_titles=("Alien",))
    out = merge(rules, reading, g, refining=False)
    assert out.add == rules.add and out.liked_items == ("2",)  # nothing weakened or doubled
    with pytest.raises(Contradiction):  # the LLM likes what the rules excluded
        merge(rules, Reading(likes=("Horror",)), g, refining=False)


def test_an_llm_intent_needs_something_grounded_behind_it() -> None:
    chitchat = StateDelta(intent="chitchat")
    empty = merge(chitchat, Reading(intent="recommend"), Grounder(LEX, "hi!"), refining=False)
    assert empty.intent == "chitchat"
    g = Grounder(LEX, "hmm, some orror tonight?")
    grounded = merge(chitchat, Reading(intent="recommend", likes=("Horror",)), g, refining=True)
    assert grounded.intent == "recommend" and grounded.like == (Pref("genres", "Horror"),)
