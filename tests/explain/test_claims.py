"""The deterministic grounding check of explanation text against the item's own fields."""

from __future__ import annotations

from kit import TINY_MOVIES

from convrec.explain.claims import GroundingChecker, checker_for, values_of
from convrec.types import Item

CHECK = GroundingChecker(TINY_MOVIES.items)
ALIEN = TINY_MOVIES["2"]


def test_true_claims_pass_and_invented_ones_are_named() -> None:
    assert CHECK.problems("Alien is a 1979 horror film by Jane Doe.", ALIEN) == []
    assert CHECK.problems("Alien is a romantic comedy.", ALIEN) == [
        "genre Comedy",
        "genre Romance",
    ]
    assert CHECK.problems("Alien, with no horror at all.", ALIEN) == ["denies genre Horror"]


def test_people_are_checked_against_the_item_not_the_catalog() -> None:
    items = [*TINY_MOVIES.items, Item("7", "Big", category="movie",
                                      attributes={"cast": ("Tom Hanks",)})]  # fmt: skip
    check = GroundingChecker(items)
    assert check.problems("Big stars Tom Hanks.", items[-1]) == []
    assert check.problems("Alien stars Tom Hanks.", ALIEN) == ["person Tom Hanks"]


def test_one_checker_per_loaded_catalog() -> None:
    assert checker_for(TINY_MOVIES) is checker_for(TINY_MOVIES)
    assert values_of(("a", "b")) == ("a", "b") and values_of("x") == ("x",)
