"""Pieces shared by the ``densefb`` commands: one-line errors and interrupts, progress
switches, atomic outputs, and the index folder (manifest, document ids, consistency checks).

Outputs (every file or folder a command writes) follow one set of rules, documented in
docs/cli.md:

- An output is replaced only when complete: it is written to a temporary name beside its
  target (symlinks resolved first, so a link keeps pointing at the new content), then renamed
  over it. A failure, Ctrl-C or SIGTERM removes the temporary and leaves the old output as it
  was. Temporaries are named ``.<name>.densefb-tmp-<pid>-...``; those of a process that no
  longer runs are removed by the next command writing the same output.
- ``-`` means standard output; a target that exists and is not a regular file (``/dev/stdout``,
  a FIFO, a device) is streamed to, not replaced.
- A new file gets the normal mode (``0666 & ~umask``); a replaced file keeps its mode.
- The folder an output goes in must exist: a missing parent is an error, before any work.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import types
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NoReturn, Optional, Sequence

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "densefb-index"
MANIFEST_VERSION = 2  # 2: doc_ids {file, count, sha256}, num_documents, dataset.corpus_sha256
DOC_IDS = "docids.txt"
TMP_TAG = ".densefb-tmp-"
OLD_TAG = ".densefb-old-"

# Errors a command reports as one line (anything else is a bug and keeps its traceback).
EXPECTED_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError, ImportError)


class UserError(Exception):
    """A problem with the command's input, reported as one line (no traceback)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that temporaries are removed on the way out."""
    exit_status = 128 + signal.SIGTERM


def one_line(error: BaseException) -> str:
    """The message of an exception folded onto one line (KeyError without its quotes, an
    OSError as 'FILE: reason')."""
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    return " ".join(str(text).split()) or type(error).__name__


def one_line_argparse_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Makes ``parser`` report usage errors as one line on stderr and exit with status 2
    (argparse prints the usage block as well by default)."""
    def error(self: argparse.ArgumentParser, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {' '.join(message.split())} "
                              f"(see {self.prog} --help)\n")

    parser.error = types.MethodType(error, parser)  # type: ignore[method-assign]
    return parser


def run_guarded(command: str, body: Callable[[], int]) -> int:
    """Runs a command's body: expected errors become one line on stderr and status 2, Ctrl-C
    one line and status 130 (SIGTERM 143); never a traceback for either."""
    try:
        return body()
    except KeyboardInterrupt as interrupt:
        print(f"densefb {command}: {'terminated' if isinstance(interrupt, Terminated) else 'interrupted'}",
              file=sys.stderr)
        return getattr(interrupt, "exit_status", EXIT_INTERRUPTED)
    except MemoryError as error:
        detail = one_line(error) if error.args else "a size given is too large for this machine"
        print(f"densefb {command}: error: out of memory ({detail})", file=sys.stderr)
        return EXIT_ERROR
    except (UserError,) + EXPECTED_ERRORS as error:
        print(f"densefb {command}: error: {one_line(error)}", file=sys.stderr)
        return EXIT_ERROR


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While active (main thread only), SIGTERM raises :class:`Terminated`."""
    def handler(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


# ---- outputs --------------------------------------------------------------------------------

def is_stdout(path: Optional[str]) -> bool:
    """``-`` or a name of the process's standard output."""
    if path is None:
        return False
    if path == "-":
        return True
    try:
        return os.path.samefile(path, "/dev/stdout") or os.path.samefile(path, "/proc/self/fd/1")
    except OSError:
        return False


def check_output_parent(path: Optional[str], option: str, folder: bool = False) -> None:
    """UserError unless the folder ``path`` goes in exists (outputs never create folders
    above themselves), and a file output is not an existing folder."""
    if not path or path == "-":
        return
    if "\0" in path:
        raise UserError(f"{option} {path!r}: a path cannot contain a NUL character")
    parent = Path(os.path.realpath(path)).parent
    if not parent.is_dir():
        raise UserError(f"{option} {path}: the folder {parent} does not exist (create it first)")
    if not folder and os.path.isdir(path):
        raise UserError(f"{option} {path}: is a folder, not a file")


def default_mode() -> int:
    """The mode of a new file: 0666 masked by the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(target: Path) -> None:
    """Removes the temporaries of ``target`` left by processes that no longer run; restores
    a folder moved aside by a process killed while swapping it in."""
    pattern = re.compile(re.escape(f".{target.name}") + r"\.densefb-(tmp|old)-(\d+)(-[0-9a-f]+)?")
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if not m or _alive(int(m.group(2))):
            continue
        path = Path(entry.path)
        if m.group(1) == "old" and not os.path.lexists(target):
            os.rename(path, target)
        elif entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """Yields a temporary path to write the whole output to; on success it becomes ``path``
    (rules in the module docstring), on any exception it is removed."""
    stream = is_stdout(path) or (os.path.exists(path) and not os.path.isfile(path))
    if stream:
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix="densefb-tmp-")
        os.close(fd)
    else:
        real = Path(os.path.realpath(path))
        remove_stale_temporaries(real)
        tmp = os.fspath(real.parent / f".{real.name}{TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        yield tmp
        if stream:
            with open(tmp, "rb") as src:
                if is_stdout(path):
                    sys.stdout.flush()
                    shutil.copyfileobj(src, sys.stdout.buffer)
                    sys.stdout.buffer.flush()
                else:
                    with open(path, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            os.unlink(tmp)
        else:
            mode = stat.S_IMODE(real.stat().st_mode) if real.exists() else default_mode()
            os.chmod(tmp, mode)
            os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str, text: str) -> None:
    """Writes UTF-8 text (``\\n`` line ends) as :func:`atomic_output` describes."""
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


def write_json_atomic(path, payload: Dict[str, Any]) -> None:
    """Writes JSON (two-space indent, final newline) as :func:`atomic_output` describes."""
    write_text_atomic(os.fspath(path), json.dumps(payload, indent=2) + "\n")


@contextlib.contextmanager
def atomic_folder(path: str) -> Iterator[Path]:
    """Yields a new temporary folder beside ``path``; on success it replaces ``path`` (the old
    folder, if any, is renamed away, the new one renamed in, then the old one deleted; a
    replaced folder keeps its mode); on any exception it is deleted and ``path`` is untouched."""
    real = Path(os.path.realpath(path))
    remove_stale_temporaries(real)
    tmp = real.parent / f".{real.name}{TMP_TAG}{os.getpid()}"
    if os.path.lexists(tmp):
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if real.exists():
            os.chmod(tmp, stat.S_IMODE(real.stat().st_mode))
            old = real.parent / f".{real.name}{OLD_TAG}{os.getpid()}"
            os.rename(real, old)
            try:
                os.rename(tmp, real)
            except BaseException:
                os.rename(old, real)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, real)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---- reading text ---------------------------------------------------------------------------

def decode_utf8(data: bytes, path) -> str:
    """``data`` decoded as UTF-8 (a leading BOM dropped); UserError naming the file, line and
    column of the first invalid byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        start = error.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise UserError(f"{path}:{line}: invalid UTF-8 (byte 0x{data[start]:02x} at column "
                        f"{column})") from None


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- document ids ---------------------------------------------------------------------------

def id_problem(doc_id: str) -> Optional[str]:
    """Why ``doc_id`` cannot be a document id of an index folder or a TREC file, or None: the
    library's one id rule (``densefb.check_id``)."""
    from densefb import _core

    try:
        _core.check_id(doc_id, "document id")
    except ValueError as error:
        return f"is refused ({one_line(error)})"
    return None


def first_bad_id(ids: Sequence[str]) -> Optional[tuple]:
    """(position, id, problem) of the first unusable or repeated id, or None."""
    for position, doc_id in enumerate(ids):
        problem = id_problem(doc_id)
        if problem:
            return position, doc_id, problem
    if len(set(ids)) != len(ids):
        seen: Dict[str, int] = {}
        for position, doc_id in enumerate(ids):
            if doc_id in seen:
                return position, doc_id, f"repeats document {seen[doc_id] + 1}"
            seen[doc_id] = position
    return None


# ---- the index folder -----------------------------------------------------------------------

def _manifest_error(path: Path, message: str) -> UserError:
    return UserError(f"{path}: {message}")


def read_manifest(index_dir: Path) -> Dict[str, Any]:
    """The manifest of an index folder written by ``densefb index``; UserError if absent or
    not one."""
    path = index_dir / MANIFEST
    if not index_dir.is_dir():
        raise UserError(f"{index_dir}: no such index folder")
    if not path.is_file():
        raise UserError(f"{index_dir}: not an index folder of densefb index (no {MANIFEST})")
    try:
        manifest = json.loads(decode_utf8(path.read_bytes(), path))
    except ValueError as error:
        raise UserError(f"{path}: not valid JSON ({one_line(error)})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise UserError(f"{path}: not a densefb index manifest")
    version = manifest.get("version")
    if not isinstance(version, int) or version < 1:
        raise UserError(f"{path}: version {version!r} is not a manifest version")
    if version > MANIFEST_VERSION:
        raise UserError(f"{path}: manifest version {version} is newer than this densefb reads "
                        f"({MANIFEST_VERSION}); upgrade densefb")
    return manifest


def member_file(index_dir: Path, manifest_path: Path, field: str, name: Any) -> Path:
    """The file ``name`` a manifest field names, which must be a plain file name inside the
    index folder (no path, no '..', no symlink leading out)."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name \
            or "\\" in name or "\0" in name:
        raise _manifest_error(manifest_path, f"{field} {name!r} is not a file name inside the "
                                             f"index folder (refused)")
    path = index_dir / name
    real, folder = os.path.realpath(path), os.path.realpath(index_dir)
    if os.path.dirname(real) != folder:
        raise _manifest_error(manifest_path, f"{field} {name!r} leads outside the index folder "
                                             f"(to {real}; refused)")
    if not os.path.isfile(real):
        raise UserError(f"{path}: missing, or not a regular file ({field} of {manifest_path})")
    return path


class IndexFolder:
    """An index folder whose files were checked against each other: the manifest, the
    document ids (count, sha256, no repeats) and the files it names. The indexes themselves
    are loaded by :meth:`load_dense` / :meth:`load_bm25`, which check their sizes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self.manifest_path = self.path / MANIFEST
        m = self.manifest
        for key in ("dense", "bm25"):
            if m.get(key) is not None and not isinstance(m[key], dict):
                raise _manifest_error(self.manifest_path, f"{key} is not an object")
        entry = m.get("doc_ids", DOC_IDS)
        if m["version"] >= 2:
            if not isinstance(entry, dict):
                raise _manifest_error(self.manifest_path, "doc_ids is not an object")
            self.num_documents = m.get("num_documents")
            ids_name = entry.get("file")
        else:  # version 1: docids.txt, the count in dataset.num_documents, no hash
            self.num_documents = (m.get("dataset") or {}).get("num_documents")
            ids_name = entry if isinstance(entry, str) else DOC_IDS
        if not isinstance(self.num_documents, int) or self.num_documents < 1:
            raise _manifest_error(self.manifest_path,
                                  f"number of documents {self.num_documents!r} is not a count")
        self.ids_path = member_file(self.path, self.manifest_path, "doc_ids file", ids_name)
        self.dense_path = self._member("dense")
        self.bm25_path = self._member("bm25")
        self.doc_ids = self._read_ids(entry if m["version"] >= 2 else {})
        dense = m.get("dense") or {}
        if "num_vectors" in dense and dense["num_vectors"] != self.num_documents:
            raise _manifest_error(self.manifest_path, f"dense.num_vectors {dense['num_vectors']} "
                                                      f"differs from {self.num_documents} documents")

    def _member(self, key: str) -> Optional[Path]:
        part = self.manifest.get(key)
        if not part:
            return None
        return member_file(self.path, self.manifest_path, f"{key}.file", part.get("file"))

    def _read_ids(self, entry: Dict[str, Any]) -> List[str]:
        path = self.ids_path
        data = path.read_bytes()
        expected = entry.get("sha256")
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            raise UserError(f"{path}: contents differ from those recorded in {MANIFEST} "
                            f"(sha256 mismatch); the folder was changed after indexing")
        if data and not data.endswith(b"\n"):
            raise UserError(f"{path}: the last line has no newline (truncated?)")
        ids = decode_utf8(data, path).split("\n")[:-1]
        if len(ids) != self.num_documents:
            raise UserError(f"{path}: {len(ids)} document ids, but {MANIFEST} records "
                            f"{self.num_documents} documents")
        bad = first_bad_id(ids)
        if bad:
            position, doc_id, problem = bad
            raise UserError(f"{path}:{position + 1}: document id {doc_id!r} {problem}")
        return ids

    def _check_size(self, path: Path, size: int, what: str) -> None:
        if size != self.num_documents:
            raise UserError(f"{path}: {size} {what}, but {self.ids_path.name} lists "
                            f"{self.num_documents} documents")

    def load_dense(self):
        import densefb

        kind = self.manifest["dense"].get("kind")
        if kind not in ("flat", "hnsw"):
            raise _manifest_error(self.manifest_path, f"dense.kind {kind!r} is not flat or hnsw")
        cls = densefb.HnswIndex if kind == "hnsw" else densefb.FlatIndex
        index = cls.load(self.dense_path)
        self._check_size(self.dense_path, index.ntotal, "vectors")
        return index

    def load_bm25(self):
        import densefb

        index = densefb.Bm25Index.load(self.bm25_path)
        self._check_size(self.bm25_path, index.num_docs, "documents")
        return index


@contextlib.contextmanager
def staged_files(target: Path) -> Iterator[Path]:
    """Yields a new temporary folder beside the folder ``target``; on success every file in it
    is moved into ``target`` (created if missing; replaced files keep their mode; other files
    of ``target`` are left alone); on any exception it is deleted and ``target`` is untouched."""
    target = Path(os.path.realpath(target))
    remove_stale_temporaries(target)
    stage = target.parent / f".{target.name}{TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}"
    stage.mkdir(parents=True)
    try:
        yield stage
        target.mkdir(parents=True, exist_ok=True)
        for entry in sorted(os.listdir(stage)):
            dest = Path(os.path.realpath(target / entry))
            mode = stat.S_IMODE(dest.stat().st_mode) if dest.is_file() else default_mode()
            os.chmod(stage / entry, mode)
            os.replace(stage / entry, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def add_plugin_argument(parser: argparse.ArgumentParser) -> None:
    """--plugin MODULE: a Python module imported before the specs are read, so that the stages it
    registers (densefb.register) can be named in them."""
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first (repeatable); its densefb.register(...) calls make "
                             "its stages usable in pipeline specs")


def load_plugins(args: argparse.Namespace) -> None:
    """Imports the --plugin modules; UserError naming a module that cannot be imported."""
    import importlib

    for name in getattr(args, "plugin", None) or []:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise UserError(f"--plugin {name}: cannot import it ({e})") from None
