"""Pure tests of query routing and rank fusion."""

from __future__ import annotations

import pytest

from convrec.ranking.fuse import RRF_K, fuse
from convrec.ranking.query import build_queries
from convrec.types import Hit


def hits(channel: str, *pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(i, s, channel) for i, s in pairs]


def test_rrf_rewards_agreement_between_channels() -> None:
    ranked = {
        "text": hits("text", ("a", 0.9), ("b", 0.8), ("c", 0.7)),
        "clip_text>image": hits("image", ("b", 0.3), ("d", 0.2), ("a", 0.1)),
    }
    out = fuse(ranked)
    assert [f.item_id for f in out] == ["b", "a", "d", "c"]  # d is 2nd in a list, c 3rd
    b = out[0]
    assert b.breakdown == pytest.approx(
        {"text": 1 / (RRF_K + 2), "clip_text>image": 1 / (RRF_K + 1)}
    )
    assert b.score == pytest.approx(sum(b.breakdown.values()))


def test_weights_scale_and_zero_weight_drops_a_channel() -> None:
    ranked = {
        "text": hits("text", ("a", 0.9), ("b", 0.8)),
        "image>image": hits("image", ("b", 1.0)),
    }
    assert fuse(ranked, {"image>image": 0.0})[0].item_id == "a"
    out = fuse(ranked, {"text": 2.0})
    assert out[0].item_id == "b" and out[0].breakdown["text"] == pytest.approx(2 / (RRF_K + 2))
    assert "image>image" not in fuse(ranked, {"image>image": 0.0})[1].breakdown


def test_weighted_sum_normalises_each_list() -> None:
    ranked = {
        "text": hits("text", ("a", 0.50), ("b", 0.40), ("c", 0.30)),
        "clip_text>clip_text": hits("clip_text", ("c", 0.95), ("a", 0.94), ("b", 0.10)),
    }
    out = {f.item_id: f for f in fuse(ranked, method="weighted")}
    assert out["a"].breakdown["text"] == pytest.approx(1.0)
    assert out["c"].breakdown["text"] == pytest.approx(0.0)
    assert out["a"].breakdown["clip_text>clip_text"] == pytest.approx(0.84 / 0.85)
    assert max(out.values(), key=lambda f: f.score).item_id == "a"


def test_duplicate_hits_count_once_and_ties_break_by_id() -> None:
    out = fuse({"text": hits("text", ("x", 0.9), ("x", 0.8))})
    assert len(out) == 1 and out[0].score == pytest.approx(1 / (RRF_K + 1))
    tied = fuse({"a": hits("text", ("z", 0.5)), "b": hits("text", ("y", 0.5))})
    assert [f.item_id for f in tied] == ["y", "z"]
    assert fuse({}) == [] and fuse({"text": []}) == []


def test_queries_follow_available_channels_and_weights() -> None:
    qs = build_queries("a white phone", "/tmp/p.png", where={"maker": "Sony"})
    assert [(q.name, q.channel) for q in qs] == [
        ("text", "text"),
        ("clip_text>image", "image"),
        ("clip_text>clip_text", "clip_text"),
        ("image>image", "image"),
        ("image>clip_text", "clip_text"),
    ]
    assert all(q.where == {"maker": "Sony"} for q in qs)
    movies = build_queries("toys", channels=frozenset({"text", "clip_text"}))
    assert [q.name for q in movies] == ["text", "clip_text>clip_text"]
    weighted = build_queries("x", weights={"clip_text>image": 0.0, "text": 2.0})
    assert [(q.name, q.weight) for q in weighted] == [("text", 2.0), ("clip_text>clip_text", 1.0)]
    assert build_queries("   ") == ()


def test_queries_from_state_route_each_source_with_the_constraints() -> None:
    from convrec.config import FusionSettings
    from convrec.dialogue.state import Constraint, DialogueState, Pref, to_where
    from convrec.ranking.query import describe_preferences, queries_from_state

    state = DialogueState(
        constraints=(Constraint("maker", "eq", "Sony"), Constraint("price", "lte", 500.0)),
        liked=(Pref("os", "Android"), Pref("ram_gb", "8")),
        disliked=(Pref("maker", "Apple"),),
        wishes=("a white phone", "good for travel"),
        liked_items=("p1", "p2"),
    )
    assert describe_preferences(state) == (
        "Android. ram gb: 8. Sony. a white phone. good for travel"
    )
    qs = queries_from_state(state, "phones", {"text", "image", "clip_text"}, FusionSettings())
    by = {q.name: q for q in qs}
    assert by["text"].text == describe_preferences(state) and "Apple" not in by["text"].text
    assert by["clip_text>image"].text == "a white phone"  # only the visual wish
    assert by["clip_text>clip_text"].channel == "clip_text"
    assert {n for n in by if n.startswith("like:")} == {
        f"like:{i}>{c}" for i in ("p1", "p2") for c in ("text", "clip_text", "image")
    }
    assert by["like:p1>text"].item_id == "p1" and not by["like:p1>text"].text  # stored vector
    assert by["like:p2>image"].weight == pytest.approx(0.5 / 2)
    assert all(q.where == to_where(state) and q.where is not None for q in qs)

    movies = queries_from_state(
        DialogueState(liked_items=("m",)), "movies", {"text", "clip_text"}, FusionSettings()
    )
    assert [q.name for q in movies] == ["like:m>text", "like:m>clip_text"]  # no content: text
    untitled = queries_from_state(
        DialogueState(liked_items=("m",)), "movies", {"text", "content"}, FusionSettings()
    )  # a liked film's untitled text finds films told like it, not its look-alike titles
    assert [q.name for q in untitled if q.item_id] == ["like:m>content"]
    cold = queries_from_state(DialogueState(), "movies", {"text"}, FusionSettings())
    assert [(q.name, q.text, q.where) for q in cold] == [("text", "movies", None)]
    photo = queries_from_state(DialogueState(), "phones", {"image"}, FusionSettings(), "/x.png")
    assert [(q.name, q.image) for q in photo] == [("image>image", "/x.png")]
    capped = FusionSettings(max_item_queries=1, item_weights={"text": 1.0})
    assert [q.item_id for q in queries_from_state(state, "p", {"text"}, capped)][1:] == ["p2"]
