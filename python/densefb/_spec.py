"""Writing Python values as spec text (the one grammar of pipelines and fusion methods)."""
from __future__ import annotations

from typing import Any, Mapping

import math

import numpy as np


def format_value(v: Any) -> str:
    """A spec argument value: true/false, an integer, a float, a quoted string or a [list]."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            raise ValueError(f"{float(v)!r} is not a finite number (spec values are finite)")
        return repr(float(v))
    if isinstance(v, str):
        return f'"{v}"' if '"' not in v else f"'{v}'"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ",".join(format_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} as a pipeline argument")


def call_spec(name: str, params: Mapping[str, Any]) -> str:
    """``name(key=value,...)``; ``None`` values are left out (the default applies)."""
    args = []
    for k, v in params.items():
        if v is None:
            continue
        try:
            args.append(f"{k}={format_value(v)}")
        except ValueError as e:
            raise ValueError(f"{name}: argument {k}={v!r}: {e}") from None
    return f"{name}({','.join(args)})" if args else name
