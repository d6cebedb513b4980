"""The exception classes minipool raises.

These are the one deliberate borrowing from the standard library: minipool
re-exports ``concurrent.futures``' own exception classes instead of defining
look-alikes, so that code written as ``except concurrent.futures.CancelledError``
(or ``TimeoutError``, ``InvalidStateError``, ``BrokenExecutor``) catches what
minipool raises, and ``except minipool.CancelledError`` catches the stdlib's.
Nothing else in minipool comes from ``concurrent.futures``' source.
"""

# Deliberate borrowing (see module docstring): the stdlib's exception classes.
from concurrent.futures import BrokenExecutor as BrokenExecutor
from concurrent.futures import CancelledError as CancelledError
from concurrent.futures import TimeoutError as TimeoutError
from concurrent.futures._base import InvalidStateError as InvalidStateError

__all__ = ["BrokenExecutor", "CancelledError", "InvalidStateError", "TimeoutError"]
