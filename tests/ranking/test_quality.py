"""Pure tests of the quality prior: well known, well rated, faded, and turned around on request."""

from __future__ import annotations

import pytest

from convrec.config import RerankSettings
from convrec.dialogue.state import DialogueState, Pref
from convrec.ranking.fuse import Fused
from convrec.ranking.quality import quality_from_stats
from convrec.ranking.rerank import quality_prior, rerank
from convrec.types import Item


def test_shrunk_mean_prefers_many_good_ratings_to_two_perfect_ones() -> None:
    counts = {"many": 200.0, "two": 2.0, "bad": 50.0}
    means = {"many": 4.5, "two": 5.0, "bad": 2.0}
    q = quality_from_stats(counts, means, prior_count=10)
    assert q.rated["many"] == 1.0 and q.rated["bad"] == 0.0
    assert q.rated["two"] < q.rated["many"]
    assert q.known["many"] == 1.0 and q.known["two"] < q.known["bad"]


def test_without_ratings_only_popularity() -> None:
    q = quality_from_stats({"a": 0.0, "b": 99.0})
    assert q.known == {"a": 0.0, "b": 1.0} and not q.rated
    assert quality_from_stats({}).known == {}


def test_prior_fades_with_evidence_and_turns_around_for_hidden_gems() -> None:
    s = RerankSettings(popularity_weight=0.4, rating_weight=0.2, popularity_fade=1.0)
    q = quality_from_stats({"x": 100.0, "y": 1.0}, {"x": 4.0, "y": 3.0})
    cold = quality_prior("x", DialogueState(), s, q)
    assert cold == pytest.approx({"popularity": 0.4, "rating": 0.2})
    warm = quality_prior("x", DialogueState(liked=(Pref("genres", "Drama"),)), s, q)
    assert warm == pytest.approx({"popularity": 0.2, "rating": 0.1})
    gems = quality_prior("x", DialogueState(), s, q, obscure=True)
    assert gems["popularity"] == pytest.approx(-0.4)


def test_rerank_puts_the_well_known_first_among_equals_and_gems_on_request() -> None:
    items = {i: Item(i, f"Title {i}") for i in ("known", "obscure")}
    fused = [Fused("obscure", 1.0, {"text": 1.0}), Fused("known", 0.99, {"text": 0.99})]
    q = quality_from_stats({"known": 300.0, "obscure": 3.0}, {"known": 4.2, "obscure": 4.2})
    s = RerankSettings(popularity_weight=0.2, rating_weight=0.0, mmr_lambda=1.0, exploration="off")
    top = rerank(fused, items.get, DialogueState(), s, 2, quality=q)
    assert [r.item_id for r in top] == ["known", "obscure"]
    assert "popularity" in top[0].breakdown
    gems = rerank(fused, items.get, DialogueState(), s, 2, quality=q, obscure=True)
    assert [r.item_id for r in gems] == ["obscure", "known"]
