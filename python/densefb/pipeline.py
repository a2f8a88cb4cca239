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

Python classes take any of the four roles: subclass :class:`Retriever`, :class:`FeedbackModel`,
:class:`Reranker` or :class:`Fusion`; the objects compose with the built-ins through ``>>`` and
:func:`fuse`, and :func:`register` gives them a name for specs and ``densefb experiment``.

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
from densefb._spec import call_spec as _call_spec
from densefb.data import Run

__all__ = [
    "Resources", "Pipeline", "Stage", "QueryBatch", "Retriever", "FeedbackModel", "Reranker",
    "Fusion", "register", "unregister", "stage_defaults", "Dense", "BM25", "RM3", "AveragePRF", "Rocchio", "Rescore",
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
        generator: a :class:`densefb.Generator` (the LLM stages: ``rerank_listwise``,
            ``query2doc``, ..., see ``docs/llm.md``).

    A stage that needs a missing resource raises ``ValueError`` naming it when the pipeline
    runs (``Pipeline.requires`` lists what a pipeline may use).
    """

    NAMES: Tuple[str, ...] = ("corpus", "encoder", "dense_index", "bm25", "token_encoder",
                              "multivector", "cross_encoder", "generator")

    def __init__(self, corpus=None, encoder=None, dense_index=None, bm25=None, token_encoder=None,
                 multivector=None, cross_encoder=None, generator=None) -> None:
        self._objects: Dict[str, Any] = {
            "corpus": corpus, "encoder": encoder, "dense_index": dense_index, "bm25": bm25,
            "token_encoder": token_encoder, "multivector": multivector,
            "cross_encoder": cross_encoder, "generator": generator}
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


def _doc_names(resources: Resources) -> List[str]:
    if resources.has("corpus"):
        return list(resources.corpus.ids)
    if resources.has("bm25"):
        return list(resources.bm25.doc_ids)
    raise ValueError("a filter by document id needs the corpus or the BM25 index among the resources")


def _filter_arg(filter: Any, resources: Resources, query_ids: List[str]) -> Any:
    """A ``{query id: document ids}`` mapping as a per-query Filter of positions; anything else
    as given (the bindings convert masks and position lists)."""
    if not isinstance(filter, Mapping):
        return filter
    position = {name: i for i, name in enumerate(_doc_names(resources))}
    rows = []
    for qid in query_ids:
        row = []
        for doc in filter.get(qid, ()):
            if doc not in position:
                raise KeyError(f"filter for query {qid!r}: document {doc!r} is not in the collection")
            row.append(position[doc])
        rows.append(np.asarray(row, dtype=np.int64))
    return _core.Filter.from_id_lists(rows)


def _query_lists(queries: QueriesLike) -> Tuple[List[str], List[str]]:
    if isinstance(queries, _core.Queries):
        return list(queries.ids), list(queries.texts)
    if isinstance(queries, Mapping):
        return [str(k) for k in queries.keys()], [str(v) for v in queries.values()]
    pairs = list(queries)
    return [str(q) for q, _ in pairs], [str(t) for _, t in pairs]


class Pipeline:
    """A pipeline of stages; a value (immutable, comparable by its canonical spec).

    Build one with :meth:`Pipeline.parse`, or by composing stages (built-in stage classes,
    instances of your own :class:`Retriever` / :class:`FeedbackModel` / :class:`Reranker`
    subclasses, or spec strings) with ``>>`` (sequence), :func:`fuse` or ``|`` (reciprocal rank
    fusion of two pipelines).
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
    def _wrap(cls, p: Any) -> "Pipeline":
        out = Pipeline.__new__(Pipeline)
        out._p = p
        return out

    @classmethod
    def parse(cls, spec: str) -> "Pipeline":
        """Parses and validates a spec; ``ValueError`` names the column and what was expected
        there, or the unknown stage / argument and what is accepted."""
        return Pipeline._wrap(_parse(spec, False))

    @property
    def spec(self) -> str:
        """The canonical spec: every stage with every parameter, defaults included
        (``Pipeline.parse(p.spec).spec == p.spec`` for registered stages)."""
        return self._p.spec

    @property
    def requires(self) -> FrozenSet[str]:
        """Names of the resources the stages built from specs may use (see :class:`Resources`)."""
        return frozenset(self._p.requires)

    def explain(self, resources: Resources) -> str:
        """The spec as :meth:`run` runs it with ``resources``: a retriever whose ranking the next
        stage reads only to some depth, and which the stage after replaces, retrieves only that
        deep over an exact index or BM25 (same results), e.g. ``dense >> avg(k=3) >> dense``
        searches 3 deep first: ``"dense(k=3,ef_search=0) >> avg(...) >> dense(k=1000,...)"``."""
        if not isinstance(resources, Resources):
            raise TypeError(f"resources must be a densefb.Resources, not {type(resources).__name__}")
        return self._p.bind(resources._core).explain()

    def run(self, resources: Resources, queries: QueriesLike, k: int = 1000, *,
            num_threads: int = 0, batch_size: int = 32,
            query_vectors: Optional[np.ndarray] = None,
            counters: Optional[Dict[str, Dict[str, int]]] = None,
            filter: Any = None) -> Run:
        """Runs the pipeline on a batch of queries and returns a :class:`densefb.Run`.

        Args:
            resources: the :class:`Resources` the stages built from specs use.
            queries: a :class:`densefb.Queries`, a ``{query id: text}`` mapping or a sequence of
                ``(query id, text)`` pairs.
            k: the final ranking of each query is cut to ``k`` documents (0 = as produced).
            num_threads: threads of searches and scoring (0 = all cores); results do not depend
                on it.
            batch_size: texts per encoder forward pass.
            query_vectors: optional ``(n, dim)`` float32 query vectors used instead of encoding
                the query texts (in query order).
            counters: a dict that receives what the stages counted in this run, by stage
                (``{"3 rerank_listwise(...)": {"windows": 900, "repaired_missing": 2}}``; LLM
                stages count windows, calls and repaired answers). Stages without counts are
                left out.
            filter: the documents each query may return. Every retriever searches within them,
                so PRF feedback documents and the run hold allowed documents only (a query with
                fewer allowed matches than ``k`` gets a shorter list). A ``{query id: document
                ids}`` mapping (a query left out allows nothing), or, by document position, a
                :class:`densefb.Filter`, a bool mask ``(n_docs,)`` or ``(n_queries, n_docs)``,
                a sequence of positions, or one sequence per query.

        The run's name is the canonical spec without spaces. The GIL is released while built-in
        stages run (a Python stage takes it for its own call), so several Python threads may run
        pipelines at once. An exception raised in a Python stage is re-raised here.
        """
        if not isinstance(resources, Resources):
            raise TypeError(f"resources must be a densefb.Resources, not {type(resources).__name__}")
        ids, texts = _query_lists(queries)
        vectors = None
        if query_vectors is not None:
            vectors = np.ascontiguousarray(query_vectors, dtype=np.float32)
        return self._p.run(resources._core, ids, texts, int(k), int(num_threads), int(batch_size),
                           vectors, counters, _filter_arg(filter, resources, ids))

    def rank(self, resources: Resources, queries: Union[QueriesLike, Sequence[str]], k: int = 1000, *,
             num_threads: int = 0, batch_size: int = 32,
             query_vectors: Optional[np.ndarray] = None,
             filter: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        """As :meth:`run`, returning Faiss-style ``(scores, ids)`` arrays of shape ``(n, k')``
        (document positions, best first, padded with -inf / -1) instead of a Run: no document
        names are needed. ``queries`` may also be a list of query texts; ``filter`` is by
        document position."""
        if not isinstance(resources, Resources):
            raise TypeError(f"resources must be a densefb.Resources, not {type(resources).__name__}")
        if isinstance(queries, (list, tuple)) and all(isinstance(q, str) for q in queries):
            texts = list(queries)
        else:
            texts = _query_lists(queries)[1]
        vectors = None if query_vectors is None else np.ascontiguousarray(query_vectors, dtype=np.float32)
        return self._p.bind(resources._core).rank(texts, int(k), int(num_threads), int(batch_size), vectors,
                                                  filter)

    # -- composition --

    def __rshift__(self, other: Any) -> "Pipeline":
        return Pipeline._wrap(self._p.then(_as_pipeline(other)._p))

    def __rrshift__(self, other: Any) -> "Pipeline":
        return Pipeline._wrap(_as_pipeline(other)._p.then(self._p))

    def __or__(self, other: Any) -> "Pipeline":
        return fuse(RRF(), self, other)

    def __ror__(self, other: Any) -> "Pipeline":
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
    return Pipeline._wrap(_parse(spec, True))


def _as_pipeline(p: Any) -> Pipeline:
    if isinstance(p, Pipeline):
        return p
    if isinstance(p, str):
        return _fragment(f"({p})")
    if isinstance(p, (_core.Retriever, _core.FeedbackModel, _core.Reranker)):
        return Pipeline._wrap(_core.Pipeline.of(p))
    raise TypeError(f"expected a densefb.Pipeline, a stage or a spec string, not {type(p).__name__}")


# ---- stages written in Python -------------------------------------------------------------------

class QueryBatch:
    """The batch of queries a Python stage receives (copies: a stage may keep them).

    Attributes:
        ids: query ids, in batch order.
        texts: the current query texts (a feedback model may have replaced them).
        vectors: the current dense query vectors, a ``(n, dim)`` float32 array, or None when no
            stage has encoded the queries yet.
        original_texts: the texts as given to :meth:`Pipeline.run`.
        bm25_queries: the current weighted BM25 queries, per query a list of ``(term, weight)``
            pairs of analysed terms (e.g. the expansion after ``rm3``), or None when no stage
            has set them yet (``bm25`` alone searches the texts and keeps no analysis).
    """

    __slots__ = ("ids", "texts", "vectors", "original_texts", "bm25_queries")

    def __init__(self, ids: List[str], texts: List[str], vectors: Optional[np.ndarray],
                 original_texts: List[str],
                 bm25_queries: Optional[List[List[Tuple[str, float]]]] = None) -> None:
        self.ids = ids
        self.texts = texts
        self.vectors = vectors
        self.original_texts = original_texts
        self.bm25_queries = bm25_queries

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"<densefb.QueryBatch {len(self.ids)} queries, vectors {'set' if self.vectors is not None else 'none'}>"


class _Composable:
    """``>>`` and ``|`` for stage objects, and their spec."""

    @property
    def spec(self) -> str:
        """How the stage prints in a pipeline's spec: its registered spec when it was built from
        one (see :func:`register`), else its class name. Override it to print parameters."""
        return getattr(self, "_registered_spec", None) or type(self).__name__

    def __rshift__(self, other: Any) -> Pipeline:
        return _as_pipeline(self) >> other

    def __rrshift__(self, other: Any) -> Pipeline:
        return _as_pipeline(other) >> _as_pipeline(self)

    def __or__(self, other: Any) -> Pipeline:
        return fuse(RRF(), self, other)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} {self.spec}>"


class Retriever(_Composable, _core.Retriever):
    """Base class of retrievers written in Python: a batch of queries in, a ranking out.

    Implement ``retrieve(self, queries)`` returning ``(scores, ids)``: Faiss-style ``(n, k)``
    arrays (float32 scores, int64 document positions), one row per query of ``queries`` (a
    :class:`QueryBatch`), padded with ``-1`` ids; rows are re-sorted best first. A subclass that
    defines ``__init__`` must call ``super().__init__()``.

    Example: a remote vector store::

        class Remote(densefb.Retriever):
            def retrieve(self, queries):
                return client.search(queries.vectors, k=100)   # (scores, ids)
    """


class FeedbackModel(_Composable, _core.FeedbackModel):
    """Base class of feedback models written in Python: queries and a first-pass ranking in, a
    refined query representation out.

    Implement ``refine(self, queries, scores, ids)`` where ``scores``/``ids`` are the ranking as
    Faiss-style arrays. Return one of:

    * a ``(n, dim)`` float32 array: the new dense query vectors, which the next ``dense`` stage
      searches with;
    * a list of ``n`` strings: new query texts, which the next stages encode or analyse afresh;
    * a list of ``n`` lists of ``(term, weight)`` pairs: new weighted BM25 queries (analysed
      terms, finite weights), which the next ``bm25`` stage searches with, as after ``rm3``
      (e.g. :func:`densefb.sparse.rm3_expand` over feedback documents held by several shards).

    Set ``depth_read`` (an int attribute) to let a retriever before it search only that deep.
    ``queries.vectors`` is None until a stage has encoded the queries: put this model after a
    dense retriever, or pass ``query_vectors``. ``queries.bm25_queries`` is None until a stage
    has set weighted queries (``rm3``, or a Python feedback model returning them; ``bm25``
    searches the texts and keeps no analysis): analyse ``queries.texts`` with the index's
    :meth:`densefb.Bm25Index.analyze_query` then.
    """


class Reranker(_Composable, _core.Reranker):
    """Base class of rerankers written in Python: queries and a ranking in, a re-scored ranking
    out. Implement ``rerank(self, queries, scores, ids)`` returning ``(scores, ids)`` (rows are
    re-sorted best first; ids dropped from a row leave the ranking)."""


class Fusion(_core.Fusion):
    """Base class of fusion methods written in Python: several rankings in, one out. Implement
    ``fuse(self, runs)`` where ``runs`` is a list of ``(scores, ids)`` pairs, one per fused
    pipeline, returning one ``(scores, ids)`` pair. Use it as ``densefb.fuse(MyFusion(), p1, p2)``."""

    @property
    def spec(self) -> str:
        return getattr(self, "_registered_spec", None) or type(self).__name__


_ROLES = {"retriever": Retriever, "feedback": FeedbackModel, "reranker": Reranker, "fusion": Fusion}


def _role_of(factory: Any) -> str:
    if isinstance(factory, type):
        for role, base in _ROLES.items():
            if issubclass(factory, base if role != "fusion" else _core.Fusion):
                return role
        for role, base in (("retriever", _core.Retriever), ("feedback", _core.FeedbackModel),
                           ("reranker", _core.Reranker)):
            if issubclass(factory, base):
                return role
    raise TypeError("the role of a factory that is not a densefb stage class must be given "
                    "(role='retriever', 'feedback', 'reranker' or 'fusion')")


def register(name: str, factory: Any, role: Optional[str] = None, help: str = "") -> None:
    """Registers a Python stage under ``name`` so that specs (``Pipeline.parse``, the command
    line's ``--pipeline``, ``densefb experiment``) build it.

    Args:
        name: the spec name, e.g. ``"my_prf"`` for ``dense >> my_prf(k=5) >> dense``.
        factory: a subclass of :class:`Retriever`, :class:`FeedbackModel`, :class:`Reranker` or
            :class:`Fusion` (or any callable returning an instance of one); a spec's arguments
            are passed as keywords (numbers, strings, booleans, lists).
        role: ``"retriever"``, ``"feedback"``, ``"reranker"`` or ``"fusion"``; inferred for a
            class.
        help: one line shown by :func:`pipeline_stages`.

    Instances built from a spec print as ``name(args as given)`` (their :attr:`spec`).
    ``ValueError`` if the name is taken (:func:`unregister` frees it).
    """
    role = role or _role_of(factory)
    if role not in _ROLES:
        raise ValueError(f"role must be one of {sorted(_ROLES)}, not {role!r}")

    def make(**kwargs: Any) -> Any:
        obj = factory(**kwargs)
        if getattr(obj, "_registered_spec", None) is None and type(obj).spec is _Composable.spec \
                or isinstance(obj, Fusion) and type(obj).spec is Fusion.spec:
            try:
                obj._registered_spec = _call_spec(name, kwargs)
            except AttributeError:
                pass
        return obj

    _core.register_stage(role, name, make, help)


def unregister(name: str, role: Optional[str] = None) -> None:
    """Removes a stage registered with :func:`register` (``role`` defaults to a stage role;
    give ``"fusion"`` for a fusion method)."""
    if role is not None:
        _core.unregister_stage(role, name)
        return
    for r in ("retriever", "feedback", "reranker"):
        try:
            _core.unregister_stage(r, name)
            return
        except KeyError:
            continue
    raise KeyError(f"no stage named {name!r} is registered")


def _parse_default(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text.strip('"').strip("'") if text[:1] in "\"'" else text


def stage_defaults(name: str) -> Dict[str, Any]:
    """``{parameter: default}`` of a registered stage or fusion method, from its C++ table (the
    one place defaults are written). ``ValueError`` for an unknown name."""
    for s in _core.pipeline_stages():
        if s["name"] == name:
            return {p: _parse_default(d) for p, d, _ in s["params"]}
    raise ValueError(f"unknown stage {name!r}")


def _with_positional(name: str, args: Sequence[Any], params: Dict[str, Any]) -> Dict[str, Any]:
    """``params`` plus positional ``args`` in the order of the stage's parameter table."""
    if args:
        names = list(stage_defaults(name))
        if len(args) > len(names):
            raise TypeError(f"{name} takes at most {len(names)} positional arguments ({', '.join(names)})")
        for key, value in zip(names, args):
            if key in params:
                raise TypeError(f"{name}: {key} given twice")
            params[key] = value
    return params


class Stage(Pipeline):
    """A single stage by name, for any registered stage (e.g. ``Stage("maxsim", k=100)``).

    Keyword arguments become the stage's ``name=value`` arguments (``None`` values are left
    out, so the default applies). The stage classes below are this with documented parameters.
    """

    __slots__ = ()
    _name: str = ""

    def __init__(self, *args: Any, **params: Any) -> None:
        name = self._name
        if not name:
            if not args or not isinstance(args[0], str):
                raise TypeError("Stage() needs a stage name")
            name, args = args[0], args[1:]
        super().__init__(_call_spec(name, _with_positional(name, args, params)))


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


class Cut(Stage):
    """Keeps the first ``k`` documents of the current ranking."""

    __slots__ = ()
    _name = "cut"


# ---- fusion ------------------------------------------------------------------------------------

class FusionMethod:
    """A fusion method with its parameters, for :func:`fuse` over pipelines or runs (formulas:
    :func:`densefb.fusion.fuse`). Parameters and defaults come from the method's C++ table
    (:func:`stage_defaults`); common ones: ``weights`` (one per fused input; default all 1),
    ``depth`` (each input list cut to its best depth first; 0 = all), ``top`` (fused lists cut
    to top; 0 = all). Arguments left out (or ``None``) take the table's default."""

    _name = ""

    def __init__(self, *args: Any, **params: Any) -> None:
        params = _with_positional(self._name, args, params)
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


class Interpolate(FusionMethod):
    """Interpolation of normalised scores, ``sum_i w_i * norm_i(s_i(d))``; a document missing from
    list i contributes ``missing``: ``"zero"`` (default) or ``"min"`` (that list's minimum, as
    Pyserini's hybrid search). ``norm``: ``"minmax"`` (default), ``"zscore"``, ``"sum"``,
    ``"centered-minmax"`` or ``"none"``."""

    _name = "interpolate"


class CombSUM(FusionMethod):
    """CombSUM: sum of ``w_i * norm_i(s)`` over the lists containing d (``norm`` default minmax)."""

    _name = "combsum"


class CombMNZ(FusionMethod):
    """CombMNZ: CombSUM times the number of lists containing d."""

    _name = "combmnz"


class CombMAX(FusionMethod):
    """CombMAX: the max of ``w_i * norm_i(s)`` over the lists containing d."""

    _name = "combmax"


class Borda(FusionMethod):
    """Borda count as ranx's ``bordafuse``: ``C - rank + 1`` points in a list (C = candidates),
    ``(C - len(list) + 1) / 2`` when absent; weighted sum."""

    _name = "borda"


def _fuse_pipelines(method: Any, pipelines: Sequence[Any]) -> Pipeline:
    if len(pipelines) < 2:
        raise ValueError(f"fuse needs at least two pipelines, got {len(pipelines)}")
    branches = [_as_pipeline(p)._p for p in pipelines]
    if isinstance(method, _core.Fusion):
        return Pipeline._wrap(_core.Pipeline.fuse(method, branches))
    if method is None:
        method_spec = "rrf"
    elif isinstance(method, FusionMethod):
        method_spec = method.spec
    elif isinstance(method, str):
        method_spec = method
    else:
        raise TypeError(f"a fusion method is a densefb.RRF/Interpolate/..., a densefb.Fusion or a "
                        f"name, not {type(method).__name__}")
    return Pipeline._wrap(_core.Pipeline.fuse_spec(method_spec, branches))


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
    stage_types = (Pipeline, _core.Retriever, _core.FeedbackModel, _core.Reranker)
    if args and (isinstance(args[0], (FusionMethod, _core.Fusion) + stage_types) or
                 (isinstance(args[0], str) and len(args) > 1 and
                  all(isinstance(a, stage_types + (str,)) for a in args[1:]))):
        if kwargs:
            raise TypeError(f"fuse(method, *pipelines) takes no keyword arguments, got {sorted(kwargs)}")
        if isinstance(args[0], stage_types):
            return _fuse_pipelines(None, args)
        return _fuse_pipelines(args[0], args[1:])
    return _fusion.fuse(*args, **kwargs)


def pipeline_stages() -> Dict[str, str]:
    """Every registered stage and fusion method: ``{name: "name(param=default,...): help"}``
    (stages first, then fusion methods; see :func:`stage_defaults` for the defaults as values)."""
    out = {}
    for st in _core.pipeline_stages():
        params = ",".join(f"{n}={d}" for n, d, _ in st["params"])
        out[st["name"]] = f"{st['name']}({params}): {st['help']}" if params else f"{st['name']}: {st['help']}"
    return out


def _install_signatures() -> None:
    """The built-in stage and fusion classes' signatures, from the C++ parameter tables."""
    import inspect
    for cls in (Dense, BM25, RM3, AveragePRF, Rocchio, Rescore, TextPRF, CrossEncoderRerank, Cut,
                RRF, Interpolate, CombSUM, CombMNZ, CombMAX, Borda):
        defaults = stage_defaults(cls._name)
        params = [inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    # k1/b: the index's; weights: all 1 ("ones" in the table)
                                    default=None if k in ("k1", "b", "weights") else v)
                  for k, v in defaults.items()]
        if cls is Cut:
            params = [inspect.Parameter("k", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        cls.__signature__ = inspect.Signature(params)


_install_signatures()
