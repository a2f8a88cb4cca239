"""The ``densefb`` command line: ``densefb <command> --help`` explains each command."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from densefb._cli_util import EXIT_INTERRUPTED, one_line_argparse_errors, sigterm_as_interrupt
from densefb import __version__, cli_eval, cli_experiment, cli_index, cli_judge, cli_search, cli_sweep

# Each command module offers register(subparsers), which sets `func` on its parser.
_COMMANDS = [cli_index, cli_search, cli_eval, cli_experiment, cli_sweep, cli_judge]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="densefb",
        description="Dense retrieval with pseudo-relevance feedback, reranking and fusion.")
    parser.add_argument("--version", action="version", version=f"densefb {__version__}")
    one_line_argparse_errors(parser)  # usage errors: one line on stderr, exit status 2
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for module in _COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs one command; its exit status: 0, 2 on an error (one line on stderr), 130 on Ctrl-C
    and 143 on SIGTERM (one line, "densefb <command>: interrupted", and no partial output)."""
    try:
        with sigterm_as_interrupt():
            parser = build_parser()
            args = parser.parse_args(argv)
            args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in run sidecars
            if not getattr(args, "func", None):
                parser.print_help()
                return 2
            return args.func(args)  # each command reports its own errors and interrupts
    except KeyboardInterrupt as interrupt:  # before a command started
        print("densefb: interrupted", file=sys.stderr)
        return getattr(interrupt, "exit_status", EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
