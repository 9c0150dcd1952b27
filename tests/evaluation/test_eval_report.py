"""Evaluation plumbing: resumable journals, the verdict, the report files, the README block."""

from __future__ import annotations

import json
from pathlib import Path

from convrec.config import load_settings
from convrec.evaluation.report import (
    README_END,
    README_START,
    update_readme,
    verdict,
    write_report,
)
from convrec.evaluation.suite import EvalContext, Journal, SuiteResult


def test_journal_resumes_and_sets_aside_another_configuration(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    calls: list[str] = []

    def compute(key: str) -> list[str]:
        calls.append(key)
        return [key, "x"]

    first = Journal(path, "cfg-a")
    assert first.once("t1", lambda: compute("t1")) == ["t1", "x"]
    first.put("t2", {"ok": True})
    with path.open("a") as f:
        f.write('{"key": "t3", "val')  # a run killed mid-write
    again = Journal(path, "cfg-a")
    assert len(again) == 2 and "t3" not in again
    assert again.once("t1", lambda: compute("t1")) == ["t1", "x"] and calls == ["t1"]
    other = Journal(path, "cfg-b")
    assert len(other) == 0 and path.with_suffix(".jsonl.stale").is_file()


def test_a_code_change_starts_a_journal_over_unless_reused_across_code(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    at_a = EvalContext(settings, tmp_path, code="aaaaaaa")
    at_a.journal("s", "x").put("u1", 1)
    head = json.loads((tmp_path / "journal" / "s-x.jsonl").read_text().splitlines()[0])
    assert head["code"] == "aaaaaaa" and head["config"]["suite"] == "s"
    at_b = EvalContext(settings, tmp_path, code="bbbbbbb")
    assert "u1" not in at_b.journal("s", "x")  # the other commit's unit is set aside
    assert (tmp_path / "journal" / "s-x.jsonl.stale").is_file()
    at_b.journal("s", "x").put("u1", 2)
    reuse = EvalContext(settings, tmp_path, code="ccccccc", reuse_across_code=True)
    first = reuse.journal("s", "y")
    first.put("u1", 3)
    later = EvalContext(settings, tmp_path, code="ddddddd", reuse_across_code=True)
    kept = later.journal("s", "y")
    assert kept.get("u1") == 3 and later.unit_codes() == {"ccccccc": 1}
    report = write_report([result("inspired", 0.3, 0.2)], later, "convrec eval", 1.0)
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("Commit: ddddddd\n") and report["commit"] == "ddddddd"
    assert "1 units from ccccccc" in md  # the report says what was reused


def result(suite: str, full: float, best: float) -> SuiteResult:
    metric = "R@10" if suite == "inspired" else "success@10"
    return SuiteResult(
        suite,
        {"full": {metric: full}, "no-llm": {metric: 0.9}, "bm25": {metric: best}},
        markdown=f"### {suite}\n",
        curves={f"{suite}: curve by turn": {"full": [(1.0, 0.1), (2.0, full)]}},
    )


def test_verdict_is_honest() -> None:
    lines = verdict([result("inspired", 0.3, 0.2), result("simulated", 0.1, 0.4)])
    assert "beats every baseline (best: bm25, 0.200)" in lines[0]
    assert "does NOT beat bm25 (0.400)" in lines[1]  # no-llm is ours, not a baseline


def test_report_files_plots_and_readme_block(tmp_path: Path) -> None:
    ctx = EvalContext(load_settings(environ={}), tmp_path / "out")
    results = [result("inspired", 0.3, 0.2)]
    report = write_report(results, ctx, "convrec eval --suite inspired", 1.0)
    saved = json.loads((ctx.out / "report.json").read_text())
    assert saved["suites"]["inspired"]["summary"]["full"]["R@10"] == 0.3
    png = ctx.out / "inspired-curve-by-turn.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (ctx.out / "report.md").read_text()
    assert "### inspired" in md and f"]({png.name})" in md and "## Verdict" in md
    assert md.startswith(f"Commit: {ctx.code}\n") and saved["commit"] == ctx.code
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{README_START}\nold\n{README_END}\n\n## next\n")
    assert update_readme(readme, report)
    text = readme.read_text()
    assert "old" not in text and "| full | 0.300 |" in text and text.endswith("## next\n")
    assert f"at commit {ctx.code}" in text
    bare = tmp_path / "bare.md"
    bare.write_text("# nothing\n")
    assert not update_readme(bare, report)
