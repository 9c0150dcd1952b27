"""`convrec chat`: a terminal chat over the public API (errors become messages and exit codes)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from convrec.errors import InputError

QUIT = {"/quit", "/exit", ":q"}
HELP = (
    "Type what you are looking for. Commands: /image PATH [message] (more like this photo), "
    "/like N, /dislike N (feedback on result N), /reset, /quit."
)


def register(sub: Any) -> None:
    p = sub.add_parser("chat", help="chat with the recommender in the terminal")
    p.add_argument("--catalog", help="catalog name or directory (default: settings.catalog)")
    p.add_argument("--session", default="terminal", help="session id (kept across runs)")
    p.add_argument("--user", help="user id for the long-term profile (default: the session id)")
    p.set_defaults(func=cmd_chat)


def cmd_chat(
    args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    from convrec import ConvRec

    inp, out = stdin or sys.stdin, stdout or sys.stdout
    rec = ConvRec.from_config(args.config, catalog=args.catalog)
    out.write(f"convrec on {rec.catalog.name} ({len(rec.catalog)} items). {HELP}\n")
    shown: list[str] = []
    for raw in inp:
        line = raw.strip()
        if not line:
            continue
        if line in QUIT:
            break
        try:
            shown = _turn(rec, args, line, shown, out)
        except InputError as e:  # bad input ends nothing: say how to fix it and go on
            out.write(f"! {e}\n")
        out.flush()
    return 0


def _turn(
    rec: Any, args: argparse.Namespace, line: str, shown: list[str], out: TextIO
) -> list[str]:
    cmd, _, rest = line.partition(" ")
    if cmd == "/reset":
        rec.reset(args.session)
        out.write("Started over.\n")
        return []
    if cmd in ("/like", "/dislike"):
        if not rest.strip().isdigit() or not 1 <= int(rest) <= len(shown):
            raise InputError(f"{cmd} needs the number of a shown result (1–{len(shown)}).")
        reply = rec.feedback(args.session, shown[int(rest) - 1], liked=cmd == "/like")
        out.write(reply.text + "\n")
        return _show(reply.recommendations, out) or shown
    image = None
    if cmd == "/image":
        image, _, line = rest.strip().partition(" ")
        if not image:
            raise InputError("/image needs a path: /image photo.jpg [message]")
    reply = None
    for event in rec.chat_stream(line if image is None else line.strip(), args.session,
                                 image=image, user_id=args.user):  # fmt: skip
        if event.kind == "text":
            out.write(event.text)
            out.flush()
        reply = event.reply or reply
    out.write("\n")
    return [r.item_id for r in reply.recommendations] if reply and reply.recommendations else shown


def _show(recs: Any, out: TextIO) -> list[str]:
    for n, r in enumerate(recs, start=1):
        out.write(f"{n}. {r.title}: {r.explanation}\n")
    return [r.item_id for r in recs]
