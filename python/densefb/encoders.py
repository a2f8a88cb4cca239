"""Text encoders running in C++ over libtorch (no Python in the forward pass).

``densefb._torch`` (and torch) is imported only when an encoder is created, so
``import densefb`` stays light.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional, Sequence, Union

import numpy as np

from densefb.models import resolve_model

__all__ = ["Encoder"]


def _torch_module():
    import torch  # noqa: F401  (loads libtorch before the extension that links it)

    from densefb import _torch

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

    def __init__(self, impl, model_dir: str):
        self._impl = impl
        self.model_dir = model_dir

    @classmethod
    def from_pretrained(cls, name_or_path: Union[str, os.PathLike], *, pooling: Optional[str] = None,
                        normalize: Optional[bool] = None, max_length: int = 0, device: str = "cpu",
                        num_threads: int = 0, query_prefix: str = "", document_prefix: str = "") -> "Encoder":
        """Loads a model by directory or by name, offline.

        name_or_path: a model directory, or a name such as
            ``"sentence-transformers/all-MiniLM-L6-v2"`` resolved to an installed packaged copy
            or the Hugging Face cache (see :func:`densefb.models.resolve_model`).
        pooling: "mean", "cls" or "max"; default: the model's pooling config (else mean).
        normalize: L2-normalise outputs; default: as the model's modules.json says.
        max_length: tokens per text including [CLS]/[SEP]; 0 = the model's max_seq_length.
        device: "cpu" (default), "cuda" or "cuda:N".
        num_threads: torch intra-op threads (process-wide setting); 0 leaves torch's default.
        query_prefix / document_prefix: strings prepended to queries / documents (e.g. "query: ").
        """
        path = resolve_model(name_or_path)
        impl = _torch_module().BertEncoder(
            os.fspath(path), pooling=pooling, normalize=normalize, max_length=max_length,
            device=device, num_threads=num_threads, query_prefix=query_prefix,
            document_prefix=document_prefix)
        return cls(impl, os.fspath(path))

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
