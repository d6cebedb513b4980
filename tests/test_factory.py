"""make_executor(spec) and $MINIPOOL_EXECUTOR: one switch from laptop to cluster."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import test_docs

import minipool
from minipool.conformance.plugin import HAS_DASK

pytestmark = pytest.mark.timeout(60)
needs_dask = pytest.mark.skipif(not HAS_DASK, reason="distributed is installed on CI's "
                                "first Python only (setup.cfg's test extra)")


def square(n: int) -> int:
    return n * n


@pytest.fixture(autouse=True)
def no_executor_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINIPOOL_EXECUTOR", raising=False)


def test_threads_spec_gives_a_thread_pool() -> None:
    with minipool.make_executor("threads:2") as pool:
        assert isinstance(pool, minipool.MiniThreadPool)
        assert list(pool.map(square, range(4))) == [0, 1, 4, 9]


def test_processes_spec_gives_a_process_pool() -> None:
    with minipool.make_executor("processes:1") as pool:
        assert isinstance(pool, minipool.MiniProcessPool)
        assert pool.submit(os.getpid).result(timeout=30) != os.getpid()


def test_the_default_spec_is_threads() -> None:
    with minipool.make_executor() as pool:
        assert isinstance(pool, minipool.MiniThreadPool)


def test_the_environment_variable_overrides_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIPOOL_EXECUTOR", "processes:1")
    with minipool.make_executor("threads:2") as pool:
        assert isinstance(pool, minipool.MiniProcessPool)


def test_an_empty_environment_variable_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIPOOL_EXECUTOR", " ")
    with minipool.make_executor("threads:1") as pool:
        assert isinstance(pool, minipool.MiniThreadPool)


@pytest.mark.parametrize("spec", ["thread", "gpu:4", "dask", ""])
def test_an_unknown_spec_is_named_with_the_forms_that_work(spec: str) -> None:
    with pytest.raises(ValueError, match=f"{spec!r} names no executor.*threads"):
        minipool.make_executor(spec)


def test_a_bad_spec_in_the_environment_says_it_came_from_there(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIPOOL_EXECUTOR", "cluster")
    with pytest.raises(ValueError, match=r"\$MINIPOOL_EXECUTOR 'cluster'"):
        minipool.make_executor("threads")


@pytest.mark.parametrize("spec", ["threads:0", "processes:-1", "threads:two", "dask:local:0"])
def test_a_worker_count_must_be_a_positive_integer(spec: str) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        minipool.make_executor(spec)


@pytest.mark.parametrize("spec", ["dask:local", "tcp://127.0.0.1:8786"])
def test_dask_without_distributed_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    with pytest.raises(ImportError, match=r"pip install 'minipool\[dask\]'"):
        minipool.make_executor(spec)


@needs_dask
def test_a_scheduler_address_gives_dasks_executor_and_leaves_the_cluster_up(
        dask_client: object) -> None:
    address = dask_client.scheduler.address  # type: ignore[attr-defined]
    with minipool.make_executor(address) as pool:
        assert pool.submit(square, 7).result(timeout=30) == 49
        assert pool.submit(os.getpid).result(timeout=30) != os.getpid()
    # Only the executor's own client closed: the cluster still serves.
    assert dask_client.submit(square, 3).result(timeout=30) == 9  # type: ignore[attr-defined]


@needs_dask
@pytest.mark.timeout(120)
def test_scaling_example_runs_on_a_local_dask_cluster() -> None:
    code = dict(test_docs._blocks())["scaling.md#1"]
    env = dict(os.environ, MINIPOOL_EXECUTOR="dask:local:2")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=100, cwd=test_docs.ROOT, env=env)
    assert run.returncode == 0, run.stderr
    assert "computed on dask:local:2" in run.stdout
