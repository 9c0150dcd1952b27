"""Titles given as examples of what to recommend, words that only look like titles, negations
people type and amounts of memory (pure logic on hand-made items)."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.catalog.schema import Catalog
from convrec.dialogue.extractors import Lexicon, extract
from convrec.dialogue.state import Constraint, Pref
from convrec.types import AttrValue, Item


def film(id_: str, title: str, genres: tuple[str, ...], keywords: tuple[str, ...] = ()) -> Item:
    attrs: dict[str, AttrValue] = {"year": 2005, "genres": genres, "keywords": keywords}
    return Item(id_, title, category="movie", attributes=attrs, popularity=5.0)


# fmt: off
MOVIES = Catalog("movies", Path("."), (
    film("primer", "Primer", ("Sci-Fi",)),
    film("moon", "Moon", ("Sci-Fi", "Drama"), ("space", "moon")),
    film("exm", "Ex Machina", ("Sci-Fi",)),
    film("se7en", "Se7en", ("Thriller",)),
    film("conv", "The Conversation", ("Thriller",)),
    film("klute", "Klute", ("Thriller",)),
    film("prisoners", "Prisoners", ("Thriller",)),
    film("coh", "Coherence", ("Sci-Fi",)),
    film("walk", "Walking and Talking", ("Comedy", "Romance")),
    film("spidey", "Spider-Man", ("Action",)),
    film("sw", "Star Wars", ("Sci-Fi",), ("space battle", "explosion")),
    film("swe", "The Empire Strikes Back", ("Sci-Fi",), ("space battle", "space")),
    film("boom", "Armageddon", ("Action",), ("explosion",)),
))
PHONES = Catalog("phones", Path("."), tuple(
    Item(f"p{n}", title, category="phone",
         attributes={"maker": maker, "os": os, "ram_gb": 4.0, "storage_gb": 64.0})
    for n, (title, maker, os) in enumerate([
        ("Apple iPhone 6", "Apple", "iOS"), ("Apple iPhone 7", "Apple", "iOS"),
        ("Apple iPhone 8", "Apple", "iOS"), ("Samsung Galaxy S8", "Samsung", "Android"),
        ("Sony Xperia Z5", "Sony", "Android"),
    ])
))
# fmt: on


@pytest.fixture(scope="module")
def movies() -> Lexicon:
    return Lexicon.from_catalog(MOVIES)


@pytest.fixture(scope="module")
def phones() -> Lexicon:
    return Lexicon.from_catalog(PHONES)


@pytest.mark.parametrize(
    ("text", "liked"),
    [
        ("im into sci fi that makes you think, like Primer, Moon, Ex Machina.",
         ("primer", "moon", "exm")),
        ("I love thrillers, like Se7en", ("se7en",)),
        ("slow-burn thrillers from the 70s, in the vein of The Conversation or Klute.",
         ("conv", "klute")),
        ("ok and what else is like Prisoners", ("prisoners",)),
    ],
)  # fmt: skip
def test_titles_given_as_examples_are_liked(
    movies: Lexicon, text: str, liked: tuple[str, ...]
) -> None:
    said = extract(text, movies)
    assert said.liked_items == liked and said.intent == "recommend"


def test_a_comparison_without_a_kind_stays_no_opinion(movies: Lexicon) -> None:
    assert not extract("is it like Primer?", movies).liked_items
    assert not extract("I hate thrillers, like Se7en", movies).liked_items  # a kind ruled out


def test_words_joined_by_hyphens_name_no_title(movies: Lexicon) -> None:
    said = extract("we're craving more of that walking-and-talking romance vibe", movies)
    assert not said.liked_items and Pref("genres", "Romance") in said.like
    assert extract("I loved Walking and Talking", movies).liked_items == ("walk",)
    assert extract("I loved Spider-Man", movies).liked_items == ("spidey",)


def test_seen_before_a_question_about_something_else(movies: Lexicon) -> None:
    said = extract("seen Moon and Coherence already, anything less well known?", movies)
    assert said.seen_items == ("moon", "coh")


def test_a_negated_plural_keyword_and_a_word_that_only_describes(movies: Lexicon) -> None:
    """ "not big explosions and space battles": explosion and space battle are out; "space"
    alone is not (Moon is set in space)."""
    said = extract("sci fi, not big explosions and space battles", movies)
    out = {c.value for c in said.add if c.attribute == "keywords" and c.op == "ne"}
    assert out == {"explosion", "space battle"}


@pytest.mark.parametrize(
    "text",
    [
        "only Android please, she doesn't get along with iPhones",
        "no iPhones",
        "she can't stand iPhones",
    ],
)
def test_a_product_family_ruled_out_rules_out_its_maker_not_the_category(
    phones: Lexicon, text: str
) -> None:
    said = extract(text, phones)
    assert Constraint("maker", "ne", "Apple") in said.add
    assert not [c for c in said.add if c.attribute == "category" and c.op == "ne"]


def test_new_negation_cues(phones: Lexicon) -> None:
    assert Constraint("maker", "ne", "Samsung") in extract("he can't stand Samsung", phones).add
    assert Pref("maker", "Sony") in extract("she doesn't like Sony", phones).dislike


def test_world_wars_as_people_write_them_and_a_keyword_longer_than_a_value() -> None:
    """ "WWII" is the keyword "world war ii"; ruled out, it leaves other war films in (not the
    War genre), and "no american football" stays the sport, not American films."""
    from convrec.dialogue.extractors import respell

    assert respell("no WWII films, nor ww1 or the Great War") == (
        "no World War II films, nor World War I or World War I"
    )
    assert respell("films about world war 2") == "films about World War II"
    films = Catalog("movies", Path("."), (
        film("a", "Das Boot", ("War",), ("world war ii",)),
        film("b", "Patton", ("War",), ("world war ii",)),
        film("c", "Rudy", ("Drama",), ("american football",)),
        film("d", "Varsity Blues", ("Drama",), ("american football",)),
        Item("e", "Rocky", category="movie",
             attributes={"genres": ("Drama",), "country": ("United States",)}),
    ))  # fmt: skip
    lex = Lexicon.from_catalog(films)
    said = extract("I love war films but I'm tired of the WWII ones", lex)
    assert Constraint("keywords", "ne", "world war ii", multi=True) in said.add
    assert Pref("genres", "War") in said.like and not said.dislike
    football = extract("no american football please", lex).add
    assert football == (Constraint("keywords", "ne", "american football", multi=True),)
    assert Pref("country", "United States") in extract("an american drama", lex).like


def test_one_phone_sold_as_several_models_is_one_title() -> None:
    """The Xperia Z3 of three carriers (one title, one year) is the phone the user has, not a
    question of which one."""
    models = Catalog("phones", Path("."), tuple(
        Item(code, "Sony Xperia Z3", category="phone", date="2014-10-22", popularity=pop,
             attributes={"maker": "Sony"})
        for code, pop in (("401SO", 1.0), ("SO-01G", 3.0), ("SOL26", 2.0))
    ))  # fmt: skip
    said = extract("I loved my Xperia Z3", Lexicon.from_catalog(models))
    assert said.liked_items == ("SO-01G",) and not said.ambiguous
