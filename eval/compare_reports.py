"""Do two `convrec eval` reports hold the same figures? For refactors that must not change
behaviour: run the same command at the commit before and after, then

    python eval/compare_reports.py BEFORE/report.json AFTER/report.json --out eval/reports/X

Every value of the two report.json files is compared, key by key, except what describes the run
rather than its results (commit, command, date, timings). Writes compare.json and compare.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("eval.compare_reports")
# Keys that describe the run, not its results: the last part of a flattened key, or its first
# (``units_by_commit.<commit>``).
RUN_KEYS = frozenset({"commit", "command", "date", "seconds", "units_by_commit"})


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": [1]}}`` → ``{"a.b[0]": 1}``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out |= flatten(v, f"{prefix}[{i}]")
        return out
    return {prefix: value}


def _parts(key: str) -> list[str]:
    """``suites.taste.metrics[0].seconds`` → ``["suites", "taste", "metrics", "seconds"]``."""
    return [p for p in re.split(r"[.\[\]]", key) if p and not p.isdigit()]


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    a, b = flatten(before), flatten(after)
    keys = sorted(set(a) | set(b))
    run = [k for k in keys if {_parts(k)[0], _parts(k)[-1]} & RUN_KEYS]
    results = [k for k in keys if k not in set(run)]
    differ = [{"key": k, "before": a.get(k), "after": b.get(k)} for k in results
              if a.get(k) != b.get(k)]  # fmt: skip
    return {"compared": len(results), "run_keys_skipped": len(run), "differ": differ}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    before, after = (json.loads(p.read_text()) for p in (args.before, args.after))
    out = compare(before, after)
    out["before"] = {"report": str(args.before), "commit": before.get("commit")}
    out["after"] = {"report": str(args.after), "commit": after.get("commit")}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = [
        "# Same figures before and after?",
        "",
        f"- before: commit {out['before']['commit']}",
        f"- after: commit {out['after']['commit']}",
        f"- result values compared: {out['compared']} (run descriptions skipped: "
        f"{out['run_keys_skipped']})",
        f"- values that differ: **{len(out['differ'])}**",
        "",
    ]
    lines += [f"- `{d['key']}`: {d['before']!r} → {d['after']!r}" for d in out["differ"][:50]]
    (args.out / "compare.md").write_text("\n".join(lines) + "\n")
    log.info("%d values compared, %d differ", out["compared"], len(out["differ"]))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
