"""When no item meets every hard constraint: relax the least certain one, and say which.

A number gives way first (an earlier turn's, then this one's), moved to the nearest value the
catalog has with everything else kept ("a Samsung with 16 GB of RAM": the
Samsungs with the most RAM; "a newer one" than the newest Sony: the newest Sonys); then a value
the user stated in an earlier turn (the newest request wins: "a Sharp Android phone", then "make
it an Apple" keeps Apple and lets Android go), then this turn's, the last stated first. A value
is dropped. Pure: items and states in, states out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from convrec.dialogue.state import Constraint, DialogueState, field_value, holds

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.types import Item, Recommendation

# How a bound reads in the note ("at least 16 GB of RAM").
_UNITS = {"ram_gb": "GB of RAM", "storage_gb": "GB of storage", "screen_inches": "-inch screen",
          "runtime_min": "minutes", "cpu_ghz": "GHz", "cores": "cores", "price": ""}  # fmt: skip


@dataclass(frozen=True)
class Relaxed:
    """A state that some items satisfy, and the note that says what was given up."""

    state: DialogueState
    note: str


def relaxations(state: DialogueState, fresh: Sequence[Constraint], catalog: Catalog
                ) -> Iterator[Relaxed]:  # fmt: skip
    """States with one constraint of ``state`` relaxed, least certain first (``fresh``: the
    constraints this turn stated). Only states that some catalog item satisfies."""
    older = [c for c in state.constraints if c not in fresh]
    newer = [c for c in reversed(state.constraints) if c in fresh]
    # a number is the likeliest miss, and moving it keeps the rest ("a newer one" than the
    # newest Sony: the newest Sonys, not another maker)
    numbers = [c for c in (*older, *newer) if c.op in ("gte", "lte")]
    for c in [*numbers, *(c for c in (*older, *newer) if c not in numbers)]:
        rest = tuple(x for x in state.constraints if x != c)
        fits = [it for it in catalog.items
                if all(holds(x, field_value(it, x.attribute)) for x in rest)]  # fmt: skip
        if not fits:
            continue
        nearest = _nearest(c, fits)
        kept = (*rest, nearest) if nearest is not None else rest
        if nearest is not None and not any(holds(nearest, field_value(it, c.attribute))
                                           for it in fits):  # fmt: skip
            continue
        yield Relaxed(replace(state, constraints=kept), _note(c, nearest))


def _nearest(c: Constraint, fits: Sequence[Item]) -> Constraint | None:
    """``c`` moved to the nearest value the items that meet the rest hold (None: drop it)."""
    if c.op not in ("gte", "lte") or isinstance(c.value, bool):
        return None
    values = [v for it in fits if isinstance(v := field_value(it, c.attribute), int | float)
              and not isinstance(v, bool)]  # fmt: skip
    if not values:
        return None
    edge = max(values) if c.op == "gte" else min(values)
    return Constraint(c.attribute, c.op, edge, said=False, relaxed=True)  # asked: c.value


def _note(c: Constraint, nearest: Constraint | None) -> str:
    asked = _label(c)
    if nearest is None:
        return (
            f"Nothing here has {asked} as well as the rest of what you asked, so I left that out."
        )
    side = "most" if c.op == "gte" else "least"
    if c.attribute in ("year", "release_year"):
        side = "newest" if c.op == "gte" else "oldest"
        return f"Nothing here is {asked} as well as the rest; these are the {side} that are."
    return (f"Nothing here has {asked} as well as the rest; these come closest, "
            f"with the {side} ({_amount(nearest)}).")  # fmt: skip


def _label(c: Constraint) -> str:
    if c.attribute in ("year", "release_year") and c.op in ("gte", "lte"):
        return f"from {c.value} or {'later' if c.op == 'gte' else 'earlier'}"
    if c.op in ("gte", "lte"):
        bound = (
            ("more than" if c.strict else "at least")
            if c.op == "gte"
            else ("under" if c.strict else "at most")
        )
        return f"{bound} {_amount(c)}"
    if c.op in ("eq", "in"):
        return f"{c.attribute.replace('_', ' ')} {' or '.join(map(str, c.values()))}"
    return f"no {c.attribute.replace('_', ' ')} {' or '.join(map(str, c.values()))}"


def _amount(c: Constraint) -> str:
    value = f"{c.value:g}" if isinstance(c.value, float) else str(c.value)
    unit = _UNITS.get(c.attribute, c.attribute.replace("_", " "))
    if unit.startswith("-"):
        return f"a {value}{unit}"
    return f"{value} {unit}".strip()


def relaxed_ranking(
    state: DialogueState,
    fresh: Sequence[Constraint],
    catalog: Catalog,
    rank: Callable[[DialogueState], list[Recommendation]],
) -> tuple[DialogueState, list[Recommendation], str | None]:
    """The first of :func:`relaxations` whose ranking (``rank``) shows something: its state,
    ranking and note; ``state``, no items and None when no relaxation leaves anything."""
    for relaxed in relaxations(state, fresh, catalog):
        recs = rank(relaxed.state)
        if recs:
            return relaxed.state, recs, relaxed.note
    return state, [], None
