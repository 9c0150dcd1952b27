"""``convrec eval``: run the suites, then write report.json, report.md and the plots.

The verdict compares our full system with every baseline measured in the same run, on the
INSPIRED Recall@10 and the simulated success@10, and says plainly when it does not win.
"""

from __future__ import annotations

import importlib
import json
import logging
import platform
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from convrec.evaluation.suite import SYSTEMS, Curve, EvalContext, SuiteResult

log = logging.getLogger(__name__)

# Suite name → the module whose ``run(ctx)`` produces it.
SUITES: dict[str, str] = {
    "scripted": "convrec.evaluation.scripted.run",
    "simulated": "convrec.evaluation.simulated.simulator",
    "inspired": "convrec.evaluation.inspired.run",
    "taste": "convrec.evaluation.taste.run",
}
# The headline metrics per suite that the verdict compares (our "full" against the baselines).
# INSPIRED's plain R@10 counts targets the dialogue already mentioned, which our system never
# re-recommends (seen items are hidden by design); dedup R@10 counts only new targets.
HEADLINE: dict[str, tuple[str, ...]] = {
    "inspired": ("R@10", "dedup_R@10"),
    "simulated": ("success@10",),
}
README_START = "[//]: # (eval-results:start)"
README_END = "[//]: # (eval-results:end)"


def run_suites(ctx: EvalContext, names: Sequence[str]) -> list[SuiteResult]:
    """Each named suite's result, in order (suites are imported only when asked for)."""
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise ValueError(f"Unknown suite(s) {unknown}. Fix: use {', '.join(SUITES)} or all.")
    results = []
    for name in names:
        start = time.perf_counter()
        module = importlib.import_module(SUITES[name])
        result: SuiteResult = module.run(ctx)
        log.info("suite %s done in %.0f s", name, time.perf_counter() - start)
        results.append(result)
    return results


def verdict(results: Sequence[SuiteResult]) -> list[str]:
    """One line per headline metric: does the full system (else the rules-only one, when only
    it ran) beat every baseline?"""
    lines = []
    for r, metric in ((res, m) for res in results for m in HEADLINE.get(res.suite, ())):
        system = "full" if "full" in r.summary else "no-llm"
        if metric not in r.summary.get(system, {}):
            continue
        ours = r.summary[system][metric]
        mode = r.details.get("headline_mode")
        split = r.details.get("split")
        label = f"{r.suite}{f' {split}' if split else ''} {metric}"
        label += f" ({mode} mode)" if mode else ""
        who = "the full system" if system == "full" else "the rules-only system"
        rivals = {n: m.get(metric, 0.0) for n, m in r.summary.items() if n not in SYSTEMS}
        if not rivals:
            continue
        best_name = max(rivals, key=lambda n: rivals[n])
        best = rivals[best_name]
        if ours > best:
            lines.append(f"{label}: {who} ({ours:.3f}) beats every "
                         f"baseline (best: {best_name}, {best:.3f}).")  # fmt: skip
        else:
            lines.append(f"{label}: {who} ({ours:.3f}) does NOT beat "
                         f"{best_name} ({best:.3f}).")  # fmt: skip
    return lines


def write_report(
    results: Sequence[SuiteResult], ctx: EvalContext, command: str, seconds: float
) -> dict[str, Any]:
    """Write ``report.json``, ``report.md`` and one PNG per curve into ``ctx.out``."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    plots = {}
    for r in results:
        for title, curves in r.curves.items():
            path = ctx.out / f"{_slug(title)}.png"
            plot(title, curves, path, xlabel=_xlabel(title))
            plots[title] = path.name
    report: dict[str, Any] = {
        "commit": ctx.code,
        "units_by_commit": ctx.unit_codes(),
        "reuse_across_code": ctx.reuse_across_code,
        "command": command,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": platform.machine(), "python": platform.python_version()},
        "quick": ctx.quick,
        "seed": ctx.seed,
        "systems": list(ctx.systems),
        "models": {
            "llm": ctx.settings.llm.model,
            "text": ctx.settings.embed.text_model,
            "image_text": ctx.settings.embed.image_text_model,
        },
        "seconds": round(seconds, 1),
        "verdict": verdict(results),
        "suites": {r.suite: asdict(r) for r in results},
        "plots": plots,
    }
    (ctx.out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (ctx.out / "report.md").write_text(markdown(report, results))
    log.info("wrote %s and %s", ctx.out / "report.json", ctx.out / "report.md")
    return report


def _systems_line(systems: Sequence[str]) -> str:
    what = {
        "full": "`full` (with the LLM)",
        "no-llm": "`no-llm` (deterministic parser, template questions and explanations)",
    }
    line = ", ".join(what[s] for s in systems if s in what)
    if "full" not in systems:
        line += " (the LLM system was not run: `--systems`)"
    return line


def markdown(report: Mapping[str, Any], results: Sequence[SuiteResult]) -> str:
    m = report["models"]
    lines = [f"Commit: {report['commit']}", "", "# convrec evaluation", ""]
    others = {c: n for c, n in report.get("units_by_commit", {}).items() if c != report["commit"]}
    if others:
        lines += [
            "Reused across code versions (`--reuse-across-code`): "
            + ", ".join(f"{n} units from {c}" for c, n in sorted(others.items()))
            + f"; the other {report['units_by_commit'].get(report['commit'], 0)} ran at "
            f"{report['commit']}.",
            "",
        ]
    lines += [
        f"Command: `{report['command']}` ({report['date']}, {report['seconds']:.0f} s"
        f"{', quick mode: checks the plumbing, not the quality' if report['quick'] else ''}).",
        f"Models: LLM `{m['llm']}`, text `{m['text']}`, image–text `{m['image_text']}`. "
        f"Seed {report['seed']}. Systems: {_systems_line(report.get('systems', SYSTEMS))}, and "
        "the baselines, all in the same run.",
        "",
    ]
    if report["verdict"]:
        lines += ["## Verdict", "", *[f"- {v}" for v in report["verdict"]], ""]
    for r in results:
        lines += [r.markdown.rstrip(), ""]
        lines += [f"![{t}]({report['plots'][t]})" for t in r.curves if t in report["plots"]]
        lines += [""] if r.curves else []
    return "\n".join(lines).rstrip() + "\n"


def plot(title: str, curves: Mapping[str, Curve], path: Path, xlabel: str = "") -> None:
    """One line per system (ours solid, baselines dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for name, points in curves.items():
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        style = "-" if name in SYSTEMS else "--"
        ax.plot(xs, ys, style, marker="o", markersize=3, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def readme_table(report: Mapping[str, Any]) -> str:
    """The results block for the README: the verdict and each suite's headline numbers."""
    lines = [README_START, "",
             f"From `{report['command']}` at commit {report.get('commit', 'unknown')} on "
             f"{report['date']} (the whole report is in `eval/reports/`).", ""]  # fmt: skip
    lines += [f"- {v}" for v in report["verdict"]]
    for name, suite in report["suites"].items():
        summary: dict[str, dict[str, float]] = suite["summary"]
        metrics = list(dict.fromkeys(k for m in summary.values() for k in m))[:6]
        if not metrics:
            continue
        lines += ["", f"**{name}**", "", "| system | " + " | ".join(metrics) + " |"]
        lines.append("|---" * (len(metrics) + 1) + "|")
        for system, m in summary.items():
            cells = [_fmt(m.get(k)) for k in metrics]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", README_END])


def update_readme(readme: Path, report: Mapping[str, Any]) -> bool:
    """Replace the block between the eval-results markers; False when the README has none."""
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        return False
    readme.write_text(pattern.sub(lambda _: readme_table(report), text), encoding="utf-8")
    return True


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _xlabel(title: str) -> str:
    return "turn" if "turn" in title.lower() else "k"
