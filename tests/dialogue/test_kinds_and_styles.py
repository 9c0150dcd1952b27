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
         keywords: tuple[str, ...] = (), cast: tuple[str, ...] = (),
         country: tuple[str, ...] = ("United States",)) -> Item:  # fmt: skip
    attrs: dict[str, AttrValue] = {"year": year, "genres": genres, "director": (director,),
                                   "keywords": keywords, "cast": cast, "country": country,
                                   "runtime_min": 90 + year % 60}  # fmt: skip
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
    film("2001", "2001: A Space Odyssey", 1968, ("Sci-Fi",), "Stanley Kubrick"),
    film("sw4", "Star Wars: Episode IV - A New Hope", 1977, ("Sci-Fi",), "George Lucas"),
    film("sw5", "Star Wars: Episode V - The Empire Strikes Back", 1980, ("Sci-Fi",),
         "Irvin Kershner"),
    film("sear", "The Searchers", 1956, ("Western",), "John Ford", cast=("John Wayne",)),
    film("rio", "Rio Bravo", 1959, ("Western",), "Howard Hawks", cast=("John Wayne",)),
    film("ghost", "Ghostbusters", 1984, ("Comedy",), "Ivan Reitman", cast=("Bill Murray",)),
    film("lost", "Lost in Translation", 2003, ("Drama",), "Sofia Coppola", cast=("Bill Murray",)),
    film("toy", "Toy Story", 1995, ("Animation", "Children"), "John Lasseter"),
    film("hook", "Hook", 1991, ("Action", "Adventure", "Children"), "Steven Spielberg"),
    film("metro", "Metropolis", 1927, ("Sci-Fi",), "Fritz Lang"),
    film("m", "M", 1931, ("Crime",), "Fritz Lang"),
    film("ten", "10 Years", 2011, ("Comedy",), "Jamie Linden"),
    film("prada", "The Devil Wears Prada", 2006, ("Comedy",), "David Frankel",
         cast=("Meryl Streep",)),
    film("africa", "Out of Africa", 1985, ("Drama",), "Sydney Pollack", cast=("Meryl Streep",)),
    film("prop", "The Proposition", 2005, ("Western",), "John Hillcoat", ("australia", "gore"),
         country=("Australia",)),
    film("matrix", "The Matrix", 1999, ("Sci-Fi",), "Lana Wachowski", ("gore",),
         country=("United States", "Australia")),
    film("american", "The American", 2010, ("Thriller",), "Anton Corbijn"),
    film("vb", "Varsity Blues", 1999, ("Drama",), "Brian Robbins", ("american football",)),
    film("rudy", "Rudy", 1993, ("Drama",), "David Anspaugh", ("american football",)),
    film("hh", "The Haunted House", 1921, ("Comedy",), "Buster Keaton"),
    film("polt", "Poltergeist", 1982, ("Horror",), "Tobe Hooper", ("haunted house",)),
    film("others", "The Others", 2001, ("Horror",), "Alejandro Amenabar", ("haunted house",)),
    *(film(f"old{n}", f"Old {n}", 1920 + n, ("Drama",), "X Y") for n in range(3)),
    film("shift", "Night Shift", 1982, ("Comedy",), "Ron Howard", ("night", "shift")),
    film("civil", "The Civil War", 1990, ("Documentary",), "Ken Burns", ("civil war",)),
    film("mile", "The Green Mile", 1999, ("Drama",), "Frank Darabont"),
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


def test_one_message_keeps_its_tightest_bound(lex: Lexicon) -> None:
    said = extract("a movie under 90 minutes tonight, I don't want a 3 hour epic", lex)
    assert [(c.attribute, c.op, c.value) for c in said.add] == [("runtime_min", "lte", 90)]


def test_a_number_after_skip_names_a_title_and_the_list_shares_the_cue(lex: Lexicon) -> None:
    said = extract("hidden gem sci-fi from the 70s? skip 2001 and star wars, everyone knows those",
                   lex)  # fmt: skip
    assert {c.value for c in said.add} == {1970, 1979}  # no year 2001
    assert set(said.seen_items) == {"2001", "sw4", "sw5"} and not said.ambiguous


@pytest.mark.parametrize(
    "text",
    [
        "he's seen all the John Wayne westerns, any with someone else in the lead?",
        "westerns like John Wayne's but with someone else in the lead",
    ],
)
def test_someone_else_or_seen_them_all_rules_the_person_out(lex: Lexicon, text: str) -> None:
    said = extract(text, lex)
    assert Constraint("cast", "ne", "John Wayne", multi=True) in said.add
    assert Pref("cast", "John Wayne") in said.like  # the style still wanted


def test_a_different_actor_later_rules_out_the_one_liked_before(lex: Lexicon) -> None:
    first = apply(DialogueState(), extract("movies with Bill Murray where he's sad", lex))
    said = extract("more like that but ideally a different actor, I've seen most of his", lex,
                   state=first)  # fmt: skip
    state = apply(first, said)
    assert Constraint("cast", "ne", "Bill Murray", multi=True) in state.constraints
    assert Pref("cast", "Bill Murray") in state.liked and "actor" not in " ".join(said.wishes)


def test_live_action_and_bored_of_cartoons_rule_animation_out(lex: Lexicon) -> None:
    said = extract("the kids are bored of cartoons. live action adventure we can all watch?", lex)
    assert Constraint("genres", "ne", "Animation", multi=True) in said.add
    assert Pref("genres", "Animation") in said.dislike
    assert Pref("genres", "Action") not in said.like and Pref("genres", "Adventure") in said.like


def test_isnt_a_title_an_age_and_a_lower_case_misspelt_name(lex: Lexicon) -> None:
    said = extract("Anything by Fritz Lang that isn't Metropolis?", lex)
    assert said.seen_items == ("metro",) and not said.liked_items
    # "10 year olds" are children, not the film "10 Years"
    assert not extract("movie night with my 7 and 10 year olds", lex).liked_items
    assert extract("I loved 10 Years", lex).liked_items == ("ten",)
    assert extract("best meryl streap movies", lex).like == (Pref("cast", "Meryl Streep"),)


def test_a_setting_a_keyword_ruled_out_and_a_loose_title_of_keywords(lex: Lexicon) -> None:
    said = extract("Any good films set in Australia?", lex)
    assert not said.like and not said.add and said.wishes == ("australia",)
    assert extract("films from Australia", lex).like == (Pref("country", "Australia"),)
    # a negation rules a catalog keyword out, and beats a shorter title inside it
    gore = extract("horror for someone who HATES gore", lex)
    assert Constraint("keywords", "ne", "gore", multi=True) in gore.add
    football = extract("no american football please", lex)
    assert football.add == (Constraint("keywords", "ne", "american football", multi=True),)
    assert not football.seen_items  # not the film The American
    # lower-case keyword words matched loosely are no title ("The Haunted House")
    assert not extract("i want creeping dread, haunted houses", lex).liked_items


def test_old_hollywood_is_the_oldest_tenth_not_the_oldest_quarter(lex: Lexicon) -> None:
    old = extract("an old drama", lex).add
    golden = extract("a courtroom drama, old hollywood", lex).add
    assert [c.op for c in golden] == ["lte"] and golden[0].value < old[0].value


def test_a_shift_an_age_a_title_word_and_a_longer_name_are_no_request(lex: Lexicon) -> None:
    shift = extract("just got off a 12 hour night shift, something gentle", lex)
    assert not shift.add and not shift.liked_items  # no 720-minute bound, no Night Shift
    assert extract("I loved Night Shift", lex).liked_items == ("shift",)
    assert not extract("nothing too graphic, several members are in their 70s", lex).add
    assert {c.value for c in extract("a film from the 70s", lex).add} == {1970, 1979}
    mile = extract("i loved the green mile", lex)
    assert mile.liked_items == ("mile",) and "green" not in mile.wishes
    civil = extract("films set during the Spanish Civil War", lex)
    assert not civil.liked_items and "civil" in " ".join(civil.wishes)
    assert extract("I loved The Civil War", lex).liked_items == ("civil",)


def test_cues_that_rule_nothing_out(lex: Lexicon) -> None:
    liked = apply(DialogueState(), extract("movies with John Wayne", lex))
    more = extract("anyone else?", lex, state=liked)  # asks for more items, not another actor
    assert not any(c.op == "ne" for c in more.add)
    assert extract("I won't mind a comedy", lex).like == (Pref("genres", "Comedy"),)
    # a keyword far from the negation is not ruled out
    far = extract("no romance just a story with gore", lex)  # six words on: not ruled out
    assert not any(c.attribute == "keywords" for c in far.add)


def test_a_length_said_to_be_fine_is_no_limit_and_a_long_epic_is_long(lex: Lexicon) -> None:
    """ "a long epic, 3 hours is totally fine": no runtime of at most 180 minutes, but one of
    at least the catalog's longest tenth."""
    said = extract("want to get lost in a long epic, 3 hours is totally fine", lex).add
    runtime = [c for c in said if c.attribute == "runtime_min"]
    longest = sorted(float(str(it.attributes["runtime_min"])) for it in CATALOG.items)
    assert [c.op for c in runtime] == ["gte"] and runtime[0].value >= longest[len(longest) // 2]
    under = Constraint("runtime_min", "lte", 180, strict=True)
    assert extract("under 3 hours", lex).add == (under,)
