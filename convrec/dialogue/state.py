"""Stage 2: the dialogue state and the pure reducer ``apply(state, delta) -> DialogueState``.

The state is rebuilt from nothing but its previous value and one turn's :class:`StateDelta`, so it
can be tested without models and replayed from a log. Conflict rules (change of mind) live here:

- liking a value drops its exclusions and dislikes; excluding or disliking a value drops its likes
  and any hard ``eq``/``in`` constraint that requires it;
- a ``Release`` (``"I don't mind horror"``, ``"price doesn't matter"``) drops every constraint and
  soft preference on that value (or on the whole attribute when the value is None);
- a new bound replaces the bound of the same attribute and direction, and an opposite bound that
  it would leave no room with ("from the 90s", then "after 2005": the 1999 ceiling goes); a
  ``Relative`` bound (``"cheaper than that"``) only ever tightens;
- ``reset`` clears everything before the rest of the delta applies ("start over, a comedy").
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

from convrec.catalog.schema import flag_key, norm_value
from convrec.errors import InputError

if TYPE_CHECKING:
    from convrec.dialogue.questions import ItemQuestion
    from convrec.types import Item

Intent: TypeAlias = Literal[
    "recommend", "refine", "ask_item", "compare", "feedback", "chitchat", "reset"
]
Op: TypeAlias = Literal["eq", "ne", "in", "nin", "gte", "lte"]
Value: TypeAlias = str | int | float | bool | tuple[str, ...]
INTENTS: tuple[str, ...] = get_args(Intent)
OPS: tuple[str, ...] = get_args(Op)
_CHROMA_OP = {"eq": "$eq", "ne": "$ne", "in": "$in", "nin": "$nin", "gte": "$gte", "lte": "$lte"}


@dataclass(frozen=True)
class Constraint:
    """A hard filter on one metadata key (see ``convrec.catalog.schema.item_metadata``).

    ``multi`` marks a list attribute (genres, cast): its values live in per-value flags
    (``genres_horror = True``), so ``eq``/``ne``/``in``/``nin`` become filters on those flags.
    ``strict`` makes a bound leave its own value out: "under 90 minutes" is ``lte 90, strict``.
    ``said`` is false for a bound the user never typed as a number (a size word's quartile,
    "a big screen"; a comparison with a shown item, "cheaper than that"): an explanation
    then never quotes it as what was asked. ``relaxed`` marks a bound moved because nothing
    met the one asked for (:mod:`convrec.ranking.relax`): no explanation calls it asked for.
    Neither takes part in equality.
    """

    attribute: str
    op: Op
    value: Value
    multi: bool = False
    strict: bool = False
    said: bool = field(default=True, compare=False)
    relaxed: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise InputError(f"Unknown constraint op {self.op!r}. Fix: use one of {OPS}.")
        if self.op in ("in", "nin") and not isinstance(self.value, tuple):
            object.__setattr__(self, "value", (self.value,))
        if self.strict and self.op not in ("gte", "lte"):
            raise InputError(f"Only a bound can be strict, not {self.op!r}. Fix: strict=False.")
        if self.op in ("gte", "lte") and not isinstance(self.value, int | float):
            raise InputError(
                f"Bound {self.attribute} {self.op} needs a number, not {self.value!r}. "
                "Fix: pass an int or a float."
            )

    def values(self) -> tuple[Any, ...]:
        return self.value if isinstance(self.value, tuple) else (self.value,)


@dataclass(frozen=True)
class Pref:
    """A soft preference: an attribute value the user likes or dislikes (boosts, not filters)."""

    attribute: str
    value: str


@dataclass(frozen=True)
class Release:
    """Forget constraints and preferences on ``value`` of ``attribute`` (all values when None)."""

    attribute: str
    value: str | None = None


@dataclass(frozen=True)
class Relative:
    """A bound relative to a shown value: ``below`` → ``lte reference·(1−margin)``, ``above`` →
    ``gte reference·(1+margin)``; an ``int`` reference (a year) moves by exactly 1 instead."""

    attribute: str
    direction: Literal["below", "above"]
    reference: float | int
    margin: float = 0.05


@dataclass(frozen=True)
class StateDelta:
    """What one user turn changes. Empty tuples mean "no change"."""

    intent: Intent | None = None
    reset: bool = False
    insist: bool = False  # the user wants results now ("just show me something")
    add: tuple[Constraint, ...] = ()
    release: tuple[Release, ...] = ()
    relative: tuple[Relative, ...] = ()
    like: tuple[Pref, ...] = ()
    dislike: tuple[Pref, ...] = ()
    wishes: tuple[str, ...] = ()  # free text: mood, visual style ("a white one")
    liked_items: tuple[str, ...] = ()
    disliked_items: tuple[str, ...] = ()
    seen_items: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    mentioned: tuple[str, ...] = ()  # items the message refers to (ask_item, compare)
    ambiguous: tuple[str, ...] = ()  # candidate ids of one title that matched several items
    asked: tuple[str, ...] = ()  # attributes the system asked about this turn
    question: ItemQuestion | None = None  # a question about shown items (ask_item, compare)


@dataclass(frozen=True)
class DialogueState:
    """Everything the system knows about the current conversation."""

    intent: Intent = "chitchat"
    insist: bool = False
    constraints: tuple[Constraint, ...] = ()
    liked: tuple[Pref, ...] = ()
    disliked: tuple[Pref, ...] = ()
    wishes: tuple[str, ...] = ()
    liked_items: tuple[str, ...] = ()
    disliked_items: tuple[str, ...] = ()
    seen_items: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    mentioned: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    asked: tuple[str, ...] = ()
    question_count: int = 0
    turns: int = 0
    # The turn whose message last changed the subject (named a new liked item or value), and
    # the liked values stated before it: the ranking weighs those values and the earlier
    # messages less ("a family cartoon", then "I loved Inception": Inception rules the list).
    subject_turn: int = 0
    stale: tuple[Pref, ...] = ()
    # The liked items that changed the subject: a stale value they hold is still wanted ("I
    # like Tom Hanks", then "I loved Big": Hanks is no earlier subject).
    subject_items: tuple[str, ...] = ()

    def known_attributes(self) -> frozenset[str]:
        """Attributes with a constraint or a soft preference (the policy does not ask these)."""
        names = {c.attribute for c in self.constraints}
        return frozenset(names | {p.attribute for p in (*self.liked, *self.disliked)})

    def evidence(self) -> int:
        """How much the user has told us of their taste: preferences, liked and disliked items
        and wishes."""
        return (
            len(self.liked)
            + len(self.disliked)
            + len(self.liked_items)
            + len(self.disliked_items)
            + len(self.wishes)
        )

    def hidden_items(self) -> frozenset[str]:
        """Item ids never shown again unless asked for: rejected, disliked and already seen."""
        return frozenset((*self.rejected, *self.disliked_items, *self.seen_items))


def _add(old: tuple[Any, ...], new: tuple[Any, ...]) -> tuple[Any, ...]:
    """Append ``new`` to ``old`` keeping first-seen order and no duplicates."""
    return tuple(dict.fromkeys((*old, *new)))


def _touches(c: Constraint, attribute: str, value: str | None) -> bool:
    if c.attribute != attribute:
        return False
    return value is None or any(str(v).lower() == value.lower() for v in c.values())


def _without(c: Constraint, value: str) -> Constraint | None:
    """``c`` with ``value`` removed from its value set (None when nothing is left)."""
    keep = tuple(v for v in c.values() if str(v).lower() != value.lower())
    if not keep:
        return None
    return replace(c, value=keep) if c.op in ("in", "nin") else c


def _drop_value(
    cs: tuple[Constraint, ...], attribute: str, value: str | None, ops: tuple[str, ...] = OPS
) -> tuple[Constraint, ...]:
    out: list[Constraint] = []
    for c in cs:
        if c.op in ops and _touches(c, attribute, value):
            rest = None if value is None else _without(c, value)
            if rest is not None and rest != c:
                out.append(rest)
            continue
        out.append(c)
    return tuple(out)


def _drop_prefs(prefs: tuple[Pref, ...], attribute: str, value: str | None) -> tuple[Pref, ...]:
    return tuple(
        p
        for p in prefs
        if not (p.attribute == attribute and (value is None or p.value.lower() == value.lower()))
    )


def _bound(rel: Relative) -> Constraint:
    below = rel.direction == "below"
    op: Op = "lte" if below else "gte"
    if isinstance(rel.reference, int) and not isinstance(rel.reference, bool):
        return Constraint(rel.attribute, op, rel.reference + (-1 if below else 1), said=False)
    factor = 1 - rel.margin if below else 1 + rel.margin
    return Constraint(rel.attribute, op, round(rel.reference * factor, 4), said=False)


def _tighter(old: Constraint, new: Constraint) -> Constraint:
    a, b = float(old.value), float(new.value)  # type: ignore[arg-type]
    if a == b:
        return new if new.strict or not old.strict else old
    return new if (b < a if new.op == "lte" else b > a) else old


def _merge_constraints(
    cs: tuple[Constraint, ...], new: Constraint, tighten_only: bool = False
) -> tuple[Constraint, ...]:
    """Add ``new``: a bound or a scalar ``eq``/``in`` replaces the one on the same attribute."""
    if new.op in ("ne", "nin"):
        for v in new.values():
            cs = _drop_value(cs, new.attribute, str(v), ops=("eq", "in"))
        return _add(cs, (new,))
    if new.op in ("eq", "in"):
        for v in new.values():
            cs = _drop_value(cs, new.attribute, str(v), ops=("ne", "nin"))
        if new.multi:
            return _add(cs, (new,))
        same: tuple[str, ...] = ("eq", "in")
    else:
        same = (new.op,)
    old = next((c for c in cs if c.attribute == new.attribute and c.op in same), None)
    if old is not None and tighten_only and new.op in ("gte", "lte"):
        new = _tighter(old, new)
    rest = tuple(c for c in cs if not (c.attribute == new.attribute and c.op in same))
    if new.op in ("gte", "lte"):  # a change of mind: the old opposite bound would leave nothing
        rest = tuple(c for c in rest if not _crosses(c, new))
    return (*rest, new)


def _crosses(old: Constraint, new: Constraint) -> bool:
    """``old`` is the opposite bound on ``new``'s attribute and the two leave an empty range."""
    if old.attribute != new.attribute or {old.op, new.op} != {"gte", "lte"}:
        return False
    low, high = (old, new) if old.op == "gte" else (new, old)
    lo, hi = float(low.value), float(high.value)  # type: ignore[arg-type]
    return lo > hi or (lo == hi and (low.strict or high.strict))


def soften(delta: StateDelta, derived: Collection[str]) -> StateDelta:
    """``delta`` with what it says of ``derived`` attributes (read from photos, so never certain)
    as soft preferences: a wanted value is liked, an excluded one disliked, and a newly liked
    value replaces the one liked before ("a red phone", then "in blue")."""
    if not derived:
        return delta
    soft = [c for c in delta.add if c.attribute in derived]
    if not soft and not any(p.attribute in derived for p in delta.like):
        return delta
    like, dislike = list(delta.like), list(delta.dislike)
    for c in soft:
        into = dislike if c.op in ("ne", "nin") else like
        into.extend(Pref(c.attribute, str(v)) for v in c.values())
    renewed = {p.attribute for p in like if p.attribute in derived}
    return replace(
        delta,
        add=tuple(c for c in delta.add if c.attribute not in derived),
        release=(*delta.release, *(Release(a) for a in sorted(renewed))),
        like=tuple(dict.fromkeys(like)),
        dislike=tuple(dict.fromkeys(dislike)),
    )


def apply(state: DialogueState, delta: StateDelta) -> DialogueState:
    """The state after one turn: a pure function of the previous state and the turn's delta."""
    s = DialogueState() if delta.reset else state
    cs, liked, disliked = s.constraints, s.liked, s.disliked
    for r in delta.release:
        cs = _drop_value(cs, r.attribute, r.value)
        liked = _drop_prefs(liked, r.attribute, r.value)
        disliked = _drop_prefs(disliked, r.attribute, r.value)
    for c in delta.add:
        cs = _merge_constraints(cs, c)
        if c.op in ("ne", "nin"):
            for v in c.values():
                liked = _drop_prefs(liked, c.attribute, str(v))
        elif c.op in ("eq", "in"):
            for v in c.values():
                disliked = _drop_prefs(disliked, c.attribute, str(v))
    for rel in delta.relative:
        cs = _merge_constraints(cs, _bound(rel), tighten_only=True)
    excluded = {(c.attribute, str(v).lower()) for c in delta.add if c.op in ("ne", "nin")
                for v in c.values()}  # fmt: skip
    for p in delta.like:
        # "a Wes Anderson feel, but not by him": the like is his style, his films stay out
        if (p.attribute, p.value.lower()) not in excluded:
            cs = _drop_value(cs, p.attribute, p.value, ops=("ne", "nin"))
        disliked = _drop_prefs(disliked, p.attribute, p.value)
        liked = _add(_drop_prefs(liked, p.attribute, p.value), (p,))
    for p in delta.dislike:
        liked = _drop_prefs(liked, p.attribute, p.value)
        disliked = _add(_drop_prefs(disliked, p.attribute, p.value), (p,))
    liked_items = tuple(i for i in s.liked_items if i not in delta.disliked_items)
    disliked_items = tuple(i for i in s.disliked_items if i not in delta.liked_items)
    new_asked = tuple(a for a in dict.fromkeys(delta.asked) if a not in s.asked)
    new_items = tuple(i for i in delta.liked_items if i not in s.liked_items)
    shift = bool(new_items or set(delta.like) - set(s.liked))
    older = set(s.liked) | set(s.stale) if shift else set(s.stale)
    stale = tuple(p for p in liked if p in older and p not in delta.like)  # restated: fresh
    return DialogueState(
        intent=delta.intent or ("reset" if delta.reset else s.intent),
        insist=delta.insist,
        constraints=cs,
        liked=liked,
        disliked=disliked,
        wishes=_add(s.wishes, delta.wishes),
        liked_items=_add(liked_items, delta.liked_items),
        disliked_items=_add(disliked_items, delta.disliked_items),
        seen_items=_add(s.seen_items, delta.seen_items),
        rejected=_add(s.rejected, delta.rejected),
        mentioned=delta.mentioned,
        ambiguous=delta.ambiguous,
        asked=(*s.asked, *new_asked),
        question_count=s.question_count + len(new_asked),
        turns=s.turns + 1,
        subject_turn=s.turns + 1 if shift else s.subject_turn,
        stale=stale,
        subject_items=new_items if shift else s.subject_items,
    )


def _clause(c: Constraint) -> dict[str, Any] | None:
    """One Chroma clause for ``c`` (None for an empty value set)."""
    if c.multi:  # list attribute: filter on the per-value flags item_metadata writes
        flags = [flag_key(c.attribute, str(v)) for v in c.values()]
        parts: list[dict[str, Any]]
        if c.op in ("eq", "in"):
            parts = [{f: True} for f in flags]
            return parts[0] if len(parts) == 1 else {"$or": parts}
        if c.op in ("ne", "nin"):  # $ne also keeps items that lack the flag
            parts = [{f: {"$ne": True}} for f in flags]
            return parts[0] if len(parts) == 1 else {"$and": parts}
    if c.op in ("in", "nin"):
        vals = list(c.values())
        if not vals:
            return None
        return {c.attribute: {_CHROMA_OP[c.op]: vals}}
    op = {"gte": "$gt", "lte": "$lt"}[c.op] if c.strict else _CHROMA_OP[c.op]
    return {c.attribute: {op: c.value}}


def to_where(state: DialogueState, flagged: Collection[str] | None = None) -> dict[str, Any] | None:
    """The Chroma ``where`` for the hard constraints; ``$and`` only for two or more clauses.

    ``flagged`` names the list attributes the index holds per-value flags for (all when None);
    constraints on other list attributes are left out here (see :func:`unflagged`).
    """
    kept = [
        c for c in state.constraints if not c.multi or flagged is None or c.attribute in flagged
    ]
    clauses = [w for w in (_clause(c) for c in kept) if w is not None]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def unflagged(state: DialogueState, flagged: Collection[str]) -> tuple[Constraint, ...]:
    """The constraints :func:`to_where` leaves out: list attributes the index holds no flags for."""
    return tuple(c for c in state.constraints if c.multi and c.attribute not in flagged)


def field_value(item: Item, name: str) -> object:
    """The value a constraint on ``name`` sees: an attribute, or category/price/popularity/date
    (the metadata keys :func:`~convrec.catalog.schema.item_metadata` writes for them)."""
    if name in item.attributes:
        return item.attributes[name]
    if name.startswith("attr_") and name[5:] in item.attributes:
        return item.attributes[name[5:]]
    if name in ("category", "price", "popularity", "date"):
        value = getattr(item, name)
        return value if value not in ("", None) else None
    return None


def holds(c: Constraint, value: object) -> bool:
    """Whether an item whose attribute is ``value`` (None when missing) satisfies ``c``; list
    values match case- and punctuation-insensitively, like the flags do."""
    if c.multi or isinstance(value, tuple):
        have = {norm_value(v) for v in (value if isinstance(value, tuple) else (value,)) if v}
        want = {norm_value(v) for v in c.values()}
        hit = bool(have & want)  # any value, as the ``$or`` of flags in :func:`_clause`
        return hit if c.op in ("eq", "in") else not hit
    if value is None:
        return c.op in ("ne", "nin")
    if c.op == "eq":
        return bool(value == c.value)
    if c.op == "ne":
        return bool(value != c.value)
    if c.op == "in":
        return value in c.values()
    if c.op == "nin":
        return value not in c.values()
    try:
        bound = float(c.value)  # type: ignore[arg-type]
        x = float(value)  # type: ignore[arg-type]
        if c.strict:
            return x > bound if c.op == "gte" else x < bound
        return x >= bound if c.op == "gte" else x <= bound
    except (TypeError, ValueError):
        return False


def to_json(state: DialogueState) -> str:
    """A JSON string of ``state`` (tuples as lists); :func:`from_json` restores it exactly."""
    return json.dumps(asdict(state), sort_keys=True)


def _constraint(d: dict[str, Any]) -> Constraint:
    value = d["value"]
    return Constraint(d["attribute"], d["op"], tuple(value) if isinstance(value, list) else value,
                      bool(d.get("multi", False)), bool(d.get("strict", False)),
                      bool(d.get("said", True)), bool(d.get("relaxed", False)))  # fmt: skip


def from_json(text: str) -> DialogueState:
    """Rebuild a state written by :func:`to_json`; unknown keys are an error (with the fix)."""
    try:
        data = json.loads(text)
        known = set(DialogueState.__dataclass_fields__)
        if set(data) - known:
            raise InputError(
                f"Stored state has unknown keys {sorted(set(data) - known)}. Fix: the state was "
                "written by another convrec version; start a new session."
            )
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key == "constraints":
                out[key] = tuple(_constraint(c) for c in value)
            elif key in ("liked", "disliked", "stale"):
                out[key] = tuple(Pref(**p) for p in value)
            else:
                out[key] = tuple(value) if isinstance(value, list) else value
        return DialogueState(**out)
    except (ValueError, TypeError, KeyError) as e:
        raise InputError(
            f"Stored dialogue state is not valid ({e}). Fix: start a new session."
        ) from e


__all__ = [
    "Constraint",
    "DialogueState",
    "Intent",
    "Pref",
    "Relative",
    "Release",
    "StateDelta",
    "apply",
    "from_json",
    "holds",
    "to_json",
    "to_where",
    "unflagged",
]
