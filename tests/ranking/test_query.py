"""Pure tests of stage 4's dialogue context: what reaches the text routes, and with what weight."""

from __future__ import annotations

from convrec.config import FusionSettings
from convrec.dialogue.state import DialogueState, Pref, StateDelta, apply, from_json, to_json
from convrec.ranking.query import (
    context_parts,
    dialogue_context,
    queries_from_state,
    topical,
    wants_obscure,
)
from convrec.types import AttrValue, Item

FUSION = FusionSettings(context_turns=3, context_decay=0.5, context_shift=0.25, context_min_words=1)


def test_newest_message_leads_and_earlier_ones_decay() -> None:
    parts = context_parts(["a comedy", "set in paris", "with a dog"], [], FUSION)
    assert parts == [("with a dog", 1.0), ("set in paris", 0.5), ("a comedy", 0.25)]


def test_a_change_of_subject_pushes_the_earlier_turns_aside() -> None:
    said = ["a funny animated movie for the family", "I loved Inception, something clever"]
    parts = context_parts(said, ["Inception"], FUSION, fresh=1)
    assert parts[0] == ("I loved , something clever", 1.0)
    assert parts[1] == ("a funny animated movie for the family", 0.125)
    dropped = FusionSettings(context_shift=0.0, context_min_words=1)
    assert len(context_parts(said, ["Inception"], dropped, fresh=1)) == 1


def test_numeric_bounds_and_same_vein_words_are_no_topic() -> None:
    """The constraints carry "after 2000"; as text a year found documentaries naming it."""
    said = ["I loved Alien. Anything in the same vein?", "Ideally made after 2000."]
    assert context_parts(said, ["Alien"], FUSION) == []
    kept = context_parts(["a heist film under 100 minutes"], [], FUSION)
    assert kept == [("a heist film under", 1.0)]


def test_references_and_titles_never_reach_a_text_route() -> None:
    said = ["a funny animated movie for the family", "not the first one"]
    parts = context_parts(said, [], FUSION)
    # "not the first one" carries no topic: it adds no query, and the request keeps weight 1
    assert parts == [("a funny animated movie for the family", 1.0)]
    liked = context_parts(["I liked The Matrix and Blade Runner"], ["The Matrix", "Blade Runner"],
                          FUSION)  # fmt: skip
    assert liked == []  # "I liked and": the like routes carry the two films, no text route
    only_titles = context_parts(["The Matrix and Blade Runner"], ["The Matrix", "Blade Runner"],
                                FUSION)  # fmt: skip
    assert only_titles == []
    # a title is cut as whole words only: the film "It" is no part of "excited"
    assert context_parts(["so excited about it"], ["It"], FUSION) == [("so excited about", 1.0)]
    assert not topical("yes, the second one please")
    assert topical("something scary")
    # a short request is carried by what understanding read; only free talk is a context route
    short = FUSION.model_copy(update={"context_min_words": 3})
    assert context_parts(["i loved inception, something clever like that"], ["Inception"],
                         short) == []  # fmt: skip
    talk = "we want something dark and twisty with a great soundtrack"
    assert context_parts([talk], [], short) == [(talk, 1.0)]


def test_obscure_requests_are_recognised() -> None:
    for text in ("any hidden gems?", "something I haven't heard of", "an underrated thriller",
                 "nothing too mainstream", "a lesser-known western"):  # fmt: skip
        assert wants_obscure(text), text
    for text in ("a popular comedy", "the best known Spielberg film", "a gem of a movie"):
        assert not wants_obscure(text), text


def test_a_change_of_subject_is_remembered_in_the_state() -> None:
    cartoon = StateDelta(intent="recommend", like=(Pref("genres", "Animation"),))
    s1 = apply(DialogueState(), cartoon)
    assert s1.subject_turn == 1 and s1.stale == ()
    s2 = apply(s1, StateDelta(intent="feedback", liked_items=("27",)))
    assert s2.subject_turn == 2 and s2.stale == (Pref("genres", "Animation"),)
    s3 = apply(s2, StateDelta(intent="refine", rejected=("5",)))  # "not the first one"
    assert s3.subject_turn == 2 and s3.stale == s2.stale  # still stale a turn later
    s4 = apply(s3, cartoon)  # restating a value makes it fresh again
    assert s4.stale == () and s4.subject_turn == 2
    assert from_json(to_json(s3)) == s3
    titles = {"27": "Inception"}
    said = ["a family cartoon", "I loved Inception, something clever", "not the first one"]
    got = dialogue_context(said, s3, titles.get, FUSION)
    # "not the first one" adds nothing; the Inception turn leads, the cartoon turn is stale
    assert got.parts == (("I loved , something clever", 1.0), ("a family cartoon", 0.5 * 0.25))
    assert got.stale == {Pref("genres", "Animation")}
    assert not got.obscure


def test_text_and_context_routes_use_the_content_channel_when_indexed() -> None:
    state = DialogueState(liked=(Pref("genres", "Comedy"),), liked_items=("7",))
    channels = frozenset({"text", "content", "cf"})
    qs = queries_from_state(state, "movies", channels, FUSION, context=[("something fun", 1.0)])
    by_name = {q.name: q for q in qs}
    assert by_name["text"].channel == "content"
    assert by_name["context"].channel == "content"
    assert by_name["cf"].items == ("7",) and by_name["cf"].channel == "cf"
    old_index = queries_from_state(state, "movies", frozenset({"text"}), FUSION,
                                   context=[("something fun", 1.0)])  # fmt: skip
    assert {q.channel for q in old_index} == {"text"}  # no content channel, no cf model


def test_item_content_leaves_the_title_out() -> None:
    attrs: dict[str, AttrValue] = {
        "genres": ("Action", "Comedy"),
        "year": 2013,
        "model_code": "SM-G900F",
    }
    item = Item("1", "The Family", "The Family is a 2013 Action, Comedy film.", "movie", attrs)
    assert "Family" not in item.content
    assert "genres: Action, Comedy" in item.content
    assert "SM-G900F" not in item.content  # codes are no words
    assert item.content.startswith("movie.")
    assert "The Family" in item.text


def test_values_ruled_out_and_a_style_stand_in_for_their_words() -> None:
    from pathlib import Path

    from convrec.catalog.schema import Catalog
    from convrec.dialogue.state import Constraint
    from convrec.ranking.recommend import with_style_seeds

    ruled = Constraint("director", "ne", "Wes Anderson", multi=True)
    state = DialogueState(turns=1, constraints=(ruled, Constraint("genres", "ne", "Horror")),
                          liked=(Pref("director", "Wes Anderson"),))  # fmt: skip
    said = ["something quirky with a Wes Anderson feel, but no Horror and not by him"]
    got = dialogue_context(said, state, {}.get, FUSION)
    assert got.parts == (("something quirky with a feel, but no and not by him", 1.0),)

    def film(id_: str, director: str, popularity: float) -> Item:
        attrs: dict[str, AttrValue] = {"director": (director,)}
        return Item(id_, id_, category="movie", attributes=attrs, popularity=popularity)

    films = (
        film("a1", "Wes Anderson", 9),
        film("a2", "Wes Anderson", 3),
        film("a3", "Wes Anderson", 7),
        film("a4", "Wes Anderson", 1),
        film("b", "X Y", 99),
    )
    catalog = Catalog("movies", Path("."), films)  # fmt: skip
    # his best-known films seed the item routes; they stay out of the list by the constraint
    assert with_style_seeds(catalog, state).liked_items == ("a1", "a3", "a2")
    plain = DialogueState(liked=(Pref("director", "Wes Anderson"),))
    assert with_style_seeds(catalog, plain) is plain  # liked, not ruled out: no seeds


def test_less_well_known_is_obscure() -> None:
    assert wants_obscure("seen Arrival already, anything less well known?")
    assert wants_obscure("something less known")


def test_a_wished_theme_no_item_meeting_the_constraints_holds_seeds_the_item_routes() -> None:
    """ "a heist movie", then "before 1980": the catalog's heist films are later, so the best
    known of them seed the item routes; the keyword matches as people say it ("heists",
    "dystopian" for "dystopia")."""
    from pathlib import Path

    from convrec.catalog.schema import Catalog
    from convrec.dialogue.state import Constraint
    from convrec.ranking.recommend import with_wish_seeds
    from convrec.ranking.wishes import wished_keywords

    def film(id_: str, year: int, popularity: float, keywords: tuple[str, ...]) -> Item:
        attrs: dict[str, AttrValue] = {"year": year, "keywords": keywords}
        return Item(id_, id_, category="movie", attributes=attrs, popularity=popularity)

    films = (film("h1", 2001, 9, ("heist",)), film("h2", 1995, 5, ("heist", "bank")),
             film("h3", 1999, 7, ("heist",)), film("h4", 2003, 1, ("heist",)),
             film("old", 1970, 3, ("crime",)), film("d", 1999, 8, ("dystopia",)))  # fmt: skip
    catalog = Catalog("movies", Path("."), films)
    before = Constraint("year", "lte", 1979)
    state = DialogueState(wishes=("heists",), constraints=(before,))
    assert with_wish_seeds(catalog, state, 5).liked_items == ("h1", "h3", "h2")
    free = DialogueState(wishes=("heists",))  # the wish route finds them itself: no seeds
    assert with_wish_seeds(catalog, free, 3) is free
    assert wished_keywords(films[5], ["dystopian cinema"]) == ["dystopia"]
    assert wished_keywords(films[4], ["crimes"]) == ["crime"]


def test_a_message_about_what_was_seen_is_no_topic() -> None:
    """ "She's seen X and Y a hundred times, so something else": with the titles cut, nothing
    is left for a text route to match (it found Runaway Bride for a musicals fan)."""
    short = FUSION.model_copy(update={"context_min_words": 3})
    said = "She's seen Roman Holiday and My Fair Lady a hundred times, so something else please"
    assert context_parts([said], ["Roman Holiday", "My Fair Lady"], short) == []
