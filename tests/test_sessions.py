"""SessionStore: persistence across reopen, threads without lost updates or crossing, profiles."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from convrec.dialogue.state import Constraint, DialogueState, Pref
from convrec.errors import ConvRecError, InputError
from convrec.sessions import Profile, SessionStore, check_id, merge_profile
from convrec.types import Message, Recommendation


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "data" / "sessions.db"
    store = SessionStore(path)
    s = store.create("alice", "alice", "phones", DialogueState())
    state = DialogueState(
        intent="refine",
        constraints=(Constraint("maker", "eq", "Sony"), Constraint("genres", "nin", ("Horror",))),
        liked=(Pref("os", "Android"),),
        turns=1,
    )
    shown = (Recommendation("p1", "Xperia", 0.5, {"text": 0.5}, "fits", "/x/p1.jpg"),)
    store.save_turn(s, [Message("user", "a Sony"), Message("assistant", "Here.")], state, shown)
    store.update_profile("alice", lambda p: replace(p, liked_items=("p1",)))
    store.close()

    again = SessionStore(path)
    got = again.get("alice")
    assert got is not None
    assert got.state == state
    assert got.messages == (Message("user", "a Sony"), Message("assistant", "Here."))
    assert got.shown == shown
    assert got.catalog == "phones" and got.version == 1
    assert again.profile("alice").liked_items == ("p1",)
    assert again.get("bob") is None and not again.exists("bob")


def test_reset_keeps_the_user_and_forgets_the_dialogue(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    s = store.create("s1", "u1", "movies", DialogueState())
    rec = Recommendation("m1", "Alien", 1.0)
    store.save_turn(s, [Message("user", "hi")], DialogueState(turns=1), [rec])
    store.reset("s1", DialogueState(liked=(Pref("genres", "Comedy"),)))
    got = store.get("s1")
    assert got is not None and got.messages == () and got.shown == ()
    assert got.user_id == "u1" and got.state.liked == (Pref("genres", "Comedy"),)
    assert store.delete("s1") and store.get("s1") is None and not store.delete("s1")


def test_same_session_from_many_threads_loses_no_turn(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    store.create("shared", "u", "phones", DialogueState())
    n_threads, n_turns = 8, 10

    def worker(k: int) -> None:
        for t in range(n_turns):
            with store.lock("shared"):  # what the facade does for a turn
                s = store.get("shared")
                assert s is not None
                state = replace(s.state, turns=s.state.turns + 1, wishes=(*s.state.wishes, f"{k}"))
                store.save_turn(s, [Message("user", f"{k}-{t}")], state)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    s = store.get("shared")
    assert s is not None
    assert s.state.turns == n_threads * n_turns  # every read-modify-write saw the previous one
    assert len(s.messages) == n_threads * n_turns
    assert sorted(m.content for m in s.messages) == sorted(
        f"{k}-{t}" for k in range(n_threads) for t in range(n_turns)
    )
    assert s.version == n_threads * n_turns


def test_parallel_sessions_never_cross(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            sid = f"s{k}"
            store.create(sid, f"u{k}", "phones", DialogueState())
            for t in range(6):
                with store.lock(sid):
                    s = store.get(sid)
                    assert s is not None
                    state = replace(s.state, wishes=(*s.state.wishes, f"{k}:{t}"))
                    store.save_turn(s, [Message("user", f"{k}:{t}")], state)
                store.update_profile(f"u{k}", lambda p, t=t: replace(p, liked_items=(f"{k}:{t}",)))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(10)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for k in range(10):
        s = store.get(f"s{k}")
        assert s is not None
        assert s.state.wishes == tuple(f"{k}:{t}" for t in range(6))
        assert [m.content for m in s.messages] == [f"{k}:{t}" for t in range(6)]
        assert store.profile(f"u{k}").liked_items == (f"{k}:5",)
    assert set(store.session_ids()) == {f"s{k}" for k in range(10)}
    assert store.session_ids("u3") == ["s3"]


def test_profile_updates_from_threads_are_all_kept(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    other = SessionStore(tmp_path / "s.db")  # a second handle: like another process

    def worker(k: int) -> None:
        target = store if k % 2 else other
        for t in range(10):
            target.update_profile(
                "u", lambda p, i=f"{k}-{t}": replace(p, liked_items=(*p.liked_items, i))
            )

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(store.profile("u").liked_items) == 60
    assert store.forget_profile("u") and store.profile("u") == Profile("u")
    assert not store.forget_profile("u")


def test_stale_turn_is_refused_not_overwritten(tmp_path: Path) -> None:
    a = SessionStore(tmp_path / "s.db")
    b = SessionStore(tmp_path / "s.db")
    start = a.create("s", "u", "phones", DialogueState())
    b.save_turn(start, [Message("user", "first")], DialogueState(turns=1))
    with pytest.raises(ConvRecError, match="send the message again"):
        a.save_turn(start, [Message("user", "stale")], DialogueState(turns=1))
    got = a.get("s")
    assert got is not None and [m.content for m in got.messages] == ["first"]
    with pytest.raises(InputError, match="already exists"):
        a.create("s", "u", "phones", DialogueState())


def test_wal_mode_and_a_clear_error_for_an_unwritable_path(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    store.exists("x")
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConvRecError, match=r"sessions\.path"):
        SessionStore(blocker / "sub" / "s.db")


def test_merge_profile_newer_opinion_wins() -> None:
    old = Profile(
        "u", liked_items=("a", "b"), disliked_items=("c",), liked=(Pref("genres", "Drama"),)
    )
    state = DialogueState(
        liked_items=("c",), disliked_items=("a",), disliked=(Pref("genres", "Drama"),)
    )
    new = merge_profile(old, state)
    assert new.liked_items == ("c", "b")
    assert new.disliked_items == ("a",)
    assert new.liked == () and new.disliked == (Pref("genres", "Drama"),)


@pytest.mark.parametrize("bad", ["", "   ", "x" * 200, "a\nb"])
def test_bad_ids_are_refused(bad: str) -> None:
    with pytest.raises(InputError, match="Invalid session id"):
        check_id(bad)
    assert check_id(" ok ") == "ok"


def test_a_locked_database_is_a_clear_error_and_nothing_is_half_written(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db", timeout_s=0.2)
    session = store.create("a", "u", "movies", DialogueState())
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    with pytest.raises(ConvRecError, match=r"database is locked.*nothing of this turn.*Fix"):
        store.save_turn(session, [Message("user", "hi")], DialogueState(turns=1))
    with pytest.raises(ConvRecError, match="could not be written"):
        store.update_profile("u", lambda p: replace(p, liked_items=("x",)))
    other.execute("ROLLBACK")
    kept = store.get("a")
    assert kept is not None and kept.messages == () and kept.state.turns == 0
    store.save_turn(session, [Message("user", "hi")], DialogueState(turns=1))  # works again
    assert store.get("a").messages == (Message("user", "hi"),)  # type: ignore[union-attr]


def test_the_lock_table_forgets_finished_sessions(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    for n in range(500):  # a long-running app sees many sessions come and go
        with store.lock(f"s{n}"):
            assert store.held_locks() == 1
    assert store.held_locks() == 0
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.lock("busy"):
            started.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    started.wait(5)
    assert store.held_locks() == 1  # a running turn keeps its lock
    release.set()
    worker.join(5)
    assert store.held_locks() == 0
