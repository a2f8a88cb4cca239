"""Collections, judgments and runs: BEIR folders and TREC files.

String ids everywhere in Python; the C++ core maps them to compact integer ids inside.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from densefb import _core
from densefb._core import BeirDataset, Corpus, Qrels, Queries, Run, make_run

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "BeirDataset",
    "Corpus",
    "check_id",
    "Qrels",
    "Queries",
    "Run",
    "default_data_dir",
    "load_beir",
    "make_run",
    "read_beir_qrels",
    "read_qrels",
    "read_topics_tsv",
    "read_trec_qrels",
    "read_trec_run",
    "write_trec_qrels",
    "write_trec_run",
]


def default_data_dir() -> Optional[Path]:
    """The folder holding BEIR collections: ``$DENSEFB_DATA`` if set, else None."""
    value = os.environ.get("DENSEFB_DATA")
    return Path(value) if value else None


def load_beir(path: PathLike, split: str = "test") -> BeirDataset:
    """Loads a BEIR folder: ``corpus.jsonl[.gz]``, ``queries.jsonl[.gz]``, ``qrels/<split>.tsv``.

    ``path`` may also be a bare collection name (e.g. ``"scifact"``), looked up under
    ``$DENSEFB_DATA``. Only the queries judged in ``split`` are kept (as BEIR's loader does).
    Malformed files raise ValueError naming the file and line.
    """
    p = Path(path)
    if not p.exists() and default_data_dir() is not None and (default_data_dir() / p).is_dir():
        p = default_data_dir() / p
    return _core.load_beir(os.fspath(p), split)


def check_id(id: str, what: str = "id") -> None:
    """ValueError unless ``id`` can round-trip through every text format densefb reads and
    writes: non-empty UTF-8 without whitespace (ASCII or Unicode), control characters, line
    separators or a byte order mark. Every reader and ``add`` applies this check."""
    _core.check_id(id, what)


def read_topics_tsv(path: PathLike) -> Queries:
    """Reads topics ``qid<TAB>text`` a line (Pyserini's TSV; plain or gzip). Blank lines are
    skipped; a malformed line, an invalid or repeated id raise ValueError naming file and line."""
    return _core.read_topics_tsv(os.fspath(path))


def read_trec_run(path: PathLike) -> Run:
    """Reads a TREC run file ``qid Q0 docid rank score tag`` (a BOM and CRLF line ends are
    accepted; invalid UTF-8, a NaN score or a repeated document raise ValueError)."""
    return _core.read_trec_run(os.fspath(path))


def write_trec_run(path: PathLike, run: Run) -> None:
    """Writes a TREC run file atomically, ranked by score (ties: doc id descending). Refuses,
    writing nothing, what read_trec_run would refuse (an invalid tag, NaN, a repeated document)."""
    _core.write_trec_run(os.fspath(path), run)


def read_trec_qrels(path: PathLike) -> Qrels:
    """Reads TREC qrels ``qid iter docid grade``."""
    return _core.read_trec_qrels(os.fspath(path))


def write_trec_qrels(path: PathLike, qrels: Qrels) -> None:
    """Writes TREC qrels atomically."""
    _core.write_trec_qrels(os.fspath(path), qrels)


def read_beir_qrels(path: PathLike) -> Qrels:
    """Reads a BEIR qrels TSV (``query-id corpus-id score`` with a header line)."""
    return _core.read_beir_qrels(os.fspath(path))


def read_qrels(path: PathLike) -> Qrels:
    """Reads qrels in either format: BEIR TSV (tab-separated, 3 columns) or TREC (4 columns)."""
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8", "replace")
    if first.count("\t") == 2 and len(first.split()) == 3:
        return read_beir_qrels(path)
    return read_trec_qrels(path)
