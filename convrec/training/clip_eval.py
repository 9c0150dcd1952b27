"""Held-out image↔text Recall@K with a random baseline, overall and per source."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

KS = (1, 5, 10)


def recall_at_k(
    image_vecs: np.ndarray, text_vecs: np.ndarray, captions: Sequence[str]
) -> dict[str, float]:
    """Recall@1/5/10 both ways for aligned rows (row i of each is one pair).

    Pairs whose captions are identical count as the same answer (the Tux Paint "A frog." stamps),
    and the random baseline is computed exactly with the same rule: a random ranking hits when one
    of the top k is any of the ``g`` correct rows out of ``n``.
    """
    import numpy as np

    n = len(captions)
    group_ids = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    groups = np.array([group_ids[c] for c in captions])
    sims = image_vecs @ text_vecs.T
    out: dict[str, float] = {"n": float(n)}
    for direction, matrix in (("i2t", sims), ("t2i", sims.T)):
        order = np.argsort(-matrix, axis=1, kind="stable")
        hit_rows = groups[order] == groups[:, None]  # (n, n): is the j-th ranked row correct
        first_hit = hit_rows.argmax(axis=1)
        for k in KS:
            out[f"{direction}_R@{k}"] = float(np.mean(first_hit < k))
    sizes = np.bincount(groups)[groups]  # correct rows per query
    for k in KS:
        out[f"random_R@{k}"] = float(np.mean([_random_hit(n, int(g), k) for g in sizes]))
    return out


def _random_hit(n: int, g: int, k: int) -> float:
    """P(at least one of g correct rows among the top k of a random permutation of n)."""
    k = min(k, n)
    miss = 1.0
    for i in range(k):
        miss *= (n - g - i) / (n - i) if n - g - i > 0 else 0.0
    return 1.0 - miss


def retrieval_report(
    image_vecs: np.ndarray,
    text_vecs: np.ndarray,
    captions: Sequence[str],
    sources: Sequence[str],
) -> dict[str, dict[str, float]]:
    """``{"all": metrics, <source>: metrics}``; per source, retrieval is within that source."""
    import numpy as np

    report = {"all": recall_at_k(image_vecs, text_vecs, captions)}
    src = np.array(sources)
    for name in sorted(set(sources)):
        idx = np.flatnonzero(src == name)
        report[name] = recall_at_k(image_vecs[idx], text_vecs[idx], [captions[int(i)] for i in idx])
    return report
