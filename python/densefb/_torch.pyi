"""
densefb libtorch encoders (private; use densefb.Encoder)
"""
from __future__ import annotations
import collections.abc
import densefb._core
import numpy
import numpy.typing
import typing
__all__: list[str] = ['BertEncoder', 'ColbertEncoder', 'CrossEncoder', 'cpu_has_bf16', 'cuda_available', 'encode_and_add', 'resolve_precision']
class BertEncoder:
    def __init__(self, model_dir: str, pooling: str | None = None, normalize: bool | None = None, max_length: typing.SupportsInt | typing.SupportsIndex = 0, device: str = 'cpu', num_threads: typing.SupportsInt | typing.SupportsIndex = 0, query_prefix: str = '', document_prefix: str = '', precision: str = 'fp32') -> None:
        ...
    def encode_documents(self, texts: collections.abc.Sequence[str], batch_size: typing.SupportsInt | typing.SupportsIndex = 32, progress: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
        ...
    def encode_queries(self, texts: collections.abc.Sequence[str], batch_size: typing.SupportsInt | typing.SupportsIndex = 32, progress: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
        ...
    @property
    def dim(self) -> int:
        ...
    @property
    def max_length(self) -> int:
        ...
    @property
    def normalized(self) -> bool:
        ...
class ColbertEncoder:
    def __init__(self, model_dir: str, format: str = 'auto', query_maxlen: typing.SupportsInt | typing.SupportsIndex = 0, doc_maxlen: typing.SupportsInt | typing.SupportsIndex = 0, query_marker: str | None = None, doc_marker: str | None = None, query_augmentation: bool | None = None, attend_to_mask_tokens: bool | None = None, mask_punctuation: bool | None = None, skiplist_words: collections.abc.Sequence[str] | None = None, projection: bool | None = None, device: str = 'cpu', num_threads: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    def encode_documents(self, texts: collections.abc.Sequence[str], batch_size: typing.SupportsInt | typing.SupportsIndex = 32, progress: typing.Any = None) -> list:
        ...
    def encode_documents_with_ids(self, texts: collections.abc.Sequence[str], batch_size: typing.SupportsInt | typing.SupportsIndex = 32, progress: typing.Any = None) -> tuple:
        ...
    def encode_queries(self, texts: collections.abc.Sequence[str], batch_size: typing.SupportsInt | typing.SupportsIndex = 32, progress: typing.Any = None) -> list:
        ...
    @property
    def attend_to_mask_tokens(self) -> bool:
        ...
    @property
    def dim(self) -> int:
        ...
    @property
    def doc_marker(self) -> str:
        ...
    @property
    def doc_maxlen(self) -> int:
        ...
    @property
    def format(self) -> str:
        ...
    @property
    def mask_punctuation(self) -> bool:
        ...
    @property
    def query_augmentation(self) -> bool:
        ...
    @property
    def query_marker(self) -> str:
        ...
    @property
    def query_maxlen(self) -> int:
        ...
    @property
    def skiplist_ids(self) -> list[int]:
        ...
class CrossEncoder:
    def __init__(self, model_dir: str, max_length: typing.SupportsInt | typing.SupportsIndex = 0, label: typing.SupportsInt | typing.SupportsIndex = 0, activation: str = 'none', device: str = 'cpu', num_threads: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    def score(self, queries: collections.abc.Sequence[str], passages: collections.abc.Sequence[str], batch_size: typing.SupportsInt | typing.SupportsIndex = 32, progress: typing.Any = None) -> numpy.typing.NDArray[numpy.float32]:
        ...
    @property
    def max_length(self) -> int:
        ...
    @property
    def num_labels(self) -> int:
        ...
def _core_address() -> int:
    ...
def cpu_has_bf16() -> bool:
    """
    Whether this CPU has bf16 dot-product instructions (AVX512_BF16 or AMX-BF16).
    """
def cuda_available() -> bool:
    ...
def encode_and_add(encoder: ..., texts: collections.abc.Sequence[str], index: densefb._core.VectorIndex, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64] | None = None, batch_size: typing.SupportsInt | typing.SupportsIndex = 32, chunk_size: typing.SupportsInt | typing.SupportsIndex = 4096, progress: typing.Any = None) -> None:
    ...
def resolve_precision(precision: str, device: str = 'cpu') -> str:
    """
    The precision an encoder on `device` runs in when `precision` is asked for: "bf16" on a CPU
    without bf16 instructions is "fp32"; "fp16" on a CPU and "int8" on CUDA are errors.
    """
