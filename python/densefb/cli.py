"""The ``densefb`` command line: ``densefb <command> --help`` explains each command."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from densefb import __version__, cli_eval

# Each command module offers register(subparsers), which sets `func` on its parser.
_COMMANDS = [cli_eval]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="densefb",
        description="Dense retrieval with pseudo-relevance feedback, reranking and fusion.")
    parser.add_argument("--version", action="version", version=f"densefb {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for module in _COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
