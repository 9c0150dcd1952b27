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


def _phone(id_: str, maker: str, cores: int) -> Item:
    return Item(id_, f"{maker} {id_}", category="phone",
                attributes={"maker": maker, "cores": cores, "release_year": 2015})  # fmt: skip


def test_core_counts_are_the_items_whatever_the_user_asked() -> None:
    """ "an octa-core processor" about a 2-core phone is false even when the user asked for
    eight cores (numbers the user said may otherwise be repeated back)."""
    phones = [_phone("a", "Apple", 2), _phone("b", "Sharp", 8), _phone("c", "Sony", 4)]
    check = GroundingChecker(phones)
    wanted = "wants cores of at least 8"
    assert check.problems("It has an octa-core processor.", phones[0], wanted) == [
        "cores octa-core"
    ]
    assert check.problems("It has an 8-core processor.", phones[0], wanted) == ["cores 8-core"]
    assert check.problems("It has an octa-core processor.", phones[1], wanted) == []
    assert check.problems("A quad core phone, not an octa-core one.", phones[2]) == []


def test_a_value_named_to_rule_it_out_is_no_claim() -> None:
    phones = [_phone("a", "Apple", 2), _phone("b", "Sharp", 8), _phone("c", "Sony", 4)]
    check = GroundingChecker(phones)
    sony = phones[2]
    assert check.problems("It is not a Sharp, which you do not want.", sony) == []
    assert check.problems("It does not have the maker Sharp.", sony) == []
    assert check.problems("It is a Sharp phone.", sony) == ["maker Sharp"]
