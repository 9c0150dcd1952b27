"""Settings precedence: convrec.toml < CONVREC_* variables < keyword arguments; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.config import load_settings
from convrec.errors import ConfigError

TOML = """
seed = 1
log_level = "DEBUG"
[llm]
model = "from-toml"
max_new_tokens = 100
[store]
port = 9000
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "convrec.toml"
    path.write_text(TOML)
    return path


def test_defaults_without_file_or_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./convrec.toml here
    s = load_settings(environ={})
    assert s.llm.model == "qwen2.5-coder-0.5b" and s.embed.text_model == "all-minilm-l6-v2"
    assert s.models_path == Path("~/.cache/convrec/models").expanduser()


def test_toml_then_env_then_kwargs(config_file: Path) -> None:
    env = {"CONVREC_SEED": "2", "CONVREC_LLM__MODEL": "from-env", "CONVREC_STORE__PORT": "9001"}
    s = load_settings(config_file=config_file, environ=env, seed=3)
    assert s.seed == 3  # kwargs beat env and TOML
    assert s.llm.model == "from-env"  # nested env beats TOML
    assert s.llm.max_new_tokens == 100  # TOML value kept where nothing overrides it
    assert s.store.port == 9001 and isinstance(s.store.port, int)  # env strings are coerced
    assert s.log_level == "DEBUG"
    s2 = load_settings(config_file=config_file, environ=env, llm={"model": "from-kwargs"})
    assert s2.llm.model == "from-kwargs" and s2.llm.max_new_tokens == 100  # nested merge


def test_config_file_from_environment(config_file: Path) -> None:
    s = load_settings(environ={"CONVREC_CONFIG": str(config_file)})
    assert s.llm.model == "from-toml"


def test_invalid_env_value_names_the_fix(config_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"store\.port.*CONVREC_LLM__MODEL"):
        load_settings(config_file=config_file, environ={"CONVREC_STORE__PORT": "not-a-port"})


def test_unknown_field_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"llm\.temperature"):
        load_settings(environ={"CONVREC_LLM__TEMPERATURE": "0.7"}, config_file=_empty(tmp_path))
    bad = tmp_path / "bad.toml"
    bad.write_text("[llm\nmodel=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_file=bad, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.toml", environ={})


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path
