"""Not a test module: a user's code, type-checked by test_static_checks.py.

mypy --strict must accept it, and each assert_type pins what a user's type
checker sees, as it would with concurrent.futures.
"""

from __future__ import annotations

from typing import Iterator

from typing_extensions import assert_type

import minipool


def parse(text: str) -> int:
    return int(text)


def use_the_public_api() -> None:
    with minipool.ThreadPoolExecutor(max_workers=2) as pool:
        assert_type(pool, minipool.MiniThreadPool)
        future = pool.submit(parse, "3")
        assert_type(future, minipool.Future[int])
        assert_type(future.result(timeout=1.0), int)
        assert_type(pool.map(parse, ["1", "2"], buffersize=1), Iterator[int])
        done, not_done = minipool.wait([future], return_when=minipool.FIRST_COMPLETED)
        for finished in minipool.as_completed([future], timeout=5):
            assert_type(finished.result(), int)
    with minipool.ProcessPoolExecutor(max_workers=1) as processes:
        assert_type(processes.submit(parse, "4"), minipool.Future[int])
    explicit: minipool.Future[str] = minipool.Future()
    explicit.set_result("ok")
    explicit.add_done_callback(lambda f: print(f.result().upper()))
