"""What a simulated user says each turn, in attribute mode (templates) or free mode (the LLM).

Both modes open the same way when the system showed items that are not the target: "None of
these. I'm not into <the first one>." (rejections by title, worded so the rules read them as
rejections, never naming a title the user loved, one that is ambiguous in the catalog or one close
to the target's).

- **Attribute mode**: turn 1 opens with the target's category, the genre the persona likes best
  and one liked title; a question is answered from the target's value of the asked attribute (the
  value the question names, when it names one); otherwise the next most informative fact not said
  yet is volunteered (:func:`convrec.evaluation.simulated.users.next_fact`).
- **Free mode**: the LLM (prompts/simulator.yaml) writes the message in its own words from the
  target's structured fields (never its title, never the indexed item text). Sentences copying
  earlier ones are cut (:func:`new_part`). A message that names the target (:func:`leaks`), is
  not a customer's message (:func:`usable`), or that says something the target does not hold,
  read by a checker that shares no code with convrec's understanding
  (:class:`convrec.evaluation.msgcheck.MessageCheck`), is dropped, counted with its reason, and
  replaced by the attribute-mode message. Replies are cached by prompt, so systems that never ask
  (the baselines) share one LLM call per turn.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from convrec.catalog.titles import normalize
from convrec.dialogue.lexicon import norm_phrase
from convrec.errors import LLMError
from convrec.evaluation.msgcheck import MessageCheck
from convrec.evaluation.simulated.leaks import leaks
from convrec.evaluation.simulated.users import Fact, SimUser, next_fact
from convrec.prompts import render

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.protocols import LLM
    from convrec.types import Message

log = logging.getLogger(__name__)

Source = Literal["attribute", "llm", "leak", "invalid", "unfaithful"]
MAX_NEW_TOKENS = 48
MAX_CHARS = 300
REPEAT = 92  # a sentence this similar (rapidfuzz ratio) to one said before is a repeat
LABELS = {"genres": "genre", "year": "decade", "keywords": "plot keyword", "cast": "actor",
          "runtime_min": "length (minutes)", "liked_item": "liked title", "ram_gb": "RAM (GB)",
          "storage_gb": "storage (GB)", "screen_inches": "screen size (inches)",
          "cpu_ghz": "processor speed (GHz)", "cores": "processor cores",
          "release_year": "released in (year)"}  # fmt: skip
OPENING_FACTS, NEXT_FACTS = 2, 2  # facts the LLM is given to tell (a liked title besides)


@dataclass(frozen=True)
class Seen:
    """What the simulated user saw of one system turn."""

    action: str  # ask | recommend | clarify | answer
    text: str = ""  # the question (or other reply text)
    asked: str | None = None  # the attribute a question is about
    shown: tuple[str, ...] = ()  # item ids shown, best first
    ranked: tuple[str, ...] = ()  # the turn's ranking, shown items first (success@k reads it)


@dataclass(frozen=True)
class Utterance:
    """One simulated message. ``source``: "attribute" or "llm" when used as written; "leak",
    "invalid" or "unfaithful" when the LLM's message (``dropped``) named the target, was not a
    customer's message, or contradicted the target, and was replaced by the attribute-mode
    one."""

    text: str
    body: str  # the message without its rejection part
    source: Source
    revealed: tuple[str, ...] = ()  # Fact keys this message states
    rejected: tuple[str, ...] = ()  # shown ids turned down
    mentioned: tuple[str, ...] = ()  # catalog ids the message names
    dropped: str = ""
    why: str = ""  # what an "unfaithful" message said that the target does not hold


class Talker(Protocol):
    mode: str

    def say(
        self,
        user: SimUser,
        facts: Sequence[Fact],
        revealed: frozenset[str],
        last: Seen | None,
        said: Sequence[str],
    ) -> Utterance: ...


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


class AttributeTalker:
    """Template sentences from the target's attributes (see the module docstring)."""

    mode = "attribute"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.titles = Counter(normalize(it.title) for it in catalog.items)

    def say(
        self,
        user: SimUser,
        facts: Sequence[Fact],
        revealed: frozenset[str],
        last: Seen | None,
        said: Sequence[str] = (),
    ) -> Utterance:
        body, used = self.body(user, facts, revealed, last)
        return self.utterance(user, last, body, "attribute", used)

    def utterance(
        self, user: SimUser, last: Seen | None, body: str, source: Source,
        used: Sequence[Fact], dropped: str = "", why: str = "",
    ) -> Utterance:  # fmt: skip
        reject, named = self.rejection(user, last)
        refs = {self.catalog[i].title: i for i in user.references}
        mentioned = named + tuple(refs[f.value] for f in used if f.attribute == "liked_item")
        text = f"{reject} {body}".strip()
        rejected = last.shown if reject and last is not None else ()
        return Utterance(text, body, source, tuple(f.key for f in used), rejected, mentioned,
                         dropped, why)  # fmt: skip

    def rejection(self, user: SimUser, last: Seen | None) -> tuple[str, tuple[str, ...]]:
        """The turning down of a shown list without the target: "None of these.", naming the
        first shown item that the user did not say it loved, whose title is unambiguous and far
        from the target's."""
        if last is None or not last.shown or user.target_id in last.shown:
            return "", ()
        target = self.catalog[user.target_id].title
        for item_id in last.shown:
            item = self.catalog.get(item_id)
            if (
                item is not None
                and item_id not in user.references
                and self.titles[normalize(item.title)] == 1
                and not leaks(item.title, target)
            ):
                return f"None of these. I'm not into {item.title}.", (item_id,)
        return "None of these.", ()

    def body(
        self, user: SimUser, facts: Sequence[Fact], revealed: frozenset[str], last: Seen | None
    ) -> tuple[str, list[Fact]]:
        """The message without its rejection, and the facts it states."""
        if last is None:
            return self.opening(user, facts)
        if last.action == "ask" and last.asked:
            return self.answer(facts, revealed, last)
        return self.volunteer(facts, revealed)

    def opening(self, user: SimUser, facts: Sequence[Fact]) -> tuple[str, list[Fact]]:
        item = self.catalog[user.target_id]
        noun = item.category or "something"
        parts = [f"I'm looking for {_article(noun)} {noun}." if item.category else "Hello."]
        used = [f for f in facts if f.attribute == "category"]
        genres = [f for f in facts if f.attribute == "genres"]
        if genres:
            order = {g: n for n, g in enumerate(user.liked_genres)}
            best = min(genres, key=lambda f: (order.get(f.value, len(order)), f.share))
            parts.append(best.text)
            used.append(best)
        refs = [f for f in facts if f.attribute == "liked_item"]
        if refs:
            parts.append(f"I loved {refs[0].value}.")
            used.append(refs[0])
        if len(used) == sum(f.attribute == "category" for f in used):  # nothing but the category
            more = next_fact(facts, {f.key for f in used})
            if more is not None:
                parts.append(more.text)
                used.append(more)
        return " ".join(parts), used

    def answer(
        self, facts: Sequence[Fact], revealed: frozenset[str], last: Seen
    ) -> tuple[str, list[Fact]]:
        left = [f for f in facts if f.attribute == last.asked and f.key not in revealed]
        question = f" {norm_phrase(last.text)} "
        named = [f for f in left if f" {norm_phrase(f.value)} " in question]
        pick = min(named or left, key=lambda f: f.share, default=None)
        if pick is not None:
            return pick.text, [pick]
        text, used = self.volunteer(facts, revealed)
        return f"I don't mind. {text}", used

    def volunteer(self, facts: Sequence[Fact], revealed: frozenset[str]) -> tuple[str, list[Fact]]:
        fact = next_fact(facts, revealed)
        return ("Any other ideas?", []) if fact is None else (fact.text, [fact])


_NARRATION = re.compile(
    r"^(?:the )?customer(?:'s (?:first |next )?(?:message|answer|reply)(?: is)?:?| says:?"
    r"| (would like|wants|is looking for|likes|needs|prefers|is interested in))\s*",
    re.I,
)
_FIRST_PERSON = {"would like": "I would like", "wants": "I want", "likes": "I like",
                 "is looking for": "I'm looking for", "needs": "I need", "prefers": "I prefer",
                 "is interested in": "I'm interested in"}  # fmt: skip
_REJECTION = re.compile(r"^(?:none of these|not those|no)[.!,]?\s*", re.I)
# What an assistant says, not a customer: the small LLMs slip into their usual role.
NOT_A_CUSTOMER = re.compile(
    r"chatbot|customer|your favou?rite|i'?m sorry|i am sorry|how can i help|let me know|"
    r"here are|i (?:would )?recommend|i suggest|provide|you'?re (?:looking for|interested)|"
    r"you are (?:looking for|interested)|tell me more|based on the (?:facts|information)|"
    r"facts above|not said yet",
    re.I,
)


def clean(raw: str) -> str:
    """The first line of an LLM reply as the customer's own words: no quotes, no speaker label,
    no "None of these" (the simulator adds its own), narration turned to the first person."""
    line = next((ln.strip() for ln in raw.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(user|me|you|message|person|customer)\s*:\s*", "", line, flags=re.I)
    line = _REJECTION.sub("", line.strip().strip('"“”').strip())
    if line and line[-1] not in ".!?" and re.search(r"[.!?]\s", line):  # cut by the token cap
        line = line[: max(line.rfind(". "), line.rfind("! "), line.rfind("? ")) + 1]
    m = _NARRATION.match(line)
    if m:
        verb = (m.group(1) or "").lower()
        line = (_FIRST_PERSON[verb] + " " if verb else "") + line[m.end() :].lstrip(": ")
    return line.strip().strip('"“”').strip()


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def new_part(text: str, said: Sequence[str]) -> str:
    """The sentences of ``text`` that do not repeat (fuzzily) one already said: small LLMs
    copy the conversation back."""
    from rapidfuzz import fuzz

    old = [norm_phrase(x) for s in said for x in _SENTENCE.split(s) if x.strip()]
    keep = [
        x
        for x in _SENTENCE.split(text)
        if x.strip() and not any(fuzz.ratio(norm_phrase(x), o) >= REPEAT for o in old)
    ]
    return " ".join(keep)


def usable(text: str, question: str = "") -> bool:
    """A message a customer could have written: a few words, not too long, no assistant talk,
    not the chatbot's question copied back."""
    words = re.findall(r"[^\W\d_]{2,}", text)
    copied = bool(question) and norm_phrase(question)[:40] in norm_phrase(text)
    return (
        len(words) >= 2
        and len(text) <= MAX_CHARS
        and ":" not in text[:15]
        and not NOT_A_CUSTOMER.search(text)
        and not copied
    )


def _grouped(facts: Sequence[Fact], label: dict[str, str]) -> list[str]:
    """One line per attribute ("genre: Crime, Drama (no other)"), liked titles left out: a
    small LLM given one genre per line tends to add a genre the item does not have."""
    lines: dict[str, list[str]] = {}
    for f in facts:
        if f.attribute != "liked_item":
            lines.setdefault(label[f.key], []).append(f.value)
    return [
        f"{name}: {', '.join(vs)}" + (" (no other)" if name == "genre" else "")
        for name, vs in lines.items()
    ]


class FreeTalker(AttributeTalker):
    """The LLM writes the message; leaking, unusable and unfaithful replies fall back to the
    attribute-mode message."""

    mode = "free"

    def __init__(self, catalog: Catalog, llm: LLM, max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        super().__init__(catalog)
        self.llm, self.max_new_tokens = llm, max_new_tokens
        self.cache: dict[str, str] = {}
        self.calls = 0
        self.check = MessageCheck(catalog)

    def clashes(self, text: str, user: SimUser) -> list[str]:
        """What ``text`` says that the target does not hold (the user's liked titles may be
        named): read by :class:`MessageCheck`, not by the system's rules."""
        allowed = [self.catalog[i].title for i in user.references]
        return self.check.clashes(text, self.catalog[user.target_id], allowed)

    @staticmethod
    def to_tell(facts: Sequence[Fact], revealed: frozenset[str], last: Seen | None) -> list[Fact]:
        """The few facts the LLM is asked to tell this turn, none said yet (a small LLM told
        only to say something new repeats what it said before): the facts of the asked
        attribute; else the most telling ones, and a liked title in the opening."""
        left = [f for f in facts if f.key not in revealed] or list(facts)
        if last is not None and last.action == "ask" and last.asked:
            asked = [f for f in left if f.attribute == last.asked]
            if asked:
                return asked
        order = sorted(left, key=lambda f: (f.tier, f.share, f.attribute, f.value))
        plain = [f for f in order if f.attribute != "liked_item"]
        if last is None:
            liked = [f for f in order if f.attribute == "liked_item"][:1]
            return plain[:OPENING_FACTS] + liked
        return plain[:NEXT_FACTS] or order[:1]

    def _ask(self, prompt: Sequence[Message]) -> str:
        key = repr(prompt)
        if key not in self.cache:
            try:
                self.calls += 1
                self.cache[key] = self.llm.generate(prompt, max_new_tokens=self.max_new_tokens)
            except LLMError as e:
                log.warning("simulator LLM failed (%s); using the attribute-mode message", e)
                self.cache[key] = ""
        return self.cache[key]

    def _judge(
        self, raw: str, said: Sequence[str], question: str, user: SimUser
    ) -> tuple[str, Source, list[str]]:
        """The message's new part, its source, and what it says that the target lacks."""
        text = new_part(clean(raw), said)
        if not usable(text, question):
            return text, "invalid", []
        if leaks(text, self.catalog[user.target_id].title):
            return text, "leak", []
        clashes = self.clashes(text, user)
        return text, "unfaithful" if clashes else "llm", clashes

    def say(
        self,
        user: SimUser,
        facts: Sequence[Fact],
        revealed: frozenset[str],
        last: Seen | None,
        said: Sequence[str] = (),
    ) -> Utterance:
        item = self.catalog[user.target_id]
        question = last.text if last is not None and last.action in ("ask", "clarify") else ""
        tell = self.to_tell(facts, revealed, last)
        label = {f.key: LABELS.get(f.attribute, f.attribute.replace("_", " ")) for f in facts}
        values: dict[str, Any] = dict(
            catalog=item.category or self.catalog.name,
            facts=_grouped(facts, label),
            tell=[f"{label[f.key]}: {f.value}" for f in tell],
            question=question,
            shown=bool(last is not None and last.shown),
        )
        raw = self._ask(render("simulator", **values, avoid=[]))
        text, source, clashes = self._judge(raw, said, question, user)
        if source == "unfaithful":  # once more, told what the item is not
            avoid = [c.split(": ", 1)[-1] for c in clashes]
            raw = self._ask(render("simulator", **values, avoid=avoid))
            text, source, clashes = self._judge(raw, said, question, user)
        if source != "llm":
            body, used = self.body(user, facts, revealed, last)
            return self.utterance(user, last, body, source, used, dropped=raw.strip(),
                                  why="; ".join(clashes))  # fmt: skip
        said_now = f" {norm_phrase(text)} "
        used = [f for f in facts if f" {norm_phrase(f.value)} " in said_now]
        return self.utterance(user, last, text, "llm", used)


__all__ = ["AttributeTalker", "FreeTalker", "Seen", "Talker", "Utterance", "clean"]
