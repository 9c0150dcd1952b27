"""Ranking metrics over one ranked list of item ids and a set of relevant ids."""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant items found in the top ``k`` (0 when nothing is relevant)."""
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Binary-relevance NDCG@k: DCG of the list over the DCG of an ideal list."""
    if not relevant:
        return 0.0
    rel = set(relevant)
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(rel))))
    return dcg / ideal


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def paired_bootstrap(
    ours: Sequence[float], theirs: Sequence[float], samples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``ours - theirs`` over paired units, and its 95% percentile bootstrap interval
    (units resampled with replacement, ``samples`` times, with a fixed ``seed``).

    An interval that contains 0 means the difference is within the noise of this many units.
    """
    if len(ours) != len(theirs):
        raise ValueError(f"paired samples differ in size: {len(ours)} and {len(theirs)}")
    if not ours:
        return 0.0, 0.0, 0.0
    diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(samples))
    lo, hi = means[int(0.025 * (samples - 1))], means[int(0.975 * (samples - 1))]
    return mean(diffs), lo, hi
