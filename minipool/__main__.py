"""``python -m minipool [COMMAND [ARGS ...]]``.

With no command: run README's ten-line example. Each command lives in its
own module, named in ``COMMANDS``, which has a ``main(argv) -> int``:
``demo`` (the lessons of a pool, running), ``bench`` (minipool and the
stdlib side by side) and ``conformance`` (the compat suite against any
executor).
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "demo": "minipool.demo",
    "bench": "minipool._bench",
    "conformance": "minipool._conformance",
}


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
    module_name = COMMANDS.get(argv[0])
    if module_name is None:
        print(__doc__)
        return 2
    command_main = importlib.import_module(module_name).main
    return int(command_main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
