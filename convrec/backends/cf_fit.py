"""Fit a catalog's collaborative model from its interactions, or load it when its inputs match.

The model lives at ``<cache_dir>/cf/<catalog>/``: ``model.npz`` (the neighbour lists) and
``model.json`` (what it was fitted from: the interactions file's sha256, the catalog's item ids,
the user split, the model kind and its parameters). A mismatch refits. Both files are written
through a temp file and a rename, the JSON last, so an interrupted fit is refitted next time.
Only users outside the held-out split (:func:`convrec.catalog.interactions.held_out_user`) are
fitted on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convrec.backends.cf_model import (
    Matrix,
    NeighbourModel,
    fit_ease,
    fit_item_knn,
    positive_matrix,
)
from convrec.catalog.interactions import (
    HELD_OUT_BUCKETS,
    SPLIT_SALT,
    Interactions,
    file_sha256,
    interactions_file,
    read_interactions,
)
from convrec.errors import ModelError

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.config import CFSettings, Settings

log = logging.getLogger(__name__)

FORMAT = 1
MODEL_FILE, KEY_FILE = "model.npz", "model.json"


def cf_dir(catalog: Catalog, settings: Settings) -> Path:
    """Where the catalog's collaborative model of the kind ``settings.cf.model`` is cached
    (one folder per kind: the item-kNN baseline and the system's model do not evict each
    other)."""
    return settings.cache_path / "cf" / catalog.name / settings.cf.model


def training_matrix(interactions: Interactions, cf: CFSettings) -> Matrix:
    """The matrix a model is fitted on: the positive signal of the users outside the held-out
    split (:func:`convrec.catalog.interactions.held_out_user`) only, unless
    ``cf.hold_out_users`` is false."""
    return positive_matrix(
        interactions.training() if cf.hold_out_users else interactions.table,
        interactions.kind,
        positive_rating=cf.positive_rating,
        signal=cf.signal,
        min_interactions=cf.min_interactions,
    )


def fit_model(interactions: Interactions, cf: CFSettings) -> NeighbourModel:
    """Fit ``cf.model`` on :func:`training_matrix` (by default never on the held-out users)."""
    m = training_matrix(interactions, cf)
    if cf.model == "ease":
        model = fit_ease(m, cf.neighbours, cf.ease_l2)
    elif cf.model == "item_knn":
        model = fit_item_knn(m, cf.neighbours)
    else:
        raise ModelError(f"Unknown collaborative model {cf.model!r}. Fix: cf.model = item_knn.")
    model.params.update(_params(cf), users=m.users)
    return model


def fit_or_load(catalog: Catalog, settings: Settings) -> NeighbourModel | None:
    """The catalog's collaborative model: loaded from the cache when its inputs are unchanged,
    else fitted and cached. None when ``cf.model`` is "none" or the catalog has no interactions
    (or none survive the positive threshold)."""
    cf = settings.cf
    source = interactions_file(catalog.root)
    if cf.model == "none" or source is None:
        return None
    key = _key(catalog, source, cf)
    folder = cf_dir(catalog, settings)
    cached = _load(folder, key)
    if cached is not None:
        return cached
    interactions = read_interactions(catalog)
    if interactions is None or not len(interactions):
        return None
    t0 = time.perf_counter()
    model = fit_model(interactions, cf)
    seconds = time.perf_counter() - t0
    if not len(model):
        log.warning("catalog %r: no item has %d positive interactions; no collaborative model",
                    catalog.name, cf.min_interactions)  # fmt: skip
        return None
    (folder / KEY_FILE).unlink(missing_ok=True)  # no stale key may vouch for the new npz
    model.save(folder / MODEL_FILE)
    _write_json(folder / KEY_FILE, {**key, "fit_seconds": round(seconds, 3), "items": len(model)})
    log.info("catalog %r: fitted %s on %d users, %d items in %.2f s; cached in %s", catalog.name,
             cf.model, model.params["users"], len(model), seconds, folder)  # fmt: skip
    return model


def _params(cf: CFSettings) -> dict[str, Any]:
    params: dict[str, Any] = cf.model_dump()
    if cf.model != "ease":
        params.pop("ease_l2")
    return params


def _key(catalog: Catalog, source: Path, cf: CFSettings) -> dict[str, Any]:
    ids = hashlib.sha256("\n".join(it.id for it in catalog.items).encode("utf-8")).hexdigest()
    return {
        "format": FORMAT,
        "interactions_file": source.name,
        "interactions_sha256": file_sha256(source),
        "catalog_items_sha256": ids,
        "split": f"{SPLIT_SALT}1/{HELD_OUT_BUCKETS}",
        "model": cf.model,
        "params": _params(cf),
    }


def _load(folder: Path, key: dict[str, Any]) -> NeighbourModel | None:
    try:
        stored = json.loads((folder / KEY_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(stored, dict) or {k: stored.get(k) for k in key} != key:
        log.info("collaborative model in %s is stale (inputs changed); refitting", folder)
        return None
    try:
        return NeighbourModel.load(folder / MODEL_FILE)
    except ModelError as e:
        log.warning("%s; refitting", e)
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["cf_dir", "fit_model", "fit_or_load", "training_matrix"]
