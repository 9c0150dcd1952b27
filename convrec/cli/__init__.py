"""The `convrec` command: thin wrappers over the public API that map errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from convrec.errors import ConvRecError

# Each module registers one command group with `register(subparsers)`.
COMMAND_MODULES = (
    "models",
    "catalog",
    "index",
    "search_app",
    "chat",
    "train",
    "bench",
    "evaluate",
)

log = logging.getLogger("convrec")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convrec", description=__doc__)
    parser.add_argument("--config", help="path to convrec.toml (default: ./convrec.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"convrec.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"convrec.cli.{name}":
                continue  # command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = args.func(args)
    except ConvRecError as e:
        log.error("%s", e)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
