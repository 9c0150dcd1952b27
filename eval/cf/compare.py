"""Compare collaborative models on the same user split: hidden liked items of held-out users.

    python eval/cf/compare.py --out eval/reports/cf [--quick]

Every model is fitted on the MovieLens users outside the held-out split (``held_out_user``). For
each held-out user with at least ``MIN_LIKED`` liked movies (rating >= 4), a seeded 20% of the
liked movies is hidden; the model is queried with the rest ("rest") and, as in a conversation,
with 3 of them ("three"). Reported: recall@10/@50 (hidden items found / hidden items) and NDCG@10
of the hidden items, fit time, peak traced memory of the fit (numpy/scipy arrays; implicit's own
C++ buffers are not traced) and the p50 latency of ``similar`` with 5 liked items.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import statistics
import subprocess
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from convrec.backends.cf_model import (
    NeighbourModel,
    fit_ease,
    fit_item_knn,
    positive_matrix,
    top_neighbours,
)
from convrec.catalog.interactions import read_interactions
from convrec.catalog.layout import open_catalog
from convrec.config import load_settings

log = logging.getLogger("cf_compare")

LIKED = 4.0  # what counts as liked for the evaluation, whatever signal a model is fitted on
MIN_LIKED = 5
HIDE = 0.2
N_QUERY = 3
K = 50
# Compared per user with a paired bootstrap (min_interactions 3, rating >= 4 variants).
PAIRS = (("ease l2=200", "item_knn cosine"), ("ease l2=200", "popularity"),
         ("item_knn cosine", "popularity"))  # fmt: skip


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()

    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return git("rev-parse", "--short", "HEAD") + (" (dirty tree)" if dirty else " (clean tree)")


Case = tuple[list[str], list[str], list[str], list[str]]


def cases(held: Any, seed: int) -> list[Case]:
    """Per held-out user: (all remaining liked items, 3 of them, 1 of them, the hidden items)."""
    out = []
    liked = held[held["value"] >= LIKED]
    for user, group in sorted(liked.groupby("user"), key=lambda kv: kv[0]):
        items = sorted(group["item"])
        if len(items) < MIN_LIKED:
            continue
        rng = random.Random(f"cf-eval:{seed}:{user}")
        rng.shuffle(items)
        n_hide = max(1, round(HIDE * len(items)))
        hidden, rest = items[:n_hide], items[n_hide:]
        three = rng.sample(rest, N_QUERY)
        out.append((rest, three, three[:1], hidden))
    return out


def metrics(ranked: list[str], hidden: list[str]) -> dict[str, float]:
    want = set(hidden)
    gains = [1.0 if i in want else 0.0 for i in ranked[:10]]
    dcg = sum(g / math.log2(r + 2) for r, g in enumerate(gains))
    ideal = sum(1 / math.log2(r + 2) for r in range(min(10, len(want))))
    return {
        "r10": len(want & set(ranked[:10])) / len(want),
        "r50": len(want & set(ranked[:50])) / len(want),
        "ndcg10": dcg / ideal,
    }


VIEWS = (("rest", 0), ("three", 1), ("one", 2))


def per_user(model: Any, data: list[Case]) -> dict[str, list[dict[str, float]]]:
    return {
        view: [metrics([h.item_id for h in model.similar(c[pick], K)], c[3]) for c in data]
        for view, pick in VIEWS
    }


def evaluate(users: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    return {
        f"{view}_{name}": round(statistics.fmean(r[name] for r in rows), 4)
        for view, rows in users.items()
        for name in ("r10", "r50", "ndcg10")
    }


def paired(a: list[dict[str, float]], b: list[dict[str, float]], name: str) -> dict[str, float]:
    """Mean difference a − b over users with a 95% paired-bootstrap interval (2000 resamples)."""
    d = np.array([x[name] - y[name] for x, y in zip(a, b, strict=True)])
    rng = np.random.default_rng(0)
    boots = d[rng.integers(0, len(d), size=(2000, len(d)))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"diff": round(float(d.mean()), 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4)}


class Popularity:
    """Baseline: the most liked items of the training users, whatever the query."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.ranked = sorted(counts, key=lambda i: (-counts[i], i))

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.ranked

    def similar(self, item_ids: list[str], k: int) -> list[Any]:
        from convrec.types import Hit

        seen = set(item_ids)
        return [Hit(i, 0.0, "pop") for i in self.ranked if i not in seen][:k]


def fit_als(m: Any, neighbours: int, factors: int = 64, reg: float = 0.05) -> NeighbourModel:
    """implicit's ALS; served like the others, from the cosine neighbours of its item factors."""
    from implicit.als import AlternatingLeastSquares

    als = AlternatingLeastSquares(
        factors=factors, regularization=reg, iterations=15, alpha=10.0, random_state=0
    )
    als.fit(m.x, show_progress=False)
    f = np.asarray(als.item_factors, dtype=np.float32)
    f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-9)
    idx, val = top_neighbours(f @ f.T, neighbours)
    return NeighbourModel(m.item_ids, idx, val, "als", {"factors": factors, "reg": reg})


def timed(fit: Callable[[], NeighbourModel]) -> tuple[NeighbourModel, float, float]:
    """The model, the fit time (untraced run) and the peak traced MB (a second, traced run)."""
    t0 = time.perf_counter()
    model = fit()
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    fit()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return model, seconds, peak


def latency_ms(model: Any, data: list[Case]) -> float:
    queries = [c[0][:5] for c in data for _ in range(5)]
    times = []
    for q in queries:
        t0 = time.perf_counter()
        model.similar(q, K)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1e3, 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("eval/reports/cf"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--neighbours", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="only the default variants")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = load_settings()
    catalog = open_catalog("movies", settings)
    inter = read_interactions(catalog)
    if inter is None:
        raise SystemExit("the movies catalog has no ratings: run `convrec catalog build movies`")
    train, held = inter.training(), inter.held_out()
    data = cases(held, args.seed)
    n = args.neighbours
    liked = train[train["value"] >= LIKED]
    variants: list[tuple[str, str, int, Callable[[Any], NeighbourModel]]] = [
        # (name, signal, min_interactions, fit)
        ("item_knn cosine", "threshold", 3, lambda m: fit_item_knn(m, n)),
        ("ease l2=200", "threshold", 3, lambda m: fit_ease(m, n, 200.0)),
    ]
    if not args.quick:
        variants += [
            ("item_knn cosine", "threshold", 1, lambda m: fit_item_knn(m, n)),
            ("item_knn cosine", "threshold", 5, lambda m: fit_item_knn(m, n)),
            ("item_knn cosine", "centred", 3, lambda m: fit_item_knn(m, n)),
            ("item_knn bm25", "threshold", 3, lambda m: fit_item_knn(m, n, "bm25")),
            ("ease l2=50", "threshold", 3, lambda m: fit_ease(m, n, 50.0)),
            ("ease l2=500", "threshold", 3, lambda m: fit_ease(m, n, 500.0)),
            ("ease l2=1000", "threshold", 3, lambda m: fit_ease(m, n, 1000.0)),
            ("ease l2=200", "threshold", 5, lambda m: fit_ease(m, n, 200.0)),
            ("ease l2=200", "centred", 3, lambda m: fit_ease(m, n, 200.0)),
            ("als 64f", "threshold", 3, lambda m: fit_als(m, n)),
        ]
    rows: list[dict[str, Any]] = []
    pop = Popularity(liked["item"].value_counts().to_dict())
    scored = {"popularity": per_user(pop, data)}
    rows.append({"model": "popularity (baseline)", "signal": f"rating >= {LIKED:g}",
                 "min_interactions": 1, "items": len(pop.ranked), "fit_s": 0.0,
                 "peak_mb": 0.0, "similar_p50_ms": latency_ms(pop, data),
                 **evaluate(scored["popularity"])})  # fmt: skip
    for name, signal, min_n, fit in variants:
        m = positive_matrix(train, inter.kind, signal=signal, min_interactions=min_n)
        model, seconds, peak = timed(lambda m=m, fit=fit: fit(m))  # type: ignore[misc]
        sig = f"rating >= {LIKED:g}" if signal == "threshold" else "rating - user mean > 0"
        users = per_user(model, data)
        scored.setdefault(name, users)  # the first variant of each name: the compared ones
        row = {"model": name, "signal": sig, "min_interactions": min_n, "items": len(model),
               "fit_s": round(seconds, 3), "peak_mb": round(peak, 1),
               "similar_p50_ms": latency_ms(model, data), **evaluate(users)}  # fmt: skip
        rows.append(row)
        log.info("%s", row)
    result = {
        "commit": commit(),
        "command": "python eval/cf/compare.py " + " ".join(argv or []),
        "split": {
            "train_users": int(train["user"].nunique()),
            "held_out_users": int(held["user"].nunique()),
            "evaluated_users": len(data),
            "hidden_items": sum(len(c[3]) for c in data),
            "protocol": f"held-out users with >= {MIN_LIKED} liked (rating >= {LIKED:g}); a seeded "
            f"{HIDE:.0%} of them hidden; query 'rest' = the other liked, 'three' = 3 of them",
        },
        "neighbours": n,
        "rows": rows,
        "paired": {
            f"{a} − {b}": {
                f"{view} {name}": paired(scored[a][view], scored[b][view], name)
                for view, _ in VIEWS
                for name in ("r10", "ndcg10")
            }
            for a, b in PAIRS
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "report.md").write_text(markdown(result))
    log.info("wrote %s", args.out)
    return 0


def markdown(r: dict[str, Any]) -> str:
    s = r["split"]
    out = [
        f"Commit: {r['commit']}",
        "",
        "# Collaborative models on held-out MovieLens users",
        "",
        f"Command: `{r['command'].strip()}`. Fitted on {s['train_users']} users; evaluated on "
        f"{s['evaluated_users']} of {s['held_out_users']} held-out users ({s['hidden_items']} "
        f"hidden items). Protocol: {s['protocol']}. {r['neighbours']} neighbours stored per item; "
        "every model is served the same way (sum of the liked items' neighbour lists).",
        "",
        "| model | signal | min n | items | fit s | peak MB | similar p50 ms | R@10 | R@50 | "
        "NDCG@10 | 3 liked: R@10 | R@50 | NDCG@10 | 1 liked: R@10 | R@50 | NDCG@10 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["rows"]:
        out.append(
            f"| {x['model']} | {x['signal']} | {x['min_interactions']} | {x['items']} | "
            f"{x['fit_s']} | {x['peak_mb']} | {x['similar_p50_ms']} | {x['rest_r10']:.3f} | "
            f"{x['rest_r50']:.3f} | {x['rest_ndcg10']:.3f} | {x['three_r10']:.3f} | "
            f"{x['three_r50']:.3f} | {x['three_ndcg10']:.3f} | {x['one_r10']:.3f} | "
            f"{x['one_r50']:.3f} | {x['one_ndcg10']:.3f} |"
        )
    out += [
        "",
        "Peak MB: peak traced allocations of the fit (numpy/scipy; implicit's C++ buffers are not "
        "traced). Recall = hidden items in the top k / hidden items, averaged over users. "
        "Fit times are of one run on a shared 2-core machine (other jobs running).",
        "",
        "## Paired differences per user (mean, 95% bootstrap interval)",
        "",
        "| pair | " + " | ".join(f"{v} {m}" for v, _ in VIEWS for m in ("R@10", "NDCG@10")) + " |",
        "|---|" + "---:|" * (2 * len(VIEWS)),
    ]
    for pair, cells in r["paired"].items():
        out.append(
            f"| {pair} | "
            + " | ".join(
                f"{c['diff']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}]" for c in cells.values()
            )
            + " |"
        )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
