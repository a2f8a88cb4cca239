"""Vector indexes with a Faiss-like API: exact (FlatIndex) and HNSW (HnswIndex)."""
from densefb._core import FlatIndex

__all__ = ["FlatIndex"]
