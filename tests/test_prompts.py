"""Prompt files render with StrictUndefined: every shipped prompt with its example variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.errors import ConfigError
from convrec.prompts import PROMPTS_DIR, example, names, render


@pytest.mark.parametrize("name", names())
def test_every_shipped_prompt_renders_its_example(name: str) -> None:
    messages = render(name, **example(name))
    assert messages and all(m.content.strip() for m in messages)
    roles = [m.role for m in messages]
    assert roles in (["system", "user"], ["system"], ["user"], ["system", "user", "assistant"])


def test_missing_variable_and_bad_files_are_errors(tmp_path: Path) -> None:
    (tmp_path / "greet.yaml").write_text(
        "system: You recommend {{ catalog }}.\nuser: |\n  {% for m in items %}- {{ m }}\n"
        "  {% endfor %}\nexample: {catalog: phones, items: [a, b]}\n"
    )
    msgs = render("greet", tmp_path, **example("greet", tmp_path))
    assert [m.content for m in msgs] == ["You recommend phones.", "- a\n- b"]
    with pytest.raises(ConfigError, match="needs a variable"):
        render("greet", tmp_path, catalog="phones")
    with pytest.raises(ConfigError, match="No prompt file"):
        render("nope", tmp_path)
    (tmp_path / "bad.yaml").write_text("description: no templates\n")
    with pytest.raises(ConfigError, match="needs a 'system' and/or 'user'"):
        render("bad", tmp_path)


def test_prompts_live_in_the_top_level_folder() -> None:
    assert PROMPTS_DIR.name == "prompts" and (PROMPTS_DIR.parent / "pyproject.toml").is_file()
