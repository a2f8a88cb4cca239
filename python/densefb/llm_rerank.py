"""LLM rerankers as pipeline stages."""

__all__: list = []
