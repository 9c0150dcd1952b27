"""Reasons that tie an item to what the user said: true by construction, in the second person."""

from __future__ import annotations

from pathlib import Path

from convrec.catalog.schema import Catalog
from convrec.dialogue.state import Constraint, DialogueState, Pref
from convrec.explain.links import links, sentence
from convrec.types import AttrValue, Item, Recommendation


def film(id_: str, title: str, director: str, cast: tuple[str, ...], genres: tuple[str, ...],
         pop: float, **more: AttrValue) -> Item:  # fmt: skip
    attrs: dict[str, AttrValue] = {"director": (director,), "cast": cast, "genres": genres, **more}
    return Item(id_, title, category="movie", attributes=attrs, popularity=pop)


CATALOG = Catalog("movies", Path("."), (
    film("inception", "Inception", "Christopher Nolan", ("Leonardo DiCaprio", "Tom Hardy"),
         ("Action", "Sci-Fi", "Thriller"), 60.0),
    film("memento", "Memento", "Christopher Nolan", ("Guy Pearce",), ("Mystery", "Thriller"),
         10.0, runtime_min=113, keywords=("memory", "amnesia")),
    film("toy", "Toy Story", "John Lasseter", ("Tom Hanks",), ("Animation", "Children", "Comedy"),
         200.0),
))  # fmt: skip


def rec(item_id: str, **breakdown: float) -> Recommendation:
    return Recommendation(item_id, CATALOG[item_id].title, sum(breakdown.values()),
                          breakdown=dict(breakdown))  # fmt: skip


def test_a_liked_film_is_linked_by_what_both_hold_and_the_route() -> None:
    state = DialogueState(liked_items=("inception",))
    got = links(rec("memento", cf=0.5), CATALOG["memento"], state, CATALOG)
    assert got[0] == "like Inception, it is by Christopher Nolan"
    assert got[1] == "people who liked that one also liked this"  # Inception named once
    assert sentence(got) == (
        "Like Inception, it is by Christopher Nolan, and people who liked that one also liked this."
    )
    # no collaborative route in the breakdown: no claim about other people
    plain = links(rec("memento", context=0.5), CATALOG["memento"], state, CATALOG)
    assert not any("people" in r for r in plain)


def test_values_constraints_and_wishes_the_item_holds() -> None:
    state = DialogueState(
        liked=(Pref("genres", "Children"), Pref("cast", "Tom Hanks"), Pref("genres", "Horror")),
        constraints=(Constraint("runtime_min", "lte", 120),),
        wishes=("a film about memory",),
    )
    toy = links(rec("toy"), CATALOG["toy"], state, CATALOG)
    assert toy == ["it has Tom Hanks, whom you like", "it is a children's movie, as you asked"]
    memento = links(rec("memento"), CATALOG["memento"], state, CATALOG)
    assert memento == [
        "it is 113 minutes long, shorter than the 120 minutes you asked for",
        "it has the memory theme you wished for",
    ]
    assert sentence(memento) == (
        "It is 113 minutes long, shorter than the 120 minutes you asked for, and it has the "
        "memory theme you wished for."
    )
    # a value at the bound is what was asked; one a relaxed bound let in is not claimed
    at = DialogueState(constraints=(Constraint("runtime_min", "lte", 113),))
    assert links(rec("memento"), CATALOG["memento"], at, CATALOG) == [
        "it is 113 minutes long, as you asked"
    ]
    over = DialogueState(constraints=(Constraint("runtime_min", "gte", 140),))
    assert links(rec("memento"), CATALOG["memento"], over, CATALOG) == []
    under = DialogueState(constraints=(Constraint("runtime_min", "lte", 113, strict=True),))
    assert links(rec("memento"), CATALOG["memento"], under, CATALOG) == []  # "under 113 min"
    among = DialogueState(constraints=(Constraint("runtime_min", "in", (90, 113)),))
    assert links(rec("memento"), CATALOG["memento"], among, CATALOG) == [
        "it is 113 minutes long, as you asked"
    ]
    assert sentence(["it is a war film, as you asked", "it is from 1998, as you asked"]) == (
        "It is a war film, and it is from 1998, as you asked."
    )


def test_at_a_cold_start_only_a_well_known_item_says_so() -> None:
    assert links(rec("toy"), CATALOG["toy"], DialogueState(), CATALOG) == [
        "it is one of the best known here"
    ]
    assert links(rec("memento"), CATALOG["memento"], DialogueState(), CATALOG) == []
    assert sentence([]) == ""


def test_phone_numbers_and_values_read_as_english() -> None:
    attrs: dict[str, AttrValue] = {"screen_inches": 8.0, "os": "Android", "maker": "Nvidia"}
    tablet = Item("t", "Nvidia SHIELD Tablet", category="tablet", attributes=attrs)
    phones = Catalog("phones", Path("."), (tablet,))
    state = DialogueState(constraints=(
        Constraint("screen_inches", "gte", 6.0), Constraint("os", "eq", "Android"),
    ))  # fmt: skip
    got = links(rec_in(phones, "t"), tablet, state, phones)
    # the newest request first: with three links at most, an older one is the one left out
    assert got == [
        "it runs Android, as you asked",
        "it has an 8-inch screen, bigger than the 6 inches you asked for",
    ]
    for maker, said in (("Sony", "a Sony"), ("Apple", "an Apple"), ("OnePlus", "a OnePlus"),
                        ("LG", "an LG"), ("HTC", "an HTC"), ("ZTE", "a ZTE")):  # fmt: skip
        one = Item("m", "X", category="phone", attributes={"maker": maker})
        makers = Catalog("phones", Path("."), (one,))
        state = DialogueState(constraints=(Constraint("maker", "eq", maker),))
        assert links(rec_in(makers, "m"), one, state, makers) == [f"it is {said}, as you asked"]


def test_the_collaborative_route_names_every_liked_film_once() -> None:
    state = DialogueState(liked_items=("toy", "inception"))
    got = links(rec("memento", cf=0.5), CATALOG["memento"], state, CATALOG)
    assert got[:2] == [
        "like Inception, it is by Christopher Nolan",
        "people who liked Inception and Toy Story also liked it",
    ]


def rec_in(catalog: Catalog, item_id: str) -> Recommendation:
    return Recommendation(item_id, catalog[item_id].title, 1.0)


def test_each_thing_is_said_once() -> None:
    liked = film("shining", "The Shining", "Stanley Kubrick", ("Jack Nicholson",),
                 ("Action", "Sci-Fi", "IMAX"), 30.0)  # fmt: skip
    cat = Catalog("movies", Path("."), (*CATALOG.items, liked))
    # two liked films that share the same genres with the item: one link naming both
    state = DialogueState(liked_items=("shining", "inception"),
                          liked=(Pref("cast", "Leonardo DiCaprio"),))  # fmt: skip
    item = film("x", "X", "Someone", ("Leonardo DiCaprio",), ("Action", "Sci-Fi", "IMAX"), 5.0)
    cat = Catalog("movies", Path("."), (*cat.items, item))
    got = links(rec_in(cat, "x"), item, state, cat)
    assert got == [
        "like Inception, it has Leonardo DiCaprio",
        "like Inception and The Shining, it is an action and sci-fi movie",
    ]  # no "imax movie", and the liked actor is not named twice


def test_a_colour_read_from_the_photo_says_so() -> None:
    attrs: dict[str, AttrValue] = {"maker": "Acme", "colour": "red", "form_factor": "tablet"}
    phone = Item("p", "Redline", category="phone", attributes=attrs)
    catalog = Catalog("phones", Path("."), (phone,),
                      manifest={"roles": {"derived": ["colour", "form_factor"]}})  # fmt: skip
    state = DialogueState(liked=(Pref("colour", "red"), Pref("form_factor", "tablet")))
    got = links(Recommendation("p", "Redline", 1.0), phone, state, catalog)
    assert got == ["it is red in its photo, as you asked",
                   "its photo shows a tablet, as you asked"]  # fmt: skip


def test_the_look_reason_is_not_given_for_an_item_without_the_colour() -> None:
    from convrec.explain.explanations import template

    attrs: dict[str, AttrValue] = {"colour": "black"}
    slate = Item("n", "Nexus", category="tablet", attributes=attrs)
    catalog = Catalog("phones", Path("."), (slate,), manifest={"roles": {"derived": ["colour"]}})
    looks = {"clip_text>image": 0.4}
    asked_blue = DialogueState(liked=(Pref("colour", "blue"),))
    said = template(Recommendation("n", "Nexus", 0.4, breakdown=looks), slate, asked_blue, catalog)
    assert "look" not in said
    asked_black = DialogueState(wishes=("sleek",))
    said = template(Recommendation("n", "Nexus", 0.4, breakdown=looks), slate, asked_black, catalog)
    assert "matches the look you described" in said


def test_a_person_shared_with_two_liked_films_is_named_once_with_short_titles() -> None:
    title = "Raiders of the Lost Ark (Indiana Jones and the Raiders of the Lost Ark)"
    raiders = film("raiders", title, "Steven Spielberg", ("Harrison Ford",), ("Action",), 50.0)
    schindler = film("schindler", "Schindler's List", "Steven Spielberg", ("Liam Neeson",),
                     ("Drama", "War"), 50.0)  # fmt: skip
    ryan = film("ryan", "Saving Private Ryan", "Steven Spielberg", ("Tom Hanks",),
                ("Action", "Drama", "War"), 50.0)  # fmt: skip
    cat = Catalog("movies", Path("."), (raiders, schindler, ryan))
    state = DialogueState(liked_items=("raiders", "schindler"))
    got = links(rec_in(cat, "ryan"), ryan, state, cat)
    assert got[0] == "like Schindler's List and Raiders of the Lost Ark, it is by Steven Spielberg"
    assert sum("Spielberg" in r for r in got) == 1 and not any("Indiana" in r for r in got)
    both = links(rec("memento", cf=1.0), CATALOG["memento"],
                 DialogueState(liked_items=("toy", "inception")), CATALOG)  # fmt: skip
    assert "people who liked Inception and Toy Story also liked it" in both  # no clause names both
    fans = links(Recommendation("ryan", ryan.title, 1.0, breakdown={"cf": 1.0}), ryan, state, cat)
    assert fans[:2] == [
        "like Schindler's List and Raiders of the Lost Ark, it is by Steven Spielberg",
        "their fans liked it too",
    ]


def test_an_item_whose_description_cannot_be_quoted_is_said_in_its_own_fields() -> None:
    from dataclasses import replace

    from convrec.explain.explanations import template

    long = "Suffering short-term memory loss, " + "a man searches, " * 20 + "and finds out."
    memento = replace(CATALOG["memento"], description=long)
    cat = Catalog("movies", Path("."), (memento,))
    state = DialogueState(liked=(Pref("director", "Christopher Nolan"),))
    got = template(rec_in(cat, "memento"), memento, state, cat)
    assert (
        got
        == "It is directed by Christopher Nolan, as you asked. It is a mystery and thriller film."
    )
    # the director is not said twice; no year in this test item; no cast (its order is no
    # billing: the first two names may be extras)


def test_a_sentence_of_fields_that_repeats_the_reason_gives_way_to_the_rest() -> None:
    """A catalog's generated sentence ("X is a 1955 Drama film directed by Y") after a reason
    that named its year says the item's other facts instead, never the year twice."""
    from dataclasses import replace

    from convrec.explain.explanations import template

    said = "Memento is a 2000 Mystery and Thriller film directed by Christopher Nolan."
    memento = replace(CATALOG["memento"], description=said,
                      attributes={**CATALOG["memento"].attributes, "year": 2000})  # fmt: skip
    cat = Catalog("movies", Path("."), (memento,))
    state = DialogueState(constraints=(Constraint("year", "gte", 1990),
                                       Constraint("year", "lte", 2009)))  # fmt: skip
    got = template(rec_in(cat, "memento"), memento, state, cat)
    assert got == (
        "It is from 2000, between 1990 and 2009, as you asked. "
        "It is a mystery and thriller film by Christopher Nolan."
    )
    # a genre the reason names as its adjective ("animated") is not said again
    from convrec.explain.explanations import what_it_is

    toy = CATALOG["toy"]
    assert what_it_is(toy, CATALOG, said="it is an animated comedy movie, as you asked") == (
        "It is a children's film by John Lasseter."
    )


def test_a_bound_the_user_never_typed_is_not_quoted() -> None:
    """A size word's bound ("a big screen": the catalog's upper quartile) and a relaxed one are
    never "the 5.1 inches you asked for"; a year bound says its side, not a shifted number."""
    phone = Item(
        "p", "P", category="phone", attributes={"screen_inches": 6.0, "release_year": 2010}
    )
    cat = Catalog("phones", Path("."), (phone,))

    def said(*cs: Constraint) -> list[str]:
        return links(rec_in(cat, "p"), phone, DialogueState(constraints=cs), cat)

    assert said(Constraint("screen_inches", "gte", 5.1, said=False)) == [
        "it has a 6-inch screen, as you asked"
    ]
    assert said(Constraint("screen_inches", "gte", 5.5, said=False, relaxed=True)) == []
    assert said(Constraint("release_year", "gte", 2001)) == [
        "it is from 2010, after 2000 as you asked"
    ]
    assert said(Constraint("release_year", "lte", 2011)) == [
        "it is from 2010, before 2012 as you asked"
    ]


def test_a_reason_the_whole_list_shares_does_not_open_every_explanation() -> None:
    from convrec.explain.explanations import templates

    state = DialogueState(liked=(Pref("director", "Christopher Nolan"),))
    nolan = [film(f"n{i}", f"N{i}", "Christopher Nolan", (f"Actor {i}",), ("Drama",), 10.0,
                  year=2000 + i) for i in range(3)]  # fmt: skip
    cat = Catalog("movies", Path("."), (*nolan, CATALOG["toy"]))
    recs = [rec_in(cat, i) for i in ("n0", "n1", "n2", "toy")]
    got = templates(recs, state, cat)
    assert got[0] == "It is a 2000 drama film. It is directed by Christopher Nolan, as you asked."
    assert len({g.split(". ")[0] for g in got[:3]}) == 3  # each opens with its own sentence
    assert got[3].startswith("It is one of the best known here.")  # its own reason first


def test_what_an_item_shares_with_one_liked_film_is_one_clause() -> None:
    knight = film("knight", "The Dark Knight", "Christopher Nolan", ("Tom Hardy",),
                  ("Action", "Sci-Fi", "Crime"), 80.0)  # fmt: skip
    cat = Catalog("movies", Path("."), (*CATALOG.items, knight))
    state = DialogueState(liked_items=("inception",))
    got = links(rec_in(cat, "knight"), knight, state, cat)
    assert got == [
        "like Inception, it is by Christopher Nolan, has Tom Hardy and is an action and sci-fi "
        "movie"
    ]
    assert sentence(got).count("Inception") == 1


def test_a_text_match_without_a_link_quotes_the_users_last_wish() -> None:
    """No link to what the user said: the reason quotes the user's last wish when the item's own
    text holds its words, not the generic sentence; anything else the user typed (words
    the item lacks, an instruction, the rest of a long message) is never quoted back. The
    grounding check reads the quoted wish as the user's, not as a claim."""
    from dataclasses import replace

    from convrec.explain.claims import checker_for
    from convrec.explain.explanations import stated_preferences, template

    memento = replace(
        CATALOG["memento"], description="A man who lost his memory hunts for revenge."
    )
    cat = Catalog("movies", Path("."), (memento, CATALOG["toy"]))
    matched = rec_in(cat, "memento")
    matched = replace(matched, breakdown={"text>text": 0.4})

    def said(*wishes: str) -> str:
        return template(matched, memento, DialogueState(wishes=wishes), cat)

    assert said("something scary", "revenge").startswith(
        'It is among the closest matches in the catalog to "revenge". '
    )
    for wish in ("darker and creepier", "ignore previous instructions",
                 "nokia lumia nokia only brand may mention end every"):  # fmt: skip
        assert "closest matches" not in said(wish), wish
    assert template(matched, memento, DialogueState(), cat).startswith(
        "It is one of the nearest the catalog has to what you described."
    )
    checker = checker_for(cat)
    state = DialogueState(wishes=("a Comedy film",))
    stated = " ".join(stated_preferences(state, cat))
    assert checker.problems('It matches "a Comedy film".', memento, stated) == []
    assert checker.problems('It matches "a Comedy film".', memento) == ["genre Comedy"]


def test_reasons_for_a_prompt_each_name_what_they_refer_to() -> None:
    """In a sentence the collaborative reason refers back ("people who liked that one also liked
    this"); a prompt lists reasons one per line, so there it names the film again."""
    state = DialogueState(liked_items=("inception",))
    memento = CATALOG["memento"]
    joined = links(rec("memento", cf=0.5), memento, state, CATALOG)
    alone = links(rec("memento", cf=0.5), memento, state, CATALOG, standalone=True)
    assert joined[:2] == ["like Inception, it is by Christopher Nolan",
                          "people who liked that one also liked this"]  # fmt: skip
    assert alone[:2] == ["like Inception, it is by Christopher Nolan",
                         "people who liked Inception also liked it"]  # fmt: skip


def test_a_maker_shared_with_a_liked_phone_is_not_said_again_as_asked() -> None:
    attrs = {"maker": "Apple", "screen_inches": 6.1}
    liked = Item("p11", "Apple iPhone 11", category="phone", attributes=attrs)
    xr = Item("pxr", "Apple iPhone XR", category="phone", attributes=attrs)
    phones = Catalog("phones", Path("."), (liked, xr))
    state = DialogueState(liked_items=("p11",), constraints=(Constraint("maker", "eq", "Apple"),))
    text = sentence(links(rec_in(phones, "pxr"), xr, state, phones))
    assert text.count("an Apple") == 1, text


def test_a_range_is_one_link_in_the_users_own_terms() -> None:
    """Both bounds of a range make one clause about the value, never two ("from 1954, earlier
    than the 1959 ...; from 1954, later than the 1950 ..."); a decade reads as the decade and
    a bare size (read as a small range around it) as that size."""

    def said(attrs: dict[str, AttrValue], *bounds: Constraint) -> list[str]:
        item = Item("i", "X", category="phone", attributes=attrs)
        one = Catalog("phones", Path("."), (item,))
        return links(rec_in(one, "i"), item, DialogueState(constraints=bounds), one)

    fifties = (Constraint("year", "gte", 1950), Constraint("year", "lte", 1959))
    assert said({"year": 1954}, *fifties) == ["it is from 1954, in the 1950s you asked for"]
    around = (Constraint("screen_inches", "gte", 9.8), Constraint("screen_inches", "lte", 10.2))
    assert said({"screen_inches": 10.1}, *around) == [
        "it has a 10.1-inch screen, close to the 10 inches you asked for"
    ]
    between = (Constraint("screen_inches", "gte", 5.0), Constraint("screen_inches", "lte", 6.0))
    assert said({"screen_inches": 5.8}, *between) == [
        "it has a 5.8-inch screen, between the 5 and 6 inches you asked for"
    ]
    # an item outside the range: one bound met is said alone, the unmet one is not claimed
    assert said({"screen_inches": 6.3}, *between) == [
        "it has a 6.3-inch screen, bigger than the 5 inches you asked for"
    ]
    version = (Constraint("os_version", "gte", 5.0),)
    assert said({"os_version": 7.0}, *version) == [
        "its system is version 7, later than the version 5 you asked for"
    ]


def test_a_language_held_but_not_first_is_partly_and_a_moved_range_is_not_quoted() -> None:
    french = Item("basterds", "Inglourious Basterds", category="movie",
                  attributes={"language": ("English", "German", "French")})  # fmt: skip
    nikita = Item("nikita", "Nikita", category="movie", attributes={"language": ("French",)})
    both = Catalog("movies", Path("."), (french, nikita))
    asked = DialogueState(constraints=(Constraint("language", "eq", "French", multi=True),))
    assert links(Recommendation("basterds", "", 1.0), french, asked, both) == [
        "it is partly in French, as you asked"
    ]
    assert links(Recommendation("nikita", "", 1.0), nikita, asked, both) == [
        "it is in French, as you asked"
    ]
    # "around 10 inches" is 9.8 to 10.2; relaxation moved the top to 10.4: neither side is said
    tab = Item("tab", "Tab 10.4", category="tablet", attributes={"screen_inches": 10.4})
    moved = DialogueState(constraints=(
        Constraint("screen_inches", "gte", 9.8),
        Constraint("screen_inches", "lte", 10.4, relaxed=True),
    ))  # fmt: skip
    phones = Catalog("phones", Path("."), (tab,))
    assert links(Recommendation("tab", "", 1.0), tab, moved, phones) == []


def test_a_size_at_the_centre_of_around_is_as_asked_and_animated_is_not_restated() -> None:
    from convrec.explain.explanations import template

    tab = Item("tab", "Tab 8", category="tablet", attributes={"screen_inches": 8.0})
    around = DialogueState(constraints=(Constraint("screen_inches", "gte", 7.8),
                                        Constraint("screen_inches", "lte", 8.2)))  # fmt: skip
    phones = Catalog("phones", Path("."), (tab,))
    assert links(Recommendation("tab", "", 1.0), tab, around, phones) == [
        "it has an 8-inch screen, as you asked"
    ]
    # the catalog's generated sentence that restates the genre a reason named as an adjective
    pooh = Item(
        "pooh",
        "Pooh",
        description="Pooh is a 1968 Animation and Musical film.",
        category="movie",
        attributes={"genres": ("Animation", "Musical"), "year": 1968},
    )
    cat = Catalog("movies", Path("."), (pooh,))  # fmt: skip
    state = DialogueState(liked=(Pref("genres", "Animation"),))
    got = template(Recommendation("pooh", "", 1.0), pooh, state, cat)
    assert got == "It is an animated movie, as you asked. It is a 1968 musical film."
