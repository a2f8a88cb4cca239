"""Resources of an experiment: the corpus, encoders and indexes its pipelines require, built
once and cached on disk keyed by the corpus contents, the model files and the index options
(:class:`ExperimentResources`, the resource half of :class:`densefb.experiment.Experiment`)."""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from densefb import __version__
from densefb.experiment_results import _write_text_atomic

__all__ = ["ExperimentResources", "default_cache_dir", "check_bm25_args"]

INDEX_KINDS = ("flat", "hnsw")
# The resource names a pipeline may require (include/densefb/pipeline.h, Resources::Names()).
RESOURCE_NAMES = ("corpus", "encoder", "dense_index", "bm25", "token_encoder", "multivector",
                  "cross_encoder", "generator")


def default_cache_dir() -> Path:
    """Where indexes built by experiments are kept: ``$DENSEFB_CACHE``, else
    ``$XDG_CACHE_HOME/densefb`` (``~/.cache/densefb``)."""
    if os.environ.get("DENSEFB_CACHE"):
        return Path(os.environ["DENSEFB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "densefb"


# BM25 index options (densefb.Bm25Index.build): type and allowed values.
BM25_OPTIONS = {"k1": "a number >= 0", "b": "a number in [0, 1]", "stopwords": "true or false",
                "stemmer": "porter or none", "lucene_norms": "true or false"}


def check_bm25_args(args: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Validated BM25 options: known keys with values of the right type and range; ValueError
    naming the option otherwise (never the binding's "incompatible function arguments")."""
    out: Dict[str, Any] = {}
    for key, value in dict(args or {}).items():
        if key not in BM25_OPTIONS:
            raise ValueError(f"unknown BM25 option {key!r}: expected one of {', '.join(BM25_OPTIONS)}")
        if key in ("k1", "b"):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value) and value >= 0 and (key == "k1" or value <= 1)
            value = float(value) if ok else value
        elif key == "stemmer":
            ok = value in ("porter", "none")
        else:
            ok = isinstance(value, bool)
        if not ok:
            raise ValueError(f"BM25 option {key}={value!r}: expected {BM25_OPTIONS[key]}")
        out[key] = value
    return out


# ---- fingerprints and caching ----------------------------------------------------------------

def _corpus_fingerprint(corpus) -> str:
    h = hashlib.sha256()
    for doc_id, text in zip(corpus.ids, corpus.texts()):
        h.update(doc_id.encode("utf-8"))
        h.update(b"\x00")
        h.update(text.encode("utf-8"))
        h.update(b"\x01")
    return h.hexdigest()


def _model_fingerprint(model_dir: Path) -> str:
    """Config and tokenizer files by content, weight files by name and size."""
    h = hashlib.sha256()
    for p in sorted(model_dir.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(model_dir).as_posix()
        h.update(rel.encode())
        if p.suffix in (".json", ".txt") and p.stat().st_size < 4 << 20:
            h.update(p.read_bytes())
        else:
            h.update(str(p.stat().st_size).encode())
    return h.hexdigest()


def _slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return (s or "x")[:limit]


def _vector_options(options: Mapping[str, Any], encoder) -> Dict[str, Any]:
    """An encoder's options as they decide its vectors, for a cache key: the precision that runs
    (bf16 asked for on a CPU without it runs fp32), and for int8 the weight bits this CPU gets."""
    out = dict(options)
    if "precision" in out:
        out["precision"] = encoder.precision
        if encoder.precision == "int8":
            from densefb import _torch
            out["int8_weight_bits"] = _torch.int8_weight_bits()
    return out


def _key(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _show_progress(quiet: Optional[bool]) -> bool:
    return not quiet and sys.stderr.isatty()


def _progress(iterable, total: int, desc: str, show: bool):
    if not show:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency of the package
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False)


def _describe_given(name: str, obj: Any) -> Dict[str, Any]:
    info: Dict[str, Any] = {"given": type(obj).__name__}
    for attr in ("dim", "ntotal", "metric", "M", "ef_construction", "ef_search", "seed", "k1",
                 "b", "num_docs", "model_dir"):
        try:
            value = getattr(obj, attr)
        except Exception:  # noqa: BLE001 - properties of foreign objects may raise
            continue
        if isinstance(value, (int, float, str, bool)):
            info[attr] = value
    return info


class ExperimentResources:
    """Builds (once) and caches what the pipelines of an experiment need; mixed into
    :class:`densefb.experiment.Experiment`, whose constructor sets the attributes used here."""


    def requires(self) -> List[str]:
        """Resource names needed by the pipelines, in :data:`RESOURCE_NAMES` order."""
        needed = {"corpus"}  # always: it names the documents of the runs
        for p in self.pipelines:
            needed |= set(p.requires)
        return [n for n in RESOURCE_NAMES if n in needed]

    def _note(self, message: str) -> None:
        # quiet=None: status lines on a terminal only; False: always; True: never.
        if self.quiet is False or (self.quiet is None and sys.stderr.isatty()):
            print(message, file=sys.stderr)

    def _corpus_sha256(self) -> str:
        if self._corpus_sha is None:
            self._corpus_sha = _corpus_fingerprint(self.dataset.corpus)
        return self._corpus_sha

    def _dataset_slug(self) -> str:
        return _slug(Path(self.dataset_path).name if self.dataset_path else "dataset")

    def _model_dir(self, name: Optional[str], what: str) -> Path:
        from densefb.models import resolve_model
        if name is None:
            raise ValueError(f"a pipeline needs {what} but no model was given (model=...)")
        return Path(resolve_model(name)).resolve()

    def _encoder(self):
        if "encoder" not in self._resources:
            from densefb.encoders import Encoder
            model_dir = self._model_dir(self.model, "a bi-encoder")
            self._resources["encoder"] = Encoder.from_pretrained(str(model_dir), **self.encoder_args)
            self._provenance["encoder"] = {"model": self.model, "path": str(model_dir),
                                           "dim": self._resources["encoder"].dim,
                                           "options": dict(self.encoder_args)}
        return self._resources["encoder"]

    def _load_or_build(self, what, path, prov, load, build, doing):
        """The index cached at ``path`` if there is one (and the cache is on), else ``build()``,
        saved there with an ``index.json`` describing it; ``prov`` gets ``cache``/``cached``."""
        if self.use_cache and path.is_file():
            self._note(f"{what}: loading {path}")
            prov["cache"] = str(path)
            prov["cached"] = True
            return load(str(path))
        self._note(f"{what}: {doing}")
        index = build()
        if self.use_cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            index.save(str(path))
            _write_text_atomic(path.parent / "index.json", json.dumps(
                {"format": "densefb-index-cache", "dataset": self.dataset_path,
                 "densefb_version": __version__, **prov}, indent=2) + "\n")
            prov["cache"] = str(path)
        prov["cached"] = False
        return index

    def _dense_index(self):
        from densefb.index import FlatIndex, HnswIndex
        from densefb.indexing import build_index
        enc = self._encoder()
        model_dir = Path(self._provenance["encoder"]["path"])
        args = dict(self.index_args)
        metric = args.pop("metric", "ip")
        if self.index_kind == "hnsw":
            args.setdefault("M", 16)
            args.setdefault("ef_construction", 200)
            args.setdefault("seed", 100)
        params = {"kind": self.index_kind, "metric": metric, **args}
        parts = {"corpus_sha256": self._corpus_sha256(), "model": _model_fingerprint(model_dir),
                 "index": params, "densefb": __version__}
        if self.encoder_args:  # (absent when empty: the keys of indexes built without options stay)
            parts["encoder"] = _vector_options(self.encoder_args, enc)
        key = _key(parts)
        folder = self.cache_dir / "dense" / f"{self._dataset_slug()}-{_slug(model_dir.name)}-{key}"
        path = folder / f"index.{self.index_kind}"
        prov = {"kind": self.index_kind, "params": params, "model": self.model,
                "encoder_options": dict(parts.get("encoder", {})),
                "model_path": str(model_dir), "corpus_sha256": self._corpus_sha256(),
                "num_docs": len(self.dataset.corpus)}
        cls = HnswIndex if self.index_kind == "hnsw" else FlatIndex
        index = self._load_or_build(
            "dense index", path, prov, cls.load,
            lambda: build_index(enc, self.dataset.corpus, kind=self.index_kind, metric=metric,
                                batch_size=self.batch_size,
                                show_progress=_show_progress(self.quiet), **args),
            f"encoding {len(self.dataset.corpus)} documents with {self.model} ({self.index_kind})")
        self._provenance["dense_index"] = prov
        return index

    def _bm25(self):
        from densefb.sparse import DEFAULT_LUCENE_NORMS, Bm25Index
        params = {"k1": 0.9, "b": 0.4, "stopwords": True, "stemmer": "porter",
                  "lucene_norms": DEFAULT_LUCENE_NORMS}
        params.update(self.bm25_args)
        key = _key({"corpus_sha256": self._corpus_sha256(), "bm25": params,
                    "densefb": __version__})
        folder = self.cache_dir / "bm25" / f"{self._dataset_slug()}-{key}"
        path = folder / "index.bm25"
        prov = {"params": params, "corpus_sha256": self._corpus_sha256(),
                "num_docs": len(self.dataset.corpus)}
        index = self._load_or_build(
            "BM25 index", path, prov, Bm25Index.load,
            lambda: Bm25Index.build(self.dataset.corpus, num_threads=self.num_threads, **params),
            f"indexing {len(self.dataset.corpus)} documents")
        self._provenance["bm25"] = prov
        return index

    def _token_encoder(self):
        if "token_encoder" not in self._resources:
            from densefb.encoders import ColbertEncoder
            name = self.token_model or self.model
            model_dir = self._model_dir(name, "a token encoder")
            self._resources["token_encoder"] = ColbertEncoder.from_pretrained(
                str(model_dir), **self.token_args)
            self._provenance["token_encoder"] = {"model": name, "path": str(model_dir),
                                                 "options": dict(self.token_args)}
        return self._resources["token_encoder"]

    def _cross_encoder(self):
        from densefb.encoders import CrossEncoder
        model_dir = self._model_dir(self.cross_encoder_name, "a cross-encoder (cross_encoder=...)")
        self._provenance["cross_encoder"] = {"model": self.cross_encoder_name,
                                             "path": str(model_dir), "options": dict(self.cross_args)}
        return CrossEncoder.from_pretrained(str(model_dir), **self.cross_args)

    def _generator(self):
        """The OpenAI-compatible client of the ``llm`` settings (arguments, else the
        ``DENSEFB_LLM_*`` / ``OPENAI_*`` environment), behind a persistent response cache under
        ``cache_dir/llm`` unless the cache is off."""
        from densefb.llm import OpenAIGenerator
        settings = dict(self.llm)
        if self.use_cache and "cache_dir" not in settings:
            settings["cache_dir"] = str(self.cache_dir / "llm")
        gen = OpenAIGenerator(**settings)
        self._provenance["generator"] = {
            "model": gen.model, "base_url": settings.get("base_url") or "(environment)",
            "cache": settings.get("cache_dir"),
            **{k: settings[k] for k in ("max_concurrency", "timeout", "max_retries", "chat")
               if k in settings}}
        return gen

    def _multivector(self):
        from densefb.multivector import MultiVectorIndex, build_multivector_index
        enc = self._token_encoder()
        model_dir = Path(self._provenance["token_encoder"]["path"])
        params = {"token_index": "flat", "batch_size": self.batch_size,
                  "encoder_options": _vector_options(self.token_args, enc)}
        key = _key({"corpus_sha256": self._corpus_sha256(), "model": _model_fingerprint(model_dir),
                    "index": params, "densefb": __version__})
        folder = self.cache_dir / "multivector" / f"{self._dataset_slug()}-{_slug(model_dir.name)}-{key}"
        path = folder / "index.mvec"
        prov = {"token_model": self._provenance["token_encoder"], "params": params,
                "corpus_sha256": self._corpus_sha256(), "num_docs": len(self.dataset.corpus)}
        index = self._load_or_build(
            "multi-vector index", path, prov, MultiVectorIndex.load,
            lambda: build_multivector_index(enc, self.dataset.corpus.texts(),
                                            batch_size=self.batch_size,
                                            show_progress=_show_progress(self.quiet)),
            f"encoding {len(self.dataset.corpus)} documents")
        self._provenance["multivector"] = prov
        return index

    def resources(self):
        """Assembles (once) the :class:`densefb.Resources` the pipelines need."""
        from densefb.pipeline import Resources
        builders = {"corpus": lambda: self.dataset.corpus, "encoder": self._encoder,
                    "dense_index": self._dense_index, "bm25": self._bm25,
                    "token_encoder": self._token_encoder, "multivector": self._multivector,
                    "cross_encoder": self._cross_encoder, "generator": self._generator}
        for name in self.requires():
            if name in self._resources:
                continue
            if name in self.given_resources:
                self._resources[name] = self.given_resources[name]
                self._provenance[name] = _describe_given(name, self.given_resources[name])
            else:
                self._resources[name] = builders[name]()
        if "corpus" in self._resources:
            self._provenance["corpus"] = {"num_docs": len(self.dataset.corpus),
                                          "sha256": self._corpus_sha256()}
        return Resources(**{n: self._resources[n] for n in self.requires()})
