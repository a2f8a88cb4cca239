"""llm_rerank"""
__all__: list = []
