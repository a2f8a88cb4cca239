"""Building an index from text with an encoder, in bounded memory, with a progress bar."""
from __future__ import annotations

import functools
from typing import Optional, Sequence, Union

import numpy as np

from densefb.data import Corpus
from densefb.encoders import Encoder, _progress_bar
from densefb.index import FlatIndex, HnswIndex

__all__ = ["build_index"]


def build_index(encoder: Encoder, texts: Union[Corpus, Sequence[str]], index=None, *,
                kind: str = "flat", metric: Optional[str] = None, ids=None, batch_size: int = 32,
                chunk_size: int = 4096, show_progress: Optional[bool] = None, device: Optional[str] = None,
                **index_args):
    """Encodes ``texts`` (a :class:`Corpus` or a list of strings) as documents and adds them
    to ``index`` chunk by chunk (memory bounded by ``chunk_size`` vectors); returns the index.

    index: an existing FlatIndex/HnswIndex, or None to create one of ``kind`` ("flat" or
        "hnsw"; ``index_args`` such as ``M=16`` go to its constructor).
    metric: "ip" or "cosine" for a new index; default "ip" (= cosine for a normalised model).
    ids: int64 ids of the texts; default: positions continuing from ``index.ntotal``, so that
        for a corpus an id is the document's position (``corpus.ids[id]``).
    device: for a new "flat" index, a torch device ("cuda", "cuda:1", "cpu") to keep the
        vectors on: a :class:`TorchFlatIndex`, which takes the output of an encoder on the same
        device without a copy through host memory. None: a FlatIndex in host memory.
    """
    if isinstance(texts, Corpus):
        texts = texts.texts()
    texts = list(texts)
    if index is None:
        cls = {"flat": FlatIndex, "hnsw": HnswIndex}.get(kind)
        if cls is None:
            raise ValueError(f"kind must be 'flat' or 'hnsw', got {kind!r}")
        if device is not None:
            if kind != "flat":
                raise ValueError(f"device= is for kind='flat' (a TorchFlatIndex), got kind={kind!r}")
            from densefb.index import TorchFlatIndex

            cls = functools.partial(TorchFlatIndex, device=device)
        index = cls(encoder.dim, metric=metric or "ip", **index_args)
    elif device is not None:
        raise ValueError("device= applies to a new index; this one exists already")
    from densefb.encoders import _torch_module

    bar = _progress_bar(len(texts), "indexing", show_progress)
    last = [0]

    def progress(done: int, total: int) -> None:
        bar.update(done - last[0])
        last[0] = done

    try:
        _torch_module().encode_and_add(
            encoder._impl, texts, index, None if ids is None else np.asarray(ids, dtype=np.int64),
            batch_size=batch_size, chunk_size=chunk_size, progress=progress if bar else None)
    finally:
        if bar is not None:
            bar.close()
    return index
