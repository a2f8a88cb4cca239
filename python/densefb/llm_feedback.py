"""Generative feedback and selective PRF as pipeline stages."""

__all__: list = []
