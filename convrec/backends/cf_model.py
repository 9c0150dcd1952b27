"""Collaborative item-to-item models (item-kNN, EASE), served from each item's stored neighbours.

Every model is fitted on a users × items matrix of positive signal and kept as the same thing: for
each item, its top-N neighbours with scores. ``similar(liked)`` sums the neighbour lists of the
liked items (a sparse sum of a few hundred entries, well under a millisecond), so serving does not
depend on how the neighbours were found.

- ``item_knn``: cosine similarity between item columns (``implicit``'s CosineRecommender).
- ``ease``: Steck's EASE, a closed-form linear item-item model ``B = I − P / diag(P)`` with
  ``P = (XᵀX + λI)⁻¹``, in float32, over the items with at least ``min_interactions`` positives.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from convrec.errors import MissingDependencyError, ModelError
from convrec.types import Hit

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp

log = logging.getLogger(__name__)

CHANNEL = "cf"  # the Hit.channel of collaborative hits
# EASE inverts a dense items × items matrix (4 bytes an entry, a few copies while fitting): past
# this many items only the most interacted are kept (raise min_interactions to choose yourself).
EASE_MAX_ITEMS = 12_000
Signal = Literal["threshold", "centred"]


@dataclass(frozen=True)
class Matrix:
    """A users × items matrix of positive signal, the ids of its rows and of its columns."""

    x: sp.csr_matrix
    item_ids: tuple[str, ...]
    user_ids: tuple[str, ...]

    @property
    def users(self) -> int:
        return len(self.user_ids)


def positive_matrix(
    table: pd.DataFrame,
    kind: Literal["rating", "count"],
    *,
    positive_rating: float = 4.0,
    signal: Signal = "threshold",
    min_interactions: int = 1,
) -> Matrix:
    """The positive signal of ``table`` (user, item, value) as a sparse matrix.

    Ratings: "threshold" keeps rating ≥ ``positive_rating`` as 1; "centred" keeps the amount a
    rating exceeds the user's mean rating. Counts: log(1 + count). Items with fewer than
    ``min_interactions`` positive users get no column (their neighbours are noise).
    """
    import scipy.sparse as sp

    value = table["value"].to_numpy(dtype=np.float32)
    if kind == "count":
        weight = np.log1p(np.maximum(value, 0))
    elif signal == "centred":
        mean = table.groupby("user")["value"].transform("mean").to_numpy(dtype=np.float32)
        weight = np.maximum(value - mean, 0)
    else:
        weight = (value >= positive_rating).astype(np.float32)
    keep = weight > 0
    users = table["user"].to_numpy()[keep]
    items = table["item"].to_numpy()[keep]
    weight = weight[keep]
    item_codes, item_ids = _codes(items)
    counts = np.bincount(item_codes, minlength=len(item_ids))
    ok_items = np.flatnonzero(counts >= min_interactions)
    remap = np.full(len(item_ids), -1, dtype=np.int64)
    remap[ok_items] = np.arange(len(ok_items))
    col = remap[item_codes]
    row_keep = col >= 0
    user_codes, user_ids = _codes(users[row_keep])
    x = sp.csr_matrix(
        (weight[row_keep], (user_codes, col[row_keep])),
        shape=(len(user_ids), len(ok_items)),
        dtype=np.float32,
    )
    return Matrix(x, tuple(str(item_ids[i]) for i in ok_items), tuple(str(u) for u in user_ids))


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniques, codes = np.unique(values.astype(str), return_inverse=True)
    return codes.astype(np.int64), uniques


class NeighbourModel:
    """Per item, its top-N neighbours (column indices, -1 padded) and their scores, best first."""

    def __init__(
        self,
        item_ids: Sequence[str],
        neighbours: np.ndarray,
        scores: np.ndarray,
        kind: str,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        if neighbours.shape != scores.shape or neighbours.shape[0] != len(item_ids):
            raise ModelError(
                f"Collaborative model arrays disagree ({neighbours.shape}, {scores.shape}, "
                f"{len(item_ids)} items). Fix: delete the model cache and re-run `convrec index`."
            )
        self.item_ids = tuple(item_ids)
        self.neighbours = neighbours.astype(np.int32, copy=False)
        self.scores = scores.astype(np.float32, copy=False)
        self.kind = kind
        self.params = dict(params or {})
        self._index = {item: n for n, item in enumerate(self.item_ids)}

    def __len__(self) -> int:
        return len(self.item_ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def __repr__(self) -> str:
        return f"NeighbourModel({self.kind}, {len(self)} items, {self.neighbours.shape[1]} nbrs)"

    def similar(
        self,
        item_ids: Sequence[str],
        k: int,
        allowed: Collection[str] | None = None,
        exclude: Collection[str] = (),
    ) -> list[Hit]:
        """Items people who liked ``item_ids`` also liked, best first: the sum of the query
        items' neighbour scores. Query items, ``exclude`` and items outside ``allowed`` (when
        given) are never returned; unknown query ids are ignored."""
        rows = [self._index[i] for i in dict.fromkeys(item_ids) if i in self._index]
        if not rows or k <= 0:
            return []
        cols = self.neighbours[rows].ravel()
        vals = self.scores[rows].ravel()
        ok = cols >= 0
        cols, vals = cols[ok], vals[ok]
        total = np.bincount(cols, weights=vals, minlength=len(self.item_ids))
        candidates = np.unique(cols)
        order = candidates[np.lexsort((candidates, -total[candidates]))]
        skip = set(exclude) | {self.item_ids[r] for r in rows}
        allow = allowed if allowed is None or isinstance(allowed, set | frozenset) else set(allowed)
        out: list[Hit] = []
        for c in order:
            item = self.item_ids[c]
            if item in skip or (allow is not None and item not in allow) or total[c] <= 0:
                continue
            out.append(Hit(item, float(total[c]), CHANNEL))
            if len(out) == k:
                break
        return out

    # -- storage --------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the model to ``path`` (.npz) through a temp file and a rename."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
        np.savez(
            tmp,
            item_ids=np.array(self.item_ids, dtype=str),
            neighbours=self.neighbours,
            scores=self.scores,
            meta=np.array(json.dumps({"kind": self.kind, "params": self.params})),
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> NeighbourModel:
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                ids = [str(i) for i in z["item_ids"]]
                return cls(ids, z["neighbours"], z["scores"], meta["kind"], meta["params"])
        except (OSError, KeyError, ValueError) as e:
            raise ModelError(
                f"Collaborative model {path} is unreadable ({e}). Fix: delete it and re-run "
                "`convrec index`."
            ) from e


def top_neighbours(sim: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``n`` largest positive off-diagonal entries (dense ndarray or sparse CSR) as
    (indices, scores), -1 / 0 padded, best first (ties by index)."""
    import scipy.sparse as sp

    rows = sim.shape[0]
    idx = np.full((rows, n), -1, dtype=np.int32)
    val = np.zeros((rows, n), dtype=np.float32)
    if sp.issparse(sim):
        csr = sp.csr_matrix(sim)
        csr.setdiag(0)
        csr.eliminate_zeros()
        for r in range(rows):
            start, end = csr.indptr[r], csr.indptr[r + 1]
            _fill(idx, val, r, csr.indices[start:end], csr.data[start:end], n)
        return idx, val
    dense = np.asarray(sim, dtype=np.float32)
    np.fill_diagonal(dense, 0)
    m = min(n, dense.shape[1])
    part = np.argpartition(-dense, m - 1, axis=1)[:, :m] if m else np.zeros((rows, 0), int)
    for r in range(rows):
        _fill(idx, val, r, part[r], dense[r, part[r]], n)
    return idx, val


def _fill(idx: np.ndarray, val: np.ndarray, r: int, cols: np.ndarray, vals: Any, n: int) -> None:
    vals = np.asarray(vals, dtype=np.float32)
    keep = vals > 0
    cols, vals = cols[keep], vals[keep]
    order = np.lexsort((cols, -vals))[:n]
    idx[r, : len(order)] = cols[order]
    val[r, : len(order)] = vals[order]


def fit_item_knn(
    m: Matrix, neighbours: int = 100, weighting: Literal["cosine", "bm25"] = "cosine"
) -> NeighbourModel:
    """Item-kNN with ``implicit``: cosine (or BM25-weighted) similarity of the item columns."""
    try:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
    except ImportError as e:
        raise MissingDependencyError("implicit==0.7.3", purpose="the item_knn model") from e
    rec = (
        CosineRecommender(K=neighbours + 1)
        if weighting == "cosine"
        else BM25Recommender(K=neighbours + 1)
    )
    with warnings.catch_warnings():
        # CosineRecommender normalises into a COO matrix itself, then warns about it.
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        rec.fit(m.x, show_progress=False)
    idx, val = top_neighbours(rec.similarity, neighbours)
    params = {"neighbours": neighbours, "weighting": weighting}
    return NeighbourModel(m.item_ids, idx, val, "item_knn", params)


def fit_ease(m: Matrix, neighbours: int = 100, l2: float = 200.0) -> NeighbourModel:
    """EASE (Steck 2019) in float32; the neighbours of item i are the largest weights B[i, :]."""
    import scipy.linalg

    x = m.x
    if x.shape[1] > EASE_MAX_ITEMS:
        keep = np.sort(np.argsort(-x.getnnz(axis=0), kind="stable")[:EASE_MAX_ITEMS])
        log.warning("EASE: %d items; keeping the %d most interacted (raise cf.min_interactions "
                    "to choose which)", x.shape[1], EASE_MAX_ITEMS)  # fmt: skip
        m = Matrix(x[:, keep].tocsr(), tuple(m.item_ids[i] for i in keep), m.user_ids)
        x = m.x
    gram = (x.T @ x).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += np.float32(l2)
    p = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False).astype(np.float32)
    b = p / -np.diag(p)[None, :]  # B_ij = −P_ij / P_jj
    idx, val = top_neighbours(b, neighbours)
    return NeighbourModel(m.item_ids, idx, val, "ease", {"neighbours": neighbours, "l2": l2})


__all__ = [
    "CHANNEL",
    "Matrix",
    "NeighbourModel",
    "fit_ease",
    "fit_item_knn",
    "positive_matrix",
    "top_neighbours",
]
