"""The scripted dialogue suite: every dialogue of eval/dialogues/*.yaml through each system.

Each dialogue runs in a fresh session (and a fresh user, so no profile carries over); each turn's
reply is checked against its expectations (:mod:`convrec.evaluation.scripted.expectations`).
Metrics per
system, over all turns:

- ``constraint_violation_rate``: recommended items breaking a hard ``constraints`` expectation,
  over the recommended items checked against one (goal 0);
- ``negative_feedback_compliance``: negative checks (``exclude``, ``exclude_previous``,
  ``ne``/``nin`` constraints) that held, over those evaluated (goal 1);
- ``out_of_catalog_rate``: recommended ids the catalog lacks, over all recommended (goal 0);
- ``faithfulness``: explanations that passed the grounding check as the LLM first wrote them
  (``explanation_source == "llm"``; 0 without an LLM, whose explanations are all templates);
  ``grounded_rate``: shown explanations in which the deterministic checker finds no unsupported
  claim (goal 1: failed LLM answers are regenerated or templated before they are shown);
- ``expectation_pass_rate``: checks that held, over checks evaluated; ``dialogue_pass_rate``.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from convrec.errors import InputError
from convrec.evaluation.scripted.dialogues import DIALOGUES_DIR, Dialogue
from convrec.evaluation.scripted.expectations import TurnResult, check_turn, error_turn
from convrec.evaluation.scripted.loader import load_dialogues
from convrec.evaluation.suite import EvalContext, Journal, SuiteResult

if TYPE_CHECKING:
    from convrec.engine import ConvRec

log = logging.getLogger(__name__)

SUITE = "scripted"
CATALOGS = ("phones", "movies")
QUICK_PER_CATALOG = 1  # dialogues per catalog in quick mode (those tagged `quick: true`)
MAX_FAILURES_SHOWN = 40  # failing expectations listed in the markdown
SystemFor = Callable[[str], "ConvRec"]  # catalog name → the system on that catalog


@dataclass(frozen=True)
class DialogueResult:
    """One dialogue run through one system."""

    id: str
    catalog: str
    tags: tuple[str, ...]
    turns: tuple[TurnResult, ...]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "catalog": self.catalog, "tags": list(self.tags),
                "passed": self.passed, "turns": [t.to_dict() for t in self.turns]}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DialogueResult:
        turns = tuple(TurnResult.from_dict(t) for t in data["turns"])
        return cls(data["id"], data["catalog"], tuple(data["tags"]), turns)


def run_dialogue(dialogue: Dialogue, rec: ConvRec) -> DialogueResult:
    """Play ``dialogue`` in a fresh session of ``rec``. A turn that raises ends the dialogue
    (later turns build on its state) and is recorded as a failed check."""
    sid = f"{SUITE}-{dialogue.id}-{uuid.uuid4().hex[:8]}"
    previous: list[str] = []
    out: list[TurnResult] = []
    for n, turn in enumerate(dialogue.turns, start=1):
        image = None
        if turn.image_of is not None:
            image = str(rec.catalog.image_path(rec.catalog[turn.image_of.ids[0]]))
        try:
            reply = rec.chat(turn.user, sid, image=image)
            result = check_turn(turn, reply, previous, rec.catalog, index=n)
        except Exception as e:  # one broken turn must not end the suite
            log.exception("%s turn %d raised", dialogue.id, n)
            out.append(error_turn(turn, n, e))
            break
        out.append(result)
        if reply.recommendations:
            previous = [r.item_id for r in reply.recommendations]
    return DialogueResult(dialogue.id, dialogue.catalog, dialogue.tags, tuple(out))


def run_dialogues(
    dialogues: Sequence[Dialogue],
    systems: Mapping[str, SystemFor],
    journals: Mapping[str, Journal] | None = None,
) -> dict[str, list[DialogueResult]]:
    """Every dialogue through every system (``{name: catalog → ConvRec}``), in order. With a
    journal per system, finished dialogues are recorded and a rerun skips them (a dialogue whose
    turn raised is not recorded, so a rerun tries it again)."""
    out: dict[str, list[DialogueResult]] = {}
    for name, system_for in systems.items():
        journal = (journals or {}).get(name)
        results = []
        for d in tqdm(dialogues, desc=f"scripted dialogues ({name})", unit="dialogue"):
            key = f"{d.catalog}/{d.id}@{d.digest}"
            if journal is not None and key in journal:
                results.append(DialogueResult.from_dict(journal.get(key)))
                continue
            result = run_dialogue(d, system_for(d.catalog))
            if journal is not None and not any(t.error for t in result.turns):
                journal.put(key, result.to_dict())  # a turn that raised is retried next run
            results.append(result)
        out[name] = results
    return out


def quick_subset(
    dialogues: Iterable[Dialogue], per_catalog: int = QUICK_PER_CATALOG
) -> list[Dialogue]:
    """The dialogues tagged ``quick: true``, at most ``per_catalog`` per catalog."""
    taken: dict[str, int] = defaultdict(int)
    out = []
    for d in dialogues:
        if d.quick and taken[d.catalog] < per_catalog:
            taken[d.catalog] += 1
            out.append(d)
    return out


def run(
    ctx: EvalContext,
    systems: Sequence[str] | None = None,
    paths: Path | Iterable[Path] = DIALOGUES_DIR,
    catalogs: Sequence[str] = CATALOGS,
) -> SuiteResult:
    """The suite on those of ``catalogs`` that are built: every dialogue, or the quick subset
    when ``ctx.quick``, through each of ``systems`` (see :meth:`EvalContext.system`)."""
    from convrec.catalog.layout import built_catalogs, open_catalog

    built = built_catalogs(catalogs, ctx.settings)
    if not built:
        raise InputError(
            f"None of the catalogs {list(catalogs)} is built. Fix: run `convrec catalog build "
            f"{catalogs[0]}` and `convrec index {catalogs[0]}` first."
        )
    skipped = [c for c in catalogs if c not in built]
    if skipped:
        log.warning("scripted dialogues: catalogs %s are not built; their dialogues are skipped",
                    skipped)  # fmt: skip
    dialogues = load_dialogues(paths, partial(open_catalog, settings=ctx.settings),
                               catalogs=built, quick_only=ctx.quick)  # fmt: skip
    if ctx.quick:
        dialogues = quick_subset(dialogues)
    log.info("scripted dialogues: %d on %s", len(dialogues), ", ".join(built))
    systems = systems or ctx.systems
    journals = {s: ctx.journal(SUITE, s) for s in systems}
    results = run_dialogues(dialogues, {s: partial(ctx.system, s) for s in systems}, journals)
    notes = {"catalogs": built, "skipped_catalogs": skipped, "quick": ctx.quick}
    return summarise(results, notes=notes)


def _rate(num: float, den: float, empty: float) -> float:
    return num / den if den else empty


def metrics(results: Sequence[DialogueResult]) -> dict[str, float]:
    """The headline numbers of one system (see the module doc)."""
    turns = [t for d in results for t in d.turns]
    checks = [c for t in turns for c in t.checks]
    negative = [c for c in checks if c.negative]
    recommended = sum(len(t.items) for t in turns)
    explanations = sum(t.explanations for t in turns)
    return {
        "constraint_violation_rate": _rate(
            sum(t.violating_items for t in turns), sum(t.constrained_items for t in turns), 0.0
        ),
        "negative_feedback_compliance": _rate(sum(c.passed for c in negative), len(negative), 1.0),
        "out_of_catalog_rate": _rate(sum(t.out_of_catalog for t in turns), recommended, 0.0),
        "faithfulness": _rate(sum(t.from_llm for t in turns), explanations, 1.0),
        "regenerated_rate": _rate(sum(t.regenerated for t in turns), explanations, 0.0),
        "grounded_rate": _rate(sum(t.grounded for t in turns), explanations, 1.0),
        "expectation_pass_rate": _rate(sum(c.passed for c in checks), len(checks), 1.0),
        "dialogue_pass_rate": _rate(sum(d.passed for d in results), len(results), 1.0),
        "dialogues": float(len(results)),
        "turns": float(len(turns)),
        "recommend_turns": float(sum(bool(t.items) for t in turns)),
        "ask_turns": float(sum(t.action == "ask" for t in turns)),
        "recommended_items": float(recommended),
        "checks": float(len(checks)),
        "failed_checks": float(sum(not c.passed for c in checks)),
        "negative_checks": float(len(negative)),
        "errors": float(sum(bool(t.error) for t in turns)),
    }


def summarise(
    results: Mapping[str, Sequence[DialogueResult]], notes: Mapping[str, Any] | None = None
) -> SuiteResult:
    """The SuiteResult of :func:`run_dialogues`' output."""
    summary = {name: metrics(rs) for name, rs in results.items()}
    by_tag: dict[str, dict[str, dict[str, float]]] = {}
    by_turn: dict[str, list[tuple[float, float]]] = {}
    for name, rs in results.items():
        groups: dict[str, list[DialogueResult]] = defaultdict(list)
        for d in rs:
            for tag in (d.catalog, *d.tags):
                groups[tag].append(d)
        keep = ("dialogues", "dialogue_pass_rate", "expectation_pass_rate")
        by_tag[name] = {
            tag: {k: v for k, v in metrics(g).items() if k in keep}
            for tag, g in sorted(groups.items())
        }
        at: dict[int, list[bool]] = defaultdict(list)
        for d in rs:
            for t in d.turns:
                at[t.index] += [c.passed for c in t.checks]
        by_turn[name] = [(float(i), sum(v) / len(v)) for i, v in sorted(at.items()) if v]
    details = {
        **(notes or {}),
        "by_tag": by_tag,
        "dialogues": {name: [d.to_dict() for d in rs] for name, rs in results.items()},
    }
    curves = {"Scripted dialogues: expectation pass rate by turn": by_turn}
    return SuiteResult(SUITE, summary, details, markdown(summary, results, by_tag), curves)


GOALS = {"constraint_violation_rate": "0", "negative_feedback_compliance": "100%",
         "out_of_catalog_rate": "0", "faithfulness": "", "grounded_rate": "100%",
         "expectation_pass_rate": "", "dialogue_pass_rate": ""}  # fmt: skip


def markdown(
    summary: Mapping[str, Mapping[str, float]],
    results: Mapping[str, Sequence[DialogueResult]],
    by_tag: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> str:
    """The suite's section of report.md: a table per system, pass rates by tag, failures."""
    lines = ["### Scripted dialogues", ""]
    for name, m in summary.items():
        lines += [
            f"#### {name}", "",
            f"{m['dialogues']:.0f} dialogues, {m['turns']:.0f} turns ({m['recommend_turns']:.0f} "
            f"recommended, {m['ask_turns']:.0f} asked), {m['checks']:.0f} expectations checked, "
            f"{m['errors']:.0f} errors.", "",
            "| metric | value | goal |", "|---|---|---|",
        ]  # fmt: skip
        for key, goal in GOALS.items():
            lines.append(f"| {key.replace('_', ' ')} | {m[key]:.3f} | {goal} |")
        lines.append("")
    names = list(by_tag)
    tags = sorted({t for v in by_tag.values() for t in v})
    if tags:
        lines += ["#### Expectation pass rate by tag", "",
                  "| tag | dialogues | " + " | ".join(names) + " |",
                  "|---|---|" + "---|" * len(names)]  # fmt: skip
        for tag in tags:
            n = max(by_tag[s].get(tag, {}).get("dialogues", 0) for s in names)
            vals = [by_tag[s].get(tag, {}).get("expectation_pass_rate") for s in names]
            cells = " | ".join("–" if v is None else f"{v:.3f}" for v in vals)
            lines.append(f"| {tag} | {n:.0f} | {cells} |")
        lines.append("")
    failures = [
        f"- `{name}` {d.id} turn {t.index} (“{t.user[:60]}”): **{c.kind}** {c.expected} — got "
        f"{c.got[:160]}"
        for name, rs in results.items()
        for d in rs
        for t in d.turns
        for c in t.checks
        if not c.passed
    ]
    if failures:
        shown = failures[:MAX_FAILURES_SHOWN]
        more = len(failures) - len(shown)
        lines += ["#### Failing expectations", "", *shown]
        lines += [f"- … and {more} more (report.json holds every turn)"] if more else []
        lines.append("")
    return "\n".join(lines)


__all__ = ["DialogueResult", "metrics", "quick_subset", "run", "run_dialogue", "run_dialogues",
           "summarise"]  # fmt: skip
