"""The caller's inputs to the facade, checked with errors that say how to fix them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from convrec.errors import InputError
from convrec.types import Message, Role


def check_k(k: int) -> None:
    """A number of items to rank: at least one."""
    if k < 1:
        raise InputError(f"k must be at least 1, not {k}. Fix: ask for one item or more.")


def as_message(m: Mapping[str, str] | Message) -> Message:
    """A caller's dialogue message: the user's or the assistant's, never a system message (the
    system's instructions are its own prompts, not the caller's)."""
    role: object = None
    content: object = None
    if isinstance(m, Message):
        role, content = m.role, m.content
    elif isinstance(m, Mapping):
        role, content = m.get("role"), m.get("content")
    if role not in ("user", "assistant") or not isinstance(content, str):
        shown = dict(m) if isinstance(m, Mapping) else m
        raise InputError(
            f"Bad message {shown!r}. Fix: use {{'role': 'user'|'assistant', 'content': str}}."
        )
    return Message(cast("Role", role), content)
