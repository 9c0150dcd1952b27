"""Compare collaborative models on the same user split: hidden liked items of held-out users.

    python eval/cf/compare.py --out eval/reports/cf [--quick]

Test: every variant is fitted on the MovieLens users outside the held-out split
(``held_out_user``). For each held-out user with at least ``MIN_LIKED`` liked movies (rating >= 4),
a seeded 20% of the liked movies is hidden; the model is queried with the rest ("rest") and, as
in a conversation, with 3 of them ("three") or 1 ("one"). Reported: recall@10/@50 (hidden items
found / hidden items) and NDCG@10 of the hidden items, fit time, peak traced memory of the fit
(numpy/scipy arrays; implicit's own C++ buffers are not traced) and the p50 latency of
``similar`` with 5 liked items. Validation: the same on a fixed fifth of the training users,
fitted on the other four fifths; the default variant is chosen there, never on the test users.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import random
import statistics
import subprocess
import sys
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


Variant = tuple[str, str, int, Callable[[Any], NeighbourModel]]  # name, signal, min n, fit


def variants(n: int, quick: bool) -> list[Variant]:
    out: list[Variant] = [
        ("item_knn cosine", "threshold", 3, lambda m: fit_item_knn(m, n)),
        ("ease l2=500", "threshold", 3, lambda m: fit_ease(m, n, 500.0)),
    ]
    if quick:
        return out
    return [
        *out,
        ("item_knn cosine", "threshold", 1, lambda m: fit_item_knn(m, n)),
        ("item_knn cosine", "threshold", 5, lambda m: fit_item_knn(m, n)),
        ("item_knn cosine", "centred", 3, lambda m: fit_item_knn(m, n)),
        ("item_knn bm25", "threshold", 3, lambda m: fit_item_knn(m, n, "bm25")),
        ("ease l2=50", "threshold", 3, lambda m: fit_ease(m, n, 50.0)),
        ("ease l2=200", "threshold", 3, lambda m: fit_ease(m, n, 200.0)),
        ("ease l2=1000", "threshold", 3, lambda m: fit_ease(m, n, 1000.0)),
        ("ease l2=500", "threshold", 5, lambda m: fit_ease(m, n, 500.0)),
        ("ease l2=500", "centred", 3, lambda m: fit_ease(m, n, 500.0)),
        ("als 64f", "threshold", 3, lambda m: fit_als(m, n)),
    ]


def label(name: str, signal: str, min_n: int) -> str:
    sig = f"rating >= {LIKED:g}" if signal == "threshold" else "rating - user mean > 0"
    return f"{name}, {sig}, min {min_n}"


def tune_user(user: str) -> bool:
    """A fixed fifth of the training users, held out of the fit only for the validation pass."""
    return hashlib.sha256(f"cf-tune:{user}".encode()).digest()[0] % 5 == 0


def run(
    train: Any, evaluated: Any, kind: Any, todo: list[Variant], seed: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, list[dict[str, float]]]], list[Case]]:
    """Fit every variant on ``train``; score it on the hidden liked items of ``evaluated``."""
    data = cases(evaluated, seed)
    liked = train[train["value"] >= LIKED]
    pop = Popularity(liked["item"].value_counts().to_dict())
    scored = {"popularity": per_user(pop, data)}
    rows: list[dict[str, Any]] = [
        {"variant": "popularity (baseline)", "items": len(pop.ranked), "fit_s": 0.0,
         "peak_mb": 0.0, "similar_p50_ms": latency_ms(pop, data),
         **evaluate(scored["popularity"])}
    ]  # fmt: skip
    for name, signal, min_n, fit in todo:
        m = positive_matrix(train, kind, signal=signal, min_interactions=min_n)
        model, seconds, peak = timed(lambda m=m, fit=fit: fit(m))  # type: ignore[misc]
        key = label(name, signal, min_n)
        scored[key] = per_user(model, data)
        rows.append({"variant": key, "items": len(model), "fit_s": round(seconds, 3),
                     "peak_mb": round(peak, 1), "similar_p50_ms": latency_ms(model, data),
                     **evaluate(scored[key])})  # fmt: skip
        log.info("%s", rows[-1])
    return rows, scored, data


def few(row: dict[str, Any]) -> float:
    """The selection score: NDCG@10 averaged over the three query sizes."""
    return (row["rest_ndcg10"] + row["three_ndcg10"] + row["one_ndcg10"]) / 3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("eval/reports/cf"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--neighbours", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="only the two main variants")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = load_settings()
    catalog = open_catalog("movies", settings)
    inter = read_interactions(catalog)
    if inter is None:
        raise SystemExit("the movies catalog has no ratings: run `convrec catalog build movies`")
    train, held = inter.training(), inter.held_out()
    todo = variants(args.neighbours, args.quick)
    # Validation: choose on a fifth of the training users, fitting on the other four fifths.
    tune = train["user"].map(tune_user).to_numpy(dtype=bool)
    val_rows, _, val_data = run(train[~tune], train[tune], inter.kind, todo, args.seed)
    chosen = max(val_rows[1:], key=few)["variant"]
    # Test: fit on all training users, score on the held-out users.
    rows, scored, data = run(train, held, inter.kind, todo, args.seed)
    baseline_knn = label("item_knn cosine", "threshold", 3)
    pairs = [(chosen, baseline_knn), (chosen, "popularity"), (baseline_knn, "popularity")]
    result = {
        "commit": commit(),
        "command": " ".join(
            ["python eval/cf/compare.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "protocol": f"users with >= {MIN_LIKED} liked movies (rating >= {LIKED:g}); a seeded "
        f"{HIDE:.0%} of them hidden; queries: 'rest' = all the other liked, 'three' = 3 of them, "
        "'one' = 1 of them",
        "validation": {
            "fit_users": int(train[~tune]["user"].nunique()),
            "evaluated_users": len(val_data),
            "hidden_items": sum(len(c[3]) for c in val_data),
            "rows": val_rows,
            "chosen": chosen,
            "rule": "highest NDCG@10 averaged over the rest/three/one queries",
        },
        "test": {
            "fit_users": int(train["user"].nunique()),
            "held_out_users": int(held["user"].nunique()),
            "evaluated_users": len(data),
            "hidden_items": sum(len(c[3]) for c in data),
            "rows": rows,
        },
        "neighbours": args.neighbours,
        "paired": {
            f"{a} − {b}": {
                f"{view} {name}": paired(scored[a][view], scored[b][view], name)
                for view, _ in VIEWS
                for name in ("r10", "ndcg10")
            }
            for a, b in pairs
            if a != b
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "report.md").write_text(markdown(result))
    log.info("wrote %s; chosen on validation: %s", args.out, chosen)
    return 0


HEADER = (
    "| variant | items | fit s | peak MB | similar p50 ms | R@10 | R@50 | NDCG@10 | "
    "3 liked: R@10 | R@50 | NDCG@10 | 1 liked: R@10 | R@50 | NDCG@10 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
)


def table(rows: list[dict[str, Any]], chosen: str) -> list[str]:
    out = list(HEADER)
    for x in rows:
        name = f"**{x['variant']}**" if x["variant"] == chosen else x["variant"]
        cells = [f"{x[f'{v}_{m}']:.3f}" for v, _ in VIEWS for m in ("r10", "r50", "ndcg10")]
        out.append(
            f"| {name} | {x['items']} | {x['fit_s']} | {x['peak_mb']} | {x['similar_p50_ms']} | "
            + " | ".join(cells)
            + " |"
        )
    return out


def markdown(r: dict[str, Any]) -> str:
    v, t = r["validation"], r["test"]
    out = [
        f"Commit: {r['commit']}",
        "",
        "# Collaborative models on held-out MovieLens users",
        "",
        f"Command: `{r['command']}`. Protocol: {r['protocol']}. {r['neighbours']} neighbours "
        "stored per item; every model is served the same way (the sum of the liked items' "
        "neighbour lists, query items excluded).",
        "",
        f"## Test: fitted on the {t['fit_users']} training users, scored on "
        f"{t['evaluated_users']} of the {t['held_out_users']} held-out users "
        f"({t['hidden_items']} hidden items)",
        "",
        *table(t["rows"], v["chosen"]),
        "",
        "Peak MB: peak traced allocations of one fit (numpy/scipy; implicit's C++ buffers are not "
        "traced). Recall = hidden items in the top k / hidden items, averaged over users. Fit "
        "times: one run on a shared 2-core machine. In bold: the variant chosen on validation.",
        "",
        "## Paired differences on the test users (mean, 95% bootstrap interval)",
        "",
        "| pair | " + " | ".join(f"{w} {m}" for w, _ in VIEWS for m in ("R@10", "NDCG@10")) + " |",
        "|---|" + "---:|" * (2 * len(VIEWS)),
    ]
    for pair, cells in r["paired"].items():
        diffs = [f"{c['diff']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}]" for c in cells.values()]
        out.append(f"| {pair} | " + " | ".join(diffs) + " |")
    out += [
        "",
        f"## Validation: fitted on {v['fit_users']} training users, scored on "
        f"{v['evaluated_users']} other training users ({v['hidden_items']} hidden items)",
        "",
        f"Chosen: **{v['chosen']}** ({v['rule']}).",
        "",
        *table(v["rows"], v["chosen"]),
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
