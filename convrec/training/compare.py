"""Train one or both variants, keep the better by held-out retrieval, and record both results."""

from __future__ import annotations

import json
import logging
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convrec.backends import clip_embedder as ce
from convrec.training.clip_train import TrainConfig, TrainResult, train_clip
from convrec.training.pairs import Pair

if TYPE_CHECKING:
    from convrec.config import Settings

log = logging.getLogger(__name__)


def subset(pairs: list[Pair], limit: int | None, seed: int) -> list[Pair]:
    """A seeded sample of ``limit`` training pairs and ``limit // 4`` held-out pairs."""
    if not limit:
        return pairs
    rng = random.Random(seed)
    train = [p for p in pairs if p.split == "train"]
    held = [p for p in pairs if p.split == "heldout"]
    return rng.sample(train, min(limit, len(train))) + rng.sample(held, min(limit // 4, len(held)))


def selection_score(metrics: dict[str, dict[str, float]]) -> float:
    """Mean of image→text and text→image Recall@1/5/10 over the whole held-out split."""
    m = metrics.get("all", {})
    keys = [f"{d}_R@{k}" for d in ("i2t", "t2i") for k in (1, 5, 10)]
    return sum(m.get(k, 0.0) for k in keys) / len(keys)


def train_and_select(
    pairs: list[Pair],
    out_dir: Path,
    cfg: TrainConfig,
    variants: list[str],
    settings: Settings,
    resume: bool = False,
) -> dict[str, Any]:
    """Train each variant into ``out_dir/variants/<name>``; copy the best to ``out_dir``.

    With one variant (or an ``init`` checkpoint) it trains straight into ``out_dir``.
    """
    if len(variants) == 1 or cfg.init:
        result = train_clip(pairs, out_dir, _with(cfg, variants[0]), settings, resume)
        name = f"init:{cfg.init}" if cfg.init else variants[0]
        return {"chosen": name, "variants": {name: _summary(result)}}
    results: dict[str, TrainResult] = {}
    for name in variants:
        results[name] = train_clip(
            pairs, out_dir / "variants" / name, _with(cfg, name), settings, resume
        )
    best = max(results, key=lambda n: selection_score(results[n].metrics))
    for fname in (ce.CONFIG_FILE, ce.WEIGHTS_FILE):
        shutil.copy2(results[best].out_dir / fname, out_dir / fname)
    summary = {"chosen": best, "variants": {n: _summary(r) for n, r in results.items()}}
    (out_dir / "variants" / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("kept %s (score %.3f)", best, selection_score(results[best].metrics))
    return summary


def _with(cfg: TrainConfig, variant: str) -> TrainConfig:
    from dataclasses import replace

    return replace(cfg, variant=variant)


def _summary(result: TrainResult) -> dict[str, Any]:
    size = (result.out_dir / ce.WEIGHTS_FILE).stat().st_size
    return {
        "dir": str(result.out_dir),
        "losses": result.losses,
        "heldout": result.metrics,
        "score": selection_score(result.metrics),
        "weights_mb": round(size / 1e6, 2),
    }
