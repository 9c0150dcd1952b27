"""An optional login for a shared deployment: with `convrec app --auth FILE` every visitor logs
in, and each login sees only its own conversations whatever browser key a request carries (a
real chat app on 127.0.0.1, driven over HTTP with gradio's client)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kit import free_port

from convrec.cli.search_app import load_app_module, read_logins
from convrec.config import Settings
from convrec.errors import ConvRecError
from convrec.sessions import SessionStore

LOGINS = [("ann", "pw-ann"), ("bob", "pw-bob")]


@pytest.fixture(scope="module")
def rules_settings(indexed: Settings) -> Settings:
    llm = indexed.llm.model_copy(update={"backend": "none"})
    return indexed.model_copy(update={"llm": llm})


@pytest.fixture(scope="module")
def login_url(rules_settings: Settings) -> Iterator[str]:
    module = load_app_module("chat_app")
    port = free_port()
    demo = module.launch(rules_settings, [rules_settings.catalog], port=port, block=False,
                         auth=LOGINS)  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def chat(url: str, login: tuple[str, str], browser_key: str, catalog: str) -> Any:
    from gradio_client import Client

    client = Client(url, auth=login, verbose=False)
    return client.predict("a Sony phone, just show me", None, browser_key, catalog,
                          api_name="/chat")  # fmt: skip


def test_each_login_sees_only_its_own_conversations(
    login_url: str, rules_settings: Settings
) -> None:
    catalog = rules_settings.catalog
    assert httpx.post(login_url + "gradio_api/call/chat", json={"data": []}).status_code in (
        401,
        403,
    )  # no login, no conversation
    store = SessionStore(rules_settings.sessions_path)
    before = set(store.session_ids())
    for login in LOGINS:  # both claim the same browser key: it is ignored once logged in
        chat(login_url, login, "someone-elses-key", catalog)
    new = set(store.session_ids()) - before
    assert len(new) == 2 and all(s.startswith("login-") for s in new), new
    assert not any(s.startswith("someone-elses-key") for s in store.session_ids())
    users = {store.get(s).user_id for s in new}  # type: ignore[union-attr]
    assert len(users) == 2


@pytest.fixture(scope="module")
def open_url(rules_settings: Settings) -> Iterator[str]:
    module = load_app_module("chat_app")
    port = free_port()
    demo = module.launch(rules_settings, [rules_settings.catalog], port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_without_a_login_only_keys_the_app_handed_out_are_used(
    open_url: str, rules_settings: Settings
) -> None:
    from gradio_client import Client

    catalog = rules_settings.catalog
    client = Client(open_url, verbose=False)
    store = SessionStore(rules_settings.sessions_path)
    for guessable in ("alice", "login-" + "0" * 32, "0" * 31, "A" * 32):
        out = client.predict("a Sony phone, just show me", None, guessable, catalog,
                             api_name="/chat")  # fmt: skip
        key = out[-1]  # the key the browser is given to keep
        assert key != guessable and len(key) == 32 and int(key, 16) >= 0
        assert not any(s.startswith(guessable + ":") for s in store.session_ids())
    key = out[-1]  # a handed-out key keeps its conversation
    again = client.predict("at least 1 GB of RAM", None, key, catalog, api_name="/chat")
    assert again[-1] == key
    said = [m["content"][0]["text"] for m in again[0] if m["role"] == "user"]
    assert said == ["a Sony phone, just show me", "at least 1 GB of RAM"]


def test_the_logins_file_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "logins"
    good.write_text("# shared demo\nann:pw-ann\n\nbob: pw with spaces\n")
    assert read_logins(good) == [("ann", "pw-ann"), ("bob", " pw with spaces")]
    bad = tmp_path / "bad"
    bad.write_text("ann\n")
    with pytest.raises(ConvRecError, match=r"is not user:password\. Fix"):
        read_logins(bad)
    empty = tmp_path / "empty"
    empty.write_text("# nobody\n")
    with pytest.raises(ConvRecError, match="holds no login"):
        read_logins(empty)
    with pytest.raises(ConvRecError, match="Cannot read"):
        read_logins(tmp_path / "missing")
