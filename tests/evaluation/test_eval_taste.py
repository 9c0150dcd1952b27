"""The taste panel suite: the property checker and the scoring on hand-made items, the panel file
against the real catalogs (every property has enough real items), and `convrec eval --suite
taste --quick` end to end over small real catalogs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import use_cache
from kit import subset_catalog

from convrec.catalog.schema import Catalog
from convrec.config import Settings
from convrec.errors import InputError
from convrec.evaluation.baselines import Context
from convrec.evaluation.taste.run import (
    PANEL,
    WELL_KNOWN,
    Condition,
    Entry,
    content_words,
    load_panel,
    metrics,
    parse_entry,
    parse_property,
    play_ranker,
    play_system,
    quick_subset,
    score,
    summarise,
)
from convrec.types import Item

TOY = Item(
    "toy",
    "Toy Story",
    "Toys come alive.",
    "movie",
    {"genres": ("Animation", "Children", "Comedy"), "year": 1995, "cast": ("Tom Hanks",),
     "n_ratings": 247},
)  # fmt: skip
FAMILY = Item(
    "fam", "The Family", "A mobster hides in France.", "movie",
    {"genres": ("Action", "Comedy", "Crime"), "year": 2013, "n_ratings": 3},
)  # fmt: skip
BIG = Item(
    "big", "Big", "A boy wakes up grown.", "movie",
    {"genres": ("Comedy", "Drama", "Fantasy"), "year": 1988, "cast": ("Tom Hanks",),
     "n_ratings": 91},
)  # fmt: skip
NEMO = Item(
    "nemo", "Finding Nemo", "A fish looks for his son.", "movie",
    {"genres": ("Adventure", "Animation", "Children", "Comedy"), "year": 2003, "n_ratings": 122},
)  # fmt: skip
NOYEAR = Item("x", "Family Plot", "", "movie", {"genres": ("Crime",)})
ITEMS = (TOY, FAMILY, BIG, NEMO, NOYEAR)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog("movies", tmp_path, ITEMS)


def entry(turns: list[str], prop: dict[str, Any], **extra: Any) -> Entry:
    return parse_entry({"id": "e", "turns": turns, "property": prop, **extra}, "movies")


# -- the property language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "op", "value", "holders"),
    [
        ("genres", "any", ["Animation", "Drama"], {"toy", "big", "nemo"}),
        ("genres", "any", ["animation"], {"toy", "nemo"}),  # case-insensitive
        ("genres", "all", ["Comedy", "Children"], {"toy", "nemo"}),
        ("genres", "none", ["Comedy"], {"x"}),
        ("cast", "none", ["Tom Hanks"], {"fam", "nemo", "x"}),  # a missing field holds none
        ("cast", "eq", "Tom Hanks", {"toy", "big"}),
        ("category", "eq", "movie", {"toy", "fam", "big", "nemo", "x"}),
        ("year", "gte", 1995, {"toy", "fam", "nemo"}),  # a missing year meets no bound
        ("year", "lte", 1995, {"toy", "big"}),
        ("title", "none", ["Toy Story"], {"fam", "big", "nemo", "x"}),
        ("title", "no_word", ["family"], {"toy", "big", "nemo"}),  # words, not substrings
        ("title", "no_word", ["fam"], {"toy", "fam", "big", "nemo", "x"}),
    ],
)
def test_each_operator(field: str, op: str, value: Any, holders: set[str]) -> None:
    condition = Condition(field, op, value)
    assert {it.id for it in ITEMS if condition.holds(it)} == holders


def test_a_property_is_the_and_of_its_conditions() -> None:
    prop = parse_property({"genres": {"any": ["Comedy"]}, "year": {"gte": 1990, "lte": 1999}}, "t")
    assert len(prop.conditions) == 3
    assert [it.id for it in ITEMS if prop.holds(it)] == ["toy"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": "e", "turns": ["hi"], "property": {"year": {"gt": 3}}}, "unknown operator"),
        ({"id": "e", "turns": ["hi"], "property": {"year": {"gte": "x"}}}, "needs a number"),
        ({"id": "e", "turns": ["hi"], "property": {"genres": {"any": []}}}, "non-empty list"),
        ({"id": "e", "turns": ["hi"], "property": {}}, "non-empty mapping"),
        ({"id": "e", "turns": [], "property": {"year": {"gte": 1}}}, "1 to 3"),
        ({"id": "e", "turns": ["a", "b", "c", "d"], "property": {"year": {"gte": 1}}}, "1 to 3"),
        ({"id": "e", "turns": ["hi"], "property": {"year": {"gte": 1}}, "drop_first": True},
         "earlier turn"),
        ({"id": "e", "turns": ["a", "b"], "property": {"year": {"gte": 1}},
          "like_previous": {"rank": 9, "share": ["genres"]}}, "like_previous"),
        ({"id": "e", "turns": ["hi"], "property": {"year": {"gte": 1}}, "expect": 1}, "unknown"),
    ],
)  # fmt: skip
def test_a_bad_entry_says_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_entry(data, "movies")


def test_content_words_drop_stopwords_and_short_words() -> None:
    assert content_words("a funny animated movie for the family") == {"funny", "animated", "family"}
    assert content_words("I liked The Matrix, pls") == {"matrix", "pls"}


def test_the_journal_key_follows_the_turns_not_the_property() -> None:
    a = entry(["a tom hanks movie"], {"cast": {"any": ["Tom Hanks"]}})
    b = entry(["a tom hanks movie"], {"year": {"gte": 1990}})
    c = entry(["a tom hanks film"], {"cast": {"any": ["Tom Hanks"]}})
    assert a.key == b.key != c.key and a.key.startswith("movies/e@")


# -- scoring -----------------------------------------------------------------------------------


def test_precision_counts_empty_slots_and_echo_counts_title_words(catalog: Catalog) -> None:
    e = entry(["a funny animated movie for the family"], {"genres": {"any": ["Animation"]}})
    row = score(e, {"actions": ["recommend"], "lists": [["fam", "toy", "x", "nope"]]}, catalog)
    assert row["hits"] == [False, True, False, False]
    assert (
        "P@5 0.2: The Family ✗; Toy Story; Family Plot ✗;" in summarise({"no-llm": [row]}).markdown
    )
    assert row["p@5"] == pytest.approx(1 / 5)  # 5 slots, one hit
    # The Family echoes "family" without the property; Family Plot too; Toy Story has it
    assert row["echoes"] == [True, False, True, False]
    assert row["known"] == [False, True, False, False]  # 3 ratings < WELL_KNOWN; no count
    assert row["titles"][3] == "<nope not in catalog>"
    m = metrics([row])
    assert m["title_echo_rate"] == pytest.approx(2 / 4) and m["well_known_rate"] == 0.25
    assert WELL_KNOWN == 10


def test_a_question_scores_zero_and_is_counted(catalog: Catalog) -> None:
    e = entry(["a movie"], {"category": {"eq": "movie"}})
    asked = score(e, {"actions": ["ask"], "lists": [[]]}, catalog)
    full = score(e, {"actions": ["recommend"], "lists": [["toy", "fam", "big", "nemo", "x"]]},
                 catalog)  # fmt: skip
    assert asked["p@5"] == 0.0 and full["p@5"] == 1.0
    m = metrics([asked, full])
    assert m == {**m, "precision@5": 0.5, "entries": 2.0, "lists": 1.0, "asked": 1.0}
    assert m["well_known_rate"] == pytest.approx(3 / 5)  # over listed items only
    md = summarise({"no-llm": [asked, full]}).markdown
    assert "| no-llm | movies | 2 | 1 | 1 | 0.500 | 0.000 | 0.600 |" in md
    assert "No list after the last turn (1): e (ask)" in md
    assert "P@5 1.0: Toy Story; The Family; Big; Finding Nemo; Family Plot" in md


def test_drop_first_misses_the_previous_first_item(catalog: Catalog) -> None:
    e = entry(["tom hanks", "not the first one"], {"cast": {"any": ["Tom Hanks"]}},
              drop_first=True)  # fmt: skip
    again = score(e, {"actions": ["recommend"] * 2, "lists": [["toy", "big"], ["toy", "big"]]},
                  catalog)  # fmt: skip
    assert again["hits"] == [False, True] and again["dropped"] == "Toy Story"
    moved = score(e, {"actions": ["recommend"] * 2, "lists": [["toy", "big"], ["big"]]}, catalog)
    assert moved["hits"] == [True]


def test_like_previous_needs_a_shared_value_with_that_item(catalog: Catalog) -> None:
    e = entry(["tom hanks", "more like the second"], {"category": {"eq": "movie"}},
              like_previous={"rank": 2, "share": ["genres"]})  # fmt: skip
    # the second item was Finding Nemo (Adventure, Animation, Children, Comedy)
    row = score(e, {"actions": ["recommend"] * 2, "lists": [["big", "nemo"], ["toy", "x"]]},
                catalog)  # fmt: skip
    assert row["hits"] == [True, False]
    short = score(e, {"actions": ["ask", "recommend"], "lists": [[], ["toy"]]}, catalog)
    assert short["hits"] == [False]  # no second item to be like


# -- playing -----------------------------------------------------------------------------------


class Recorder:
    """A baseline that records what it is given and returns a fixed list."""

    def __init__(self) -> None:
        self.contexts: list[Context] = []

    def rank(self, context: Context, k: int) -> list[str]:
        self.contexts.append(context)
        return ["toy", "fam", "big", "nemo", "x", "extra"][:k]


def test_a_baseline_sees_the_user_turns_with_neutral_replies() -> None:
    ranker = Recorder()
    played = play_ranker(ranker, entry(["a", "b"], {"year": {"gte": 1}}))
    assert played["lists"] == [["toy", "fam", "big", "nemo", "x"]] * 2
    last = ranker.contexts[-1].messages
    assert [m.role for m in last] == ["user", "assistant", "user"]
    assert [m.content for m in last if m.role == "user"] == ["a", "b"]


class FakeRec:
    """Our system's public API as the suite uses it: ask first, then recommend."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.forgotten: list[str] = []

    def forget_profile(self, uid: str) -> bool:
        self.forgotten.append(uid)
        return False

    def reset(self, sid: str) -> None:
        pass

    def chat(self, text: str, sid: str, *, explain: bool = True) -> Any:
        from types import SimpleNamespace

        self.calls.append((text, sid, explain))
        if len(self.calls) == 1:
            return SimpleNamespace(action="ask", recommendations=[])
        recs = [SimpleNamespace(item_id=i) for i in ("a", "b", "c", "d", "e", "f")]
        return SimpleNamespace(action="recommend", recommendations=recs)


def test_our_system_plays_in_a_fresh_session_without_explanations() -> None:
    rec = FakeRec()
    played = play_system(rec, entry(["a", "b"], {"year": {"gte": 1}}), "no-llm")  # type: ignore[arg-type]
    assert played == {"actions": ["ask", "recommend"], "lists": [[], ["a", "b", "c", "d", "e"]]}
    assert {sid for _, sid, _ in rec.calls} == {"taste-no-llm-movies-e"} == set(rec.forgotten)
    assert not any(explain for _, _, explain in rec.calls)


# -- the panel against the real catalogs -------------------------------------------------------


def test_the_panel_parses_and_covers_both_catalogs() -> None:
    entries = load_panel(PANEL)
    per = {c: [e for e in entries if e.catalog == c] for c in ("movies", "phones")}
    assert len(entries) >= 40 and min(len(v) for v in per.values()) >= 12
    for es in per.values():
        assert sum(len(e.turns) > 1 for e in es) >= 3  # short dialogues, not only first requests
        assert any(e.drop_first for e in es) and any(e.like_previous for e in es)
    quick = quick_subset(entries)
    assert sorted(e.catalog for e in quick) == ["movies"] * 3 + ["phones"] * 3


def test_every_property_has_five_real_items(real_catalogs: dict[str, Catalog]) -> None:
    short = {}
    for e in load_panel(PANEL):
        items = [
            it
            for it in real_catalogs[e.catalog].items
            if e.catalog != "movies" or _ratings(it) >= WELL_KNOWN
        ]
        n = sum(e.prop.holds(it) for it in items)
        if n < 5:
            short[e.id] = n
    assert not short, f"properties with fewer than 5 (well-known) items: {short}"


def _ratings(item: Item) -> float:
    n = item.attributes.get("n_ratings")
    return float(n) if isinstance(n, int | float) else 0.0


# -- `convrec eval --suite taste --quick` ------------------------------------------------------


@pytest.fixture(scope="module")
def taste_cache(
    real_catalogs: dict[str, Catalog],
    settings_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    """Small catalogs named like the shipped ones: the best-known holders of each quick entry's
    property, plus the most popular items, indexed with the real tiny models."""
    from convrec.backends.chroma_store import make_store
    from convrec.backends.clip_embedder import make_image_text_embedder
    from convrec.backends.st_embedder import SentenceTransformerEmbedder
    from convrec.catalog.index import index_catalog
    from convrec.catalog.layout import open_catalog

    settings = settings_factory(tmp_path_factory.mktemp("taste-small"))
    quick = quick_subset(load_panel(PANEL))
    for name, popular in (("movies", 60), ("phones", 20)):
        full = real_catalogs[name]
        ranked = sorted(full.items, key=lambda it: -(it.popularity or 0.0))
        keep = {
            it.id for e in quick if e.catalog == name for it in
            [it for it in ranked if e.prop.holds(it)][:8]
        }  # fmt: skip
        subset_catalog(full, keep, settings, popular=popular)
    store = make_store(settings)
    text = SentenceTransformerEmbedder.from_settings(settings)
    clip = make_image_text_embedder(settings)
    for name in ("movies", "phones"):
        index_catalog(open_catalog(name, settings), settings, store, text, clip,
                      channels=("text", "clip_text"))  # fmt: skip
    return settings


def test_quick_taste_eval_writes_the_report_and_resumes(
    taste_cache: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convrec.cli import main

    use_cache(monkeypatch, taste_cache)
    out = tmp_path / "report"
    args = ["eval", "--suite", "taste", "--quick", "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["suites"]) == {"taste"} and report["quick"]
    suite = report["suites"]["taste"]
    summary = suite["summary"]
    assert set(summary) == {"full", "no-llm", "popularity", "bm25", "dense"}
    for system, m in summary.items():
        assert m["entries"] == 6 and m["lists"] + m["asked"] + m["errors"] <= 6, system
        rates = [m["precision@5"], m["title_echo_rate"], m["well_known_rate"]]
        assert all(0.0 <= v <= 1.0 for v in rates), (system, m)
    rows = suite["details"]["entries"]
    assert {r["catalog"] for r in rows["no-llm"]} == {"movies", "phones"}
    assert all(len(r["titles"]) == 5 for r in rows["popularity"])  # baselines always list
    popular = {tuple(r["ids"]) for r in rows["popularity"] if r["catalog"] == "movies"}
    assert len(popular) == 1  # the same list, whatever was asked
    md = (out / "report.md").read_text()
    assert "### Taste panel" in md and "#### Worst lists of `no-llm`" in md
    # a rerun resumes from the journals and gives the same numbers
    assert main(args) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["suites"]["taste"]["summary"] == summary
