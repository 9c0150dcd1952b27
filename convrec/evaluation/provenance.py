"""Which code produced a figure: the git commit of the checkout and whether it had changes."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from convrec.resources import SOURCE_ROOT

ROOT = SOURCE_ROOT


def code_version(root: Path = ROOT) -> str:
    """``<short commit>`` of the checkout at ``root``, with ``+dirty.<hash of the diff>`` when
    tracked files have uncommitted changes (two different edits of one commit differ);
    ``"unknown"`` outside a git checkout (an installed wheel)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
            check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "diff", "HEAD"], cwd=root, capture_output=True, check=True, timeout=30,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + (f"+dirty.{hashlib.sha256(status).hexdigest()[:8]}" if status.strip() else "")
