"""Composable retrieval pipelines: retrievers, feedback models, rerankers and fusion as stages.

A pipeline is a value built from a spec string, the same grammar in C++, Python and the command
line (``include/densefb/pipeline.h``)::

    dense >> rocchio(alpha=0.4,beta=0.6,topk=5) >> dense
    bm25 >> rm3 >> bm25
    fuse(rrf(k=60), dense, bm25) >> rerank_cross(k=100)
    fuse(interpolate(weights=[0.5,0.5],norm=minmax), dense, bm25) >> avg(k=3) >> fuse(interpolate, dense, bm25)

or from stage objects composed with ``>>`` and :func:`fuse` / ``|``::

    p = densefb.Dense(k=1000) >> densefb.Rocchio(alpha=0.4, beta=0.6, topk=5) >> densefb.Dense()
    run = p.run(densefb.Resources(encoder=enc, dense_index=index, corpus=corpus), queries, k=1000)

Everything runs in C++, a whole batch of queries per stage, with the GIL released. A stage reads
and replaces parts of the batch's state: retrievers (``dense``, ``bm25``) replace the ranking;
feedback stages read the current ranking and replace a query representation (``avg``,
``rocchio``, ``text_prf``: the dense query vector; ``rm3``: the weighted BM25 query) that the
next retriever uses; rerankers (``rescore``, ``rerank_cross``, ``cut``) re-order or cut the
ranking. A fusion node runs each branch on the incoming state and fuses their rankings; after
it, feedback refines the incoming (original) representation from the *fused* ranking.

Document ids inside a pipeline are corpus positions (the ids the indexes were built with); the
returned :class:`densefb.Run` names documents by the corpus ids (or the BM25 index's names when
no corpus is given).
"""
from __future__ import annotations

from typing import (Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import numpy as np

from densefb import _core
from densefb import fusion as _fusion
from densefb.data import Run

__all__ = [
    "Resources", "Pipeline", "Stage", "Dense", "BM25", "RM3", "AveragePRF", "Rocchio", "Rescore",
    "TextPRF", "CrossEncoderRerank", "Cut", "FusionMethod", "RRF", "Interpolate", "CombSUM",
    "CombMNZ", "CombMAX", "Borda", "fuse", "pipeline_stages",
]

QueriesLike = Union["_core.Queries", Mapping[str, str], Sequence[Tuple[str, str]]]


def _parse(spec: Any, fragment: bool) -> Any:
    """The compiled pipeline of a spec string; ``ValueError`` naming the column otherwise."""
    if not isinstance(spec, str):
        raise TypeError(f"a pipeline spec is a str, not {type(spec).__name__}")
    try:
        spec.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate: not text the parser can be given
        raise ValueError(f"pipeline spec column {e.start + 1}: character U+{ord(spec[e.start]):04X} "
                         f"is not valid Unicode text (a lone surrogate; columns count "
                         f"characters)") from None
    return _core.Pipeline.parse(spec, fragment)


def _unwrap(obj: Any) -> Any:
    """The compiled object behind a densefb Python wrapper (Encoder._impl, Bm25Index._index)."""
    for attr in ("_impl", "_index"):
        inner = getattr(obj, attr, None)
        if inner is not None:
            return inner
    return obj


class Resources:
    """What pipeline stages may use; every field is optional and borrowed (kept alive here).

    Args:
        corpus: a :class:`densefb.Corpus` (texts for ``text_prf`` and ``rerank_cross``, document
            names of the returned run).
        encoder: a :class:`densefb.Encoder` (query encoder of ``dense`` / ``text_prf``).
        dense_index: a :class:`densefb.FlatIndex` or :class:`densefb.HnswIndex` over the corpus
            (document id = corpus position).
        bm25: a :class:`densefb.Bm25Index` over the corpus.
        token_encoder: a :class:`densefb.ColbertEncoder` (multi-vector stages).
        multivector: a :class:`densefb.MultiVectorIndex` (multi-vector stages).
        cross_encoder: a :class:`densefb.CrossEncoder` (``rerank_cross``).

    A stage that needs a missing resource raises ``ValueError`` naming it when the pipeline
    runs (``Pipeline.requires`` lists what a pipeline may use).
    """

    NAMES: Tuple[str, ...] = ("corpus", "encoder", "dense_index", "bm25", "token_encoder",
                              "multivector", "cross_encoder")

    def __init__(self, corpus=None, encoder=None, dense_index=None, bm25=None, token_encoder=None,
                 multivector=None, cross_encoder=None) -> None:
        self._objects: Dict[str, Any] = {
            "corpus": corpus, "encoder": encoder, "dense_index": dense_index, "bm25": bm25,
            "token_encoder": token_encoder, "multivector": multivector,
            "cross_encoder": cross_encoder}
        self._core = _core.PipelineResources(**{k: (None if v is None else _unwrap(v))
                                                for k, v in self._objects.items()})

    def __getattr__(self, name: str) -> Any:
        objects = self.__dict__.get("_objects")
        if objects is not None and name in objects:
            return objects[name]
        raise AttributeError(name)

    def has(self, name: str) -> bool:
        """Whether the named resource is set."""
        return self._objects.get(name) is not None

    def __repr__(self) -> str:
        have = [k for k, v in self._objects.items() if v is not None]
        return f"<densefb.Resources {', '.join(have) if have else 'empty'}>"


def _query_lists(queries: QueriesLike) -> Tuple[List[str], List[str]]:
    if isinstance(queries, _core.Queries):
        return list(queries.ids), list(queries.texts)
    if isinstance(queries, Mapping):
        return [str(k) for k in queries.keys()], [str(v) for v in queries.values()]
    pairs = list(queries)
    return [str(q) for q, _ in pairs], [str(t) for _, t in pairs]


def _format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, str):
        return f'"{v}"' if '"' not in v else f"'{v}'"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ",".join(_format_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} as a pipeline argument")


def _call_spec(name: str, params: Mapping[str, Any]) -> str:
    args = [f"{k}={_format_value(v)}" for k, v in params.items() if v is not None]
    return f"{name}({','.join(args)})" if args else name


class Pipeline:
    """A parsed, validated pipeline; a value (immutable, comparable by its canonical spec).

    Build one with :meth:`Pipeline.parse` or by composing stages with ``>>`` (sequence),
    :func:`fuse` or ``|`` (reciprocal rank fusion of two pipelines).
    """

    __slots__ = ("_p",)

    def __init__(self, spec: Union[str, "Pipeline"]) -> None:
        if isinstance(spec, Pipeline):
            self._p = spec._p
        elif isinstance(spec, str):
            self._p = _parse(spec, True)  # a fragment: checked again when run
        else:
            raise TypeError(f"a pipeline is built from a spec string, not {type(spec).__name__}")

    @classmethod
    def parse(cls, spec: str) -> "Pipeline":
        """Parses and validates a spec; ``ValueError`` names the column and what was expected
        there, or the unknown stage / argument and what is accepted."""
        p = Pipeline.__new__(Pipeline)
        p._p = _parse(spec, False)
        return p

    @property
    def spec(self) -> str:
        """The canonical spec: every stage with every parameter, defaults included
        (``Pipeline.parse(p.spec).spec == p.spec``)."""
        return self._p.spec

    @property
    def requires(self) -> FrozenSet[str]:
        """Names of the resources the stages may use (see :class:`Resources`)."""
        return frozenset(self._p.requires)

    def explain(self, resources: Resources) -> str:
        """The spec as :meth:`run` runs it with ``resources``: a retriever whose ranking the next
        stage reads only to some depth, and which the stage after replaces, retrieves only that
        deep over an exact index or BM25 (same results), e.g. ``dense >> avg(k=3) >> dense``
        searches 3 deep first: ``"dense(k=3,ef_search=0) >> avg(...) >> dense(k=1000,...)"``."""
        if not isinstance(resources, Resources):
            raise TypeError(f"resources must be a densefb.Resources, not {type(resources).__name__}")
        return self._p.explain(resources._core)

    def run(self, resources: Resources, queries: QueriesLike, k: int = 1000, *,
            num_threads: int = 0, batch_size: int = 32,
            query_vectors: Optional[np.ndarray] = None) -> Run:
        """Runs the pipeline on a batch of queries and returns a :class:`densefb.Run`.

        Args:
            resources: the :class:`Resources` the stages use.
            queries: a :class:`densefb.Queries`, a ``{query id: text}`` mapping or a sequence of
                ``(query id, text)`` pairs.
            k: the final ranking of each query is cut to ``k`` documents (0 = as produced).
            num_threads: threads of searches and scoring (0 = all cores); results do not depend
                on it.
            batch_size: texts per encoder forward pass.
            query_vectors: optional ``(n, dim)`` float32 query vectors used instead of encoding
                the query texts (in query order).

        The run's name is the canonical spec without spaces. The GIL is released while it runs,
        so several Python threads may run pipelines at once.
        """
        if not isinstance(resources, Resources):
            raise TypeError(f"resources must be a densefb.Resources, not {type(resources).__name__}")
        ids, texts = _query_lists(queries)
        vectors = None
        if query_vectors is not None:
            vectors = np.ascontiguousarray(query_vectors, dtype=np.float32)
        return self._p.run(resources._core, ids, texts, int(k), int(num_threads), int(batch_size),
                           vectors)

    # -- composition --

    # A canonical spec is a flat sequence, so it needs no parentheses (which would count
    # towards the nesting limit); a spec string given by the caller is parenthesised.
    def __rshift__(self, other: Union["Pipeline", str]) -> "Pipeline":
        other_spec = f"({other})" if isinstance(other, str) else _as_pipeline(other).spec
        return _fragment(f"{self.spec} >> {other_spec}")

    def __rrshift__(self, other: str) -> "Pipeline":
        return _fragment(f"({other}) >> {self.spec}")

    def __or__(self, other: Union["Pipeline", str]) -> "Pipeline":
        return fuse(RRF(), self, other)

    def __ror__(self, other: str) -> "Pipeline":
        return fuse(RRF(), other, self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pipeline) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def __str__(self) -> str:
        return self.spec

    def __repr__(self) -> str:
        return f"densefb.Pipeline({self.spec!r})"


def _fragment(spec: str) -> Pipeline:
    """A composed piece: parsed like Pipeline.parse, except that a stage reading a ranking may
    come first (``AveragePRF() >> Dense()`` is composed further; running it alone fails)."""
    p = Pipeline.__new__(Pipeline)
    p._p = _parse(spec, True)
    return p


def _as_pipeline(p: Union[Pipeline, str]) -> Pipeline:
    if isinstance(p, Pipeline):
        return p
    if isinstance(p, str):
        return _fragment(p)
    raise TypeError(f"expected a densefb.Pipeline, a stage or a spec string, not {type(p).__name__}")


class Stage(Pipeline):
    """A single stage by name, for any registered stage (e.g. ``Stage("maxsim", k=100)``).

    Keyword arguments become the stage's ``name=value`` arguments (``None`` values are left
    out, so the default applies). The stage classes below are this with documented parameters.
    """

    __slots__ = ()
    _name: str = ""

    def __init__(self, name: Optional[str] = None, **params: Any) -> None:
        name = name or self._name
        if not name:
            raise TypeError("Stage() needs a stage name")
        super().__init__(_call_spec(name, params))


class Dense(Stage):
    """Dense retrieval: the top ``k`` documents of the dense index for the current query vector.

    The query vector is the encoder's encoding of the query text the first time (or the
    ``query_vectors`` given to :meth:`Pipeline.run`), then whatever a feedback stage
    (:class:`AveragePRF`, :class:`Rocchio`, :class:`TextPRF`) made of it.

    Args:
        k: documents retrieved per query (default 1000).
        ef_search: HNSW candidate list size; 0 (default) = the index's default. Ignored by a
            flat index.

    Needs: ``dense_index`` (and ``encoder`` unless query vectors are given).
    """

    __slots__ = ()
    _name = "dense"

    def __init__(self, k: int = 1000, ef_search: int = 0) -> None:
        super().__init__(k=k, ef_search=ef_search)


class BM25(Stage):
    """BM25 retrieval (Lucene's BM25 over :class:`densefb.Bm25Index`): top ``k`` documents for the
    query text, or for the weighted query an earlier :class:`RM3` stage made.

    Args:
        k: documents retrieved per query (default 1000).
        k1, b: BM25 parameters are properties of the index (set them with
            ``Bm25Index.set_bm25``); the default ``None`` (spec value ``index``) uses the
            index's. Numbers given must equal the index's, else running raises ValueError (a
            guard for reproduced specs).

    Needs: ``bm25``.
    """

    __slots__ = ()
    _name = "bm25"

    def __init__(self, k: int = 1000, k1: Optional[float] = None, b: Optional[float] = None) -> None:
        super().__init__(k=k, k1=None if k1 is None else float(k1), b=None if b is None else float(b))


class RM3(Stage):
    """RM3 query expansion (Pyserini's / Anserini's formula, see ``densefb.Bm25Index``) from the
    current ranking; the next :class:`BM25` stage searches with the expanded query:
    ``BM25() >> RM3() >> BM25()`` is Pyserini's BM25+RM3.

    Args:
        fb_docs: feedback documents, the top of the current ranking (default 10).
        fb_terms: expansion terms kept per document and in the model (default 10).
        original_query_weight: weight of the original query in the interpolation (default 0.5).
        filter_terms: keep only alphanumeric feedback terms (Pyserini's default True).
        scores: what weights each feedback document: ``"ranking"`` (default; the current
            ranking's scores, i.e. BM25 scores after a BM25 stage, as in Pyserini) or ``"bm25"``
            (their BM25 scores for the query, for RM3 after a dense or fused ranking).

    Needs: ``bm25`` and a ranking from an earlier stage.
    """

    __slots__ = ()
    _name = "rm3"

    def __init__(self, fb_docs: int = 10, fb_terms: int = 10, original_query_weight: float = 0.5,
                 filter_terms: bool = True, scores: str = "ranking") -> None:
        super().__init__(fb_docs=fb_docs, fb_terms=fb_terms,
                         original_query_weight=original_query_weight, filter_terms=filter_terms,
                         scores=scores)


class AveragePRF(Stage):
    """Average vector PRF (Li et al.; Pyserini ``--prf-method avg``): the new query vector is
    ``(q + d_1 + ... + d_k) / (k + 1)`` over the stored vectors of the first ``k`` documents of
    the current ranking. Not re-normalised unless ``normalize``.

    Args:
        k: feedback documents (default 3).
        normalize: L2-normalise the new vector (default False, as Pyserini).

    ``Dense() >> AveragePRF(k=3) >> Dense()`` retrieves again with the new vector (Pyserini);
    ``Dense() >> AveragePRF(k=3) >> Rescore()`` re-scores the first pass instead (the
    "ranking" setting of the Vector-PRF paper). Needs: ``dense_index``, a ranking.
    """

    __slots__ = ()
    _name = "avg"

    def __init__(self, k: int = 3, normalize: bool = False) -> None:
        super().__init__(k=k, normalize=normalize)


class Rocchio(Stage):
    """Rocchio vector PRF as Pyserini parameterises it (``--prf-method rocchio``)::

        q' = alpha * q + beta * mean(first topk of L) - gamma * mean(last bottomk of L)

    where ``L`` is the current ranking cut to its first ``depth`` documents (``depth=0``: the
    whole ranking) and the gamma term applies only if ``bottomk > 0``. Vectors are the stored
    document vectors. Not re-normalised unless ``normalize``.

    Args:
        alpha: weight of the query vector (default 0.9, Pyserini's CLI default).
        beta: weight of the mean of the positives (default 0.1).
        gamma: weight of the mean of the negatives (default 0.1; used only if bottomk > 0).
        topk: positives, the first topk of the list (default 3).
        bottomk: negatives, the last bottomk of the depth-``depth`` list (default 0 = none).
        depth: the list negatives come from (default 0 = the whole current ranking).
        normalize: L2-normalise the new vector (default False).

    Pyserini's published setting is ``Rocchio(alpha=0.4, beta=0.6, topk=5)``.
    Needs: ``dense_index``, a ranking.
    """

    __slots__ = ()
    _name = "rocchio"

    def __init__(self, alpha: float = 0.9, beta: float = 0.1, gamma: float = 0.1, topk: int = 3,
                 bottomk: int = 0, depth: int = 0, normalize: bool = False) -> None:
        super().__init__(alpha=float(alpha), beta=float(beta), gamma=float(gamma), topk=topk,
                         bottomk=bottomk, depth=depth, normalize=normalize)


class Rescore(Stage):
    """Re-scores the current candidates with the current dense query vector by the index metric
    (inner product, or cosine with the stored vectors) and re-sorts them; the rest are dropped.

    Args:
        k: candidates re-scored, the first k of the current ranking (default 0 = all).

    After a feedback stage this is the "ranking" (re-ranking) setting of the Vector-PRF paper:
    ``Dense() >> AveragePRF() >> Rescore()``; after BM25 it is dense re-ranking of BM25
    candidates. Needs: ``dense_index``, a ranking.
    """

    __slots__ = ()
    _name = "rescore"

    def __init__(self, k: int = 0) -> None:
        super().__init__(k=k)


class TextPRF(Stage):
    """Text PRF in the ANCE-PRF input style: the query text and the texts of the first ``k``
    documents of the current ranking joined by ``" [SEP] "`` (``q [SEP] p_1 [SEP] ... p_k``;
    the encoder adds ``[CLS]`` and the final ``[SEP]``), re-encoded as a query by the encoder.
    The next :class:`Dense` stage searches with the new vector.

    Args:
        k: feedback passages (default 3; ANCE-PRF's released checkpoint uses 3).
        sep: the separator token (default ``"[SEP]"``).

    Document texts are the corpus's ``"title text"``. Needs: ``corpus``, ``encoder``, a ranking.
    """

    __slots__ = ()
    _name = "text_prf"

    def __init__(self, k: int = 3, sep: str = "[SEP]") -> None:
        super().__init__(k=k, sep=sep)


class CrossEncoderRerank(Stage):
    """Cross-encoder re-ranking: the first ``k`` documents of the current ranking scored by the
    cross-encoder on (query text, document text) pairs and re-sorted; the ranking keeps those k.

    Args:
        k: candidates re-ranked (default 100).
        batch_size: pairs per forward pass (default 32).

    Needs: ``corpus``, ``cross_encoder``, a ranking.
    """

    __slots__ = ()
    _name = "rerank_cross"

    def __init__(self, k: int = 100, batch_size: int = 32) -> None:
        super().__init__(k=k, batch_size=batch_size)


class Cut(Stage):
    """Keeps the first ``k`` documents of the current ranking."""

    __slots__ = ()
    _name = "cut"

    def __init__(self, k: int) -> None:
        super().__init__(k=k)


# ---- fusion ------------------------------------------------------------------------------------

class FusionMethod:
    """A fusion method with its parameters, for :func:`fuse` (see ``densefb.fusion.fuse`` for
    the formulas). Common parameters: ``weights`` (one per fused pipeline; None = all 1),
    ``depth`` (each input list cut to its best depth first; 0 = all), ``top`` (fused lists cut
    to top; 0 = all)."""

    _name = ""

    def __init__(self, **params: Any) -> None:
        self.params = {k: v for k, v in params.items() if v is not None}

    @property
    def spec(self) -> str:
        return _call_spec(self._name, self.params)

    def __repr__(self) -> str:
        return f"densefb.{type(self).__name__}({self.spec})"


class RRF(FusionMethod):
    """Reciprocal rank fusion, ``sum_i w_i / (k + rank_i(d))`` with 1-based ranks (Cormack et al.;
    Pyserini, ranx). ``k`` default 60."""

    _name = "rrf"

    def __init__(self, k: float = 60, weights: Optional[Sequence[float]] = None, depth: int = 0,
                 top: int = 0) -> None:
        super().__init__(k=float(k), weights=weights, depth=depth, top=top)


class Interpolate(FusionMethod):
    """Interpolation of normalised scores, ``sum_i w_i * norm_i(s_i(d))``; a document missing from
    list i contributes ``missing``: ``"zero"`` (default) or ``"min"`` (that list's minimum, as
    Pyserini's hybrid search). ``norm``: ``"minmax"`` (default), ``"zscore"``, ``"sum"``,
    ``"centered-minmax"`` or ``"none"``."""

    _name = "interpolate"

    def __init__(self, weights: Optional[Sequence[float]] = None, norm: str = "minmax",
                 missing: str = "zero", depth: int = 0, top: int = 0) -> None:
        super().__init__(weights=weights, norm=norm, missing=missing, depth=depth, top=top)


class _Comb(FusionMethod):
    def __init__(self, weights: Optional[Sequence[float]] = None, norm: str = "minmax",
                 depth: int = 0, top: int = 0) -> None:
        super().__init__(weights=weights, norm=norm, depth=depth, top=top)


class CombSUM(_Comb):
    """CombSUM: sum of ``w_i * norm_i(s)`` over the lists containing d (``norm`` default minmax)."""

    _name = "combsum"


class CombMNZ(_Comb):
    """CombMNZ: CombSUM times the number of lists containing d."""

    _name = "combmnz"


class CombMAX(_Comb):
    """CombMAX: the max of ``w_i * norm_i(s)`` over the lists containing d."""

    _name = "combmax"


class Borda(FusionMethod):
    """Borda count as ranx's ``bordafuse``: ``C - rank + 1`` points in a list (C = candidates),
    ``(C - len(list) + 1) / 2`` when absent; weighted sum."""

    _name = "borda"

    def __init__(self, weights: Optional[Sequence[float]] = None, depth: int = 0, top: int = 0) -> None:
        super().__init__(weights=weights, depth=depth, top=top)


def _fuse_pipelines(method: Union[FusionMethod, str, None], pipelines: Sequence[Any]) -> Pipeline:
    if method is None:
        method_spec = "rrf"
    elif isinstance(method, FusionMethod):
        method_spec = method.spec
    elif isinstance(method, str):
        method_spec = method
    else:
        raise TypeError(f"a fusion method is a densefb.RRF/Interpolate/... or a name, not "
                        f"{type(method).__name__}")
    if len(pipelines) < 2:
        raise ValueError(f"fuse needs at least two pipelines, got {len(pipelines)}")
    branches = [_as_pipeline(p).spec for p in pipelines]
    return _fragment(f"fuse({method_spec},{','.join(branches)})")


def fuse(*args: Any, **kwargs: Any):
    """Fuses pipelines into a pipeline, or runs into a run.

    Pipelines: ``fuse(method, p1, p2, ...)`` or ``fuse(p1, p2, ...)`` (RRF, k = 60) returns a
    :class:`Pipeline` with a fusion node; ``method`` is a :class:`FusionMethod`
    (:class:`RRF`, :class:`Interpolate`, :class:`CombSUM`, :class:`CombMNZ`, :class:`CombMAX`,
    :class:`Borda`) or a spec such as ``"interpolate(weights=[0.3,0.7])"``; ``p1 | p2`` is
    ``fuse(RRF(), p1, p2)``. Each branch runs on the incoming state; the node's ranking is the
    fusion of the branches' rankings.

    Runs: ``fuse(runs, method="rrf", ...)`` fuses finished runs, see :func:`densefb.fusion.fuse`.
    """
    if args and (isinstance(args[0], (FusionMethod, Pipeline)) or
                 (isinstance(args[0], str) and len(args) > 1 and
                  all(isinstance(a, (Pipeline, str)) for a in args[1:]))):
        if kwargs:
            raise TypeError(f"fuse(method, *pipelines) takes no keyword arguments, got {sorted(kwargs)}")
        if isinstance(args[0], Pipeline):
            return _fuse_pipelines(None, args)
        return _fuse_pipelines(args[0], args[1:])
    return _fusion.fuse(*args, **kwargs)


def pipeline_stages() -> Dict[str, str]:
    """Every registered stage: ``{name: one-line help with its parameters and defaults}``."""
    return dict(_core.pipeline_stages())
