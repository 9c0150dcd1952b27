"""Simulated users: targets and personas from real MovieLens ratings, the attribute-mode answers
read back by the system's own rules, the title-leak detector, free mode with the real SmolLM2, and
end-to-end runs against a real indexed phones subset (real MiniLM, convrec-clip, Chroma)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kit import ReplayLLM

from convrec import ConvRec
from convrec.catalog.schema import Catalog
from convrec.config import Settings
from convrec.dialogue.extractors import extract
from convrec.dialogue.lexicon import Lexicon
from convrec.dialogue.state import DialogueState, apply, holds
from convrec.evaluation.baselines import PopularityRanker
from convrec.evaluation.simulated.leaks import distinctive, leaks
from convrec.evaluation.simulated.simulator import (
    LIST,
    Dialogue,
    RankerAgent,
    converse,
    metrics,
    run,
)
from convrec.evaluation.simulated.talk import (
    AttributeTalker,
    FreeTalker,
    Seen,
    clean,
    new_part,
    usable,
)
from convrec.evaluation.simulated.users import (
    LIKED_MIN,
    TARGET_MIN,
    FactBook,
    SimUser,
    draw_users,
    item_users,
    movie_users,
    next_fact,
    read_ratings,
)
from convrec.evaluation.suite import EvalContext, SuiteResult
from convrec.types import Item

# -- the leak detector -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("I'd love to watch Toy Story tonight", "Toy Story"),
        ("something like toy story please", "Toy Story"),
        ("maybe Toy Stroy?", "Toy Story"),  # typo
        ("toystory was great", "Toy Story"),  # run together
        ("I want matrix", "The Matrix"),  # without the article
        ("the Matix, you know", "The Matrix"),  # article and a typo
        ("MATRIX!!", "The Matrix"),
        ("a film like Se7en", "Seven (a.k.a. Se7en)"),  # an alternate title
        ("anything from star wars", "Star Wars: Episode IV - A New Hope"),  # the franchise
        ("Amelie was lovely", "Amélie (Fabuleux destin d'Amélie Poulain, Le)"),  # accents
    ],
)
def test_a_leaking_utterance_is_caught(text: str, title: str) -> None:
    assert leaks(text, title)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("a story about toys that come alive", "Toy Story"),
        ("a sci-fi movie with Keanu Reeves from the 1990s", "The Matrix"),
        ("a dark thriller about a serial killer", "Seven (a.k.a. Se7en)"),
        ("space adventure, please", "Star Wars: Episode IV - A New Hope"),
    ],
)
def test_a_clean_utterance_passes(text: str, title: str) -> None:
    assert not leaks(text, title)


def test_short_everyday_titles_are_not_simulated() -> None:
    assert not distinctive("Up") and not distinctive("Heat") and not distinctive("It")
    assert distinctive("Alien") and distinctive("Toy Story") and distinctive("The Matrix")


# -- targets and personas (pure: a made-up catalog and ratings) ------------------------------------


def _tiny(tmp_path: Path) -> tuple[Catalog, list[tuple[str, str, float]]]:
    genres = ("Comedy", "Drama", "Horror", "Action")
    first = ("Crimson", "Silent", "Arctic", "Broken", "Velvet", "Midnight")
    second = ("Harbor", "Kingdom", "Voyage", "Letters", "Machine")
    titles = [f"{a} {b}" for a in first for b in second]  # 30 titles no two alike
    items = tuple(
        Item(str(n), t, category="movie", attributes={"genres": (genres[n % 4],), "year": 1990})
        for n, t in enumerate(titles)
    )
    ratings = [
        (str(u), str((u * 7 + k) % len(items)), 5.0 if k % 3 == 0 else 4.0 if k % 3 == 1 else 2.0)
        for u in range(1, 13)
        for k in range(12)
    ]
    return Catalog("tiny", tmp_path, items, {}), ratings


def test_movie_users_are_seeded_and_hold_the_target_out(tmp_path: Path) -> None:
    catalog, ratings = _tiny(tmp_path)
    rated = {(u, i): r for u, i, r in ratings}
    users = movie_users(catalog, ratings, 5, seed=3)
    assert users == movie_users(catalog, ratings, 5, seed=3)  # same seed, same users
    assert users[:2] == movie_users(catalog, ratings, 2, seed=3)  # a smaller run is a prefix
    assert [u.user_id for u in users] != [u.user_id for u in movie_users(catalog, ratings, 5, 4)]
    assert len({u.key for u in users}) == 5
    for u in users:
        assert rated[(u.user_id, u.target_id)] >= TARGET_MIN
        assert u.target_id not in u.references and u.references
        for ref in u.references:
            assert rated[(u.user_id, ref)] >= LIKED_MIN
            assert not leaks(catalog[ref].title, catalog[u.target_id].title)
        liked = [i for (v, i), r in rated.items() if v == u.user_id and r >= LIKED_MIN]
        assert set(u.liked_genres) <= {g for i in liked for g in catalog[i].attributes["genres"]}  # type: ignore[union-attr]


# -- real catalogs ---------------------------------------------------------------------------------


class Built:
    """The real catalogs, each built once for the module, when first asked for."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalogs: dict[str, Catalog] = {}

    def __getitem__(self, name: str) -> Catalog:
        from convrec.catalog.build import build_catalog

        if name not in self.catalogs:
            self.catalogs[name] = build_catalog(name, self.settings).catalog
        return self.catalogs[name]


@pytest.fixture(scope="module")
def built(settings_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return Built(settings_factory(tmp_path_factory.mktemp("sim-catalogs")))


def test_real_movielens_users(built: Built) -> None:
    movies = built["movies"]
    ratings = read_ratings(movies)
    rated = {(u, i): r for u, i, r in ratings}
    users = draw_users(movies, 25, seed=0)
    assert users == draw_users(movies, 25, seed=0) and len(users) == 25
    for u in users:
        target = movies[u.target_id]
        assert rated[(u.user_id, u.target_id)] >= TARGET_MIN
        persona_titles = [movies[i].title for i in u.references]
        assert target.title not in persona_titles and u.references
        assert not any(leaks(t, target.title) for t in persona_titles)
        assert u.liked_genres
    phones = draw_users(built["phones"], 10, seed=0)
    assert phones == item_users(built["phones"], 10, 0) and not phones[0].references


def _read_back(fact_text: str, lex: Lexicon, item: Item) -> DialogueState:
    state = apply(DialogueState(), extract(fact_text, lex))
    for c in state.constraints:  # what the rules understood never excludes the target
        value = item.category if c.attribute == "category" else item.attributes.get(c.attribute)
        assert holds(c, value), (fact_text, c)
    return state


UNDERSTOOD = {"genres", "year", "release_year", "maker", "os", "ram_gb", "storage_gb",
              "screen_inches", "category", "director", "runtime_min"}  # fmt: skip


@pytest.mark.parametrize("name", ["movies", "phones"])
def test_attribute_answers_keep_the_target_when_the_rules_read_them(
    built: Built, name: str
) -> None:
    catalog = built[name]
    lex, book, talker = Lexicon.from_catalog(catalog), FactBook(catalog), AttributeTalker(catalog)
    for user in draw_users(catalog, 12, seed=1):
        item, facts = catalog[user.target_id], book.facts(user)
        assert facts and not any(leaks(f.text, item.title) for f in facts)
        for fact in facts:
            state = _read_back(fact.text, lex, item)
            said = {c.attribute for c in state.constraints} | {p.attribute for p in state.liked}
            if fact.attribute in UNDERSTOOD:
                assert fact.attribute in said, (fact.text, state)
        opening = talker.say(user, facts, frozenset(), None)
        assert opening.source == "attribute" and not leaks(opening.text, item.title)
        _read_back(opening.text, lex, item)


def test_answers_questions_and_turns_down_wrong_items(built: Built) -> None:
    movies = built["movies"]
    lex, talker = Lexicon.from_catalog(movies), AttributeTalker(movies)
    toy = SimUser("movies/toy", "movies", "1")  # Toy Story: Adventure, Animation, Children, ...
    facts = FactBook(movies).facts(toy)
    asked = Seen("ask", "Which genre would you like: Drama, Comedy or Horror, or something else?",
                 "genres")  # fmt: skip
    said = talker.say(toy, facts, frozenset(), asked)
    assert said.text == "Something in the Comedy genre." and said.revealed == ("genres=Comedy",)
    matrix, heat = "2571", "6"  # not the target: the user turns them down by title
    shown = Seen("recommend", shown=(matrix, heat), ranked=(matrix, heat))
    said = talker.say(toy, facts, frozenset({"genres=Comedy"}), shown)
    expected = next_fact(facts, {"genres=Comedy"})
    assert expected is not None and said.revealed == (expected.key,)
    assert said.text == f"None of these. I'm not into The Matrix. {expected.text}"
    assert said.rejected == (matrix, heat) and said.mentioned == (matrix,)
    delta = extract(said.text, lex, shown=shown.shown)
    assert set(delta.rejected) >= {matrix, heat} and matrix not in delta.liked_items
    monsters = "4886"  # Monsters, Inc.: a title this user loved is never turned down by name
    fan = replace(toy, references=(monsters,))
    said = talker.say(fan, facts, frozenset(), replace(shown, shown=(monsters, matrix)))
    assert said.text.startswith("None of these. I'm not into The Matrix.")
    assert said.rejected == (monsters, matrix)


def test_llm_messages_are_cleaned_and_checked(built: Built) -> None:
    assert clean('"The customer would like: Comedy."') == "I would like Comedy."
    assert clean('The customer\'s first message: "I want a tablet."') == "I want a tablet."
    assert clean("None of these. I want a drama.\nUser: more") == "I want a drama."
    cut = "I want a phone with a big screen. It has four cores and it was released in"
    assert clean(cut) == "I want a phone with a big screen."  # cut by the token cap
    assert usable("I want a drama.") and usable("Comedy, please.")
    said = ["I'm looking for a movie. Something in the Crime genre."]
    again = "I'm looking for a movie! Something in the crime genre. Maybe from the 1960s?"
    assert new_part(again, said) == "Maybe from the 1960s?"  # what the LLM copied back is cut
    assert new_part("I'm looking for a movie.", said) == ""
    assert not usable("Hello! What's your favorite genre?")  # the assistant's role
    question = "Which genre would you like: Drama, Comedy or Horror, or something else?"
    assert not usable(f"The customer asked: {question}", question)
    movies = built["movies"]
    talker = FreeTalker(movies, llm=None)  # type: ignore[arg-type]  # no LLM call here
    psycho = SimUser("movies/u1", "movies", "1219")  # Crime, Horror, 1960, Alfred Hitchcock
    assert talker.clashes("I would like a comedy.", psycho) == ["genres: comedy"]
    assert talker.clashes("Something from 1992.", psycho) == ["year: 1992"]
    assert talker.clashes("Brad Bird would be the best choice.", psycho) == ["director: brad bird"]
    assert talker.clashes("A scary horror film from the sixties, please.", psycho) == []
    assert talker.clashes("Directed by Alfred Hitchcock, no comedy.", psycho) == []


def test_free_prompt_holds_fields_not_the_indexed_text_and_retries_once(built: Built) -> None:
    movies = built["movies"]
    psycho = movies["1219"]  # Crime, Horror, 1960
    user = SimUser("movies/u1", "movies", "1219")
    facts = FactBook(movies).facts(user)
    llm = ReplayLLM("I want a gory comedy.", "I want a creepy horror film from the sixties.")
    said = FreeTalker(movies, llm).say(user, facts, frozenset(), None)  # type: ignore[arg-type]
    assert said.source == "llm" and said.text == "I want a creepy horror film from the sixties."
    first, second = llm.prompts
    assert psycho.title not in first and "genre: Crime, Horror (no other)" in first
    story = [s for s in psycho.description.split(". ") if len(s) > 30]
    assert story and not any(s in first for s in story)  # no sentence of the indexed text
    assert "NOT: comedy" in second and "NOT: comedy" not in first  # told what the item is not
    stubborn = ReplayLLM("I want a comedy.", "A comedy, please.")
    again = FreeTalker(movies, stubborn).say(user, facts, frozenset(), None)  # type: ignore[arg-type]
    assert again.source == "unfaithful" and again.why == "genres: comedy"
    assert again.text == AttributeTalker(movies).say(user, facts, frozenset(), None).text


# -- free mode with the real LLM -------------------------------------------------------------------


def test_free_mode_drops_a_leaking_message_and_still_speaks(built: Built, smollm: Any) -> None:
    phones = built["phones"]
    book, free = FactBook(phones), FreeTalker(phones, smollm)
    for user in draw_users(phones, 8, seed=2):  # the first whose LLM message is used as written
        facts = book.facts(user)
        first = free.say(user, facts, frozenset(), None)
        if first.source == "llm":
            break
    assert first.source == "llm", first
    # The same target under a title made of words the LLM wrote: the prompt never holds the
    # title, so greedy decoding writes the same message, which now names the target.
    fallback = [AttributeTalker(phones).say(user, facts, frozenset(), None).text,
                *(f.text for f in facts)]  # fmt: skip
    words = first.text.split()
    windows = (" ".join(words[i : i + 3]) for i in range(len(words) - 2))
    leaky = next(w for w in windows if not any(leaks(t, w) for t in fallback))
    item = replace(phones[user.target_id], title=leaky)
    items = tuple(item if it.id == item.id else it for it in phones.items)
    renamed = Catalog(phones.name, phones.root, items, {})
    talker = FreeTalker(renamed, smollm)
    said = talker.say(user, facts, frozenset(), None)
    opening_calls = talker.calls
    assert said.source == "leak" and clean(said.dropped) == first.text
    assert said.text == fallback[0] and not leaks(said.text, leaky)  # attribute mode instead
    dialogue = converse(user, facts, talker, RankerAgent(PopularityRanker(renamed), 5), "pop")
    assert metrics([dialogue])["leak_drops"] >= 1 and dialogue.turns[0].source == "leak"
    assert all(t.said.strip() and not leaks(t.said, leaky) for t in dialogue.turns)
    # turn 1's prompt was answered from the cache; a later turn asks once, or twice when its
    # first message said something the target lacks
    assert talker.calls - opening_calls <= 2 * (len(dialogue.turns) - 1)


# -- end to end ------------------------------------------------------------------------------------


def _journal(out: Path) -> dict[str, list[Dialogue]]:
    runs: dict[str, list[Dialogue]] = {}
    for path in sorted((out / "journal").glob("*.jsonl")):
        lines = path.read_text().splitlines()[1:]
        runs[path.stem] = [Dialogue.from_dict(json.loads(ln)["value"]) for ln in lines]
    return runs


def _consistent(result: SuiteResult, runs: dict[str, list[Dialogue]], shown_n: int) -> None:
    """Every number of ``result`` is what the recorded dialogues say."""
    assert result.suite == "simulated" and "### Simulated users" in result.markdown
    for name, m in result.summary.items():
        dialogues = runs[f"simulated-phones-sub-attribute-{name}"]
        n = len(dialogues)
        for d in dialogues:
            assert 1 <= len(d.turns) <= 5 and d.system == name and d.mode == "attribute"
            for t in d.turns:
                assert t.said and t.source == "attribute"
                assert len(t.shown) <= shown_n and (t.action != "ask" or not t.shown)
                if d.target in t.shown:  # shown first in the ranking; the dialogue ends there
                    assert t.target_rank == t.shown.index(d.target) and t is d.turns[-1]
                if t.turn > 1 and d.turns[t.turn - 2].shown:
                    assert t.said.startswith("None of these")
                if name not in ("full", "no-llm"):
                    assert t.action == "recommend"  # baselines never ask
            assert len(d.turns) == 5 or d.target in d.turns[-1].shown
        wins = [d.first_success(LIST) for d in dialogues]
        assert m["users"] == n
        assert m["success@10"] == sum(w is not None for w in wins) / n
        assert m["success@1"] == sum(d.first_success(1) is not None for d in dialogues) / n
        assert m["questions"] == sum(t.action == "ask" for d in dialogues for t in d.turns) / n
        assert m["recall@50"] == sum(d.final_rank is not None for d in dialogues) / n
        assert m["recall@10"] == sum(d.final_rank is not None and d.final_rank < 10
                                     for d in dialogues) / n  # fmt: skip
        assert m["leak_drops"] == 0
        assert m["phones-sub attribute success@10_turn5"] == m["success@10"]
        if any(w is not None for w in wins):
            assert m["turns_to_success@10"] == pytest.approx(
                sum(w for w in wins if w is not None) / sum(w is not None for w in wins)
            )
        curve = [y for _, y in result.curves["Simulated users: success@10 by turn"][name]]
        assert curve == sorted(curve) and curve[-1] == m["success@10"]  # success accumulates


def test_end_to_end_metrics_match_the_dialogues(
    rec: ConvRec,
    indexed: Settings,
    phones_dir: Path,
    tmp_path: Path,
) -> None:
    rules_only = indexed.llm.model_copy(update={"backend": "none"})
    no_llm = ConvRec.from_config(settings=indexed.model_copy(update={"llm": rules_only}))
    catalogs, shown_n = (str(phones_dir),), indexed.limits.recommendations
    ctx = EvalContext(settings=indexed, out=tmp_path / "a", quick=True, seed=0)
    # the full system (real SmolLM2) on one user, the rest on two: the LLM turns are slow
    full = run(ctx, systems={"full": lambda c: rec}, baselines=(), catalogs=catalogs, users=1)
    rest = run(ctx, systems={"no-llm": lambda c: no_llm}, catalogs=catalogs, users=2)
    assert set(full.summary) == {"full"}
    # item-knn needs interactions, which the phones catalog has none of
    assert set(rest.summary) == {"no-llm", "popularity", "bm25", "dense", "dense-user", "mentioned"}
    runs = _journal(ctx.out)
    _consistent(full, runs, shown_n)
    _consistent(rest, runs, shown_n)
    assert (
        runs["simulated-phones-sub-attribute-full"][0].user
        == runs["simulated-phones-sub-attribute-no-llm"][0].user
    )  # every system meets the same simulated users
    again = run(EvalContext(settings=indexed, out=tmp_path / "b", quick=True, seed=0),
                systems={"no-llm": lambda c: no_llm}, catalogs=catalogs, users=2)  # fmt: skip
    assert again.summary == rest.summary  # the same run gives the same numbers
    before = {p.name: p.read_text() for p in (ctx.out / "journal").iterdir()}
    resumed = run(ctx, systems={"full": lambda c: rec}, baselines=(), catalogs=catalogs, users=1)
    assert resumed.summary == full.summary  # from the journal: nothing was simulated again
    assert before == {p.name: p.read_text() for p in (ctx.out / "journal").iterdir()}
