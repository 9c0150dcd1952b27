"""Merging the LLM's grounded reading into the rules' delta, by explicit rules.

The rules, in order:

1. The rules' delta is the base and is never weakened: every constraint, preference, release,
   relative bound, item id, ``reset`` and ``insist`` it found stays as it is.
2. Rules win on numbers: an LLM bound on an attribute the rules already bound (or bound
   relatively) is ignored; other LLM bounds need their number in the message.
3. Rules win on negation: a value the rules found keeps the rules' polarity. The LLM may only
   add values the rules did not see at all (typos, paraphrases). An LLM value with the opposite
   polarity of the rules' is a *contradiction* (below).
4. LLM values follow the rules' conventions: a wanted list value (genre, person) is a soft like,
   a wanted scalar value (maker, os, category) a hard ``eq``; an excluded value is a hard ``ne``;
   a dislike is soft.
5. Rules win on item ids: LLM titles go through the catalog title matcher and are added only for
   items the rules did not place. Strings are never ids.
6. Intent: the rules' intent, unless the rules found no cue (``chitchat``) and the LLM added
   something grounded; then the LLM's (``recommend``/``refine`` if it said ``chitchat``), except
   ``reset``, which only a reset cue in the text can trigger. An LLM intent with nothing
   grounded behind it ("hi!" → ``recommend``) is ignored.

Any contradiction raises :class:`Contradiction`; the caller then uses the rules' delta alone.
"""

from __future__ import annotations

from dataclasses import replace

from convrec.dialogue.grounding import Grounder, Reading
from convrec.dialogue.state import Constraint, Intent, Pref, StateDelta


def _polarities(rules: StateDelta) -> dict[tuple[str, str], str]:
    """(attribute, folded value) → "+", "-" or "0" (released) for every value the rules placed."""
    out: dict[tuple[str, str], str] = {}
    for c in rules.add:
        if c.op in ("eq", "in", "ne", "nin"):
            for v in c.values():
                out[(c.attribute, str(v).lower())] = "+" if c.op in ("eq", "in") else "-"
    out |= {(p.attribute, p.value.lower()): "+" for p in rules.like}
    out |= {(p.attribute, p.value.lower()): "-" for p in rules.dislike}
    out |= {(r.attribute, (r.value or "").lower()): "0" for r in rules.release}
    return out


class Contradiction(Exception):
    """The LLM's reading gives a value the opposite polarity of the rules'."""


def merge(rules: StateDelta, reading: Reading, g: Grounder, refining: bool) -> StateDelta:
    """The rules' delta plus what the grounded reading adds (rules in the module docstring);
    raises :class:`Contradiction`."""
    seen = _polarities(rules)
    bound = {c.attribute for c in rules.add if c.op in ("gte", "lte")}
    bound |= {r.attribute for r in rules.relative}
    add: list[Constraint] = []
    like: list[Pref] = []
    dislike: list[Pref] = []

    def place(ref_attr: str, value: str | bool, multi: bool, sign: str, soft: bool) -> None:
        key = (ref_attr, str(value).lower())
        if key in seen:
            if seen[key] != "0" and seen[key] != sign:
                raise Contradiction(f"{ref_attr}={value}: rules {seen[key]}, llm {sign}")
            return
        seen[key] = sign
        if sign == "-":
            if soft and not isinstance(value, bool):
                dislike.append(Pref(ref_attr, str(value)))
            else:
                add.append(Constraint(ref_attr, "ne", value, multi=multi))
        elif multi:
            like.append(Pref(ref_attr, str(value)))
        else:
            add.append(Constraint(ref_attr, "eq", value))

    for name, op, value in reading.constraints:
        attr = g.attribute(name)
        if attr is None:
            g.drop(f"unknown attribute {name!r}")
        elif op in ("gte", "lte"):
            if attr not in g.lex.numeric or not isinstance(value, int | float):
                g.drop(f"bound on a non-numeric attribute: {name} {op} {value!r}")
            elif attr not in bound and g.number(float(value)):
                v = round(value) if g.lex.numeric[attr] is int else float(value)
                add.append(Constraint(attr, "gte" if op == "gte" else "lte", v))
        elif (ref := g.value(str(value), attr)) is not None:
            place(ref.attribute, ref.value, ref.multi, "+" if op == "eq" else "-", soft=False)
    for text in reading.likes:
        if (ref := g.value(text)) is not None:
            place(ref.attribute, ref.value, ref.multi, "+", soft=False)
    for text in reading.dislikes:
        if (ref := g.value(text)) is not None:
            place(ref.attribute, ref.value, ref.multi, "-", soft=True)
    # a wish whose words the rules already read as a wish adds nothing ("sleek", "quiet" beside
    # the rules' "sleek quiet")
    read = {word for phrase in rules.wishes for word in phrase.split()}
    wishes = [w for w in (g.wish(t) for t in reading.wishes) if w and not set(w.split()) <= read]
    placed = {*rules.liked_items, *rules.disliked_items, *rules.seen_items, *rules.rejected,
              *rules.mentioned, *rules.ambiguous}  # fmt: skip
    items: dict[str, list[str]] = {"liked": [], "disliked": [], "rejected": []}
    for role, titles in (("liked", reading.liked_titles), ("disliked", reading.disliked_titles),
                         ("rejected", reading.rejected_titles)):  # fmt: skip
        for t in titles:
            item_id = g.title(t)
            if item_id is not None and item_id not in placed:
                items[role].append(item_id)
                placed.add(item_id)
    intent: Intent | None = rules.intent
    gained = bool(add or like or dislike or wishes or any(items.values()))
    if rules.intent in (None, "chitchat") and gained:
        intent = "refine" if refining else "recommend"
        if reading.intent not in (None, "reset", "chitchat"):
            intent = reading.intent  # type: ignore[assignment]
    return replace(
        rules,
        intent=intent,
        add=(*rules.add, *add),
        like=(*rules.like, *like),
        dislike=(*rules.dislike, *dislike),
        wishes=(*rules.wishes, *dict.fromkeys(wishes)),
        liked_items=(*rules.liked_items, *items["liked"]),
        disliked_items=(*rules.disliked_items, *items["disliked"]),
        rejected=(*rules.rejected, *items["rejected"]),
    )


__all__ = ["Contradiction", "merge"]
