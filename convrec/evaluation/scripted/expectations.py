"""One scripted turn's reply checked against its expectations: pure logic, no models.

Besides the expectations the YAML asks for, every turn with recommendations is measured: items
the catalog lacks, explanations in which the deterministic grounding checker
(``convrec.explain.explanations.GroundingChecker``) finds an unsupported claim, and how each
explanation was
obtained (``Recommendation.explanation_source``: the LLM's first answer, a regenerated one or the
template).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from convrec.dialogue.state import field_value
from convrec.evaluation.scripted.dialogues import AttrCheck, Mention, Turn

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.engine import Reply
    from convrec.types import Recommendation


@dataclass(frozen=True)
class Check:
    """One expectation of one turn: what was expected, what came back, and whether it held.

    ``negative`` marks negative feedback (exclude, exclude_previous, ne/nin constraints)."""

    kind: str
    expected: str
    got: str
    passed: bool
    negative: bool = False


@dataclass(frozen=True)
class TurnResult:
    """What one turn returned and how it measured up."""

    index: int  # 1-based
    user: str
    action: str
    items: tuple[str, ...] = ()  # recommended ids, in rank order
    titles: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    constrained_items: int = 0  # recommended items checked against hard constraints
    violating_items: int = 0  # of those, items that break at least one
    out_of_catalog: int = 0
    explanations: int = 0
    grounded: int = 0  # explanations with no unsupported claim (deterministic checker)
    from_llm: int = 0  # explanations that passed the grounding check as the LLM first wrote them
    regenerated: int = 0  # explanations the LLM got right on the second try
    error: str = ""
    reply: str = ""  # the reply text (or question) as the user saw it

    @property
    def passed(self) -> bool:
        return not self.error and all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnResult:
        data = dict(data)
        data["checks"] = tuple(Check(**c) for c in data.get("checks", ()))
        data["items"], data["titles"] = tuple(data["items"]), tuple(data["titles"])
        return cls(**data)


def _names(recs: Sequence[Recommendation], ids: set[str]) -> str:
    return ", ".join(f"{r.title} [{r.item_id}]" for r in recs if r.item_id in ids)


def _label(check: AttrCheck, resolved: AttrCheck) -> str:
    """``release_year gt 2014 (that of shown #1)`` for a resolved reference, else the check."""
    return str(resolved) if resolved is check else f"{resolved} ({check.value})"


def _got(reply: Reply) -> str:
    if reply.action == "recommend":
        titles = "; ".join(r.title for r in reply.recommendations)
        return f"recommend: {titles}" if titles else "recommend: (no items)"
    return f"{reply.action}: {(reply.question or reply.text)[:120]}"


def check_turn(
    turn: Turn,
    reply: Reply,
    previous: Sequence[str],
    catalog: Catalog,
    *,
    index: int = 1,
) -> TurnResult:
    """Check ``reply`` against ``turn.expect``; ``previous``: the ids recommended last before it.

    Item expectations (constraints, prefer, include, exclude, exclude_previous, grounded) are
    checked only when the turn recommended something; whether it should have is the action
    check's job."""
    e = turn.expect
    recs = [r for r in reply.recommendations if r.item_id in catalog]
    ids = [r.item_id for r in reply.recommendations]
    checks: list[Check] = []
    if e.action:
        ok = reply.action in e.action and (reply.action != "recommend" or bool(recs))
        checks.append(Check("action", " or ".join(e.action), _got(reply), ok))
    constrained, violating, n_grounded = 0, set[str](), 0
    if reply.action == "recommend" and recs:
        items = [catalog[r.item_id] for r in recs]
        before = [catalog[i] for i in previous if i in catalog]
        for c in e.constraints:
            rc = c.resolve(before)
            if rc is None:
                checks.append(Check("constraint", str(c), "no such shown item to compare with",
                                    False, c.negative))  # fmt: skip
                continue
            bad = {it.id for it in items if not rc.holds(it)}
            constrained = len(items)
            violating |= bad
            got = f"violated by {_names(recs, bad)}" if bad else f"all {len(items)} items satisfy"
            checks.append(Check("constraint", _label(c, rc), got, not bad, c.negative))
        for c in e.prefer:
            rc = c.resolve(before)
            share = sum(rc.holds(it) for it in items) / len(items) if rc else 0.0
            label = _label(c, rc) if rc else str(c)
            checks.append(Check("prefer", label, f"{share:.0%} of items", share >= c.share))
        shown = set(ids)
        for ref in e.include:
            ok = bool(shown & set(ref.ids))
            checks.append(Check("include", ref.name, "shown" if ok else _got(reply), ok))
        for ref in e.exclude:
            bad = shown & set(ref.ids)
            got = f"shown: {_names(recs, bad)}" if bad else "not shown"
            checks.append(Check("exclude", ref.name, got, not bad, True))
        if e.exclude_previous:
            rank = e.exclude_previous
            banned = set(previous if rank == "all" else previous[rank - 1 : rank])
            bad = shown & banned
            got = f"shown again: {_names(recs, bad)}" if bad else "none shown again"
            got = got if banned else "nothing was shown before to exclude"
            what = "all" if rank == "all" else f"shown #{rank}"
            checks.append(Check("exclude_previous", what, got, bool(banned) and not bad, True))
        n_grounded, problems = _grounding(reply, recs, catalog)
        if e.grounded:
            got = "; ".join(problems) or "all grounded"
            checks.append(Check("grounded", "every explanation grounded", got, not problems))
    text = "\n".join(dict.fromkeys(x for x in (reply.text, reply.question) if x))
    for pattern in e.text_includes:
        found = re.search(pattern, text, re.IGNORECASE)
        got = f"found {found.group(0)!r}" if found else f"absent from {text[:160]!r}"
        checks.append(Check("text_includes", pattern, got, found is not None))
    for m in e.mentions:
        checks.append(_mention(m, text, previous, catalog))
    for phrase in e.text_excludes:
        at = text.lower().find(phrase.lower())
        got = "absent" if at < 0 else "…" + text[max(0, at - 80) : at + len(phrase) + 40] + "…"
        checks.append(Check("text_excludes", phrase, got, at < 0))
    return TurnResult(
        index=index,
        user=turn.user,
        action=reply.action,
        items=tuple(ids),
        titles=tuple(r.title for r in reply.recommendations),
        checks=tuple(checks),
        constrained_items=constrained,
        violating_items=len(violating),
        out_of_catalog=len(ids) - len(recs),
        explanations=len(recs),
        grounded=n_grounded,
        from_llm=sum(r.explanation_source == "llm" for r in recs),
        regenerated=sum(r.explanation_source == "regenerated" for r in recs),
        reply=text,
    )


def _mention(m: Mention, text: str, previous: Sequence[str], catalog: Catalog) -> Check:
    """Does ``text`` name the field ``m`` asks for (a number as written, e.g. 2 or 1.5; a list
    by any of its first three values; words case-insensitively)?"""
    if isinstance(m.item, int):
        ids = list(previous[m.item - 1 : m.item])
    else:
        ids = [i for i in m.item.ids if i in catalog][:1]
    if not ids:
        return Check("mentions", str(m), "no such shown item", False)
    item = catalog[ids[0]]
    value = item.title if m.attribute is None else field_value(item, m.attribute)
    if value is None:
        return Check("mentions", str(m), f"{item.title} has no {m.attribute}", False)
    wanted = [f"{v:g}" if isinstance(v, float) else str(v)
              for v in (value[:3] if isinstance(value, tuple) else (value,))]  # fmt: skip
    words = text.lower()
    hit = next((w for w in wanted if re.search(rf"(?<![\w.]){re.escape(w.lower())}(?![\w])",
                                               words)), None)  # fmt: skip
    got = f"names {hit!r}" if hit else f"none of {wanted} in {text[:160]!r}"
    return Check("mentions", f"{m!s} = {', '.join(wanted)}", got, hit is not None)


def _grounding(
    reply: Reply, recs: Sequence[Recommendation], catalog: Catalog
) -> tuple[int, list[str]]:
    """How many explanations the deterministic checker finds grounded, and the problems of the
    others; the checker sees what the explanation stage sees (stated preferences, quoted titles)."""
    from convrec.explain.explanations import checker_for, stated_preferences

    checker = checker_for(catalog)
    stated = " ".join(stated_preferences(reply.state, catalog))
    known = (*reply.state.liked_items, *reply.state.disliked_items)
    quoted = [catalog[i].title for i in known if i in catalog]
    grounded, problems = 0, []
    for r in recs:
        item = catalog[r.item_id]
        found = (
            checker.problems(r.explanation, item, stated, quoted)
            if r.explanation
            else ["no explanation"]
        )
        if found:
            problems.append(f"{r.title}: {', '.join(found)} in “{r.explanation[:120]}”")
        grounded += not found
    return grounded, problems


def error_turn(turn: Turn, index: int, error: BaseException) -> TurnResult:
    """A turn that raised: one failed check that says what was raised."""
    what = f"{type(error).__name__}: {error}"
    return TurnResult(index, turn.user, "error", checks=(Check("error", "a reply", what, False),),
                      error=what)  # fmt: skip


__all__ = ["Check", "TurnResult", "check_turn", "error_turn"]
