"""Simulated users (iEvaLM-style interactive protocol): the suite ``run(ctx) -> SuiteResult``.

Each simulated user (:mod:`convrec.evaluation.simulated.users`) has a hidden target and talks for
up to
``MAX_TURNS`` turns (:mod:`convrec.evaluation.simulated.talk`) with each system: our system through
``ConvRec.chat`` in a fresh session, and the baselines, which never ask and rank the catalog after
every message (items the user turned down are not shown again). A dialogue ends when the target
is among the items shown (``settings.limits.recommendations`` of them).

Success@k at turn t: the target is in the top k of the turn's ranking. The baselines' ranking is
their list; ours is the items shown, followed by the rest of the same ranking of the turn's state
and dialogue (``ConvRec.rank``), so success@10 compares ten items for every system even though
the app shows five. A turn where the system asks shows nothing and cannot succeed. Our system
runs without its LLM explanations (the ranking is what is measured). Metrics per system:
success@1 and @10 by the last turn, success@10 by turn, average turns to success@10 (among
successes), Recall@10/@50 of the final ranking (our system: ``ConvRec.rank`` of the final
state), questions asked per dialogue, and free-mode messages dropped (naming the target, not a
customer's message, or saying what the target lacks). Free mode, when an LLM is configured, is
the headline; attribute mode is the parser-friendly upper bound (:mod:`simreport`).
Everything is seeded and the LLMs decode greedily: the same run gives the same numbers.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from tqdm import tqdm

from convrec.errors import InputError
from convrec.evaluation.baselines import BASELINES, Context, Ranker, make_baselines
from convrec.evaluation.simulated.dialogues import (
    DEPTH,
    LIST,
    MAX_TURNS,
    Dialogue,
    TurnLog,
    metrics,
)
from convrec.evaluation.simulated.report import report
from convrec.evaluation.simulated.talk import AttributeTalker, FreeTalker, Seen, Talker, Utterance
from convrec.evaluation.simulated.users import Fact, FactBook, SimUser, draw_users
from convrec.evaluation.suite import EvalContext, SuiteResult
from convrec.prompts import PROMPTS_DIR
from convrec.types import Message

if TYPE_CHECKING:
    from convrec.dialogue.state import DialogueState
    from convrec.engine import ConvRec
    from convrec.protocols import LLM

log = logging.getLogger(__name__)

SUITE = "simulated"
VERSION = 3  # bump when the protocol changes: journals of older runs are then set aside
CATALOGS = ("movies", "phones")
# Sizes. What they cost is the full system's LLM turns: on the 2-core machine with the default
# 0.5B LLM, minutes per user; rules-only and the baselines take seconds. Free mode adds the
# simulated users' LLM (~5 s a message, shared by the systems that never ask). So the full run
# with the `full` system is a day there: `convrec eval --systems no-llm` fits in about an hour.
QUICK_USERS = {"movies": 2, "phones": 2}
FULL_USERS = {"movies": 50, "phones": 50}  # attribute mode
FREE_USERS = {"movies": 50, "phones": 50}  # free mode: the first of the attribute-mode users


class Agent(Protocol):
    """A system under test, one dialogue at a time."""

    def start(self, key: str) -> None: ...

    def turn(self, said: Utterance) -> Seen: ...

    def final(self, k: int) -> list[str]: ...


class SystemAgent:
    """Our system through the public API, in a fresh session per dialogue."""

    def __init__(self, rec: ConvRec, name: str) -> None:
        self.rec, self.name = rec, name
        self.sid = ""
        self.state: DialogueState | None = None
        self.messages: list[Message] = []

    def start(self, key: str) -> None:
        self.sid, self.state, self.messages = f"sim-{self.name}-{key}", None, []
        self.rec.forget_profile(self.sid)  # a rerun of a killed dialogue starts from nothing
        self.rec.reset(self.sid)

    def turn(self, said: Utterance) -> Seen:
        # The ranking is what is measured: the LLM explanations are skipped.
        reply = self.rec.chat(said.text, session_id=self.sid, explain=False)
        self.state = reply.state
        self.messages += [Message("user", said.text), Message("assistant", reply.text)]
        if reply.action == "ask":
            asked = reply.state.asked[-1] if reply.state.asked else None
            return Seen("ask", reply.text, asked)
        shown = tuple(r.item_id for r in reply.recommendations)
        if reply.action != "recommend" or not shown:
            return Seen(reply.action, reply.text, None, shown, shown)
        rest = tuple(i for i in self.final(LIST + len(shown)) if i not in shown)
        return Seen("recommend", "", None, shown, (shown + rest)[: max(LIST, len(shown))])

    def final(self, k: int) -> list[str]:
        from convrec.engine import POOL

        if self.state is None:
            return []
        ranked = self.rec.rank(self.state, max(k, POOL), self.messages)
        return [r.item_id for r in ranked[:k]]


class RankerAgent:
    """A baseline: ranks after every message; never shows a turned-down item again."""

    def __init__(self, ranker: Ranker, shown: int) -> None:
        self.ranker, self.shown = ranker, shown
        self.messages: list[Message] = []
        self.mentioned: list[str] = []
        self.rejected: set[str] = set()
        self.last: list[str] = []

    def start(self, key: str) -> None:
        self.messages, self.mentioned, self.rejected, self.last = [], [], set(), []

    def turn(self, said: Utterance) -> Seen:
        self.messages.append(Message("user", said.text))
        self.mentioned += said.mentioned
        self.rejected |= set(said.rejected)
        context = Context(tuple(self.messages), tuple(self.mentioned))
        ranked = self.ranker.rank(context, DEPTH + len(self.rejected))
        self.last = [i for i in ranked if i not in self.rejected][:DEPTH]
        # no canned assistant line: the baselines' queries hold the user's words only
        return Seen("recommend", "", None, tuple(self.last[: self.shown]), tuple(self.last[:LIST]))

    def final(self, k: int) -> list[str]:
        return self.last[:k]


def converse(
    user: SimUser, facts: Sequence[Fact], talker: Talker, agent: Agent, system: str,
    max_turns: int = MAX_TURNS,
) -> Dialogue:  # fmt: skip
    """One simulated dialogue of up to ``max_turns`` turns."""
    agent.start(user.key)
    revealed: frozenset[str] = frozenset()
    said: list[str] = []
    last: Seen | None = None
    logs: list[TurnLog] = []
    for n in range(1, max_turns + 1):
        u = talker.say(user, facts, revealed, last, said)
        revealed, said = revealed | set(u.revealed), [*said, u.body]
        last = agent.turn(u)
        where = last.ranked.index(user.target_id) if user.target_id in last.ranked else None
        question = last.text if last.action == "ask" else ""
        logs.append(TurnLog(n, u.text, u.source, last.action, question, last.shown, where,
                            u.dropped, u.why))  # fmt: skip
        if user.target_id in last.shown:
            break
    final = agent.final(DEPTH)
    rank = final.index(user.target_id) if user.target_id in final else None
    return Dialogue(user.key, user.target_id, system, talker.mode, tuple(logs), rank)


def _size(users: int | Mapping[str, int] | None, catalog: str, default: Mapping[str, int]) -> int:
    if isinstance(users, int):
        return users
    if users and catalog in users:
        return users[catalog]
    return default.get(catalog, QUICK_USERS["phones"])


def _record(talk: Callable[[], Dialogue]) -> dict[str, Any]:
    return asdict(talk())


def _voice(recs: Mapping[str, ConvRec], ctx: EvalContext) -> LLM:
    """The simulated users' LLM: the configured one, shared with a system that runs it."""
    for rec in recs.values():
        if rec.llm is not None:
            return rec.llm
    if ctx.settings.llm.backend == "none":
        raise InputError(
            "Free mode needs an LLM to speak for the simulated users. Fix: configure an LLM "
            "backend (llm.backend), or run attribute mode only."
        )
    from convrec.backends import make_llm

    return make_llm(ctx.settings)


def run(
    ctx: EvalContext,
    *,
    systems: Mapping[str, Callable[[str], ConvRec]] | None = None,
    baselines: Sequence[str] = BASELINES,
    catalogs: Sequence[str] = CATALOGS,
    users: int | Mapping[str, int] | None = None,
    free_users: int | Mapping[str, int] | None = None,
    modes: Sequence[str] | None = None,
) -> SuiteResult:
    """Simulate users on each catalog against each system and baseline; see the module docstring.

    ``systems`` maps a name to a factory ``catalog -> ConvRec`` (default: ``ctx.system`` for
    "full" and "no-llm"). Modes: attribute only in quick mode, attribute and free otherwise.
    Attribute mode meets ``users`` simulated users per catalog (default QUICK_USERS or
    FULL_USERS), free mode the first ``free_users`` of them (default FREE_USERS); free mode runs
    when an LLM is configured to speak for the users (``llm.backend``), whether or not the
    systems under test use it.
    """

    factories = systems or {name: partial(ctx.system, name) for name in ctx.systems}
    if not factories:
        raise InputError("The simulator needs at least one system. Fix: pass systems=.")
    # free mode's simulated users talk through the configured LLM
    free = ctx.settings.llm.backend != "none"
    modes = tuple(modes or (("attribute",) if ctx.quick or not free else ("attribute", "free")))
    if set(modes) - {"attribute", "free"}:
        raise InputError(f"Unknown mode in {modes}. Fix: use 'attribute' and/or 'free'.")
    prompt = hashlib.sha256((PROMPTS_DIR / "simulator.yaml").read_bytes()).hexdigest()[:12]
    runs: dict[tuple[str, str, str], list[Dialogue]] = {}
    seconds: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for catalog in catalogs:
        recs = {name: make(catalog) for name, make in factories.items()}
        first = next(iter(recs.values()))
        cat = first.catalog
        sim = draw_users(cat, _size(users, catalog, QUICK_USERS if ctx.quick else FULL_USERS),
                         ctx.seed)  # fmt: skip
        book = FactBook(cat)
        facts = {u.key: book.facts(u) for u in sim}
        agents: dict[str, Agent] = {name: SystemAgent(rec, name) for name, rec in recs.items()}
        for name, ranker in make_baselines(cat, first.settings, baselines).items():
            agents[name] = RankerAgent(ranker, first.settings.limits.recommendations)
        for mode in modes:
            talker: Talker
            if mode == "attribute":
                talker, names, group = AttributeTalker(cat), list(agents), sim
            else:
                talker = FreeTalker(cat, _voice(recs, ctx))
                names = list(agents)
                group = sim[: _size(free_users, catalog, FREE_USERS)]
            sizes[f"{cat.name} {mode}"] = len(group)
            for name in names:
                voice = prompt if mode == "free" else ""  # the prompt changes free mode only
                journal = ctx.journal(SUITE, f"{cat.name}-{mode}-{name}", version=VERSION,
                                      turns=MAX_TURNS, prompt=voice)  # fmt: skip
                start = time.perf_counter()
                rows = runs.setdefault((cat.name, mode, name), [])
                for u in tqdm(group, desc=f"simulate {cat.name} {mode} {name}", unit="user"):
                    talk = partial(converse, u, facts[u.key], talker, agents[name], name)
                    rows.append(Dialogue.from_dict(journal.once(u.key, partial(_record, talk))))
                seconds[f"{cat.name} {mode} {name}"] = round(time.perf_counter() - start, 1)
                log.info("simulated %s %s %s: %s", cat.name, mode, name, metrics(rows))
    return report(runs, sizes, seconds, seed=ctx.seed, quick=ctx.quick)


__all__ = [
    "Agent",
    "Dialogue",
    "RankerAgent",
    "SystemAgent",
    "TurnLog",
    "converse",
    "metrics",
    "run",
]
