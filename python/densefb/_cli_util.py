"""Pieces shared by the ``densefb index`` and ``densefb search`` commands: one-line errors,
progress switches and the index folder's manifest."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import types
from pathlib import Path
from typing import Any, Dict, NoReturn

EXIT_ERROR = 2
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "densefb-index"
MANIFEST_VERSION = 1
DOC_IDS = "docids.txt"


class UserError(Exception):
    """A problem with the command's input, reported as one line (no traceback)."""


def one_line(error: BaseException) -> str:
    """The message of an exception folded onto one line (KeyError without its quotes)."""
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(str(text).split()) or type(error).__name__


def one_line_argparse_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Makes ``parser`` report usage errors as one line on stderr and exit with status 2
    (argparse prints the usage block as well by default)."""
    def error(self: argparse.ArgumentParser, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {' '.join(message.split())} "
                              f"(see {self.prog} --help)\n")

    parser.error = types.MethodType(error, parser)  # type: ignore[method-assign]
    return parser


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars: on a terminal (stderr is a TTY) unless ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def note(args: argparse.Namespace, message: str) -> None:
    """A status line on stderr when it is a terminal, unless ``--quiet``."""
    if show_progress(args):
        print(message, file=sys.stderr)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def write_json_atomic(path: Path, payload: Dict[str, Any]) -> None:
    """Writes JSON to a temporary file in the same folder, then renames it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=".densefb-", suffix=".json", dir=os.fspath(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_manifest(index_dir: Path) -> Dict[str, Any]:
    """The manifest of an index folder written by ``densefb index``; UserError if absent or
    not one."""
    path = index_dir / MANIFEST
    if not index_dir.is_dir():
        raise UserError(f"{index_dir}: no such index folder")
    if not path.is_file():
        raise UserError(f"{index_dir}: not an index folder of densefb index (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise UserError(f"{path}: not valid JSON ({one_line(error)})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise UserError(f"{path}: not a densefb index manifest")
    if int(manifest.get("version", 0)) > MANIFEST_VERSION:
        raise UserError(f"{path}: manifest version {manifest.get('version')} is newer than this "
                        f"densefb reads ({MANIFEST_VERSION}); upgrade densefb")
    return manifest


def read_doc_ids(index_dir: Path) -> list:
    """Document ids by position, from the index folder's docids.txt."""
    path = index_dir / DOC_IDS
    if not path.is_file():
        raise UserError(f"{index_dir}: {DOC_IDS} is missing")
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]
