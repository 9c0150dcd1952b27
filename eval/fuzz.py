"""Bad input at scale: the property-based tests of tests/test_fuzz.py with N generated inputs each.

    python eval/fuzz.py [--examples 10000] [--out eval/reports/fuzz]

Each entry point (chat, recommend, feedback, an image upload, the catalog loaders) must give a
result or a ConvRecError that says how to fix it, never another exception, and a refused chat
turn must leave the session as it was. The tests run the real rules-only system on the indexed
phones subset of the test suite. Per entry point the report gives the examples hypothesis ran
(from its statistics), the failing ones, the seconds, and why it stopped. Writes report.json and
report.md to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from convrec.evaluation.provenance import code_version

log = logging.getLogger("eval.fuzz")
ENTRY_POINTS = {
    "test_chat_takes_any_text": "ConvRec.chat (any text, any user id)",
    "test_recommend_takes_any_dialogue": "ConvRec.recommend (any roles, contents, k)",
    "test_feedback_takes_any_ids": "ConvRec.feedback (any session and item ids)",
    "test_any_bytes_as_an_image": "an image upload (any bytes)",
    "test_the_loaders_take_any_bytes": "catalog loaders (any bytes as JSONL, CSV, Parquet)",
}
COUNTS = re.compile(  # "10000 passing, 0 failing, and 0 invalid test cases" (older: "… examples")
    r"(\d+) passing(?: examples?)?, (\d+) failing(?: examples?)?, (?:and )?(\d+) invalid"
)


def statistics(output: str) -> dict[str, dict[str, Any]]:
    """Hypothesis's --hypothesis-show-statistics text → per test: passing, failing, stop reason."""
    stats: dict[str, dict[str, Any]] = {}
    current = None
    for line in output.splitlines():
        head = re.match(r"^\S*::(test_\w+):\s*$", line.strip())
        if head:
            current = stats.setdefault(head.group(1), {"passing": 0, "failing": 0, "invalid": 0})
            continue
        if current is None:
            continue
        counts = COUNTS.search(line)
        if counts:
            for key, value in zip(("passing", "failing", "invalid"), counts.groups(), strict=True):
                current[key] += int(value)
        elif line.strip().startswith("- Stopped because"):
            current["stopped"] = line.strip()[len("- Stopped because ") :]
    return stats


def outcomes(junit: Path) -> dict[str, dict[str, Any]]:
    """pytest's JUnit XML → per test: passed or the first line of its failure, and seconds."""
    out: dict[str, dict[str, Any]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        out[case.get("name", "")] = {
            "passed": problem is None and case.find("skipped") is None,
            "seconds": round(float(case.get("time", 0)), 1),
            "failure": None if problem is None else (problem.get("message") or "")[:300],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("eval/reports/fuzz"))
    args = parser.parse_args()
    commit = code_version()  # before the run: edits made while it runs do not change it
    args.out.mkdir(parents=True, exist_ok=True)
    junit = args.out / "junit.xml"
    env = {**os.environ, "CONVREC_FUZZ_EXAMPLES": str(args.examples), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "pytest", "tests/test_fuzz.py", "-q", "-p", "no:cacheprovider",
           "--hypothesis-show-statistics", "--hypothesis-seed=0",
           f"--junitxml={junit}"]  # fmt: skip
    log.info("running %s with %d examples per entry point", " ".join(cmd[2:]), args.examples)
    start = time.monotonic()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    (args.out / "pytest.log").write_text(run.stdout + run.stderr)
    stats, results = statistics(run.stdout), outcomes(junit)
    junit.unlink()
    rows = []
    for test, label in ENTRY_POINTS.items():
        got = {**stats.get(test, {}), **results.get(test, {"passed": False, "failure": "not run"})}
        rows.append({"test": test, "entry_point": label, **got})
    report = {"commit": commit, "command": " ".join(sys.argv), "examples": args.examples,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "seconds": round(time.monotonic() - start), "pytest_exit": run.returncode,
              "entry_points": rows}  # fmt: skip
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    md = [
        f"# Bad input at scale, commit {report['commit']}",
        "",
        f"`{report['command']}`, {report['date']}, {report['seconds']} s on this 2-core machine;"
        f" hypothesis seed 0, up to {args.examples:,} generated inputs per entry point.",
        "",
        "| entry point | inputs run | unexpected exceptions | seconds | stopped because |",
        "|---|---|---|---|---|",
        *(
            f"| {r['entry_point']} | {r.get('passing', 0) + r.get('failing', 0):,} | "
            f"{'0' if r['passed'] else 'FAILED: ' + str(r['failure']).splitlines()[0][:120]} | "
            f"{r.get('seconds', '')} | {r.get('stopped', '')} |"
            for r in rows
        ),
        "",
        "An unexpected exception is anything but a result or a `ConvRecError` whose message says "
        "how to fix it; for chat, also a refused turn that changed the session.",
    ]
    (args.out / "report.md").write_text("\n".join(md) + "\n")
    log.info("wrote %s", args.out / "report.md")
    if run.returncode:
        raise SystemExit(f"pytest failed (exit {run.returncode}); see {args.out / 'pytest.log'}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main()
