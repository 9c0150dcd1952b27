"""SQLite sessions (messages, dialogue state, last shown items) and long-term user profiles.

One database file (``settings.sessions_path``) in WAL mode, so readers never block the writer and
a restart keeps everything. Concurrency:

- every write is one ``BEGIN IMMEDIATE`` transaction, so a read-modify-write (a profile update,
  a turn appended to a session) cannot interleave with another writer, in this process or another;
- :meth:`SessionStore.lock` hands out one lock per session id: the facade holds it for a whole turn
  (load → understand → rank → save), so two turns of the same session never race, while turns of
  different sessions run in parallel;
- each thread has its own connection (sqlite3 connections are not shared across threads).

Rows are keyed by session id and user id only, so state never crosses between sessions.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from convrec.dialogue.state import DialogueState, Pref, from_json, to_json
from convrec.errors import ConvRecError, InputError
from convrec.types import Message, Recommendation

log = logging.getLogger(__name__)

MAX_ID_CHARS = 128
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    catalog TEXT NOT NULL,
    state TEXT NOT NULL,
    shown TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS profiles (
    user_id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    updated REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Profile:
    """What a user liked and disliked across sessions: items and attribute values."""

    user_id: str
    liked_items: tuple[str, ...] = ()
    disliked_items: tuple[str, ...] = ()
    liked: tuple[Pref, ...] = ()
    disliked: tuple[Pref, ...] = ()

    def is_empty(self) -> bool:
        return not (self.liked_items or self.disliked_items or self.liked or self.disliked)


@dataclass(frozen=True)
class Session:
    """One stored conversation: its messages, its state and the recommendations last shown."""

    id: str
    user_id: str
    catalog: str
    state: DialogueState
    messages: tuple[Message, ...] = ()
    shown: tuple[Recommendation, ...] = ()
    version: int = 0
    created: float = field(default=0.0, compare=False)
    updated: float = field(default=0.0, compare=False)


def check_id(value: str, what: str = "session id") -> str:
    """``value`` stripped, or an InputError saying what a valid id looks like."""
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_ID_CHARS or not text.isprintable():
        raise InputError(
            f"Invalid {what} {value!r}. Fix: pass a non-empty printable string of at most "
            f"{MAX_ID_CHARS} characters."
        )
    return text


def _uniq(*parts: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(x for p in parts for x in p))


def _uniq_prefs(*parts: Sequence[Pref]) -> tuple[Pref, ...]:
    return tuple(dict.fromkeys(x for p in parts for x in p))


def merge_profile(profile: Profile, state: DialogueState) -> Profile:
    """The profile after a session's state: its likes and dislikes added, contradictions resolved
    in favour of the newer opinion (the state's)."""
    liked_items = _uniq(state.liked_items, profile.liked_items)
    disliked_items = _uniq(state.disliked_items, state.rejected, profile.disliked_items)
    liked_items = tuple(i for i in liked_items if i not in state.disliked_items + state.rejected)
    disliked_items = tuple(i for i in disliked_items if i not in state.liked_items)
    liked = _uniq_prefs(state.liked, tuple(p for p in profile.liked if p not in state.disliked))
    disliked = _uniq_prefs(
        state.disliked, tuple(p for p in profile.disliked if p not in state.liked)
    )
    return replace(
        profile,
        liked_items=liked_items,
        disliked_items=disliked_items,
        liked=liked,
        disliked=disliked,
    )


def _profile_json(p: Profile) -> str:
    data = asdict(p)
    data.pop("user_id")
    return json.dumps(data, sort_keys=True)


def _profile_from(user_id: str, text: str) -> Profile:
    data = json.loads(text)
    return Profile(
        user_id,
        liked_items=tuple(data.get("liked_items", ())),
        disliked_items=tuple(data.get("disliked_items", ())),
        liked=tuple(Pref(**p) for p in data.get("liked", ())),
        disliked=tuple(Pref(**p) for p in data.get("disliked", ())),
    )


def _recs_json(recs: Sequence[Recommendation]) -> str:
    return json.dumps([asdict(r) for r in recs])


def _recs_from(text: str) -> tuple[Recommendation, ...]:
    return tuple(Recommendation(**d) for d in json.loads(text))


@dataclass
class _SessionLock:
    """A session's lock and how many turns hold it or wait for it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


class SessionStore:
    """Sessions and profiles in one SQLite file. Thread-safe; see the module docstring."""

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConvRecError(
                f"Cannot create the sessions directory {self.path.parent} ({e}). Fix: set "
                "sessions.path (or cache_dir) to a writable location."
            ) from e
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._locks: dict[str, _SessionLock] = {}
        self._locks_guard = threading.Lock()
        self._db().executescript(SCHEMA)

    # -- connections and transactions ------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            except sqlite3.Error as e:
                raise ConvRecError(
                    f"Cannot open the sessions database {self.path} ({e}). Fix: check the path "
                    "and its permissions (sessions.path)."
                ) from e
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: the write lock is taken before anything is read. A busy
        or failing database ("database is locked", a full disk) rolls back and becomes a
        ConvRecError that says what to do; nothing is half written."""
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise self._unusable(e) from e
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(e, sqlite3.OperationalError):
                raise self._unusable(e) from e
            raise

    def _unusable(self, e: sqlite3.Error) -> ConvRecError:
        if "locked" in str(e) or "busy" in str(e):
            fix = (
                f"another process held it for more than {self.timeout_s:g} s; send the message "
                "again, or give each app its own sessions.path"
            )
        else:
            fix = f"check free disk space and write permission for {self.path.parent}"
        return ConvRecError(
            f"The sessions database {self.path} could not be written ({e}); nothing of this "
            f"turn was saved. Fix: {fix}."
        )

    @contextmanager
    def lock(self, session_id: str) -> Iterator[None]:
        """Hold the session's lock for a whole read-modify-write turn (not re-entrant).

        A plain Lock, not an RLock: a streamed turn is a generator that Gradio advances from
        different worker threads, and only a plain Lock may be released by another thread."""
        with self._locks_guard:
            entry = self._locks.setdefault(session_id, _SessionLock())
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._locks_guard:  # the last user forgets the lock: the table stays small
                entry.users -= 1
                if entry.users == 0:
                    del self._locks[session_id]

    def held_locks(self) -> int:
        """How many sessions have a turn running or waiting (their locks are kept until then)."""
        with self._locks_guard:
            return len(self._locks)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- sessions ---------------------------------------------------------------------------------

    def exists(self, session_id: str) -> bool:
        row = self._db().execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return row is not None

    def get(self, session_id: str) -> Session | None:
        """The stored session, or None when there is none with that id."""
        db = self._db()
        db.execute("BEGIN")  # one snapshot for the session row and its messages
        try:
            row = db.execute(
                "SELECT user_id, catalog, state, shown, version, created, updated "
                "FROM sessions WHERE id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                return None
            msgs = db.execute(
                "SELECT role, content FROM messages WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
        finally:
            db.execute("COMMIT")
        user_id, catalog, state, shown, version, created, updated = row
        return Session(
            session_id,
            user_id,
            catalog,
            from_json(state),
            tuple(Message(r, c) for r, c in msgs),
            _recs_from(shown),
            version,
            created,
            updated,
        )

    def create(self, session_id: str, user_id: str, catalog: str, state: DialogueState) -> Session:
        """Start a session (an existing one with the same id is an error)."""
        now = time.time()
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO sessions (id, user_id, catalog, state, created, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (session_id, user_id, catalog, to_json(state), now, now),
                )
        except sqlite3.IntegrityError:
            raise InputError(
                f"Session {session_id!r} already exists. Fix: pick another id or reset it."
            ) from None
        return Session(session_id, user_id, catalog, state, created=now, updated=now)

    def save_turn(
        self,
        session: Session,
        messages: Sequence[Message],
        state: DialogueState,
        shown: Sequence[Recommendation] | None = None,
    ) -> Session:
        """Append ``messages``, store ``state`` (and ``shown`` unless None) in one transaction.

        ``session`` is the version the turn started from; if the row changed since (another
        process wrote it), the turn is refused rather than silently overwriting that write.
        """
        now = time.time()
        new_shown = tuple(session.shown if shown is None else shown)
        with self._write() as db:
            cur = db.execute(
                "UPDATE sessions SET state = ?, shown = ?, version = version + 1, updated = ? "
                "WHERE id = ? AND version = ?",
                (to_json(state), _recs_json(new_shown), now, session.id, session.version),
            )
            if cur.rowcount != 1:
                raise ConvRecError(
                    f"Session {session.id!r} was changed or deleted by someone else during this "
                    "turn. Fix: send the message again."
                )
            (last,) = db.execute(
                "SELECT COALESCE(MAX(seq), -1) FROM messages WHERE session_id = ?", (session.id,)
            ).fetchone()
            db.executemany(
                "INSERT INTO messages (session_id, seq, role, content, created) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (session.id, last + 1 + n, m.role, m.content, now)
                    for n, m in enumerate(messages)
                ],
            )
        return replace(
            session,
            state=state,
            messages=(*session.messages, *messages),
            shown=new_shown,
            version=session.version + 1,
            updated=now,
        )

    def reset(self, session_id: str, state: DialogueState) -> None:
        """Forget a session's messages and shown items and put ``state`` back (its user stays)."""
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
            db.execute(
                "UPDATE sessions SET state = ?, shown = '[]', version = version + 1, updated = ? "
                "WHERE id = ?",
                (to_json(state), time.time(), session_id),
            )

    def delete(self, session_id: str) -> bool:
        """Remove a session and its messages; True when there was one."""
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
            cur = db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            return cur.rowcount > 0

    def session_ids(self, user_id: str | None = None) -> list[str]:
        """Session ids, most recently updated first (only ``user_id``'s when given)."""
        sql = "SELECT id FROM sessions"
        args: tuple[str, ...] = ()
        if user_id is not None:
            sql, args = sql + " WHERE user_id = ?", (user_id,)
        return [r[0] for r in self._db().execute(sql + " ORDER BY updated DESC", args)]

    # -- profiles ---------------------------------------------------------------------------------

    def profile(self, user_id: str) -> Profile:
        """The user's profile (an empty one for a user never seen)."""
        row = (
            self._db().execute("SELECT data FROM profiles WHERE user_id = ?", (user_id,)).fetchone()
        )
        return _profile_from(user_id, row[0]) if row else Profile(user_id)

    def update_profile(self, user_id: str, change: Callable[[Profile], Profile]) -> Profile:
        """Apply ``change`` to the stored profile atomically (no lost update) and return it."""
        with self._write() as db:
            row = db.execute("SELECT data FROM profiles WHERE user_id = ?", (user_id,)).fetchone()
            old = _profile_from(user_id, row[0]) if row else Profile(user_id)
            new = replace(change(old), user_id=user_id)
            db.execute(
                "INSERT INTO profiles (user_id, data, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET data = excluded.data, "
                "updated = excluded.updated",
                (user_id, _profile_json(new), time.time()),
            )
        return new

    def forget_profile(self, user_id: str) -> bool:
        """Delete the user's profile; True when there was one. Sessions are kept."""
        with self._write() as db:
            cur = db.execute("DELETE FROM profiles WHERE user_id = ?", (user_id,))
            return cur.rowcount > 0


__all__ = ["Profile", "Session", "SessionStore", "check_id", "merge_profile"]
