"""Dialogue state reducer: negation and change of mind, relative bounds, reset, where, JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convrec.catalog.schema import item_metadata
from convrec.dialogue.state import (
    Constraint,
    DialogueState,
    Pref,
    Relative,
    Release,
    StateDelta,
    apply,
    from_json,
    holds,
    to_json,
    to_where,
    unflagged,
)
from convrec.errors import InputError
from convrec.types import AttrValue, Item

NO_HORROR = Constraint("genres", "ne", "Horror", multi=True)


def run(*deltas: StateDelta) -> DialogueState:
    state = DialogueState()
    for d in deltas:
        state = apply(state, d)
    return state


def test_negation_then_change_of_mind() -> None:
    s = run(StateDelta(intent="recommend", add=(NO_HORROR,)))
    assert s.constraints == (NO_HORROR,)
    s = apply(s, StateDelta(intent="refine", release=(Release("genres", "horror"),)))
    assert s.constraints == ()
    assert s.intent == "refine"


def test_liking_a_value_lifts_its_exclusion_and_dislike() -> None:
    s = run(StateDelta(add=(NO_HORROR,), dislike=(Pref("genres", "Horror"),)))
    s = apply(s, StateDelta(like=(Pref("genres", "Horror"),)))
    assert s.constraints == ()
    assert s.disliked == ()
    assert s.liked == (Pref("genres", "Horror"),)
    s = apply(s, StateDelta(add=(NO_HORROR,)))  # and back again
    assert s.liked == ()
    assert s.constraints == (NO_HORROR,)


def test_exclusion_removes_value_from_required_set() -> None:
    s = run(StateDelta(add=(Constraint("maker", "in", ("Samsung", "LG")),)))
    s = apply(s, StateDelta(add=(Constraint("maker", "ne", "Samsung"),)))
    assert Constraint("maker", "in", ("LG",)) in s.constraints
    assert Constraint("maker", "ne", "Samsung") in s.constraints


def test_release_whole_attribute() -> None:
    s = run(StateDelta(add=(Constraint("price", "lte", 300.0), Constraint("ram_gb", "gte", 4))))
    s = apply(s, StateDelta(release=(Release("price"),)))
    assert s.constraints == (Constraint("ram_gb", "gte", 4),)


def test_new_bound_replaces_old_one() -> None:
    s = run(StateDelta(add=(Constraint("ram_gb", "gte", 4),)))
    s = apply(s, StateDelta(add=(Constraint("ram_gb", "gte", 2),)))  # the user relaxed it
    assert s.constraints == (Constraint("ram_gb", "gte", 2),)


def test_a_crossing_bound_replaces_the_opposite_one() -> None:
    nineties = (Constraint("year", "gte", 1990), Constraint("year", "lte", 1999))
    s = run(StateDelta(add=nineties))
    s = apply(s, StateDelta(add=(Constraint("year", "gte", 2006),)))  # "actually, after 2005"
    assert s.constraints == (Constraint("year", "gte", 2006),)
    s = apply(s, StateDelta(add=(Constraint("year", "lte", 2015),)))  # narrowing keeps both
    assert s.constraints == (Constraint("year", "gte", 2006), Constraint("year", "lte", 2015))
    s = apply(s, StateDelta(add=(Constraint("year", "lte", 1979),)))  # "before 1980 instead"
    assert s.constraints == (Constraint("year", "lte", 1979),)
    s = apply(s, StateDelta(add=nineties))  # a whole new range replaces both ends
    assert s.constraints == nineties


def test_relative_bound_only_tightens() -> None:
    s = run(StateDelta(add=(Constraint("price", "lte", 500.0),)))
    s = apply(s, StateDelta(relative=(Relative("price", "below", 400.0),)))
    assert s.constraints == (Constraint("price", "lte", 380.0),)
    # "cheaper than that" about a 600 item cannot loosen the 380 bound
    s = apply(s, StateDelta(relative=(Relative("price", "below", 600.0),)))
    assert s.constraints == (Constraint("price", "lte", 380.0),)


def test_relative_integer_reference_moves_by_one() -> None:
    s = run(StateDelta(relative=(Relative("year", "above", 2010),)))
    assert s.constraints == (Constraint("year", "gte", 2011),)
    s = apply(s, StateDelta(relative=(Relative("year", "below", 2015),)))
    assert Constraint("year", "lte", 2014) in s.constraints


def test_reset_clears_then_applies_rest() -> None:
    s = run(
        StateDelta(add=(NO_HORROR,), liked_items=("1",), rejected=("2",), asked=("genres",)),
    )
    assert s.question_count == 1
    s = apply(s, StateDelta(reset=True, like=(Pref("genres", "Comedy"),)))
    assert s.constraints == () and s.liked_items == () and s.rejected == () and s.asked == ()
    assert s.liked == (Pref("genres", "Comedy"),)
    assert s.intent == "reset" and s.question_count == 0


def test_items_and_asked_bookkeeping() -> None:
    s = run(
        StateDelta(liked_items=("a",), seen_items=("b",), rejected=("c",), asked=("genres",)),
        StateDelta(disliked_items=("a",), rejected=("c", "d"), asked=("genres", "year")),
    )
    assert s.liked_items == () and s.disliked_items == ("a",)
    assert s.rejected == ("c", "d")
    assert s.asked == ("genres", "year") and s.question_count == 2
    assert s.hidden_items() == {"a", "b", "c", "d"}
    assert s.known_attributes() == frozenset()


def test_turn_level_fields_do_not_stick() -> None:
    s = run(StateDelta(insist=True, mentioned=("a",), ambiguous=("b", "c")), StateDelta())
    assert not s.insist and s.mentioned == () and s.ambiguous == ()


def test_where_shapes() -> None:
    assert to_where(DialogueState()) is None
    one = run(StateDelta(add=(Constraint("ram_gb", "gte", 4.0),)))
    assert to_where(one) == {"ram_gb": {"$gte": 4.0}}
    many = run(
        StateDelta(
            add=(
                Constraint("ram_gb", "gte", 4.0),
                Constraint("maker", "in", ("Samsung", "LG")),
                Constraint("genres", "nin", ("Horror", "Sci-Fi"), multi=True),
            )
        )
    )
    where = to_where(many)
    assert where is not None and len(where["$and"]) == 3
    assert {"maker": {"$in": ["Samsung", "LG"]}} in where["$and"]
    assert {"$and": [{"genres_horror": {"$ne": True}}, {"genres_sci_fi": {"$ne": True}}]} in where[
        "$and"
    ]


def test_bad_constraint_is_rejected() -> None:
    with pytest.raises(InputError, match="Fix"):
        Constraint("price", "lte", "cheap")
    with pytest.raises(InputError, match="Fix"):
        Constraint("maker", "eq", "Sony", strict=True)


def test_a_strict_bound_is_tighter_than_the_same_number_inclusive() -> None:
    under = Constraint("runtime_min", "lte", 90, strict=True)
    s = run(StateDelta(add=(Constraint("runtime_min", "lte", 90),)))
    assert apply(s, StateDelta(add=(under,))).constraints == (under,)
    assert to_where(run(StateDelta(add=(under,)))) == {"runtime_min": {"$lt": 90}}
    # "more than 90" after "under 90": nothing is left between them, so the newer one wins
    more = Constraint("runtime_min", "gte", 90, strict=True)
    assert apply(run(StateDelta(add=(under,))), StateDelta(add=(more,))).constraints == (more,)


def test_json_round_trip() -> None:
    s = run(
        StateDelta(
            intent="refine",
            add=(
                NO_HORROR,
                Constraint("maker", "in", ("A", "B")),
                Constraint("year", "gte", 1990),
                Constraint("runtime_min", "lte", 90, strict=True),
            ),
            like=(Pref("director", "Ridley Scott"),),
            wishes=("a white one",),
            liked_items=("1",),
            asked=("genres",),
        )
    )
    back = from_json(to_json(s))
    assert back == s
    assert isinstance(back.constraints[1].value, tuple)
    with pytest.raises(InputError, match="new session"):
        from_json('{"bogus": 1}')


def movie(id_: str, title: str, year: int, *genres: str) -> Item:
    attrs: dict[str, AttrValue] = {"year": year}
    if genres:
        attrs["genres"] = tuple(genres)
    return Item(id_, title, category="movie", attributes=attrs)


MOVIES = [
    movie("m1", "Alien", 1979, "Horror", "Sci-Fi"),
    movie("m2", "Airplane!", 1980, "Comedy"),
    movie("m3", "Heat", 1995, "Crime"),
    movie("m4", "Scream", 1996, "Horror"),
    movie("m5", "Untitled", 2001),
]


def test_where_filters_a_real_chroma_index(tmp_path: Path) -> None:
    """The where dict works against the metadata the indexer writes (flags for list values)."""
    from convrec.backends.chroma_store import ChromaStore

    store = ChromaStore.embedded(tmp_path / "chroma")
    rng = np.random.default_rng(0)
    store.upsert(
        "tiny__text",
        [m.id for m in MOVIES],
        rng.normal(size=(len(MOVIES), 8)),
        [item_metadata(m) for m in MOVIES],
    )

    def ids(state: DialogueState) -> set[str]:
        where = to_where(state)
        return {h.item_id for h in store.query("tiny__text", rng.normal(size=8), 10, where)}

    no_horror = run(StateDelta(add=(NO_HORROR,)))
    assert ids(no_horror) == {"m2", "m3", "m5"}  # m5 has no genres at all and still passes
    nineties = run(StateDelta(add=(NO_HORROR, Constraint("year", "gte", 1990))))
    assert ids(nineties) == {"m3", "m5"}
    mind_changed = apply(nineties, StateDelta(release=(Release("genres", "Horror"),)))
    assert ids(mind_changed) == {"m3", "m4", "m5"}
    either = run(StateDelta(add=(Constraint("genres", "in", ("Comedy", "Crime"), multi=True),)))
    assert ids(either) == {"m2", "m3"}
    only_scifi = run(StateDelta(add=(Constraint("genres", "eq", "Sci-Fi", multi=True),)))
    assert ids(only_scifi) == {"m1"}
    before_heat = run(StateDelta(add=(Constraint("year", "lte", 1995, strict=True),)))
    assert ids(before_heat) == {"m1", "m2"}  # "before 1995": Heat (1995) is out
    after_heat = run(StateDelta(add=(Constraint("year", "gte", 1995, strict=True),)))
    assert ids(after_heat) == {"m4", "m5"}


def test_unflagged_list_constraints_leave_the_where_and_are_checked_in_python() -> None:
    with_actor = Constraint("cast", "eq", "Tom Hanks", multi=True)
    state = DialogueState(constraints=(NO_HORROR, with_actor, Constraint("year", "gte", 1990)))
    assert to_where(state, {"genres"}) == {
        "$and": [{"genres_horror": {"$ne": True}}, {"year": {"$gte": 1990}}]
    }
    assert unflagged(state, {"genres"}) == (with_actor,)
    assert to_where(state) is not None and "cast_tom_hanks" in str(to_where(state))
    assert holds(with_actor, ("Meg Ryan", "tom hanks")) and not holds(with_actor, ("Meg Ryan",))
    assert not holds(with_actor, None) and holds(NO_HORROR, None)
    assert holds(NO_HORROR, ("Comedy",)) and not holds(NO_HORROR, ("horror", "Comedy"))
    either = Constraint("genres", "in", ("Western", "Sci-Fi"), multi=True)
    assert holds(either, ("sci fi",)) and not holds(either, ("Drama",))
    neither = Constraint("genres", "nin", ("Western", "Sci-Fi"), multi=True)
    assert holds(neither, ("Drama",)) and not holds(neither, ("Western",))
    bound = Constraint("ram_gb", "lte", 4.0)
    assert holds(bound, 4) and not holds(bound, 6.0) and not holds(bound, None)
    assert not holds(bound, "unknown")
    assert holds(Constraint("maker", "ne", "Sony"), "Apple")
    assert holds(Constraint("maker", "in", ("Sony", "LG")), "LG")


def test_a_liked_value_the_new_subject_holds_stays_wanted() -> None:
    from convrec.catalog.schema import Catalog
    from convrec.ranking.recommend import confirmed_stale

    hanks, comedy = Pref("cast", "Tom Hanks"), Pref("genres", "Comedy")
    cat = Catalog("movies", Path("."), (
        Item("big", "Big", attributes={"cast": ("Tom Hanks",), "genres": ("Drama",)}),
        Item("inception", "Inception", attributes={"cast": ("Leonardo DiCaprio",)}),
    ))  # fmt: skip
    s = apply(DialogueState(), StateDelta(intent="recommend", like=(hanks, comedy)))
    big = apply(s, StateDelta(intent="feedback", liked_items=("big",)))
    assert set(big.stale) == {hanks, comedy} and big.subject_items == ("big",)
    assert confirmed_stale(cat, big, big.stale) == [comedy]  # Big stars Hanks: he stays
    later = apply(big, StateDelta(intent="feedback", liked_items=("inception",)))
    assert later.subject_items == ("inception",)
    assert set(confirmed_stale(cat, later, later.stale)) == {hanks, comedy}
