"""Interactions: a user's file loaded with bad rows reported, the catalog table, the user split."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from convrec.catalog.interactions import (
    INTERACTIONS_FILE,
    InteractionMapping,
    held_out_user,
    load_interactions,
    read_interactions,
    write_interactions,
)
from convrec.catalog.layout import open_catalog, write_catalog
from convrec.cli import main
from convrec.config import Settings, load_settings
from convrec.errors import CatalogError
from convrec.types import Item

ITEMS = {"A", "B", "C"}


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, columns)
        w.writeheader()
        w.writerows(rows)
    return path


def test_ratings_file_good_and_bad_rows(tmp_path: Path) -> None:
    """Rows 1-2 good; 3 no user; 4 no item; 5 not a number; 6 unknown item; 7 unknown item;
    8 the same user and item again (later rating kept); 9 good."""
    path = _csv(tmp_path / "r.csv", [
        {"user": "u1", "item": "A", "rating": "5"},
        {"user": "u1", "item": "B", "rating": "2.5"},
        {"user": "", "item": "A", "rating": "4"},
        {"user": "u2", "item": "", "rating": "4"},
        {"user": "u2", "item": "A", "rating": "great"},
        {"user": "u2", "item": "Z", "rating": "4"},
        {"user": "u3", "item": "Y", "rating": "4"},
        {"user": "u1", "item": "A", "rating": "3"},
        {"user": "u3", "item": "C", "rating": "4"},
    ])  # fmt: skip
    report = load_interactions(path, ITEMS)
    assert report.kind == "rating" and report.rows == 9
    assert report.rejected == (3, 4, 5, 6, 7) and report.unknown_item_rows == 2
    assert report.merged == 1
    got = {(u, i): v for u, i, v in report.table.itertuples(index=False)}
    assert got == {("u1", "A"): 3.0, ("u1", "B"): 2.5, ("u3", "C"): 4.0}
    said = [str(p) for p in report.problems]
    assert said[:3] == [
        "row 3: user: missing user id (column 'user')",
        "row 4: item: missing item id (column 'item')",
        "row 5: rating: 'great' is not a number (column 'rating')",
    ]
    assert "row 8: rating: user 'u1' rated item 'A' again (first on row 1)" in said[3]
    assert said[4].startswith("row 6: item: this and 1 more rows name 2 item(s) the catalog lacks")
    assert "'Z'" in said[4] and "'Y'" in said[4] and len(said) == 5
    assert "2 for an item not in the catalog" in report.summary()


def test_counts_jsonl_with_custom_columns(tmp_path: Path) -> None:
    """Counts add up over repeated rows; a negative count and a broken line are rejected."""
    lines = [
        {"uid": 7, "sku": "A", "plays": 2},
        {"uid": 7, "sku": "A", "plays": 3},
        {"uid": 8, "sku": "B", "plays": -1},
        {"uid": 8, "sku": "C", "plays": 1.0},
    ]
    path = tmp_path / "plays.jsonl"
    text = [json.dumps(x) for x in lines]
    path.write_text("\n".join([*text[:2], "{broken", *text[2:]]) + "\n", encoding="utf-8")
    mapping = InteractionMapping.parse("user=uid, item=sku, count=plays")
    assert mapping == InteractionMapping("uid", "sku", None, "plays")
    report = load_interactions(path, ITEMS, mapping)
    assert report.kind == "count" and report.rejected == (3, 4) and report.merged == 1
    assert [str(p) for p in report.problems] == [
        "row 3: row: not a valid JSON object",
        "row 4: count: negative count -1 (column 'plays')",
    ]
    got = {(u, i): v for u, i, v in report.table.itertuples(index=False)}
    assert got == {("7", "A"): 5.0, ("8", "C"): 1.0}


def test_column_errors_say_the_fix(tmp_path: Path) -> None:
    both = _csv(tmp_path / "both.csv", [{"user": "u", "item": "A", "rating": 4, "count": 1}])
    with pytest.raises(CatalogError, match="both a rating"):
        load_interactions(both, ITEMS)
    neither = _csv(tmp_path / "neither.csv", [{"user": "u", "item": "A", "stars": 4}])
    with pytest.raises(CatalogError, match="rating=COLUMN or count=COLUMN"):
        load_interactions(neither, ITEMS)
    no_user = _csv(tmp_path / "nouser.csv", [{"who": "u", "item": "A", "rating": 4}])
    with pytest.raises(CatalogError, match="user=COLUMN"):
        load_interactions(no_user, ITEMS)
    with pytest.raises(CatalogError, match="ROLE=COLUMN"):
        InteractionMapping.parse("person=uid")


def test_written_file_reads_back_with_its_kind(tmp_path: Path) -> None:
    items = [Item(i, f"Item {i}") for i in ("A", "B", "C")]
    path = _csv(tmp_path / "c.csv", [{"user": "u", "item": i, "count": n} for n, i in
                                     enumerate("ABC", 1)])  # fmt: skip
    report = load_interactions(path, ITEMS)
    root = tmp_path / "cat"
    write_catalog(root, items, {"name": "shop"}, extras=lambda d: write_interactions(d, report))
    settings = load_settings(environ={}, cache_dir=str(tmp_path / "cache"))
    inter = read_interactions(open_catalog(root, settings))
    assert inter is not None and inter.kind == "count" and inter.path.name == INTERACTIONS_FILE
    assert list(inter.table.itertuples(index=False)) == [("u", "A", 1.0), ("u", "B", 2.0),
                                                         ("u", "C", 3.0)]  # fmt: skip


def test_cli_load_with_interactions(tmp_path: Path) -> None:
    items = _csv(tmp_path / "items.csv", [{"id": i, "title": f"Item {i}"} for i in "ABC"])
    ratings = _csv(tmp_path / "ratings.csv", [
        {"who": "u1", "what": "A", "stars": 5}, {"who": "u1", "what": "Q", "stars": 4},
        {"who": "u2", "what": "B", "stars": 4},
    ])  # fmt: skip
    out = tmp_path / "shop"
    args = ["catalog", "load", str(items), "--out", str(out), "--interactions", str(ratings),
            "--interaction-columns", "user=who,item=what,rating=stars"]  # fmt: skip
    assert main(args) == 1  # loaded, with a problem (the unknown item Q) reported
    manifest = json.loads((out / "catalog.json").read_text())
    assert manifest["counts"]["interactions"] == 2
    assert manifest["counts"]["interaction_rows_unknown_item"] == 1
    table = pd.read_parquet(out / INTERACTIONS_FILE)
    assert sorted(table["item"]) == ["A", "B"]
    assert main([*args[:5], "--interaction-columns", "user=who"]) == 2  # needs --interactions


# -- the user split --------------------------------------------------------------------------------


def test_split_is_fixed_and_holds_out_about_a_fifth() -> None:
    ids = [str(n) for n in range(20_000)]
    share = np.mean([held_out_user(u) for u in ids])
    assert 0.19 < share < 0.21
    assert [held_out_user(u) for u in ("9", "10", "11", "12")] == [True, True, False, True]


def test_simulated_users_are_outside_the_fitted_model(built_movies: tuple[Any, Settings]) -> None:
    from convrec.backends.cf_fit import fit_model, training_matrix
    from convrec.evaluation.simulated.users import draw_users

    catalog, settings = built_movies
    inter = read_interactions(catalog)
    assert inter is not None and inter.path.name == "ratings.parquet"
    assert inter.table["user"].nunique() == 671
    train, held = inter.training(), inter.held_out()
    assert len(train) + len(held) == len(inter) and train["user"].nunique() == 510
    users = draw_users(catalog, 40, seed=0)
    assert len(users) == 40 and all(held_out_user(u.user_id) for u in users)
    m = training_matrix(inter, settings.cf)
    assert m.users == 510 and not {u.user_id for u in users} & set(m.user_ids)
    # No simulated user's rating, hence no (user, target) pair, is a row of the training data.
    pairs = set(zip(train["user"], train["item"], strict=True))
    assert not any((u.user_id, u.target_id) in pairs for u in users)
    assert not any(u.user_id in set(train["user"]) for u in users)
    # The fitted model is blind to held-out ratings: dropping them all changes nothing.
    only_train = type(inter)(train, inter.kind, inter.path)
    a, b = fit_model(inter, settings.cf), fit_model(only_train, settings.cf)
    assert a.item_ids == b.item_ids and np.array_equal(a.neighbours, b.neighbours)
    # Fitting on every user (a deployment without evaluation) does see them.
    every = settings.cf.model_copy(update={"hold_out_users": False})
    assert set(training_matrix(inter, every).user_ids) >= {u.user_id for u in users}
    # ... while dropping training ratings does change it (the check above can fail).
    fewer = type(inter)(train[train["user"] != train["user"].iloc[0]], inter.kind, inter.path)
    c = fit_model(fewer, settings.cf)
    assert c.item_ids != a.item_ids or not np.array_equal(c.neighbours, a.neighbours)
