"""Answers about shown items, from their own fields only: "The Sony Xperia Z4 has 3 GB of RAM.",
a comparison table with which one is newer, and a plain "the catalog does not say" for what no
field holds. True by construction: every value is read from the item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from convrec.dialogue.questions import ItemQuestion
from convrec.explain.claims import values_of
from convrec.explain.explanations import first_sentence, without_codes
from convrec.explain.untrusted import plain

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.types import AttrValue, Item

# How one field reads in a sentence about an item ("{title} has 3 GB of RAM").
_SAYS = {
    "ram_gb": "has {v:g} GB of RAM",
    "storage_gb": "has {v:g} GB of storage",
    "screen_inches": "has a {v:g}-inch screen",
    "release_year": "came out in {v}",
    "year": "is from {v}",
    "runtime_min": "runs {v} minutes",
    "cores": "has {v} cores",
    "cpu_ghz": "has a {v:g} GHz processor",
    "os": "runs {v}",
    "os_version": "runs version {v:g} of its OS",
    "maker": "is made by {v}",
    "director": "was directed by {v}",
    "cast": "stars {v}",
    "writer": "was written by {v}",
    "genres": "is filed under {v}",
    "mean_rating": "is rated {v:.1f} out of 5 on average",
    "carrier": "is sold by {v}",
    "colour": "is {v} in its photo",
}
# How a field is named in a comparison table.
_LABELS = {"ram_gb": "RAM", "storage_gb": "storage", "screen_inches": "screen",
           "release_year": "year", "runtime_min": "runtime", "cpu_ghz": "CPU", "cpu": "chip",
           "os_version": "OS version", "mean_rating": "mean rating",
           "n_ratings": "ratings"}  # fmt: skip
TABLE_ROWS = 6  # fields in a comparison when the user named none
FACTS = 9  # fields listed for "tell me more"
_UNITS = {
    "ram_gb": " GB",
    "storage_gb": " GB",
    "screen_inches": " inches",
    "runtime_min": " min",
    "cpu_ghz": " GHz",
}


def answer(item_ids: Sequence[str], question: ItemQuestion | None, catalog: Catalog) -> str:
    """The reply to ``question`` about the shown ``item_ids`` of ``catalog`` (no question: the
    LLM read the act, so about the items in general); "" when none is in the catalog."""
    items = [catalog[i] for i in item_ids if i in catalog]
    if not items:
        return ""
    if question is None:
        ids = tuple(it.id for it in items)
        question = ItemQuestion("compare", ids) if len(ids) > 1 else ItemQuestion("ask_item", ids)
    if question.act == "compare" and len(items) > 1:
        return compare(items, question, catalog)
    parts = [_about(it, question, catalog) for it in items]
    return "\n\n".join(p for p in parts if p)


def clarify(item_ids: Sequence[str], catalog: Catalog) -> str:
    """Which of several same-titled items the user meant, asked with their years."""
    items = [catalog[i] for i in item_ids if i in catalog][:5]
    names = [f"{it.title} ({it.date[:4]})" if it.date else it.title for it in items]
    return "Which one do you mean: " + "; ".join(names) + "?"


def _about(item: Item, question: ItemQuestion, catalog: Catalog) -> str:
    said = []
    asked = question.attributes  # asked by name, a code or count is answered too
    for attr in asked:
        value = _value(item, attr)
        if value is None:
            said.append(f"The catalog does not give the {_name(attr)} of {item.title}.")
        else:
            said.append(f"{item.title} {_say(attr, value)}.")
    said += _unknown(question.aspects, [item.title])
    if said:
        return " ".join(said)
    # "tell me more": the description's first sentence and a few facts
    facts = [f"{_name(a)}: {_shown(a, v)}" for a, v in _facts(item, catalog)][:FACTS]
    about = without_codes(first_sentence(plain(item.description)), item, catalog.roles.hidden)
    head = about if about else item.title
    return f"{head}\n" + "; ".join(facts) if facts else head


def compare(items: Sequence[Item], question: ItemQuestion, catalog: Catalog) -> str:
    """A markdown table of the items' fields (the asked ones, else their main ones), then which
    one has the most or least of what the user asked ("newer", "more RAM")."""
    rows = list(question.attributes)
    if not rows:
        seen: dict[str, None] = {}
        for it in items:
            for a, _ in _facts(it, catalog):
                seen.setdefault(a, None)
        rows = list(seen)[:TABLE_ROWS]
    head = "| | " + " | ".join(it.title.replace("|", "/") for it in items) + " |"
    lines = [head, "|---|" + "---|" * len(items)]
    for attr in rows:
        cells = [_shown(attr, v) if (v := _value(it, attr)) is not None else "–" for it in items]
        lines.append(f"| {_name(attr)} | " + " | ".join(cells) + " |")
    verdict = _verdict(items, question)
    tail = _unknown(question.aspects, [it.title for it in items])
    text = "\n".join(lines)
    return "\n\n".join(x for x in (verdict, text, " ".join(tail)) if x)


def _verdict(items: Sequence[Item], question: ItemQuestion) -> str:
    if question.extreme is None:
        return ""
    attr, way = question.extreme
    known = [(v, it) for it in items if isinstance(v := _value(it, attr), int | float)]
    if len(known) < 2:
        return f"The catalog does not give the {_name(attr)} of all of them."
    numbers = sorted({float(v) for v, _ in known})
    if len(numbers) == 1:
        return f"They are the same on {_name(attr)}: {_shown(attr, known[0][0])}."
    best = (max if way == "max" else min)(known, key=lambda x: float(x[0]))
    others = ", ".join(_shown(attr, v) for v, it in known if it is not best[1])
    word = {("year", "max"): "is newer", ("year", "min"): "is older",
            ("release_year", "max"): "is newer", ("release_year", "min"): "is older"}.get(
        (attr, way), f"has the {'most' if way == 'max' else 'least'} {_name(attr)}")  # fmt: skip
    return f"{best[1].title} {word} ({_shown(attr, best[0])}, against {others})."


def _unknown(aspects: Sequence[str], titles: Sequence[str]) -> list[str]:
    if not aspects:
        return []
    what = " or ".join(aspects)
    whose = "its" if len(titles) == 1 else "their"
    return [f"The catalog does not say anything about {whose} {what}, so I cannot tell."]


def _facts(item: Item, catalog: Catalog) -> list[tuple[str, AttrValue]]:
    hidden = catalog.roles.hidden
    return [(a, v) for a, v in item.attributes.items() if a not in hidden and v not in ("", ())]


def _value(item: Item, attr: str) -> AttrValue | None:
    value = item.attributes.get(attr)
    return None if value in (None, "", ()) else value


def _say(attr: str, value: AttrValue) -> str:
    form = _SAYS.get(attr)
    shown = _joined(values_of(value)) if isinstance(value, tuple) else value
    if form is not None:
        try:
            return form.format(v=shown)
        except (ValueError, TypeError):
            pass
    return f"has {_name(attr)} {_shown(attr, value)}"


def _shown(attr: str, value: AttrValue) -> str:
    if isinstance(value, tuple):
        return _joined(list(value[:4]))
    if isinstance(value, float):
        return f"{value:g}{_UNITS.get(attr, '')}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value}{_UNITS.get(attr, '')}"
    return str(value)


def _name(attr: str) -> str:
    return _LABELS.get(attr, attr.replace("_", " "))


def _joined(values: Sequence[str]) -> str:
    values = list(values)
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]
