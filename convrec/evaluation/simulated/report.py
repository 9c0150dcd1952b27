"""The simulated-users suite's result: summary, curves, details and its report section.

``summary[system]`` starts with the headline mode's numbers pooled over the catalogs: free mode
(the LLM's own words) when it ran, else attribute mode (templates the system's parser reads back:
an upper bound, not a measure of understanding); ``success@10`` is what the report's verdict
compares. Then ``"<catalog> <mode> <metric>"`` for each run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from convrec.evaluation.metrics import paired_bootstrap
from convrec.evaluation.simulated.dialogues import LIST, MAX_TURNS, Dialogue, metrics
from convrec.evaluation.suite import Curve, SuiteResult

HEADLINE = ("success@1", f"success@{LIST}", f"turns_to_success@{LIST}", "recall@10", "recall@50",
            "questions", "leak_drops", "invalid_drops", "unfaithful_drops", "users")  # fmt: skip
CURVE = "Simulated users: success@10 by turn"
FREE_CURVE = "Simulated users (free mode): success@10 by turn"
Runs = Mapping[tuple[str, str, str], Sequence[Dialogue]]  # (catalog, mode, system) → dialogues


def _pool(runs: Runs, mode: str) -> dict[str, list[Dialogue]]:
    out: dict[str, list[Dialogue]] = {}
    for (_, m, system), dialogues in runs.items():
        if m == mode:
            out.setdefault(system, []).extend(dialogues)
    return out


def _curve(m: Mapping[str, float]) -> Curve:
    return [(float(t), m[f"success@{LIST}_turn{t}"]) for t in range(1, MAX_TURNS + 1)]


def headline_mode(runs: Runs) -> str:
    """Free mode when it ran, else attribute mode."""
    return "free" if any(m == "free" for _, m, _ in runs) else "attribute"


def ours(systems: Collection[str]) -> str:
    """The system the comparisons are about: ``full`` when it ran, else ``no-llm``."""
    return "full" if "full" in systems else "no-llm"


def report(
    runs: Runs, sizes: Mapping[str, int], seconds: Mapping[str, float], *, seed: int, quick: bool
) -> SuiteResult:
    summary: dict[str, dict[str, float]] = {}
    mode = headline_mode(runs)
    for system, dialogues in _pool(runs, mode).items():
        m = metrics(dialogues)
        summary[system] = {k: m[k] for k in HEADLINE if k in m}
    for (catalog, mode, system), ds in runs.items():
        for k, v in metrics(ds).items():
            summary.setdefault(system, {})[f"{catalog} {mode} {k}"] = v
    curves: dict[str, dict[str, Curve]] = {}
    for mode, title in (("attribute", CURVE), ("free", FREE_CURVE)):
        pooled = _pool(runs, mode)
        if pooled:
            curves[title] = {s: _curve(metrics(ds)) for s, ds in pooled.items()}
    rows = [
        {"catalog": c, "mode": mode, "system": s, "user": d.user, "target": d.target,
         "turns": len(d.turns), f"first_success@{LIST}": d.first_success(LIST),
         "final_rank": d.final_rank, "questions": d.questions, "leak_drops": d.count("leak")}
        for (c, mode, s), ds in runs.items() for d in ds
    ]  # fmt: skip
    ours_name = ours({s for _, _, s in runs})
    examples = [asdict(ds[0]) for (c, mode, s), ds in runs.items() if ds and s == ours_name]
    details: dict[str, Any] = {
        "headline_mode": mode,
        "users": dict(sizes),
        "seed": seed,
        "max_turns": MAX_TURNS,
        "seconds": dict(seconds),
        "dialogues": rows,
        "examples": examples,
        "paired": paired(runs, seed),
        "messages": messages(runs),
    }
    text = (
        _markdown(runs, sizes, seed, quick)
        + _messages_markdown(details["messages"])
        + _paired_markdown(details["paired"])
    )
    return SuiteResult("simulated", summary, details, text, curves)


def messages(runs: Runs) -> dict[str, Any]:
    """Free mode's messages over every dialogue: how many the LLM wrote as used, how many were
    dropped and why (each reason of an "unfaithful" drop counted), with examples."""
    turns = [t for (_, m, _), ds in runs.items() if m == "free" for d in ds for t in d.turns]
    if not turns:
        return {}
    sources: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for t in turns:
        sources[t.source] = sources.get(t.source, 0) + 1
        for why in filter(None, t.why.split("; ")):
            kind = why.split(":")[0]
            reasons[kind] = reasons.get(kind, 0) + 1
    dropped = [{"dropped": t.dropped, "source": t.source, "why": t.why}
               for t in turns if t.source != "llm"]  # fmt: skip
    return {
        "messages": len(turns),
        "llm_share": sources.get("llm", 0) / len(turns),
        "sources": sources,
        "unfaithful_reasons": reasons,
        "dropped_examples": list({d["dropped"]: d for d in dropped}.values())[:12],
        "used_examples": list(dict.fromkeys(t.said for t in turns if t.source == "llm"))[:12],
    }


def _messages_markdown(m: Mapping[str, Any]) -> str:
    if not m:
        return ""
    src = m["sources"]
    why = ", ".join(f"{k} {v}" for k, v in sorted(m["unfaithful_reasons"].items()))
    lines = [
        "",
        f"Free-mode messages, every system's dialogues together: {m['messages']}, of which "
        f"{m['llm_share']:.0%} were the LLM's own words as used; dropped and replaced by the "
        f"attribute-mode sentence: {src.get('invalid', 0)} not a customer's message, "
        f"{src.get('leak', 0)} naming the target, {src.get('unfaithful', 0)} saying something "
        f"the target does not hold (read by convrec.evaluation.msgcheck, not by the system's "
        f"parser{': ' + why if why else ''}).",
        "",
        "Messages the LLM wrote (first of each):",
        "",
        *[f"- {t}" for t in m["used_examples"][:6]],
        "",
        "Dropped:",
        "",
        *[
            f"- ({d['source']}{': ' + d['why'] if d['why'] else ''}) {d['dropped'][:160]}"
            for d in m["dropped_examples"][:6]
        ],
    ]
    return "\n".join(lines) + "\n"


def paired(runs: Runs, seed: int) -> list[dict[str, Any]]:
    """Per mode, ``full`` (else ``no-llm``, when only it ran) minus every other system on
    success@10, paired by (catalog, user): the mean difference and its 95% bootstrap interval
    (users resampled)."""

    def wins(mode: str, system: str) -> dict[tuple[str, str], float]:
        picked = [(c, ds) for (c, m, s), ds in runs.items() if m == mode and s == system]
        return {(c, d.user): float(d.first_success(LIST) is not None)
                for c, ds in picked for d in ds}  # fmt: skip

    out: list[dict[str, Any]] = []
    name = ours({s for _, _, s in runs})
    for mode in dict.fromkeys(m for _, m, _ in runs):
        mine = wins(mode, name)
        for system in dict.fromkeys(s for _, m, s in runs if m == mode and s != name):
            theirs = wins(mode, system)
            users = [u for u in mine if u in theirs]
            if not users:
                continue
            a, b = [mine[u] for u in users], [theirs[u] for u in users]
            diff, lo, hi = paired_bootstrap(a, b, seed=seed)
            out.append({"mode": mode, "ours": name, "versus": system,
                        "metric": f"success@{LIST}", "users": len(users), "diff": diff,
                        "low": lo, "high": hi})  # fmt: skip
    return out


def _paired_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    lines = [
        "",
        f"Paired difference in success@{LIST}, `{rows[0].get('ours', 'full')}` minus each other "
        "system, over the same simulated users (mean and 95% bootstrap interval, users "
        "resampled; an interval that contains 0 is within the noise of this many users):",
        "",
        "| mode | versus | users | difference [95% interval] |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['mode']} | {r['versus']} | {r['users']} | "
        f"{r['diff']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}] |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def _num(m: Mapping[str, float], key: str) -> str:
    return f"{m[key]:.2f}" if key in m else "–"


def _markdown(runs: Runs, sizes: Mapping[str, int], seed: int, quick: bool) -> str:
    users = ", ".join(f"{n} ({where} mode)" for where, n in sizes.items())
    lines = [
        "### Simulated users",
        "",
        "iEvaLM-style interactive protocol. Each simulated user has a hidden target: movies, a "
        "movie a real MovieLens user rated ≥ 4.5, held out, with a persona from the user's other "
        "ratings (favourite genres, liked titles it may name); phones, a catalog item. **Free "
        "mode** (the headline): the LLM writes each message in its own words from the target's "
        "structured fields (never its title, never the indexed item text); a message that names "
        "the target (fuzzy match), is not a customer's message, or says something the target "
        "does not hold (read by a checker that shares no code with the system's parser) is "
        "dropped and replaced by the attribute-mode one. **Attribute mode** is the "
        "parser-friendly upper bound: template sentences of exact catalog values, worded so our "
        "parser reads them back, answering questions and otherwise volunteering the rarest fact "
        "not said yet. Shown items that are not the "
        f"target are turned down. Up to {MAX_TURNS} turns; a dialogue ends when the target is "
        f"shown. success@k: the target in the top k of a turn's ranking by turn {MAX_TURNS} "
        "(our system: the items shown, then the rest of the same ranking; a question shows "
        "nothing). Recall@k: the final ranking. Baselines never ask.",
        "",
        f"Simulated users: {users}. Seed {seed}."
        + (" Quick mode: a plumbing check, not a measurement." if quick else ""),
    ]
    header = ("| system | users | S@1 | S@10 | S@10 by turn 1–5 | turns to S@10 | R@10 | R@50 "
              "| questions | leaks dropped | other LLM drops |")  # fmt: skip
    several = len({c for c, _, _ in runs}) > 1
    modes = sorted({m for _, m, _ in runs}, key=lambda m: m != "free")  # free mode first
    groups = [("all catalogs", m, _pool(runs, m)) for m in modes] if several else []
    groups += [(c, mode, {s: list(ds)}) for m in modes for (c, mode, s), ds in runs.items()
               if mode == m]  # fmt: skip
    merged: dict[tuple[str, str], dict[str, list[Dialogue]]] = {}
    for where, mode, by_system in groups:
        for s, ds in by_system.items():
            merged.setdefault((where, mode), {})[s] = list(ds)
    for (where, mode), by_system in merged.items():
        what = " (the parser-friendly upper bound)" if mode == "attribute" else ""
        lines += ["", f"#### {where}, {mode} mode{what}", "", header, "|---" * 11 + "|"]
        table = {s: metrics(ds) for s, ds in by_system.items()}
        for s, m in sorted(table.items(), key=lambda kv: -kv[1][f"success@{LIST}"]):
            curve = " ".join(f"{v:.2f}" for _, v in _curve(m))
            lines.append(
                f"| {s} | {m['users']:.0f} | {m['success@1']:.2f} | {m[f'success@{LIST}']:.2f} | "
                f"{curve} | {_num(m, f'turns_to_success@{LIST}')} | {m['recall@10']:.2f} | "
                f"{m['recall@50']:.2f} | {m['questions']:.2f} | {m['leak_drops']:.0f} | "
                f"{m['invalid_drops'] + m['unfaithful_drops']:.0f} |"
            )
    return "\n".join(lines) + "\n"


__all__ = ["CURVE", "FREE_CURVE", "report"]
