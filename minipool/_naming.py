"""How error messages and stats name a task: ``module.fn(arg, key=value)``, shortened.

Shared by both pools (no threads, no state: plain functions).
"""

from __future__ import annotations

import functools
import reprlib
from typing import Any, Callable

_SHORT = reprlib.Repr()
_SHORT.maxstring = 40
_SHORT.maxother = 40


def _name_of(fn: object) -> str:
    """``module.qualname`` of a function (just the qualname for builtins)."""
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(qualname, str):
        return _SHORT.repr(fn)
    module = getattr(fn, "__module__", None)
    if not isinstance(module, str) or module == "builtins":
        return qualname
    return f"{module}.{qualname}"


def _short_repr(value: object) -> str:
    if callable(value) and hasattr(value, "__qualname__"):
        return _name_of(value)
    try:
        return _SHORT.repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        return f"<{type(value).__name__} object>"


def _describe_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``module.fn(arg, key=value)``, shortened: how error messages name a task."""
    if isinstance(fn, functools.partial):  # map(chunksize>1) submits partial(_run_chunk, fn)
        return _describe_call(fn.func, fn.args + args, {**fn.keywords, **kwargs})
    parts = [_short_repr(a) for a in args]
    parts += [f"{key}={_short_repr(value)}" for key, value in kwargs.items()]
    return f"{_name_of(fn)}({', '.join(parts)})"
