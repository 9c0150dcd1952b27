"""Ask-or-recommend policy: information-gain choice, budget, no repeats, exploration."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.catalog.schema import Catalog
from convrec.config import load_settings
from convrec.dialogue.ask import template
from convrec.dialogue.policy import Policy, explore, info_gain
from convrec.dialogue.state import Constraint, DialogueState, Pref, StateDelta, apply
from convrec.types import AttrValue, Item


def phone(i: int, maker: str, os: str, ram: float) -> Item:
    attrs: dict[str, AttrValue] = {"maker": maker, "os": os, "ram_gb": ram, "model_code": f"X{i}"}
    return Item(f"p{i}", f"{maker} {i}", category="phone", attributes=attrs)


# Four makers spread evenly; os is nearly constant (all Android but one); ram has three levels.
PHONES = Catalog("phones", Path("."), tuple(
    phone(i, ("Samsung", "LG", "Sony", "HTC")[i % 4], "iOS" if i == 0 else "Android",
          (1.0, 2.0, 3.0)[i % 3])
    for i in range(16)
))  # fmt: skip
FLAT = [(it, 0.5) for it in PHONES.items]  # equal scores: nothing is concentrated


def test_info_gain_prefers_the_attribute_that_splits() -> None:
    items = [it for it, _ in FLAT]
    w = [1 / len(items)] * len(items)
    maker, maker_opts = info_gain(items, w, "maker")
    os, _ = info_gain(items, w, "os")
    assert maker == pytest.approx(2.0)  # four equal makers: exactly two bits
    assert os < 0.5 < maker
    assert set(maker_opts) == {"Samsung", "LG", "Sony", "HTC"}
    assert info_gain(items, w, "model_code", max_options=4)[0] < maker  # 16 values, 4 offered
    # four of sixteen model codes hold a quarter of the weight: most would answer "else"
    assert info_gain(items, w, "model_code", max_options=4, min_coverage=0.3) == (0.0, ())
    assert info_gain(items, w, "maker", min_coverage=0.3)[0] == pytest.approx(2.0)


def test_asks_the_best_attribute_with_concrete_options() -> None:
    d = Policy(max_questions=3).decide(DialogueState(), FLAT)
    assert d.action == "ask" and d.attribute == "maker"
    assert 2 <= len(d.options) <= 4
    assert set(d.options) <= {it.attributes["maker"] for it, _ in FLAT}


def test_never_asks_the_same_or_a_known_attribute_twice() -> None:
    policy = Policy(max_questions=5, enough=3)
    state = DialogueState()
    asked: list[str] = []
    for _ in range(3):
        d = policy.decide(state, FLAT)
        if d.action != "ask":
            break
        assert d.attribute not in asked
        asked.append(str(d.attribute))
        state = apply(state, StateDelta(asked=(str(d.attribute),)))
    assert asked[:2] == ["maker", "ram_gb"]
    known = apply(DialogueState(), StateDelta(add=(Constraint("maker", "eq", "LG"),)))
    assert policy.decide(known, FLAT).attribute == "ram_gb"
    liked = apply(DialogueState(), StateDelta(like=(Pref("ram_gb", "2"),)))
    assert policy.decide(liked, FLAT).attribute == "maker"


def test_numeric_questions_offer_ranges() -> None:
    state = apply(DialogueState(), StateDelta(asked=("maker",)))
    d = Policy().decide(state, FLAT)
    assert d.attribute == "ram_gb"
    assert d.options == ("under 2", "2 to under 3", "3 or more")  # one range per level, in order
    assert d.exhaustive  # ranges cover every phone
    assert template(d) == "Which amount of RAM would you like: under 2, 2 to under 3 or 3 or more?"
    maker = Policy().decide(DialogueState(), FLAT)
    assert maker.attribute == "maker" and len(maker.options) == 4 and maker.exhaustive
    assert "something else" not in template(maker)  # every maker is offered


def test_one_thing_told_is_enough_to_recommend() -> None:
    """A user who said what they want sees recommendations and refines from them; the
    questions are for a cold start (issue: three questions before any list)."""
    for delta in (
        StateDelta(add=(Constraint("ram_gb", "gte", 2.0),)),
        StateDelta(like=(Pref("maker", "LG"),)),
        StateDelta(wishes=("a good camera",)),
        StateDelta(liked_items=("p3",)),
        StateDelta(seen_items=("p3",)),  # "I already have the X, a similar one"
        StateDelta(rejected=("p3",)),  # "none of these" after a photo search
    ):
        d = Policy().decide(apply(DialogueState(), delta), FLAT)
        assert d.action == "recommend" and "told 1" in d.reason, delta
    category_only = apply(DialogueState(), StateDelta(add=(Constraint("category", "eq", "phone"),)))
    assert Policy().decide(category_only, FLAT).action == "ask"
    one = apply(DialogueState(), StateDelta(like=(Pref("maker", "LG"),)))
    assert Policy(enough=2).decide(one, FLAT).action == "ask"


def test_budget_then_recommend() -> None:
    settings = load_settings(environ={}, limits={"max_questions": 1})
    policy = Policy.from_settings(settings)
    assert policy.max_questions == 1 and policy.top_k == settings.limits.recommendations
    state = DialogueState()
    assert policy.decide(state, FLAT).action == "ask"
    state = apply(state, StateDelta(asked=("maker",)))
    d = policy.decide(state, FLAT)
    assert d.action == "recommend" and "budget" in d.reason


def test_recommends_when_concentrated_or_asked() -> None:
    peaked = [(it, 0.9 if i < 3 else 0.3) for i, (it, _) in enumerate(FLAT)]
    told = DialogueState(wishes=("a phone with a good camera",))
    d = Policy(concentration=0.6, enough=2).decide(told, peaked)
    assert d.action == "recommend" and "weight" in d.reason
    # the same candidates with a stricter threshold still get a question
    assert Policy(concentration=0.9999999, enough=2).decide(told, peaked).action == "ask"
    # at a cold start the ranking is only the prior, however peaked: ask first
    assert Policy(concentration=0.6).decide(DialogueState(), peaked).action == "ask"
    # concentration does not depend on the scale of the scores
    wide = [(it, 10 * s) for it, s in peaked]
    assert Policy(concentration=0.6).weights([s for _, s in wide]) == pytest.approx(
        Policy(concentration=0.6).weights([s for _, s in peaked]), abs=0.05
    )
    insist = apply(DialogueState(), StateDelta(intent="recommend", insist=True))
    assert Policy().decide(insist, FLAT).action == "recommend"
    assert Policy(top_k=5).decide(DialogueState(), FLAT[:4]).action == "recommend"


def test_clarify_and_answer_come_first() -> None:
    amb = apply(DialogueState(), StateDelta(ambiguous=("p1", "p2")))
    assert Policy().decide(amb, FLAT).item_ids == ("p1", "p2")
    ask = apply(DialogueState(), StateDelta(intent="ask_item", mentioned=("p3",)))
    d = Policy().decide(ask, FLAT)
    assert d.action == "answer" and d.item_ids == ("p3",)


def test_no_useful_question_means_recommend() -> None:
    same = [(phone(i, "LG", "Android", 2.0), 0.5) for i in range(10)]
    d = Policy().decide(DialogueState(), same)
    assert d.action == "recommend" and "split" in d.reason


def test_exploration_is_seeded_and_switchable() -> None:
    ranked = [(it, 1.0 - i * 0.01) for i, (it, _) in enumerate(FLAT)]
    state = DialogueState()
    off = explore(ranked, state, mode="off")
    assert [it.id for it, _ in off] == [it.id for it, _ in ranked]
    a = explore(ranked, state, mode="thompson", seed=1, weight=0.2)
    b = explore(ranked, state, mode="thompson", seed=1, weight=0.2)
    c = explore(ranked, state, mode="thompson", seed=2, weight=0.2)
    assert [it.id for it, _ in a] == [it.id for it, _ in b]
    assert [it.id for it, _ in a] != [it.id for it, _ in c]
    assert [it.id for it, _ in a] != [it.id for it, _ in off]  # it does explore
    eps = explore(ranked, state, mode="epsilon", epsilon=1.0, top_k=5)
    assert [it.id for it, _ in eps][:4] == [it.id for it, _ in off][:4]
    assert eps[4][0].id not in {it.id for it, _ in off[:5]}


def test_thompson_favours_liked_values_on_average() -> None:
    ranked = [(it, 0.5) for it, _ in FLAT]
    state = apply(DialogueState(), StateDelta(like=(Pref("maker", "Sony"),)))
    wins = 0
    for seed in range(40):
        top = explore(ranked, state, mode="thompson", seed=seed, weight=1.0)[:4]
        wins += sum(it.attributes["maker"] == "Sony" for it, _ in top)
    assert wins > 40  # chance alone puts one Sony in the top 4 (40 over 40 seeds)
