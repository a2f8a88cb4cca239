"""
densefb libtorch encoders (private; use densefb.Encoder)
"""
from __future__ import annotations
import collections.abc
import densefb._core
import numpy
import numpy.typing
import typing
__all__: list[str] = ['BertEncoder', 'ColbertEncoder', 'CrossEncoder', 'TorchFlatIndex', 'TorchTokenCollection', 'cpu_has_bf16', 'cuda_available', 'encode_and_add', 'int8_weight_bits', 'resolve_precision']
class TorchTokenCollection(densefb._core.TokenCollection):
    """
    The token embeddings of a densefb.MultiVectorIndex on a torch device ("cuda", "cuda:1", or
    "cpu" through torch), where candidate generation (the exact nearest document tokens of each
    query token) and exact weighted MaxSim run. The maxsim, rerank_maxsim and colbert_prf stages
    read it as they read the host index (Resources(multivector=...)).
    
        device_tokens = densefb.TorchTokenCollection(mv_index, device="cuda")
    
    A snapshot of the index's live documents: later updates to the index are not seen (make a new
    one). Rankings equal the host index's with an exact token index, up to rounding near-ties.
    memory_limit: device bytes for the token embeddings (0 = what the device has; MemoryError
    names the bytes when they do not fit); rerank_block: candidates scored per batched matmul.
    """
    def __init__(self, index: densefb._core.MultiVectorIndex, device: str = 'cpu', memory_limit: int = 0, rerank_block: int = 512) -> None:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def device(self) -> str:
        ...
    @property
    def num_documents(self) -> int:
        ...
class TorchFlatIndex(densefb._core.VectorIndex):
    """
    Exact top-k search with the vectors on a torch device: a CUDA GPU ("cuda", "cuda:1") or the
    CPU through torch ("cpu"). The same API, results and file format as densefb.FlatIndex.
    
    Each block of queries is multiplied by each block of stored vectors (float32 matmul) and the top
    k kept with torch.topk over keys that order by score, then by insertion: ties go to the
    earlier-added vector, as in FlatIndex, and a ranking equals FlatIndex's except where two scores
    differ by a rounding of the sum (~1e-7). TF32 is not used unless torch is told to
    (torch.backends.cuda.matmul.allow_tf32), which makes scores approximate.
    
        index = densefb.TorchFlatIndex(384, metric="ip", device="cuda")
        densefb.encode_and_add(encoder, texts, index)   # a CUDA encoder's output stays on the GPU
        scores, ids = index.search(queries, k=10)
    
    Memory: ntotal x dim x 4 bytes on the device (grown by half again when full; reserve(n) avoids
    it), plus query_block x doc_block scores while searching. An add that does not fit in device
    memory, or in memory_limit bytes when given, raises MemoryError naming the sizes and leaves the
    index as it was; a corpus larger than the device is not searched from host memory.
    """
    @staticmethod
    def from_index(index: densefb._core.FlatIndex, device: str = 'cpu', query_block: int = 1024, doc_block: int = 65536, memory_limit: int = 0, storage: str = 'fp32') -> TorchFlatIndex:
        """
        The vectors and ids of a densefb.FlatIndex, copied to `device`.
        """
    @staticmethod
    def load(path: typing.Any, device: str = 'cpu', query_block: int = 1024, doc_block: int = 65536, memory_limit: int = 0, storage: str = 'fp32') -> TorchFlatIndex:
        """
        Loads a file saved by FlatIndex.save or TorchFlatIndex.save onto `device`.
        """
    def __init__(self, dim: int, metric: str = 'ip', device: str = 'cpu', query_block: int = 1024, doc_block: int = 65536, memory_limit: int = 0, storage: str = 'fp32') -> None:
        """
        dim: vector dimension (>= 1); metric: "ip" or "cosine"; device: "cpu", "cuda", "cuda:N";
        query_block, doc_block: the queries and stored vectors of one matmul; memory_limit: device
        bytes the stored vectors may take (0 = what the device has); storage: "fp32", or "fp16" /
        "bf16" (half the memory; searches and reconstruct see the rounded vectors, as in
        ScalarQuantizedIndex).
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
        Stored vectors of ids, (len(ids), dim), gathered on the device: exactly as added with
        storage "fp32", rounded with "fp16" / "bf16". KeyError for an unknown id.
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
    def to_flat(self) -> densefb._core.FlatIndex:
        """
        A densefb.FlatIndex (host memory) with the same vectors and ids.
        """
    @property
    def device(self) -> str:
        ...
    @property
    def device_bytes(self) -> int:
        """
        Device bytes held by the stored vectors (their capacity).
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
    @property
    def storage(self) -> str:
        ...
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
    def __init__(self, model_dir: str, format: str = 'auto', query_maxlen: typing.SupportsInt | typing.SupportsIndex = 0, doc_maxlen: typing.SupportsInt | typing.SupportsIndex = 0, query_marker: str | None = None, doc_marker: str | None = None, query_augmentation: bool | None = None, attend_to_mask_tokens: bool | None = None, mask_punctuation: bool | None = None, skiplist_words: collections.abc.Sequence[str] | None = None, projection: bool | None = None, device: str = 'cpu', num_threads: typing.SupportsInt | typing.SupportsIndex = 0, precision: str = 'fp32') -> None:
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
    def __init__(self, model_dir: str, max_length: typing.SupportsInt | typing.SupportsIndex = 0, label: typing.SupportsInt | typing.SupportsIndex = 0, activation: str = 'none', device: str = 'cpu', num_threads: typing.SupportsInt | typing.SupportsIndex = 0, precision: str = 'fp32') -> None:
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
def int8_weight_bits() -> int:
    """
    The bits of precision="int8" weights on this CPU: 8 with AVX512-VNNI, 7 elsewhere.
    """
def resolve_precision(precision: str, device: str = 'cpu') -> str:
    """
    The precision an encoder on `device` runs in when `precision` is asked for: "bf16" on a CPU
    without bf16 instructions is "fp32"; "fp16" on a CPU and "int8" on CUDA are errors.
    """
