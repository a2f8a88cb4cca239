"""Downloading the public BEIR collections (for users with internet access).

``download_beir("scifact")`` fetches the official archive
(``https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/<name>.zip``), checks
its MD5 against the value published in the BEIR README, unpacks it into
``<cache_dir>/<name>/`` and returns that folder, ready for :func:`densefb.load_beir`. A folder
that is already there is returned at once, without any network access. Nothing in densefb
downloads anything unless this function is called.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Dict, Optional, Union

__all__ = ["BEIR_DATASETS", "BEIR_URL", "default_cache_dir", "download_beir"]

PathLike = Union[str, "os.PathLike[str]"]

#: Where the official archives live; ``{name}`` is the BEIR name.
BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"

#: BEIR name -> MD5 of the official archive, as published in the BEIR README.
BEIR_DATASETS: Dict[str, str] = {
    "msmarco": "444067daf65d982533ea17ebd59501e4",
    "trec-covid": "ce62140cb23feb9becf6270d0d1fe6d1",
    "nfcorpus": "a89dba18a62ef92f7d323ec890a0d38d",
    "nq": "d4d3d2e48787a744b6f6e691ff534307",
    "hotpotqa": "f412724f78b0d91183a0e86805e16114",
    "fiqa": "17918ed23cd04fb15047f73e6c3bd9d9",
    "arguana": "8ad3e3c2a5867cdced806d6503f29b99",
    "webis-touche2020": "46f650ba5a527fc69e0a6521c5a23563",
    "cqadupstack": "4e41456d7df8ee7760a7f866133bda78",
    "quora": "18fb154900ba42a600f84b839c173167",
    "dbpedia-entity": "c2a39eb420a3164af735795df012ac2c",
    "scidocs": "38121350fc3a4d2f48850f6aff52e4a9",
    "fever": "5a818580227bfb4b35bb6fa46d9b6c03",
    "climate-fever": "8b66f0a9126c521bae2bde127b4dc99d",
    "scifact": "5f7d1de60b170fc8027bb7898e2efca1",
}


def default_cache_dir() -> Path:
    """``$DENSEFB_CACHE/beir`` if ``DENSEFB_CACHE`` is set, else ``~/.cache/densefb/beir``."""
    root = os.environ.get("DENSEFB_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "densefb") / "beir"


def _is_beir_folder(path: Path) -> bool:
    has = lambda stem: (path / stem).is_file() or (path / (stem + ".gz")).is_file()  # noqa: E731
    return has("corpus.jsonl") and has("queries.jsonl") and (path / "qrels").is_dir()


def _fetch(url: str, dest: Path, show_progress: Optional[bool]) -> str:
    """Streams ``url`` into ``dest``; returns the MD5 of the bytes written."""
    md5 = hashlib.md5()
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        bar = None
        if (sys.stderr.isatty() if show_progress is None else show_progress) and total:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=dest.name, unit="B", unit_scale=True)
        try:
            while True:
                block = response.read(1 << 20)
                if not block:
                    break
                out.write(block)
                md5.update(block)
                if bar is not None:
                    bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    return md5.hexdigest()


def _safe_extract(archive: Path, into: Path) -> None:
    """Unpacks a zip, refusing members that would land outside ``into``."""
    root = into.resolve()
    with zipfile.ZipFile(archive) as z:
        for member in z.namelist():
            target = (root / member).resolve()
            if target != root and root not in target.parents:
                raise ValueError(f"{archive.name}: member {member!r} points outside the folder")
        z.extractall(root)


def download_beir(name: str, cache_dir: Optional[PathLike] = None, *, url: Optional[str] = None,
                  md5: Optional[str] = None, force: bool = False,
                  show_progress: Optional[bool] = None) -> Path:
    """The folder of the BEIR collection ``name``, downloading it first if it is not cached.

    Args:
        name: a BEIR name such as ``"scifact"``, ``"nfcorpus"``, ``"fiqa"`` (the keys of
            :data:`BEIR_DATASETS`; another name needs ``url``).
        cache_dir: the folder holding one sub-folder per collection (default:
            :func:`default_cache_dir`, i.e. ``$DENSEFB_CACHE/beir`` or ``~/.cache/densefb/beir``).
        url: the archive to fetch (default: the official BEIR URL, :data:`BEIR_URL`).
        md5: the archive's expected MD5 (default: the published value for ``name``; with a
            custom ``url`` and no ``md5`` the archive is not checked).
        force: download again even if ``<cache_dir>/<name>`` already holds the collection.
        show_progress: a byte progress bar (default None: when stderr is a terminal).

    Returns:
        ``<cache_dir>/<name>``, a BEIR folder (corpus, queries, qrels/) for :func:`load_beir`.
        If it is already there (and not ``force``), it is returned without network access.

    Raises:
        ValueError: an unknown name without ``url``, a checksum mismatch (the archive is
            deleted), an archive without a BEIR folder, or an unsafe archive member.
        OSError: the download failed (network, HTTP error); nothing is left behind.
    """
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"invalid collection name {name!r}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = cache / name
    if not force and _is_beir_folder(dest):
        return dest
    if url is None:
        if name not in BEIR_DATASETS:
            raise ValueError(f"unknown BEIR collection {name!r}; known: {', '.join(sorted(BEIR_DATASETS))} "
                             f"(or pass url=)")
        url = BEIR_URL.format(name=name)
        md5 = md5 or BEIR_DATASETS[name]
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))
    try:
        archive = work / f"{name}.zip"
        digest = _fetch(url, archive, show_progress)
        if md5 is not None and digest != md5.lower():
            raise ValueError(f"{url}: MD5 {digest} differs from the published {md5}; "
                             f"the download is corrupt or the archive changed")
        unpacked = work / "unpacked"
        _safe_extract(archive, unpacked)
        found = unpacked / name if _is_beir_folder(unpacked / name) else None
        if found is None:
            found = next((p.parent for p in sorted(unpacked.rglob("queries.jsonl*"))
                          if _is_beir_folder(p.parent)), None)
        if found is None:
            raise ValueError(f"{url}: the archive holds no BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(found, dest)  # same file system: atomic
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)
