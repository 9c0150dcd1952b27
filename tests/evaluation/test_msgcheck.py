"""The free-mode message checker (pure logic: a hand-made catalog): what a message says against
the target's own fields, without convrec's parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.catalog.schema import Catalog
from convrec.evaluation.msgcheck import MessageCheck
from convrec.types import Item

FILMS = (
    Item("1", "Psycho", category="movie", attributes={
        "genres": ("Crime", "Horror"), "year": 1960, "runtime_min": 109,
        "director": ("Alfred Hitchcock",), "cast": ("Anthony Perkins", "Janet Leigh"),
        "language": ("English",)}),
    Item("2", "The Incredibles", category="movie", attributes={
        "genres": ("Animation", "Children", "Comedy"), "year": 2004, "runtime_min": 115,
        "director": ("Brad Bird",), "cast": ("Craig T. Nelson",), "language": ("English",)}),
    Item("3", "Amélie", category="movie", attributes={
        "genres": ("Comedy", "Romance"), "year": 2001, "runtime_min": 122,
        "director": ("Jean-Pierre Jeunet",), "cast": ("Audrey Tautou",),
        "language": ("French",)}),
)  # fmt: skip
PHONES = (
    Item("p1", "Galaxy Nine", category="phone", attributes={
        "maker": "Samsung", "ram_gb": 4.0, "storage_gb": 64.0, "screen_inches": 5.8, "cores": 8,
        "cpu_ghz": 2.7, "release_year": 2018, "carrier": "Verizon"}),
    Item("p2", "Aquos Mini", category="phone", attributes={
        "maker": "Sharp", "ram_gb": 2.0, "storage_gb": 16.0, "screen_inches": 4.5, "cores": 4,
        "cpu_ghz": 1.5, "release_year": 2013, "carrier": "Docomo"}),
)  # fmt: skip


@pytest.fixture
def movies(tmp_path: Path) -> Catalog:
    return Catalog("films", tmp_path, FILMS, {})


@pytest.fixture
def phones(tmp_path: Path) -> Catalog:
    return Catalog("phones", tmp_path, PHONES, {})


@pytest.mark.parametrize(
    ("text", "clash"),
    [
        ("I would like a comedy.", "genres: comedy"),
        ("A romantic film, please.", "genres: romantic"),
        ("Something from 1992.", "year: 1992"),
        ("A film from the eighties.", "year: eighties"),
        ("Something from the late 60s.", "year: late 60s"),
        ("Anything after 1970.", "year: 1970"),
        ("Brad Bird would be the best choice.", "director: brad bird"),
        ("In French, please.", "language: French"),
        ("Under 90 minutes, please.", "runtime_min: 90 minutes"),
        ("It should run over two hours.", "runtime_min: two hours"),
    ],
)
def test_a_value_the_target_lacks_is_a_clash(movies: Catalog, text: str, clash: str) -> None:
    assert clash in MessageCheck(movies).clashes(text, movies["1"])


@pytest.mark.parametrize(
    "text",
    [
        "A scary horror film from the sixties, please.",
        "Directed by Alfred Hitchcock, no comedy.",  # a negated genre claims nothing
        "Something from 1960 with Anthony Perkins, before 1970.",
        "A crime story from the early 1960s, about two hours long.",
        "Not a romantic one. I want something older than 1965.",
        "I loved The Incredibles and want something darker.",  # a liked title, allowed
        "A black and white classic in English, under two hours.",
    ],
)
def test_what_the_target_holds_is_no_clash(movies: Catalog, text: str) -> None:
    check = MessageCheck(movies)
    assert check.clashes(text, movies["1"], allowed=["The Incredibles"]) == []


def test_genres_are_read_in_their_everyday_forms(movies: Catalog) -> None:
    check = MessageCheck(movies)
    assert check.clashes("An animated comedy for the kids' night.", movies["2"]) == []
    assert check.clashes("A cartoon.", movies["3"]) == ["genres: cartoon"]
    assert check.clashes("A romcom from Paris in French.", movies["3"]) == []
    assert check.clashes("Action-packed fun.", movies["3"]) == []  # not the genre Action


def test_phone_amounts_and_names(phones: Catalog) -> None:
    check, galaxy = MessageCheck(phones), phones["p1"]
    assert check.clashes("A Samsung with 4GB of RAM and 64 GB storage, octa-core.", galaxy) == []
    assert check.clashes("A 5.8-inch screen, at least 2 GHz, on Verizon.", galaxy) == []
    assert check.clashes("Released in 2015 or later, 8 cores.", galaxy) == []
    assert check.clashes("I want a Sharp phone.", galaxy) == ["maker: Sharp"]
    assert check.clashes("It has a sharp screen.", galaxy) == []  # a lower-case adjective
    assert check.clashes("4GB of RAM and 128 GB storage.", galaxy) == ["storage_gb: 128 gb"]
    assert check.clashes("A quad-core phone with a 6.5-inch screen.", galaxy) == [
        "screen_inches: 6.5-inch",
        "cores: quad-core",
    ]
    assert check.clashes("Something from before 2016.", galaxy) == ["release_year: 2016"]
    assert check.clashes("No more than 16 GB of storage.", phones["p2"]) == []
