"""``python -m minipool [COMMAND [ARGS ...]]``.

With no command: run README's ten-line example. Each command lives in its
own module, named in ``COMMANDS``, which has a ``main(argv) -> int``;
``SUMMARIES`` gives each its one line of ``--help``. ``--help`` (or ``-h``)
prints the commands; ``python -m minipool COMMAND --help`` prints a
command's own options (its module's argparse parser).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TextIO

COMMANDS = {
    "demo": "minipool.demo",
    "bench": "minipool._bench",
    "conformance": "minipool._conformance",
}

SUMMARIES = {
    "demo": "the tutorial's lessons of a pool, run, drawn and timed",
    "bench": "minipool and the stdlib's pools side by side",
    "conformance": "run minipool's compat suite against any executor (MODULE:FACTORY)",
}

PROG = "python -m minipool"


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


def _help_parser() -> argparse.ArgumentParser:
    """A parser used only to print help: each command parses its own arguments."""
    width = max(map(len, COMMANDS)) + 2
    commands = "\n".join(f"  {name:<{width}}{SUMMARIES.get(name, '')}" for name in COMMANDS)
    return argparse.ArgumentParser(
        prog=PROG, usage=f"{PROG} [-h] [COMMAND [ARGS ...]]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="minipool: a small, readable, from-scratch concurrent.futures.\n"
                    "With no command: run README's example (a thread pool squares 0-9).\n\n"
                    f"commands:\n{commands}",
        epilog=f"Run '{PROG} COMMAND --help' for a command's options.")


def _print_help(file: TextIO) -> None:
    _help_parser().print_help(file)


def main(argv: list[str]) -> int:
    """Run a command; exit status 0 for help, 2 for an unknown command."""
    if not argv:
        return example()
    if argv[0] in ("-h", "--help"):
        _print_help(sys.stdout)
        return 0
    module_name = COMMANDS.get(argv[0])
    if module_name is None:
        _print_help(sys.stderr)
        print(f"{PROG}: error: unknown command {argv[0]!r} "
              f"(choose from {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    command_main = importlib.import_module(module_name).main
    return int(command_main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
