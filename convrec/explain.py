"""Stage 7: grounded explanations — why each recommended item fits this user.

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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from convrec.errors import LLMError
from convrec.prompts import render
from convrec.types import Item, Message, Recommendation

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.config import Settings
    from convrec.protocols import LLM
    from convrec.state import DialogueState

log = logging.getLogger(__name__)

PROMPT = "explain"
TOKENS_PER_ITEM = 40  # one short sentence; the 2-core CPU decodes ~12 tokens/s with the default
MAX_SENTENCES = 2
MIN_WORDS = 3  # shorter answers ("Great pick!", "The user's preferences:") explain nothing
MAX_CHARS = 320
FACT_CHARS = 160  # description characters shown to the model per item
LIST_VALUES = 4  # values shown per list attribute (cast lists are long)
HIDDEN_FIELDS = frozenset({"model_code", "n_ratings", "keywords", "awards", "resolution"})
GENRE_ATTRS = ("genres", "genre")
PEOPLE_ATTRS = ("director", "cast", "writer", "actors", "author", "creator")
NAMED_VOCAB_MAX = 300  # a str attribute with at most this many values is checked as a name set
_COLOURS = "white black red blue green yellow orange pink purple violet brown grey gray silver gold"
COLOURS = frozenset((_COLOURS + " golden beige navy teal turquoise").split())
# Extra surface forms of genre names (MovieLens genres, plus common adjectives).
GENRE_FORMS = {
    "animation": ("animated",),
    "romance": ("romantic", "romances"),
    "sci-fi": ("science fiction", "science-fiction", "sci fi"),
    "film-noir": ("film noir", "noir"),
    "comedy": ("comedies",),
    "documentary": ("documentaries",),
    "mystery": ("mysteries",),
    "fantasy": ("fantasies",),
    "children": ("children's",),
}
_UNIT = (
    r"(?P<num>\d+(?:\.\d+)?)\s*-?\s*(?P<unit>inch(?:es)?|in\b|\"|gb|tb|mb|ghz|mhz|mp|megapixels?|"
    r"mah|min(?:ute)?s?|hours?|hrs?|cores?)(?![a-z])"
)
_UNIT_RE = re.compile(_UNIT, re.IGNORECASE)
_PRICE_RE = re.compile(r"[$€£]\s?(\d[\d,]*(?:\.\d+)?)")
_YEAR_RE = re.compile(r"(?<![\d.])((?:19|20)\d\d)(s?)(?![\d])")
_DECADE_RE = re.compile(r"(?<![\w\d])'?([1-9]0)s\b")
_AWARD_RE = re.compile(r"\b(Oscars?|Academy Awards?|Golden Globes?|BAFTAs?)\b")
_NAME_RE = re.compile(r"[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)+")
_ROLE_RE = re.compile(
    r"\b(?i:(?P<role>directed by|director|starring|stars|featuring|written by|writer|actor|"
    r"actress))\s+(?P<names>[A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+)+(?:\s*(?:,|and)\s*"
    r"[A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+)+)*)"
)
# Which field a role word needs its names in ("directed by X" when X only wrote it is a claim
# the item does not support).
ROLE_FIELDS = {"direct": ("director",), "writ": ("writer",)}
ACTOR_FIELDS = ("cast", "actors")
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


# -- the grounding checker ---------------------------------------------------------------------


def _vals(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, tuple) else (str(value),)


def _genre_pattern(genre: str) -> re.Pattern[str]:
    g = genre.lower()
    forms = {g, g + "s", *GENRE_FORMS.get(g, ())}
    alt = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alt})(?![\w-])", re.IGNORECASE)


def _item_text(item: Item) -> str:
    parts = [item.title, item.description, item.category, item.date or ""]
    for value in item.attributes.values():
        parts.extend(_vals(value))
    if item.price is not None:
        parts.append(f"{item.price:g}")
    return " ".join(parts)


def _numbers(item: Item) -> list[float]:
    out = [float(v) for v in item.attributes.values() if isinstance(v, int | float)]
    out += [float(n) for n in re.findall(r"\d+(?:\.\d+)?", _item_text(item))]
    if item.price is not None:
        out.append(float(item.price))
    return out


def _close(a: float, b: float, rel: float = 0.02) -> bool:
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), 0.051)


class GroundingChecker:
    """Finds claims in a text that an item's fields do not support. Deterministic, no models.

    The vocabularies (genres, people, small name sets such as makers or countries) are built once
    from the catalog, so a genre or person the item lacks is caught even when the model invents it
    from another item.
    """

    def __init__(self, items: Iterable[Item]) -> None:
        genres: set[str] = set()
        people: set[str] = set()
        named: dict[str, set[str]] = {}
        for it in items:
            for attr, value in it.attributes.items():
                if isinstance(value, bool | int | float):
                    continue
                vals = _vals(value)
                if attr in GENRE_ATTRS:
                    genres.update(v for v in vals if re.fullmatch(r"[A-Za-z][A-Za-z' -]+", v))
                elif attr in PEOPLE_ATTRS:
                    people.update(v for v in vals if " " in v)
                elif attr not in HIDDEN_FIELDS:
                    named.setdefault(attr, set()).update(vals)
        self.genres = {g: _genre_pattern(g) for g in sorted(genres)}
        self.people = frozenset(people)
        self.named = {
            attr: {
                v: re.compile(rf"(?<![\w-]){re.escape(v)}(?![\w-])")
                for v in sorted(vals)
                if len(v) >= 3 and any(c.isupper() for c in v)
            }
            for attr, vals in named.items()
            if 1 < len(vals) <= NAMED_VOCAB_MAX
        }

    def problems(
        self, text: str, item: Item, stated: str = "", titles: Sequence[str] = ()
    ) -> list[str]:
        """Unsupported claims of ``text`` about ``item`` ([] when grounded).

        ``stated`` is what the user said (their numbers may be repeated back); ``titles`` are
        titles the text may quote (the item's own is always allowed) and are removed before
        checking, so "Black Swan" claims neither a colour nor a genre.
        """
        for title in sorted({item.title, *titles}, key=len, reverse=True):
            if title:
                text = re.sub(re.escape(title), " ", text, flags=re.IGNORECASE)
        fields = _item_text(item)
        low = fields.replace(item.title, " ").lower()  # "Black Swan" is no evidence of a colour
        out: list[str] = []
        item_genres = {g.lower() for a in GENRE_ATTRS for g in _vals(item.attributes.get(a))}
        for genre, pattern in self.genres.items():
            if genre.lower() not in item_genres and pattern.search(text):
                out.append(f"genre {genre}")
        item_people = {p for a in PEOPLE_ATTRS for p in _vals(item.attributes.get(a))}
        for name in self._names(text):
            if name not in item_people and name not in fields:
                out.append(f"person {name}")
        for m in _ROLE_RE.finditer(text):
            role = m.group("role").lower()
            attrs = next((f for k, f in ROLE_FIELDS.items() if role.startswith(k)), ACTOR_FIELDS)
            if not any(a in item.attributes for a in attrs):
                continue  # the catalog does not record this role: only the name check applies
            holders = {p for a in attrs for p in _vals(item.attributes.get(a))}
            for name in re.split(r"\s*(?:,|\band\b)\s*", m.group("names")):
                name = re.sub(r"['’]s$", "", name).rstrip(".,")
                if name and name in item_people and name not in holders:
                    out.append(f"{role} {name}")
        for attr, values in self.named.items():
            own = set(_vals(item.attributes.get(attr)))
            for value, pattern in values.items():
                if value not in own and value not in fields and pattern.search(text):
                    out.append(f"{attr} {value}")
        out += self._numeric(text, item, stated)
        for colour in sorted(COLOURS & set(re.findall(r"[a-z]+", text.lower()))):
            if not re.search(rf"\b{colour}\b", low):
                out.append(f"colour {colour}")
        for award in _AWARD_RE.findall(text):
            if award.lower().rstrip("s") not in low:
                out.append(f"award {award}")
        return list(dict.fromkeys(out))

    def _names(self, text: str) -> set[str]:
        """Known people anywhere in the text, and any name after "directed by", "starring"…"""
        found: set[str] = set()
        for run in _NAME_RE.findall(text):
            words = [re.sub(r"['’]s$", "", w).rstrip(".,") for w in run.split()]
            for n in range(2, 5):
                for i in range(len(words) - n + 1):
                    span = " ".join(words[i : i + n])
                    if span in self.people:
                        found.add(span)
        for m in _ROLE_RE.finditer(text):
            for name in re.split(r"\s*(?:,|\band\b)\s*", m.group("names")):
                name = re.sub(r"['’]s$", "", name).rstrip(".,")
                if name and not any(name in f or f in name for f in found):
                    found.add(name)
        return found

    def _numeric(self, text: str, item: Item, stated: str) -> list[str]:
        nums = _numbers(item)
        said = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", stated)]
        years = {int(n) for n in nums if 1800 <= n <= 2100 and float(n).is_integer()}
        out: list[str] = []
        for m in _YEAR_RE.finditer(text):
            year, decade = int(m.group(1)), bool(m.group(2))
            ok = any(year <= y < year + 10 for y in years) if decade else year in years
            if not ok and float(year) not in said:
                out.append(f"year {m.group(0)}")
        for m in _DECADE_RE.finditer(text):
            d = int(m.group(1))
            start = 1900 + d if d >= 30 else 2000 + d
            if not any(start <= y < start + 10 for y in years) and float(d) not in said:
                out.append(f"decade {m.group(0).strip()}")
        for m in _UNIT_RE.finditer(text):
            value, unit = float(m.group("num")), m.group("unit").lower()
            targets = [value * 60, value] if unit.startswith(("hour", "hr")) else [value]
            rel = 0.1 if unit.startswith(("hour", "hr")) else 0.02
            if not any(_close(t, n, rel) for t in targets for n in [*nums, *said]):
                out.append(f"number {m.group(0).strip()}")
        for m in _PRICE_RE.finditer(text):
            value = float(m.group(1).replace(",", ""))
            if not any(_close(value, n) for n in [*nums, *said]):
                out.append(f"price {m.group(0)}")
        return out


_CHECKERS: dict[int, tuple[Catalog, GroundingChecker]] = {}


def checker_for(catalog: Catalog) -> GroundingChecker:
    """The catalog's checker, built once per loaded catalog."""
    hit = _CHECKERS.get(id(catalog))
    if hit is not None and hit[0] is catalog:
        return hit[1]
    if len(_CHECKERS) >= 4:
        _CHECKERS.clear()
    checker = GroundingChecker(catalog.items)
    _CHECKERS[id(catalog)] = (catalog, checker)
    return checker


# -- what the model is shown -------------------------------------------------------------------


def stated_preferences(state: DialogueState, catalog: Catalog) -> list[str]:
    """The user's stated preferences as short lines (the only user facts the prompt gets)."""
    ops = {"eq": "=", "ne": "≠", "in": "in", "nin": "not in", "gte": "≥", "lte": "≤"}
    out = [f"likes {p.attribute}: {p.value}" for p in state.liked]
    out += [f"dislikes {p.attribute}: {p.value}" for p in state.disliked]
    for c in state.constraints:
        value = ", ".join(str(v) for v in c.values())
        out.append(f"requires {c.attribute} {ops[c.op]} {value}")
    out += [f"wants: {w}" for w in state.wishes]
    for label, ids in (("liked", state.liked_items), ("disliked", state.disliked_items)):
        titles = [catalog[i].title for i in ids if i in catalog]
        if titles:
            out.append(f"{label}: {'; '.join(titles)}")
    return out


def facts(item: Item) -> str:
    """The item's real fields as one line: what the model may say about it."""
    parts = []
    if item.category:
        parts.append(f"category: {item.category}")
    if item.date and not any(k in item.attributes for k in ("year", "release_year")):
        parts.append(f"date: {item.date}")
    if item.price is not None:
        parts.append(f"price: {item.price:g}")
    for attr, value in item.attributes.items():
        if attr in HIDDEN_FIELDS:
            continue
        if isinstance(value, tuple):
            value = ", ".join(value[:LIST_VALUES])
        elif isinstance(value, float):
            value = f"{value:g}"
        if value != "":
            parts.append(f"{attr.replace('_', ' ')}: {value}")
    if item.description:
        desc = item.description
        parts.append(f"about: {desc if len(desc) <= FACT_CHARS else desc[:FACT_CHARS] + '…'}")
    return "; ".join(parts)


def _messages(
    recs: Sequence[Recommendation], catalog: Catalog, prefs: list[str], retry: bool, as_json: bool
) -> list[Message]:
    items = [
        {"n": n, "title": r.title, "facts": facts(catalog[r.item_id])}
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
    "text": "it fits what you described",
    "clip_text": "it matches the look you described",
    "image": "it looks like the photo you shared",
    "popularity": "it is popular with other users",
    "preferences": "it has what you said you like",
    "exploration": "it is a slightly different pick to widen the choice",
}


def template(rec: Recommendation, item: Item, state: DialogueState, catalog: Catalog) -> str:
    """A grounded explanation from the score breakdown and the item's fields that match."""
    wanted = [p.value for p in state.liked]
    wanted += [str(v) for c in state.constraints if c.op in ("eq", "in") for v in c.values()]
    have = {v.lower() for value in item.attributes.values() for v in _vals(value)}
    matched = list(dict.fromkeys(w for w in wanted if w.lower() in have))
    reason = _top_reason(rec, state, catalog)
    if matched:
        first = f"It has the {', '.join(matched)} you asked for"
        first += f", and {reason}." if reason else "."
    elif reason:
        first = reason[0].upper() + reason[1:] + "."
    else:
        first = "It ranks high for what you asked."
    about = re.split(r"(?<=[.!?])\s+", item.description.strip(), maxsplit=1)[0]
    if about and len(about) <= 200:
        return f"{first} {about if about.endswith(('.', '!', '?')) else about + '.'}"
    return first


def _top_reason(rec: Recommendation, state: DialogueState, catalog: Catalog) -> str:
    positive = sorted(
        ((v, k) for k, v in rec.breakdown.items() if v > 0), key=lambda t: (-t[0], t[1])
    )
    for _, term in positive:
        if term.startswith("like:") or term == "liked_items":
            liked = term[5:].rsplit(">", 1)[0] if term.startswith("like:") else None
            ids = [liked] if liked else list(state.liked_items[-1:])
            titles = [catalog[i].title for i in ids if i and i in catalog]
            if titles:
                return f"it is close to {titles[0]}, which you liked"
            continue
        key = term.split(">")[-1] if ">" in term else term
        if term.startswith("clip_text>") and key == "image":
            key = "clip_text"
        if key in _ROUTE_REASONS:
            return _ROUTE_REASONS[key]
    return ""


# -- the pipeline ------------------------------------------------------------------------------


Mode = Literal["stream", "json"]


def stream_explanations(
    recs: Sequence[Recommendation],
    state: DialogueState,
    catalog: Catalog,
    llm: LLM,
    settings: Settings,
    *,
    mode: Mode = "stream",
    tokens_per_item: int = TOKENS_PER_ITEM,
) -> Iterator[Explanation]:
    """Each item's final explanation as soon as it is known (not necessarily in rank order).

    ``mode="stream"``: the model writes numbered lines through ``llm.stream``; a line that passes
    the check is yielded while the model still writes the rest. ``mode="json"``: one
    schema-constrained ``generate`` (see :func:`schema`), so no item can be skipped — more
    reliable with small models, but nothing arrives before the whole answer. Failed and missing
    items are then regenerated together in one call (same mode), then templated. A failing LLM
    never breaks the turn: every item then gets its template.
    """
    checker = checker_for(catalog)
    prefs = stated_preferences(state, catalog)
    stated = " ".join(prefs)
    titles = [catalog[i].title for i in (*state.liked_items, *state.disliked_items) if i in catalog]
    failed: dict[int, tuple[str, ...]] = {}
    seen: set[int] = set()
    for index, raw in _answers(llm, recs, catalog, prefs, False, mode, tokens_per_item):
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
    for j, raw in _answers(llm, subset, catalog, prefs, True, mode, tokens_per_item):
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
    if len(text.split()) < MIN_WORDS or text.rstrip().endswith(":"):
        return ["not a sentence"]
    if _COPIED_RE.search(text) or len(_FIELD_RE.findall(text)) >= 2:
        return ["copied the prompt"]  # grounded, but it explains nothing
    return checker.problems(text, item, stated, titles)


def _answers(
    llm: LLM,
    recs: Sequence[Recommendation],
    catalog: Catalog,
    prefs: list[str],
    retry: bool,
    mode: Mode,
    tokens_per_item: int,
) -> Iterator[tuple[int, str]]:
    """``(index, raw text)`` per item the model answered, as soon as each is complete."""
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
    llm: LLM,
    settings: Settings,
    *,
    mode: Mode = "stream",
    tokens_per_item: int = TOKENS_PER_ITEM,
) -> Explained:
    """Every recommendation with its explanation filled in, in rank order, plus the report.

    The default is numbered lines (``mode="stream"``): with xgrammar on this 2-core CPU the
    JSON-constrained decode of ``mode="json"`` ran many times slower than plain decoding.
    See :func:`stream_explanations` for both modes.
    """
    stream = stream_explanations(
        recs, state, catalog, llm, settings, mode=mode, tokens_per_item=tokens_per_item
    )
    got = {e.rank: e for e in stream}
    exps = tuple(got[i] for i in range(len(recs)))
    out = tuple(replace(r, explanation=e.text) for r, e in zip(recs, exps, strict=True))
    return Explained(out, exps)
