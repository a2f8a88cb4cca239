"""Generative feedback and selective PRF as pipeline stages.

The generative models ask the pipeline's ``generator`` (:class:`densefb.Generator`) to write
text that refines each query; they are the C++ stages of the same names
(``densefb/llm_feedback.h``), given Python signatures and documentation here. Those that read
no ranking (:class:`Query2Doc`, :class:`HyDE`, :class:`LLMTerms`) may start a pipeline::

    densefb.HyDE() >> densefb.Dense(k=1000)
    densefb.Query2Doc(query_repeat=5, sep="") >> densefb.BM25()
    densefb.Dense(k=100) >> densefb.PromptPRF(k=3, feature="keywords") >> densefb.Dense()

Each counts its model calls (``calls``), reasoning answers and empty answers
(``Pipeline.run(..., counters={})``). :func:`selective_predictor` is the predictor
:class:`Selective` decides with, for one ranking.
"""

import numpy as np

from densefb import _core
from densefb.pipeline import Stage, stage_defaults

__all__ = ["Query2Doc", "HyDE", "PromptPRF", "LLMTerms", "Selective", "selective_predictor"]


class Query2Doc(Stage):
    """query2doc: the query (``query_repeat`` times) plus one generated passage becomes the query
    text; the next ``dense`` stage encodes it, the next ``bm25`` stage analyses it.

    Args:
        query_repeat: copies of the query before the passage (default 1, query2doc's dense
            setting; the paper uses 5 for BM25).
        sep: between the query and the passage (default ``"[SEP]"``; ``""`` for BM25).
        max_tokens: passage tokens at most (default 128).
        prompt: template with ``{query}``; empty = the default.

    Needs: ``generator``.
    """

    __slots__ = ()
    _name = "query2doc"


class HyDE(Stage):
    """HyDE: the query vector becomes the mean of the encodings of ``n`` passages the model
    writes for the query (documents side, each a separate sample at ``temperature``) and of the
    query itself (query side): ``(E_q(q) + E_d(p_1) + ... + E_d(p_n)) / (n + 1)``.

    Args:
        n: generated passages (default 8).
        temperature: sampling temperature (default 0.7).
        max_tokens: passage tokens at most (default 512).
        prompt: template with ``{query}``; empty = the default.

    Needs: ``generator``, ``encoder``.
    """

    __slots__ = ()
    _name = "hyde"


class PromptPRF(Stage):
    """PromptPRF: the model writes a feature (``keywords``, ``entities``, ``summary`` or
    ``essay``) of each of the top ``k`` feedback passages, independent of the query (one call
    per distinct passage, cached across queries); the features are encoded (documents side)
    and mixed into the query vector: ``q' = alpha q + beta mean(f_1..f_k)``.

    Args:
        k: feedback passages (default 3).
        feature: what the model writes (default ``"keywords"``).
        alpha, beta: Rocchio weights (defaults: :class:`densefb.Rocchio`'s).
        max_words: passage words shown to the model (default 300).
        max_tokens: feature tokens at most (default 256).
        prompt: template with ``{passage}``; empty = the feature's default.

    Needs: ``generator``, ``encoder``, ``corpus``, a ranking.
    """

    __slots__ = ()
    _name = "prompt_prf"


class LLMTerms(Stage):
    """Generated expansion terms for BM25: the weighted query becomes the analysed query plus
    every analysed term of the model's keyword list, with weight ``term_weight`` per
    occurrence. The next :class:`densefb.BM25` stage searches with it.

    Args:
        term_weight: weight of a generated term occurrence (default 0.5; the query's own
            terms weigh 1 per occurrence).
        max_tokens: keyword-list tokens at most (default 64).
        prompt: template with ``{query}``; empty = the default.

    Needs: ``generator``, ``bm25``.
    """

    __slots__ = ()
    _name = "llm_terms"


class Selective(Stage):
    """Selective PRF: applies the wrapped feedback ``model`` only to the queries whose first pass
    a query-performance predictor trusts (value >= ``threshold``); the others keep their query
    as it was.

    Args:
        model: the wrapped feedback model, as a spec string or a stage (default ``"rocchio"``).
        predictor: over the first ``depth`` documents of each list: ``"gap"`` (s_1 - s_n),
            ``"ratio"`` (s_1 / s_n), ``"nqc"`` (sd / |mean| of the scores) or ``"coherence"``
            (default: the mean pairwise cosine of the documents' stored vectors; needs
            ``dense_index``).
        threshold: the trust threshold (the default was chosen on CISI and CACM by
            ``scripts/selective_threshold.py``; see ``docs/effectiveness.md``).
        depth: documents the predictor reads (default: the ``selective`` stage's, 10).

    Counters: ``trusted``, ``kept`` and the model's own, prefixed ``model.``.
    """

    __slots__ = ()
    _name = "selective"

    def __init__(self, model=None, *args, **params):
        if model is not None:
            params["model"] = model if isinstance(model, str) else str(model)
        super().__init__(*args, **params)


def selective_predictor(predictor, scores, vectors=None, depth=None) -> float:
    """The value of a :class:`Selective` predictor for one ranking (the C++ stage's own code).

    Args:
        predictor: ``"gap"``, ``"ratio"``, ``"nqc"`` or ``"coherence"``.
        scores: the ranking's scores, best first (1-d).
        vectors: for ``"coherence"``: the documents' vectors in rank order, one row each (at
            least the first ``depth``).
        depth: documents the predictor reads (default: the ``selective`` stage's, 10).

    Returns NaN where the predictor is undefined (fewer than two documents; ``ratio`` with a
    non-positive score).
    """
    if depth is None:
        depth = stage_defaults("selective")["depth"]
    scores = np.asarray(scores, dtype=np.float32).ravel()
    if vectors is not None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return _core.selective_predictor(predictor, scores, int(depth), vectors)


def _install_signatures() -> None:
    import inspect
    for cls in (Query2Doc, HyDE, PromptPRF, LLMTerms, Selective):
        cls.__signature__ = inspect.Signature(
            [inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=v)
             for k, v in stage_defaults(cls._name).items()])


_install_signatures()

