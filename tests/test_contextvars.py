"""configure(copy_context=True): thread-pool tasks run in a copy of the submitter's context."""

from __future__ import annotations

import contextvars

import pytest

import minipool

pytestmark = pytest.mark.minipool_only

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST_ID", default="unset")


def _read_then_set(new: str) -> str:
    seen = REQUEST_ID.get()
    REQUEST_ID.set(new)
    return seen


@pytest.mark.timeout(60)
def test_a_task_sees_the_submitters_context_variables() -> None:
    token = REQUEST_ID.set("request-42")
    try:
        with minipool.MiniThreadPool(2).configure(copy_context=True) as pool:
            assert pool.submit(REQUEST_ID.get).result(timeout=50) == "request-42"
    finally:
        REQUEST_ID.reset(token)


@pytest.mark.timeout(60)
def test_a_task_sees_the_context_as_it_was_at_submit() -> None:
    token = REQUEST_ID.set("at submit")
    try:
        with minipool.MiniThreadPool(1).configure(copy_context=True) as pool:
            future = pool.submit(REQUEST_ID.get)
            REQUEST_ID.set("changed later")
            assert future.result(timeout=50) == "at submit"
    finally:
        REQUEST_ID.reset(token)


@pytest.mark.timeout(60)
def test_a_tasks_changes_stay_in_its_own_copy() -> None:
    with minipool.MiniThreadPool(1).configure(copy_context=True) as pool:
        assert pool.submit(_read_then_set, "task 1").result(timeout=50) == "unset"
        assert pool.submit(_read_then_set, "task 2").result(timeout=50) == "unset"  # same thread
    assert REQUEST_ID.get() == "unset"


@pytest.mark.timeout(60)
def test_without_copy_context_a_task_does_not_see_them_as_in_the_stdlib() -> None:
    token = REQUEST_ID.set("request-42")
    try:
        with minipool.MiniThreadPool(1) as pool:
            assert pool.submit(REQUEST_ID.get).result(timeout=50) == "unset"
    finally:
        REQUEST_ID.reset(token)
