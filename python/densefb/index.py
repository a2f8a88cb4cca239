"""Vector indexes with a Faiss-like API: exact (FlatIndex) and HNSW (HnswIndex), and the
per-query Filter that their searches (and BM25's and pipelines') take."""
from densefb._core import Filter, FlatIndex, HnswIndex, VectorIndex

__all__ = ["Filter", "FlatIndex", "HnswIndex", "VectorIndex"]
