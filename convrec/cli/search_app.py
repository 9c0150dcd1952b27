"""`convrec app` (the Gradio chat app in app/chat_app.py; ``--search`` for the search-only app in
app/search_app.py) and `convrec search` (the same search in the terminal)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from convrec.errors import ConvRecError
from convrec.resources import shipped

log = logging.getLogger(__name__)

APP_DIR = shipped("app")
APP_FILE = APP_DIR / "search_app.py"


def register(sub: Any) -> None:
    app = sub.add_parser("app", help="launch the Gradio app on 127.0.0.1")
    app.add_argument("--catalog", action="append", help="catalog to offer (repeatable)")
    app.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    app.add_argument("--port", type=int, default=7860)
    app.add_argument(
        "--listen-all",
        action="store_true",
        help="bind 0.0.0.0 so other machines can connect (the app has no authentication)",
    )
    app.add_argument(
        "--search", action="store_true", help="the one-shot search app instead of the chat app"
    )
    app.add_argument(
        "--auth",
        type=Path,
        metavar="FILE",
        help="require a login (a shared deployment): FILE holds one user:password per line; "
        "each login sees only its own conversations",
    )
    app.set_defaults(func=cmd_app)

    search = sub.add_parser("search", help="search an indexed catalog by text and/or image")
    search.add_argument("query", nargs="?", default="", help="what you are looking for")
    search.add_argument("--image", help="an example image file")
    search.add_argument("--catalog", help="catalog name or directory (default: settings.catalog)")
    search.add_argument("-k", type=int, default=None, help="how many results")
    search.set_defaults(func=cmd_search)


def load_app_module(name: str = "search_app") -> ModuleType:
    """An app module (``chat_app`` or ``search_app``): app/ ships in the wheel, and is the
    checkout's top-level app/ when running from source."""
    path = APP_DIR / f"{name}.py"
    if not path.is_file():
        raise ConvRecError(
            f"The app is not at {path}. Fix: reinstall convrec (`pip install --force-reinstall "
            "convrec`, or `make install` in a checkout)."
        )
    spec = importlib.util.spec_from_file_location(f"convrec_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def cmd_app(args: argparse.Namespace) -> int:
    from convrec.catalog.layout import built_catalogs
    from convrec.config import load_settings

    settings = load_settings(args.config)
    host = "0.0.0.0" if args.listen_all else args.host
    if host not in {"127.0.0.1", "localhost", "::1"}:
        log.warning("listening on %s: anyone who can reach this machine can use the app", host)
    module = load_app_module("search_app" if args.search else "chat_app")
    wanted = args.catalog or [settings.catalog, "phones", "movies"]
    wanted = list(dict.fromkeys(wanted))
    catalogs = built_catalogs(wanted, settings)
    if not catalogs:
        raise ConvRecError(
            f"None of {', '.join(wanted)} is built. Fix: `convrec catalog build {wanted[0]} && "
            f"convrec index {wanted[0]}`."
        )
    if args.auth and args.search:
        raise ConvRecError("--auth is for the chat app. Fix: drop --search or --auth.")
    extra = {"auth": read_logins(args.auth)} if args.auth else {}
    module.launch(settings, catalogs, host=host, port=args.port, **extra)
    return 0


def read_logins(path: Path) -> list[tuple[str, str]]:
    """``user:password`` lines of ``path`` (blank lines and ``#`` comments skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConvRecError(
            f"Cannot read the logins file {path} ({e}). Fix: give a readable file."
        ) from e
    logins = []
    for n, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise ConvRecError(
                f"{path}:{n} is not user:password. Fix: one login per line, e.g. ann:s3cret."
            )
        logins.append((user.strip(), password))
    if not logins:
        raise ConvRecError(f"{path} holds no login. Fix: add user:password lines.")
    return logins


def cmd_search(args: argparse.Namespace) -> int:
    from convrec.config import load_settings
    from convrec.wiring import open_search

    engine = open_search(args.catalog, load_settings(args.config))
    result = engine.search(args.query, args.image, k=args.k)
    for n, rec in enumerate(result.recommendations, start=1):
        attrs = "; ".join(f"{a}: {v}" for a, v in engine.attributes(rec.item_id, limit=4))
        sys.stdout.write(f"{n:>2}. {rec.title} [{rec.item_id}] {rec.score:.4f}  {attrs}\n")
    return 0
