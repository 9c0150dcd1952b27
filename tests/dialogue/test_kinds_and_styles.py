"""What a request rules out or describes rather than names (pure logic on hand-made items): a
person's style without their films, a possessive name, a title given as an example of what to
skip (with its series), a decade "or later", and a keyword phrase that holds a genre word."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.catalog.schema import Catalog
from convrec.dialogue.extractors import Lexicon, extract
from convrec.dialogue.state import Constraint, DialogueState, Pref, apply
from convrec.types import AttrValue, Item


def film(id_: str, title: str, year: int, genres: tuple[str, ...], director: str,
         keywords: tuple[str, ...] = ()) -> Item:  # fmt: skip
    attrs: dict[str, AttrValue] = {"year": year, "genres": genres, "director": (director,),
                                   "keywords": keywords}  # fmt: skip
    return Item(id_, title, category="movie", attributes=attrs, date=str(year), popularity=5.0)


SPY = ("cold war", "spy")
# fmt: off
CATALOG = Catalog("movies", Path("."), (
    film("rush", "Rushmore", 1998, ("Comedy",), "Wes Anderson"),
    film("tenen", "The Royal Tenenbaums", 2001, ("Comedy", "Drama"), "Wes Anderson"),
    film("pulp", "Pulp Fiction", 1994, ("Crime",), "Quentin Tarantino"),
    film("lotr", "The Lord of the Rings", 1978, ("Animation", "Fantasy"), "Ralph Bakshi"),
    film("fell", "The Lord of the Rings: The Fellowship of the Ring", 2001, ("Fantasy",),
         "Peter Jackson"),
    film("tow", "The Lord of the Rings: The Two Towers", 2002, ("Fantasy",), "Peter Jackson"),
    film("spy1", "Torn Curtain", 1966, ("Thriller",), "Alfred Hitchcock", SPY),
    film("spy2", "The Spy Who Came in from the Cold", 1965, ("Drama",), "Martin Ritt", SPY),
    film("spy3", "Bridge of Spies", 2015, ("Drama", "Thriller"), "Steven Spielberg", SPY),
    film("ww2", "Saving Private Ryan", 1998, ("Drama", "War"), "Steven Spielberg",
         ("world war ii",)),
    film("ww2b", "Das Boot", 1981, ("War",), "Wolfgang Petersen", ("world war ii",)),
    film("ww2c", "Patton", 1970, ("War",), "Franklin J. Schaffner", ("world war ii",)),
))
# fmt: on


@pytest.fixture(scope="module")
def lex() -> Lexicon:
    return Lexicon.from_catalog(CATALOG)


ANDERSON = Constraint("director", "ne", "Wes Anderson", multi=True)


@pytest.mark.parametrize(
    "text",
    [
        "something quirky with a Wes Anderson feel, but not actually by him",
        "like Wes Anderson but none of his films",
        "a Wes Anderson style, just not one of his",
    ],
)
def test_a_person_liked_for_their_style_and_ruled_out(lex: Lexicon, text: str) -> None:
    said = extract(text, lex)
    assert Pref("director", "Wes Anderson") in said.like and ANDERSON in said.add
    # both stay in the state: the like is the style, the constraint keeps his films out
    state = apply(DialogueState(), said)
    assert ANDERSON in state.constraints and Pref("director", "Wes Anderson") in state.liked


@pytest.mark.parametrize(
    "text", ["I love Wes Anderson, not his newer stuff", "a Wes Anderson film, not his comedies"]
)
def test_a_pronoun_qualified_further_rules_no_person_out(lex: Lexicon, text: str) -> None:
    assert ANDERSON not in extract(text, lex).add


def test_a_later_like_still_lifts_an_earlier_exclusion(lex: Lexicon) -> None:
    before = apply(DialogueState(), extract("nothing by Wes Anderson", lex))
    assert ANDERSON in before.constraints
    after = apply(before, extract("actually I do like Wes Anderson", lex))
    assert ANDERSON not in after.constraints


@pytest.mark.parametrize("text", ["movies like Quentin Tarantino's", "Quentin Tarantino’s best"])
def test_a_possessive_name_is_the_person(lex: Lexicon, text: str) -> None:
    assert extract(text, lex).like == (Pref("director", "Quentin Tarantino"),)


def test_a_title_given_as_an_example_of_what_to_skip_is_disliked_with_its_series(
    lex: Lexicon,
) -> None:
    said = extract("skip the big franchise stuff like Lord of the Rings", lex)
    assert set(said.disliked_items) == {"lotr", "fell", "tow"} and not said.liked_items
    assert "skip" not in " ".join(said.wishes)
    # an example of what is wanted is liked, and a comma ends what a negation reaches
    assert extract("I'm not sure, something like Rushmore", lex).liked_items == ("rush",)
    # "like" as the verb of a dislike: the film named, not its series
    said = extract("I don't like The Lord of the Rings", lex)
    assert said.disliked_items == ("lotr",)


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("dramas from the 2000s or later", {Constraint("year", "gte", 2000)}),
        ("the 90s onwards", {Constraint("year", "gte", 1990)}),
        ("80s or earlier please", {Constraint("year", "lte", 1989)}),
        ("the 90s or 2000s", {Constraint("year", "gte", 1990), Constraint("year", "lte", 2009)}),
    ],
)
def test_a_decade_or_later_is_one_bound(lex: Lexicon, text: str, bounds: set) -> None:
    said = extract(text, lex)
    assert set(said.add) == bounds and not {"later", "earlier", "onwards"} & set(said.wishes)


def test_a_keyword_phrase_whose_items_lack_its_genre_is_a_topic(lex: Lexicon) -> None:
    assert lex.topic_phrases() == {"cold war": "war"}  # "world war ii" films are war films
    said = extract("a spy movie with real Cold War atmosphere", lex)
    assert not said.like and said.wishes[-1] == "cold war"
    assert "cold" not in " ".join(said.wishes[:-1])
    assert extract("a world war ii movie", lex).like == (Pref("genres", "War"),)
