"""Colour and form factor read from product photos (convrec.catalog.visual), the `derived` role
they play, and what the user says of them: soft preferences, never filters."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageDraw

from convrec.catalog import visual
from convrec.catalog.layout import open_catalog
from convrec.cli import main
from convrec.config import Settings
from convrec.dialogue.lexicon import Lexicon
from convrec.dialogue.state import DialogueState, Pref, Release, StateDelta, apply, soften
from convrec.dialogue.understand import understand
from convrec.ranking.recommend import with_photo_looks
from convrec.types import Item, Message

WHITE = (255, 255, 255)


def device(path: Path, views: list[tuple[tuple[int, int, int], tuple[int, int, int] | None]],
           size: tuple[int, int] = (90, 180), gap: int = 30) -> Path:  # fmt: skip
    """A product photo on white: each view is a body colour and, for a front, its screen's."""
    w, h = size
    im = Image.new("RGB", (gap + len(views) * (w + gap), h + 2 * gap), WHITE)
    draw = ImageDraw.Draw(im)
    for n, (body, screen) in enumerate(views):
        x = gap + n * (w + gap)
        draw.rounded_rectangle((x, gap, x + w, gap + h), radius=8, fill=body, outline=(150,) * 3)
        if screen is not None:
            draw.rectangle((x + 8, gap + 16, x + w - 8, gap + h - 16), fill=screen)
    im.save(path)
    return path


@pytest.mark.parametrize(
    ("views", "colour"),
    [
        ([((200, 20, 30), None)], "red"),  # a back, alone
        ([((20, 20, 20), (10, 10, 10)), ((235, 120, 170), None)], "pink"),  # black front, back
        ([((250, 250, 250), (30, 60, 160)), ((246, 246, 246), None)], "white"),  # white on white
        ([((250, 205, 220), (20, 20, 20)), ((250, 210, 222), None)], "pink"),  # a pale body
        ([((215, 190, 140), (20, 20, 20))], "gold"),  # a front: the frame decides
        ([((30, 60, 170), (240, 240, 240))], "blue"),
    ],
)
def test_body_colour_from_the_views(tmp_path: Path, views: list, colour: str) -> None:
    got = visual.read(device(tmp_path / "p.png", views))
    assert got.colour == colour, got.colours
    assert got.attributes()[visual.COLOUR] == colour


def test_form_from_proportions(tmp_path: Path) -> None:
    slate = device(tmp_path / "t.png", [((20, 20, 20), (60, 60, 200))], size=(160, 220))
    assert visual.read(slate).form == "tablet"
    phone = device(tmp_path / "p.png", [((20, 20, 20), (60, 60, 200)), ((20, 20, 20), None)])
    assert visual.read(phone).form == "phone"
    # a front touching its back reads as two phones, not one wide slate
    joined = device(tmp_path / "j.png", [((20, 20, 20), (60, 60, 200)), ((200, 20, 30), None)],
                    gap=0)  # fmt: skip
    assert visual.read(joined).form == "phone" and visual.read(joined).colour == "red"


def test_unsure_values_are_not_stored(tmp_path: Path) -> None:
    stripes = Image.new("RGB", (120, 200), WHITE)
    draw = ImageDraw.Draw(stripes)
    palette = [(200, 20, 30), (30, 60, 170), (30, 160, 60), (230, 200, 40), (120, 40, 160)]
    for n in range(10):
        draw.rectangle((10, 10 + 18 * n, 110, 28 + 18 * n), fill=palette[n % 5])
    stripes.save(tmp_path / "s.png")
    got = visual.read(tmp_path / "s.png")
    assert got.colour_confidence < visual.MIN_CONFIDENCE
    assert visual.COLOUR not in got.attributes()


def test_derive_keeps_the_catalog_word_and_items_without_photos(tmp_path: Path) -> None:
    red = device(tmp_path / "r.png", [((200, 20, 30), None)])
    broken = tmp_path / "b.png"
    broken.write_bytes(b"not a picture")
    items = [
        Item("a", "A", image_paths=(str(red),)),
        Item("b", "B", attributes={"colour": "Crimson"}, image_paths=(str(red),)),
        Item("c", "C", image_paths=(str(broken),)),
        Item("d", "D"),
    ]
    out = visual.derive(items, lambda it: Path(it.image_paths[0]) if it.image_paths else None)
    assert out[0].attributes["colour"] == "red" and out[0].attributes["colour_confidence"] > 0.8
    assert out[1].attributes["colour"] == "Crimson"  # the catalog's own value stays
    assert out[2] == items[2] and out[3] == items[3]
    assert visual.summary(out)["counts"]["colour"] == {"red": 1, "Crimson": 1}


def test_load_from_photos_declares_the_derived_role(tmp_path: Path) -> None:
    rows = [
        {"id": "p1", "title": "Redline", "maker": "Acme",
         "image": str(device(tmp_path / "1.png", [((200, 20, 30), None)]))},
        {"id": "p2", "title": "Bluebell", "maker": "Acme",
         "image": str(device(tmp_path / "2.png", [((30, 60, 170), None)]))},
        {"id": "p3", "title": "Snow", "maker": "Bolt",
         "image": str(device(tmp_path / "3.png", [((20, 20, 20), (9, 9, 9)), ((247,) * 3, None)]))},
    ]  # fmt: skip
    src = tmp_path / "items.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    out = tmp_path / "cat"
    args = ["catalog", "load", str(src), "--out", str(out), "--attr", "maker:str",
            "--images-field", "image", "--role", "never_ask=maker", "--from-photos"]  # fmt: skip
    assert main(args) == 0
    catalog = open_catalog(out, Settings())
    assert [it.attributes["colour"] for it in catalog.items] == ["red", "blue", "white"]
    assert catalog.roles.derived == {"colour"}
    assert "maker" in catalog.roles.never_ask and "colour" in catalog.roles.never_ask
    assert "colour_confidence" in catalog.roles.hidden
    manifest = json.loads((out / "catalog.json").read_text())
    assert manifest["derived"]["counts"]["colour"] == {"red": 1, "blue": 1, "white": 1}

    # what the user says of a colour is a soft preference, never a filter
    lex = Lexicon.from_catalog(catalog)
    said = understand([Message("user", "I want a red one")], DialogueState(), lex, None)
    assert Pref("colour", "red") in said.delta.like
    assert not any(c.attribute == "colour" for c in said.delta.add)
    assert "red" not in said.delta.wishes  # read as the value, not again as a wish
    said = understand([Message("user", "anything but blue")], DialogueState(), lex, None)
    assert said.delta.dislike == (Pref("colour", "blue"),) and not said.delta.wishes


def test_soften_turns_derived_constraints_into_preferences() -> None:
    from convrec.dialogue.state import Constraint

    delta = StateDelta(
        add=(Constraint("colour", "eq", "red"), Constraint("maker", "eq", "Sony"),
             Constraint("form_factor", "ne", "tablet")),
    )  # fmt: skip
    soft = soften(delta, {"colour", "form_factor"})
    assert soft.add == (Constraint("maker", "eq", "Sony"),)
    assert soft.like == (Pref("colour", "red"),)
    assert soft.dislike == (Pref("form_factor", "tablet"),)
    assert Release("colour") in soft.release
    assert soften(delta, ()) is delta
    # a new colour replaces the one liked before; the maker stays
    state = apply(DialogueState(), soft)
    state = apply(state, soften(StateDelta(like=(Pref("colour", "blue"),)), {"colour"}))
    assert [p for p in state.liked if p.attribute == "colour"] == [Pref("colour", "blue")]
    assert any(c.attribute == "maker" for c in state.constraints)


def test_an_uploaded_photo_adds_its_look_unless_the_user_named_one(tmp_path: Path) -> None:
    photo = str(device(tmp_path / "p.png", [((20, 20, 20), (5, 5, 5)), ((200, 20, 30), None)]))
    looks = with_photo_looks(DialogueState(), photo, {"colour"})
    assert looks.liked == (Pref("colour", "red"),)
    black = DialogueState(liked=(Pref("colour", "black"),))
    kept = with_photo_looks(black, photo, {"colour"})
    assert kept.liked == (Pref("colour", "black"),)  # "more like this, but in black"
    assert with_photo_looks(DialogueState(), photo, ()) == DialogueState()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    assert with_photo_looks(DialogueState(), str(bad), {"colour"}) == DialogueState()


def test_real_photos_agree_with_the_hand_labels(real_catalogs: dict) -> None:
    """A regression bound on the shipped phones' photos (eval/vision/report.py has the figures):
    the colour read agrees with two labellers' eyes on most photos, and the form nearly always."""
    from kit import ROOT

    phones = real_catalogs["phones"]
    labels = [json.loads(x) for x in (ROOT / "eval/vision/labels.jsonl").read_text().splitlines()]
    truth = {x["id"]: x for x in labels if x["labeller"] == "a"}
    truth.update({x["id"]: x for x in labels if x["id"] not in truth})
    read = {i: visual.read(phones.image_path(phones[i])) for i in truth}
    colour = sum(read[i].colour == t["colour"] for i, t in truth.items()) / len(truth)
    form = sum(read[i].form == t["form"] for i, t in truth.items()) / len(truth)
    assert len(truth) == 380 and colour >= 0.8 and form >= 0.9, (colour, form)
