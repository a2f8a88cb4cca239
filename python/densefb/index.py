"""Vector indexes with a Faiss-like API: exact (FlatIndex) and HNSW (HnswIndex)."""
from densefb._core import FlatIndex, HnswIndex, VectorIndex

__all__ = ["FlatIndex", "HnswIndex", "VectorIndex"]
