"""The independent explanation reader (pure logic: a hand-made catalog): MessageCheck's named
values, years and amounts, plus quoted phrases and bare numbers, against the item's own fields."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import convrec.evaluation.faithful as faithful
from convrec.catalog.schema import Catalog
from convrec.evaluation.faithful import independent_verdict
from convrec.evaluation.msgcheck import MessageCheck
from convrec.types import Item

PSYCHO = Item("1", "Psycho", "A secretary steals money and checks into a remote motel.",
              category="movie", attributes={
                  "genres": ("Crime", "Horror"), "year": 1960, "runtime_min": 109,
                  "director": ("Alfred Hitchcock",), "cast": ("Anthony Perkins", "Janet Leigh"),
                  "language": ("English",), "mean_rating": 4.18})  # fmt: skip
INCREDIBLES = Item("2", "The Incredibles", category="movie", attributes={
    "genres": ("Animation", "Children", "Comedy"), "year": 2004, "runtime_min": 115,
    "director": ("Brad Bird",), "cast": ("Craig T. Nelson",),
    "language": ("English",)})  # fmt: skip
APOLLO = Item("3", "Apollo 13", category="movie", attributes={
    "genres": ("Drama",), "year": 1995, "director": ("Ron Howard",), "cast": ("Tom Hanks",),
    "language": ("English",)})  # fmt: skip
GALAXY = Item("p1", "Galaxy Nine", "Galaxy Nine is an Android 8.0 phone with a 1440x2960 display.",
              category="phone", attributes={
                  "maker": "Samsung", "os": "Android", "os_version": 8.0, "ram_gb": 4.0,
                  "storage_gb": 64.0, "screen_inches": 5.8, "cores": 8, "cpu_ghz": 2.7,
                  "release_year": 2018, "carrier": "Verizon"})  # fmt: skip
AQUOS = Item("p2", "Aquos Mini", category="phone", attributes={
    "maker": "Sharp", "ram_gb": 2.0, "storage_gb": 16.0, "screen_inches": 4.5, "cores": 4,
    "cpu_ghz": 1.5, "release_year": 2013, "carrier": "Docomo"})  # fmt: skip


@pytest.fixture
def movies(tmp_path: Path) -> MessageCheck:
    return MessageCheck(Catalog("films", tmp_path, (PSYCHO, INCREDIBLES, APOLLO), {}))


@pytest.fixture
def phones(tmp_path: Path) -> MessageCheck:
    return MessageCheck(Catalog("phones", tmp_path, (GALAXY, AQUOS), {}))


@pytest.mark.parametrize(
    "text",
    [
        "Psycho suits you because it is a tense Alfred Hitchcock horror film from 1960.",
        "Psycho suits you because it is a crime story from the sixties with Janet Leigh.",
        "Psycho suits you because it is no comedy and runs under two hours.",
        "Psycho suits you because it is rated 4.2 and 109 minutes long.",
        "Psycho suits you because it is rated 4.18 out of 5.",
        'Psycho suits you because a secretary "checks into a remote motel".',
        "Psycho suits you because it is the 1st Hitchcock film you will love.",
        "Apollo 13 suits you because it is a drama with Tom Hanks from the 90s.",
        "The Incredibles suits you because it is an animated comedy you liked in Psycho.",
    ],
)
def test_supported_movie_claims_pass(movies: MessageCheck, text: str) -> None:
    item = next(it for it in (PSYCHO, INCREDIBLES, APOLLO) if text.startswith(it.title))
    assert independent_verdict(text, item, movies, allowed=("Psycho",)) == (True, [])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Psycho suits you because it is a funny comedy.", "genres: comedy"),
        ("Psycho suits you because Brad Bird directed it.", "director: brad bird"),
        ("Psycho suits you because it is from 1962.", "year: 1962"),
        ("Psycho suits you because it is a film of the 1970s.", "year: 1970s"),
        ("Psycho suits you because it runs 90 minutes.", "runtime_min: 90 minutes"),
        ("Psycho suits you because it is rated 3.9.", "number: 3.9"),
        ("Psycho suits you because it won 3 awards.", "number: 3"),
        ('Psycho suits you because it is "a timeless classic".', 'quote: "a timeless classic"'),
    ],
)
def test_unsupported_movie_claims_fail(movies: MessageCheck, text: str, problem: str) -> None:
    ok, problems = independent_verdict(text, PSYCHO, movies)
    assert not ok
    assert problem in problems


@pytest.mark.parametrize(
    "text",
    [
        "Galaxy Nine suits you because it is a Samsung phone with 4 GB of RAM and 8 cores.",
        "Galaxy Nine suits you because it runs Android 8.0 on a 5.8-inch 1440x2960 screen.",
        "Galaxy Nine suits you because it has 64 GB of storage, an octa-core 2.7 GHz CPU.",
        "Galaxy Nine suits you because it is from 2018 on Verizon, and it is no Sharp.",
        "Aquos Mini suits you because it is a small Sharp with a 4.5-inch screen for Docomo.",
    ],
)
def test_supported_phone_claims_pass(phones: MessageCheck, text: str) -> None:
    item = GALAXY if text.startswith("Galaxy") else AQUOS
    assert independent_verdict(text, item, phones) == (True, [])


@pytest.mark.parametrize(
    ("text", "item", "problem"),
    [
        ("Galaxy Nine suits you because Sharp made it.", GALAXY, "maker: Sharp"),
        ("Galaxy Nine suits you because it has 6 GB of RAM.", GALAXY, "ram_gb: 6 gb"),
        ("Aquos Mini suits you because it has a quad-core 2.0 GHz chip.", AQUOS,
         "cpu_ghz: 2.0 ghz"),
        ("Aquos Mini suits you because it is an octa-core phone.", AQUOS, "cores: octa-core"),
        ("Aquos Mini suits you because it has a 12 MP camera.", AQUOS, "number: 12"),
        ("Aquos Mini suits you because it runs Android 9.", AQUOS, "number: 9"),
        ("Galaxy Nine suits you because of its 1080x1920 screen.", GALAXY,
         "number: 1080x1920"),
    ],
)  # fmt: skip
def test_unsupported_phone_claims_fail(
    phones: MessageCheck, text: str, item: Item, problem: str
) -> None:
    ok, problems = independent_verdict(text, item, phones)
    assert not ok
    assert problem in problems


def test_title_numbers_are_not_claims(movies: MessageCheck) -> None:
    """ "Apollo 13" names no number of the item (the title is blanked first)."""
    assert independent_verdict("Apollo 13 suits you: Tom Hanks.", APOLLO, movies) == (True, [])


def test_shares_no_code_with_the_checker_it_audits() -> None:
    tree = ast.parse(Path(faithful.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    banned = {f"convrec.{m}" for m in ("claims", "grounding", "extractors", "numbers", "lexicon")}
    assert not imported & banned
