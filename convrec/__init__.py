"""convrec: a conversational recommender for your own catalog.

Importing convrec is cheap: torch, transformers, open_clip, chromadb and gradio are imported only
inside the backends that need them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from convrec.config import Settings, load_settings
from convrec.errors import ConvRecError
from convrec.types import Hit, Item, Message, Recommendation

if TYPE_CHECKING:
    from convrec.catalog.layout import catalog_dir
    from convrec.dialogue.beliefs import Belief
    from convrec.engine import ConvRec, Event, Reply
    from convrec.ranking.search import CatalogSearch, SearchResult
    from convrec.wiring import open_search

__all__ = [
    "Belief",
    "CatalogSearch",
    "ConvRec",
    "ConvRecError",
    "Event",
    "Hit",
    "Item",
    "Message",
    "Recommendation",
    "Reply",
    "SearchResult",
    "Settings",
    "catalog_dir",
    "load_settings",
    "open_search",
]
# The public names imported on first use, so that ``import convrec`` stays cheap.
_LAZY = {
    "Belief": "convrec.dialogue.beliefs",
    "CatalogSearch": "convrec.ranking.search",
    "ConvRec": "convrec.engine",
    "Event": "convrec.engine",
    "Reply": "convrec.engine",
    "SearchResult": "convrec.ranking.search",
    "catalog_dir": "convrec.catalog.layout",
    "open_search": "convrec.wiring",
}
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    """The names of ``_LAZY``, imported on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'convrec' has no attribute {name!r}")
