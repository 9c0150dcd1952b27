"""Benchmark the index: ingestion vs the raw encoder, query latency vs bare Chroma, peak RSS.

    python eval/bench_index.py [--out DIR] [--items 256] [--sizes 1000,10000,100000]

Every speed is also given as a ratio to its baseline measured in the same run (medians of
alternating repeats, so a busy machine slows both sides alike).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from convrec.backends.chroma_store import ChromaStore
from convrec.backends.st_embedder import SentenceTransformerEmbedder
from convrec.catalog.index import index_catalog
from convrec.catalog.layout import open_catalog
from convrec.catalog.schema import Catalog
from convrec.config import Settings, load_settings
from convrec.errors import ConvRecError
from convrec.types import Item

log = logging.getLogger("bench_index")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bench_catalog(settings: Settings, n: int) -> Catalog:
    """The first ``n`` real phones (with photos) if the catalog is built, else synthetic items."""
    try:
        cat = open_catalog("phones", settings)
        return replace(cat, name="bench", items=cat.items[:n], _by_id={})
    except ConvRecError:
        log.warning("phones catalog not built: using synthetic text items, no image channel")
        items = tuple(
            Item(id=f"s{i}", title=f"Phone {i}", description=f"Model {i}, {i % 9} GB.")
            for i in range(n)
        )
        return Catalog(name="bench", root=Path("."), items=items)


def image_text_embedder(settings: Settings) -> tuple[Any, str]:
    """The configured image–text model, else an untrained open_clip ViT-B-32 (same compute)."""
    try:
        from convrec.backends.clip_embedder import make_image_text_embedder

        emb: Any = make_image_text_embedder(settings)
        return emb, settings.embed.image_text_model
    except ConvRecError as e:
        log.warning("configured image–text model unavailable (%s); using random ViT-B-32", e)
    import open_clip

    from convrec.backends.clip_embedder import OpenClipEmbedder

    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32")  # random weights
    emb = OpenClipEmbedder(
        model.eval(),
        preprocess,
        open_clip.get_tokenizer("ViT-B-32"),
        512,
        batch_size=settings.embed.batch_size,
    )
    emb.name = "ViT-B-32-untrained"
    return emb, "open_clip ViT-B-32, untrained (no checkpoint offline); same compute as trained"


def ingest(settings: Settings, cat: Catalog, text: Any, clip: Any, repeats: int) -> list[dict]:
    """Per channel: items/s of index_catalog (fresh store) vs the raw encoder on the same inputs."""
    bs = settings.embed.batch_size
    with_img = [it for it in cat.items if it.image_paths]
    raws: dict[str, Callable[[], Any]] = {
        "text": lambda: [
            text.encode_documents([it.text for it in cat.items[i : i + bs]])
            for i in range(0, len(cat), bs)
        ],
    }
    if clip is not None:
        paths = [cat.root / it.image_paths[0] for it in with_img]
        raws["image"] = lambda: [
            clip.encode_images(paths[i : i + bs]) for i in range(0, len(paths), bs)
        ]
        raws["clip_text"] = lambda: [
            clip.encode_texts([it.text for it in cat.items[i : i + bs]])
            for i in range(0, len(cat), bs)
        ]
    rows = []
    for channel, raw in raws.items():
        n = len(with_img) if channel == "image" else len(cat)
        raw()  # warm-up (first-call allocations, lazy init)
        t_raw, t_ours = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            raw()
            t_raw.append(time.perf_counter() - t0)
            with tempfile.TemporaryDirectory() as d:
                store = ChromaStore.embedded(d)
                t0 = time.perf_counter()
                index_catalog(cat, settings, store, text, clip, channels=[channel])
                t_ours.append(time.perf_counter() - t0)
        raw_ips, ours_ips = n / statistics.median(t_raw), n / statistics.median(t_ours)
        rows.append(
            {
                "channel": channel,
                "items": n,
                "raw_items_per_s": round(raw_ips, 1),
                "index_items_per_s": round(ours_ips, 1),
                "ratio": round(ours_ips / raw_ips, 3),
                "peak_rss_mb": round(peak_rss_mb(), 0),
            }
        )
        log.info("ingest %s: %s", channel, rows[-1])
    return rows


def latency(sizes: list[int], n_queries: int, k: int, dim: int = 384) -> list[dict]:
    """p50/p95 ms of ChromaStore.query (→ Hit) vs bare collection.query, on one collection."""
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        store = ChromaStore.embedded(d)
        have = 0
        for size in sorted(sizes):
            vecs = rng.normal(size=(size - have, dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            metas = [
                {"maker": f"m{(have + i) % 7}", "year": 1990 + (have + i) % 30}
                for i in range(size - have)
            ]
            t0 = time.perf_counter()
            store.upsert("bench__text", [f"i{have + i}" for i in range(size - have)], vecs, metas)
            log.info("inserted %d vectors in %.1f s", size - have, time.perf_counter() - t0)
            have = size
            bare = store.client.get_collection("bench__text", embedding_function=None)
            qs = rng.normal(size=(n_queries, dim)).astype(np.float32)
            qs /= np.linalg.norm(qs, axis=1, keepdims=True)
            for where in (None, {"$and": [{"maker": "m3"}, {"year": {"$gte": 2000}}]}):
                ours, base = [], []
                for q in qs:  # alternate, so load changes hit both sides alike
                    t0 = time.perf_counter()
                    store.query("bench__text", q, k, where=where)
                    ours.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    bare.query(
                        query_embeddings=q[None, :], n_results=k, where=where, include=["distances"]
                    )
                    base.append(time.perf_counter() - t0)
                p = {
                    name: np.percentile(np.array(v) * 1e3, [50, 95])
                    for name, v in (("ours", ours), ("bare", base))
                }
                row: dict[str, Any] = {"items": size, "filter": "$and" if where else "none", "k": k}
                for name, (p50, p95) in p.items():
                    row[f"{name}_p50_ms"], row[f"{name}_p95_ms"] = (
                        round(float(p50), 2),
                        round(float(p95), 2),
                    )
                row["p50_ratio"] = round(float(p["ours"][0] / p["bare"][0]), 3)
                rows.append(row)
                log.info("latency %s", rows[-1])
    return rows


def collaborative(settings: Settings, repeats: int) -> list[dict]:
    """Per collaborative model: fit time (median of ``repeats``), peak traced memory of a fit
    and p50 of ``similar`` (5 liked items, k=50), on the movies catalog's ratings if built."""
    import tracemalloc

    from convrec.backends.cf_fit import fit_model
    from convrec.catalog.interactions import read_interactions

    try:
        cat = open_catalog("movies", settings)
    except ConvRecError:
        log.warning("movies catalog not built: no collaborative model benchmark")
        return []
    inter = read_interactions(cat)
    if inter is None:
        return []
    rows = []
    for kind in ("item_knn", "ease"):
        cf = settings.cf.model_copy(update={"model": kind})
        times = []
        for _ in range(max(repeats, 1)):
            t0 = time.perf_counter()
            model = fit_model(inter, cf)
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        fit_model(inter, cf)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        liked = list(model.item_ids[:: max(len(model) // 200, 1)])
        lat = []
        for i in range(0, len(liked) - 5, 5):
            t0 = time.perf_counter()
            model.similar(liked[i : i + 5], 50)
            lat.append(time.perf_counter() - t0)
        rows.append(
            {
                "model": kind,
                "interactions": len(inter),
                "items": len(model),
                "fit_s": round(statistics.median(times), 3),
                "peak_traced_mb": round(peak, 1),
                "similar_p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 3),
                "similar_p95_ms": round(float(np.percentile(lat, 95)) * 1e3, 3),
            }
        )
        log.info("collaborative %s", rows[-1])
    return rows


def markdown(result: dict[str, Any]) -> str:
    out = [
        "# Index benchmark",
        "",
        f"Machine: {result['machine']}.",
        f"Command: `{result['command']}`.",
        f"Image–text model: {result['image_text_model']}.",
        "",
        "## Ingestion (items/s)",
        "",
        "| channel | items | raw encoder | index_catalog | ratio (target ≥ 0.8) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in result["ingest"]:
        out.append(
            f"| {r['channel']} | {r['items']} | {r['raw_items_per_s']} | "
            f"{r['index_items_per_s']} | {r['ratio']} |"
        )
    out += [
        "",
        f"Peak RSS while indexing: {result['peak_rss_indexing_mb']:.0f} MB.",
        "",
        "## Query latency (ms, synthetic 384-d vectors)",
        "",
        "| items | filter | k | ours p50 | ours p95 | bare Chroma p50 | bare p95 | p50 ratio |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["latency"]:
        out.append(
            f"| {r['items']} | {r['filter']} | {r['k']} | {r['ours_p50_ms']} | "
            f"{r['ours_p95_ms']} | {r['bare_p50_ms']} | {r['bare_p95_ms']} | "
            f"{r['p50_ratio']} |"
        )
    if result.get("collaborative"):
        out += [
            "",
            "## Collaborative model (movies ratings, fitted on users outside the held-out split)",
            "",
            "| model | interactions | items | fit s | peak traced MB | similar p50 ms | p95 ms |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in result["collaborative"]:
            out.append(
                f"| {r['model']} | {r['interactions']} | {r['items']} | {r['fit_s']} | "
                f"{r['peak_traced_mb']} | {r['similar_p50_ms']} | {r['similar_p95_ms']} |"
            )
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("eval/out/bench_index"))
    ap.add_argument("--items", type=int, default=256, help="catalog items for ingestion")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--no-image", action="store_true", help="skip the image–text channels")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = load_settings()
    cat = bench_catalog(settings, args.items)
    text = SentenceTransformerEmbedder.from_settings(settings)
    clip, clip_desc = (None, "skipped") if args.no_image else image_text_embedder(settings)
    rows = ingest(settings, cat, text, clip, args.repeats)
    result = {
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs",
        "command": " ".join(["python eval/bench_index.py", *sys.argv[1:]]),
        "batch_size": settings.embed.batch_size,
        "image_text_model": clip_desc,
        "ingest": rows,
        "peak_rss_indexing_mb": peak_rss_mb(),
        "latency": latency([int(s) for s in args.sizes.split(",")], args.queries, args.k),
        "collaborative": collaborative(settings, args.repeats),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_index.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "bench_index.md").write_text(markdown(result))
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
