"""make_executor(spec): choose the executor by configuration, from laptop to cluster.

One string says where the work runs; the code that submits it stays the same::

    spec (or $MINIPOOL_EXECUTOR)  --_parse-->  (kind, argument)
                                                   |
        "threads:8"          -> MiniThreadPool(8)          threads of this process
        "processes:4"        -> MiniProcessPool(4)         child processes
        "dask:local:2"       -> _DaskExecutor(Client(LocalCluster(2 worker processes)))
        "tcp://host:8786"    -> _DaskExecutor(Client("tcp://host:8786"))   a running cluster

The environment variable ``MINIPOOL_EXECUTOR`` (``ENV_VAR``), when set and not
empty, wins over the *spec* argument: the program says what it runs on by
default, the person who runs it can move it to a cluster without editing it.

Threads and processes: this module starts none itself. ``MiniThreadPool`` and
``MiniProcessPool`` start theirs (see thread.py and process.py). For dask, the
``distributed.Client`` starts its event-loop thread, and ``"dask:local"`` also
starts a ``LocalCluster``: a scheduler in this process and one worker process
per worker (each under a nanny that restarts it if it dies). ``_DaskExecutor``
owns what it started: its ``shutdown`` closes the client, and the local
cluster if it made one; it never shuts a remote cluster down.

Guarantees / Assumptions
------------------------
* dask is optional (``pip install 'minipool[dask]'``); this module imports
  ``distributed`` only when a dask spec is asked for, and without it raises
  ImportError saying what to install.
* The dask executor is dask's own ``Client.get_executor(pure=False)``:
  ``_DaskExecutor`` forwards ``submit``, ``map`` and ``shutdown`` to it
  unchanged, so it behaves exactly as dask's does (docs/scaling.md lists where
  that differs from ``concurrent.futures``). ``pure=False``: with dask's
  default ``pure=True``, identical submits would be merged and run once.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable, Iterable, Iterator, Optional

from ._executor import Executor
from .process import MiniProcessPool
from .thread import MiniThreadPool

ENV_VAR = "MINIPOOL_EXECUTOR"
DASK_INSTALL_HINT = "pip install 'minipool[dask]'  (or: pip install distributed)"
SPEC_FORMS = ("threads[:N]", "processes[:N]", "dask:local[:N]", "dask:ADDRESS",
              "tcp://HOST:PORT (any dask scheduler address)")


def make_executor(spec: str = "threads") -> Executor:
    """An executor chosen by *spec*, or by ``$MINIPOOL_EXECUTOR`` when that is set.

    >>> with make_executor("threads:2") as pool:
    ...     pool.submit(pow, 2, 10).result()
    1024
    """
    from_env = os.environ.get(ENV_VAR, "").strip()
    chosen = from_env or spec
    kind, argument = _parse(chosen, where=f"${ENV_VAR}" if from_env else "spec")
    if kind == "threads":
        return MiniThreadPool(_workers(argument, chosen))
    if kind == "processes":
        return MiniProcessPool(_workers(argument, chosen))
    if kind == "dask-local":
        return _DaskExecutor.on_local_cluster(_workers(argument, chosen))
    return _DaskExecutor.on_scheduler(argument)


def _parse(spec: str, where: str) -> tuple[str, str]:
    """("threads"|"processes"|"dask-local"|"dask-address", the rest) or ValueError."""
    name, _, rest = spec.partition(":")
    if name in ("threads", "processes"):
        return name, rest
    if name == "dask":
        local, _, workers = rest.partition(":")
        if local == "local":
            return "dask-local", workers
        if rest:
            return "dask-address", rest
    elif "://" in spec:
        return "dask-address", spec
    raise ValueError(f"{where} {spec!r} names no executor; use one of: {', '.join(SPEC_FORMS)}")


def _workers(argument: str, spec: str) -> Optional[int]:
    """The N of "kind:N" (None when absent: the pool's default)."""
    if not argument:
        return None
    if not argument.isdigit() or int(argument) < 1:
        raise ValueError(f"executor spec {spec!r}: the worker count must be a positive integer")
    return int(argument)


def _import_distributed() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError as missing:
        raise ImportError(
            f"a dask executor needs dask.distributed, which is not installed: "
            f"{DASK_INSTALL_HINT}") from missing


class _DaskExecutor(Executor):
    """dask's own executor (``Client.get_executor(pure=False)``), owning its client.

    Every call is forwarded unchanged; ``shutdown`` then also closes the
    client, and the ``LocalCluster`` when this executor started it.
    """

    def __init__(self, client: Any, cluster: Any = None) -> None:
        self._client = client
        self._cluster = cluster  # ours to close; None for a remote scheduler
        self._dask = client.get_executor(pure=False)

    @classmethod
    def on_local_cluster(cls, workers: Optional[int]) -> _DaskExecutor:
        distributed = _import_distributed()
        cluster = distributed.LocalCluster(n_workers=workers or 2, threads_per_worker=1,
                                           processes=True, dashboard_address=None,
                                           host="127.0.0.1")
        return cls(distributed.Client(cluster), cluster)

    @classmethod
    def on_scheduler(cls, address: str) -> _DaskExecutor:
        return cls(_import_distributed().Client(address))

    @property
    def client(self) -> Any:
        """The ``distributed.Client``: for what only dask has (dashboards, scatter...)."""
        return self._client

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return self._dask.submit(fn, *args, **kwargs)

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any],
            timeout: Optional[float] = None, chunksize: int = 1,
            buffersize: Optional[int] = None) -> Iterator[Any]:
        if buffersize is not None:
            raise TypeError("dask's executor has no map(buffersize=...)")
        return self._dask.map(fn, *iterables, timeout=timeout)  # type: ignore[no-any-return]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            raise TypeError("dask's executor has no shutdown(cancel_futures=True)")
        self._dask.shutdown(wait=wait)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
