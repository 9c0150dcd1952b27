"""`convrec eval --quick` end to end, as CI runs it: the real CLI, the real tiny models, real
Chroma, and small real catalogs named like the shipped ones (every item a quick dialogue or the
first INSPIRED turns name, plus the most popular), in a temporary cache."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import use_cache
from kit import INSPIRED_DEV, ROOT, subset_catalog

from convrec.catalog.schema import Catalog
from convrec.config import Settings

EVAL = ROOT / "eval"


def _named(full: Catalog, text: str) -> set[str]:
    """Items whose title the text quotes (word-bounded, case-insensitive)."""
    low = text.lower()
    return {
        it.id
        for it in full.items
        if len(it.title) >= 4 and re.search(rf"(?<!\w){re.escape(it.title.lower())}(?!\w)", low)
    }


@pytest.fixture(scope="module")
def small_cache(settings_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from convrec.backends.chroma_store import make_store
    from convrec.backends.clip_embedder import make_image_text_embedder
    from convrec.backends.st_embedder import SentenceTransformerEmbedder
    from convrec.catalog.build import build_catalog
    from convrec.catalog.index import index_catalog
    from convrec.catalog.layout import open_catalog
    from convrec.evaluation.inspired.data import load_turns

    source = settings_factory(tmp_path_factory.mktemp("eval-full"))
    settings = settings_factory(tmp_path_factory.mktemp("eval-small"))
    quick = "\n".join(p.read_text() for p in sorted((EVAL / "dialogues").glob("*.yaml")))
    movies = build_catalog("movies", source).catalog
    keep = _named(movies, quick)
    if INSPIRED_DEV.is_file():
        turns, _ = load_turns(INSPIRED_DEV, movies)
        for t in turns[:8]:
            keep |= set(t.target_ids) | set(t.context.mentioned)
    subset_catalog(movies, keep, settings, popular=150)
    phones = build_catalog("phones", source).catalog
    photos = [it for it in phones.items if it.image_paths]
    subset_catalog(
        phones, _named(phones, quick) | {it.id for it in photos[::40]}, settings, popular=30
    )
    store = make_store(settings)
    text, clip = (
        SentenceTransformerEmbedder.from_settings(settings),
        make_image_text_embedder(settings),
    )
    index_catalog(open_catalog("phones", settings), settings, store, text, clip)
    index_catalog(open_catalog("movies", settings), settings, store, text, clip,
                  channels=("text", "clip_text"))  # fmt: skip
    return settings


@pytest.mark.skipif(not INSPIRED_DEV.is_file(), reason="the INSPIRED dev split is not here")
def test_quick_eval_writes_the_report_and_resumes(
    small_cache: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convrec.cli import main
    from convrec.evaluation.baselines import BASELINES

    use_cache(monkeypatch, small_cache)
    out = tmp_path / "report"
    args = ["eval", "--suite", "all", "--quick", "--out", str(out), "--tsv", str(INSPIRED_DEV)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["quick"]
    assert set(report["suites"]) == {"scripted", "simulated", "inspired", "taste"}
    for name, suite in report["suites"].items():
        summary = suite["summary"]
        assert {"full", "no-llm"} <= set(summary), name
        for system, metrics in summary.items():
            rates = {
                k: v for k, v in metrics.items() if ("rate" in k or "@" in k) and "turns" not in k
            }
            assert all(0.0 <= v <= 1.0 for v in rates.values()), (name, system, metrics)
    inspired = report["suites"]["inspired"]["summary"]
    assert {"popularity", "bm25", "dense", "mentioned"} <= set(inspired)
    assert inspired["mentioned"].get("dedup_R@10", 0.0) == 0.0  # it can only repeat
    paired = report["suites"]["inspired"]["details"]["paired"]
    assert {(p["versus"], p["metric"]) for p in paired} >= {("dense", "R@10"), ("no-llm", "R@10")}
    assert all(p["low"] <= p["diff"] <= p["high"] for p in paired)
    sim_paired = report["suites"]["simulated"]["details"]["paired"]
    # item-knn needs a catalog's interactions: the phones catalog has none
    versus = {p["versus"] for p in sim_paired}
    assert {"no-llm", *BASELINES} - {"item-knn"} <= versus <= {"no-llm", *BASELINES}
    users = report["suites"]["simulated"]["summary"]["full"]["users"]
    assert all(p["users"] == users and p["mode"] == "attribute" for p in sim_paired)
    scripted = report["suites"]["scripted"]["summary"]
    assert all(m["out_of_catalog_rate"] == 0.0 for m in scripted.values())
    md = (out / "report.md").read_text()
    assert "Paired difference in success@10, `full` minus each other system" in md
    assert "Paired difference over all dialogues" in md
    for png in report["plots"].values():
        assert (out / png).read_bytes()[:4] == b"\x89PNG" and f"]({png})" in md
    # a rerun resumes from the journals and gives the same numbers
    assert main(args) == 0
    again = json.loads((out / "report.json").read_text())
    assert {k: v["summary"] for k, v in again["suites"].items()} == {
        k: v["summary"] for k, v in report["suites"].items()
    }


@pytest.mark.skipif(not INSPIRED_DEV.is_file(), reason="the INSPIRED dev split is not here")
def test_the_rules_only_system_can_run_alone(
    small_cache: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convrec.cli import main

    for key, value in {
        "CACHE_DIR": small_cache.cache_dir,
        "MODELS_DIR": small_cache.models_dir,
        "DOWNLOADS_DIR": small_cache.downloads_dir,
    }.items():
        monkeypatch.setenv(f"CONVREC_{key}", str(value))
    out = tmp_path / "rules"
    args = ["eval", "--suite", "inspired,taste", "--quick", "--systems", "no-llm",
            "--out", str(out), "--tsv", str(INSPIRED_DEV)]  # fmt: skip
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["systems"] == ["no-llm"]
    for suite in report["suites"].values():
        assert "full" not in suite["summary"] and {"no-llm", "dense"} <= set(suite["summary"])
    verdict = report["verdict"]
    assert any(v.startswith("inspired dev dedup_R@10: the rules-only system") for v in verdict)
    assert "the LLM system was not run" in (out / "report.md").read_text()
    bad = ["eval", "--suite", "taste", "--quick", "--systems", "no-llm,gpt", "--out", str(out)]
    assert main(bad) == 2  # an unknown system is refused before anything runs
    assert json.loads((out / "report.json").read_text()) == report


def test_a_missing_inspired_split_fails_before_any_suite_runs(tmp_path: Path) -> None:
    from convrec.cli import main

    out = tmp_path / "out"
    args = ["eval", "--suite", "scripted,inspired", "--systems", "no-llm", "--out", str(out),
            "--tsv", str(tmp_path / "missing.tsv")]  # fmt: skip
    assert main(args) == 2
    assert not (out / "report.json").exists() and not (out / "journal").exists()
