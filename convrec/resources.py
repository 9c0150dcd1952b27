"""Files that live beside the code. ``prompts/`` and ``app/`` ship in the wheel (pyproject.toml
maps them to ``convrec/_shipped/``); in a source checkout they are the repository's top-level
folders. The evaluation's labelled sets (``eval/``) are read from a source checkout only."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent  # the checkout's root when running from source


def shipped(name: str) -> Path:
    """The folder ``name`` (``prompts`` or ``app``): inside an installed wheel, else the
    checkout's."""
    inside = PACKAGE_DIR / "_shipped" / name
    return inside if inside.is_dir() else SOURCE_ROOT / name
