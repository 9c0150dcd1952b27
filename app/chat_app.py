"""Gradio chat app over the public API: chat on the left, recommendation cards on the right.

Run it with `convrec app` (or `make demo`). It binds to 127.0.0.1 with analytics off and serves
only the image folders of the catalogs it offers. Each browser keeps a random user id in its
local storage, so reloading the page restores the conversation (stored in SQLite by ConvRec).
"""

from __future__ import annotations

import ctypes
import hashlib
import html
import logging
import os
import re
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import gradio as gr

from convrec import ConvRec, ConvRecError, Settings, catalog_dir

if TYPE_CHECKING:
    from convrec import Belief, Item, Recommendation

log = logging.getLogger(__name__)

CSS = """
.cr-tile {border:1px solid #ddd; border-radius:10px; padding:8px !important; background:#fff;
  gap:6px !important; justify-content:space-between}
.cr-card {color:#222}
.cr-card img {width:100%; height:150px; object-fit:contain; background:#f6f6f6; border-radius:6px}
.cr-poster {height:150px; border-radius:6px; padding:14px; box-sizing:border-box;
  display:flex; flex-direction:column; justify-content:flex-end; overflow:hidden}
.cr-poster-title {font-family:Georgia,serif; font-size:20px; line-height:1.15; font-weight:600;
  color:#fff !important}
.cr-poster-sub {font-size:12px; color:#f3f3f3 !important; margin-top:6px; letter-spacing:.04em;
  text-transform:uppercase}
.cr-title {font-weight:600; margin:6px 0 4px}
.cr-attrs {font-size:12px; color:#555; margin:0; padding-left:16px}
.cr-expl {font-size:13px; margin:6px 0}
.cr-why {font-size:12px; margin-top:4px}
.cr-buttons {gap:6px !important}
"""
PENDING = "_Looking through the catalog…_"  # the reply's place while the turn is worked out
ATTRIBUTES_SHOWN = 5


BROWSER_KEY = re.compile(r"[0-9a-f]{32}")  # uuid4().hex: 122 random bits


class ChatApp:
    """One ConvRec per catalog (opened on first use), sharing the LLM and the session store."""

    def __init__(self, settings: Settings, catalogs: Sequence[str], llm: Any = None) -> None:
        if not catalogs:
            raise ConvRecError(
                "No catalog to show. Fix: `convrec catalog build phones && convrec index phones`."
            )
        self.settings = settings
        self.catalogs = list(catalogs)
        self._open: dict[str, ConvRec] = {}
        self._llm = llm  # None: each catalog shares the one the settings name, loaded once
        self._lock = threading.Lock()

    def engine(self, catalog: str) -> ConvRec:
        with self._lock:
            if catalog not in self._open:
                first = next(iter(self._open.values()), None)
                rec = ConvRec.from_config(
                    catalog=catalog,
                    settings=self.settings,
                    llm=first.llm if first else self._llm,
                    sessions=first.sessions if first else None,
                )
                rec.warm_up()  # the models and the store, before this catalog's first turn
                self._open[catalog] = rec
            return self._open[catalog]

    def allowed_paths(self) -> list[str]:
        """Only the catalogs' own folders (their images) may be served."""
        return [str(catalog_dir(c, self.settings)) for c in self.catalogs]

    # -- handlers (each gets the browser's user id, the selected catalog and the request) ---------

    @staticmethod
    def whose(user: str | None, request: gr.Request | None) -> str:
        """Whose conversations a request may see: the login's when the app requires one (the
        browser's key is then ignored), else this browser's unguessable key (a new one on the
        first visit). A key this app did not hand out (not 32 hex digits: "alice", "login-…") is
        never used: it could be guessed, or name a login's conversations."""
        name = getattr(request, "username", None) if request is not None else None
        if name:
            return "login-" + hashlib.sha256(str(name).encode()).hexdigest()[:32]
        if isinstance(user, str) and BROWSER_KEY.fullmatch(user):
            return user
        return uuid.uuid4().hex

    def restore(
        self, user: str | None, catalog: str, request: gr.Request | None = None
    ) -> tuple[Any, ...]:
        """Page load or catalog switch: the stored conversation, cards and beliefs.

        The message box is left alone: words typed while the page was still loading stay.
        """
        user = self.whose(user, request)
        try:
            rec = self.engine(catalog)
        except ConvRecError as e:  # e.g. a catalog that is built but not indexed
            raise gr.Error(str(e)) from e
        session = rec.session(_sid(user, catalog))
        history = (
            [{"role": m.role, "content": m.content} for m in session.messages] if session else []
        )
        cards = self._cards(rec, session.shown) if session else []
        return user, history, cards, self._beliefs(rec, user, catalog)

    def send(
        self,
        message: str,
        image: str | None,
        user: str,
        catalog: str,
        request: gr.Request | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream one turn: the cards as soon as they are ranked, then the reply text."""
        rec = self.engine(catalog)
        user = self.whose(user, request)  # (a new key: a send before the page load finished)
        sid = _sid(user, catalog)
        session = rec.session(sid)
        history = (
            [{"role": m.role, "content": m.content} for m in session.messages] if session else []
        )
        cards: list[dict[str, Any]] = self._cards(rec, session.shown) if session else []
        try:
            events = rec.chat_stream(message, sid, image=image, user_id=user)
        except ConvRecError as e:
            raise gr.Error(str(e)) from e
        shown = message.strip() or "More like this picture."
        history += [
            {"role": "user", "content": ("📷 " if image else "") + shown},
            {"role": "assistant", "content": PENDING},
        ]
        keep = gr.update()
        yield history, cards, keep, "", None, user
        try:
            for event in events:
                if event.kind == "recommendations":
                    cards = self._cards(rec, event.recommendations)
                elif event.kind == "text":
                    before = history[-1]["content"]
                    history[-1]["content"] = ("" if before == PENDING else before) + event.text
                    if event.recommendations:  # each card shows its explanation once known
                        cards = self._cards(rec, event.recommendations)
                elif event.reply is not None:
                    history[-1]["content"] = event.reply.text
                    if event.reply.recommendations:
                        cards = self._cards(rec, event.reply.recommendations)
                    yield history, cards, self._beliefs(rec, user, catalog), "", None, user
                    return
                yield history, cards, keep, "", None, user
        except ConvRecError as e:
            raise gr.Error(str(e)) from e

    def feedback(
        self, item_id: str, liked: bool, user: str, catalog: str, request: gr.Request | None = None
    ) -> tuple[Any, ...]:
        """Like or dislike a card; a disliked card is replaced by the next best item."""
        user = self.whose(user, request)
        rec = self.engine(catalog)
        try:
            reply = rec.feedback(_sid(user, catalog), item_id, liked)
        except ConvRecError as e:
            raise gr.Error(str(e)) from e
        gr.Info(reply.text)
        return self._cards(rec, reply.recommendations), self._beliefs(rec, user, catalog)

    def forget(
        self, keep: list[str], user: str, catalog: str, request: gr.Request | None = None
    ) -> Any:
        """Remove the beliefs the user unticked in the preference panel."""
        user = self.whose(user, request)
        rec = self.engine(catalog)
        sid = _sid(user, catalog)
        gone = [b.key for b in rec.beliefs(sid) if b.key not in set(keep or [])]
        if gone:
            rec.forget_beliefs(sid, gone)
        return self._beliefs(rec, user, catalog)

    def new_conversation(
        self, user: str, catalog: str, request: gr.Request | None = None
    ) -> tuple[Any, ...]:
        user = self.whose(user, request)
        rec = self.engine(catalog)
        rec.reset(_sid(user, catalog))
        return [], [], self._beliefs(rec, user, catalog)

    # -- views ------------------------------------------------------------------------------------

    def _cards(self, rec: ConvRec, recs: Sequence[Recommendation]) -> list[dict[str, Any]]:
        out = []
        for r in recs:
            card = asdict(r)
            card["html"] = card_html(rec, r)
            out.append(card)
        return out

    def _beliefs(self, rec: ConvRec, user: str, catalog: str) -> Any:
        beliefs: list[Belief] = rec.beliefs(_sid(user, catalog))
        return gr.update(
            choices=[(f"{b.kind}: {b.label}", b.key) for b in beliefs],
            value=[b.key for b in beliefs],
        )

    def build(self) -> gr.Blocks:
        with gr.Blocks(title="convrec") as demo:
            user = gr.BrowserState("", storage_key="convrec-user")
            cards = gr.State([])
            with gr.Row():
                gr.Markdown(
                    "## convrec\nTell me what you are looking for; I ask when it helps and "
                    "recommend only what is in the catalog."
                )
                catalog = gr.Dropdown(
                    [(catalog_label(c), c) for c in self.catalogs],
                    value=self.catalogs[0],
                    label="Catalog",
                    elem_id="catalog",
                )
            with gr.Row():
                with gr.Column(scale=5):
                    chat = gr.Chatbot(elem_id="chat", height=460, feedback_options=None)
                    with gr.Row():
                        text = gr.Textbox(
                            placeholder='e.g. "a Sony phone with a big screen"',
                            show_label=False,
                            scale=4,
                            elem_id="message",
                        )
                        send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                    with gr.Row():
                        image = gr.Image(
                            type="filepath", label="More like this photo", height=140,
                            elem_id="photo",
                        )  # fmt: skip
                        with gr.Column():
                            new = gr.Button("New conversation", elem_id="new")
                            beliefs = gr.CheckboxGroup(
                                label="What I believe about you (untick what is wrong)",
                                elem_id="beliefs",
                            )
                with gr.Column(scale=6, elem_id="cards"):

                    @gr.render(inputs=[cards, user, catalog])
                    def show(items: list[dict[str, Any]], uid: str, cat: str) -> None:
                        if not items:
                            gr.Markdown("Recommendations appear here.")
                            return
                        with gr.Row(equal_height=True):
                            for card in items:  # one tile: the card and its own buttons
                                with gr.Column(min_width=200, elem_classes=["cr-tile"]):
                                    gr.HTML(card["html"])
                                    with gr.Row(elem_classes=["cr-buttons"]):
                                        like = _button("👍 Like", "cr-like")
                                        dislike = _button("👎 Dislike", "cr-dislike")
                                    for button, liked in ((like, True), (dislike, False)):
                                        button.click(
                                            _on_feedback(self, card["item_id"], liked),
                                            [user, catalog],
                                            [cards, beliefs],
                                            api_visibility="private",
                                        )

            restore_out = [user, chat, cards, beliefs]
            demo.load(self.restore, [user, catalog], restore_out, api_visibility="private")
            catalog.change(self.restore, [user, catalog], restore_out, api_visibility="private")
            send_args = ([text, image, user, catalog], [chat, cards, beliefs, text, image, user])
            send.click(self.send, *send_args, api_name="chat")
            text.submit(self.send, *send_args, api_visibility="private")
            new.click(
                self.new_conversation, [user, catalog], [chat, cards, beliefs],
                api_visibility="private",
            )  # fmt: skip
            beliefs.input(self.forget, [beliefs, user, catalog], beliefs, api_visibility="private")
        return demo


def _button(label: str, cls: str) -> Any:
    return gr.Button(label, size="sm", min_width=0, scale=1, elem_classes=[cls])


def _on_feedback(app: ChatApp, item_id: str, liked: bool) -> Any:
    def handler(user: str, catalog: str, request: gr.Request) -> tuple[Any, ...]:
        return app.feedback(item_id, liked, user, catalog, request)

    return handler


def _sid(user: str, catalog: str) -> str:
    """One session per browser and catalog."""
    from pathlib import Path

    return f"{user}:{Path(catalog).name}"[:128]


def catalog_label(catalog: str) -> str:
    """What the catalog selector shows: the catalog's name, never a path."""
    from pathlib import Path

    return Path(catalog).name or catalog


def poster_html(item: Item) -> str:
    """A typographic poster for an item without a picture: its title set large on a colour
    drawn from the title, with its year and kind beneath."""
    import zlib

    hue = zlib.crc32(item.title.encode()) % 360
    kinds = item.attributes.get("genres") or item.attributes.get("maker") or item.category
    kind = kinds[0] if isinstance(kinds, tuple) and kinds else kinds
    sub = " · ".join(str(x) for x in (item.date[:4] if item.date else "", kind) if x)
    return (
        f'<div class="cr-poster" style="background:hsl({hue},38%,30%)">'
        f'<span class="cr-poster-title">{html.escape(item.title)}</span>'
        f'<span class="cr-poster-sub">{html.escape(sub)}</span></div>'
    )


def card_html(rec: ConvRec, r: Recommendation) -> str:
    """A card: image (or a typographic poster), title, key attributes, explanation, and a "why"
    toggle
    with the score breakdown."""
    esc = html.escape
    item = rec.item(r.item_id)
    pic = (
        f'<img src="/gradio_api/file={esc(r.image)}" alt="{esc(r.title)}">'
        if r.image
        else poster_html(item)
    )
    attrs = [(n.replace("_", " "), v) for n, v in rec.attributes(r.item_id, ATTRIBUTES_SHOWN)]
    lis = "".join(f"<li>{esc(n)}: {esc(v)}</li>" for n, v in attrs)
    why = "".join(
        f"<li>{esc(n)}: {v:+.3f}</li>"
        for n, v in sorted(r.breakdown.items(), key=lambda kv: -abs(kv[1]))
    )
    return (
        f'<div class="cr-card" data-item="{esc(r.item_id)}">{pic}'
        f'<div class="cr-title">{esc(r.title)}</div><ul class="cr-attrs">{lis}</ul>'
        f'<div class="cr-expl">{esc(r.explanation)}</div>'
        f'<details class="cr-why"><summary>why</summary>score {r.score:.3f}<ul>{why}</ul>'
        "</details></div>"
    )


MALLOC_ARENAS = 2  # glibc's default (8 per core) let a busy app's memory creep


def _limit_malloc_arenas() -> None:
    """Fewer glibc malloc arenas for a long-running server: under eval/load.py (16 sessions for
    five minutes) the app grew by 885 MB with glibc's default, by 367 MB with MALLOC_ARENA_MAX=2
    and by 419 MB with this call, at the same throughput. A MALLOC_ARENA_MAX in the environment
    wins; other C libraries are left as they are."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, MALLOC_ARENAS)  # -8: M_ARENA_MAX
    except (OSError, AttributeError):
        log.debug("no glibc mallopt here: malloc arenas left as they are")


def launch(
    settings: Settings,
    catalogs: Sequence[str],
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    llm: Any = None,
    auth: Sequence[tuple[str, str]] = (),
) -> Any:
    """Build and start the app; with ``block=False`` return the running Blocks (tests).
    ``llm`` replaces the LLM the settings name (tests pass a bounded one). ``auth``: (user,
    password) pairs; when given, every visitor logs in and sees only their own conversations."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    _limit_malloc_arenas()
    app = ChatApp(settings, catalogs, llm)
    app.engine(app.catalogs[0])  # load and warm the models before the first visitor
    demo = app.build()
    # 4 events at once, 64 waiting: past that a visitor is told the queue is full at once,
    # instead of waiting minutes behind everyone else (eval/load.py measures the waits)
    demo.queue(default_concurrency_limit=4, max_size=64)
    log.info("serving %s on http://%s:%d", ", ".join(app.catalogs), host, port)
    demo.launch(
        server_name=host,
        server_port=port,
        allowed_paths=app.allowed_paths(),
        prevent_thread_lock=not block,
        share=False,
        show_error=True,
        css=CSS,
        auth=list(auth) or None,
    )
    return demo
