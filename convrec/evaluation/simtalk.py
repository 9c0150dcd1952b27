"""What a simulated user says each turn, in attribute mode (templates) or free mode (the LLM).

Both modes open the same way when the system showed items that are not the target: "None of
these. I'm not into <the first one>." (rejections by title, worded so the rules read them as
rejections, never naming a title the user loved, one that is ambiguous in the catalog or one close
to the target's).

- **Attribute mode**: turn 1 opens with the target's category, the genre the persona likes best
  and one liked title; a question is answered from the target's value of the asked attribute (the
  value the question names, when it names one); otherwise the next most informative fact not said
  yet is volunteered (:func:`convrec.evaluation.simusers.next_fact`).
- **Free mode**: the LLM (prompts/simulator.yaml) writes the message from the target's facts and
  story, never from its title. Sentences copying earlier ones are cut (:func:`new_part`). A
  message that names the target (:func:`leaks`), is not a customer's message (:func:`usable`),
  or that the system's own rules read as contradicting the target
  (:meth:`FreeTalker.contradicts`) is dropped, counted, and replaced by the attribute-mode
  message. Replies are cached by prompt, so systems that never ask (the baselines) share one
  LLM call per turn.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from convrec.catalog.titles import normalize
from convrec.errors import LLMError
from convrec.evaluation.leaks import leaks
from convrec.evaluation.simusers import Fact, SimUser, next_fact
from convrec.lexicon import norm_phrase
from convrec.prompts import render
from convrec.state import Constraint, DialogueState, apply, field_value, holds

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.lexicon import Lexicon
    from convrec.protocols import LLM
    from convrec.types import Item

log = logging.getLogger(__name__)

Source = Literal["attribute", "llm", "leak", "invalid", "unfaithful"]
MAX_NEW_TOKENS = 48
MAX_CHARS = 300
STORY_CHARS = 240
LABELS = {"genres": "genre", "year": "decade", "keywords": "plot keyword", "cast": "actor",
          "runtime_min": "length (minutes)", "liked_item": "liked title"}  # fmt: skip


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
        used: Sequence[Fact], dropped: str = "",
    ) -> Utterance:  # fmt: skip
        reject, named = self.rejection(user, last)
        refs = {self.catalog[i].title: i for i in user.references}
        mentioned = named + tuple(refs[f.value] for f in used if f.attribute == "liked_item")
        text = f"{reject} {body}".strip()
        rejected = last.shown if reject and last is not None else ()
        return Utterance(text, body, source, tuple(f.key for f in used), rejected, mentioned,
                         dropped)  # fmt: skip

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


def story(item: Item) -> str:
    """The item's plot summary without its title (movies: the TMDB overview), or ""."""
    cut = item.description.find(f"{item.title} is a")
    text = item.description[:cut] if cut > 0 else ""
    text = re.sub(re.escape(item.title), "it", text, flags=re.I).strip()
    return text if len(text) <= STORY_CHARS else text[:STORY_CHARS].rsplit(" ", 1)[0] + " …"


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
        if x.strip() and not any(fuzz.ratio(norm_phrase(x), o) >= 80 for o in old)
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


class FreeTalker(AttributeTalker):
    """The LLM writes the message; leaking, unusable and unfaithful replies fall back to the
    attribute-mode message."""

    mode = "free"

    def __init__(self, catalog: Catalog, llm: LLM, max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        super().__init__(catalog)
        self.llm, self.max_new_tokens = llm, max_new_tokens
        self.cache: dict[str, str] = {}
        self.calls = 0
        self._lexicon: Lexicon | None = None

    def contradicts(self, text: str, item: Item) -> bool:
        """The system's own rules, reading ``text``, would exclude the target or credit it with
        a value it lacks ("a comedy" for a horror film, "from 1992" for a 1960 film)."""
        from convrec.extractors import extract
        from convrec.lexicon import Lexicon

        if self._lexicon is None:
            self._lexicon = Lexicon.from_catalog(self.catalog)
        state = apply(DialogueState(), extract(text, self._lexicon))
        liked = [Constraint(p.attribute, "eq", p.value, multi=True) for p in state.liked]
        wants = (*state.constraints, *liked)
        return not all(holds(c, field_value(item, c.attribute)) for c in wants)

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
        label = {f.key: LABELS.get(f.attribute, f.attribute.replace("_", " ")) for f in facts}
        prompt = render(
            "simulator",
            catalog=item.category or self.catalog.name,
            facts=[f"{label[f.key]}: {f.value}" for f in facts if f.attribute != "liked_item"],
            story=story(item),
            liked=[f.value for f in facts if f.attribute == "liked_item"],
            said=list(said[-3:]),
            question=question,
            shown=bool(last is not None and last.shown),
        )
        key = repr(prompt)
        if key not in self.cache:
            try:
                self.calls += 1
                self.cache[key] = self.llm.generate(prompt, max_new_tokens=self.max_new_tokens)
            except LLMError as e:
                log.warning("simulator LLM failed (%s); using the attribute-mode message", e)
                self.cache[key] = ""
        raw = self.cache[key]
        text = new_part(clean(raw), said)
        source: Source = (
            "invalid"
            if not usable(text, question)
            else "leak"
            if leaks(text, item.title)
            else "unfaithful"
            if self.contradicts(text, item)
            else "llm"
        )
        if source != "llm":
            body, used = self.body(user, facts, revealed, last)
            return self.utterance(user, last, body, source, used, dropped=raw.strip())
        said_now = f" {norm_phrase(text)} "
        used = [f for f in facts if f" {norm_phrase(f.value)} " in said_now]
        return self.utterance(user, last, text, "llm", used)


__all__ = ["AttributeTalker", "FreeTalker", "Seen", "Talker", "Utterance", "clean", "story"]
