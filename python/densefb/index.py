"""Vector indexes with a Faiss-like API: exact (FlatIndex), compressed exhaustive
(ScalarQuantizedIndex: int8, fp16, bf16; ProductQuantizedIndex: product-quantised codes) and
HNSW (HnswIndex), and the per-query Filter that their searches (and BM25's and pipelines') take."""
from densefb._core import Filter, FlatIndex, HnswIndex, ProductQuantizedIndex, ScalarQuantizedIndex, VectorIndex

__all__ = ["Filter", "FlatIndex", "HnswIndex", "ProductQuantizedIndex", "ScalarQuantizedIndex", "VectorIndex"]
