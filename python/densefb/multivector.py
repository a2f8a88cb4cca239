"""Multi-vector (ColBERT late-interaction) retrieval, MaxSim reranking and ColBERT-PRF.

A :class:`MultiVectorIndex` keeps every document's token embeddings (one float32 matrix with
per-document offsets, memory-mapped when loaded) and the vocabulary id of every token. Scoring is
exact weighted MaxSim, ``score(q, d) = sum_i w_i * max_j <q_i, d_j>``; end-to-end retrieval takes
the ``token_k`` nearest document tokens of every query token from a token index (exact "flat" or
approximate "hnsw"), unites their documents and scores them exactly.

:class:`ColbertPrf` is ColBERT-PRF's query expansion (Wang et al., ICTIR 2021) as
pyterrier_colbert's ``ColbertPRF`` computes it: k-means over the token embeddings of the top
``fb_docs`` documents, each centroid labelled with the most frequent token among its 10 nearest
token embeddings, ranked by that token's IDF ``log((1 + N) / (df + 1))``; the top ``fb_embs``
centroids are appended to the query with weight ``beta * idf``. Ranking with it is the
``colbert_prf`` pipeline stage's (``maxsim(k=0) >> colbert_prf >> rerank_maxsim``).
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from densefb import _core

# Default token_k (nearest document tokens per query token; pyterrier_colbert's faiss_depth),
# from the C++ library (densefb/multivector.h, kDefaultTokenK).
DEFAULT_TOKEN_K: int = _core.DEFAULT_TOKEN_K

# The interface the multi-vector stages read: MultiVectorIndex is one; subclass it in Python to
# give them another collection (densefb.distributed's sharded one is).
TokenCollection = _core.TokenCollection

# ColBERTv2-style residual compression of a multi-vector collection (centroid code plus nbits
# bits per residual dimension); a TokenCollection, so maxsim, rerank_maxsim and colbert_prf run
# on it unchanged. Made by MultiVectorIndex.compress or ResidualMultiVectorIndex.build.
ResidualMultiVectorIndex = _core.ResidualMultiVectorIndex

__all__ = ["MultiVectorIndex", "TokenCollection", "ResidualMultiVectorIndex", "ColbertPrf", "maxsim_rerank", "build_multivector_index", "kmeans",
           "excluded_token_ids"]

PathLike = Union[str, os.PathLike]
Queries = Sequence[np.ndarray]
Ranked = Tuple[np.ndarray, np.ndarray]  # (scores (n, k) float32, ids (n, k) int64), -inf / -1 padding


def _queries(queries) -> List[np.ndarray]:
    if isinstance(queries, np.ndarray) and queries.ndim == 2:
        return [queries]
    return [np.asarray(q, dtype=np.float32) for q in queries]


def _id_lists(lists) -> List[np.ndarray]:
    if isinstance(lists, np.ndarray) and lists.ndim == 1:
        return [lists.astype(np.int64)]
    return [np.asarray(ids, dtype=np.int64).reshape(-1) for ids in lists]


class MultiVectorIndex:
    """Token embeddings of every document, with exact MaxSim scoring and end-to-end retrieval.

    Document ids are positions (the order documents were added). :meth:`build_token_index`
    builds the token index that :meth:`search`, :meth:`nearest_tokens` and :class:`ColbertPrf`
    need; later adds, deletes and updates keep it current.

    Live updates: :meth:`add`, :meth:`delete` and :meth:`update` may run while other threads
    search. Token statistics (df, and N of the IDF) count the live documents only, so scores and
    rankings equal those of a fresh index of the live documents. A deleted id stays a tombstone
    (ids never shift); :meth:`compact` reclaims the rows of deleted and replaced documents.
    """

    def __init__(self, dim: int, *, _impl=None):
        self._impl = _impl if _impl is not None else _core.MultiVectorIndex(dim)

    @classmethod
    def load(cls, path: PathLike) -> "MultiVectorIndex":
        """Reads a file written by :meth:`save` (and ``path + ".tokens"``, the token index, when
        present); the token matrix is memory-mapped. Raises FileNotFoundError for a missing file
        and OSError / ValueError naming the file for a truncated, corrupt or foreign one."""
        impl = _core.MultiVectorIndex.load(os.fspath(path))
        return cls(impl.dim, _impl=impl)

    def save(self, path: PathLike) -> None:
        """Writes the index atomically (versioned header, checksums), and the token index, when
        there is one, to ``path + ".tokens"``."""
        self._impl.save(os.fspath(path))

    def add(self, docs: Sequence[np.ndarray], token_ids: Sequence[np.ndarray]) -> None:
        """Appends documents: ``docs[i]`` is a (tokens, dim) float32 array, ``token_ids[i]`` its
        (tokens,) vocabulary ids (as :meth:`densefb.ColbertEncoder.encode_documents_with_ids`
        returns them)."""
        self._impl.add(list(docs), list(token_ids))

    def delete(self, ids) -> None:
        """Deletes documents ``ids`` (present, distinct; IndexError / KeyError name the first bad
        one and nothing changes). They are never returned again."""
        self._impl.delete(np.asarray(ids, dtype=np.int64))

    def update(self, ids, docs: Sequence[np.ndarray], token_ids: Sequence[np.ndarray]) -> None:
        """Replaces the token embeddings (any number of tokens) of present documents ``ids``."""
        self._impl.update(np.asarray(ids, dtype=np.int64), list(docs), list(token_ids))

    def compact(self) -> None:
        """Rewrites the token matrix without the rows of deleted and replaced documents and
        rebuilds the token index (ids stay)."""
        self._impl.compact()

    def compress(self, nbits: int = 2, *, num_centroids: int = 0, kmeans_iters: int = 4, seed: int = 123,
                 nprobe: int = 4, normalize: bool = True, num_threads: int = 0) -> "ResidualMultiVectorIndex":
        """A residual-compressed copy of the live documents (ColBERTv2's storage): each token is
        its nearest centroid's id plus ``nbits`` (1, 2, 4 or 8) bits per residual dimension.
        ``num_centroids=0`` takes ColBERTv2's 2^floor(log2(16 sqrt(tokens))); ``nprobe``
        centroids are probed for nearest tokens; ``normalize`` makes decompressed embeddings unit
        length (for unit-length tokens, as ColBERT's). Pass the result as the ``multivector``
        resource to run maxsim, rerank_maxsim and colbert_prf on it."""
        return ResidualMultiVectorIndex.build(self._impl, nbits=nbits, num_centroids=num_centroids,
                                              kmeans_iters=kmeans_iters, seed=seed, nprobe=nprobe,
                                              normalize=normalize, num_threads=num_threads)

    def to_device(self, device: str = "cuda", *, memory_limit: int = 0, rerank_block: int = 512):
        """A :class:`densefb.TorchTokenCollection`: the live documents' token embeddings copied to
        a torch device ("cuda", "cuda:1", "cpu"), where candidate generation (exact nearest
        tokens) and MaxSim run. Pass it as the ``multivector`` resource. A snapshot: later
        updates to this index are not seen. ``memory_limit``: device bytes for the embeddings
        (0 = what the device has; MemoryError names the bytes); ``rerank_block``: candidates
        scored per batched matmul."""
        from densefb.encoders import _torch_module

        return _torch_module().TorchTokenCollection(self._impl, device=device, memory_limit=memory_limit,
                                                    rerank_block=rerank_block)

    @property
    def num_deleted(self) -> int:
        """Deleted document ids (tombstones)."""
        return self._impl.num_deleted

    @property
    def num_documents(self) -> int:
        """Live documents: ``len(self)`` less the deleted ones."""
        return self._impl.num_documents

    @property
    def num_garbage_tokens(self) -> int:
        """Token rows of deleted or replaced documents, until :meth:`compact`."""
        return self._impl.num_garbage_tokens

    @property
    def dim(self) -> int:
        return self._impl.dim

    def __len__(self) -> int:
        return self._impl.size

    @property
    def num_tokens(self) -> int:
        """Token rows in the matrix (with the rows of deleted or replaced documents)."""
        return self._impl.num_tokens

    @property
    def memory_mapped(self) -> bool:
        return self._impl.memory_mapped

    @property
    def has_token_index(self) -> bool:
        return self._impl.has_token_index

    def document(self, doc: int) -> np.ndarray:
        """A copy of document ``doc``'s (tokens, dim) token embeddings."""
        return self._impl.document(doc)

    def document_token_ids(self, doc: int) -> np.ndarray:
        return self._impl.document_token_ids(doc)

    @property
    def token_ids(self) -> np.ndarray:
        """The vocabulary id of every token row (int32, num_tokens)."""
        return self._impl.token_ids

    @property
    def doc_offsets(self) -> np.ndarray:
        """Token-row offsets of the documents (int64, len + 1)."""
        return self._impl.doc_offsets

    def document_frequency(self, token_id: int) -> int:
        """Documents containing ``token_id`` at least once."""
        return self._impl.document_frequency(token_id)

    def document_frequencies(self, token_ids: Sequence[int]) -> np.ndarray:
        """Documents containing each token id (int64), as the TokenCollection interface gives them."""
        return self._impl.document_frequencies(np.asarray(token_ids, dtype=np.int32))

    def documents(self, ids: Sequence[int]) -> List[np.ndarray]:
        """Copies of the (tokens, dim) token embeddings of documents ``ids``."""
        return self._impl.documents(np.asarray(ids, dtype=np.int64))

    def idf(self, token_id: int) -> float:
        """``log((1 + N) / (df + 1))`` with N documents, as ColBERT-PRF weights expansion tokens."""
        return self._impl.idf(token_id)

    @property
    def excluded_token_ids(self) -> List[int]:
        """Token ids never chosen as expansion tokens (special and ``[unused*]`` tokens)."""
        return self._impl.excluded_token_ids

    @excluded_token_ids.setter
    def excluded_token_ids(self, ids: Sequence[int]) -> None:
        self._impl.excluded_token_ids = list(ids)  # converted exactly by the core (no truncation)

    def build_token_index(self, kind: str = "flat", *, M: int = 16, ef_construction: int = 200,
                          ef_search: int = 10, seed: int = 100, num_threads: int = 0) -> None:
        """Builds the nearest-neighbour index over all token embeddings (inner product): "flat"
        (exact, default) or "hnsw" (M, ef_construction, ef_search, seed as densefb.HnswIndex)."""
        self._impl.build_token_index(kind, M=M, ef_construction=ef_construction, ef_search=ef_search,
                                     seed=seed, num_threads=num_threads)

    def nearest_tokens(self, vectors: np.ndarray, k: int = 10, *, ef_search: int = 0,
                       num_threads: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """The k nearest token rows of each vector: (scores (n, k), token rows (n, k))."""
        return self._impl.nearest_tokens(np.asarray(vectors, dtype=np.float32), k, ef_search, num_threads)

    def neighbours(self, vectors: np.ndarray, k: int = 10, *, ef_search: int = 0,
                   num_threads: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The k nearest token embeddings of each vector with their documents and token ids:
        (scores, token rows, documents, token ids), (n, k) each, best first."""
        return self._impl.neighbours(np.asarray(vectors, dtype=np.float32), k, ef_search, num_threads)

    def score(self, query: np.ndarray, docs: Sequence[int],
              weights: Optional[np.ndarray] = None) -> np.ndarray:
        """Exact weighted MaxSim of one (tokens, dim) query against documents ``docs``."""
        return self._impl.score(np.asarray(query, dtype=np.float32), np.asarray(docs, dtype=np.int64), weights)

    def candidates(self, queries: Queries, token_k: int = DEFAULT_TOKEN_K, *, ef_search: int = 0,
                   num_threads: int = 0) -> List[np.ndarray]:
        """Candidate document ids of each query (sorted): the documents of the ``token_k`` nearest
        token rows of every query token."""
        return self._impl.candidates(_queries(queries), token_k, ef_search, num_threads)

    def search(self, queries: Queries, k: int = 1000, *, token_k: int = DEFAULT_TOKEN_K,
               weights: Optional[Sequence[Optional[np.ndarray]]] = None, ef_search: int = 0,
               num_threads: int = 0, filter: Any = None) -> Ranked:
        """End-to-end retrieval: candidates from the token index, then exact MaxSim; returns
        ``(scores, ids)`` of shape (n_queries, k), best first, padded with -inf / -1.
        ``filter``: the documents each query may return (:class:`densefb.Filter`, a bool mask,
        ids, or ids per query); other candidates are dropped, and a query allowing under 1/16
        of the documents has all of them scored."""
        return self._impl.search(_queries(queries), weights, k, token_k, ef_search, num_threads, filter)

    def rerank(self, queries: Queries, candidates, k: int = 0, *,
               weights: Optional[Sequence[Optional[np.ndarray]]] = None, num_threads: int = 0) -> Ranked:
        """Re-scores each query's candidate ids (ids < 0 ignored) by exact MaxSim; keeps the best
        k (0: all)."""
        return maxsim_rerank(queries, candidates, index=self, k=k, weights=weights, num_threads=num_threads)

    def __repr__(self) -> str:
        return (f"<densefb.MultiVectorIndex docs={len(self)} tokens={self.num_tokens} dim={self.dim} "
                f"token_index={self.has_token_index}>")


def _given_docs(index: Optional[MultiVectorIndex], candidates: List[np.ndarray], encoder, texts,
                batch_size: int) -> Tuple[Optional[np.ndarray], Optional[List[np.ndarray]]]:
    """Encodes, with ``encoder``, the candidate documents the index does not hold."""
    held = len(index) if index is not None else 0
    wanted = sorted({int(i) for ids in candidates for i in ids if i >= held})
    if not wanted:
        return None, None
    if encoder is None or texts is None:
        raise KeyError(f"document {wanted[0]} is not in the multi-vector index ({held} documents); "
                       "give encoder= and texts= to encode it on the fly")
    if wanted[-1] >= len(texts):
        raise IndexError(f"document {wanted[-1]} has no text ({len(texts)} texts)")
    vectors = encoder.encode_documents([texts[i] for i in wanted], batch_size=batch_size, show_progress=False)
    return np.asarray(wanted, dtype=np.int64), vectors


def maxsim_rerank(queries: Queries, candidates, *, index: Optional[MultiVectorIndex] = None,
                  encoder=None, texts: Optional[Sequence[str]] = None, k: int = 0,
                  weights: Optional[Sequence[Optional[np.ndarray]]] = None, batch_size: int = 32,
                  num_threads: int = 0) -> Ranked:
    """Re-scores any candidate lists (e.g. BM25's) by exact weighted MaxSim.

    queries: one (tokens, dim) array per query (e.g. ``ColbertEncoder.encode_queries``).
    candidates: one id array per query (document positions; ids < 0 ignored) or an (n, k) array.
    index: token embeddings of the documents it holds; documents it does not hold (or all, when
        None) are encoded on the fly with ``encoder`` (a :class:`densefb.ColbertEncoder`) from
        ``texts[id]``.
    k: results kept per query (0: all). Returns ``(scores, ids)`` padded with -inf / -1.
    """
    qs = _queries(queries)
    cands = _id_lists(candidates)
    doc_ids, doc_vectors = _given_docs(index, cands, encoder, texts, batch_size)
    return _core.maxsim_rerank(qs, cands, weights=weights, index=None if index is None else getattr(index, "_impl", index),
                               doc_ids=doc_ids, doc_vectors=doc_vectors, k=k, num_threads=num_threads)


def kmeans(points: np.ndarray, clusters: int, seed: int = 42, max_iter: int = 300,
           tol: float = 1e-4) -> Tuple[np.ndarray, np.ndarray, int]:
    """The k-means ColBERT-PRF uses (scikit-learn's KMeans algorithm with densefb's seeded random
    stream; see densefb/multivector.h): returns (centroids float32 (K, dim), labels, iterations)."""
    c, labels, it = _core.kmeans(np.asarray(points, dtype=np.float32), clusters, seed, max_iter, tol)
    return c, np.asarray(labels, dtype=np.int32), it


class ColbertPrf:
    """ColBERT-PRF's query expansion, to inspect what it chooses (:meth:`expand`).

    Parameters are the ``colbert_prf`` stage's (``densefb.stage_defaults("colbert_prf")``:
    fb_docs 3, k 24 clusters, fb_embs 10, beta 1, seed 42, as the paper and pyterrier_colbert's
    ``ColBERTFactory.prf``); k-means is seeded and deterministic. To rank with it, use the stage
    in a pipeline, which is the one implementation of the reranker and the ranker::

        maxsim(k=0) >> colbert_prf >> rerank_maxsim   # pyterrier_colbert's reranker: the whole
                                                      # first-pass candidate set re-scored
        maxsim >> colbert_prf >> maxsim               # its ranker: new candidate generation
        bm25 >> colbert_prf >> rerank_maxsim          # re-scores the BM25 list only
    """

    def __init__(self, **params):
        self._impl = _core.ColbertPrf(params)

    fb_docs = property(lambda self: self._impl.fb_docs)
    k = property(lambda self: self._impl.k)
    fb_embs = property(lambda self: self._impl.fb_embs)
    beta = property(lambda self: self._impl.beta)
    seed = property(lambda self: self._impl.seed)

    def expand(self, index: MultiVectorIndex, queries: Queries, first_pass, *,
               encoder=None, texts: Optional[Sequence[str]] = None,
               weights: Optional[Sequence[Optional[np.ndarray]]] = None, num_threads: int = 0
               ) -> Tuple[List[Tuple[np.ndarray, np.ndarray, np.ndarray]], List[Dict]]:
        """Expanded queries from first-pass rankings (one id array per query, best first).

        Returns ``(expanded, details)``: ``expanded[q] = (vectors, weights, expansion_token_ids)``
        and ``details[q]`` a dict with all ``centroids``, ``centroid_tokens`` (-1: none valid),
        ``centroid_idf`` and ``selected`` (centroid indices, by IDF).
        """
        fp = _id_lists(first_pass)
        feedback = [ids[ids >= 0][: self.fb_docs] for ids in fp]
        doc_ids, doc_vectors = _given_docs(index, feedback, encoder, texts, 32)
        return self._impl.expand(getattr(index, "_impl", index), _queries(queries), fp, weights=weights, doc_ids=doc_ids,
                                 doc_vectors=doc_vectors, num_threads=num_threads)

    def __repr__(self) -> str:
        return self._impl.spec


_UNUSED = re.compile(r"^\[unused\d+\]$")


def excluded_token_ids(model_dir: PathLike) -> List[int]:
    """Ids of the tokenizer's special tokens ([PAD], [UNK], [CLS], [SEP], [MASK]) and
    ``[unused*]`` tokens: the tokens ColBERT-PRF never picks as expansion tokens."""
    from densefb.tokenizer import Tokenizer

    tok = Tokenizer.from_pretrained(model_dir)
    out = set()
    for name in ("pad_token_id", "unk_token_id", "cls_token_id", "sep_token_id", "mask_token_id"):
        value = getattr(tok, name)
        if value is not None and value >= 0:
            out.add(int(value))
    for i, t in enumerate(tok.convert_ids_to_tokens(list(range(tok.vocab_size)))):
        if _UNUSED.match(t):
            out.add(i)
    return sorted(out)


def build_multivector_index(encoder, texts: Sequence[str], *, batch_size: int = 32, chunk_size: int = 1024,
                            token_index: Optional[str] = "flat", show_progress: Optional[bool] = None,
                            **token_index_args) -> MultiVectorIndex:
    """Encodes ``texts`` with a :class:`densefb.ColbertEncoder` (document side, with token ids)
    into a new :class:`MultiVectorIndex`, chunk by chunk (memory bounded by one chunk of
    encoder output), sets the excluded token ids from the encoder's tokenizer, and builds the
    token index (``token_index``: "flat", "hnsw" or None; extra keyword arguments go to
    :meth:`MultiVectorIndex.build_token_index`). ``show_progress``: a tqdm bar over documents
    (default None: when stderr is a terminal)."""
    from densefb.encoders import _progress_bar

    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not a single string")
    texts = list(texts)
    if chunk_size < 1:
        raise ValueError(f"chunk_size = {chunk_size} must be >= 1")
    index = MultiVectorIndex(encoder.dim)
    index.excluded_token_ids = excluded_token_ids(encoder.model_dir)
    bar = _progress_bar(len(texts), "multi-vector index", show_progress)
    try:
        for start in range(0, len(texts), chunk_size):
            chunk = texts[start:start + chunk_size]
            vectors, ids = encoder.encode_documents_with_ids(chunk, batch_size=batch_size, show_progress=False)
            index.add(vectors, ids)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    if token_index is not None:
        index.build_token_index(token_index, **token_index_args)
    return index


def __getattr__(name: str):
    # TorchTokenCollection (MaxSim on a torch device) lives in densefb._torch, loaded on first
    # use so that importing densefb does not load torch.
    if name == "TorchTokenCollection":
        from densefb.encoders import _torch_module

        return _torch_module().TorchTokenCollection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
