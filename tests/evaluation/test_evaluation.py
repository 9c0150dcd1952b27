"""Evaluation plumbing: metrics, the INSPIRED turn-level protocol on the real dev split and the
real movies catalog, and the baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kit import INSPIRED_DEV

from convrec.catalog.schema import Catalog
from convrec.errors import InputError
from convrec.evaluation.baselines import BM25Ranker, Context, MentionedRanker, PopularityRanker
from convrec.evaluation.inspired.data import evaluate, load_turns
from convrec.evaluation.metrics import ndcg_at_k, paired_bootstrap, recall_at_k
from convrec.types import Message


def test_metrics() -> None:
    assert recall_at_k(["a", "b", "c"], {"c", "z"}, 2) == 0.0
    assert recall_at_k(["a", "b", "c"], {"c", "z"}, 3) == 0.5
    assert recall_at_k(["a"], set(), 1) == 0.0
    assert ndcg_at_k(["x", "a"], {"a"}, 10) == pytest.approx(1 / 1.584962500721156)
    assert ndcg_at_k(["a", "b"], {"a", "b"}, 10) == pytest.approx(1.0)


def test_paired_bootstrap_separates_a_real_gain_from_noise() -> None:
    same = [0.0, 1.0, 0.5, 1.0]
    assert paired_bootstrap(same, same) == (0.0, 0.0, 0.0)
    better = [1.0] * 30 + [0.0] * 10
    worse = [0.0] * 30 + [0.0] * 10
    diff, lo, hi = paired_bootstrap(better, worse, seed=3)
    assert diff == pytest.approx(0.75) and 0.0 < lo < diff < hi <= 1.0
    assert paired_bootstrap(better, worse, seed=3) == (diff, lo, hi)  # seeded: reproducible
    noisy = [1.0, 0.0] * 20  # wins and losses in equal measure
    diff, lo, hi = paired_bootstrap(noisy, noisy[1:] + noisy[:1])
    assert diff == 0.0 and lo < 0.0 < hi
    with pytest.raises(ValueError, match="differ in size"):
        paired_bootstrap([1.0], [1.0, 0.0])


@pytest.fixture(scope="module")
def movies(tmp_path_factory: pytest.TempPathFactory, settings_factory: Any) -> Catalog:
    from convrec.catalog.build import build_catalog

    return build_catalog("movies", settings_factory(tmp_path_factory.mktemp("movies"))).catalog


def test_baselines_on_the_real_catalog(movies: Catalog) -> None:
    ctx = Context((Message("user", "My kids love Toy Story, the Pixar film about toys"),))
    top = [movies[i].title for i in BM25Ranker(movies).rank(ctx, 5)]
    assert any(t.startswith("Toy Story") for t in top[:3]), top
    popular = PopularityRanker(movies).rank(ctx, 3)
    pops = [movies[i].popularity or 0.0 for i in popular]
    assert pops == sorted(pops, reverse=True)
    assert max(it.popularity or 0.0 for it in movies.items) == pops[0]
    assert MentionedRanker().rank(Context((), ("a", "b", "a", "c")), 10) == ["c", "a", "b"]


@pytest.mark.skipif(not INSPIRED_DEV.is_file(), reason="the INSPIRED dev split is not here")
def test_inspired_turns_and_evaluation(movies: Catalog) -> None:
    turns, stats = load_turns(INSPIRED_DEV, movies)
    assert stats["recommender_turns_with_movies"] == 316 and stats["dialogs"] == 99
    assert 0.4 < stats["target_coverage"] < 0.6  # half the titles are newer than the catalog
    assert len(turns) == stats["turns_with_a_covered_target"] > 100
    for turn in turns:
        assert turn.target_ids and all(i in movies for i in turn.target_ids)
        assert set(turn.new_ids) <= set(turn.target_ids)
        assert not set(turn.new_ids) & set(turn.context.mentioned)
    jacket = next(t for t in turns if "Full Metal Jacket (1987)" in t.targets)
    assert movies[jacket.target_ids[0]].title == "Full Metal Jacket"
    assert jacket.context.messages and jacket.context.messages[0].role == "assistant"
    per_turn: dict[str, dict[str, list[tuple[str, float]]]] = {}
    report = evaluate(
        turns[:40],
        {"popularity": PopularityRanker(movies), "mentioned": MentionedRanker()},
        per_turn=per_turn,
    )
    dialogs = [d for d, _ in per_turn["mentioned"]["R@10"]]
    assert len(set(dialogs)) > 1  # each turn names its dialogue, for intervals over dialogues
    for name, rows in per_turn.items():  # paired: one value per turn, same turns per ranker
        values = [v for _, v in rows["R@10"]]
        assert len(values) == 40 and sum(values) / 40 == pytest.approx(report[name]["R@10"])
        assert [d for d, _ in rows["R@10"]] == dialogs
        assert len(rows["dedup_R@10"]) == len(per_turn["mentioned"]["dedup_R@10"])
    for metrics in report.values():
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
        assert {"R@1", "R@10", "R@50", "NDCG@10"} <= set(metrics)
    assert report["mentioned"].get("dedup_R@50", 0.0) == 0.0  # repeating can't find new items


def test_bad_inspired_files_are_refused(tmp_path: Path, movies: Catalog) -> None:
    with pytest.raises(InputError, match="No INSPIRED file"):
        load_turns(tmp_path / "nope.tsv", movies)
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\n1\t2\n")
    with pytest.raises(InputError, match="not an INSPIRED split"):
        load_turns(bad, movies)


def test_the_inspired_test_split_is_held_out_by_name(tmp_path: Path) -> None:
    from convrec.evaluation.inspired.run import split_of

    assert split_of(tmp_path / "test.tsv") == "test"
    assert split_of(tmp_path / "dev.tsv") == "dev"
