"""`convrec eval`: run evaluation suites and write report.json, report.md and plots."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from convrec.errors import InputError

log = logging.getLogger(__name__)
ALL = ("scripted", "simulated", "inspired", "taste")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate the system and the baselines in one run (JSON + Markdown + plots)",
    )
    p.add_argument("--suite", default="all", help=f"{', '.join(ALL)}, all, or a comma list")
    p.add_argument("--out", type=Path, default=Path("eval/reports/eval"), help="report folder")
    p.add_argument(
        "--quick", action="store_true", help="a few units per suite: checks the plumbing (CI)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument(
        "--tsv",
        type=Path,
        help="INSPIRED split (default: shared/data/inspired/dev.tsv beside the checkout; "
        "a file named test.tsv is reported as the held-out test split)",
    )
    p.add_argument(
        "--systems",
        default="full,no-llm",
        help="which of our systems run, a comma list of full and no-llm (the baselines always "
        "run); no-llm alone skips the LLM's turns, which take hours on INSPIRED on 2 cores",
    )
    p.add_argument("--readme", type=Path, help="also refresh the results block of this README")
    p.add_argument(
        "--fresh", action="store_true", help="ignore finished units of an earlier run (no resume)"
    )
    p.add_argument(
        "--reuse-across-code",
        action="store_true",
        help="count finished units of an earlier run at another commit (the report lists them); "
        "by default a code change starts each suite over",
    )
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from convrec.config import load_settings
    from convrec.evaluation.report import run_suites, update_readme, write_report
    from convrec.evaluation.suite import EvalContext

    names = list(ALL) if args.suite == "all" else [s.strip() for s in args.suite.split(",")]
    bad = [n for n in names if n not in ALL]
    if bad:
        raise InputError(f"Unknown suite(s) {', '.join(bad)}. Fix: use {', '.join(ALL)} or all.")
    if "inspired" in names:
        from convrec.evaluation.inspired.run import check_tsv

        check_tsv(args.tsv)  # a missing split fails now, not after the other suites
    if args.fresh and (args.out / "journal").is_dir():
        for f in (args.out / "journal").glob("*.jsonl"):
            f.replace(f.with_suffix(".jsonl.stale"))
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    ctx = EvalContext(
        load_settings(args.config), args.out, args.quick, args.seed, args.tsv, systems=systems,
        reuse_across_code=args.reuse_across_code,
    )  # fmt: skip
    start = time.perf_counter()
    results = run_suites(ctx, names)
    command = "convrec eval " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["eval"] else ""
    report = write_report(results, ctx, command or f"convrec eval --suite {args.suite}",
                          time.perf_counter() - start)  # fmt: skip
    for line in report["verdict"]:
        log.info("%s", line)
    if args.readme and not update_readme(args.readme, report):
        raise InputError(
            f"{args.readme} has no results block. Fix: add the two marker lines "
            "`[//]: # (eval-results:start)` and `[//]: # (eval-results:end)` where it belongs."
        )
    sys.stdout.write(f"{args.out / 'report.md'}\n")
    return 0
