"""Films named in free talk: the right film (no look-alikes) with the right polarity."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.catalog.schema import Catalog
from convrec.dialogue.extractors import Lexicon, asked_role, extract
from convrec.types import AttrValue, Item


def movie(id_: str, title: str, year: int, cast: tuple[str, ...] = (), pop: float = 10.0) -> Item:
    attrs: dict[str, AttrValue] = {"year": year, "genres": ("Drama",), "cast": cast}
    return Item(id_, title, category="movie", attributes=attrs, date=str(year), popularity=pop)


RDJ = ("Robert Downey Jr.", "Chris Evans")
CATALOG = Catalog("movies", Path("."), (
    movie("matrix", "The Matrix", 1999, pop=259),
    movie("reloaded", "The Matrix Reloaded", 2003, pop=82),
    movie("revolutions", "The Matrix Revolutions", 2003, pop=54),
    movie("blade", "Blade", 1998, pop=58),
    movie("blade2", "Blade II", 2002, pop=22),
    movie("runner", "Blade Runner", 1982, pop=146),
    movie("toy", "Toy Story", 1995, pop=247),
    movie("toy2", "Toy Story 2", 1999, pop=125),
    movie("toy3", "Toy Story 3", 2010, pop=42),
    movie("titanic", "Titanic", 1997, pop=164),
    movie("titanic53", "Titanic", 1953, pop=12),
    movie("avengers98", "The Avengers", 1998, ("Uma Thurman",), pop=13),
    movie("avengers", "The Avengers", 2012, RDJ, pop=46),
    movie("ultron", "Avengers: Age of Ultron", 2015, RDJ, pop=13),
    movie("inception", "Inception", 2010, pop=143),
    movie("it", "It", 1990, pop=20),
    movie("dave", "Dave", 1993, pop=30),
    movie("future", "The Future", 2011, pop=2),
    movie("night", "Last Night", 1998, pop=3),
    movie("notebook", "The Notebook", 2004, pop=40),
    movie("grownups", "Grown Ups", 2010, pop=20),
    movie("halloween", "Halloween", 1978, pop=60),
))  # fmt: skip


@pytest.fixture(scope="module")
def lex() -> Lexicon:
    return Lexicon.from_catalog(CATALOG)


def opinions(lex: Lexicon, text: str) -> dict[str, set[str]]:
    d = extract(text, lex)
    return {"liked": set(d.liked_items), "disliked": set(d.disliked_items)}


@pytest.mark.parametrize(
    ("text", "liked", "disliked"),
    [
        ("I loved Inception", {"inception"}, set()),
        ("my favourite is Toy Story 3", {"toy3"}, set()),
        ("I'm a big fan of Blade Runner", {"runner"}, set()),
        ("I adore Titanic", {"titanic"}, set()),
        ("I'm really into The Matrix", {"matrix"}, set()),
        ("Inception is one of my all time favorites", {"inception"}, set()),
        ("I couldn't stand Titanic", set(), {"titanic"}),
        ("I hated Titanic", set(), {"titanic"}),
        ("not a fan of Inception", set(), {"inception"}),
        ("I didn't like Blade Runner", set(), {"runner"}),
        ("I'm not really into Titanic", set(), {"titanic"}),
        ("I was disappointed by Inception", set(), {"inception"}),
        ("I wasn't impressed by Inception", set(), {"inception"}),
    ],
)
def test_a_cue_before_the_title(lex: Lexicon, text: str, liked: set, disliked: set) -> None:
    assert opinions(lex, text) == {"liked": liked, "disliked": disliked}


@pytest.mark.parametrize(
    ("text", "liked", "disliked"),
    [
        ("Blade Runner was amazing", {"runner"}, set()),
        ("Inception blew my mind", {"inception"}, set()),
        ("I thought The Matrix was pretty good", {"matrix"}, set()),
        ("The Notebook made me cry, I loved it", {"notebook"}, set()),
        ("I saw Inception which I really enjoyed", {"inception"}, set()),
        ("Titanic was boring", set(), {"titanic"}),
        ("Titanic was way too long and boring", set(), {"titanic"}),
        ("I found Titanic boring", set(), {"titanic"}),
        ("Inception wasn't for me", set(), {"inception"}),
        ("I saw Inception and wasn't a fan", set(), {"inception"}),
        ("The Matrix was good, the sequels not so much.", {"matrix"}, set()),
    ],
)
def test_an_opinion_after_the_title(lex: Lexicon, text: str, liked: set, disliked: set) -> None:
    assert opinions(lex, text) == {"liked": liked, "disliked": disliked}


@pytest.mark.parametrize(
    "text",
    [
        "Have you seen Titanic?",
        "Did you like Titanic?",
        "I haven't seen Inception",
        "I've never seen Toy Story",
        "Is it like Titanic?",
        "a tearjerker like The Notebook would be nice",
        "What is Inception about?",
        "I really wanted to see Blade Runner",
        "I will watch The Matrix tonight",
        "I've heard of The Notebook",
        "I watched Titanic last night",
        "I've seen all the Toy Story movies",
        "It's amazing how the future looks",
    ],
)
def test_a_title_without_an_opinion_is_neither_liked_nor_disliked(lex: Lexicon, text: str) -> None:
    assert opinions(lex, text) == {"liked": set(), "disliked": set()}


def test_an_audience_or_an_occasion_after_for_is_no_title(lex: Lexicon) -> None:
    d = extract("Something like Toy Story but for grown-ups.", lex)
    assert d.liked_items == ("toy",)  # not the film "Grown Ups"
    assert not extract("a scary movie for halloween", lex).liked_items
    assert extract("I'm looking for halloween, I loved it", lex).liked_items == ("halloween",)
    assert extract("I loved Grown Ups", lex).liked_items == ("grownups",)


def test_the_seen_and_the_time_phrase(lex: Lexicon) -> None:
    d = extract("I watched Titanic last night", lex)
    assert d.seen_items == ("titanic",)  # not the film "Last Night"


def test_lists_share_their_opinion(lex: Lexicon) -> None:
    assert opinions(lex, "I liked The Matrix and Blade Runner")["liked"] == {"matrix", "runner"}
    got = opinions(lex, "I loved Inception, Titanic and Toy Story")
    assert got["liked"] == {"inception", "titanic", "toy"}
    got = opinions(lex, "Inception, Titanic and Toy Story 3 were great")
    assert got["liked"] == {"inception", "titanic", "toy3"}
    got = opinions(lex, "I liked Inception, but Titanic was boring")
    assert got == {"liked": {"inception"}, "disliked": {"titanic"}}


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("I liked The Matrix", "matrix"),  # not Reloaded nor Revolutions
        ("I liked Blade Runner", "runner"),  # not Blade
        ("I liked Blade", "blade"),
        ("I liked Toy Story 3", "toy3"),  # not Toy Story
        ("I liked Toy Story", "toy"),
        ("I liked Titanic", "titanic"),  # the 1997 film dwarfs the 1953 one
        ("I liked Titanic (1953)", "titanic53"),
        ("I liked Titanic 1953", "titanic53"),
        ("I really liked the first Avengers", "avengers"),  # the one with a sequel
        ("I loved the first Toy Story", "toy"),
    ],
)
def test_the_named_title_and_no_look_alike(lex: Lexicon, text: str, item: str) -> None:
    d = extract(text, lex)
    assert d.liked_items == (item,) and d.ambiguous == ()


def test_the_first_of_a_title_without_sequels_is_the_earliest(lex: Lexicon) -> None:
    assert extract("I liked the first Titanic", lex).liked_items == ("titanic53",)


def test_words_that_are_no_title(lex: Lexicon) -> None:
    d = extract("It's one I loved", lex)  # "It" opening a sentence
    assert d.liked_items == () and d.mentioned == () and d.ambiguous == ()
    assert extract("I'm a huge fan of Dave Chapelle", lex).liked_items == ()  # a person
    assert extract("I liked IT", lex).liked_items == ("it",)  # capitals name the film
    assert extract("I liked Dave", lex).liked_items == ("dave",)


def test_a_reply_of_titles_takes_its_role_from_the_question(lex: Lexicon) -> None:
    assert asked_role("What was the last movie you watched?") == "seen"
    assert asked_role("What is your favorite comedy?") == "liked"
    assert asked_role("What's the last movie you watched and enjoyed?") == "liked"
    assert asked_role("Would you like a recommendation?") is None
    d = extract("Titanic", lex, asked="What was the last movie you saw?")
    assert d.seen_items == ("titanic",) and d.liked_items == ()
    d = extract("Inception, Toy Story", lex, asked="What are some of your favorite movies?")
    assert d.liked_items == ("inception", "toy")
    # a sentence with its own cue keeps it
    d = extract("I hated Titanic", lex, asked="What are some of your favorite movies?")
    assert d.disliked_items == ("titanic",)


def described(id_: str, title: str, year: int, genres: tuple[str, ...] = ("Drama",)) -> Item:
    attrs: dict[str, AttrValue] = {"year": year, "genres": genres}
    return Item(id_, title, description="Old friends stay together in real life, the whole time.",
                category="movie", attributes=attrs, date=str(year), popularity=10.0)  # fmt: skip


# Twenty descriptions use "together", "real" and "life" in lower case: everyday words here.
EVERYDAY_CATALOG = Catalog("movies", Path("."), (
    described("joe", "Joe Versus the Volcano", 1990),
    described("miss", "Miss Violence", 2013),
    described("together", "Together", 2000),
    described("real", "Real Life", 1979),
    described("guy", "How to Lose a Guy in 10 Days", 2003, ("Comedy", "Romance")),
    described("spider", "Spider", 2002),
    described("it", "It", 1990),
    described("wick", "John Wick", 2014, ("Action",)),
    described("runner", "Blade Runner", 1982),
    described("brave", "Braveheart", 1995),
    described("fifth", "The Fifth Element", 1997),
    described("goodfellas", "Goodfellas", 1990),
    described("hole", "The Hole", 2001),
    described("island", "Shutter Island", 2010),
    described("ryan", "Saving Private Ryan", 1998, ("War",)),
    *(described(f"f{n}", f"Filler {n}", 2000) for n in range(14)),
))  # fmt: skip


@pytest.mark.parametrize(
    ("text", "liked"),
    [
        # a list of titles shares its role even when its first title is a lone word
        ("Also Braveheart, Saving Private Ryan", {"brave", "ryan"}),
        ("Joe vs. the Volcano is my favourite", {"joe"}),  # "vs" for "versus"
        ("I loved her in How to Lose a Guys in 10 Days", {"guy"}),  # a plural is a typo
        # a fuzzy title never misspells a short or dissimilar word
        ("I liked John Wick for the mindless violence", {"wick"}),
        # a lower-case everyday word is no one-word title
        ("I like when those two act together", set()),
        # everyday words before a genre qualify it
        ("Real life drama", set()),
        # a year the catalog's film lacks names another film; a hyphenated word is no title
        ("my favourites: IT (2017), Spider-Man and Blade Runner", {"runner"}),
        ("i really liked 5th element", {"fifth"}),  # a figure for an ordinal
        ("crime movies like Good fellas", {"goodfellas"}),  # two words for one
        # a request opens a "like X" several words before it
        ("I'm looking for something along the lines of like Shutter Island", {"island"}),
    ],
)
def test_no_title_from_everyday_words_and_typos_that_are(text: str, liked: set) -> None:
    lex = Lexicon.from_catalog(EVERYDAY_CATALOG)
    assert set(extract(text, lex).liked_items) == liked


@pytest.mark.parametrize(
    ("text", "liked"),
    [
        ("Blade 2 was great", {"blade2"}),  # a number after a title: the sequel
        ("I loved the Toy Story movies", {"toy"}),  # a series: its first film
        ("I like the avengers movies", {"avengers"}),
        ("I loved Uma Thurman in The Avengers", {"avengers98"}),  # a credited person decides
    ],
)
def test_sequels_series_and_credits_pick_the_film(lex: Lexicon, text: str, liked: set) -> None:
    assert opinions(lex, text)["liked"] == liked


def test_a_kind_of_film_is_no_series(lex: Lexicon) -> None:
    assert opinions(lex, "I love notebook movies")["liked"] == set()


def test_a_loose_match_of_everyday_words_is_no_title() -> None:
    from convrec.dialogue.lexicon import tokenize
    from convrec.dialogue.title_match import find_titles

    lex = Lexicon.from_catalog(EVERYDAY_CATALOG)
    text = "Saving Private Ryan was the best of the whole bunch"  # "the whole" is no "The Hole"
    assert [m.ids for m in find_titles(lex, text, tokenize(text))] == [("ryan",)]


def told(id_: str, title: str, year: int = 2000) -> Item:
    return Item(id_, title, description="A true story of a quiet place.", category="movie",
                attributes={"year": year}, date=str(year), popularity=10.0)  # fmt: skip


# Twenty descriptions use "true", "story", "quiet" and "place" in lower case.
DESCRIBED_CATALOG = Catalog("movies", Path("."), (
    told("true", "True Story", 2015),
    told("pirate", "The Pirate Movie", 1982),
    told("quiet", "A Quiet Place", 2018),
    told("scary", "Scary Movie", 2000),
    told("elf", "Elf", 2003),
    told("avatar", "Avatar", 2009),
    told("ted", "Ted", 2012),
    told("oldboy", "Old Boy", 2003),
    *(told(f"f{n}", f"Filler {n}") for n in range(20)),
))  # fmt: skip


@pytest.mark.parametrize(
    ("text", "liked"),
    [
        # lower-case words after "a" (and adjectives) describe a kind of film
        ("a survival movie, ideally based on a true story", set()),
        ("I'm in the mood for a fun swashbuckling pirate movie", set()),
        ("something like a scary movie for halloween night", set()),
        # ... unless the title starts with the article, or is typed as a title
        ("I loved a quiet place", {"quiet"}),
        ("I loved True Story with Jonah Hill", {"true"}),
        ("I liked The Pirate Movie", {"pirate"}),
        ("my favourite is scary movie", {"scary"}),
    ],
)
def test_a_described_kind_of_film_is_no_title(text: str, liked: set) -> None:
    lex = Lexicon.from_catalog(DESCRIBED_CATALOG)
    assert set(extract(text, lex).liked_items) == liked


@pytest.mark.parametrize(
    ("text", "liked"),
    [
        ("i would love elf", {"elf"}),  # a short lower-case title right after an opinion verb
        ("but Ted came to mind", {"ted"}),  # an opinion after the title
        ("what is your favorite part of Avatar", set()),  # the other's opinion is asked
        ("I loved Oldboy", {"oldboy"}),  # a two-word title written as one word
    ],
)
def test_opinion_cues_around_a_title(text: str, liked: set) -> None:
    lex = Lexicon.from_catalog(DESCRIBED_CATALOG)
    assert set(extract(text, lex).liked_items) == liked
