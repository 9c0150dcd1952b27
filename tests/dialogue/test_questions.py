"""Questions about shown items, their answers from the items' own fields, product families from
titles, and relaxing a request nothing meets (pure logic on hand-made items)."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.catalog.schema import Catalog
from convrec.dialogue.extractors import extract
from convrec.dialogue.lexicon import Lexicon
from convrec.dialogue.questions import ItemQuestion, read_question
from convrec.dialogue.state import Constraint, DialogueState, StateDelta
from convrec.explain.answers import answer
from convrec.ranking.relax import relaxations
from convrec.types import AttrValue, Item


def phone(id_: str, title: str, maker: str, ram: float, year: int, screen: float = 5.0,
          category: str = "phone") -> Item:  # fmt: skip
    attrs: dict[str, AttrValue] = {"maker": maker, "ram_gb": ram, "release_year": year,
                                   "screen_inches": screen, "model_code": id_.upper()}  # fmt: skip
    return Item(id_, title, f"{title} is a phone.", category, attrs)


PHONES = (
    phone("z3", "Sony Xperia Z3", "Sony", 3.0, 2014),
    phone("z5", "Sony Xperia Z5", "Sony", 3.0, 2015),
    phone("s5", "Samsung Galaxy S5", "Samsung", 2.0, 2014),
    phone("s6", "Samsung Galaxy S6", "Samsung", 3.0, 2015),
    phone("n3", "Samsung Galaxy Note 3", "Samsung", 3.0, 2013),
    phone("ip6", "Apple iPhone 6", "Apple", 1.0, 2014),
    phone("ip6s", "Apple iPhone 6s", "Apple", 2.0, 2015),
    phone("ip5", "Apple iPhone 5", "Apple", 1.0, 2012),
    phone("xa", "Sony Xperia A", "Sony", 2.0, 2013),
    phone("tab", "Sony Xperia Tablet Z", "Sony", 2.0, 2013, 10.1, "tablet"),
)
ROLES = {"hidden": ["model_code"], "unread": ["model_code"]}
CATALOG = Catalog("phones", Path("."), PHONES, manifest={"roles": ROLES})
ATTRS = ("maker", "ram_gb", "release_year", "screen_inches")


@pytest.mark.parametrize(
    ("message", "act", "items", "attributes", "aspects"),
    [
        ("how much RAM does the first one have?", "ask_item", ("z3",), ("ram_gb",), ()),
        ("tell me more about the second one", "ask_item", ("s5",), (), ()),
        ("tell me more about the Samsung", "ask_item", ("s5",), (), ()),
        ("when did that one come out?", "ask_item", ("z3",), ("release_year",), ()),
        ("does it have a good camera?", "ask_item", ("z3",), (), ("camera",)),
        ("compare the first two", "compare", ("z3", "s5"), (), ()),
        ("which is newer, the first or the third?", "compare", ("z3", "ip6s"), ("release_year",),
         ()),
        ("is the first one newer than the second?", "compare", ("z3", "s5"), ("release_year",),
         ()),
        ("what about the last one, how big is the screen?", "ask_item", ("ip6s",),
         ("screen_inches",), ()),
    ],
)  # fmt: skip
def test_questions_about_shown_items(message: str, act: str, items: tuple, attributes: tuple,
                                     aspects: tuple) -> None:  # fmt: skip
    shown = [CATALOG["z3"], CATALOG["s5"], CATALOG["ip6s"]]
    q = read_question(message, shown, ATTRS)
    assert q is not None and (q.act, q.items, q.attributes, q.aspects) == (act, items, attributes,
                                                                           aspects)  # fmt: skip


@pytest.mark.parametrize(
    "message",
    ["is there anything like the first one?", "do you have something newer than the second?",
     "more like the second but cheaper", "not the first one?", "I like the second one",
     "can you show me more Sony phones?"],
)  # fmt: skip
def test_requests_are_no_questions(message: str) -> None:
    assert read_question(message, [CATALOG["z3"], CATALOG["s5"]], ATTRS) is None
    assert read_question("how much RAM does it have?", [], ATTRS) is None  # nothing shown


def test_answers_come_from_the_items_fields() -> None:
    q = ItemQuestion("ask_item", ("z3",), ("ram_gb", "release_year"), ("camera",))
    said = answer(q.items, q, CATALOG)
    assert "Sony Xperia Z3 has 3 GB of RAM." in said and "came out in 2014" in said
    assert "does not say anything about its camera" in said
    more = answer(("s5",), ItemQuestion("ask_item", ("s5",)), CATALOG)
    assert more.startswith("Samsung Galaxy S5 is a phone.") and "RAM: 2 GB" in more
    assert "model code" not in more and "S5" not in more.split("\n")[1]  # hidden code unsaid
    newer = ItemQuestion("compare", ("z3", "ip6s"), ("release_year",), (), ("release_year", "max"))
    table = answer(("z3", "ip6s"), newer, CATALOG)
    assert table.startswith("Apple iPhone 6s is newer (2015, against 2014).")
    assert "| year | 2014 | 2015 |" in table
    same = answer(("z3", "z5"), ItemQuestion("compare", ("z3", "z5"), ("ram_gb",),
                                             extreme=("ram_gb", "max")), CATALOG)  # fmt: skip
    assert same.startswith("They are the same on RAM: 3 GB.")
    assert answer(("nope",), None, CATALOG) == ""


def test_product_families_from_titles() -> None:
    lex = Lexicon.from_catalog(CATALOG)
    assert {w: lex.values[w][0].value for w in ("iphone", "xperia", "galaxy")} == {
        "iphone": "Apple", "xperia": "Sony", "galaxy": "Samsung"}  # fmt: skip
    said = extract("show me some iPhones", lex)
    assert Constraint("maker", "eq", "Apple") in said.add
    # a family word is no typo target: "first" is not "fires"/"firsts" of anything
    assert lex.typo("xperla") == () or all(r.attribute == "maker" for r in lex.typo("xperla"))


def test_a_question_after_a_list_keeps_the_request() -> None:
    lex = Lexicon.from_catalog(CATALOG)
    said = extract("how much RAM does the second one have?", lex, ("z3", "s5"),
                   DialogueState(turns=1))  # fmt: skip
    assert said.intent == "ask_item" and said.mentioned == ("s5",) and not said.add
    assert said.question is not None and said.question.attributes == ("ram_gb",)
    # after a comparison, "both of them" are the items compared
    after = DialogueState(turns=2, mentioned=("z3", "ip6s"))
    liked = extract("something like both of them", lex, ("s5",), after)
    assert liked.liked_items == ("z3", "ip6s")


def test_relaxing_what_nothing_meets() -> None:
    # "a Samsung with 16 GB of RAM": the Samsungs with the most RAM, said so
    state = DialogueState(constraints=(Constraint("maker", "eq", "Samsung"),
                                       Constraint("ram_gb", "gte", 16.0)))  # fmt: skip
    first = next(relaxations(state, state.constraints, CATALOG))
    assert first.state.constraints == (Constraint("maker", "eq", "Samsung"),
                                       Constraint("ram_gb", "gte", 3.0))  # fmt: skip
    assert "at least 16 GB of RAM" in first.note and "most (3 GB of RAM)" in first.note
    # an earlier turn's constraint gives way first: "Android from Sharp", then "an Apple"
    older = Constraint("release_year", "gte", 2016)
    state = DialogueState(constraints=(older, Constraint("maker", "eq", "Apple")))
    first = next(relaxations(state, (Constraint("maker", "eq", "Apple"),), CATALOG))
    assert first.state.constraints[0] == Constraint("maker", "eq", "Apple")
    # a kind (category) is kept; the number moves: "a tablet with a 4 inch screen"
    state = DialogueState(constraints=(Constraint("category", "eq", "tablet"),
                                       Constraint("screen_inches", "lte", 4.2)))  # fmt: skip
    first = next(relaxations(state, state.constraints, CATALOG))
    assert Constraint("category", "eq", "tablet") in first.state.constraints
    assert Constraint("screen_inches", "lte", 10.1) in first.state.constraints
    assert list(relaxations(DialogueState(), (), CATALOG)) == []


def test_the_delta_carries_no_question_into_the_state() -> None:
    from convrec.dialogue.state import apply

    q = ItemQuestion("ask_item", ("z3",))
    state = apply(DialogueState(), StateDelta(intent="ask_item", mentioned=("z3",), question=q))
    assert state.mentioned == ("z3",) and not hasattr(state, "question")


def test_positions_stay_the_lists_after_a_comparison() -> None:
    lex = Lexicon.from_catalog(CATALOG)
    shown = ("z3", "s5", "ip6s")
    after = DialogueState(turns=2, mentioned=("z3", "ip6s"))  # "compare the first and third"
    said = extract("tell me more about the second one", lex, shown, after)
    assert said.mentioned == ("s5",)
    said = extract("which of the two is newer?", lex, shown, after)
    assert said.intent == "compare" and said.mentioned == ("z3", "ip6s")  # the two compared
    said = extract("how much RAM does it have?", lex, shown, after)
    assert said.mentioned == ("z3",)


def test_like_both_after_a_comparison_and_pasted_data() -> None:
    lex = Lexicon.from_catalog(CATALOG)
    after = DialogueState(turns=1, mentioned=("z3", "s6"))  # compared, nothing listed yet
    said = extract("something like both of them, but not those two", lex, (), after)
    assert said.liked_items == ("z3", "s6")
    data = extract('a Sony {"constraints": [{"attribute": "maker", "value": "Apple"}]}', lex)
    assert [c.value for c in data.add if c.attribute == "maker"] == ["Sony"]  # data is no request


def test_a_family_of_one_kind_names_the_kind_too() -> None:
    ipad = phone("pad", "Apple iPad Air", "Apple", 1.0, 2013, 9.7, "tablet")
    lex = Lexicon.from_catalog(
        Catalog("phones", Path("."), (*PHONES, ipad), manifest={"roles": ROLES})
    )
    iphone = extract("an iphone", lex)  # three iPhones, all phones; Apple also makes a tablet
    assert {Constraint("maker", "eq", "Apple"), Constraint("category", "eq", "phone")} <= set(
        iphone.add
    )
    xperia = extract("an xperia", lex)  # Sony's titles: three phones and a tablet
    assert Constraint("maker", "eq", "Sony") in xperia.add
    assert not any(c.attribute == "category" for c in xperia.add)
    alone = extract("an iphone", Lexicon.from_catalog(CATALOG))  # every Apple item is a phone
    assert not any(c.attribute == "category" for c in alone.add)


def test_a_question_right_after_comparing_by_name() -> None:
    lex = Lexicon.from_catalog(CATALOG)
    after = DialogueState(turns=1, mentioned=("z3", "ip6"))  # "the Z3 or the iPhone 6?"
    said = extract("how much RAM does it have?", lex, (), after)
    assert said.intent == "ask_item" and said.mentioned == ("z3",)
    said = extract("which of the two is newer?", lex, (), after)
    assert said.intent == "compare" and said.mentioned == ("z3", "ip6")


def test_a_code_asked_for_is_answered_but_never_volunteered() -> None:
    coded = Item("c1", "Acme One", "Acme One (AC-1) is a phone.", "phone",
                 {"maker": "Acme", "model_code": "AC-1", "ram_gb": 2.0})  # fmt: skip
    catalog = Catalog("phones", Path("."), (coded,), manifest={"roles": ROLES})
    more = answer(("c1",), ItemQuestion("ask_item", ("c1",)), catalog)
    assert more.startswith("Acme One is a phone.") and "AC-1" not in more
    asked = answer(("c1",), ItemQuestion("ask_item", ("c1",), ("model_code",)), catalog)
    assert "AC-1" in asked
