"""densefb: dense retrieval with pseudo-relevance feedback, reranking and fusion.

The compiled core lives in ``densefb._core``; this package re-exports a curated API.
"""
from densefb._core import __version__
from densefb.data import *  # noqa: F401,F403
from densefb.evaluation import *  # noqa: F401,F403
from densefb.index import *  # noqa: F401,F403
from densefb import data as _data, evaluation as _evaluation, index as _index

__all__ = ["__version__", *_data.__all__, *_evaluation.__all__, *_index.__all__]
