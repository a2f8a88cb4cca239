"""
densefb compiled core (private; use the densefb package)
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['BM25_DEFAULT_LUCENE_NORMS', 'BeirDataset', 'Bm25Collection', 'Bm25Index', 'CachingGenerator', 'ColbertPrf', 'Corpus', 'DEFAULT_TOKEN_K', 'EvalResult', 'FeedbackModel', 'Filter', 'FlatIndex', 'Fusion', 'Generator', 'HnswIndex', 'Measure', 'MultiVectorIndex', 'OpenAiGenerator', 'Pipeline', 'PipelineResources', 'ProductQuantizedIndex', 'Qrels', 'Queries', 'Reranker', 'ResidualMultiVectorIndex', 'Retriever', 'Run', 'ScalarQuantizedIndex', 'TTestResult', 'TokenCollection', 'VectorIndex', 'WilcoxonResult', 'WordPieceTokenizer', 'analyze', 'bonferroni', 'check_id', 'cohen_kappa', 'default_judge_prompt', 'english_stop_words', 'evaluate', 'fuse_runs', 'grade_pairs', 'holm_bonferroni', 'kendall_tau', 'kmeans', 'load_beir', 'make_run', 'maxsim_rerank', 'merge_collection_stats', 'normalize_run', 'paired_ttest', 'pipeline_stages', 'porter_stem', 'read_beir_corpus', 'read_beir_qrels', 'read_beir_queries', 'read_topics_tsv', 'read_trec_qrels', 'read_trec_run', 'register_stage', 'regularized_incomplete_beta', 'rm3_expand', 'selective_predictor', 'standard_tokenize', 'student_t_cdf', 'student_t_sf', 'unregister_stage', 'wilcoxon', 'write_trec_qrels', 'write_trec_run']
class Corpus:
    """
    Documents of a collection, addressed by string id or position.
    """
    def __getitem__(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> dict:
        """
        The i-th document as {'_id', 'title', 'text'}.
        """
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def position(self, doc_id: str) -> int:
        """
        Internal (row) id of a document id; KeyError if unknown.
        """
    def texts(self) -> list[str]:
        """
        Texts to encode: "title text" (title omitted when empty).
        """
    @property
    def ids(self) -> list[str]:
        """
        Document ids in corpus order (position = internal id).
        """
class Queries:
    """
    Queries of a collection.
    """
    @staticmethod
    def to_dataframe(queries: Queries) -> 'pandas.DataFrame':
        """
        Queries as a PyTerrier topics frame: columns ``qid, query``.
        """
    def __getitem__(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> tuple[str, str]:
        """
        The i-th query as (id, text).
        """
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def ids(self) -> list[str]:
        ...
    @property
    def texts(self) -> list[str]:
        ...
class Qrels:
    """
    Graded relevance judgments: {query id: {doc id: grade}}.
    """
    @staticmethod
    def from_dataframe(df: 'pandas.DataFrame') -> Qrels:
        """
        A :class:`densefb.Qrels` from a frame with columns ``qid, docno, label`` (PyTerrier's
            qrels); a pair given twice keeps its last label, as trec_eval does.
        
            Raises:
                ValueError: a missing column or value, or a label that is not an integer.
            
        """
    @staticmethod
    def from_dict(qrels: dict) -> Qrels:
        """
        From {query id: {doc id: grade}} (the pytrec_eval convention).
        """
    @staticmethod
    def to_dataframe(qrels: Qrels) -> 'pandas.DataFrame':
        """
        Judgments as a PyTerrier qrels frame: columns ``qid, docno, label`` (label int64).
        """
    def __init__(self) -> None:
        ...
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def set(self, query_id: str, doc_id: str, grade: typing.Any) -> None:
        """
        Adds or overwrites one judgment.
        """
    def to_dict(self) -> dict:
        ...
    @property
    def num_judgments(self) -> int:
        ...
    @property
    def query_ids(self) -> list[str]:
        ...
class Run:
    """
    Ranked, scored documents per query (higher score = better).
    """
    @staticmethod
    def from_dataframe(df: 'pandas.DataFrame', name: str = 'densefb') -> Run:
        """
        A :class:`densefb.Run` from a frame with columns ``qid, docno, score`` (e.g. PyTerrier's
            ``transform`` output; other columns such as ``rank``, ``query``, ``docid`` are ignored).
        
            ``qid`` and ``docno`` are converted to strings (as PyTerrier's
            ``coerce_dataframe_types``). Queries keep their first-appearance order, rows their order
            within a query. The scores define the ranking (evaluation re-sorts as trec_eval does).
        
            Raises:
                ValueError: a missing column, a missing (NaN) value, or a document listed twice for
                    one query.
            
        """
    @staticmethod
    def from_dict(run: dict) -> Run:
        """
        From {query id: {doc id: score}} (the pytrec_eval convention).
        """
    @staticmethod
    def to_dataframe(run: Run) -> 'pandas.DataFrame':
        """
        A run as a PyTerrier result frame: columns ``qid, docno, score, rank``.
        
            Queries in the run's order; within a query, rows sorted by score descending, ties by
            document id descending (trec_eval's order), ``rank`` 0, 1, 2, ... (PyTerrier's convention:
            the first rank is 0). The run itself is not modified.
            
        """
    def __contains__(self, arg0: str) -> bool:
        ...
    def __init__(self) -> None:
        ...
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def add(self, query_id: str, doc_ids: collections.abc.Sequence[str], scores: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        """
        Adds one query's ranking; ValueError if the query is already in the run, for an invalid id or a NaN score.
        """
    def get(self, query_id: str) -> list[tuple[str, float]]:
        """
        [(doc id, score), ...] of a query, in stored order.
        """
    def sort(self, depth: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        """
        Sorts each list by score (ties: doc id descending, as trec_eval) and keeps `depth` (0 = all).
        """
    def to_dict(self) -> dict:
        ...
    @property
    def name(self) -> str:
        """
        Run tag written in TREC files.
        """
    @name.setter
    def name(self, arg0: str) -> None:
        ...
    @property
    def num_entries(self) -> int:
        ...
    @property
    def query_ids(self) -> list[str]:
        ...
class BeirDataset:
    """
    A BEIR folder: corpus, judged queries of a split, qrels.
    """
    def __repr__(self) -> str:
        ...
    @property
    def corpus(self) -> Corpus:
        ...
    @property
    def path(self) -> str:
        ...
    @property
    def qrels(self) -> Qrels:
        ...
    @property
    def queries(self) -> Queries:
        ...
    @property
    def split(self) -> str:
        ...
class Measure:
    """
    An evaluation measure in ir_measures notation (e.g. 'nDCG@10', 'AP(rel=2)'); trec_eval names such as 'ndcg_cut_10' parse too.
    """
    def __eq__(self, arg0: Measure) -> bool:
        ...
    def __hash__(self) -> int:
        ...
    def __init__(self, name: str) -> None:
        """
        Parses a measure name; ValueError if unknown or malformed.
        """
    def __repr__(self) -> str:
        ...
    def __str__(self) -> str:
        ...
    @property
    def cutoff(self) -> typing.Any:
        """
        Rank cutoff k, or None.
        """
    @property
    def name(self) -> str:
        """
        The measure family: nDCG, AP, RR, R, P or Judged.
        """
    @property
    def rel_level(self) -> typing.Any:
        """
        Per-measure relevance threshold, or None (the evaluation's).
        """
class EvalResult:
    """
    Per-query and mean values of evaluated measures.
    """
    @property
    def mean(self) -> list[float]:
        """
        Mean of each measure over query_ids.
        """
    @property
    def measures(self) -> list[str]:
        """
        Canonical measure names, as asked.
        """
    @property
    def per_query(self) -> list[list[float]]:
        """
        per_query[q][m], rows as query_ids.
        """
    @property
    def query_ids(self) -> list[str]:
        """
        Evaluated queries, in qrels order.
        """
class Filter:
    """
    Which documents each query of a batch may return: one allow-list shared by every query, or one
    per query. Searches with a filter return the top k among the allowed documents only (fewer than
    k when fewer match), exact for flat and BM25 indexes; in a pipeline every retriever is
    filtered, so PRF feedback documents also come from the allowed set.
    
        f = densefb.Filter.from_ids([3, 9, 12])               # every query
        f = densefb.Filter.from_id_lists([[3, 9], [1, 2]])    # query 0, query 1
        f = densefb.Filter.from_mask(mask)                    # bool (n_docs,) or (n_queries, n_docs)
    
    Anywhere a `filter=` argument is taken, a mask, an id sequence or a list of id sequences
    is converted the same way.
    """
    @staticmethod
    def from_id_lists(lists: collections.abc.Sequence) -> Filter:
        """
        One allow-list per query.
        """
    @staticmethod
    def from_ids(ids: typing.Any) -> Filter:
        """
        One allow-list for every query (non-negative ids, any order, repeats ignored).
        """
    @staticmethod
    def from_mask(mask: numpy.ndarray) -> Filter:
        """
        A bool mask: (n_docs,) for every query or (n_queries, n_docs); column = document id.
        """
    def __repr__(self) -> str:
        ...
    def count(self, query: typing.SupportsInt | typing.SupportsIndex = 0) -> int:
        """
        Number of ids allowed for a query.
        """
    def ids(self, query: typing.SupportsInt | typing.SupportsIndex = 0) -> numpy.typing.NDArray[numpy.int64]:
        """
        The allowed ids of a query, ascending.
        """
    @property
    def rows(self) -> int:
        """
        1 (shared by every query) or the number of queries.
        """
class VectorIndex:
    """
    Base class of the vector indexes. A Python subclass is a vector index that pipelines search and
    read feedback vectors from (the dense retriever, avg, rocchio, rescore): call
    VectorIndex.__init__(self, dim, metric, ntotal, exact) and define
    
        search(self, queries, k, num_threads, ef_search) -> (scores, ids)
            (n, k') float32 and int64 arrays, k' <= k, best first (score descending, ties by
            smaller id); -1 marks an empty slot.
        reconstruct(self, ids) -> (len(ids), dim) float32 stored vectors.
    
    exact=True promises that the top d of a search is the same for every k >= d (pipelines then
    retrieve only as deep as the next stage reads).
    """
    def __init__(self, dim: int, metric: str = 'ip', ntotal: int = 0, exact: bool = False) -> None:
        ...
    def compact(self) -> None:
        """
        Reclaims the space of deleted vectors (HNSW: rebuilds the graph over the live ones).
        """
    def delete(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> None:
        """
        Removes the vectors of ids (distinct, all present: KeyError names the first unknown id,
        and nothing changes). Safe while other threads search: they see the index before or
        after the call. The ids may be added again.
        """
    def reserve(self, n: int) -> None:
        """
        Makes room for n vectors in total, so that adding up to n allocates no larger storage
        (no transient copy of the old one); never shrinks. MemoryError when the memory is not there.
        """
    def update(self, vectors: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> None:
        """
        Replaces the stored vectors of existing ids, (len(ids), dim), in one step.
        """
    @property
    def dim(self) -> int:
        ...
    @property
    def exact(self) -> bool:
        ...
    @property
    def metric(self) -> str:
        ...
    @property
    def ntotal(self) -> int:
        ...
    @property
    def num_deleted(self) -> int:
        """
        Deleted vectors still occupying storage (HNSW waypoints until reused or compacted).
        """
class FlatIndex(VectorIndex):
    """
    Exact top-k search over float32 vectors by inner product ("ip") or cosine ("cosine").
    
    Blocked GEMM with a bounded heap per query (memory independent of the corpus size),
    multithreaded, deterministic: ties go to the earlier-added vector. Scores are higher-is-better.
    
        index = densefb.FlatIndex(384, metric="ip")
        index.add(doc_vectors)                 # ids 0..n-1, or add(x, ids=...)
        scores, ids = index.search(queries, k=10)   # (n_queries, min(k, ntotal)) arrays
    """
    @staticmethod
    def load(path: typing.Any) -> FlatIndex:
        """
        Loads an index saved by save(); OSError if the file is corrupt or truncated.
        """
    def __init__(self, dim: int, metric: str = 'ip') -> None:
        """
        dim: vector dimension (>= 1); metric: "ip" (inner product) or "cosine".
        """
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def add(self, vectors: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64] | None = None) -> None:
        """
        Adds (n, dim) vectors. ids: n distinct non-negative int64 (default: continue from ntotal).
        """
    def reconstruct(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> numpy.typing.NDArray[numpy.float32]:
        """
        Stored vectors of ids, (len(ids), dim), exactly as added. KeyError for an unknown id.
        """
    def save(self, path: typing.Any) -> None:
        """
        Writes the index atomically (versioned, checksummed).
        """
    def search(self, queries: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: int, num_threads: int = 0, filter: typing.Any = None) -> tuple:
        """
        Top-k of each query: returns (scores float32 (n, k'), ids int64 (n, k')), best first,
        where k' = min(k, ntotal): k larger than the index returns every vector (any k >= 0,
        nothing is allocated beyond what exists); an empty index gives (n, 0) arrays.
        num_threads: 0 = all cores.
        filter: None, a densefb.Filter, a bool mask (n_docs,) or (n_queries, n_docs) over ids,
            a sequence of allowed ids, or one per query: only allowed ids are returned.
            Exact top-k among them; slots past the allowed matches hold (-inf, -1).
        """
    @property
    def dim(self) -> int:
        ...
    @property
    def ids(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Ids of the stored vectors in insertion order (a copy).
        """
    @property
    def metric(self) -> str:
        ...
    @property
    def ntotal(self) -> int:
        ...
class HnswIndex(VectorIndex):
    """
    Approximate top-k search with an HNSW graph (hnswlib), inner product ("ip") or cosine.
    
    Parameters keep hnswlib's names and defaults. Scores are the inner product (or cosine),
    higher is better; each row is sorted best first, ties by smaller id; slots beyond what the
    search found hold score -inf and id -1. Vectors are stored exactly as added (cosine too), so
    reconstruct() returns them unchanged. search() is thread-safe and never changes the index:
    the candidate list size ef is a per-call argument (default: the index's ef_search).
    
    A build with num_threads=1 is reproducible bit for bit (fixed seed); a multi-threaded build
    inserts in thread order, so its graph may differ from run to run.
    
        index = densefb.HnswIndex(384, metric="ip", M=16, ef_construction=200)
        index.add(doc_vectors)                       # ids 0..n-1, or add(x, ids=...)
        scores, ids = index.search(queries, k=10, ef=64)
    """
    @staticmethod
    def load(path: typing.Any) -> HnswIndex:
        """
        Loads an index written by save() (path: str or os.PathLike).
        FileNotFoundError if missing; OSError if truncated or corrupt; ValueError
        if it is not an HNSW index file; NotImplementedError for a newer format.
        """
    def __init__(self, dim: int, metric: str = 'ip', M: int = 16, ef_construction: int = 200, ef_search: int = 10, seed: int = 100, num_threads: int = 0) -> None:
        """
        dim: vector dimension (>= 1).
        metric: "ip" (inner product, default) or "cosine".
        M: graph links per node, 2*M on the base layer (default 16, 2..10000).
        ef_construction: candidate list size while building (default 200, 1..2**31-1).
        ef_search: default candidate list size while searching (default 10, 1..2**31-1;
            a search never keeps more candidates than the index has vectors).
        seed: seed of the level generator (default 100, hnswlib's).
        num_threads: threads used by add(); 0 (default) = all cores, 1 = reproducible.
        """
    def __len__(self) -> int:
        """
        Number of stored vectors.
        """
    def __repr__(self) -> str:
        ...
    def add(self, vectors: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64] | None = None) -> None:
        """
        Adds vectors, a float32 (n, dim) array (C-contiguous float32 is used without a
        copy; other arrays are converted; a 1-d array is one vector).
        ids: None (default: continue from ntotal) or n distinct non-negative int64 ids
        not in the index yet. Vectors must be finite. Uses the index's num_threads.
        ValueError on a wrong dimension, NaN/Inf, or bad/duplicate ids.
        """
    def reconstruct(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> numpy.typing.NDArray[numpy.float32]:
        """
        Stored vectors of ids (1-d int64), a float32 (len(ids), dim) array, exactly as
        added (also for cosine). KeyError for an id not in the index.
        """
    def save(self, path: typing.Any) -> None:
        """
        Writes the index to path (str or os.PathLike) atomically: versioned, checksummed,
        written to a temporary file and renamed, so a failed save leaves the old file.
        """
    def search(self, queries: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: int, ef: int | None = None, num_threads: int = 0, filter: typing.Any = None, filter_exhaustive_below: int | None = None) -> tuple:
        """
        Approximate top-k of each query.
        queries: float32 (n, dim) array; a 1-d array is one query.
        k: results per query (>= 0; any larger k than ntotal returns ntotal columns).
        ef: candidate list size for this call (1..2**31-1; None = the index's ef_search);
            the search keeps min(max(ef, k), ntotal) candidates. Does not change the index.
        num_threads: 0 (default) = all cores.
        filter: None, a densefb.Filter, a bool mask (n_docs,) or (n_queries, n_docs) over ids,
            a sequence of allowed ids, or one per query: only allowed ids are returned.
            The graph is traversed past disallowed vectors; a small allowed set (under
            sqrt(8 * ef * ntotal) ids, or filter_exhaustive_below when given; 0 = never) is
            scored exhaustively instead, exactly.
        Returns (scores float32 (n, k'), ids int64 (n, k')) with k' = min(k, ntotal), best
        first; results the search did not find are score -inf, id -1.
        """
    @property
    def M(self) -> int:
        """
        Graph links per node (2*M on the base layer).
        """
    @property
    def dim(self) -> int:
        """
        Vector dimension.
        """
    @property
    def ef_construction(self) -> int:
        """
        Candidate list size used while building.
        """
    @property
    def ef_search(self) -> int:
        """
        Default ef of search() (override per call with ef=).
        """
    @property
    def metric(self) -> str:
        """
        "ip" or "cosine".
        """
    @property
    def ntotal(self) -> int:
        """
        Number of stored vectors.
        """
    @property
    def num_threads(self) -> int:
        """
        Threads used by add() (0 = all cores).
        """
    @property
    def seed(self) -> int:
        """
        Seed of the level generator.
        """
class ScalarQuantizedIndex(VectorIndex):
    """
    Exhaustive top-k search over compressed vectors: int8 (1 byte per dimension, a per-dimension
    range trained from data), fp16 or bf16 (2 bytes). Usable wherever a FlatIndex is, pipelines
    included: reconstruct() returns the decoded vectors, which vector PRF (rocchio, avg) reads.
    
    int8: code = round((x - vmin) / (vmax - vmin) * 255) per dimension, with [vmin, vmax] learned
    by train(sample) or, if not trained, by the first add() that has vectors (on that batch).
    Values outside the trained range are clamped to it. fp16 clamps magnitudes above 65504.
    
    Search decodes blocks of codes to float32 and runs FlatIndex's blocked GEMM: its ranking is the
    exact ranking of the decoded vectors (ties by the earlier-added vector). rescore_factor=r >= 1
    also keeps the float32 vectors and re-scores the top r*k candidates exactly (more memory:
    memory_usage() counts it).
    
        index = densefb.ScalarQuantizedIndex(384, metric="ip", encoding="int8")
        index.add(doc_vectors)
        scores, ids = index.search(queries, k=10)
        index.memory_usage()["total"]          # bytes; ["flat_equivalent"]: a FlatIndex's
    """
    @staticmethod
    def load(path: typing.Any) -> ScalarQuantizedIndex:
        """
        Loads an index saved by save(); OSError if the file is corrupt or truncated.
        """
    def __init__(self, dim: int, metric: str = 'ip', encoding: str = 'int8', rescore_factor: int = 0) -> None:
        """
        dim: vector dimension (>= 1); metric: "ip" or "cosine"; encoding: "int8", "fp16" or
        "bf16"; rescore_factor: 0 (no re-scoring) or r in [1, 1024]: keep float32 vectors and
        re-score the top r*k candidates exactly.
        """
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def add(self, vectors: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64] | None = None) -> None:
        """
        Encodes and adds (n, dim) vectors. ids: n distinct non-negative int64 (default: continue
        from ntotal). An untrained int8 index trains on this batch first.
        """
    def memory_usage(self) -> dict:
        """
        Bytes held, by part: codes, originals (float32 copies for re-scoring), norms (cosine),
        ids (estimated, 24 a vector), params (the int8 range), total; and flat_equivalent, what a
        FlatIndex of the same vectors holds (float32 vectors, norms, ids).
        """
    def reconstruct(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> numpy.typing.NDArray[numpy.float32]:
        """
        Decoded vectors of ids, (len(ids), dim). KeyError for an unknown id.
        """
    def save(self, path: typing.Any) -> None:
        """
        Writes the index atomically (versioned, checksummed).
        """
    def search(self, queries: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: int, num_threads: int = 0, filter: typing.Any = None) -> tuple:
        """
        Top-k of each query: (scores float32 (n, k'), ids int64 (n, k')), best first, k' =
        min(k, ntotal), as FlatIndex.search (filter included). Scores are those of the decoded
        vectors, or exact float32 scores with rescore_factor >= 1.
        """
    def train(self, sample: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> None:
        """
        int8: learns the per-dimension range from (n, dim) vectors; only on an empty index.
        A no-op for fp16 and bf16.
        """
    @property
    def dim(self) -> int:
        ...
    @property
    def encoding(self) -> str:
        ...
    @property
    def ids(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Ids of the stored vectors in insertion order (a copy).
        """
    @property
    def is_trained(self) -> bool:
        """
        Whether the int8 range is set (always True for fp16/bf16).
        """
    @property
    def metric(self) -> str:
        ...
    @property
    def ntotal(self) -> int:
        ...
    @property
    def rescore_factor(self) -> int:
        ...
    @property
    def vmax(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        int8: the trained range end per dimension.
        """
    @property
    def vmin(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        int8: the trained range start per dimension (empty before training and for fp16/bf16).
        """
class ProductQuantizedIndex(VectorIndex):
    """
    Exhaustive top-k search over product-quantised codes (faiss's IndexPQ): the dim dimensions are
    split into m sub-spaces of dim/m dimensions, each with 256 centroids learned by k-means (25
    iterations, fixed seed), and a vector is stored as the m bytes naming its sub-vectors' nearest
    centroids (m bytes instead of 4 x dim). Usable wherever a FlatIndex is, pipelines included:
    reconstruct() returns the decoded vectors (the concatenated centroids), which vector PRF reads.
    
    Training: train(sample) or, if not trained, the first add() that has vectors (on that batch);
    either needs at least 256 vectors (ValueError otherwise).
    
    Search is asymmetric (ADC): per query a table of inner products between its sub-vectors and the
    centroids; a vector's score sums m table entries, the inner product with its decoded vector. The
    top k is exact over those scores (ties by the earlier-added vector), whatever the thread count.
    Cosine divides by the decoded vector's norm. rescore_factor=r >= 1 also keeps the float32
    vectors and re-scores the top r*k candidates exactly (more memory: memory_usage() counts it).
    
        index = densefb.ProductQuantizedIndex(384, m=48, metric="cosine")
        index.add(doc_vectors)                  # trains on this batch (>= 256 vectors)
        scores, ids = index.search(queries, k=10)
        index.memory_usage()["total"]          # bytes; ["flat_equivalent"]: a FlatIndex's
    """
    @staticmethod
    def load(path: typing.Any) -> ProductQuantizedIndex:
        """
        Loads an index saved by save(); OSError if the file is corrupt or truncated.
        """
    def __init__(self, dim: int, m: int, metric: str = 'ip', nbits: int = 8, rescore_factor: int = 0) -> None:
        """
        dim: vector dimension (>= 1); m: sub-quantizers (bytes per vector), dividing dim;
        metric: "ip" or "cosine"; nbits: 8 (256 centroids per sub-space; the only width);
        rescore_factor: 0 (no re-scoring) or r in [1, 1024]: keep float32 vectors and re-score
        the top r*k candidates exactly.
        """
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def add(self, vectors: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64] | None = None) -> None:
        """
        Encodes and adds (n, dim) vectors. ids: n distinct non-negative int64 (default: continue
        from ntotal). An untrained index trains on this batch first (n >= 256).
        """
    def codes(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> numpy.typing.NDArray[numpy.uint8]:
        """
        Codes of ids, uint8 (len(ids), m). KeyError for an unknown id.
        """
    def memory_usage(self) -> dict:
        """
        Bytes held, by part: codes (m per vector), originals (float32 copies for re-scoring), norms
        (cosine), ids (estimated, 24 a vector), params (the codebooks, 256 x dim floats), total;
        and flat_equivalent, what a FlatIndex of the same vectors holds.
        """
    def reconstruct(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> numpy.typing.NDArray[numpy.float32]:
        """
        Decoded vectors of ids, (len(ids), dim). KeyError for an unknown id.
        """
    def save(self, path: typing.Any) -> None:
        """
        Writes the index atomically (versioned, checksummed).
        """
    def search(self, queries: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: int, num_threads: int = 0, filter: typing.Any = None) -> tuple:
        """
        Top-k of each query: (scores float32 (n, k'), ids int64 (n, k')), best first, k' =
        min(k, ntotal), as FlatIndex.search (filter included). Scores are those of the decoded
        vectors (ADC), or exact float32 scores with rescore_factor >= 1.
        """
    def train(self, sample: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], num_threads: int = 0) -> None:
        """
        Learns the codebooks from (n, dim) vectors, n >= 256 (at most 65536 of them are used, a
        seeded sample); only on an empty index. Deterministic for any num_threads.
        """
    @property
    def centroids(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        The codebooks, float32 (m, 256, dim/m); (0, 256, dim/m) before training.
        """
    @property
    def dim(self) -> int:
        ...
    @property
    def ids(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Ids of the stored vectors in insertion order (a copy).
        """
    @property
    def is_trained(self) -> bool:
        """
        Whether the codebooks are learned.
        """
    @property
    def m(self) -> int:
        ...
    @property
    def metric(self) -> str:
        ...
    @property
    def nbits(self) -> int:
        ...
    @property
    def ntotal(self) -> int:
        ...
    @property
    def rescore_factor(self) -> int:
        ...
class WordPieceTokenizer:
    """
    BERT WordPiece tokenizer identical to Hugging Face tokenizers' BertTokenizerFast (compiled core
    of densefb.Tokenizer; use that class). Const methods are thread-safe; batch work releases the GIL.
    """
    @staticmethod
    def from_directory(path: typing.Any) -> WordPieceTokenizer:
        """
        Loads a Hugging Face tokenizer folder: tokenizer.json, else vocab.txt +
        tokenizer_config.json. FileNotFoundError if neither exists, NotImplementedError for a
        tokenizer that is not BERT WordPiece, ValueError for malformed files.
        """
    @staticmethod
    def from_tokenizer_json(path: typing.Any, tokenizer_config: typing.Any = None) -> WordPieceTokenizer:
        """
        Loads a tokenizer.json (and optionally the tokenizer_config.json beside it).
        """
    def encode(self, text: str, max_length: typing.SupportsInt | typing.SupportsIndex = 0, add_special_tokens: bool = True) -> list:
        """
        Token ids of one text ([CLS] ... [SEP]); max_length 0: no truncation.
        """
    def encode_batch(self, texts: typing.Any, pairs: typing.Any = None, max_length: typing.SupportsInt | typing.SupportsIndex = 0, add_special_tokens: bool = True, pad_to_multiple_of: typing.SupportsInt | typing.SupportsIndex = 0, num_threads: typing.SupportsInt | typing.SupportsIndex = 1) -> tuple[numpy.typing.NDArray[numpy.int64], numpy.typing.NDArray[numpy.int64], numpy.typing.NDArray[numpy.int64]]:
        """
        (input_ids, attention_mask, token_type_ids): int64 (n, longest) arrays, right-padded.
        """
    def encode_pair(self, a: str, b: str, max_length: typing.SupportsInt | typing.SupportsIndex = 0, add_special_tokens: bool = True) -> tuple[list, list]:
        """
        (ids, token_type_ids) of [CLS] a [SEP] b [SEP], longest_first truncation.
        """
    def id_to_token(self, id: typing.SupportsInt | typing.SupportsIndex) -> str:
        """
        Token of an id; IndexError if unknown.
        """
    def normalize(self, text: str) -> str:
        """
        The BertNormalizer output of a text.
        """
    def num_special_tokens(self, pair: bool = False) -> int:
        ...
    def pre_tokenize(self, text: str) -> list[str]:
        """
        The normalized words of a text, before WordPiece.
        """
    def token_to_id(self, token: str) -> typing.Any:
        """
        Id of a token, or None.
        """
    def tokenize(self, text: str) -> list[str]:
        """
        Token strings of a text, without special tokens.
        """
    @property
    def added_tokens(self) -> dict:
        """
        {content: id} of the added tokens matched before WordPiece.
        """
    @property
    def cls_token_id(self) -> typing.Any:
        ...
    @property
    def do_lower_case(self) -> bool:
        ...
    @property
    def mask_token_id(self) -> typing.Any:
        ...
    @property
    def model_max_length(self) -> typing.Any:
        ...
    @property
    def num_ids(self) -> int:
        ...
    @property
    def pad_token_id(self) -> typing.Any:
        ...
    @property
    def sep_token_id(self) -> typing.Any:
        ...
    @property
    def strip_accents(self) -> bool:
        ...
    @property
    def unk_token_id(self) -> typing.Any:
        ...
    @property
    def vocab_size(self) -> int:
        ...
class Bm25Collection:
    """
    Base class of BM25 collections: what the bm25, rm3 and llm_terms stages read. Bm25Index is one.
    A Python subclass (the sharded collection of densefb.distributed is one) calls
    
        Bm25Collection.__init__(self, num_docs, collection_num_docs, k1, b, lucene_norms=True)
    
    and defines
    
        analyze_queries(self, texts) -> [[(term, weight), ...], ...]
        search(self, texts, k, num_threads) -> (scores, ids)          (n, k') arrays, best first
        search_weighted(self, queries, k, num_threads) -> (scores, ids) queries as analyze_queries'
        score_documents(self, queries, ids) -> [float32 array per query]
        feedback_documents(self, ids) -> [[(terms, tfs, dfs) per document] per query]
    
    with scores from the collection's statistics (dfs: collection document frequencies); -1 marks
    an empty slot.
    """
    def __init__(self, num_docs: int, collection_num_docs: int, k1: typing.SupportsFloat | typing.SupportsIndex = 0.8999999761581421, b: typing.SupportsFloat | typing.SupportsIndex = 0.4000000059604645, lucene_norms: bool = True) -> None:
        ...
    @property
    def b(self) -> float:
        ...
    @property
    def collection_num_docs(self) -> int:
        ...
    @property
    def k1(self) -> float:
        ...
    @property
    def num_docs(self) -> int:
        ...
class Bm25Index(Bm25Collection):
    """
    BM25 over an inverted index (see densefb.sparse.Bm25Index).
    """
    @staticmethod
    def build_corpus(corpus: Corpus, k1: typing.SupportsFloat | typing.SupportsIndex = 0.8999999761581421, b: typing.SupportsFloat | typing.SupportsIndex = 0.4000000059604645, stopwords: bool = True, stemmer: str = 'porter', lucene_norms: bool = True, num_threads: int = 0) -> Bm25Index:
        ...
    @staticmethod
    def build_texts(names: collections.abc.Sequence[str], texts: collections.abc.Sequence[str], k1: typing.SupportsFloat | typing.SupportsIndex = 0.8999999761581421, b: typing.SupportsFloat | typing.SupportsIndex = 0.4000000059604645, stopwords: bool = True, stemmer: str = 'porter', lucene_norms: bool = True, num_threads: int = 0) -> Bm25Index:
        ...
    @staticmethod
    def load(path: typing.Any) -> Bm25Index:
        ...
    def __len__(self) -> int:
        ...
    def add(self, names: collections.abc.Sequence[str], texts: collections.abc.Sequence[str], num_threads: int = 0) -> None:
        """
        Adds documents (names may be empty: then the new ids in decimal).
        """
    def analyze(self, text: str) -> list[str]:
        ...
    def analyze_query(self, text: str) -> dict:
        ...
    def clear_collection_stats(self) -> None:
        ...
    def compact(self) -> None:
        """
        Drops deleted documents; ids become dense (they change), names stay.
        """
    def delete(self, names: collections.abc.Sequence[str]) -> None:
        """
        Deletes live documents by name.
        """
    def delete_ids(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> None:
        """
        Deletes live documents by id.
        """
    def doc_freq(self, term: str) -> int:
        ...
    def doc_length(self, doc: int) -> int:
        ...
    def doc_term_vectors(self, doc_ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> list:
        ...
    def doc_vector(self, doc: int) -> dict:
        ...
    def idf(self, term: str) -> float:
        ...
    def local_stats(self) -> dict:
        ...
    def rescore(self, queries: collections.abc.Sequence[str], ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], num_threads: int = 0) -> tuple:
        ...
    def rm3_expand(self, query: dict, feedback_ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], feedback_scores: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], fb_terms: int, fb_docs: int, original_query_weight: typing.SupportsFloat | typing.SupportsIndex, filter_terms: bool) -> dict:
        ...
    def save(self, path: typing.Any) -> None:
        ...
    def score(self, query: typing.Any, doc_ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> numpy.typing.NDArray[numpy.float32]:
        ...
    def search(self, queries: collections.abc.Sequence[str], k: int, num_threads: int = 0, filter: typing.Any = None) -> tuple:
        """
        Top-k documents containing a query term, best first.
        filter: None, a densefb.Filter, a bool mask (n_docs,) or (n_queries, n_docs) over ids,
            a sequence of allowed ids, or one per query: only allowed ids are returned.
            Applied before the top-k: never a disallowed document, shorter lists when fewer match.
        """
    def search_weighted(self, queries: collections.abc.Sequence[dict], k: int, num_threads: int = 0, filter: typing.Any = None) -> tuple:
        ...
    def set_bm25(self, k1: typing.SupportsFloat | typing.SupportsIndex, b: typing.SupportsFloat | typing.SupportsIndex, lucene_norms: bool | None = None) -> None:
        ...
    def set_collection_stats(self, stats: typing.Any) -> None:
        ...
    def update(self, names: collections.abc.Sequence[str], texts: collections.abc.Sequence[str], num_threads: int = 0) -> None:
        """
        Replaces the texts of live documents (they keep their ids).
        """
    @property
    def avgdl(self) -> float:
        ...
    @property
    def b(self) -> float:
        ...
    @property
    def collection_num_docs(self) -> int:
        ...
    @property
    def deleted_mask(self) -> numpy.typing.NDArray[numpy.bool]:
        """
        Bool array by id: True for deleted documents.
        """
    @property
    def doc_count(self) -> int:
        ...
    @property
    def doc_ids(self) -> list[str]:
        ...
    @property
    def dynamic_pruning(self) -> bool:
        """
        MaxScore pruning of unfiltered searches (default False); identical results either way.
        """
    @dynamic_pruning.setter
    def dynamic_pruning(self, arg1: bool) -> None:
        ...
    @property
    def has_collection_stats(self) -> bool:
        ...
    @property
    def k1(self) -> float:
        ...
    @property
    def lucene_norms(self) -> bool:
        ...
    @property
    def num_deleted(self) -> int:
        ...
    @property
    def num_docs(self) -> int:
        ...
    @property
    def num_ids(self) -> int:
        ...
    @property
    def num_postings(self) -> int:
        ...
    @property
    def num_terms(self) -> int:
        ...
    @property
    def stemmer(self) -> str:
        ...
    @property
    def stopwords(self) -> bool:
        ...
    @property
    def total_terms(self) -> int:
        ...
class TTestResult:
    """
    Result of a paired t-test (scipy.stats.ttest_rel).
    """
    def __repr__(self) -> str:
        ...
    @property
    def df(self) -> float:
        """
        degrees of freedom (n - 1)
        """
    @property
    def mean_difference(self) -> float:
        """
        mean of x - y
        """
    @property
    def n(self) -> int:
        """
        number of pairs
        """
    @property
    def pvalue(self) -> float:
        """
        p-value
        """
    @property
    def statistic(self) -> float:
        """
        t
        """
class WilcoxonResult:
    """
    Result of a Wilcoxon signed-rank test (scipy.stats.wilcoxon).
    """
    def __repr__(self) -> str:
        ...
    @property
    def method(self) -> str:
        """
        the method used: 'exact', 'permutation' or 'asymptotic'
        """
    @property
    def n(self) -> int:
        """
        number of pairs
        """
    @property
    def n_zero(self) -> int:
        """
        pairs with a zero difference
        """
    @property
    def pvalue(self) -> float:
        """
        p-value
        """
    @property
    def statistic(self) -> float:
        """
        min(R+, R-) for a two-sided test, R+ for a one-sided one
        """
    @property
    def zstatistic(self) -> float:
        """
        normal deviate when the normal approximation was used, else NaN
        """
class TokenCollection:
    """
    Base class of token-embedding collections: what the maxsim, rerank_maxsim and colbert_prf
    stages read. MultiVectorIndex is one. A Python subclass (the sharded collection of
    densefb.distributed is one) calls
    
        TokenCollection.__init__(self, dim, size, num_tokens, document_frequencies,
                                 excluded_token_ids, has_token_index=True)
    
    (document_frequencies: documents per token id, indexed by token id) and defines
    
        neighbours(self, vectors, k, ef_search, num_threads) -> (scores, rows, docs, token_ids)
            the k' <= k nearest token embeddings of each vector, (n, k') arrays, best first
            (score descending, ties to the smaller token row); -1 marks an empty slot.
        rerank(self, queries, weights, candidates, k, num_threads) -> (scores, ids)
            exact weighted MaxSim of each query's candidate ids, (n, width) arrays padded
            with -inf / -1; the best k (k <= 0: all).
        documents(self, ids) -> list of (tokens, dim) float32 arrays.
    """
    def __init__(self, dim: int, size: int, num_tokens: int, document_frequencies: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], excluded_token_ids: typing.Any = None, has_token_index: bool = True) -> None:
        ...
    def __len__(self) -> int:
        ...
    def document_frequencies(self, token_ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int32]) -> numpy.typing.NDArray[numpy.int64]:
        """
        Documents containing each token id.
        """
    def documents(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> list:
        """
        Copies of the documents' (tokens, dim) token embeddings.
        """
    def neighbours(self, vectors: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: int = 10, ef_search: int = 0, num_threads: int = 0) -> tuple:
        """
        The k nearest token embeddings of each vector: (scores, rows, docs, token_ids), (n, k') arrays.
        """
    def rerank(self, queries: collections.abc.Sequence, weights: typing.Any, candidates: collections.abc.Sequence, k: int = 0, num_threads: int = 0) -> tuple:
        """
        Exact weighted MaxSim of each query's candidate ids: (scores, ids), best first, k <= 0 keeps all.
        """
    @property
    def dim(self) -> int:
        ...
    @property
    def has_token_index(self) -> bool:
        ...
    @property
    def num_tokens(self) -> int:
        ...
    @property
    def size(self) -> int:
        ...
class MultiVectorIndex(TokenCollection):
    @staticmethod
    def load(path: str) -> MultiVectorIndex:
        ...
    def __init__(self, dim: int) -> None:
        ...
    def add(self, docs: collections.abc.Sequence, token_ids: collections.abc.Sequence) -> None:
        ...
    def build_token_index(self, kind: str = 'flat', M: int = 16, ef_construction: int = 200, ef_search: int = 10, seed: int = 100, num_threads: int = 0) -> None:
        ...
    def candidates(self, queries: collections.abc.Sequence, token_k: int = 1000, ef_search: int = 0, num_threads: int = 0) -> list:
        ...
    def compact(self) -> None:
        ...
    def delete(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> None:
        ...
    def document(self, doc: int) -> numpy.typing.NDArray[numpy.float32]:
        ...
    def document_frequency(self, token_id: int) -> int:
        ...
    def document_token_ids(self, doc: int) -> numpy.typing.NDArray[numpy.int32]:
        ...
    def idf(self, token_id: int) -> float:
        ...
    def nearest_tokens(self, vectors: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], k: int = 10, ef_search: int = 0, num_threads: int = 0) -> tuple:
        ...
    def save(self, path: str) -> None:
        ...
    def score(self, query: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], docs: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], weights: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
        ...
    def search(self, queries: collections.abc.Sequence, weights: typing.Any = None, k: int = 1000, token_k: int = 1000, ef_search: int = 0, num_threads: int = 0, filter: typing.Any = None) -> tuple:
        """
        Top-k by exact MaxSim among the documents of each query's token_k nearest tokens.
        filter: allowed documents (densefb.Filter, bool mask, ids, or ids per query): other
        candidates are dropped; a query allowing under 1/16 of the documents has all of them scored.
        """
    def update(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], docs: collections.abc.Sequence, token_ids: collections.abc.Sequence) -> None:
        ...
    @property
    def doc_offsets(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def excluded_token_ids(self) -> list[int]:
        ...
    @excluded_token_ids.setter
    def excluded_token_ids(self, arg1: typing.Annotated[numpy.typing.ArrayLike, numpy.int32]) -> None:
        ...
    @property
    def memory_mapped(self) -> bool:
        ...
    @property
    def num_deleted(self) -> int:
        ...
    @property
    def num_documents(self) -> int:
        ...
    @property
    def num_garbage_tokens(self) -> int:
        ...
    @property
    def token_ids(self) -> numpy.typing.NDArray[numpy.int32]:
        ...
class ResidualMultiVectorIndex(TokenCollection):
    """
    A residual-compressed multi-vector collection (ColBERTv2's storage): each token embedding is the
    id of its nearest centroid plus its residual at nbits bits per dimension. MaxSim, ColBERT-PRF and
    the multi-vector pipeline stages run on it unchanged (pass it as the "multivector" resource);
    nearest tokens come from the centroids as an inverted file (nprobe centroids probed).
    
        compressed = ResidualMultiVectorIndex.build(mv_index, nbits=2)
    """
    @staticmethod
    def build(source: MultiVectorIndex, nbits: int = 2, num_centroids: int = 0, kmeans_iters: int = 4, seed: int = 123, nprobe: int = 4, normalize: bool = True, num_threads: int = 0) -> ResidualMultiVectorIndex:
        """
        Compresses the live documents of a MultiVectorIndex (see densefb/residual_multivector.h).
        """
    @staticmethod
    def load(path: str) -> ResidualMultiVectorIndex:
        ...
    def document(self, doc: int) -> numpy.typing.NDArray[numpy.float32]:
        """
        The decompressed (tokens, dim) token embeddings of a document.
        """
    def memory_usage(self) -> dict:
        """
        Bytes held, by part; float32_matrix: the float32 token matrix of the same tokens.
        """
    def save(self, path: str) -> None:
        ...
    def search(self, queries: collections.abc.Sequence, weights: typing.Any = None, k: int = 1000, token_k: int = 1000, num_threads: int = 0, filter: typing.Any = None) -> tuple:
        """
        Top-k by MaxSim over the decompressed embeddings among the documents of each query's token_k
        nearest tokens (from the nprobe nearest centroids of each query token).
        """
    @property
    def bucket_cutoffs(self) -> numpy.typing.NDArray[numpy.float32]:
        ...
    @property
    def bucket_weights(self) -> numpy.typing.NDArray[numpy.float32]:
        ...
    @property
    def centroids(self) -> numpy.typing.NDArray[numpy.float32]:
        ...
    @property
    def codes(self) -> numpy.typing.NDArray[numpy.int32]:
        """
        The centroid of every token row (int32).
        """
    @property
    def excluded_token_ids(self) -> list[int]:
        ...
    @property
    def nbits(self) -> int:
        ...
    @property
    def normalize(self) -> bool:
        ...
    @property
    def nprobe(self) -> int:
        """
        Centroids probed per vector by neighbours() and candidate generation.
        """
    @nprobe.setter
    def nprobe(self, arg1: int) -> None:
        ...
    @property
    def num_centroids(self) -> int:
        ...
    @property
    def num_deleted(self) -> int:
        ...
    @property
    def num_documents(self) -> int:
        ...
    @property
    def residual_codes(self) -> numpy.typing.NDArray[numpy.uint8]:
        """
        Packed residual buckets (tokens, ceil(dim * nbits / 8)) uint8: dimension j in byte
        j // (8 // nbits) at bit (j % (8 // nbits)) * nbits, low bits first.
        """
    @property
    def token_ids(self) -> numpy.typing.NDArray[numpy.int32]:
        ...
class ColbertPrf:
    def __init__(self, params: dict) -> None:
        ...
    def expand(self, index: TokenCollection, queries: collections.abc.Sequence, first_pass: collections.abc.Sequence, weights: typing.Any = None, doc_ids: typing.Any = None, doc_vectors: typing.Any = None, num_threads: int = 0) -> tuple[list, list]:
        ...
    @property
    def beta(self) -> float:
        ...
    @property
    def fb_docs(self) -> int:
        ...
    @property
    def fb_embs(self) -> int:
        ...
    @property
    def k(self) -> int:
        ...
    @property
    def neighbours(self) -> int:
        ...
    @property
    def seed(self) -> int:
        ...
    @property
    def spec(self) -> str:
        ...
class Generator:
    """
    Base class of generators (see densefb.Generator).
    """
    def __init__(self) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def _spec(self) -> str:
        ...
    def first_token_logprobs(self, prompts: collections.abc.Sequence[str], labels: collections.abc.Sequence[str], system: str = '') -> list[list[float]]:
        ...
    def generate(self, prompts: collections.abc.Sequence[str], max_tokens: typing.SupportsInt | typing.SupportsIndex = 256, temperature: typing.SupportsFloat | typing.SupportsIndex = 0.0, stop: collections.abc.Sequence[str] = [], system: str = '', sample: typing.SupportsInt | typing.SupportsIndex = 0) -> list[str]:
        ...
    def stats(self) -> dict:
        ...
    @property
    def model(self) -> str:
        ...
class OpenAiGenerator(Generator):
    """
    OpenAI-compatible HTTP client (see densefb.OpenAIGenerator).
    """
    def __init__(self, base_url: str = '', model: str = '', api_key: str = '', chat: bool = True, max_concurrency: typing.SupportsInt | typing.SupportsIndex = 8, timeout: typing.SupportsFloat | typing.SupportsIndex = 60.0, max_retries: typing.SupportsInt | typing.SupportsIndex = 4, backoff: typing.SupportsFloat | typing.SupportsIndex = 0.5) -> None:
        ...
    @property
    def base_url(self) -> str:
        ...
    @property
    def max_concurrency(self) -> int:
        ...
class CachingGenerator(Generator):
    """
    A persistent response cache in front of a generator.
    """
    def __init__(self, inner: Generator, dir: str) -> None:
        ...
    @property
    def corrupt_entries(self) -> int:
        ...
    @property
    def dir(self) -> str:
        ...
class Retriever:
    """
    Base class of retrievers (see densefb.Retriever).
    """
    def __init__(self) -> None:
        ...
    def _spec(self) -> str:
        ...
class FeedbackModel:
    """
    Base class of feedback models.
    """
    def __init__(self) -> None:
        ...
    def _spec(self) -> str:
        ...
class Reranker:
    """
    Base class of rerankers.
    """
    def __init__(self) -> None:
        ...
    def _spec(self) -> str:
        ...
class Fusion:
    """
    Base class of fusion methods.
    """
    def __init__(self) -> None:
        ...
    def _spec(self, num_inputs: typing.SupportsInt | typing.SupportsIndex = 2) -> str:
        ...
class PipelineResources:
    """
    Resources of a pipeline run (see densefb.Resources).
    """
    def __init__(self, corpus: typing.Any = None, encoder: typing.Any = None, dense_index: typing.Any = None, bm25: typing.Any = None, token_encoder: typing.Any = None, multivector: typing.Any = None, cross_encoder: typing.Any = None, generator: typing.Any = None) -> None:
        ...
    def has(self, name: str) -> bool:
        ...
    @property
    def names(self) -> list[str]:
        ...
class Pipeline:
    """
    A pipeline of stages (see densefb.Pipeline).
    """
    @staticmethod
    def fuse(method: typing.Any, branches: collections.abc.Sequence[Pipeline]) -> Pipeline:
        ...
    @staticmethod
    def fuse_spec(method: str, branches: collections.abc.Sequence[Pipeline]) -> Pipeline:
        ...
    @staticmethod
    def of(stage: typing.Any) -> Pipeline:
        ...
    @staticmethod
    def parse(spec: str, fragment: bool = False, resources: PipelineResources = None) -> Pipeline:
        ...
    def __str__(self) -> str:
        ...
    def bind(self, resources: PipelineResources) -> Pipeline:
        ...
    def explain(self) -> str:
        ...
    def rank(self, query_texts: collections.abc.Sequence[str], k: typing.SupportsInt | typing.SupportsIndex = 1000, num_threads: typing.SupportsInt | typing.SupportsIndex = 0, encode_batch_size: typing.SupportsInt | typing.SupportsIndex = 32, query_vectors: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, filter: typing.Any = None) -> tuple:
        """
        Runs a bound pipeline; Faiss-style (scores, ids) arrays of document positions.
        filter: allowed document positions (densefb.Filter, a bool mask, ids, or ids per query).
        """
    def run(self, resources: PipelineResources, query_ids: collections.abc.Sequence[str], query_texts: collections.abc.Sequence[str], k: typing.SupportsInt | typing.SupportsIndex = 1000, num_threads: typing.SupportsInt | typing.SupportsIndex = 0, encode_batch_size: typing.SupportsInt | typing.SupportsIndex = 32, query_vectors: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None, counters: typing.Any = None, filter: typing.Any = None) -> Run:
        ...
    def then(self, next: Pipeline) -> Pipeline:
        ...
    def validate(self) -> None:
        ...
    @property
    def num_stages(self) -> int:
        ...
    @property
    def requires(self) -> list[str]:
        ...
    @property
    def spec(self) -> str:
        ...
def _core_address() -> int:
    ...
def analyze(text: str, stopwords: bool = True, stemmer: str = 'porter') -> list[str]:
    """
    Terms of text by Lucene's EnglishAnalyzer chain.
    """
def bonferroni(pvalues: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> list[float]:
    ...
def check_id(id: str, what: str = 'id') -> None:
    """
    ValueError unless `id` can round-trip through every text format (non-empty UTF-8 without whitespace or control characters).
    """
def cohen_kappa(a: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], b: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> float:
    ...
def default_judge_prompt() -> str:
    ...
def english_stop_words() -> list[str]:
    """
    Lucene's 33 English stop words, sorted.
    """
def evaluate(run: Run, qrels: Qrels, measures: collections.abc.Sequence[str], *, rel_level: typing.SupportsInt | typing.SupportsIndex = 1, average_over_qrels: bool = False) -> EvalResult:
    """
    Evaluates a Run against Qrels as trec_eval does (see densefb.evaluate).
    """
def fuse_runs(runs: collections.abc.Sequence[Run], method: typing.Any) -> Run:
    """
    Fuses Runs with a fusion method spec or object (private; use densefb.fuse). The run's name is the method's canonical spec.
    """
def grade_pairs(generator: Generator, queries: collections.abc.Sequence[str], passages: collections.abc.Sequence[str], prompt: str = '', max_words: typing.SupportsInt | typing.SupportsIndex = 300, max_tokens: typing.SupportsInt | typing.SupportsIndex = 16) -> tuple[list[int], int]:
    """
    0-3 grades of (query, passage) pairs (-1: no grade in the answer) and the count of those.
    """
def holm_bonferroni(pvalues: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> list[float]:
    ...
def kendall_tau(x: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], y: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> float:
    ...
def kmeans(points: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], clusters: int, seed: int = 42, max_iter: int = 300, tol: typing.SupportsFloat | typing.SupportsIndex = 0.0001) -> tuple[numpy.typing.NDArray[numpy.float32], list[int], int]:
    ...
def load_beir(path: str, split: str = 'test') -> BeirDataset:
    """
    Loads a BEIR folder (corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv).
    """
def make_run(query_ids: collections.abc.Sequence[str], ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], scores: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], doc_ids: collections.abc.Sequence[str], name: str = 'densefb') -> Run:
    """
    Builds a Run from search results: ids index doc_ids; -1 padding is skipped. ValueError for a NaN or infinite score, a document twice in a row, or an invalid id.
    """
def maxsim_rerank(queries: collections.abc.Sequence, candidates: collections.abc.Sequence, weights: typing.Any = None, index: TokenCollection = None, doc_ids: typing.Any = None, doc_vectors: typing.Any = None, k: int = 0, num_threads: int = 0) -> tuple:
    ...
def merge_collection_stats(shards: list) -> dict:
    """
    The collection statistics of shards with disjoint documents (Bm25CollectionStats::Merge).
    """
def normalize_run(run: Run, method: str) -> Run:
    """
    A copy of the run with every query's scores normalised (private; use densefb.fusion.normalize).
    """
def paired_ttest(x: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], y: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], alternative: str = 'two-sided') -> TTestResult:
    ...
def pipeline_stages() -> list:
    """
    Every registered stage and fusion method: name, role, help, params (name, default, help), resources.
    """
def porter_stem(word: str) -> str:
    """
    Porter stem of a lower-case word, as Lucene's PorterStemFilter computes it.
    """
def read_beir_corpus(path: str) -> Corpus:
    ...
def read_beir_qrels(path: str) -> Qrels:
    ...
def read_beir_queries(path: str) -> Queries:
    ...
def read_topics_tsv(path: str) -> Queries:
    """
    Reads topics "qid<TAB>text" a line (Pyserini's TSV) as Queries.
    """
def read_trec_qrels(path: str) -> Qrels:
    ...
def read_trec_run(path: str) -> Run:
    ...
def register_stage(role: str, name: str, factory: typing.Any, help: str = '', resources: collections.abc.Sequence[str] = []) -> None:
    ...
def regularized_incomplete_beta(a: typing.SupportsFloat | typing.SupportsIndex, b: typing.SupportsFloat | typing.SupportsIndex, x: typing.SupportsFloat | typing.SupportsIndex) -> float:
    ...
def rm3_expand(query: collections.abc.Sequence[tuple[str, typing.SupportsFloat | typing.SupportsIndex]], feedback: list, num_docs: int, fb_terms: int = 10, fb_docs: int = 10, original_query_weight: typing.SupportsFloat | typing.SupportsIndex = 0.5, filter_terms: bool = True) -> list[tuple[str, float]]:
    """
    RM3 on explicit feedback documents (score, terms, tfs, dfs) of a collection of num_docs documents.
    """
def selective_predictor(predictor: str, scores: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], depth: typing.SupportsInt | typing.SupportsIndex = 10, vectors: typing.Annotated[numpy.typing.ArrayLike, numpy.float32] | None = None) -> float:
    """
    Selective PRF's predictor value of one ranking: scores best first; vectors (one row per document, in rank order) for coherence. NaN when undefined.
    """
def standard_tokenize(text: str) -> list[str]:
    """
    Tokens of Lucene's StandardTokenizer (UAX #29 words), original case.
    """
def student_t_cdf(t: typing.SupportsFloat | typing.SupportsIndex, df: typing.SupportsFloat | typing.SupportsIndex) -> float:
    ...
def student_t_sf(t: typing.SupportsFloat | typing.SupportsIndex, df: typing.SupportsFloat | typing.SupportsIndex) -> float:
    ...
def unregister_stage(role: str, name: str) -> None:
    ...
def wilcoxon(x: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], y: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], zero_method: str = 'wilcox', correction: bool = False, alternative: str = 'two-sided', method: str = 'auto') -> WilcoxonResult:
    ...
def write_trec_qrels(path: str, qrels: Qrels) -> None:
    """
    Writes TREC qrels atomically.
    """
def write_trec_run(path: str, run: Run) -> None:
    """
    Writes a TREC run file atomically.
    """
BM25_DEFAULT_LUCENE_NORMS: bool = True
DEFAULT_TOKEN_K: int = 1000
__version__: str = '0.1.0'
