"""Collaborative models: known neighbours on a tiny matrix, one contract for every model, the
real MovieLens neighbours, and the cache beside the index."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from convrec.backends.cf_fit import cf_dir, fit_or_load
from convrec.backends.cf_model import (
    Matrix,
    NeighbourModel,
    fit_ease,
    fit_item_knn,
    positive_matrix,
    top_neighbours,
)
from convrec.catalog.interactions import (
    INTERACTIONS_FILE,
    held_out_user,
    load_interactions,
    write_interactions,
)
from convrec.catalog.layout import write_catalog
from convrec.config import Settings, load_settings
from convrec.protocols import CollaborativeModel
from convrec.types import Item


def _table(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "value"]).astype({"value": "float32"})


def tiny() -> Matrix:
    """Three taste groups: users 0-5 like a1, a2 (and half of them a3), users 6-11 like b1, b2;
    everybody likes pop; one user dislikes (rating 2) a1 and b1, which must not count."""
    rows = []
    for u in range(12):
        group = ["a1", "a2"] + (["a3"] if u % 2 else []) if u < 6 else ["b1", "b2"]
        rows += [(f"u{u}", i, 5.0) for i in [*group, "pop"]]
    rows += [("hater", "a1", 2.0), ("hater", "b1", 2.0), ("hater", "pop", 4.0)]
    return positive_matrix(_table(rows), "rating", positive_rating=4.0)


FITS: dict[str, Callable[[Matrix], NeighbourModel]] = {
    "item_knn": lambda m: fit_item_knn(m, neighbours=3),
    "item_knn_bm25": lambda m: fit_item_knn(m, neighbours=3, weighting="bm25"),
    "ease": lambda m: fit_ease(m, neighbours=3, l2=1.0),
}


def test_positive_signal() -> None:
    m = tiny()
    assert m.item_ids == ("a1", "a2", "a3", "b1", "b2", "pop") and m.users == 13
    assert m.x.nnz == 12 * 3 + 3 + 1  # the hater's two low ratings are not likes
    centred = positive_matrix(_table([("u", "a", 5.0), ("u", "b", 3.0), ("u", "c", 1.0)]),
                              "rating", signal="centred")  # fmt: skip
    assert centred.item_ids == ("a",) and centred.x.toarray().tolist() == [[2.0]]
    counts = positive_matrix(_table([("u", "a", 3.0), ("v", "a", 1.0), ("v", "b", 1.0)]),
                             "count", min_interactions=2)  # fmt: skip
    assert counts.item_ids == ("a",) and np.allclose(counts.x.toarray().ravel(), np.log1p([3, 1]))


@pytest.mark.parametrize("name", list(FITS))
def test_known_neighbours(name: str) -> None:
    model = FITS[name](tiny())
    assert model.similar(["a1"], 1)[0].item_id == "a2"
    assert model.similar(["b2"], 1)[0].item_id == "b1"
    assert [h.item_id for h in model.similar(["a1", "a3"], 1)] == ["a2"]
    # The a-group never reaches the b-group: no user liked both.
    assert not {"b1", "b2"} & {h.item_id for h in model.similar(["a1", "a2", "a3"], 10)}


def test_top_neighbours_dense_and_sparse_agree() -> None:
    import scipy.sparse as sp

    sim = np.array([[9, 1, 3, 0], [1, 9, -2, 2], [3, 0, 9, 3], [0, 2, 3, 9]], dtype=np.float32)
    for given in (sim.copy(), sp.csr_matrix(sim)):
        idx, val = top_neighbours(given, 2)
        assert idx.tolist() == [[2, 1], [3, 0], [0, 3], [2, 1]]  # ties broken by index
        assert val.tolist() == [[3, 1], [2, 1], [3, 3], [3, 2]]
    idx, _ = top_neighbours(sim.copy(), 3)
    assert idx[1].tolist() == [3, 0, -1]  # negative weights are no neighbours


# -- one contract for every model ---------------------------------------------------------------


def _saved(tmp_path: Path) -> NeighbourModel:
    model = fit_ease(tiny(), neighbours=3, l2=1.0)
    model.save(tmp_path / "m.npz")
    return NeighbourModel.load(tmp_path / "m.npz")


MODELS: dict[str, Callable[[Path], Any]] = {
    **{name: (lambda _p, fit=fit: fit(tiny())) for name, fit in FITS.items()},
    "ease_reloaded": _saved,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_contract(name: str, tmp_path: Path) -> None:
    model = MODELS[name](tmp_path)
    assert isinstance(model, CollaborativeModel)
    assert "a1" in model and "zz" not in model and 7 not in model
    hits = model.similar(["a1", "zz"], 10)
    ids = [h.item_id for h in hits]
    assert ids and "a1" not in ids and len(ids) == len(set(ids))
    assert all(h.channel == "cf" and h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert [h.item_id for h in model.similar(["a1"], 1)] == ids[:1]  # k cuts, order kept
    assert model.similar(["zz"], 10) == [] and model.similar(["a1"], 0) == []
    rest = [h.item_id for h in model.similar(["a1"], 10, exclude={ids[0]})]
    assert rest == ids[1:]
    only = model.similar(["a1"], 10, allowed=[ids[-1], "b1"])
    assert [h.item_id for h in only] == [ids[-1]]
    if name == "ease_reloaded":
        fresh = fit_ease(tiny(), neighbours=3, l2=1.0)
        assert model.item_ids == fresh.item_ids and np.array_equal(model.scores, fresh.scores)
        assert model.params == fresh.params and model.kind == "ease"


# -- the real MovieLens ratings ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["item_knn", "ease"])
def test_movielens_neighbours_make_sense(built_movies: tuple[Any, Settings], kind: str) -> None:
    import time

    catalog, settings = built_movies
    settings = settings.model_copy(update={"cf": settings.cf.model_copy(update={"model": kind})})
    model = fit_or_load(catalog, settings)
    assert model is not None and 2000 < len(model) < len(catalog)
    toy_story = [h.item_id for h in model.similar(["1"], 20)]
    assert "3114" in toy_story[:5]  # Toy Story → Toy Story 2
    animated = sum("Animation" in catalog[i].attributes.get("genres", ()) for i in toy_story)
    assert animated >= 4
    godfather = [h.item_id for h in model.similar(["858"], 10)]
    assert "1221" in godfather  # The Godfather → The Godfather: Part II
    liked = ["1", "2571", "318", "296", "593"]
    model.similar(liked, 50)
    t0 = time.perf_counter()
    for _ in range(100):
        model.similar(liked, 50)
    assert (time.perf_counter() - t0) / 100 < 0.005  # well under 5 ms a call


def test_cache_loads_then_refits_on_changed_input(tmp_path: Path) -> None:
    items = [Item(f"i{n}", f"Item {n}") for n in range(8)]
    users = [f"user{n}" for n in range(60)]
    rows = [{"user": u, "item": f"i{(k + n) % 8}", "rating": 5} for n, u in enumerate(users)
            for k in range(3)]  # fmt: skip
    src = tmp_path / "r.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ids = {it.id for it in items}
    root = tmp_path / "shop"
    report = load_interactions(src, ids)
    catalog = write_catalog(root, items, {"name": "shop"},
                            extras=lambda d: write_interactions(d, report))  # fmt: skip
    settings = load_settings(environ={}, cache_dir=str(tmp_path / "cache"),
                             cf={"min_interactions": 1})  # fmt: skip
    folder = cf_dir(catalog, settings)
    first = fit_or_load(catalog, settings)
    assert first is not None and (folder / "model.npz").is_file()
    key = json.loads((folder / "model.json").read_text())
    assert key["model"] == "ease" and key["params"]["neighbours"] == 100
    assert key["interactions_file"] == INTERACTIONS_FILE
    stamp = os.stat(folder / "model.npz").st_mtime_ns
    again = fit_or_load(catalog, settings)  # unchanged inputs: loaded, not refitted
    assert again is not None and os.stat(folder / "model.npz").st_mtime_ns == stamp
    assert np.array_equal(again.neighbours, first.neighbours)
    # Another model kind refits.
    knn = settings.model_copy(update={"cf": settings.cf.model_copy(update={"model": "item_knn"})})
    refit = fit_or_load(catalog, knn)
    assert refit is not None and refit.kind == "item_knn"
    assert json.loads((cf_dir(catalog, knn) / "model.json").read_text())["model"] == "item_knn"
    assert json.loads((folder / "model.json").read_text())["model"] == "ease"  # kept apart
    # Changed interactions (a training user's new likes) refit too.
    trainer = next(u for u in users if not held_out_user(u))
    more = [*rows, *({"user": trainer, "item": f"i{k}", "rating": 5} for k in range(8))]
    src.write_text("\n".join(json.dumps(r) for r in more) + "\n")
    write_interactions(root, load_interactions(src, ids))
    changed = fit_or_load(catalog, knn)
    assert changed is not None and not np.array_equal(changed.scores, refit.scores)
    none = settings.model_copy(update={"cf": settings.cf.model_copy(update={"model": "none"})})
    assert fit_or_load(catalog, none) is None
    bare = write_catalog(tmp_path / "bare", items, {"name": "bare"})
    assert fit_or_load(bare, settings) is None  # no interactions, no model
