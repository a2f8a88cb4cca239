"""llm_feedback"""
__all__: list = []
