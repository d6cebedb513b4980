"""``python -m minipool [demo [N ...]]``.

With no argument: run README's ten-line example. With ``demo``: run the
lessons of a pool (see ``minipool/demo.py``); numbers pick lessons.
"""

from __future__ import annotations

import sys


def square(n: int) -> int:
    return n * n


def example() -> int:
    import minipool as futures

    with futures.ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [pool.submit(square, n) for n in range(10)]  # returns at once
        for job in futures.as_completed(jobs):  # in finishing order
            print(job.result())
        print(list(pool.map(square, range(10))))  # in input order
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        return example()
    if argv[0] == "demo":
        from .demo import run_demo

        return run_demo([int(n) for n in argv[1:]])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
