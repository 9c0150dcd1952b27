"""Any input to the public entry points gives a result or a ConvRecError that says how to fix
it, never another exception, and a refused turn leaves the session as it was. Property-based
(hypothesis) over the real rules-only system on the indexed phones subset and the real loaders;
the example counts keep the suite short: `eval/fuzz.py` runs the same properties with 10,000
examples each (CONVREC_FUZZ_EXAMPLES)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convrec import ConvRec, ConvRecError
from convrec.catalog.loaders import load_items
from convrec.config import Settings

FAST = settings(
    max_examples=int(os.environ.get("CONVREC_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ROLES = st.sampled_from(["user", "assistant", "system", "tool", "", "USER", None, 3])
TEXT = st.one_of(st.text(max_size=300), st.text(alphabet="\x00\n\t ☃ЖÆ’<>{}", max_size=60))


@pytest.fixture(scope="module")
def rules(indexed: Settings) -> ConvRec:
    llm = indexed.llm.model_copy(update={"backend": "none"})
    return ConvRec.from_config(settings=indexed.model_copy(update={"llm": llm}))


def fixed(error: ConvRecError) -> None:
    assert "Fix" in str(error) or "fix" in str(error), str(error)


@FAST
@given(text=TEXT, user=st.one_of(st.none(), st.text(max_size=20), st.integers()))
def test_chat_takes_any_text(rules: ConvRec, text: str, user: Any) -> None:
    sid = "fuzz-chat"
    before = rules.session(sid)
    try:
        reply = rules.chat(text, session_id=sid, user_id=user, explain=False)
    except ConvRecError as e:
        fixed(e)
        after = rules.session(sid)  # a refused turn changes nothing
        if before is None:
            assert after is None or after.messages == ()
        else:
            assert after is not None
            assert (after.messages, after.state) == (before.messages, before.state)
        return
    assert all(r.item_id in rules.catalog for r in reply.recommendations)


@FAST
@given(messages=st.lists(st.fixed_dictionaries({"role": ROLES, "content": TEXT}), max_size=4),
       k=st.integers(-3, 80))  # fmt: skip
def test_recommend_takes_any_dialogue(rules: ConvRec, messages: list[Any], k: int) -> None:
    try:
        ranked = rules.recommend(messages, k=k)
    except ConvRecError as e:
        fixed(e)
        return
    assert len(ranked) <= k and all(r.item_id in rules.catalog for r in ranked)


@FAST
@given(item=st.one_of(st.text(max_size=40), st.integers(), st.none(), st.lists(st.text())),
       sid=st.one_of(st.text(max_size=140), st.just("fuzz-chat"), st.integers(), st.none()),
       liked=st.booleans())  # fmt: skip
def test_feedback_takes_any_ids(rules: ConvRec, item: Any, sid: Any, liked: bool) -> None:
    try:
        rules.feedback(sid, item, liked)
    except ConvRecError as e:
        fixed(e)


@FAST
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".png", ".jpg", ".webp", ""]))
def test_any_bytes_as_an_image(rules: ConvRec, tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(data)
    try:
        rules.chat("more like this", session_id="fuzz-image", image=path, explain=False)
    except ConvRecError as e:
        fixed(e)


@FAST
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".jsonl", ".csv", ".parquet"]))
def test_the_loaders_take_any_bytes(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"items{suffix}"
    path.write_bytes(data)
    try:
        report = load_items(path)
    except ConvRecError as e:
        fixed(e)
        return
    assert len(report.items) + len(report.rejected) <= report.rows
