"""`convrec bench llm`: benchmarks that write JSON and Markdown reports (see eval/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("bench", help="run a benchmark and write JSON + Markdown")
    cmds = parser.add_subparsers(dest="bench_command", required=True)
    llm = cmds.add_parser("llm", help="LLM load time, prefill/decode tokens/s, peak RSS")
    llm.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help="packaged model (repeatable; default: the default and the test model)",
    )
    llm.add_argument("--runs", type=int, default=3, help="runs per measurement (median reported)")
    llm.add_argument("--new-tokens", type=int, default=32, help="tokens generated per decode run")
    llm.add_argument("--out", type=Path, default=Path("eval/out/bench_llm"))
    llm.set_defaults(func=cmd_llm)


def cmd_llm(args: argparse.Namespace) -> int:
    from convrec.models.bench import markdown, run

    models = args.models or ["qwen2.5-coder-0.5b", "smollm2-135m"]
    report = run(models, args.out, runs=args.runs, new_tokens=args.new_tokens, config=args.config)
    sys.stdout.write(markdown(report))
    return 0
