"""The ConvRec facade: sessions + the stages, wired. It holds no recommendation logic of its own.

One turn of :meth:`ConvRec.chat_stream`::

    check input → lock the session → [1] understand → [2] apply → rank ([4]–[6]) → [3] policy
      → ask (phrase the question) | recommend ([7] explain, streamed) | clarify | answer
      → save messages, state and shown items in one transaction → update the user's profile

Each stage call sits in one small private method (``_understand``, ``_rank``, ``_question``,
``_explain``), so swapping a stage is a one-line change there.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from convrec.dialogue.beliefs import (
    Belief,
    beliefs,
    edit_profile,
    profile_without,
    seed_state,
    without_beliefs,
)
from convrec.dialogue.state import Constraint, DialogueState, StateDelta, apply
from convrec.errors import ConfigError, InputError
from convrec.explain.answers import clarify
from convrec.inputs import as_message, check_k
from convrec.sessions import Profile, Session, SessionStore, check_id, merge_profile
from convrec.types import Item, Message, Recommendation

if TYPE_CHECKING:
    from convrec.catalog.schema import Catalog
    from convrec.config import Settings
    from convrec.dialogue.lexicon import Lexicon
    from convrec.dialogue.policy import Decision, Policy
    from convrec.dialogue.questions import ItemQuestion
    from convrec.explain.explanations import Explanation
    from convrec.protocols import LLM, VectorStore
    from convrec.ranking.search import CatalogSearch, SearchResult

log = logging.getLogger(__name__)

Action = Literal["ask", "recommend", "clarify", "answer"]
POOL = 50  # candidates the policy weighs before it decides to ask or recommend
PREFIX_CACHE = 512  # dialogue prefixes whose state recommend() remembers


@dataclass(frozen=True)
class Reply:
    """What one turn produced. ``question`` is set when the system asks instead of recommending."""

    text: str
    question: str | None
    recommendations: list[Recommendation]
    state: DialogueState
    session_id: str = ""
    action: Action = "recommend"


@dataclass(frozen=True)
class Event:
    """One step of :meth:`ConvRec.chat_stream`, in order: ``recommendations`` (once, if any),
    ``text`` (reply chunks as generated; while items are explained each also carries the
    recommendations with the explanations so far), ``reply`` (last, the whole :class:`Reply`)."""

    kind: Literal["recommendations", "text", "reply"]
    text: str = ""
    recommendations: tuple[Recommendation, ...] = ()
    reply: Reply | None = None


@dataclass
class _Turn:
    """What the stages produced for one turn (internal)."""

    state: DialogueState
    action: Action
    recs: list[Recommendation] = field(default_factory=list)
    question: str | None = None
    text: str = ""


class ConvRec:
    """A conversational recommender over one indexed catalog. Thread-safe: turns of one session
    are serialised by the session's lock, turns of different sessions run concurrently."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        store: VectorStore,
        *,
        llm: LLM | None = None,
        sessions: SessionStore | None = None,
    ) -> None:
        from convrec.dialogue.lexicon import Lexicon
        from convrec.dialogue.policy import Policy
        from convrec.wiring import open_search

        self.catalog = catalog
        self.settings = settings
        self.store = store
        self._search: CatalogSearch = open_search(catalog, settings, store)
        self.retriever = self._search.retriever
        self.lexicon: Lexicon = Lexicon.from_catalog(catalog)
        self.policy: Policy = Policy.from_settings(settings, catalog.roles)
        self.sessions = sessions or SessionStore(settings.sessions_path)
        self._llm = llm
        self._llm_lock = threading.Lock()
        self._prefix_states: OrderedDict[tuple[Message, ...], DialogueState] = OrderedDict()
        self._prefix_lock = threading.Lock()
        # torch models are not re-entrant: one model call at a time, one lock per LLM object shared
        # by the catalogs using it; a plain Lock (a streamed turn may release it in another thread)
        self._compute = model_lock(llm) if llm is not None else threading.Lock()

    @classmethod
    def from_config(
        cls,
        config: str | Path | None = None,
        catalog: str | None = None,
        *,
        settings: Settings | None = None,
        llm: LLM | None = None,
        sessions: SessionStore | None = None,
        **overrides: Any,
    ) -> ConvRec:
        """Open ``catalog`` (default ``settings.catalog``) with settings from ``config``
        (default ``./convrec.toml``), the CONVREC_* variables and ``overrides``, or exactly
        ``settings`` when given. ``llm`` and ``sessions`` let several catalogs share one."""
        from convrec.catalog.layout import open_catalog
        from convrec.config import load_settings
        from convrec.wiring import open_store

        if llm is not None and not callable(getattr(llm, "generate", None)):
            raise ConfigError(
                f"llm= takes an LLM object (with generate()), not {type(llm).__name__}. Fix: "
                "to change the LLM settings pass settings=load_settings(llm={...}) or set "
                "CONVREC_LLM__BACKEND / CONVREC_LLM__MODEL."
            )
        settings = settings or load_settings(config, **overrides)
        cat = open_catalog(catalog or settings.catalog, settings)
        return cls(cat, settings, open_store(settings), llm=llm, sessions=sessions)

    @property
    def llm(self) -> LLM | None:
        """The configured LLM, loaded on first use; None when ``llm.backend`` is ``"none"``."""
        with self._llm_lock:
            if self._llm is None and self.settings.llm.backend != "none":
                from convrec.backends import make_llm

                self._llm = make_llm(self.settings)
                model_lock(self._llm, self._compute)  # others that get this model share the lock
            return self._llm

    # -- conversation ------------------------------------------------------------------------------

    def chat(
        self,
        message: str,
        session_id: str = "default",
        *,
        image: str | Path | None = None,
        user_id: str | None = None,
        explain: bool = True,
    ) -> Reply:
        """One user turn; see :class:`Reply`. ``image`` asks for items like the pictured one.
        ``explain=False`` skips the LLM explanations (each item gets its template): for
        simulations and batch jobs that only need the ranking."""
        reply = None
        turn = self.chat_stream(message, session_id, image=image, user_id=user_id, explain=explain)
        for event in turn:
            reply = event.reply or reply
        assert reply is not None
        return reply

    def chat_stream(
        self,
        message: str,
        session_id: str = "default",
        *,
        image: str | Path | None = None,
        user_id: str | None = None,
        explain: bool = True,
    ) -> Iterator[Event]:
        """The turn of :meth:`chat` as events: recommendations first, then the reply text as it
        is generated, then the whole Reply. Input is checked before the first event."""
        text = self._check_message(message, allow_empty=image is not None)  # a photo says it
        image_path = self._search._check_image(image) if image is not None else None
        sid = check_id(session_id)
        uid = check_id(user_id, "user id") if user_id is not None else None
        if self.settings.sessions.strict and not self.sessions.exists(sid):
            raise InputError(
                f"Unknown session {sid!r} (strict mode). Fix: start it with "
                "rec.new_session() first, or set sessions.strict = false."
            )
        return self._stream(text, sid, uid, image_path, explain)

    def _stream(
        self, text: str, sid: str, uid: str | None, image: str | None, explain: bool
    ) -> Iterator[Event]:
        with self.sessions.lock(sid):
            session = self._open_session(sid, uid)
            history = [*session.messages[-2 * self.settings.sessions.history_turns :]]
            user_text = text or "More like this picture."
            history.append(Message("user", user_text))
            shown = [r.item_id for r in session.shown]
            turn = self._decide(history, session.state, shown, image)
            if turn.recs:
                yield Event("recommendations", recommendations=tuple(turn.recs))
            if turn.action == "recommend" and turn.recs:
                chunks: list[str] = []
                for chunk in self._explain_stream(turn, explain):
                    chunks.append(chunk)
                    yield Event("text", text=chunk, recommendations=tuple(turn.recs))
                turn.text = "".join(chunks)
            else:
                yield Event("text", text=turn.text)
            session = self.sessions.save_turn(
                session,
                [Message("user", user_text), Message("assistant", turn.text)],
                turn.state,
                turn.recs if turn.action == "recommend" else None,
            )
            self._remember(session)
            reply = Reply(turn.text, turn.question, turn.recs, turn.state, sid, turn.action)
        yield Event("reply", reply=reply)

    def feedback(self, session_id: str, item_id: str, liked: bool, *, rerank: bool = True) -> Reply:
        """Like or dislike ``item_id`` outside the text. A dislike hides the item; with ``rerank``
        the reply carries the refreshed recommendations (the disliked item replaced)."""
        sid = check_id(session_id)
        if not isinstance(item_id, str) or item_id not in self.catalog:
            raise InputError(
                f"Item {item_id!r} is not in catalog {self.catalog.name!r}. Fix: pass an "
                "item_id from a recommendation."
            )
        if not self.sessions.exists(sid):
            raise InputError(f"Unknown session {sid!r}. Fix: chat in it before giving feedback.")
        delta = (
            StateDelta(intent="feedback", liked_items=(item_id,))
            if liked
            else StateDelta(intent="feedback", disliked_items=(item_id,))
        )
        with self.sessions.lock(sid):
            session = self._open_session(sid, None)
            state = apply(session.state, delta)
            recs = list(session.shown)
            if rerank and recs:
                ranked = self._rank(state, len(recs), None, session.messages)
                recs = self._explain_new(state, ranked, recs)
            verb = "liked" if liked else "disliked"
            text = f"Noted: you {verb} {self.catalog[item_id].title}."
            session = self.sessions.save_turn(session, [], state, recs)
            self._remember(session)
        return Reply(text, None, recs, state, sid, "recommend")

    def reset(self, session_id: str) -> None:
        """Start the session's conversation over; the user's long-term profile stays."""
        sid = check_id(session_id)
        with self.sessions.lock(sid):
            session = self.sessions.get(sid)
            if session is None:
                return
            self.sessions.reset(sid, self._seed_state(session.user_id))

    def new_session(self, session_id: str | None = None, user_id: str | None = None) -> str:
        """Create a session (needed first in strict mode) and return its id."""
        sid = check_id(session_id) if session_id is not None else uuid.uuid4().hex
        uid = check_id(user_id, "user id") if user_id is not None else sid
        with self.sessions.lock(sid):
            self.sessions.create(sid, uid, self.catalog.name, self._seed_state(uid))
        return sid

    def session(self, session_id: str) -> Session | None:
        """The stored session (messages, state, last shown recommendations), or None."""
        return self.sessions.get(check_id(session_id))

    # -- stateless ranking -------------------------------------------------------------------------

    def recommend(
        self,
        messages: Sequence[Mapping[str, str] | Message],
        k: int = 50,
        explain: bool = False,
    ) -> list[Recommendation]:
        """Rank the catalog for a dialogue (``{"role": "user"|"assistant", "content": str}``
        dicts or Messages), with no session: what evaluations and integrations call."""
        history = [as_message(m) for m in messages]
        if not any(m.role == "user" for m in history):
            raise InputError("recommend() needs at least one user message. Fix: add one.")
        check_k(k)
        for m in history:  # every message, the assistant's too, within the limit
            if m.role == "assistant":
                self._check_message(m.content, allow_empty=True)
        state = DialogueState()
        for n, m in enumerate(history):
            if m.role == "user":
                self._check_message(m.content, allow_empty=False)
                state = self._prefix_state(tuple(history[: n + 1]), state)
        recs = self._rank(state, k, None, history)
        return self._explain_all(state, recs) if explain else recs

    def rank(
        self,
        state: DialogueState,
        k: int = 50,
        messages: Sequence[Mapping[str, str] | Message] = (),
    ) -> list[Recommendation]:
        """Rank the catalog for a dialogue state already known (a session's ``reply.state``)
        and the dialogue so far (for the context route), with no LLM call."""
        check_k(k)
        return self._rank(state, k, None, [as_message(m) for m in messages])

    def _prefix_state(self, prefix: tuple[Message, ...], before: DialogueState) -> DialogueState:
        """The state after the last (user) message of ``prefix``. Remembered for the most recent
        prefixes: evaluations and integrations re-rank growing dialogues, and greedy decoding
        makes the state of a prefix the same every time."""
        with self._prefix_lock:
            cached = self._prefix_states.get(prefix)
            if cached is not None:
                self._prefix_states.move_to_end(prefix)
                return cached
        state = apply(before, self._understand(list(prefix), before, ()))
        with self._prefix_lock:
            self._prefix_states[prefix] = state
            while len(self._prefix_states) > PREFIX_CACHE:
                self._prefix_states.popitem(last=False)
        return state

    def warm_up(self) -> float:
        """Load the models, have the LLM read the understanding prompt once (its prefix cache
        keeps the instructions) and rank once under a hard constraint (Chroma warms its filters),
        so the first user waits for none of them. Returns the seconds it took."""
        from convrec.dialogue.understand import prime

        start = time.perf_counter()
        if (llm := self.llm) is not None:
            with self._compute:
                prime(llm, self.lexicon)
        anything = Constraint("category", "ne", "__no_such_category__")  # every item passes
        self.rank(DialogueState(constraints=(anything,), wishes=("anything",)), k=1)
        took = time.perf_counter() - start
        log.info("%s warmed up in %.1f s", self.catalog.name, took)
        return took

    def search(
        self, text: str = "", image: str | Path | None = None, k: int | None = None
    ) -> SearchResult:
        """One-shot multimodal search (no dialogue): text and/or an example image."""
        return self._search.search(text, image, k)

    # -- catalog -----------------------------------------------------------------------------------

    def item(self, item_id: str) -> Item:
        """The catalog item (CatalogError with the fix when the id is unknown)."""
        return self.catalog[item_id]

    def items(self) -> Iterator[Item]:
        """Every catalog item, in catalog order."""
        return iter(self.catalog.items)

    def attributes(self, item_id: str, limit: int = 6) -> list[tuple[str, str]]:
        """Up to ``limit`` (name, value) pairs to show for an item: its price, what was read from
        its photo (marked so), then its other attributes; hidden ones (codes, counts) never."""
        return self._search.attributes(item_id, limit)

    # -- profiles and beliefs ----------------------------------------------------------------------

    def profile(self, user_id: str) -> Profile:
        """The user's long-term profile: liked and disliked items and attribute values."""
        return self.sessions.profile(check_id(user_id, "user id"))

    def update_profile(
        self,
        user_id: str,
        *,
        like_items: Iterable[str] = (),
        dislike_items: Iterable[str] = (),
        like: Iterable[tuple[str, str]] = (),
        dislike: Iterable[tuple[str, str]] = (),
        remove_items: Iterable[str] = (),
        remove: Iterable[tuple[str, str]] = (),
    ) -> Profile:
        """Edit the profile: add liked/disliked items and (attribute, value) pairs, or remove
        them. A newer opinion replaces the opposite one. Returns the stored profile."""
        uid = check_id(user_id, "user id")
        items = tuple(like_items), tuple(dislike_items), tuple(remove_items)
        values = tuple(like), tuple(dislike), tuple(remove)
        return self.sessions.update_profile(
            uid,
            lambda p: edit_profile(
                p,
                like_items=items[0],
                dislike_items=items[1],
                remove_items=items[2],
                like=values[0],
                dislike=values[1],
                remove=values[2],
            ),
        )

    def forget_profile(self, user_id: str) -> bool:
        """Delete the user's long-term profile (sessions stay); True when there was one."""
        return self.sessions.forget_profile(check_id(user_id, "user id"))

    def beliefs(self, session_id: str) -> list[Belief]:
        """What the session's state holds about the user, for the preference panel."""
        session = self.session(session_id)
        return [] if session is None else beliefs(session.state, self.catalog)

    def forget_beliefs(self, session_id: str, keys: Iterable[str]) -> list[Belief]:
        """Remove wrong beliefs (by :attr:`Belief.key`) from the session and from the user's
        profile, so they do not come back in the next session. Returns what remains."""
        sid, gone = check_id(session_id), set(keys)
        with self.sessions.lock(sid):
            session = self.sessions.get(sid)
            if session is None:
                raise InputError(f"Unknown session {sid!r}. Fix: pass an existing session id.")
            state = without_beliefs(session.state, gone)
            self.sessions.save_turn(session, [], state)
            self.sessions.update_profile(session.user_id, lambda p: profile_without(p, gone))
        return beliefs(state, self.catalog)

    # -- wiring: one private method per stage ------------------------------------------------------

    def _decide(
        self,
        history: Sequence[Message],
        state: DialogueState,
        shown: Sequence[str],
        image: str | None,
    ) -> _Turn:
        delta = self._understand(history, state, shown)
        after = apply(state, delta)
        k = max(POOL, self.settings.limits.recommendations)
        pool = self._rank(after, k, image, history)
        if image is not None:  # an example image is an explicit request for results
            decision = _recommend_decision("the user showed an example image")
        else:
            decision = self.policy.decide(after, [(self.catalog[r.item_id], r.score) for r in pool])
        log.debug("policy: %s (%s)", decision.action, decision.reason)
        if decision.action == "ask":
            asked = apply(state, replace(delta, asked=(*delta.asked, decision.attribute or "")))
            question = self._question(decision)
            return _Turn(asked, "ask", question=question, text=question)
        if decision.action == "clarify":
            return _Turn(after, "clarify", text=clarify(decision.item_ids, self.catalog))
        if decision.action == "answer":
            return _Turn(after, "answer", text=self._answer(decision.item_ids, delta.question))
        recs = pool[: self.settings.limits.recommendations]
        if recs:
            return _Turn(after, "recommend", recs=recs)
        k = self.settings.limits.recommendations  # nothing meets all: the least certain relaxed
        relaxed, recs, note = self.relax(after, k, history, delta.add)
        return (
            _Turn(relaxed, "recommend", recs=recs, text=note or "")
            if recs
            else _Turn(after, "recommend", text=_NOTHING)
        )

    def relax(
        self,
        state: DialogueState,
        k: int,
        messages: Sequence[Mapping[str, str] | Message] = (),
        fresh: Sequence[Constraint] = (),
    ) -> tuple[DialogueState, list[Recommendation], str | None]:
        """What a turn shows when nothing meets every constraint of ``state`` (``fresh``: those
        the last message stated, relaxed last): the relaxed state, its top ``k`` and the note
        that says so (:func:`convrec.ranking.relax.relaxed_ranking`)."""
        from convrec.ranking.relax import relaxed_ranking

        check_k(k)
        history = [as_message(m) for m in messages]
        return relaxed_ranking(
            state, fresh, self.catalog, lambda s: self._rank(s, k, None, history)
        )

    def _understand(
        self, history: Sequence[Message], state: DialogueState, shown: Sequence[str]
    ) -> StateDelta:
        from convrec.dialogue.understand import understand

        with self._compute:
            got = understand(history, state, self.lexicon, self.llm, shown, self.settings)
        log.debug("understanding via %s %s", got.path, got.reason)
        return got.delta

    def _rank(
        self,
        state: DialogueState,
        k: int,
        image: str | None,
        history: Sequence[Message] = (),
    ) -> list[Recommendation]:
        """Rank for ``state``; ``history`` gives the context routes (its last user message is
        the state's latest turn)."""
        from convrec.ranking.query import dialogue_context
        from convrec.ranking.recommend import rank

        said = [m.content for m in history if m.role == "user"]
        context = dialogue_context(said, state, self._title, self.settings.fusion)
        with self._compute:
            return rank(state, self.retriever, self.catalog, self.settings, k, image,
                        channels=self._search.channels, context=context)  # fmt: skip

    def _title(self, item_id: str) -> str | None:
        item = self.catalog.get(item_id)
        return item.title if item is not None else None

    def _question(self, decision: Decision) -> str:
        from convrec.dialogue.ask import phrase_question
        from convrec.dialogue.understand import catalog_noun

        with self._compute:
            return phrase_question(decision, self.llm, catalog_noun(self.lexicon))

    def _explain_stream(self, turn: _Turn, use_llm: bool = True) -> Iterator[str]:
        """The reply text, one line per item in rank order, each as soon as its explanation and
        those of the items above it are known; fills in ``turn.recs``' explanations (templates
        only without ``use_llm``)."""
        from convrec.explain.explanations import stream_explanations

        recs, note = turn.recs, f"{turn.text}\n" * bool(turn.text)  # a relaxed constraint
        yield f"{note}Here {'is' if len(recs) == 1 else 'are'} {len(recs)} for you:\n"
        got: dict[int, Explanation] = {}
        sent = 0
        llm = self.llm if use_llm else None
        explanations = stream_explanations(recs, turn.state, self.catalog, llm, self.settings)
        while True:
            # the model is held while it writes, never while the reader takes its time: a
            # client that stops reading a stream must not stall the other sessions
            with self._compute:
                ex = next(explanations, None)
            if ex is None:
                break
            got[ex.rank] = ex
            while sent in got:
                e = got[sent]
                recs[sent] = replace(recs[sent], explanation=e.text, explanation_source=e.source)
                yield f"{sent + 1}. {recs[sent].title}: {e.text}\n"
                sent += 1

    def _explain_all(
        self, state: DialogueState, recs: Sequence[Recommendation]
    ) -> list[Recommendation]:
        from convrec.explain.explanations import explain_recommendations

        if not recs:
            return []
        with self._compute:
            return list(
                explain_recommendations(
                    list(recs), state, self.catalog, self.llm, self.settings
                ).recommendations
            )

    def _explain_new(
        self, state: DialogueState, recs: list[Recommendation], before: Sequence[Recommendation]
    ) -> list[Recommendation]:
        """Explanations for the items not shown before; the others keep theirs."""
        known = {r.item_id: r for r in before if r.explanation}
        fresh = iter(self._explain_all(state, [r for r in recs if r.item_id not in known]))
        return [
            replace(r, explanation=k.explanation, explanation_source=k.explanation_source)
            if (k := known.get(r.item_id))
            else next(fresh)
            for r in recs
        ]

    def _answer(self, item_ids: Sequence[str], question: ItemQuestion | None) -> str:
        from convrec.explain.answers import answer

        return answer(item_ids, question, self.catalog) or _NOTHING

    # -- sessions ----------------------------------------------------------------------------------

    def _open_session(self, sid: str, uid: str | None) -> Session:
        session = self.sessions.get(sid)
        if session is None:
            user = uid or sid
            session = self.sessions.create(sid, user, self.catalog.name, self._seed_state(user))
        if session.catalog != self.catalog.name:
            raise InputError(
                f"Session {sid!r} belongs to catalog {session.catalog!r}, not "
                f"{self.catalog.name!r}. Fix: use another session id for this catalog."
            )
        return session

    def _seed_state(self, user_id: str) -> DialogueState:
        """A new session starts from what the user's profile says, limited to this catalog."""
        return seed_state(self.sessions.profile(user_id), self.catalog)

    def _remember(self, session: Session) -> None:
        self.sessions.update_profile(session.user_id, lambda p: merge_profile(p, session.state))

    def _check_message(self, message: str, allow_empty: bool) -> str:
        if not isinstance(message, str):
            raise InputError(f"The message must be a string, not {type(message).__name__}.")
        text = message.strip()
        if not text and not allow_empty:
            raise InputError("The message is empty. Fix: type what you are looking for.")
        limit = self.settings.limits.max_message_chars
        if len(text) > limit:
            raise InputError(
                f"The message is {len(text)} characters long; the limit is {limit}. Fix: "
                "shorten it or raise limits.max_message_chars."
            )
        return text


_NOTHING = "Nothing in the catalog matches all of that. Try removing a constraint."
_MODEL_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_MODEL_LOCKS_GUARD = threading.Lock()


def model_lock(llm: object, default: threading.Lock | None = None) -> threading.Lock:
    """The compute lock of ``llm``: one per model object, whichever ConvRec uses it (``default``
    becomes it when the model has none yet)."""
    with _MODEL_LOCKS_GUARD:
        try:
            return _MODEL_LOCKS.setdefault(llm, default or threading.Lock())
        except TypeError:  # an object that takes no weak reference: a lock of its own
            return default or threading.Lock()


def _recommend_decision(reason: str) -> Decision:
    from convrec.dialogue.policy import Decision

    return Decision("recommend", reason)


__all__ = ["Belief", "ConvRec", "Event", "Reply"]
