"""Pure tests of the rerank terms: feedback, preferences, popularity, exploration, MMR, hiding."""

from __future__ import annotations

import numpy as np
import pytest

from convrec.config import RerankSettings
from convrec.dialogue.state import DialogueState, Pref
from convrec.ranking.fuse import Fused
from convrec.ranking.rerank import rerank
from convrec.types import Item, Recommendation

OFF = RerankSettings(
    liked_weight=0.5,
    disliked_weight=0.5,
    popularity_weight=0.0,
    mmr_lambda=1.0,
    exploration="off",
)


def item(i: str, genres: tuple[str, ...] = (), pop: float | None = None) -> Item:
    return Item(i, f"Title {i}", attributes={"genres": genres}, popularity=pop)


ITEMS = {
    "a": item("a", ("Drama",), 10),
    "b": item("b", ("Comedy",), 1000),
    "c": item("c", ("Horror",), 5),
    "d": item("d", ("Comedy", "Drama"), 50),
    "liked": item("liked", ("Drama",)),
    "bad": item("bad", ("Horror",)),
}
# 2-d vectors: a and d point like "liked", c like "bad", b in between.
VECS = {
    "a": np.array([1.0, 0.0]),
    "b": np.array([0.6, 0.8]),
    "c": np.array([0.0, 1.0]),
    "d": np.array([0.98, 0.2]),
    "liked": np.array([1.0, 0.05]),
    "bad": np.array([0.0, 1.0]),
}


def fused(*ids: str) -> list[Fused]:
    """Equal-ish channel scores, falling slowly with rank (RRF-like)."""
    return [Fused(i, 1 / (60 + r), {"text": 1 / (60 + r)}) for r, i in enumerate(ids, start=1)]


def ids(recs: list[Recommendation]) -> list[str]:
    return [r.item_id for r in recs]


def test_scores_are_the_sum_of_the_breakdown_and_in_order() -> None:
    s = RerankSettings(popularity_weight=0.2, mmr_lambda=0.7, exploration="thompson")
    state = DialogueState(
        liked_items=("liked",), disliked_items=("bad",), liked=(Pref("genres", "Comedy"),)
    )
    recs = rerank(
        fused("c", "b", "a", "d"), ITEMS.get, state, s, k=4, vectors=VECS, max_popularity=1000
    )
    assert sorted(ids(recs)) == ["a", "b", "c", "d"]
    for r in recs:
        assert r.score == pytest.approx(sum(r.breakdown.values()))
        assert r.breakdown["text"] <= 1.0
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    assert recs[0].breakdown.keys() >= {"text", "liked_items", "disliked_items", "preferences"}


def test_hidden_liked_and_unknown_items_never_come_back() -> None:
    state = DialogueState(
        liked_items=("liked",), seen_items=("a",), rejected=("b",), disliked_items=("bad",)
    )
    recs = rerank(fused("liked", "a", "ghost", "b", "bad", "c", "d"), ITEMS.get, state, OFF, 10)
    assert ids(recs) == ["c", "d"]  # "ghost" is not in the catalog


def test_liked_item_pulls_similar_items_up_and_disliked_pushes_down() -> None:
    order = ("c", "b", "a", "d")  # channels alone put the horror film first
    plain = rerank(fused(*order), ITEMS.get, DialogueState(), OFF, 4, VECS)
    assert ids(plain) == list(order)
    liked = rerank(fused(*order), ITEMS.get, DialogueState(liked_items=("liked",)), OFF, 4, VECS)
    assert ids(liked)[:2] == ["a", "d"] and ids(liked)[-1] == "c"
    assert liked[0].breakdown["liked_items"] == pytest.approx(
        0.5 * float(VECS["a"] @ VECS["liked"]) / np.linalg.norm(VECS["liked"])
    )
    disliked = rerank(
        fused(*order), ITEMS.get, DialogueState(disliked_items=("bad",)), OFF, 4, VECS
    )
    assert ids(disliked)[-1] == "c"
    assert disliked[-1].breakdown["disliked_items"] == pytest.approx(-0.5)
    assert (
        "disliked_items" in disliked[0].breakdown and disliked[0].breakdown["disliked_items"] <= 0
    )


def test_soft_preferences_boost_and_penalise_values() -> None:
    state = DialogueState(liked=(Pref("genres", "comedy"),), disliked=(Pref("genres", "Drama"),))
    recs = rerank(fused("a", "c", "b", "d"), ITEMS.get, state, OFF, 4)
    assert ids(recs) == ["b", "c", "d", "a"]  # d has the liked and the disliked genre
    by = {r.item_id: r.breakdown["preferences"] for r in recs}
    assert by == pytest.approx({"a": -0.5, "b": 0.5, "c": 0.0, "d": 0.0})


def test_popularity_prior_leads_at_cold_start_and_fades() -> None:
    s = OFF.model_copy(update={"popularity_weight": 0.5, "popularity_fade": 1.0})
    cold = rerank(fused("a", "c", "d", "b"), ITEMS.get, DialogueState(), s, 4, max_popularity=1000)
    assert ids(cold)[0] == "b" and cold[0].breakdown["popularity"] == pytest.approx(0.5)
    warm_state = DialogueState(wishes=("x", "y"), liked=(Pref("genres", "Horror"),))
    assert warm_state.evidence() == 3
    warm = rerank(fused("a", "c", "d", "b"), ITEMS.get, warm_state, s, 4, max_popularity=1000)
    b = next(r for r in warm if r.item_id == "b")
    assert b.breakdown["popularity"] == pytest.approx(0.5 / (1 + 1.0 * 3))
    no_pop = rerank(fused("a"), ITEMS.get, DialogueState(), OFF, 1, max_popularity=1000)
    assert "popularity" not in no_pop[0].breakdown


def test_mmr_spreads_near_duplicates() -> None:
    # a and d are near-duplicates at the top; MMR puts the different c before d.
    order = ("a", "d", "c", "b")
    relevance = rerank(fused(*order), ITEMS.get, DialogueState(), OFF, 3, VECS)
    assert ids(relevance) == ["a", "d", "c"]
    s = OFF.model_copy(update={"mmr_lambda": 0.7})
    diverse = rerank(fused(*order), ITEMS.get, DialogueState(), s, 3, VECS)
    assert ids(diverse)[:2] == ["a", "c"]
    assert "diversity" not in diverse[0].breakdown
    assert all(r.breakdown.get("diversity", 0) <= 0 for r in diverse)
    assert [r.score for r in diverse] == sorted((r.score for r in diverse), reverse=True)


def test_exploration_is_seeded_bounded_and_in_the_breakdown() -> None:
    s = OFF.model_copy(update={"exploration": "thompson", "exploration_weight": 0.3})
    state = DialogueState(turns=2)
    one = rerank(fused("a", "b", "c", "d"), ITEMS.get, state, s, 4, seed=7)
    again = rerank(fused("a", "b", "c", "d"), ITEMS.get, state, s, 4, seed=7)
    assert one == again
    assert all(0 <= r.breakdown["exploration"] <= 0.3 for r in one)
    other = rerank(fused("a", "b", "c", "d"), ITEMS.get, state, s, 4, seed=8)
    assert [r.breakdown["exploration"] for r in other] != [r.breakdown["exploration"] for r in one]


def test_epsilon_exploration_order_survives_the_scores() -> None:
    many = {f"i{n:02d}": item(f"i{n:02d}") for n in range(12)}
    s = OFF.model_copy(update={"exploration": "epsilon", "exploration_weight": 1.0})
    promoted = 0
    for turn in range(40):  # epsilon = 0.1: some turns promote an item into slot 5
        state = DialogueState(turns=turn)
        recs = rerank(fused(*many), many.get, state, s, 12)
        assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
        moved = [r for r in recs if "exploration" in r.breakdown]
        if moved:
            promoted += 1
            assert recs.index(moved[0]) == 4 and moved[0].breakdown["exploration"] > 0
    assert 0 < promoted < 40


def test_pool_limits_the_scored_candidates_and_k() -> None:
    s = OFF.model_copy(update={"pool": 2})
    assert ids(rerank(fused("a", "b", "c", "d"), ITEMS.get, DialogueState(), s, 10)) == ["a", "b"]
    assert rerank(fused("a"), ITEMS.get, DialogueState(), OFF, 0) == []
    assert rerank([], ITEMS.get, DialogueState(), OFF, 5) == []


def test_same_title_same_year_shows_once_but_a_remake_is_another_film() -> None:
    def dated(i: str, title: str, date: str) -> Item:
        return Item(i, title, date=date)

    items = {
        "v1": dated("v1", "Galaxy S4", "2013-04-26"),
        "v2": dated("v2", "Galaxy S4", "2013-06-01"),  # a regional variant
        "f62": dated("f62", "Cape Fear", "1962"),
        "f91": dated("f91", "Cape Fear", "1991"),  # a remake
        "o": dated("o", "Other", "2000"),
    }
    recs = rerank(fused("v1", "v2", "f62", "f91", "o"), items.get, DialogueState(), OFF, 10)
    assert ids(recs) == ["v1", "f62", "f91", "o"]
    seen = DialogueState(seen_items=("v2",))  # a hidden variant hides its twin too
    assert ids(rerank(fused("v1", "f62", "o"), items.get, seen, OFF, 10)) == ["f62", "o"]


def test_an_item_that_cannot_be_shown_to_meet_a_ruled_out_value_comes_later() -> None:
    """ "not in English": a film whose language is unknown passes the filter but follows the
    films known to be in another language; a constraint the user never said costs nothing."""
    from convrec.dialogue.state import Constraint

    films = {
        "en?": Item("en?", "Unknown", attributes={"genres": ("Drama",)}),
        "fr": Item("fr", "French", attributes={"genres": ("Drama",), "language": ("French",)}),
    }
    said = Constraint("language", "ne", "English", multi=True)
    state = DialogueState(constraints=(said,))
    recs = rerank(fused("en?", "fr"), films.get, state, OFF, 2)
    assert ids(recs) == ["fr", "en?"]
    assert recs[1].breakdown["unverified"] == pytest.approx(-OFF.unverified_weight)
    tags = DialogueState(constraints=(Constraint("keywords", "ne", "gore", multi=True),))
    assert "unverified" not in rerank(fused("en?"), films.get, tags, OFF, 1)[0].breakdown
    implied = DialogueState(constraints=(Constraint("language", "ne", "English", said=False),))
    assert ids(rerank(fused("en?", "fr"), films.get, implied, OFF, 2)) == ["en?", "fr"]
