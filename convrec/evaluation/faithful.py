"""A second, independent reader of explanations: what an explanation says that its item lacks.

convrec's own grounding check (``convrec.explain.claims``) both filters the explanations it shows
and is
what their "grounded rate" is measured with, so that rate is true by construction. This reader
shares no code with it, nor with the parser (it imports nothing of ``convrec.explain.claims``,
``convrec.dialogue.grounding``, ``convrec.dialogue.extractors``, ``convrec.dialogue.numbers`` or
``convrec.dialogue.lexicon``): it
is :class:`~convrec.evaluation.msgcheck.MessageCheck`, the reader written for simulated users'
messages, plus two checks of its own:

- **named values, years, amounts** (MessageCheck): a catalog value (genre, person, maker,
  language, carrier…) the item holds in none of its fields, a year or decade it is not from, an
  amount with a unit (minutes, GB, inches, cores, GHz) it does not have. A value right after a
  negation ("no horror") is no claim; titles (the item's own, and ``allowed`` ones such as the
  titles the user liked) are blanked first;
- **quotes**: every phrase in double quotes must appear in the item's title, description or
  fields;
- **other numbers**: a number that is neither part of a year nor of an amount with a unit
  ("Android 2.3", "rated 3.7", "12 MP", "1080x1920") must be one of the item's numbers: its
  numeric fields, or a number written in its description or text fields (as written, or rounded
  to the digits the text gives: 3.18 reads as "3.2"). Ordinals and the scale of "out of 5" are
  not claims.

:func:`independent_verdict` returns ``(ok, problems)``, e.g. ``(False, ["genres: horror",
'quote: "a timeless classic"', "number: 12"])``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from convrec.evaluation.msgcheck import AMOUNT_RE, CORES_RE, YEAR_RE, MessageCheck, fold

if TYPE_CHECKING:
    from convrec.types import Item

_QUOTE = re.compile(r"\"([^\"]+)\"|“([^”]+)”")
# A number not glued to a word on its left ("S4", "A10" are model names), not an ordinal.
_NUMBER = re.compile(r"(?<![A-Za-z\d.,])(\d+(?:\.\d+)?)(?!\d|\.\d|st\b|nd\b|rd\b|th\b)")
_SIZE = re.compile(r"\b(\d+)\s*[x×]\s*(\d+)\b")  # a resolution: both numbers are claims
_SCALE = re.compile(r"\bout of\s*$")


def _fields_text(item: Item) -> str:
    """The item's title, description, category, date and every field value, as one text."""
    parts = [item.title, item.description, item.category, item.date or ""]
    for value in item.attributes.values():
        parts.extend(str(v) for v in (value if isinstance(value, tuple | list) else (value,)))
    if item.price is not None:
        parts.append(f"{item.price:g}")
    return " ".join(parts)


def _held_numbers(item: Item) -> list[float]:
    """The item's numbers: numeric fields, price, and numbers written in its text fields."""
    held = [
        float(v)
        for v in item.attributes.values()
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    if item.price is not None:
        held.append(float(item.price))
    held += [float(n) for n in re.findall(r"\d+(?:\.\d+)?", _fields_text(item))]
    return held


def _holds(held: Sequence[float], said: str) -> bool:
    """``said`` is one of ``held``, exactly or rounded to the decimals ``said`` gives."""
    value = float(said)
    digits = len(said.split(".")[1]) if "." in said else 0
    return any(abs(h - value) < 1e-9 or round(h, digits) == value for h in held)


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def quote_problems(text: str, item: Item, allowed: Sequence[str] = ()) -> list[str]:
    """Quoted phrases that are in neither the item's fields nor ``allowed`` (titles)."""
    where = fold(" ".join([_fields_text(item), *allowed]))
    where = re.sub(r"\s+", " ", where)
    out = []
    for m in _QUOTE.finditer(text):
        phrase = re.sub(r"\s+", " ", fold(m.group(1) or m.group(2))).strip(" .,;:!?'")
        if phrase and phrase not in where:
            out.append(f'quote: "{phrase}"')
    return out


def number_problems(text: str, item: Item) -> list[str]:
    """Numbers that are neither years nor unit amounts and that the item does not hold."""
    low = fold(text)
    # Years, decades and amounts with units are MessageCheck's: blanked here, not read twice.
    low = _blank(low, [m.span() for p in (YEAR_RE, AMOUNT_RE, CORES_RE) for m in p.finditer(low)])
    held = _held_numbers(item)
    out = []
    for m in _SIZE.finditer(low):
        if not (_holds(held, m.group(1)) and _holds(held, m.group(2))):
            out.append(f"number: {m.group(0)}")
    low = _blank(low, [m.span() for m in _SIZE.finditer(low)])
    for m in _NUMBER.finditer(low):
        if _SCALE.search(low[: m.start()]):
            continue  # "3.7 out of 5": the 5 is the scale
        if not _holds(held, m.group(1)):
            out.append(f"number: {m.group(1)}")
    return out


def independent_verdict(
    text: str, item: Item, catalog_check: MessageCheck, allowed: Sequence[str] = ()
) -> tuple[bool, list[str]]:
    """``(ok, problems)``: what ``text`` claims about ``item`` that the item's fields do not
    support. ``allowed`` are other titles the text may name (e.g. the ones the user liked)."""
    titles = [t for t in (item.title, *allowed) if t]
    blanked = text
    for title in sorted(titles, key=len, reverse=True):
        blanked = re.sub(re.escape(title), " ", blanked, flags=re.IGNORECASE)
    problems = list(catalog_check.clashes(text, item, titles))
    problems += quote_problems(text, item, titles)
    problems += number_problems(blanked, item)
    problems = list(dict.fromkeys(problems))
    return not problems, problems


__all__ = ["independent_verdict", "number_problems", "quote_problems"]
