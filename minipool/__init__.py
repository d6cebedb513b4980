"""minipool: a small, readable, from-scratch ``concurrent.futures``.

``import minipool as futures`` is enough for code written against
``concurrent.futures``: the public names below are the stdlib's, plus the
design card's own names for the two pools.

Where to read next (the layers, bottom up):

* ``_future.py``   -- the Future, its states and its one transition table
* ``_waiting.py``  -- wait() and as_completed()
* ``_executor.py`` -- the Executor base: map() and the context manager
* ``_exit.py``     -- how pools learn about interpreter exit and fork()
* ``_naming.py``   -- how error messages and stats name a task
* ``thread.py``    -- MiniThreadPool: worker threads on a queue.SimpleQueue
* ``process.py``   -- MiniProcessPool: worker processes, one pipe each; its parts:
  ``_wire.py`` (the pipe's messages), ``_process_worker.py`` (the child),
  ``_inbox.py``, ``_dispatcher.py`` (the parent's dispatcher thread),
  ``_process_map.py`` (map's chunks), ``_deaths.py`` (when a worker dies)
* ``_factory.py``  -- make_executor(spec): threads, processes or a dask cluster,
  chosen by configuration ($MINIPOOL_EXECUTOR)

The extras (opt-in through ``pool.configure(...)``; docs/extras.md):

* ``_thread_extras.py``, ``_process_extras.py`` -- what each pool's ``configure()``
  plugs in (docs/internals.md, "What a configured pool adds")
* ``_extras.py``   -- the options, ``WorkerCrashed``, ``TaskTimeout``, back-pressure
* ``_timeline.py`` -- ``Timeline`` and the tracker behind ``stats()`` (``_stats.py``)
* ``_watchdog.py`` -- the thread pool's deadline thread for ``task_timeout``
* ``_trace.py``    -- ``write_trace``: the timelines as Chrome/Perfetto trace JSON
* ``_report.py``   -- ``write_report``: the same as one self-contained HTML page

The commands (``python -m minipool COMMAND``; ``__main__.py``): ``demo.py``
(the tutorial's lessons, running), ``_bench.py`` (minipool against the stdlib)
and ``_conformance.py`` (the compat suite against any executor).
"""

from ._errors import BrokenExecutor, CancelledError, InvalidStateError, TimeoutError
from ._executor import Executor
from ._extras import TaskTimeout, WorkerCrashed
from ._factory import make_executor
from ._future import Future
from ._report import write_report
from ._stats import PoolStats, WorkerStats
from ._timeline import Timeline
from ._trace import write_trace
from ._waiting import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed, wait
from .process import MiniProcessPool, ProcessPoolExecutor
from .thread import MiniThreadPool, ThreadPoolExecutor

__all__ = [
    # The stdlib's concurrent.futures.__all__ (Python 3.13's, the largest) ...
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "ALL_COMPLETED",
    "CancelledError",
    "TimeoutError",
    "InvalidStateError",
    "BrokenExecutor",
    "Future",
    "Executor",
    "wait",
    "as_completed",
    "ProcessPoolExecutor",
    "ThreadPoolExecutor",
    # ... and the design card's names for the two pools.
    "MiniThreadPool",
    "MiniProcessPool",
    # ... and the extras' names: errors, and what timelines and stats() return.
    "WorkerCrashed",
    "TaskTimeout",
    "Timeline",
    "PoolStats",
    "WorkerStats",
    # ... and pictures of what a configured pool did (docs/trace.md).
    "write_trace",
    "write_report",
    # ... and one switch from laptop to cluster (docs/scaling.md).
    "make_executor",
]

__version__ = "0.1.0"
