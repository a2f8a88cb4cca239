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
from densefb.multivector import *  # noqa: F401,F403
from densefb.pipeline import *  # noqa: F401,F403  (after fusion: its fuse also fuses pipelines)
from densefb.llm import *  # noqa: F401,F403
from densefb.llm_rerank import *  # noqa: F401,F403
from densefb.llm_feedback import *  # noqa: F401,F403
from densefb.models import resolve_model
from densefb.interop import *  # noqa: F401,F403
from densefb.datasets import download_beir
from densefb.judge import judge, compare_qrels, default_judge_prompt
from densefb import stats  # paired t-test, Wilcoxon signed-rank, Holm-Bonferroni (as scipy)
from densefb.experiment import Experiment, ExperimentResult, reproduce_run
from densefb import interop as _interop
from densefb import data as _data, evaluation as _evaluation, index as _index
from densefb import encoders as _encoders, indexing as _indexing, tokenizer as _tokenizer
from densefb import fusion as _fusion, sparse as _sparse
from densefb import multivector as _multivector
from densefb import pipeline as _pipeline
from densefb import llm as _llm, llm_rerank as _llm_rerank, llm_feedback as _llm_feedback

__all__ = ["__version__", "resolve_model", "download_beir", *_interop.__all__, *_data.__all__, *_evaluation.__all__, *_index.__all__,
           *_tokenizer.__all__, *_encoders.__all__, *_indexing.__all__,
           *_fusion.__all__, *_sparse.__all__,
           *_multivector.__all__]
__all__ += [n for n in _pipeline.__all__ if n not in __all__]
__all__ += [*_llm.__all__, *_llm_rerank.__all__, *_llm_feedback.__all__]
__all__ += ["stats", "Experiment", "ExperimentResult", "reproduce_run", "judge", "compare_qrels", "default_judge_prompt"]


def __getattr__(name: str):
    # The torch-device classes come from densefb._torch, loaded on first use (as the encoders
    # are), so that `import densefb` does not load torch.
    if name == "TorchFlatIndex":
        return _index.TorchFlatIndex
    if name == "TorchTokenCollection":
        return _multivector.TorchTokenCollection
    raise AttributeError(f"module 'densefb' has no attribute {name!r}")
