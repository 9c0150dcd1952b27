"""Stage 7: grounded explanations — why each recommended item fits this user.

By default (``llm.explain_mode = "facts"``) nothing is generated: each item gets the links
between what the user said and what it holds (:mod:`convrec.explain.links`, true by
construction) and its description's first sentence; labelled blind, that beat the default 0.5B
model on faithfulness and, on movies, on fluency, and it is instant. The LLM modes:

One generation call explains a whole batch (prompts/explain.yaml): the model sees only each item's
real fields and the user's stated preferences. It answers either one numbered line per item,
streamed so each line can be shown as soon as it is checked, or one JSON object constrained by a
schema with one required key per item (small models then cannot skip an item). LLM text is
untrusted: a deterministic checker (:class:`GroundingChecker`) compares the claims of each answer
with the item's fields — genres, people, names such as makers or countries, years and decades,
numbers with units, prices, awards, colours — and an answer with an unsupported claim is
regenerated once (all such items in one more call), then replaced by a template built from the
score breakdown and the item's fields that match the user.

The item ids never come from the model: answer N explains the N-th recommendation it was given.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from convrec.catalog.schema import DEFAULT_ROLES
from convrec.errors import LLMError
from convrec.explain.claims import GroundingChecker, checker_for, item_text, values_of
from convrec.explain.links import (
    AROUND_WIDTH,
    NOT_KINDS,
    PROMPT_LINKS,
    genre_words,
    links,
    sentence,
)
from convrec.explain.untrusted import instructs, plain
from convrec.prompts import render
from convrec.protocols import BatchLLM
from convrec.ranking.rerank import holds_pref
from convrec.types import Item, Message, Recommendation

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.config import Settings
    from convrec.dialogue.state import DialogueState
    from convrec.protocols import LLM

log = logging.getLogger(__name__)

PROMPT = "explain"
TOKENS_PER_ITEM = 40  # one short sentence; the 2-core CPU decodes ~12 tokens/s with the default
MAX_SENTENCES = 2
MIN_WORDS = 3  # shorter answers ("Great pick!", "The user's preferences:") explain nothing
MAX_CHARS = 320
FACT_CHARS = 160  # description characters shown to the model per item
LIST_VALUES = 4  # values shown per list attribute (cast lists are long)
ABOUT_CHARS = 300  # a longer first sentence of a description is not quoted
SHARED_REASON = 3  # items of one list that give the same reason: it is the list's, not theirs
_COPIED_RE = re.compile(r"\(category:|user'?s preferences|^likes \w+:", re.IGNORECASE)
_FIELD_RE = re.compile(r"\b[a-z][a-z ]{1,20}: [^;]+;")  # "genres: Comedy;" as in the facts line
_LINE_RE = re.compile(r"^\s*(?:[-*]\s*)?\**\s*(\d{1,2})\s*[.):]\**\s*(.*\S)\s*$")


@dataclass(frozen=True)
class Explanation:
    """One item's explanation and how it was obtained.

    ``source``: ``llm`` (passed the grounding check unchanged), ``regenerated`` (the first line
    failed, the second passed) or ``template`` (both failed, or the model gave no line).
    ``problems`` lists the unsupported claims of the first generation.
    """

    item_id: str
    rank: int  # 0-based position in the recommendation list
    text: str
    source: Literal["llm", "regenerated", "template"]
    problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when the model's first explanation was grounded and is shown unchanged."""
        return self.source == "llm"


@dataclass(frozen=True)
class Explained:
    """The recommendations with their explanations filled in, and how each was obtained."""

    recommendations: tuple[Recommendation, ...]
    explanations: tuple[Explanation, ...]

    @property
    def faithfulness(self) -> float:
        """Share of explanations that passed the grounding check unchanged (1.0 when none)."""
        if not self.explanations:
            return 1.0
        return sum(e.passed for e in self.explanations) / len(self.explanations)


# -- what the model is shown -------------------------------------------------------------------


def stated_preferences(state: DialogueState, catalog: Catalog) -> list[str]:
    """The user's stated preferences as short lines (the only user facts the prompt gets)."""
    # In the user's voice: small models parrot "requires year ≥ 1990" back as a reason.
    ops = {"eq": "wants {a}: {v}", "in": "wants {a}: {v}", "ne": "does not want {a}: {v}",
           "nin": "does not want {a}: {v}", "gte": "wants {a} of at least {v}",
           "lte": "wants {a} of at most {v}"}  # fmt: skip
    out = [f"likes {p.attribute}: {p.value}" for p in state.liked]
    out += [f"dislikes {p.attribute}: {p.value}" for p in state.disliked]
    for c in state.constraints:
        value = " or ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in c.values())
        form = ops[c.op]
        if c.strict:
            form = form.replace("at least", "more than").replace("at most", "under")
        line = form.format(a=c.attribute.replace("_", " "), v=value)
        if c.attribute in ("year", "release_year") and isinstance(c.value, int):
            # "before 1950" is stored as 1949 at most: the user's own number, said back
            line += f" (after {c.value - 1})" if c.op == "gte" else ""
            line += f" (before {c.value + 1})" if c.op == "lte" else ""
        out.append(line)
    lows = {c.attribute: c.value for c in state.constraints if c.op == "gte"}
    for c in state.constraints:  # a bare size is a small range around it: "close to 5 inches"
        lo, hi = lows.get(c.attribute), c.value
        if (c.op == "lte" and isinstance(lo, int | float) and isinstance(hi, int | float)
                and 0 < round(hi - lo, 6) <= AROUND_WIDTH):  # fmt: skip
            out.append(f"wants {c.attribute.replace('_', ' ')} close to {(lo + hi) / 2:g}")
    out += [f"wants: {w}" for w in state.wishes]
    for label, ids in (("liked", state.liked_items), ("disliked", state.disliked_items)):
        titles = [catalog[i].title for i in ids if i in catalog]
        if titles:
            out.append(f"{label}: {'; '.join(titles)}")
    return out


def facts(item: Item, hidden: Collection[str] = DEFAULT_ROLES["hidden"]) -> str:
    """The item's real fields as one line: what the model may say about it."""
    parts = []
    if item.category:
        parts.append(f"category: {item.category}")
    if item.date and not any(k in item.attributes for k in ("year", "release_year")):
        parts.append(f"date: {item.date}")
    if item.price is not None:
        parts.append(f"price: {item.price:g}")
    for attr, value in item.attributes.items():
        if attr in hidden:
            continue
        if isinstance(value, tuple):
            value = ", ".join(value[:LIST_VALUES])
        elif isinstance(value, float):
            value = f"{value:g}"
        if value != "":
            parts.append(f"{attr.replace('_', ' ')}: {value}")
    desc = plain(item.description)  # never an instruction planted in the catalog
    if desc:
        parts.append(f"about: {desc if len(desc) <= FACT_CHARS else desc[:FACT_CHARS] + '…'}")
    return "; ".join(parts)


def _messages(
    recs: Sequence[Recommendation], catalog: Catalog, prefs: list[str], retry: bool, as_json: bool
) -> list[Message]:
    items = [
        {"n": n, "title": r.title, "facts": facts(catalog[r.item_id], catalog.roles.hidden)}
        for n, r in enumerate(recs, start=1)
    ]
    return render(
        PROMPT, catalog=catalog.name, preferences=prefs or ["(nothing stated yet)"], items=items,
        retry=retry, as_json=as_json,
    )  # fmt: skip


def schema(n_items: int) -> dict[str, Any]:
    """JSON schema of a structured answer: ``{"1": "...", "2": "...", …}``, every key required,
    so a constrained decoder cannot skip an item. Strings are left unbounded on purpose: a
    ``maxLength`` grammar made xgrammar ~10x slower per token here; an answer cut by the token
    budget keeps its complete pairs (:func:`_parse_json`)."""
    keys = [str(n) for n in range(1, n_items + 1)]
    return {
        "type": "object",
        "properties": {k: {"type": "string"} for k in keys},
        "required": keys,
        "additionalProperties": False,
    }


def clean(text: str, title: str) -> str:
    """One explanation line tidied: Markdown and a leading title removed, at most two sentences."""
    text = re.sub(r"[*\"“”]", "", text).strip()
    text = re.sub(rf"^{re.escape(title)}\s*[:\-–—]\s*", "", text, flags=re.IGNORECASE).strip()
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text)
    text = " ".join(sentences[:MAX_SENTENCES]).strip()
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"


def parse_line(line: str, n_items: int) -> tuple[int, str] | None:
    """``(index, text)`` of a numbered output line ``"N. text"``; None for other lines."""
    m = _LINE_RE.match(line)
    if not m:
        return None
    n = int(m.group(1))
    return (n - 1, m.group(2)) if 1 <= n <= n_items else None


# -- the template fallback ---------------------------------------------------------------------

_ROUTE_REASONS = {
    # what retrieval knows, no more: that the item is near the words, not that it fits them
    "text": "it is one of the nearest the catalog has to what you described",
    "context": "it is one of the nearest the catalog has to what we talked about",
    "clip_text": "it matches the look you described",
    "image": "it looks like the photo you shared",
    "popularity": "it is well known",
    "cf": "people with tastes like yours liked it",
    "preferences": "it has what you said you like",
    "exploration": "it is a slightly different pick to widen the choice",
}


def template(
    rec: Recommendation,
    item: Item,
    state: DialogueState,
    catalog: Catalog,
    item_first: bool = False,
    why: str = "",
) -> str:
    """A grounded explanation: the links between what the user said and the item's fields
    (:func:`convrec.explain.links.links`), else the score breakdown's top reason; then the
    first sentence of the item's description (never one that gives orders or carries markup:
    :mod:`convrec.explain.untrusted`), or when it has none to quote, what the item is in its own
    fields. ``item_first``: the item's sentence comes first (the reason is the whole list's);
    ``why``: the item's :func:`reason` when the caller has it already."""
    first = why or reason(rec, item, state, catalog)
    about = without_codes(_first_of(item), item, catalog.roles.hidden)
    if (not about or len(about) > ABOUT_CHARS or _restates(about, item, first)
            or _repeats_fields(about, item, first)):  # fmt: skip
        about = what_it_is(item, catalog, said=first)  # what the item is, in facts
    if not about:
        return first
    about = about if about.endswith((".", "!", "?")) else about + "."
    return f"{about} {first}" if item_first else f"{first} {about}"


def _first_of(item: Item) -> str:
    """The first sentence of the item's description, never cut inside its own title ("Chuck
    Berry Hail! Hail! Rock 'n' Roll is a 1987 …")."""
    text = plain(item.description)
    if item.title and text.startswith(item.title + " "):
        return item.title + " " + first_sentence(text[len(item.title) + 1 :])
    return first_sentence(text)


_FILLER = frozenset(("is", "a", "an", "and", "the", "film", "movie", "of"))


def _restates(about: str, item: Item, first: str) -> bool:
    """The description's sentence only repeats the reason ("It is a documentary and musical
    movie, as you asked." then "X is a 2009 Documentary and Musical film."): its words beyond the
    title, numbers and fillers are all in the reason."""
    title = set(re.findall(r"[a-z']+", item.title.lower()))
    words = [w for w in re.findall(r"[a-z'-]+", about.lower()) if w not in title | _FILLER]
    said = first.lower()
    return bool(words) and all(re.search(rf"\b{re.escape(w)}", said) for w in words)


# Words of a sentence made of an item's fields ("X is a 1955 Drama film directed by Y", "X is an
# Android 7 phone, released in July 2017 for au") beyond the field values themselves.
_FIELD_WORDS = frozenset((
    "directed", "by", "with", "released", "in", "for", "on", "phone", "tablet", "watch", "item",
    "starring", "it", "has", "won", "nominated", "oscar", "oscars", "made", "january", "february",
    "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december",
))  # fmt: skip


def _repeats_fields(about: str, item: Item, first: str) -> bool:
    """The description's sentence is made of the item's fields only (a catalog's generated
    sentence, not a plot) and repeats a fact the reason just gave ("it is from 1955 …" then
    "X is a 1955 Drama film …"; "it runs Android …" then "X is an Android 7 phone …"): the
    item's facts the reason leaves out say it better (:func:`what_it_is`)."""
    title = set(re.findall(r"[a-z0-9']+", item.title.lower()))
    fields = " ".join(" ".join(values_of(v)) if not isinstance(v, int | float) else f"{v:g}"
                      for v in item.attributes.values()).lower()  # fmt: skip
    known = set(re.findall(r"[a-z0-9']+", fields + " " + (item.date or "").replace("-", " ")))
    words = [w for w in re.findall(r"[a-z0-9']+", about.lower()) if w not in title | _FILLER]
    if not words or not all(w in known or w in _FIELD_WORDS or w.isdigit() for w in words):
        return False
    said = set(re.findall(r"[a-z0-9']+", first.lower()))
    genres = (g for a in ("genres", "genre") for g in values_of(item.attributes.get(a)))
    said |= {g.lower() for g in genres if genre_words([g]).lower() in first.lower()}  # animated
    return any(w in said for w in words if w not in _FIELD_WORDS)


def reason(rec: Recommendation, item: Item, state: DialogueState, catalog: Catalog) -> str:
    """Why ``item`` is shown, as one sentence: its links to what the user said, else the top
    reason of its score."""
    return sentence(links(rec, item, state, catalog)) or _fallback_reason(rec, item, state, catalog)


def templates(recs: Sequence[Recommendation], state: DialogueState, catalog: Catalog) -> list[str]:
    """:func:`template` of each item of one list. A reason that three or more items share ("It
    is a Sony, as you asked.") no longer opens each of them: their own sentence comes first."""
    reasons = [reason(r, catalog[r.item_id], state, catalog) for r in recs]
    shared = {s for s, n in Counter(reasons).items() if n >= SHARED_REASON}
    return [
        template(r, catalog[r.item_id], state, catalog, item_first=why in shared, why=why)
        for r, why in zip(recs, reasons, strict=True)
    ]


def what_it_is(item: Item, catalog: Catalog, said: str = "") -> str:
    """One sentence of the item's own fields, for when its description has none to quote:
    "It is a 2000 mystery and thriller film by Christopher Nolan." Leaves out what ``said``
    names."""
    roles = catalog.roles
    year = next(
        (item.attributes[a] for a in ("year", "release_year") if a in item.attributes), None
    )
    low = said.lower()
    kinds = [g for a in roles.genre for g in values_of(item.attributes.get(a))
             if g.lower() not in low and genre_words([g]) not in low  # "animated" said
             and g not in NOT_KINDS]  # fmt: skip
    noun = "film" if item.category == "movie" else (item.category or "item")
    head = " ".join(
        [f"{year:g}" if isinstance(year, int | float) and f"{year:g}" not in said else "",
         genre_words(kinds[:3]) if kinds else "", noun]
    ).split()  # fmt: skip
    if len(head) == 1 and not any(a in item.attributes for a in roles.person):
        return ""  # nothing to say beyond "a film"
    an = head[0][:1] in "aeiou8" or head[0][:2] in ("11", "18")  # "an 1895 film", "an 8-inch"
    text = "It is " + ("an " if an else "a ") + " ".join(head)
    directors = [d for d in values_of(item.attributes.get("director"))[:1] if d.lower() not in low]
    if directors:  # no cast: its order is no billing (Vertigo's first two are extras)
        text += f" by {directors[0]}"
    return text + "."


# A full stop after these is no sentence end ("Dr. Jones", "the U.S. Army", "L.A.").
_ABBREVIATION = re.compile(r"(?:\b(?:Dr|Mr|Mrs|Ms|St|Jr|Sr|Prof|Mt|Lt|Sgt|Capt|Col|Gen|Cmdr|Adm|"
                           r"Maj|Cpl|Pvt|Rev|Gov|Sen|Rep|Pres|Insp|Det|vs|etc)|"
                           r"\b(?:[A-Z]\.)+[A-Z]?|\b[A-Z])\.$")  # fmt: skip


def without_codes(text: str, item: Item, hidden: Collection[str]) -> str:
    """``text`` without the item's hidden codes in brackets: "Apple iPhone 6s (iPhone_6s_) is
    …" reads "Apple iPhone 6s is …"."""
    for attr in sorted(hidden):
        value = item.attributes.get(attr)
        if isinstance(value, str) and value:
            text = text.replace(f" ({value})", "")
    return text


def first_sentence(text: str) -> str:
    """The first sentence of ``text``, not cut at an abbreviation ("When Dr. Indiana Jones …")."""
    pieces = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'“])", text.strip())
    out = pieces[0] if pieces else ""
    for piece in pieces[1:]:
        if not _ABBREVIATION.search(out):
            break
        out = f"{out} {piece}"
    return out


def _fallback_reason(
    rec: Recommendation, item: Item, state: DialogueState, catalog: Catalog
) -> str:
    wanted = [p.value for p in state.liked]
    wanted += [str(v) for c in state.constraints if c.op in ("eq", "in") for v in c.values()]
    have = {v.lower() for value in item.attributes.values() for v in values_of(value)}
    matched = list(dict.fromkeys(w for w in wanted if w.lower() in have))
    reason = _top_reason(rec, state, catalog)
    if matched:
        first = f"It has the {', '.join(matched)} you asked for"
        first += f", and {reason}." if reason else "."
    elif reason:
        first = reason[0].upper() + reason[1:] + "."
    else:
        first = "It ranks high for what you asked."
    return first


def _look_unmet(rec: Recommendation, state: DialogueState, catalog: Catalog) -> bool:
    """The user liked a look read from photos (a colour) that this item's photo does not show."""
    item = catalog.get(rec.item_id)
    derived = catalog.roles.derived
    return item is not None and any(
        p.attribute in derived and not holds_pref(item, p) for p in state.liked
    )


def _top_reason(rec: Recommendation, state: DialogueState, catalog: Catalog) -> str:
    positive = sorted(
        ((v, k) for k, v in rec.breakdown.items() if v > 0), key=lambda t: (-t[0], t[1])
    )
    for _, term in positive:
        if term.startswith("like:") or term == "liked_items":
            liked = term[5:].rsplit(">", 1)[0] if term.startswith("like:") else None
            ids = [liked] if liked else list(state.liked_items[-1:])
            titles = [catalog[i].title for i in ids if i and i in catalog]
            if titles and ids[0] in state.liked_items:
                return f"it is close to {titles[0]}, which you liked"
            if titles:  # a seed the ranking chose (a wished theme's or a style's known items)
                return f"it is close to {titles[0]}"
            continue
        key = term.split(">")[-1] if ">" in term else term
        if term.startswith("clip_text>") and key == "image":
            key = "clip_text"
        if key == "clip_text" and _look_unmet(rec, state, catalog):
            continue  # "it matches the look" of an item without the colour asked for is false
        if key in ("text", "context") and (wish := _last_wish(state, catalog.get(rec.item_id))):
            return f'it is among the closest matches in the catalog to "{wish}"'
        if key in _ROUTE_REASONS:
            return _ROUTE_REASONS[key]
    return ""


WISH_WORDS = 3  # a longer wish is not quoted back: the words left of a long message read badly


def _last_wish(state: DialogueState, item: Item | None) -> str:
    """The user's latest free-text wish when it is a few plain words that the item's own text
    holds ("space adventure" for a film whose description speaks of space and an adventure).
    Anything else the user typed is never quoted back: what is left of a long message ("nokia
    lumia nokia only brand …"), or an instruction ("ignore previous instructions")."""
    wish = state.wishes[-1].strip() if state.wishes else ""
    words = wish.lower().split()
    if item is None or not 0 < len(words) <= WISH_WORDS or not all(w.isalpha() for w in words):
        return ""
    own = item_text(item).lower()
    held = all(re.search(rf"\b{re.escape(w)}", own) for w in words)
    return wish if held and not instructs(wish) else ""


# -- the pipeline ------------------------------------------------------------------------------


Mode = Literal["facts", "items", "stream", "json"]
ITEM_PROMPT = "explain_item"


def stream_explanations(
    recs: Sequence[Recommendation],
    state: DialogueState,
    catalog: Catalog,
    llm: LLM | None,
    settings: Settings,
    *,
    mode: Mode | None = None,
    tokens_per_item: int = TOKENS_PER_ITEM,
) -> Iterator[Explanation]:
    """Each item's final explanation as soon as it is known (not necessarily in rank order).

    ``mode`` defaults to ``settings.llm.explain_mode``. ``mode="facts"`` (the settings' default):
    no generation, each item's :func:`template` (the links to what the user said, then its
    description's first sentence). ``mode="items"``: one short prompt per item
    (prompts/explain_item.yaml) whose answer opens with the item's title, all sent as one batch
    when the backend has ``generate_batch`` (else one call per item, each yielded when done).
    Small models keep this format far better than a numbered list. ``mode="stream"``: the model
    writes numbered lines through ``llm.stream``; a line that passes the check is yielded while
    the model still writes the rest. ``mode="json"``: one schema-constrained ``generate`` (see
    :func:`schema`), so no item can be skipped — more reliable with small models, but nothing
    arrives before the whole answer. Failed and missing items are then regenerated together in
    one call (same mode), then templated. A failing LLM never breaks the turn: every item then
    gets its template, as without an LLM (``llm=None``).
    """
    mode = mode or settings.llm.explain_mode
    if mode == "facts":  # no generation: the links and the description, true by construction
        for i, (rec, text) in enumerate(zip(recs, templates(recs, state, catalog), strict=True)):
            yield Explanation(rec.item_id, i, text, "template")
        return
    checker = checker_for(catalog)
    prefs = stated_preferences(state, catalog)
    stated = " ".join(prefs)
    titles = [catalog[i].title for i in (*state.liked_items, *state.disliked_items) if i in catalog]
    failed: dict[int, tuple[str, ...]] = {}
    seen: set[int] = set()
    reasons = [links(r, catalog[r.item_id], state, catalog, standalone=True) for r in recs]
    for index, raw in _answers(llm, recs, catalog, prefs, False, mode, tokens_per_item, reasons):
        if index in seen:
            continue
        seen.add(index)
        text = clean(raw, recs[index].title)
        problems = _check(checker, text, catalog[recs[index].item_id], stated, titles)
        if problems:
            log.debug("explanation %d unsupported: %s", index + 1, problems)
            failed[index] = tuple(problems)
        else:
            yield Explanation(recs[index].item_id, index, text, "llm")
    failed.update((i, ("no explanation",)) for i in range(len(recs)) if i not in seen)
    if not failed:
        return
    order = sorted(failed)
    subset = [recs[i] for i in order]
    again: dict[int, str] = {}
    redo = [reasons[i] for i in order]
    for j, raw in _answers(llm, subset, catalog, prefs, True, mode, tokens_per_item, redo):
        again.setdefault(order[j], raw)
    for i in order:
        rec = recs[i]
        if i in again:
            text = clean(again[i], rec.title)
            if not _check(checker, text, catalog[rec.item_id], stated, titles):
                yield Explanation(rec.item_id, i, text, "regenerated", failed[i])
                continue
        text = template(rec, catalog[rec.item_id], state, catalog)
        yield Explanation(rec.item_id, i, text, "template", failed[i])


def _check(
    checker: GroundingChecker, text: str, item: Item, stated: str, titles: Sequence[str]
) -> list[str]:
    if len(text.split()) < MIN_WORDS or text.rstrip().endswith((":", "…", ",")):
        return ["not a sentence"]
    if _COPIED_RE.search(text) or len(_FIELD_RE.findall(text)) >= 2:
        return ["copied the prompt"]  # grounded, but it explains nothing
    return checker.problems(text, item, stated, titles)


def _answers(
    llm: LLM | None,
    recs: Sequence[Recommendation],
    catalog: Catalog,
    prefs: list[str],
    retry: bool,
    mode: Mode,
    tokens_per_item: int,
    reasons: Sequence[Sequence[str]] = (),
) -> Iterator[tuple[int, str]]:
    """``(index, raw text)`` per item the model answered, as soon as each is complete;
    ``reasons``: each item's links (mode "items" shows them to the model)."""
    if llm is None:
        return
    if mode == "items":
        yield from _item_answers(llm, recs, catalog, prefs, retry, tokens_per_item, reasons)
        return
    n = len(recs)
    messages = _messages(recs, catalog, prefs, retry, mode == "json")
    try:
        if mode == "json":
            budget = (tokens_per_item + 6) * n + 4
            out = llm.generate(messages, max_new_tokens=budget, json_schema=schema(n))
            yield from _parse_json(out, n)
            return
        buffer = ""
        for piece in llm.stream(messages, max_new_tokens=tokens_per_item * n + 16):
            buffer += piece
            *lines, buffer = buffer.split("\n")
            for line in lines:
                parsed = parse_line(line, n)
                if parsed is not None:
                    yield parsed
        parsed = parse_line(buffer, n)
        if parsed is not None:
            yield parsed
    except LLMError as e:
        log.warning("explanations fall back to templates: %s", e)


def _item_answers(
    llm: LLM,
    recs: Sequence[Recommendation],
    catalog: Catalog,
    prefs: list[str],
    retry: bool,
    budget: int,
    reasons: Sequence[Sequence[str]] = (),
) -> Iterator[tuple[int, str]]:
    """Mode "items": one conversation per item, batched where the backend can."""
    noun = _noun(catalog)
    why = list(reasons) or [[] for _ in recs]
    convs = [
        render(ITEM_PROMPT, noun=noun, retry=retry, has_preferences=bool(prefs),
               preferences=prefs or ["(nothing stated yet)"], title=r.title,
               facts=facts(catalog[r.item_id], catalog.roles.hidden),
               reasons=list(reason)[:PROMPT_LINKS])
        for r, reason in zip(recs, why, strict=True)
    ]  # fmt: skip
    try:
        if isinstance(llm, BatchLLM):
            outs = llm.generate_batch(convs, max_new_tokens=budget)
            for i, (conv, out) in enumerate(zip(convs, outs, strict=True)):
                yield i, _continued(conv[-1].content, out)
            return
        for i, conv in enumerate(convs):
            yield i, _continued(conv[-1].content, llm.generate(conv, max_new_tokens=budget))
    except LLMError as e:
        log.warning("explanations fall back to templates: %s", e)


def _continued(opening: str, answer: str) -> str:
    """The opening and the model's continuation of it, up to the first line break. A backend
    that could not continue the opening may have repeated it: it is then not doubled. An answer
    cut by the token budget keeps its complete sentences; with none it ends in "…" (rejected)."""
    answer = answer.lstrip("\n").split("\n", 1)[0].rstrip()
    if answer.strip().lower().startswith(opening.lower()):
        answer = answer.strip()[len(opening) :]
    glue = "" if answer[:1].isspace() or answer[:1] in "'’,.;:!?" else " "
    text = f"{opening}{glue}{answer.lstrip() if glue else answer}".strip()
    text = re.sub(r"\s+", " ", text)
    if not re.search(r"[.!?]$", text):
        done = re.match(r"^(.*[.!?])(?=\s)", text)
        text = done.group(1) if done and len(done.group(1)) > len(opening) + 8 else text + "…"
    return text


def _noun(catalog: Catalog) -> str:
    """What the catalog holds, in one word ("movie", "phone")."""
    counts = Counter(it.category for it in catalog.items[:500] if it.category)
    return counts.most_common(1)[0][0] if counts else "item"


_PAIR_RE = re.compile(r'"(\d+)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _parse_json(text: str, n: int) -> Iterator[tuple[int, str]]:
    """The complete ``"N": "text"`` pairs of a JSON answer, also of one cut short by the budget."""
    try:
        data = json.loads(text)
        pairs = list(data.items()) if isinstance(data, dict) else []
    except ValueError:
        pairs = [(k, json.loads(f'"{v}"')) for k, v in _PAIR_RE.findall(text)]
    for key, value in pairs:
        if isinstance(key, str) and key.isdigit() and 1 <= int(key) <= n and isinstance(value, str):
            yield int(key) - 1, value


def explain_recommendations(
    recs: Sequence[Recommendation],
    state: DialogueState,
    catalog: Catalog,
    llm: LLM | None,
    settings: Settings,
    *,
    mode: Mode | None = None,
    tokens_per_item: int = TOKENS_PER_ITEM,
) -> Explained:
    """Every recommendation with its explanation filled in, in rank order, plus the report.

    See :func:`stream_explanations` for the modes. ``json`` is the slowest here: xgrammar's
    constrained decode on this 2-core CPU ran many times slower than plain decoding.
    """
    stream = stream_explanations(
        recs, state, catalog, llm, settings, mode=mode, tokens_per_item=tokens_per_item
    )
    got = {e.rank: e for e in stream}
    exps = tuple(got[i] for i in range(len(recs)))
    out = tuple(
        replace(r, explanation=e.text, explanation_source=e.source)
        for r, e in zip(recs, exps, strict=True)
    )
    return Explained(out, exps)
