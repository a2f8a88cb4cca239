"""LLM rerankers as pipeline stages.

Each reads the first ``k`` candidates of the current ranking, asks the pipeline's ``generator``
(a :class:`densefb.Generator`: :class:`densefb.OpenAIGenerator` for vLLM, llama.cpp's server or
a hosted API; any Python callable) about them, and keeps those ``k`` in the new order. The
algorithms are the C++ stages of the same names (``densefb/llm_rerankers.h``); these classes
only give them Python signatures and documentation. Every model call is counted:
``Pipeline.run(..., counters={})`` fills in each stage's counters (windows, repaired answers).

    pipe = densefb.Dense(k=100) >> densefb.ListwiseRerank(k=100)
    res = densefb.Resources(corpus=corpus, dense_index=index, encoder=enc, generator=llm)
    counters = {}
    run = pipe.run(res, queries, k=100, counters=counters)

Answers of reasoning models (Rank-R1, ERank) are read after their ``<think>...</think>`` block.
Prompt templates (``prompt=``) use ``{query}``, ``{num}`` and ``{passages}`` (``{query}`` and
``{passage}`` for :class:`PointwiseRerank`); the defaults are documented in ``docs/llm.md``.
"""

from densefb.pipeline import Stage, stage_defaults

__all__ = ["PointwiseRerank", "ListwiseRerank", "FirstRerank", "SetwiseRerank"]


class PointwiseRerank(Stage):
    """Pointwise LLM relevance of each of the first ``k`` candidates (one prompt per passage).

    Args:
        k: candidates re-ranked (default 100).
        mode: ``"yes_no"`` (default): the score is P(Yes) / (P(Yes) + P(No)) from the first
            generated token's log-probabilities (the generator must give them); ``"grade"``:
            the 0-3 label the model writes (UMBRELA's scale), the earlier rank first among
            equal grades; an answer without one counts as ``unparseable`` and grades 0.
        max_words: passage words shown to the model (default 300).
        max_tokens: completion tokens at most in ``grade`` mode (default 16).
        prompt: template with ``{query}`` and ``{passage}``; empty = the default.

    Counters: ``calls``, ``reasoning``, ``unparseable``, ``missing_logprobs``.
    Needs: ``corpus``, ``generator``, a ranking.
    """

    __slots__ = ()
    _name = "rerank_pointwise"


class ListwiseRerank(Stage):
    """Listwise sliding-window reranking (RankGPT, RankZephyr): windows of ``window`` passages,
    ``step`` apart, from the bottom of the first ``k`` up to the top; the model writes a
    permutation (``[3] > [1] > [2]``) of each window.

    The permutation is parsed robustly: duplicates are dropped, missing passages appended in
    their original order, and an answer with no usable id keeps the window's order. Each
    repair is counted (``repaired_duplicates``, ``repaired_missing``,
    ``repaired_out_of_range``, ``unparseable``), as are ``windows`` and ``reasoning`` answers.

    Args:
        k: candidates re-ranked (default 100).
        window: passages per window (default 20).
        step: distance between windows (default 10; at most ``window``).
        max_words: passage words shown to the model (default 300).
        max_tokens: completion tokens at most (default 300; reasoning models need more).
        prompt: template with ``{query}``, ``{num}``, ``{passages}``; empty = the default.

    Needs: ``corpus``, ``generator``, a ranking.
    """

    __slots__ = ()
    _name = "rerank_listwise"


class FirstRerank(Stage):
    """FIRST: the sliding windows of :class:`ListwiseRerank`, each ordered by the first
    generated token's log-probabilities over its passage labels ``A, B, ...`` (one decoding
    step per window). The generator must give log-probabilities (an OpenAI-compatible server
    with ``logprobs``).

    Args:
        k: candidates re-ranked (default 100).
        window: passages per window (default 20; at most 26).
        step: distance between windows (default 10).
        max_words: passage words shown to the model (default 300).
        prompt: template with ``{query}``, ``{num}``, ``{passages}``; empty = the default.

    Counters: ``windows``, ``missing_logprobs``. Needs: ``corpus``, ``generator``, a ranking.
    """

    __slots__ = ()
    _name = "rerank_first"


class SetwiseRerank(Stage):
    """Setwise reranking: a knockout tournament over sets of ``set_size`` passages, the model
    naming the best of each set (``Passage A``, ``B``, ...). The champion takes the first place;
    the tournament is replayed along its path for each of the ``topn`` places; the other
    candidates keep their order after them.

    Args:
        k: candidates re-ranked (default 100).
        set_size: passages per comparison (default 4).
        topn: places the tournament decides (default 10).
        max_words: passage words shown to the model (default 300).
        max_tokens: completion tokens at most (default 16).
        prompt: template with ``{query}``, ``{num}``, ``{passages}``; empty = the default.

    Counters: ``comparisons``, ``reasoning``, ``unparseable`` (the set's best-ranked passage
    wins). Needs: ``corpus``, ``generator``, a ranking.
    """

    __slots__ = ()
    _name = "rerank_setwise"


def _install_signatures() -> None:
    import inspect
    for cls in (PointwiseRerank, ListwiseRerank, FirstRerank, SetwiseRerank):
        cls.__signature__ = inspect.Signature(
            [inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=v)
             for k, v in stage_defaults(cls._name).items()])


_install_signatures()
