"""densefb: dense retrieval with pseudo-relevance feedback, reranking and fusion.

The compiled core lives in ``densefb._core``; the libtorch encoders in ``densefb._torch``,
imported only when an encoder is created (so ``import densefb`` does not load torch).
"""
from densefb._core import __version__
from densefb.data import *  # noqa: F401,F403
from densefb.evaluation import *  # noqa: F401,F403
from densefb.index import *  # noqa: F401,F403
from densefb.tokenizer import *  # noqa: F401,F403
from densefb.encoders import *  # noqa: F401,F403
from densefb.indexing import *  # noqa: F401,F403
from densefb.fusion import *  # noqa: F401,F403
from densefb.sparse import *  # noqa: F401,F403
from densefb.feedback import *  # noqa: F401,F403
from densefb.models import resolve_model
from densefb import data as _data, evaluation as _evaluation, index as _index
from densefb import encoders as _encoders, indexing as _indexing, tokenizer as _tokenizer
from densefb import fusion as _fusion, sparse as _sparse, feedback as _feedback

__all__ = ["__version__", "resolve_model", *_data.__all__, *_evaluation.__all__, *_index.__all__,
           *_tokenizer.__all__, *_encoders.__all__, *_indexing.__all__,
           *_fusion.__all__, *_sparse.__all__,
           *_feedback.__all__]
