"""Generators: models that complete prompts, for the LLM rerankers and generative feedback.

* :class:`OpenAIGenerator`: any OpenAI-compatible server (vLLM, llama.cpp's ``llama-server``, a
  hosted API), through the C++ client (libcurl): concurrency limit, timeouts, retries with
  backoff on 429 / 5xx, and an optional persistent cache (``cache_dir``).
* :class:`Generator`: subclass it to put any model behind the same interface; implement
  ``complete(prompts, options) -> list[str]`` and, if the model gives them,
  ``logprobs(prompts, labels, options) -> list[list[float]]`` (the log-probability of each label
  as the first generated token; ``-inf`` when absent).
* :class:`CallableGenerator`: a plain function ``fn(prompt) -> str`` as a generator.
* :func:`cached`: a persistent response cache in front of any generator.

Every generator counts its calls: ``gen.stats()`` gives requests, cache hits, prompt and
completion tokens, seconds, retries and failures (cumulative). Python generators count tokens
as whitespace-separated words.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence

from densefb import _core

__all__ = ["Generator", "CallableGenerator", "OpenAIGenerator", "cached"]


class Generator(_core.Generator):
    """Base class of generators written in Python (see the module docstring).

    ``generate(prompts, max_tokens=256, temperature=0.0, stop=[], system="", sample=0)`` and
    ``first_token_logprobs(prompts, labels)`` call the model; ``stats()`` gives its counters.
    ``options`` passed to ``complete`` / ``logprobs`` is a dict with ``max_tokens``,
    ``temperature``, ``stop``, ``system`` and ``sample`` (which sample of a repeated prompt:
    HyDE's n passages). Set ``name`` to name the model (the cache keys answers by it).
    A subclass that defines ``__init__`` must call ``super().__init__()``.
    """

    name: Optional[str] = None

    def __repr__(self) -> str:
        return f"<densefb.{type(self).__name__} {self._spec()}>"


class CallableGenerator(Generator):
    """A function as a generator: ``fn(prompt) -> str`` answers each prompt (or
    ``fn(prompt, options)`` when it takes two arguments); ``logprobs``, if given,
    ``logprobs(prompt, labels) -> list[float]`` answers :meth:`first_token_logprobs`."""

    def __init__(self, fn: Callable[..., str], logprobs: Optional[Callable[[str, List[str]], Sequence[float]]] = None,
                 name: str = "callable") -> None:
        super().__init__()
        import inspect
        try:
            two = len(inspect.signature(fn).parameters) >= 2
        except (TypeError, ValueError):
            two = False
        self._fn = fn
        self._two = two
        self._logprobs = logprobs
        self.name = name

    def complete(self, prompts: List[str], options: Dict[str, Any]) -> List[str]:
        return [self._fn(p, options) if self._two else self._fn(p) for p in prompts]

    def logprobs(self, prompts: List[str], labels: List[str], options: Dict[str, Any]) -> List[List[float]]:
        if self._logprobs is None:
            raise NotImplementedError(f"{self.name} gives no first-token log-probabilities")
        return [[float(x) for x in self._logprobs(p, labels)] for p in prompts]


def cached(generator: _core.Generator, cache_dir: str) -> _core.Generator:
    """``generator`` behind a persistent response cache in ``cache_dir``: one checksummed file per
    answer, keyed by the model name, the prompt, the options and the labels. A second run of
    the same experiment makes no requests and gives identical answers; a damaged entry is
    detected (``corrupt_entries``), asked again and rewritten."""
    return _core.CachingGenerator(generator, str(cache_dir))


def OpenAIGenerator(base_url: Optional[str] = None, model: Optional[str] = None, api_key: Optional[str] = None, *,
                    max_concurrency: int = 8, timeout: float = 60.0, max_retries: int = 4, backoff: float = 0.5,
                    cache_dir: Optional[str] = None, chat: bool = True) -> _core.Generator:
    """A client of an OpenAI-compatible server (C++, libcurl; the GIL is released while it waits).

    Args:
        base_url: e.g. ``"http://127.0.0.1:8000/v1"`` (vLLM) or ``"http://127.0.0.1:8080/v1"``
            (llama.cpp); default ``$DENSEFB_LLM_BASE_URL``, else ``$OPENAI_BASE_URL``.
        model: the served model's name; default ``$DENSEFB_LLM_MODEL``.
        api_key: sent as ``Authorization: Bearer``; default ``$DENSEFB_LLM_API_KEY``, else
            ``$OPENAI_API_KEY``; may be empty for a local server. Never printed.
        max_concurrency: requests in flight at once (a batch of prompts runs on that many threads).
        timeout: seconds per request, connection included.
        max_retries: retries after HTTP 429 / 5xx, timeouts and refused connections, with
            exponential backoff from ``backoff`` seconds (doubling, at most 30 s; Retry-After
            honoured).
        cache_dir: if given, a persistent response cache there (see :func:`cached`).
        chat: ``/chat/completions`` (default) or ``/completions``.

    ``ValueError`` naming the setting and its environment variable when ``base_url`` or
    ``model`` is missing.
    """
    if timeout is not None and (not math.isfinite(timeout)):
        raise ValueError(f"timeout must be finite, got {timeout}")
    gen = _core.OpenAiGenerator(base_url or "", model or "", api_key or "", chat, max_concurrency, float(timeout),
                                max_retries, float(backoff))
    return cached(gen, cache_dir) if cache_dir else gen
