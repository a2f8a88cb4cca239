"""llm"""
__all__: list = []
