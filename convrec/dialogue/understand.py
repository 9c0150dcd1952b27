"""Stage 1: the dialogue so far + the state → this turn's StateDelta (LLM reading + rules, merged).

Two readers run on every turn: the deterministic extractors
(:func:`convrec.dialogue.extractors.extract`)
and, when an LLM is configured, the LLM with ``prompts/understand.yaml``, its output constrained to
:data:`convrec.dialogue.grounding.SCHEMA` and then parsed and grounded strictly (see
:mod:`convrec.dialogue.grounding`). The merge rules are in :mod:`convrec.dialogue.merge`.

Timeouts: the OpenAI-compatible backend raises :class:`LLMError` after ``settings.llm.timeout_s``;
the in-process backend is bounded by ``max_new_tokens`` instead.
Invalid output, an :class:`LLMError` (timeouts included) or a contradiction drops the LLM's
reading for the turn: the deterministic delta is used alone and the reason is logged and kept in
:attr:`Understanding.reason`. Instructions inside a message are data for both readers; neither
can produce an item id except by catalog matching.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from convrec.dialogue.extractors import WISHES, extract, undictated, without_pasted
from convrec.dialogue.grounding import SCHEMA, Grounder, ParseError, parse
from convrec.dialogue.lexicon import Lexicon
from convrec.dialogue.merge import Contradiction, merge
from convrec.dialogue.shift import displace
from convrec.dialogue.state import DialogueState, StateDelta, soften
from convrec.errors import InputError, LLMError
from convrec.prompts import render
from convrec.types import Message

if TYPE_CHECKING:
    from convrec.config import Settings
    from convrec.protocols import LLM

log = logging.getLogger(__name__)
# Understanding.reason when llm.read_when = "needed" skipped the LLM: the rules read every word.
READ_BY_RULES = "the rules read every word"

MAX_NEW_TOKENS = 128  # enough for a filled-in reading in compact JSON
HISTORY_TURNS = 4  # earlier messages shown to the LLM
MAX_CHARS = 300  # per history message in the prompt
LISTED_VALUES = 20  # attributes with at most this many values are listed in full
# One worked example per kind of catalog (the first whose attribute the lexicon has).
EXAMPLES = (
    ("genres", "no horror, something funny after 1990",
     '{"intent":"recommend","constraints":[{"attribute":"genres","op":"ne","value":"Horror"},'
     '{"attribute":"year","op":"gte","value":1990}],"likes":["Comedy"]}'),
    ("maker", "an android phone, not Samsung, with at least 3 GB RAM",
     '{"intent":"recommend","constraints":[{"attribute":"os","op":"eq","value":"Android"},'
     '{"attribute":"maker","op":"ne","value":"Samsung"},'
     '{"attribute":"ram_gb","op":"gte","value":3}]}'),
)  # fmt: skip


@dataclass(frozen=True)
class Understanding:
    """One turn's delta and how it was obtained.

    ``path`` is ``"llm+rules"`` when the LLM's reading was merged in, ``"rules"`` when only the
    extractors were used; ``reason`` then says why (no LLM, invalid output, error, contradiction).
    ``dropped`` lists LLM values that failed grounding; ``latency_s`` is the whole stage.
    """

    delta: StateDelta
    path: Literal["llm+rules", "rules"]
    reason: str = ""
    latency_s: float = 0.0
    dropped: tuple[str, ...] = ()
    raw: str = ""


def catalog_noun(lex: Lexicon) -> str:
    """What the catalog holds, in words ("movie", "phone or tablet")."""
    counts = Counter(it.category for it in lex.items.values() if it.category)
    names = [c for c, _ in counts.most_common(2)] or ["item"]
    return " or ".join(names)


def attribute_lines(lex: Lexicon) -> list[str]:
    """One line per catalog attribute for the prompt: its values when few, else a hint."""
    values: dict[str, set[str]] = {}
    for refs in lex.values.values():
        for r in refs:
            values.setdefault(r.attribute, set()).add(str(r.value))
    lines = []
    unlisted, people = lex.attr_roles.unlisted, lex.attr_roles.person
    for attr in sorted(values):
        vals = values[attr]
        if attr in unlisted:
            continue
        if attr in people:
            lines.append(f"{attr}: names of people")
        elif len(vals) <= LISTED_VALUES and not any(v == "True" for v in vals):
            lines.append(f"{attr}: {', '.join(sorted(vals))}")
        else:
            lines.append(f"{attr}: e.g. {', '.join(sorted(vals)[:5])}")
    lines += [f"{a}: a number" for a in sorted(lex.numeric) if a not in unlisted]
    return lines


def summarize(state: DialogueState, lex: Lexicon) -> str:
    """The state in a few words for the prompt ("nothing yet" when empty)."""
    sym = {"eq": "=", "ne": "≠", "in": "in", "nin": "not in", "gte": "≥", "lte": "≤"}
    parts = [
        f"{c.attribute} { ({'gte': '>', 'lte': '<'}[c.op] if c.strict else sym[c.op]) } {c.value}"
        for c in state.constraints
    ]
    parts += [f"likes {p.value}" for p in state.liked]
    parts += [f"dislikes {p.value}" for p in state.disliked]
    parts += [f"wishes {w}" for w in state.wishes]
    for label, ids in (("liked", state.liked_items), ("rejected", state.rejected)):
        titles = [lex.items[i].title for i in ids if i in lex.items]
        if titles:
            parts.append(f"{label}: {', '.join(titles[:5])}")
    return "; ".join(parts) or "nothing yet"


def _prompt(history: Sequence[Message], message: str, state: DialogueState, lex: Lexicon,
            shown: Sequence[str]) -> list[Message]:  # fmt: skip
    recent = [{"role": m.role, "content": m.content[:MAX_CHARS]} for m in history[-HISTORY_TURNS:]]
    return render(
        "understand",
        catalog=catalog_noun(lex),
        attributes=attribute_lines(lex),
        history=recent,
        state=summarize(state, lex),
        shown=[lex.items[i].title for i in shown if i in lex.items],
        message=message,
        example=_example(lex),
    )


def _example(lex: Lexicon) -> dict[str, str]:
    attrs = {r.attribute for refs in lex.values.values() for r in refs}
    for attr, message, reading in EXAMPLES:
        if attr in attrs:
            return {"message": message, "reading": reading}
    return {"message": "something new please", "reading": '{"intent":"recommend"}'}


def understand(
    messages_history: Sequence[Message],
    state: DialogueState,
    lex: Lexicon,
    llm: LLM | None,
    shown: Sequence[str] = (),
    settings: Settings | None = None,
    *,
    max_new_tokens: int | None = None,
    read_when: Literal["needed", "always"] | None = None,
) -> Understanding:
    """This turn's :class:`Understanding`. The last entry of ``messages_history`` is the user's
    new message; ``shown`` are the ids shown last (focus first). ``llm=None`` runs the rules only.
    ``read_when`` (default: the settings', else "needed") says when the LLM reads the message.
    """
    start = time.perf_counter()
    if not messages_history or messages_history[-1].role != "user":
        raise InputError("understand() needs the user's new message last in messages_history.")
    message = without_pasted(messages_history[-1].content)  # what the LLM and the rules read
    asked = next((m.content for m in reversed(messages_history[:-1]) if m.role == "assistant"), "")
    derived = lex.attr_roles.derived  # what photos say is never certain: soft preferences
    rules = displace(soften(extract(message, lex, shown, state, asked), derived), state, lex)

    def rules_only(reason: str, raw: str = "", dropped: Sequence[str] = ()) -> Understanding:
        if llm is not None:
            log.info("understanding fell back to the rules: %s", reason)
        took = time.perf_counter() - start
        return Understanding(rules, "rules", reason, took, tuple(dropped), raw)

    if llm is None:
        return rules_only("no LLM configured")
    g = Grounder(lex, undictated(message), shown)  # a value only dictated is never grounded
    when = read_when or (settings.llm.read_when if settings is not None else "needed")
    # a mood the rules know ("dark") is read; the rest of a request they keep as one topic wish
    # ("drama", "orror") the LLM may still ground as a value
    moods = [w for w in rules.wishes if (m := WISHES.search(w)) is not None and m.group(0) == w]
    if when == "needed" and rules.intent not in (None, "chitchat") and not g.unread(moods):
        took = time.perf_counter() - start
        return Understanding(rules, "rules", READ_BY_RULES, took)
    limit = max_new_tokens or MAX_NEW_TOKENS
    if settings is not None:
        limit = min(limit, settings.llm.max_new_tokens)
    prompt = _prompt(messages_history[:-1], message, state, lex, shown)
    raw = ""
    try:
        raw = llm.generate(prompt, max_new_tokens=limit, json_schema=SCHEMA)
        reading = parse(raw)
    except LLMError as e:
        return rules_only(f"LLM error: {e}")
    except ParseError as e:
        return rules_only(f"invalid LLM output: {e}", raw)
    refining = bool(shown) or state.turns > 0
    try:
        delta = displace(soften(merge(rules, reading, g, refining), derived), state, lex)
    except Contradiction as e:
        return rules_only(f"contradiction: {e}", raw, g.dropped)
    if g.dropped:
        log.info("dropped ungrounded LLM values: %s", "; ".join(g.dropped))
    took = time.perf_counter() - start
    return Understanding(delta, "llm+rules", "", took, tuple(g.dropped), raw)


def prime(llm: LLM, lex: Lexicon) -> None:
    """Have ``llm`` read the understanding prompt once (one new token), so that an in-process
    model with a prefix cache already holds the instructions every later prompt starts with: the
    first message it must read then costs only its own tokens."""
    prompt = _prompt([], "hello", DialogueState(), lex, ())
    try:
        llm.generate(prompt, max_new_tokens=1, json_schema=SCHEMA)
    except LLMError as e:  # the first real message will say what is wrong
        log.warning("could not prime the LLM with the understanding prompt: %s", e)


__all__ = ["READ_BY_RULES", "Understanding", "attribute_lines", "prime", "summarize", "understand"]
