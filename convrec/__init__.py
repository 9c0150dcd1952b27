"""convrec: a conversational recommender for your own catalog.

Importing convrec is cheap: torch, transformers, open_clip, chromadb and gradio are imported only
inside the backends that need them.
"""

from __future__ import annotations

import logging

from convrec.config import Settings, load_settings
from convrec.errors import ConvRecError
from convrec.types import Hit, Item, Message

__all__ = ["ConvRecError", "Hit", "Item", "Message", "Settings", "load_settings"]
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
