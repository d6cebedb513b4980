"""Executors for tests/test_conformance.py to hand to the conformance kit."""

from __future__ import annotations

from typing import Any, Iterator

import minipool


class DropsTheLastResult(minipool.MiniThreadPool):
    """A broken executor: its map loses the last result."""

    def map(self, fn: Any, *iterables: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(list(super().map(fn, *iterables, **kwargs))[:-1])


def broken_map(max_workers: int = 2) -> DropsTheLastResult:
    # max_workers: the kit's state machine then knows the worker count, and
    # calls map() whenever a worker is free (the broken map is soon caught).
    return DropsTheLastResult(max_workers)


_dask_client: Any = None


def dask_executor() -> Any:
    """dask.distributed's executor on one LocalCluster, made at the first call.

    The cluster (two single-threaded worker processes, loopback only, no
    dashboard) lives until the interpreter exits, as the compat suite's own
    dask leg's does; each call returns a new executor on it.
    """
    global _dask_client  # noqa: PLW0603 - the one cluster of this process
    if _dask_client is None:
        import atexit

        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
        _dask_client = Client(cluster)
        atexit.register(cluster.close)
        atexit.register(_dask_client.close)
    return _dask_client.get_executor(pure=False)
