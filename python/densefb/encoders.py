"""Text encoders running in C++ over libtorch (no Python in the forward pass).

``densefb._torch`` (and torch) is imported only when an encoder is created, so
``import densefb`` stays light.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from densefb.models import resolve_model

__all__ = ["Encoder", "ColbertEncoder", "CrossEncoder"]


def _torch_module():
    import torch  # noqa: F401  (loads libtorch before the extension that links it)

    try:
        from densefb import _torch
    except ImportError as error:
        raise ImportError(
            "densefb was built without its libtorch encoders (densefb._torch). Install torch, "
            "then build densefb in that environment: pip install --no-build-isolation .") from error
    return _torch


def _progress_bar(total: int, desc: str, show: Optional[bool]):
    """A tqdm bar on a terminal (or when asked), else None."""
    if show is None:
        show = sys.stderr.isatty()
    if not show or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="text")


class Encoder:
    """A BERT bi-encoder (sentence-transformers / Hugging Face checkpoint) in C++.

    Create with :meth:`from_pretrained`; :meth:`encode` returns a ``(n, dim)`` float32 array
    identical (cosine >= 0.99999) to sentence-transformers' ``encode`` for the same model.
    """

    def __init__(self, impl, model_dir: str, precision: str = "fp32"):
        self._impl = impl
        self.model_dir = model_dir
        self.precision = precision
        """The precision the forward pass runs in ("fp32", "bf16", "fp16" or "int8")."""

    @classmethod
    def from_pretrained(cls, name_or_path: Union[str, os.PathLike], *, pooling: Optional[str] = None,
                        normalize: Optional[bool] = None, max_length: int = 0, device: str = "cpu",
                        num_threads: int = 0, query_prefix: str = "", document_prefix: str = "",
                        precision: str = "fp32") -> "Encoder":
        """Loads a model by directory or by name, offline.

        name_or_path: a model directory, or a name such as
            ``"sentence-transformers/all-MiniLM-L6-v2"`` resolved to an installed packaged copy
            or the Hugging Face cache (see :func:`densefb.models.resolve_model`).
        pooling: "mean", "cls" or "max"; default: the model's pooling config (else mean).
        normalize: L2-normalise outputs; default: as the model's modules.json says.
        max_length: tokens per text including [CLS]/[SEP]; 0 = the model's max_seq_length.
        device: "cpu" (default; also "cpu:0"), "cuda" or "cuda:N"; any other string is a ValueError.
        num_threads: torch intra-op threads (process-wide setting); 0 leaves torch's default.
        query_prefix / document_prefix: strings prepended to queries / documents (e.g. "query: ").
        precision: arithmetic of the forward pass; outputs are float32 in every mode.
            "fp32" (default): identical to sentence-transformers.
            "bf16": bfloat16 weights and activations, on CUDA and on CPUs with bf16
            instructions (AVX512_BF16 or AMX-BF16); any other CPU runs fp32 (see the
            ``precision`` attribute of the result).
            "fp16": half precision, CUDA only.
            "int8": dynamic quantisation of the transformer's linear layers (int8 weights per
            output channel, activations quantised on the fly), CPU only.
            docs/benchmarks.md ("Reduced-precision encoders") gives each mode's speed, cosine
            to fp32 and nDCG@10.
        """
        path = resolve_model(name_or_path)
        torch_module = _torch_module()
        resolved = torch_module.resolve_precision(precision, device)
        impl = torch_module.BertEncoder(
            os.fspath(path), pooling=pooling, normalize=normalize, max_length=max_length,
            device=device, num_threads=num_threads, query_prefix=query_prefix,
            document_prefix=document_prefix, precision=precision)
        return cls(impl, os.fspath(path), resolved)

    @property
    def dim(self) -> int:
        """Output dimension."""
        return self._impl.dim

    @property
    def max_length(self) -> int:
        return self._impl.max_length

    @property
    def normalized(self) -> bool:
        """True if outputs are unit length (inner product = cosine)."""
        return self._impl.normalized

    def _run(self, method: Callable, texts: Sequence[str], batch_size: int,
             show_progress: Optional[bool], desc: str) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not a single string")
        texts = list(texts)
        bar = _progress_bar(len(texts), desc, show_progress)
        last = [0]

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.update(done - last[0])
                last[0] = done

        try:
            return method(texts, batch_size=batch_size, progress=progress if bar is not None else None)
        finally:
            if bar is not None:
                bar.close()

    def encode(self, texts: Sequence[str], batch_size: int = 32,
               show_progress: Optional[bool] = None) -> np.ndarray:
        """Encodes documents (or any texts): ``(len(texts), dim)`` float32."""
        return self._run(self._impl.encode_documents, texts, batch_size, show_progress, "encoding")

    encode_documents = encode

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32,
                       show_progress: Optional[bool] = None) -> np.ndarray:
        """Encodes queries (with the query prefix, if any)."""
        return self._run(self._impl.encode_queries, texts, batch_size, show_progress, "queries")

    def tokenize(self, texts: Sequence[str]):
        """Token ids, attention masks and token type ids as the encoder sees them."""
        from densefb.tokenizer import Tokenizer

        return Tokenizer.from_pretrained(self.model_dir).tokenize(list(texts), max_length=self.max_length)

    def __repr__(self) -> str:
        return f"<densefb.Encoder {self.model_dir} dim={self.dim} max_length={self.max_length}>"


def _with_progress(method: Callable, args: tuple, total: int, batch_size: int,
                   show_progress: Optional[bool], desc: str):
    """Calls ``method(*args, batch_size=..., progress=...)`` with a tqdm bar when shown."""
    bar = _progress_bar(total, desc, show_progress)
    last = [0]

    def progress(done: int, total: int) -> None:
        bar.update(done - last[0])
        last[0] = done

    try:
        return method(*args, batch_size=batch_size, progress=progress if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()


def _texts(texts: Sequence[str], what: str = "texts") -> List[str]:
    if isinstance(texts, str):
        raise TypeError(f"{what} must be a sequence of strings, not a single string")
    return list(texts)


def _length(value: Optional[int], name: str) -> int:
    """None -> 0 (the checkpoint's value for C++); otherwise a positive int."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return value


class ColbertEncoder:
    """A ColBERT late-interaction token encoder in C++: one ``(tokens, dim)`` float32 array of
    unit-length rows per text.

    Reads stanford-futuredata/ColBERT checkpoints (``artifact.metadata`` /
    ``colbert_config.json``, ``bert.*`` + ``linear.weight``), PyLate checkpoints (modules.json
    with Transformer + Dense, ``config_sentence_transformers.json``), or any BERT used as a token
    encoder (``format="bert"``: the normalised last hidden states).

    Queries are ``[CLS] <query marker> tokens [SEP]`` truncated to ``query_maxlen`` and, with
    query augmentation (ColBERT / PyLate default), padded with ``[MASK]`` to ``query_maxlen``:
    every position is returned, so such a query always has ``query_maxlen`` vectors.
    Documents are ``[CLS] <doc marker> tokens [SEP]`` truncated to ``doc_maxlen``; their
    non-padding tokens are returned except, with ``mask_punctuation``, punctuation tokens.
    """

    def __init__(self, impl, model_dir: str, precision: str = "fp32"):
        self._impl = impl
        self.model_dir = model_dir
        self.precision = precision
        """The precision the BERT layers run in ("fp32", "bf16", "fp16" or "int8")."""

    @classmethod
    def from_pretrained(cls, name_or_path: Union[str, os.PathLike], query_maxlen: Optional[int] = None,
                        doc_maxlen: Optional[int] = None, device: str = "cpu", *, format: str = "auto",
                        query_marker: Optional[str] = None, doc_marker: Optional[str] = None,
                        query_augmentation: Optional[bool] = None,
                        attend_to_mask_tokens: Optional[bool] = None,
                        mask_punctuation: Optional[bool] = None,
                        skiplist_words: Optional[Sequence[str]] = None,
                        projection: Optional[bool] = None, num_threads: int = 0,
                        precision: str = "fp32") -> "ColbertEncoder":
        """Loads a token encoder by directory or by name, offline.

        name_or_path: a model directory, or a name resolved by
            :func:`densefb.models.resolve_model` (packaged copy or Hugging Face cache).
        query_maxlen: tokens per query, [CLS]/marker/[SEP] included; default None = the
            checkpoint's (ColBERT ``query_maxlen``, PyLate ``query_length``, both 32 when
            absent; ``format="bert"``: the model's max_seq_length).
        doc_maxlen: tokens per document, likewise; default None = the checkpoint's (ColBERT
            ``doc_maxlen``, PyLate ``document_length``, 180 when absent; ``format="bert"``: the
            model's max_seq_length).
        device: "cpu" (default; also "cpu:0"), "cuda" or "cuda:N"; any other string is a ValueError.
        format: "auto" (default: PyLate if modules.json has a Dense module, else ColBERT if the
            directory has artifact.metadata, colbert_config.json, an HF_ColBERT config or a
            ``linear.weight`` tensor, else an error), "colbert", "pylate" or "bert".
        query_marker / doc_marker: the token inserted after [CLS] ("" for none); default None =
            the checkpoint's (ColBERT ``query_token_id`` "[unused0]" / ``doc_token_id``
            "[unused1]"; PyLate ``query_prefix`` "[Q] " / ``document_prefix`` "[D] "; none for
            "bert").
        query_augmentation: pad queries with [MASK] to ``query_maxlen``; default None = True for
            ColBERT / PyLate, False for "bert".
        attend_to_mask_tokens: let attention see the [MASK] padding of queries; default None =
            the checkpoint's ``attend_to_mask_tokens`` / ``attend_to_expansion_tokens`` (False).
        mask_punctuation: drop skiplist tokens from documents; default None = the checkpoint's
            ``mask_punctuation`` (ColBERT, True), True for PyLate, False for "bert".
        skiplist_words: the words dropped by ``mask_punctuation``; default None = PyLate's
            ``skiplist_words``, else the characters of ``string.punctuation``.
        projection: apply the checkpoint's linear projection; default None = True for ColBERT /
            PyLate (False returns the BERT hidden states); "bert" has none.
        num_threads: torch intra-op threads (process-wide setting); 0 (default) leaves torch's.
        precision: the BERT layers' arithmetic, as for :meth:`Encoder.from_pretrained` ("fp32",
            "bf16", "fp16" on CUDA, "int8" on the CPU); the projection and the normalisation
            run in float32, and the ``precision`` attribute says what runs.
        """
        path = resolve_model(name_or_path)
        resolved = _torch_module().resolve_precision(precision, device)
        impl = _torch_module().ColbertEncoder(
            os.fspath(path), format=format, query_maxlen=_length(query_maxlen, "query_maxlen"),
            doc_maxlen=_length(doc_maxlen, "doc_maxlen"), query_marker=query_marker, doc_marker=doc_marker,
            query_augmentation=query_augmentation, attend_to_mask_tokens=attend_to_mask_tokens,
            mask_punctuation=mask_punctuation,
            skiplist_words=None if skiplist_words is None else list(_texts(skiplist_words, "skiplist_words")),
            projection=projection, device=device, num_threads=num_threads, precision=precision)
        return cls(impl, os.fspath(path), resolved)

    @property
    def dim(self) -> int:
        """Dimension of each token vector."""
        return self._impl.dim

    @property
    def format(self) -> str:
        """The checkpoint layout read: "colbert", "pylate" or "bert"."""
        return self._impl.format

    @property
    def query_maxlen(self) -> int:
        return self._impl.query_maxlen

    @property
    def doc_maxlen(self) -> int:
        return self._impl.doc_maxlen

    @property
    def query_marker(self) -> str:
        return self._impl.query_marker

    @property
    def doc_marker(self) -> str:
        return self._impl.doc_marker

    @property
    def query_augmentation(self) -> bool:
        return self._impl.query_augmentation

    @property
    def attend_to_mask_tokens(self) -> bool:
        return self._impl.attend_to_mask_tokens

    @property
    def mask_punctuation(self) -> bool:
        return self._impl.mask_punctuation

    @property
    def skiplist_ids(self) -> List[int]:
        """Token ids dropped from documents when ``mask_punctuation`` is on."""
        return list(self._impl.skiplist_ids)

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32,
                       show_progress: Optional[bool] = None) -> List[np.ndarray]:
        """One ``(tokens, dim)`` float32 array per query (``query_maxlen`` rows with query
        augmentation). batch_size: texts per forward pass (default 32); show_progress: a tqdm
        bar (default None: when stderr is a terminal)."""
        texts = _texts(texts)
        return _with_progress(self._impl.encode_queries, (texts,), len(texts), batch_size, show_progress, "queries")

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32,
                         show_progress: Optional[bool] = None) -> List[np.ndarray]:
        """One ``(tokens, dim)`` float32 array per document (its kept tokens). batch_size: texts
        per forward pass (default 32); show_progress: a tqdm bar (default None: when stderr is a
        terminal)."""
        texts = _texts(texts)
        return _with_progress(self._impl.encode_documents, (texts,), len(texts), batch_size, show_progress,
                              "documents")

    def encode_documents_with_ids(self, texts: Sequence[str], batch_size: int = 32,
                                  show_progress: Optional[bool] = None
                                  ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """As :meth:`encode_documents`, with the vocabulary id of every returned row: returns
        ``(vectors, token_ids)``, one ``(tokens, dim)`` float32 and one ``(tokens,)`` int32 array
        per document (what :class:`densefb.MultiVectorIndex` stores for token statistics)."""
        texts = _texts(texts)
        return _with_progress(self._impl.encode_documents_with_ids, (texts,), len(texts), batch_size,
                              show_progress, "documents")

    encode = encode_documents

    def __repr__(self) -> str:
        return (f"<densefb.ColbertEncoder {self.model_dir} format={self.format} dim={self.dim} "
                f"query_maxlen={self.query_maxlen} doc_maxlen={self.doc_maxlen}>")


Pairs = Union[Sequence[Tuple[str, str]], Tuple[Sequence[str], Sequence[str]]]


class CrossEncoder:
    """A BERT cross-encoder (BertForSequenceClassification checkpoint) in C++: a relevance
    score for each (query, passage) pair, encoded as ``[CLS] query [SEP] passage [SEP]``."""

    def __init__(self, impl, model_dir: str, precision: str = "fp32"):
        self._impl = impl
        self.model_dir = model_dir
        self.precision = precision
        """The precision the BERT layers run in ("fp32", "bf16", "fp16" or "int8")."""

    @classmethod
    def from_pretrained(cls, name_or_path: Union[str, os.PathLike], max_length: Optional[int] = None,
                        activation: str = "none", *, label: int = 0, device: str = "cpu",
                        num_threads: int = 0, precision: str = "fp32") -> "CrossEncoder":
        """Loads a cross-encoder by directory or by name, offline.

        name_or_path: a model directory (config.json, model.safetensors with ``bert.*`` and
            ``classifier.weight`` / ``classifier.bias``, tokenizer files), or a name resolved
            by :func:`densefb.models.resolve_model`.
        max_length: tokens per pair, specials included, pairs truncated longest_first; default
            None = the tokenizer's model_max_length, else (when tokenizer_config.json has none)
            the model's max_position_embeddings; never more than max_position_embeddings.
        activation: "none" (default: raw logits) or "sigmoid".
        label: index of the logit returned when the model has several labels (default 0; with
            one label it must be 0).
        device: "cpu" (default; also "cpu:0"), "cuda" or "cuda:N"; any other string is a ValueError.
        num_threads: torch intra-op threads (process-wide setting); 0 (default) leaves torch's.
        precision: the BERT layers' and the pooler's arithmetic, as for
            :meth:`Encoder.from_pretrained` ("fp32", "bf16", "fp16" on CUDA, "int8" on the CPU);
            the classifier runs in float32, and the ``precision`` attribute says what runs.
        """
        path = resolve_model(name_or_path)
        resolved = _torch_module().resolve_precision(precision, device)
        impl = _torch_module().CrossEncoder(os.fspath(path), max_length=_length(max_length, "max_length"),
                                            label=label, activation=activation, device=device,
                                            num_threads=num_threads, precision=precision)
        return cls(impl, os.fspath(path), resolved)

    @property
    def max_length(self) -> int:
        return self._impl.max_length

    @property
    def num_labels(self) -> int:
        return self._impl.num_labels

    def predict(self, pairs: Pairs, passages: Optional[Sequence[str]] = None, batch_size: int = 32,
                show_progress: Optional[bool] = None) -> np.ndarray:
        """Scores pairs: ``(n,)`` float32.

        pairs: a sequence of (query, passage) pairs; or a tuple ``(queries, passages)`` of two
            lists of equal length; or, when ``passages`` is given, the queries (one string is
            paired with every passage).
        passages: the passages, when ``pairs`` holds the queries (default None).
        batch_size: pairs per forward pass (default 32).
        show_progress: a tqdm bar (default None: when stderr is a terminal).
        """
        if passages is not None:
            passages = _texts(passages, "passages")
            queries = [pairs] * len(passages) if isinstance(pairs, str) else _texts(pairs, "queries")
        elif isinstance(pairs, tuple) and len(pairs) == 2 and all(isinstance(x, list) for x in pairs):
            queries, passages = _texts(pairs[0], "queries"), _texts(pairs[1], "passages")
        else:
            if isinstance(pairs, str):
                raise TypeError("pairs must be a sequence of (query, passage) pairs, not a string")
            queries, passages = [], []
            for i, pair in enumerate(pairs):
                if isinstance(pair, str) or len(pair) != 2:
                    raise ValueError(f"pairs[{i}] is not a (query, passage) pair: {pair!r}")
                queries.append(pair[0])
                passages.append(pair[1])
        if len(queries) != len(passages):
            raise ValueError(f"{len(queries)} queries but {len(passages)} passages")
        return _with_progress(self._impl.score, (queries, passages), len(queries), batch_size, show_progress,
                              "pairs")

    def __repr__(self) -> str:
        return f"<densefb.CrossEncoder {self.model_dir} max_length={self.max_length} num_labels={self.num_labels}>"
