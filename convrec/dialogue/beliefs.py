"""What the system believes about a user, as the preference panel shows it, and the pure edits of
beliefs and long-term profiles that the facade applies (forgetting a wrong belief, editing a
profile, seeding a new session from the profile)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from convrec.dialogue.state import Constraint, DialogueState, Pref
from convrec.sessions import Profile, merge_profile

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog

_OPS = {"eq": "is", "ne": "is not", "in": "is one of", "nin": "is none of",
        "gte": "at least", "lte": "at most"}  # fmt: skip


@dataclass(frozen=True)
class Belief:
    """One thing the system believes about the user, as the preference panel shows it.

    ``key`` identifies it for :meth:`ConvRec.forget_beliefs`."""

    key: str
    kind: Literal["constraint", "like", "dislike", "liked item", "disliked item", "wish"]
    label: str


def beliefs(state: DialogueState, catalog: Catalog) -> list[Belief]:
    """Every belief ``state`` holds, each once."""

    def title(i: str) -> str:
        item = catalog.get(i)
        return item.title if item else i

    out = [Belief(_constraint_key(c), "constraint", _constraint_label(c))
           for c in state.constraints]  # fmt: skip
    out += [Belief(f"l:{p.attribute}:{p.value}", "like", f"likes {p.attribute} {p.value}")
            for p in state.liked]  # fmt: skip
    out += [Belief(f"d:{p.attribute}:{p.value}", "dislike", f"dislikes {p.attribute} {p.value}")
            for p in state.disliked]  # fmt: skip
    out += [Belief(f"li:{i}", "liked item", f"liked {title(i)}") for i in state.liked_items]
    out += [Belief(f"di:{i}", "disliked item", f"disliked {title(i)}")
            for i in (*state.disliked_items, *state.rejected)]  # fmt: skip
    out += [Belief(f"w:{w}", "wish", f"wants {w}") for w in state.wishes]
    return list({b.key: b for b in out}.values())


def without_beliefs(state: DialogueState, keys: set[str]) -> DialogueState:
    """``state`` minus the beliefs whose keys are in ``keys`` (see :func:`beliefs`)."""
    return replace(
        state,
        constraints=tuple(c for c in state.constraints if _constraint_key(c) not in keys),
        liked=tuple(p for p in state.liked if f"l:{p.attribute}:{p.value}" not in keys),
        disliked=tuple(p for p in state.disliked if f"d:{p.attribute}:{p.value}" not in keys),
        liked_items=tuple(i for i in state.liked_items if f"li:{i}" not in keys),
        disliked_items=tuple(i for i in state.disliked_items if f"di:{i}" not in keys),
        rejected=tuple(i for i in state.rejected if f"di:{i}" not in keys),
        wishes=tuple(w for w in state.wishes if f"w:{w}" not in keys),
    )


def profile_without(profile: Profile, keys: set[str]) -> Profile:
    """``profile`` minus the beliefs whose keys are in ``keys``."""
    as_state = DialogueState(
        liked=profile.liked,
        disliked=profile.disliked,
        liked_items=profile.liked_items,
        disliked_items=profile.disliked_items,
    )
    s = without_beliefs(as_state, keys)
    return replace(
        profile,
        liked=s.liked,
        disliked=s.disliked,
        liked_items=s.liked_items,
        disliked_items=s.disliked_items,
    )


def edit_profile(
    profile: Profile,
    *,
    like_items: Iterable[str] = (),
    dislike_items: Iterable[str] = (),
    like: Iterable[tuple[str, str]] = (),
    dislike: Iterable[tuple[str, str]] = (),
    remove_items: Iterable[str] = (),
    remove: Iterable[tuple[str, str]] = (),
) -> Profile:
    """``profile`` with items and (attribute, value) pairs added or removed; a newer opinion
    replaces the opposite one."""
    as_state = DialogueState(
        liked_items=tuple(like_items),
        disliked_items=tuple(dislike_items),
        liked=tuple(Pref(a, v) for a, v in like),
        disliked=tuple(Pref(a, v) for a, v in dislike),
    )
    gone_items, gone = set(remove_items), {Pref(a, v) for a, v in remove}
    p = merge_profile(profile, as_state)
    return replace(
        p,
        liked_items=tuple(i for i in p.liked_items if i not in gone_items),
        disliked_items=tuple(i for i in p.disliked_items if i not in gone_items),
        liked=tuple(x for x in p.liked if x not in gone),
        disliked=tuple(x for x in p.disliked if x not in gone),
    )


def seed_state(profile: Profile, catalog: Catalog) -> DialogueState:
    """A new session's state: what the profile says, limited to ``catalog``."""
    attrs = {a for it in catalog.items[:1000] for a in it.attributes} | {"category"}
    return DialogueState(
        liked=tuple(x for x in profile.liked if x.attribute in attrs),
        disliked=tuple(x for x in profile.disliked if x.attribute in attrs),
        liked_items=tuple(i for i in profile.liked_items if i in catalog),
        disliked_items=tuple(i for i in profile.disliked_items if i in catalog),
    )


def _show(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _constraint_key(c: Constraint) -> str:
    return f"c:{c.attribute}:{c.op}:{_show(c.value)}"


def _constraint_label(c: Constraint) -> str:
    op = {"gte": "more than", "lte": "under"}[c.op] if c.strict else _OPS[c.op]
    return f"{c.attribute.replace('_', ' ')} {op} {_show(c.value)}"
