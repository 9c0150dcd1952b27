"""Grounded explanations: the checker, the regenerate/template paths with a scripted LLM, and one
real SmolLM2 run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from kit import ReplayLLM

from convrec.catalog.schema import Catalog
from convrec.config import Settings
from convrec.dialogue.state import Constraint, DialogueState, Pref
from convrec.errors import LLMError
from convrec.explain.explanations import (
    GroundingChecker,
    clean,
    explain_recommendations,
    parse_line,
    schema,
    stream_explanations,
    template,
)
from convrec.types import AttrValue, Item, Message, Recommendation


def movie(i: str, title: str, genres: tuple[str, ...], year: int, director: str, **kw: Any) -> Item:
    desc = f"{title} is a {year} {' and '.join(genres)} film directed by {director}."
    attrs: dict[str, Any] = {"genres": genres, "year": year, "director": (director,)}
    attrs.update(kw)
    return Item(i, title, desc, "movie", attrs, date=str(year))


ITEMS = (
    movie("1", "Toy Story", ("Animation", "Children", "Comedy"), 1995, "John Lasseter",
          cast=("Tom Hanks", "Tim Allen"), runtime_min=81, country=("United States",)),
    movie("2", "Heat", ("Action", "Crime", "Thriller"), 1995, "Michael Mann",
          cast=("Al Pacino", "Robert De Niro"), runtime_min=170, country=("United States",)),
    movie("3", "Amelie", ("Comedy", "Romance"), 2001, "Jean-Pierre Jeunet",
          cast=("Audrey Tautou",), runtime_min=122, country=("France",)),
    movie("4", "Black Swan", ("Drama", "Thriller"), 2010, "Darren Aronofsky",
          cast=("Natalie Portman",), runtime_min=108, country=("United States",)),
    Item("p", "Sony Xperia Z", "A phone with a 5-inch screen.", "phone",
         {"maker": "Sony", "os": "Android", "ram_gb": 2.0, "screen_inches": 5.0}, price=399.0),
    Item("q", "Apple iPhone 5", "A phone.", "phone", {"maker": "Apple", "os": "iOS"}),
)  # fmt: skip
CATALOG = Catalog("movies", Path("/nonexistent"), ITEMS)
STATE = DialogueState(liked=(Pref("genres", "Comedy"),), liked_items=("1",))


def rec(item_id: str, **breakdown: float) -> Recommendation:
    return Recommendation(item_id, CATALOG[item_id].title, sum(breakdown.values()), breakdown)


CHECK = GroundingChecker(ITEMS)


@pytest.mark.parametrize(
    ("item_id", "text", "problems"),
    [
        ("1", "A 1995 animated comedy from John Lasseter with Tom Hanks, 81 minutes.", []),
        ("1", "A Pixar-style comedy like the ones you enjoy.", []),
        ("1", "A thrilling horror-free romance from 1995.", ["genre Romance"]),
        ("1", "Stars Al Pacino in a 90s classic.", ["person Al Pacino"]),
        ("1", "Directed by Steven Spielberg.", ["person Steven Spielberg"]),
        ("1", "Directed by Tom Hanks, starring John Lasseter.",
         ["directed by Tom Hanks", "starring John Lasseter"]),
        ("1", "Directed by John Lasseter, starring Tom Hanks and Tim Allen.", []),
        ("1", "A 2003 comedy that runs 2 hours.", ["year 2003", "number 2 hours"]),
        ("1", "An Oscar-winning film from France.", ["country France", "award Oscar"]),
        ("3", "A French romance from the 2000s with Audrey Tautou.", []),
        ("3", "A romantic 80s comedy.", ["decade 80s"]),
        ("2", "A tense crime film with no romance.", []),  # ruled out, not claimed
        ("2", "Not a comedy but a romance.", ["genre Romance"]),
        ("4", "A drama without any thriller in it.", ["denies genre Thriller"]),
        ("4", "Black Swan is a dark 2010 thriller by Darren Aronofsky.", []),
        ("4", "A black and white drama.", ["colour black", "colour white"]),
        ("p", "A Sony Android phone with a 5-inch screen and 2 GB of RAM for $399.", []),
        ("p", "A white Sony phone, 4 GB RAM, $299.", ["number 4 GB", "price $299", "colour white"]),
        ("p", "Unlike Apple phones, it runs iOS.", ["maker Apple", "os iOS"]),
    ],
)  # fmt: skip
def test_checker_finds_unsupported_claims(item_id: str, text: str, problems: list[str]) -> None:
    assert sorted(CHECK.problems(text, CATALOG[item_id])) == sorted(problems)


def test_checker_allows_quoted_titles_and_stated_numbers() -> None:
    heat = CATALOG["2"]
    assert CHECK.problems("Like Toy Story, it is a 1995 comedy.", heat) == ["genre Comedy"]
    assert CHECK.problems("Like Toy Story, it is a 1995 film.", heat, titles=["Toy Story"]) == []
    assert CHECK.problems("Made before 2000, as you asked.", heat) == ["year 2000"]
    assert CHECK.problems("Made before 2000, as you asked.", heat, stated="year ≤ 2000") == []


def test_parse_and_clean_lines() -> None:
    assert parse_line("2. Because it is funny.", 3) == (1, "Because it is funny.")
    assert parse_line("**3)** Great pick", 3) == (2, "Great pick")
    assert parse_line("4. out of range", 3) is None and parse_line("Sure! Here:", 3) is None
    assert clean('**Heat**: "A tense crime film." Second. Third.', "Heat") == (
        "A tense crime film. Second."
    )


def test_grounded_lines_pass_unchanged_and_stream_in_order() -> None:
    recs = [rec("1", text=0.5), rec("3", text=0.4)]
    llm = ReplayLLM(
        "1. A 1995 comedy like the ones you enjoy.\n2. A Comedy and Romance from 2001, by "
        "Jean-Pierre Jeunet."
    )
    out = explain_recommendations(recs, STATE, CATALOG, llm, Settings(), mode="stream")
    assert [e.source for e in out.explanations] == ["llm", "llm"]
    assert out.faithfulness == 1.0
    assert out.recommendations[0].explanation == "A 1995 comedy like the ones you enjoy."
    assert [r.item_id for r in out.recommendations] == ["1", "3"]
    ((kind, messages),) = llm.calls  # one batched call for both items
    assert kind == "stream" and "1. Toy Story (" in messages[-1].content
    assert "likes genres: Comedy" in messages[-1].content and "2. Amelie (" in messages[-1].content


def test_unsupported_line_is_regenerated_once_then_templated() -> None:
    recs = [rec("1", text=0.5), rec("2", **{"like:1>text": 0.3, "text": 0.1}), rec("4")]
    llm = ReplayLLM(
        "1. A 1995 comedy.\n2. A heist comedy starring Tom Hanks.\n3. A 1987 comedy.",
        "1. A 1995 crime thriller by Michael Mann.\n2. Another comedy classic from 1987.",
    )
    out = explain_recommendations(recs, STATE, CATALOG, llm, Settings(), mode="stream")
    ex = out.explanations
    assert [e.source for e in ex] == ["llm", "regenerated", "template"]
    assert ex[1].problems == ("genre Comedy", "person Tom Hanks")
    assert ex[1].text == "A 1995 crime thriller by Michael Mann."
    assert ex[2].problems == ("genre Comedy", "year 1987")
    assert out.faithfulness == pytest.approx(1 / 3)
    kind, messages = llm.calls[1]
    assert kind == "stream" and "1. Heat (" in messages[-1].content
    assert "2. Black Swan (" in messages[-1].content and "Toy Story (" not in messages[-1].content
    assert "previous answer" in messages[0].content
    assert CHECK.problems(ex[2].text, CATALOG["4"], titles=["Toy Story"]) == []


def test_json_mode_is_schema_constrained_and_checked() -> None:
    recs = [rec("1", text=0.5), rec("2", text=0.4), rec("3", text=0.3)]
    llm = ReplayLLM(
        '{"1": "A 1995 comedy.", "2": "A comedy with Tom Hanks.", "3": "A 2001 romance."}',
        '{"1": "A 1995 crime thriller."}',
    )
    out = explain_recommendations(recs, STATE, CATALOG, llm, Settings(), mode="json")
    assert [e.source for e in out.explanations] == ["llm", "regenerated", "llm"]
    assert out.explanations[1].text == "A 1995 crime thriller."
    assert [kind for kind, _ in llm.calls] == ["generate", "generate"]
    assert "JSON object" in llm.calls[0][1][0].content
    assert llm.schemas[0] == schema(3) and llm.schemas[1] == schema(1)
    assert schema(2)["required"] == ["1", "2"]
    cut = ReplayLLM('{"1": "A 1995 \\"comedy\\".", "2": "A crime', "not json")  # budget ran out
    out = explain_recommendations(recs[:2], STATE, CATALOG, cut, Settings(), mode="json")
    assert [e.source for e in out.explanations] == ["llm", "template"]
    assert out.explanations[0].text == "A 1995 comedy."


def test_copied_facts_or_preferences_are_not_explanations() -> None:
    recs = [rec("1", text=0.5), rec("3", text=0.4)]
    llm = ReplayLLM(
        "1. Toy Story (category: movie; genres: Comedy; year: 1995)\n"
        "2. The user's preferences: likes genres: Comedy, liked: Toy Story.",
        "1. A 1995 comedy you will enjoy.\n2. genres: Comedy; year: 2001; director: x",
    )
    out = explain_recommendations(recs, STATE, CATALOG, llm, Settings(), mode="stream")
    assert [e.source for e in out.explanations] == ["regenerated", "template"]
    assert all(e.problems == ("copied the prompt",) for e in out.explanations)


def test_missing_lines_and_a_failing_llm_fall_back_to_templates() -> None:
    recs = [rec("1", text=0.5), rec("2", **{"like:1>text": 0.6})]
    llm = ReplayLLM("Here you go!\n1. A 1995 comedy.", "")
    out = explain_recommendations(recs, STATE, CATALOG, llm, Settings(), mode="stream")
    assert [e.source for e in out.explanations] == ["llm", "template"]
    assert out.explanations[1].problems == ("no explanation",)
    assert "close to Toy Story, which you liked" in out.explanations[1].text
    down = ReplayLLM(LLMError("server down"), LLMError("server down"))
    out = explain_recommendations(recs, STATE, CATALOG, down, Settings(), mode="stream")
    assert [e.source for e in out.explanations] == ["template", "template"]
    assert all(e.text for e in out.explanations)


def test_a_description_that_only_repeats_the_reason_is_not_quoted() -> None:
    attrs: dict[str, Any] = {"genres": ("Documentary", "Musical"), "year": 2009,
                             "director": ("Ann Lee",)}  # fmt: skip
    doc = Item("d", "Songs", "Songs is a 2009 Documentary and Musical film.", "movie", attrs)
    docs = Catalog("movies", Path("/nonexistent"), (doc,))
    state = DialogueState(liked=(Pref("genres", "Documentary"), Pref("genres", "Musical")))
    text = template(Recommendation("d", "Songs", 0.7, breakdown={"text": 0.7}), doc, state, docs)
    assert "Documentary and Musical film" not in text  # said once, not twice
    assert text.endswith("It is a 2009 film by Ann Lee.")  # what it is, beyond the reason
    cheer = Item("c", "Hail! Hail!", "Hail! Hail! follows a choir. It sings.", "movie", attrs)
    cheers = Catalog("movies", Path("/nonexistent"), (cheer,))
    shown = Recommendation("c", "Hail! Hail!", 0.7, breakdown={"text": 0.7})
    assert template(shown, cheer, state, cheers).endswith("Hail! Hail! follows a choir.")
    plot = Item("e", "Songs", "Songs follows a choir across Wales.", "movie", attrs)
    kept = Catalog("movies", Path("/nonexistent"), (plot,))
    shown = Recommendation("e", "Songs", 0.7, breakdown={"text": 0.7})
    assert template(shown, plot, state, kept).endswith("a choir across Wales.")


def test_templates_are_grounded_and_use_the_breakdown() -> None:
    state = DialogueState(
        liked=(Pref("genres", "Comedy"),),
        constraints=(Constraint("country", "in", ("France",), True),),
    )
    text = template(rec("3", text=0.7, popularity=0.1), CATALOG["3"], state, CATALOG)
    # the links first: what the user asked for that the item holds, in their words
    assert text.startswith("It is a comedy movie, and it is from France, as you asked.")
    assert "2001" in text
    # nothing stated and no well-known item: the breakdown's top reason
    pop = template(rec("2", popularity=0.5, text=0.1), CATALOG["2"], DialogueState(), CATALOG)
    assert pop.startswith("It is well known.")  # the popularity route, not a cold-start link
    for item in ITEMS:
        for r in (rec(item.id, text=1.0), rec(item.id, **{"like:1>text": 1.0})):
            assert (
                CHECK.problems(template(r, item, STATE, CATALOG), item, titles=["Toy Story"]) == []
            )


def test_streaming_yields_grounded_lines_before_the_regeneration() -> None:
    recs = [rec("1", text=0.5), rec("2", text=0.4), rec("3", text=0.3)]
    llm = ReplayLLM("1. A 1995 comedy.\n2. A romance.\n3. A 2001 romance.", "1. A 1995 crime film.")
    stream = stream_explanations(recs, STATE, CATALOG, llm, Settings(), mode="stream")
    first = next(stream)
    assert first.rank == 0 and len(llm.calls) == 1  # yielded while the model still writes
    rest = list(stream)
    assert [(e.rank, e.source) for e in rest] == [(2, "llm"), (1, "regenerated")]


def test_out_of_catalog_titles_in_llm_text_never_become_items() -> None:
    recs = [rec("2", text=0.5), rec("3", text=0.4)]
    llm = ReplayLLM(
        "1. Better watch Inception or The Godfather instead.\n2. Try Apple iPhone 5 (id q).\n"
        "3. Also Titanic!",
        "1. See Pulp Fiction.\n2. See Casablanca.",
    )
    out = explain_recommendations(recs, STATE, CATALOG, llm, Settings(), mode="stream")
    ids = [r.item_id for r in out.recommendations]
    assert ids == ["2", "3"] and all(i in CATALOG for i in ids)


def test_real_smollm_explains_a_batch(smollm: Any) -> None:
    recs = [rec("3", text=0.5)]  # one item (~50 tokens in two calls) keeps a CPU test short
    out = explain_recommendations(
        recs, STATE, CATALOG, smollm, Settings(), mode="items", tokens_per_item=16
    )
    assert [r.item_id for r in out.recommendations] == ["3"]
    for r, e in zip(out.recommendations, out.explanations, strict=True):
        assert r.explanation == e.text and e.text.strip()
        if e.source != "template":  # what the model said survived the checker
            assert CHECK.problems(e.text, CATALOG[r.item_id], titles=["Toy Story"]) == []
    assert 0.0 <= out.faithfulness <= 1.0


class BatchedLLM(ReplayLLM):
    """A ReplayLLM with ``generate_batch``: each queued output is one whole batch's answers."""

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int | None = None
    ) -> list[str]:
        self.calls.append(("batch", [m for c in conversations for m in c]))
        out = self.outputs.pop(0)
        assert isinstance(out, str)
        return out.split("|")


def test_item_mode_batches_continues_the_opening_and_falls_back() -> None:
    recs = [rec("1", text=0.5), rec("2", text=0.4), rec("3", text=0.3)]
    llm = BatchedLLM(
        " is a 1995 animated comedy, like the ones you enjoy.| is a comedy starring Tom Hanks."
        "| is a romance from 2001 by Jean-Pierre Jeunet, and",
        " is a tense 1995 crime thriller.| is a lovely comedy and romance from 2001.",
    )
    out = explain_recommendations(recs, STATE, CATALOG, llm, Settings(), mode="items")
    first, second, third = out.explanations
    assert first.source == "llm" and first.text == (
        "Toy Story suits you because it is a 1995 animated comedy, like the ones you enjoy."
    )
    assert second.source == "regenerated" and second.problems == (
        "genre Comedy",
        "person Tom Hanks",
    )
    assert third.source == "regenerated" and third.problems == ("not a sentence",)  # cut short
    assert third.text.startswith("Amelie suits you because it is a lovely comedy")
    assert [kind for kind, _ in llm.calls] == ["batch", "batch"]  # one call, then one retry
    ((_, retried),) = [c for c in llm.calls[1:]]
    assert sum(m.role == "assistant" for m in retried) == 2  # only the two failed items
    assert retried[-1].content == "Amelie suits you because it"
    assert "Stay strictly with the facts" in retried[0].content


def test_item_mode_without_batching_and_without_an_llm() -> None:
    recs = [rec("1", text=0.5), rec("3", text=0.3)]
    llm = ReplayLLM(
        "Toy Story suits you because it is a 1995 comedy.\nIgnored second line.",
        LLMError("server down"),
        LLMError("server down"),  # the retry of the failed item
    )
    out = explain_recommendations(recs, STATE, CATALOG, llm, Settings(), mode="items")
    assert [e.source for e in out.explanations] == ["llm", "template"]
    assert out.explanations[0].text == "Toy Story suits you because it is a 1995 comedy."
    bare = explain_recommendations(recs, STATE, CATALOG, None, Settings(), mode="items")
    assert [e.source for e in bare.explanations] == ["template", "template"]
    assert all(r.explanation_source == "template" for r in bare.recommendations)


def test_quoting_the_items_own_description_is_grounded() -> None:
    knight = Item("k", "The Dark Knight", "Batman raises the stakes in his war on crime.", "movie",
                  {"genres": ("Action", "Crime")})  # fmt: skip
    checker = GroundingChecker([*ITEMS, Item("w", "Platoon", "", "movie", {"genres": ("War",)})])
    quoted = "It has the Action you asked for. Batman raises the stakes in his war on crime."
    assert checker.problems(quoted, knight) == []
    assert checker.problems("A gripping war film.", knight) == ["genre War"]
    # a quoted sentence that opens with the item's own title is still a quote
    about = "Interstellar chronicles the adventures of explorers in a wormhole."
    nolan: dict[str, AttrValue] = {"genres": ("Sci-Fi",), "director": ("Christopher Nolan",)}
    space = Item("i", "Interstellar", about, "movie", nolan)
    quote = "It is directed by Christopher Nolan. " + space.description
    adventure = GroundingChecker([*ITEMS, Item("a", "X", "", "movie", {"genres": ("Adventure",)})])
    assert adventure.problems(quote, space) == []


def test_the_first_sentence_of_a_description_is_not_cut_at_an_abbreviation() -> None:
    from convrec.explain.explanations import first_sentence

    text = "When Dr. Jones is hired by the U.S. government, he goes. Then more happens."
    assert first_sentence(text) == "When Dr. Jones is hired by the U.S. government, he goes."
    assert (
        first_sentence("Held in an L.A. room, he talks. Next.") == "Held in an L.A. room, he talks."
    )
    pilots = "Lt. Jake Grafton and his buddy, Lt. Cmdr. Cole, fly a raid. They return."
    assert first_sentence(pilots) == "Lt. Jake Grafton and his buddy, Lt. Cmdr. Cole, fly a raid."


def test_the_facts_mode_asks_no_llm_and_links_what_the_user_said() -> None:
    recs = [rec("1", text=0.5), rec("2", **{"like:1>text": 0.6})]
    never = ReplayLLM()  # any call would fail: the facts mode makes none
    out = explain_recommendations(recs, STATE, CATALOG, never, Settings(), mode="facts")
    assert [e.source for e in out.explanations] == ["template", "template"]
    assert all(e.text and not e.problems for e in out.explanations)
    assert never.calls == [] and Settings().llm.explain_mode == "facts"


def test_a_seed_the_ranking_chose_is_not_called_liked() -> None:
    """A theme's or a style's known item seeds the item routes: "close to" it, never "which you
    liked" (the user never named it)."""
    recs = [rec("2", **{"like:1>text": 0.6})]
    seeded = DialogueState(liked=(Pref("genres", "Comedy"),))
    text = template(recs[0], CATALOG["2"], seeded, CATALOG)
    assert "close to Toy Story" in text and "which you liked" not in text
    assert "close to Toy Story, which you liked" in template(recs[0], CATALOG["2"], STATE, CATALOG)
