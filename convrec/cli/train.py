"""`convrec train-clip`: train or adapt the compact open_clip image–text model."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from convrec.config import load_settings
from convrec.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train-clip",
        help="train or adapt the image–text model (open_clip) on captioned images",
        description=__doc__,
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--catalog", help="catalog name or directory: its item images and item text")
    src.add_argument("--pairs", type=Path, help="JSONL of {image, caption[, source, split]} rows")
    src.add_argument(
        "--data", choices=["default"], help="the prepared mixture (Tux Paint, OpenClipart, ...)"
    )
    p.add_argument("--out", type=Path, help="output checkpoint directory")
    p.add_argument(
        "--variant",
        choices=["locked-text", "scratch", "both"],
        default="locked-text",
        help="architecture; 'both' trains the two and keeps the better on held-out retrieval",
    )
    p.add_argument(
        "--init",
        help="start from convrec-clip, a local checkpoint or an open_clip ARCH/TAG (online); "
        "default: convrec-clip for --catalog, a fresh model otherwise ('none' forces fresh)",
    )
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, help="peak learning rate (default 2e-3 fresh, 2e-4 --init)")
    p.add_argument("--image-size", type=int, default=48)
    p.add_argument("--limit", type=int, help="train on a seeded sample of this many pairs")
    p.add_argument("--seed", type=int, help="default: settings.seed")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    p.add_argument("--summary", type=Path, help="also write the run summary JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convrec.training import pairs as pairs_mod
    from convrec.training.clip_train import TrainConfig
    from convrec.training.compare import subset, train_and_select

    settings = load_settings(args.config)
    seed = settings.seed if args.seed is None else args.seed
    if args.catalog:
        pairs = pairs_mod.catalog_pairs(args.catalog, settings)
        init = "convrec-clip" if args.init is None else args.init
        default_out = settings.cache_path / "clip" / f"catalog-{Path(args.catalog).name}"
    elif args.pairs:
        pairs = pairs_mod.read_pairs_jsonl(args.pairs, seed)
        init, default_out = args.init or "", settings.cache_path / "clip" / args.pairs.stem
    elif args.data:
        pairs = pairs_mod.default_pairs(settings)
        init, default_out = args.init or "", settings.cache_path / "clip" / "default"
    else:
        raise InputError(
            "Say what to train on: --catalog NAME|DIR, --pairs FILE.jsonl or --data default."
        )
    init = "" if init == "none" else init
    pairs = subset(pairs, args.limit, seed)
    cfg = TrainConfig(
        variant=args.variant if args.variant != "both" else "locked-text",
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr or (2e-4 if init else 2e-3),
        image_size=args.image_size,
        seed=seed,
        init=init,
        command="convrec " + shlex.join(sys.argv[1:]),
    )
    names = ["locked-text", "scratch"] if args.variant == "both" else [args.variant]
    summary = train_and_select(pairs, args.out or default_out, cfg, names, settings, args.resume)
    text = json.dumps(summary, indent=2) + "\n"
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0
