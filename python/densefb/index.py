"""Vector indexes with a Faiss-like API: exact (FlatIndex), compressed exhaustive
(ScalarQuantizedIndex: int8, fp16, bf16; ProductQuantizedIndex: product-quantised codes) and
HNSW (HnswIndex), and the per-query Filter that their searches (and BM25's and pipelines') take.
TorchFlatIndex, the exact index with its vectors on a torch device (``device="cuda"``), comes
from densefb._torch and is loaded on first use, so that ``import densefb`` does not load torch."""
from densefb._core import Filter, FlatIndex, HnswIndex, ProductQuantizedIndex, ScalarQuantizedIndex, VectorIndex

__all__ = ["Filter", "FlatIndex", "HnswIndex", "ProductQuantizedIndex", "ScalarQuantizedIndex", "VectorIndex"]


def __getattr__(name: str):
    if name == "TorchFlatIndex":
        from densefb.encoders import _torch_module

        return _torch_module().TorchFlatIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
