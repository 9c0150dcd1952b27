"""Prompt files: one YAML file per LLM call in prompts/, holding Jinja templates per role.

A prompt file has a ``system`` and a ``user`` template (either may be omitted), optionally an
``assistant`` template (the opening of the answer, which the model continues), an optional
``description`` and an ``example`` mapping of variables (the test suite renders every prompt with
its example, so a template and its callers cannot drift apart silently).
Templates render with ``StrictUndefined``, so a missing variable is an error, never an empty
string in front of the model.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from convrec.errors import ConfigError
from convrec.resources import shipped
from convrec.types import Message

PROMPTS_DIR = shipped("prompts")
ROLES = ("system", "user", "assistant")


@lru_cache(maxsize=64)
def _load(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"Cannot read prompt file {path}: {e}. Fix the file.") from e
    if not isinstance(data, dict) or not any(r in data for r in ROLES):
        raise ConfigError(
            f"Prompt file {path} needs a 'system' and/or 'user' template. Fix the file."
        )
    return data


def names(directory: Path = PROMPTS_DIR) -> list[str]:
    """Every prompt name in ``directory`` (file stems)."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def render(name: str, directory: Path = PROMPTS_DIR, **variables: Any) -> list[Message]:
    """The chat messages of prompt ``name`` rendered with ``variables`` (StrictUndefined)."""
    import jinja2

    path = directory / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"No prompt file {path}. Fix: restore prompts/{name}.yaml from the repository."
        )
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    out = []
    for role in ROLES:
        template = _load(path).get(role)
        if template is None:
            continue
        try:
            text = env.from_string(str(template)).render(**variables).strip()
        except jinja2.UndefinedError as e:
            raise ConfigError(f"Prompt {name} ({role}) needs a variable: {e}.") from e
        out.append(Message(role, text))  # type: ignore[arg-type]
    return out


def example(name: str, directory: Path = PROMPTS_DIR) -> dict[str, Any]:
    """The ``example`` variables of prompt ``name`` ({} when it has none)."""
    data = _load(directory / f"{name}.yaml").get("example") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"prompts/{name}.yaml: 'example' must be a mapping. Fix the file.")
    return data
