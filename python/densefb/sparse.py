"""Sparse retrieval: BM25 over an inverted index with Lucene's English analysis, and RM3.

The work happens in C++ (``densefb._core.Bm25Index``, ``include/densefb/bm25.h``); this module
adds the Python conveniences (building from a Corpus, a list of texts or ``(id, text)`` pairs,
producing ``densefb.Run`` objects).

What it reproduces (defaults as Pyserini's ``LuceneSearcher``):

* Analysis as Lucene's ``EnglishAnalyzer`` / Anserini's ``DefaultEnglishAnalyzer``:
  StandardTokenizer (UAX #29 words: ``"don't"``, ``"e.g"``, ``"3.14"`` stay whole, ``"covid-19"``
  splits), removal of a trailing ``'s``, lower-casing, Lucene's 33 English stop words
  (:data:`ENGLISH_STOP_WORDS`), Porter stemming as Lucene's ``PorterStemFilter`` (Porter's
  reference version: ``-bli -> -ble``, ``-logi -> -log``, words of <= 2 letters untouched).
* Lucene 8+ BM25, ``k1 = 0.9``, ``b = 0.4``::

      idf(t)     = ln(1 + (N - df + 0.5) / (df + 0.5))
      score(q,d) = sum_t  w_t * idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl))

  with N the number of documents that have at least one indexed term, dl the number of
  indexed tokens (stop words removed), avgdl = sum(dl) / N, and w_t the number of times t
  occurs in the analysed query (as Lucene's bag-of-words BooleanQuery). By default dl is
  quantised as Lucene's 1-byte norms store it (``lucene_norms=True``, what Anserini and
  Pyserini score with; avgdl stays exact); ``lucene_norms=False`` uses exact lengths.
* RM3 as Pyserini's Python port (``fb_terms=10, fb_docs=10, original_query_weight=0.5``,
  ``filter_terms=True``): see :meth:`Bm25Index.rm3_query`.
* Sharded collections (documents split over several indexes, e.g. on several machines) score
  exactly as one index over the whole collection with global statistics (Elasticsearch's DFS
  query-then-fetch): add up the shards' :meth:`Bm25Index.local_stats` with
  :func:`merge_collection_stats` and give the sum to every shard with
  :meth:`Bm25Index.set_collection_stats`. RM3 across shards: fetch the feedback documents'
  :meth:`Bm25Index.doc_term_vectors` from the shards holding them and expand with
  :func:`rm3_expand`.

Example::

    from densefb.sparse import Bm25Index
    index = Bm25Index.build(dataset.corpus)
    run = index.search_run(dataset.queries.texts, dataset.queries.ids, k=1000)
    run_rm3 = index.search_run(dataset.queries.texts, dataset.queries.ids, k=1000, rm3={})
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from densefb import _core
from densefb._core import Corpus, Run, make_run

# Default of ``lucene_norms`` (quantised document lengths), from the C++ Bm25Params.
DEFAULT_LUCENE_NORMS: bool = _core.BM25_DEFAULT_LUCENE_NORMS

# The interface the bm25, rm3 and llm_terms stages read: Bm25Index is one; subclass it in Python
# to give them another collection (densefb.distributed's sharded one is).
Bm25Collection = _core.Bm25Collection

__all__ = [
    "Bm25Collection",
    "Bm25Index",
    "ENGLISH_STOP_WORDS",
    "RM3_DEFAULTS",
    "analyze",
    "merge_collection_stats",
    "porter_stem",
    "rm3_expand",
    "standard_tokenize",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`` (33 words), sorted.
ENGLISH_STOP_WORDS: Tuple[str, ...] = tuple(_core.english_stop_words())

def _rm3_defaults() -> Dict[str, object]:
    for stage in _core.pipeline_stages():
        if stage["name"] == "rm3":
            out = {}
            for name, default, _ in stage["params"]:
                if name == "scores":
                    continue
                out[name] = default == "true" if default in ("true", "false") else (
                    int(default) if default.isdigit() else float(default))
            return out
    raise RuntimeError("the rm3 stage is not registered")


#: Pyserini's RM3 defaults (``LuceneSearcher.set_rm3``), as the rm3 stage's table writes them.
RM3_DEFAULTS: Dict[str, object] = _rm3_defaults()


def analyze(text: str, stopwords: bool = True, stemmer: str = "porter") -> List[str]:
    """Terms of ``text`` by Lucene's English analysis chain.

    Args:
        text: any Unicode text.
        stopwords: drop Lucene's 33 English stop words (default True).
        stemmer: ``"porter"`` (default) or ``"none"``.
    Returns:
        The terms in text order, repetitions kept.
    """
    return _core.analyze(text, stopwords, stemmer)


def porter_stem(word: str) -> str:
    """Porter stem of one lower-case word, exactly as Lucene's ``PorterStemFilter``."""
    return _core.porter_stem(word)


def standard_tokenize(text: str) -> List[str]:
    """Tokens of Lucene's ``StandardTokenizer`` (UAX #29 words), before any filter."""
    return _core.standard_tokenize(text)


#: Collection statistics as :meth:`Bm25Index.local_stats` returns them.
CollectionStats = Dict[str, Any]
#: A feedback document for :func:`rm3_expand`: ``(score, terms, tfs, dfs)``.
FeedbackDoc = Tuple[float, Sequence[str], Sequence[int], Sequence[int]]


def merge_collection_stats(shards: Sequence[Mapping[str, Any]]) -> CollectionStats:
    """The collection statistics of shards with disjoint documents: every figure summed.

    Args:
        shards: one dict per shard, as :meth:`Bm25Index.local_stats` returns.
    Returns:
        A dict of the same layout: ``{"num_docs": int, "doc_count": int, "total_terms": int,
        "doc_freqs": {term: df}}``.
    Raises:
        ValueError naming the shard and field or term for a negative value, a missing or
        unknown key; TypeError for a value of the wrong type.
    """
    return _core.merge_collection_stats([dict(s) for s in shards])


def rm3_expand(query: Union[Mapping[str, float], Sequence[Tuple[str, float]]],
               feedback: Sequence[FeedbackDoc], num_docs: int,
               fb_terms: int = RM3_DEFAULTS["fb_terms"], fb_docs: int = RM3_DEFAULTS["fb_docs"],
               original_query_weight: float = RM3_DEFAULTS["original_query_weight"],
               filter_terms: bool = RM3_DEFAULTS["filter_terms"]) -> List[Tuple[str, float]]:
    """RM3 (the formula of :meth:`Bm25Index.rm3_query`) on explicit feedback documents.

    The same implementation as the ``rm3`` stage, for feedback documents that live in several
    indexes (shards): fetch their term vectors with :meth:`Bm25Index.doc_term_vectors` from the
    shards holding them (after :meth:`Bm25Index.set_collection_stats`, so dfs are the
    collection's) and expand once.

    Args:
        query: the analysed query, ``[(term, weight), ...]`` or ``{term: weight}`` (e.g.
            :meth:`Bm25Index.analyze_query`); weights finite.
        feedback: the first-pass documents, best first, each ``(score, terms, tfs, dfs)``:
            its first-pass score and its distinct terms with their frequency in it and their
            document frequency in the collection. The first ``fb_docs`` are used.
        num_docs: documents of the collection (all of them: ``local_stats()["num_docs"]``
            summed), the denominator of the 10% rule.
        fb_terms, fb_docs, original_query_weight, filter_terms: as :data:`RM3_DEFAULTS`.
    Returns:
        The expanded query ``[(term, weight), ...]``, weights > 0, largest first; search it
        with :meth:`Bm25Index.search_weighted` (``dict(...)``).
    Raises:
        ValueError for invalid options, a non-finite weight or score, a repeated term, tf < 1
        or df outside [1, num_docs] (naming the feedback document and term).
    """
    pairs = list(query.items()) if isinstance(query, Mapping) else [tuple(p) for p in query]
    return _core.rm3_expand(pairs, [tuple(d) for d in feedback], num_docs, fb_terms, fb_docs,
                            original_query_weight, filter_terms)


def _rm3_options(rm3: Optional[Mapping]) -> Optional[dict]:
    if rm3 is None or rm3 is False:
        return None
    if rm3 is True:
        rm3 = {}
    unknown = set(rm3) - set(RM3_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown RM3 option(s) {sorted(unknown)}; expected {sorted(RM3_DEFAULTS)}")
    return dict(rm3)


class Bm25Index:
    """BM25 over an inverted index, with RM3 pseudo-relevance feedback.

    Build with :meth:`build`, or read a saved index with :meth:`load`. Documents are
    addressed by their position (int id, 0..num_ids-1) in results; :attr:`doc_ids` names them.
    Searching is thread-safe and releases the GIL.

    Live updates: :meth:`add`, :meth:`delete` and :meth:`update` change the collection in
    place, and every statistic (N, df, avgdl) stays exact: scores equal those of a fresh
    :meth:`build` over the live documents in position order. Added documents get new positions
    at the end; a deleted document keeps its position (a tombstone, never returned) until
    :meth:`compact` renumbers the live documents densely. Searches from other threads may run
    during a change: each sees the index before or after it.
    """

    def __init__(self, core: "_core.Bm25Index"):
        """Wraps a ``densefb._core.Bm25Index`` (use :meth:`build` or :meth:`load`)."""
        if not isinstance(core, _core.Bm25Index):
            raise TypeError("use Bm25Index.build(...) or Bm25Index.load(path)")
        self._index = core

    # ---- construction ---------------------------------------------------------------------

    @classmethod
    def build(cls, corpus_or_texts: Union[Corpus, Sequence[str], Sequence[Tuple[str, str]]],
              k1: float = 0.9, b: float = 0.4, stopwords: bool = True, stemmer: str = "porter",
              num_threads: int = 0, ids: Optional[Sequence[str]] = None,
              lucene_norms: bool = DEFAULT_LUCENE_NORMS) -> "Bm25Index":
        """Indexes a collection.

        Args:
            corpus_or_texts: a :class:`densefb.Corpus` (each document indexed as
                ``"title text"``, like Pyserini's "flat" BEIR indexes, named by its ``_id``),
                a sequence of texts, or a sequence of ``(doc_id, text)`` pairs.
            k1: BM25 term-frequency saturation, >= 0 (default 0.9, Pyserini's).
            b: BM25 length normalisation in [0, 1] (default 0.4, Pyserini's).
            stopwords: drop Lucene's 33 English stop words (default True).
            stemmer: ``"porter"`` (default) or ``"none"``.
            num_threads: analysis threads, 0 = all cores (default). The index is identical
                whatever the thread count.
            ids: document ids for a sequence of texts (default ``"0"``, ``"1"``, ...).
            lucene_norms: quantise document lengths as Lucene's 1-byte norms, as Anserini
                and Pyserini score (default True); False: exact lengths. Saved with the index.
        Returns:
            The index. ValueError on invalid parameters.
        """
        if isinstance(corpus_or_texts, Corpus):
            if ids is not None:
                raise ValueError("ids cannot be given with a Corpus (it names its documents)")
            core = _core.Bm25Index.build_corpus(corpus_or_texts, k1, b, stopwords, stemmer,
                                                lucene_norms, num_threads)
            return cls(core)
        items = list(corpus_or_texts)
        if items and isinstance(items[0], (tuple, list)):
            if ids is not None:
                raise ValueError("ids cannot be given with (id, text) pairs")
            if any(len(p) != 2 for p in items):
                raise ValueError("expected (doc_id, text) pairs")
            names = [str(p[0]) for p in items]
            texts = [p[1] for p in items]
        else:
            texts = items
            names = [] if ids is None else [str(i) for i in ids]
            if ids is not None and len(names) != len(texts):
                raise ValueError(f"got {len(names)} ids for {len(texts)} texts")
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be str")
        return cls(_core.Bm25Index.build_texts(names, texts, k1, b, stopwords, stemmer,
                                               lucene_norms, num_threads))

    @classmethod
    def load(cls, path: PathLike) -> "Bm25Index":
        """Reads an index written by :meth:`save`.

        Args:
            path: the index file.
        Raises:
            FileNotFoundError if it is missing; OSError if it is truncated or corrupt
            (checksums and every structure are verified); ValueError if it is not a BM25 index.
        """
        return cls(_core.Bm25Index.load(path))

    def save(self, path: PathLike) -> None:
        """Writes the index atomically (versioned, checksummed container of kind "BM25").

        After deletions or updates the file holds the compacted index (as :meth:`compact`
        leaves it: live documents only, renumbered), the file of a fresh build over them.

        Args:
            path: the output file (replaced atomically if it exists).
        """
        self._index.save(path)

    # ---- live updates -------------------------------------------------------------------------

    def add(self, texts: Sequence[str], names: Optional[Sequence[str]] = None, num_threads: int = 0) -> None:
        """Indexes new documents, analysed as at build time, at positions ``num_ids, num_ids+1, ...``.

        Args:
            texts: the documents' texts.
            names: their ids (default: their new positions as strings). A name may be that of a
                deleted document, not of a live one.
            num_threads: analysis threads, 0 = all cores (default).
        Raises:
            ValueError if a name is already live or repeated, or the lengths differ; nothing
            changes on error.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be str")
        if names is None:
            names_list: List[str] = []
        else:
            names_list = [names] if isinstance(names, str) else [str(n) for n in names]
            if len(names_list) != len(texts):
                raise ValueError(f"got {len(names_list)} names for {len(texts)} texts")
        self._index.add(names_list, texts, num_threads)

    def delete(self, names: Union[str, Sequence[str], Sequence[int]]) -> None:
        """Deletes live documents by id (name), or by position (a sequence of ints). Their
        positions are never returned again and stay reserved until :meth:`compact`; the names
        may be added again.

        Raises:
            KeyError naming an unknown (or already deleted) document; IndexError for a position
            outside the index; ValueError for a document given twice or names mixed with
            positions. Nothing changes on error.
        """
        items = [names] if isinstance(names, str) else list(names)
        if items and not any(isinstance(n, str) for n in items):
            self._index.delete_ids(items)  # positions, converted exactly by the core
            return
        if not all(isinstance(n, str) for n in items):
            raise ValueError("give document ids (str) or positions (int), not both")
        self._index.delete(items)

    def update(self, names: Union[str, Sequence[str]], texts: Union[str, Sequence[str]],
               num_threads: int = 0) -> None:
        """Replaces the texts of live documents; they keep their positions.

        Raises:
            KeyError naming an unknown document; ValueError for a name given twice or lengths
            that differ. Nothing changes on error.
        """
        names = [names] if isinstance(names, str) else [str(n) for n in names]
        texts = [texts] if isinstance(texts, str) else list(texts)
        if len(names) != len(texts):
            raise ValueError(f"got {len(names)} names for {len(texts)} texts")
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be str")
        self._index.update(names, texts, num_threads)

    def compact(self) -> None:
        """Reclaims the space of deleted documents: live documents get positions 0..num_docs-1
        in their order (positions change, names do not); the index is then identical to a fresh
        :meth:`build` over them."""
        self._index.compact()

    @property
    def num_deleted(self) -> int:
        """Deleted documents still holding a position (0 after :meth:`compact`)."""
        return self._index.num_deleted

    @property
    def num_ids(self) -> int:
        """Positions in use, deleted documents included (``num_docs + num_deleted``)."""
        return self._index.num_ids

    @property
    def deleted_mask(self) -> np.ndarray:
        """Bool array by position: True where the document is deleted."""
        return self._index.deleted_mask

    # ---- properties ---------------------------------------------------------------------------

    @property
    def doc_ids(self) -> List[str]:
        """Document ids, by position (deleted documents keep theirs until :meth:`compact`)."""
        return self._index.doc_ids

    @property
    def num_docs(self) -> int:
        """Number of (live) documents indexed."""
        return self._index.num_docs

    @property
    def doc_count(self) -> int:
        """Documents with at least one indexed term: BM25's N."""
        return self._index.doc_count

    @property
    def num_terms(self) -> int:
        """Vocabulary size."""
        return self._index.num_terms

    @property
    def avgdl(self) -> float:
        """Average document length (indexed tokens) over the documents with a term, as BM25
        scores with it: the collection's after :meth:`set_collection_stats`."""
        return self._index.avgdl

    @property
    def has_collection_stats(self) -> bool:
        """True after :meth:`set_collection_stats` (until :meth:`clear_collection_stats`)."""
        return self._index.has_collection_stats

    @property
    def k1(self) -> float:
        return self._index.k1

    @property
    def b(self) -> float:
        return self._index.b

    @property
    def lucene_norms(self) -> bool:
        """True if document lengths are quantised as Lucene's norms (False: exact)."""
        return self._index.lucene_norms

    @property
    def stopwords(self) -> bool:
        return self._index.stopwords

    @property
    def stemmer(self) -> str:
        return self._index.stemmer

    def __len__(self) -> int:
        return self._index.num_docs

    def __repr__(self) -> str:
        return (f"<densefb.sparse.Bm25Index {self.num_docs} documents, {self.num_terms} terms, "
                f"k1={self.k1:g} b={self.b:g}>")

    @property
    def dynamic_pruning(self) -> bool:
        """Whether unfiltered searches prune with MaxScore (default False). Pruned and
        exhaustive searches return identical rankings and scores, ties included. Pruning pays
        for small k on large collections (2.2x at k=10 on 1M documents) and costs elsewhere
        (docs/benchmarks.md, "BM25")."""
        return self._index.dynamic_pruning

    @dynamic_pruning.setter
    def dynamic_pruning(self, on: bool) -> None:
        self._index.dynamic_pruning = bool(on)

    def set_bm25(self, k1: float = 0.9, b: float = 0.4, lucene_norms: Optional[bool] = None) -> None:
        """Changes the BM25 parameters (not while another thread searches this index).

        Args:
            k1: >= 0 (default 0.9).
            b: in [0, 1] (default 0.4).
            lucene_norms: quantise document lengths as Lucene does; None keeps the setting.
        """
        self._index.set_bm25(k1, b, lucene_norms)

    # ---- collection statistics (sharded collections) ---------------------------------------

    def local_stats(self) -> CollectionStats:
        """This index's own statistics, to add up over shards (:func:`merge_collection_stats`).

        Returns:
            ``{"num_docs": int, "doc_count": int, "total_terms": int, "doc_freqs": {term: df}}``:
            all documents, the documents with at least one indexed term (BM25's N), their
            indexed tokens (avgdl = total_terms / doc_count), and each term's document frequency.
        """
        return self._index.local_stats()

    def set_collection_stats(self, stats: Mapping[str, Any]) -> None:
        """Scores from now on with the statistics of the whole collection this index is a shard
        of (:func:`merge_collection_stats` of every shard's :meth:`local_stats`).

        idf, the length norms (avgdl) and RM3's num_docs and dfs then use the collection's
        figures, so :meth:`search`, :meth:`search_weighted`, :meth:`score`, :meth:`rescore`
        and RM3 give exactly the scores of one index over the whole collection. Kept by
        :meth:`set_bm25`; not saved by :meth:`save` (set it again after :meth:`load`). Not while
        another thread searches this index.

        Args:
            stats: a dict as :meth:`local_stats` returns.
        Raises:
            ValueError naming the field or term when the statistics cannot describe a collection
            holding this index (a term of this index missing, a df or count smaller than this
            index's own, a negative value); TypeError for a value of the wrong type.
        """
        self._index.set_collection_stats(dict(stats))

    def clear_collection_stats(self) -> None:
        """Back to this index's own statistics (not while another thread searches it)."""
        self._index.clear_collection_stats()

    def doc_term_vectors(self, doc_ids: Iterable[Union[int, str]]) -> List[Tuple[List[str], List[int], List[int]]]:
        """Term vectors of documents, as :func:`rm3_expand` reads them.

        Args:
            doc_ids: documents by position (int) or by id (str).
        Returns:
            Per document ``(terms, tfs, dfs)``: its distinct terms, their frequencies in it and
            their document frequencies (the collection's after :meth:`set_collection_stats`).
        Raises:
            IndexError for a position outside the index; KeyError for an unknown id.
        """
        return self._index.doc_term_vectors(self._positions(doc_ids))

    # ---- analysis and statistics ---------------------------------------------------------------

    def analyze(self, text: str) -> List[str]:
        """Terms of ``text`` by this index's analyser (stop words and stemmer as built)."""
        return self._index.analyze(text)

    def analyze_query(self, text: str) -> Dict[str, float]:
        """The BM25 query of ``text``: ``{term: number of occurrences}``, in first-occurrence order."""
        return self._index.analyze_query(text)

    def doc_freq(self, term: str) -> int:
        """Number of documents of this index containing ``term`` (an analysed term; 0 if
        absent), whatever the collection statistics."""
        return self._index.doc_freq(term)

    def idf(self, term: str) -> float:
        """BM25 idf of an analysed term (from the collection statistics when set); KeyError if
        absent from this index."""
        return self._index.idf(term)

    def doc_length(self, doc: int) -> int:
        """Indexed tokens of document ``doc`` (position)."""
        return self._index.doc_length(doc)

    def doc_vector(self, doc: int) -> Dict[str, int]:
        """Term vector ``{term: tf}`` of document ``doc`` (position)."""
        return self._index.doc_vector(doc)

    # ---- search -----------------------------------------------------------------------------------

    def search(self, queries: Union[str, Sequence[str]], k: int = 1000, num_threads: int = 0,
               rm3: Optional[Mapping] = None, filter: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        """Top-k documents of each query.

        Args:
            queries: query texts (a single str is one query).
            k: results per query, >= 0 (default 1000).
            num_threads: threads over queries, 0 = all cores (default).
            rm3: None (default) for plain BM25; a dict of RM3 options (any of ``fb_terms=10``,
                ``fb_docs=10``, ``original_query_weight=0.5``, ``filter_terms=True``; ``{}`` or
                True for the defaults) to search with the RM3-expanded query.
            filter: the document positions each query may return (:class:`densefb.Filter`, a
                bool mask ``(num_docs,)`` or ``(n_queries, num_docs)``, ids, or ids per query),
                applied before the top-k: rows hold allowed documents only, shorter when fewer
                match. With ``rm3``, the feedback documents also come from the allowed set.
        Returns:
            ``(scores, ids)``: float32 and int64 arrays of shape ``(len(queries), k)``, best
            first (ties by smaller id); only documents containing a query term are returned,
            the rest of a row is padded with score -inf and id -1. A query with no indexed
            term (e.g. only stop words) gets an all-padding row.
        """
        if isinstance(queries, str):
            queries = [queries]
        queries = list(queries)
        opts = _rm3_options(rm3)
        if opts is None:
            return self._index.search(queries, k, num_threads, filter)
        # One implementation of RM3: the pipeline bm25 >> rm3 >> bm25.
        from densefb import _core
        args = ",".join(f"{key}={str(v).lower() if isinstance(v, bool) else v}" for key, v in opts.items())
        spec = f"bm25(k={max(int(k), 1)}) >> rm3({args}) >> bm25(k={max(int(k), 1)})"
        pipeline = _core.Pipeline.parse(spec, False, _core.PipelineResources(bm25=self._index))
        scores, ids = pipeline.rank(queries, int(k), int(num_threads), 32, None, filter)
        return scores[:, :k], ids[:, :k]

    def search_weighted(self, queries: Sequence[Mapping[str, float]], k: int = 1000,
                        num_threads: int = 0, filter: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        """Top-k for weighted queries ``{analysed term: weight}`` (each term's BM25 contribution
        is multiplied by its weight, like Lucene's BoostQuery).

        Args:
            queries: one dict per query; weights must be finite.
            k: results per query (default 1000).
            num_threads: 0 = all cores (default).
            filter: as in :meth:`search`.
        Returns:
            ``(scores, ids)`` as :meth:`search`.
        """
        return self._index.search_weighted([dict(q) for q in queries], k, num_threads, filter)

    def search_run(self, queries: Sequence[str], query_ids: Sequence[str], k: int = 1000,
                   rm3: Optional[Mapping] = None, remove_query: bool = False, name: str = "bm25",
                   num_threads: int = 0, doc_ids: Optional[Sequence[str]] = None) -> Run:
        """Searches and returns a :class:`densefb.Run` with string ids.

        Args:
            queries: query texts.
            query_ids: their ids (same length).
            k: results per query (default 1000).
            rm3: RM3 options as in :meth:`search` (default None: plain BM25).
            remove_query: drop a hit whose document id equals the query id, as Pyserini's BEIR
                runs do (``--remove-query``; default False).
            name: the run tag (default "bm25").
            num_threads: 0 = all cores (default).
            doc_ids: names of the documents by position (default: :attr:`doc_ids`).
        """
        queries = list(queries)
        query_ids = [str(q) for q in query_ids]
        if len(queries) != len(query_ids):
            raise ValueError(f"got {len(query_ids)} query ids for {len(queries)} queries")
        scores, ids = self.search(queries, k, num_threads=num_threads, rm3=rm3)
        names = list(self.doc_ids if doc_ids is None else doc_ids)
        if remove_query and len(queries):
            position = {n: i for i, n in enumerate(names)}
            for row, qid in enumerate(query_ids):
                p = position.get(qid)
                if p is not None:
                    ids[row][ids[row] == p] = -1
        return make_run(query_ids, ids, scores, names, name)

    def rm3_query(self, query: str, **options: Any) -> Dict[str, float]:
        """The RM3-expanded query of ``query`` (Pyserini's Python port of RM3).

        First a BM25 search for the top ``fb_docs`` documents; then:
        ``q`` = the query's term counts, L1-normalised; for each feedback document, its term
        vector keeps the terms of length 2..20 code points that occur in at most 10% of the
        documents (and, with ``filter_terms``, are alphanumeric), pruned to its ``fb_terms``
        largest counts (ties: smaller term), L1-normalised, times the document's BM25 score;
        the sum over documents is pruned to ``fb_terms`` terms and L1-normalised (``RM``);
        the result is ``w * q + (1 - w) * RM`` with ``w = original_query_weight``.

        Args:
            query: the query text.
            **options: any of :data:`RM3_DEFAULTS`, the ``rm3`` stage's parameters and defaults
                (Pyserini's): ``fb_terms`` (>= 1, 10), ``fb_docs`` (>= 1, 10),
                ``original_query_weight`` (w in [0, 1], 0.5), ``filter_terms`` (keep only
                alphanumeric feedback terms, True).
        Returns:
            ``{term: weight}``, weights > 0, largest first.
        """
        o = {**RM3_DEFAULTS, **_rm3_options(options)}
        scores, ids = self._index.search([query], o["fb_docs"], 0)
        keep = ids[0] >= 0
        return self._index.rm3_expand(self._index.analyze_query(query), ids[0][keep].tolist(),
                                      scores[0][keep].tolist(), o["fb_terms"], o["fb_docs"],
                                      o["original_query_weight"], o["filter_terms"])

    def rm3_queries(self, queries: Sequence[str], **options: Any) -> List[Dict[str, float]]:
        """:meth:`rm3_query` for many queries at once (options as there)."""
        return [self.rm3_query(q, **options) for q in queries]

    def score(self, query: Union[str, Mapping[str, float]], doc_ids: Iterable[Union[int, str]]) -> np.ndarray:
        """BM25 scores of given documents for one query (for reranking and fusion).

        Args:
            query: a query text, or a weighted query ``{analysed term: weight}``.
            doc_ids: documents by position (int) or by id (str), in any order.
        Returns:
            float32 array aligned with ``doc_ids``; a document without a query term scores 0.
        Raises:
            IndexError for a position outside the index; KeyError for an unknown id.
        """
        positions = self._positions(doc_ids)
        q = dict(query) if isinstance(query, Mapping) else query
        return self._index.score(q, positions)

    def rescore(self, queries: Sequence[str], ids: np.ndarray, num_threads: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Re-scores candidate lists with BM25 (e.g. the ids of a dense search).

        Args:
            queries: query texts.
            ids: int64 array ``(len(queries), k)`` of positions, -1 for padding.
            num_threads: 0 = all cores (default).
        Returns:
            ``(scores, ids)`` of the same shape, each row's candidates sorted by BM25 score
            (ties by smaller id), padded with -inf / -1.
        """
        return self._index.rescore(list(queries), ids, num_threads)  # ids converted exactly (no truncation)

    def _positions(self, doc_ids: Iterable[Union[int, str]]) -> List[int]:
        items = list(doc_ids)
        # Positions are passed as given: the core converts them exactly (0.5 is refused, not
        # truncated to 0).
        if not items or not any(isinstance(d, str) for d in items):
            return items
        deleted = self._index.deleted_mask
        position = {n: i for i, n in enumerate(self.doc_ids) if not deleted[i]}
        out = []
        for d in items:
            if isinstance(d, str):
                if d not in position:
                    raise KeyError(f"unknown document id {d!r}")
                out.append(position[d])
            else:
                out.append(d)
        return out
