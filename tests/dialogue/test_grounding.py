"""The LLM's reading: strict parsing, then grounding every value, number, wish and title in the
message and the catalog (pure logic over a tiny real catalog)."""

from __future__ import annotations

import pytest
from kit import TINY_MOVIES

from convrec.dialogue.grounding import Grounder, ParseError, Reading, parse
from convrec.dialogue.lexicon import Lexicon

LEX = Lexicon.from_catalog(TINY_MOVIES)


def test_parse_accepts_one_schema_object_and_nothing_partial() -> None:
    r = parse('```json\n{"intent":"recommend","likes":[" Horror ",""],"wishes":["dark"]}\n```')
    assert r == Reading(intent="recommend", likes=("Horror",), wishes=("dark",))
    for bad, why in [
        ("no json here", "not JSON"),
        ('{"likes":["Horror"]}', "missing"),
        ('{"intent":"recommend","mood":"sad"}', "unknown keys"),
        ('{"intent":"buy"}', "is not one of"),
        ('{"intent":"recommend","likes":"Horror"}', "expected array"),
    ]:
        with pytest.raises(ParseError, match=why):
            parse(bad)


def test_values_must_be_catalog_values_said_in_the_message() -> None:
    g = Grounder(LEX, "something with orror, not a comedy")
    assert g.value("Horror") is not None  # a typo of a catalog value the message holds
    assert g.value("Comedy") is not None
    assert g.value("Romance") is None  # a catalog value the user never said
    assert g.value("Western") is None  # no catalog value at all
    assert g.dropped == ["not in the message: 'Romance'", "not a catalog value: 'Western'"]


def test_numbers_and_wishes_come_from_the_message() -> None:
    g = Grounder(LEX, "a dark and gloomy film from after 1985")
    assert g.number(1985) and g.number(1990)  # within 5 %: a model rounding the year
    assert not g.number(1700)
    assert g.wish("gloomy") == "gloomy"
    assert g.wish("cheerful") is None  # not in the message
    assert g.wish("film") is None  # an attribute word or stopword, not a wish
    assert "gloomy" in g.unread() and "1985" not in g.unread()


def test_titles_go_through_the_catalog_matcher() -> None:
    g = Grounder(LEX, "I loved Aliens")
    assert g.title("Aliens") == "3"  # not "Alien": the longer, exact title wins
    assert g.title("Jurassic Park") is None  # a catalog title the user did not say
    # a shown item only when the message points at one: a reading that names a shown title
    # after "ideally made after 2000" puts words in the user's mouth
    assert Grounder(LEX, "I liked that one", shown=("5",)).title("Jurassic Park") == "5"
    assert Grounder(LEX, "ideally made after 2000", shown=("5",)).title("Jurassic Park") is None
    assert Grounder(LEX, "hi").title("Casablanca") is None  # not in the catalog
