"""convrec: a conversational recommender for your own catalog.

Importing convrec is cheap: torch, transformers, open_clip, chromadb and gradio are imported only
inside the backends that need them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from convrec.config import Settings, load_settings
from convrec.errors import ConvRecError
from convrec.types import Hit, Item, Message

if TYPE_CHECKING:
    from convrec.convrec import ConvRec, Reply

__all__ = [
    "ConvRec",
    "ConvRecError",
    "Hit",
    "Item",
    "Message",
    "Reply",
    "Settings",
    "load_settings",
]
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    """``ConvRec`` and ``Reply`` are imported on first use, so ``import convrec`` stays cheap."""
    if name in ("ConvRec", "Reply"):
        from convrec import convrec as facade

        return getattr(facade, name)
    raise AttributeError(f"module 'convrec' has no attribute {name!r}")
