#!/usr/bin/env python3
"""Proof that the property suite bites: inject known bugs, one at a time.

For each mutation below, this script copies the repository's ``minipool/``,
``tests/``, ``setup.cfg`` and ``conftest.py`` to a fresh temporary directory,
applies the mutation there (an exact text replacement, which fails loudly if
the target text is not found exactly once, so a mutation cannot silently go
stale), and runs the property suite (``tests/test_prop_*.py`` and
``minipool/conformance/test_prop_executor.py``) in that directory under the
``ci`` profile with a fixed seed. pytest is started from the temporary
directory, so ``import minipool`` finds the mutated copy (the script checks
that it does). A mutation is *caught* if the suite fails.

First the unmutated copy must pass: otherwise every "catch" would mean nothing.

Usage::

    .venv/bin/python scripts/mutate.py             # all mutations, markdown table
    .venv/bin/python scripts/mutate.py -k map      # those whose name contains "map"
    .venv/bin/python scripts/mutate.py --list      # names only

Exit status 0 only if the baseline passes and every mutation is caught.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parent.parent
PROPERTY_TESTS = ["tests/test_prop_future.py", "tests/test_prop_wait.py",
                  "minipool/conformance/test_prop_executor.py"]
SEED = "20240611"
RUN_TIMEOUT = 900  # seconds per mutation: a hang counts as a catch only if pytest-timeout saw it


@dataclass(frozen=True)
class Mutation:
    name: str
    description: str
    file: str  # relative to minipool/
    old: str
    new: str


M = Mutation
MUTATIONS = [
    M("callback-twice", "set_result runs the done-callbacks twice",
      "_future.py",
      "            self._result = result\n            for waiter in self._waiters:\n"
      "                waiter.add_result(self)\n            callbacks = self._take_callbacks()\n"
      "        self._run_callbacks(callbacks)",
      "            self._result = result\n            for waiter in self._waiters:\n"
      "                waiter.add_result(self)\n            callbacks = self._take_callbacks()\n"
      "        self._run_callbacks(callbacks)\n        self._run_callbacks(callbacks)"),
    M("callback-skipped-on-cancel", "cancel() does not run the done-callbacks",
      "_future.py",
      "            if not self._move_to(FutureState.CANCELLED):\n"
      "                return False  # running or finished: too late\n"
      "            callbacks = self._take_callbacks()",
      "            if not self._move_to(FutureState.CANCELLED):\n"
      "                return False  # running or finished: too late\n"
      "            callbacks = []"),
    M("callbacks-reversed", "done-callbacks run in reverse order of addition",
      "_future.py",
      "        for callback in callbacks:\n            self._run_one_callback(callback)",
      "        for callback in reversed(callbacks):\n            self._run_one_callback(callback)"),
    M("late-callback-dropped", "add_done_callback on a done future never calls it",
      "_future.py",
      "                self._callbacks.append(fn)\n                return\n"
      "        self._run_one_callback(fn)",
      "                self._callbacks.append(fn)\n                return"),
    M("callback-error-escapes", "an exception in a callback escapes instead of being logged",
      "_future.py",
      "        except Exception:\n            LOGGER.exception(",
      "        except ArithmeticError:\n            LOGGER.exception("),
    M("cancel-running", "cancel() succeeds on a running future",
      "_future.py",
      "    _S.RUNNING: frozenset({_S.FINISHED}),",
      "    _S.RUNNING: frozenset({_S.FINISHED, _S.CANCELLED}),"),
    M("set-result-twice", "set_result on a finished future is accepted",
      "_future.py",
      "    _S.FINISHED: frozenset(),",
      "    _S.FINISHED: frozenset({_S.FINISHED}),"),
    M("cancelled-not-done", "done() is False for a cancelled, not yet notified future",
      "_future.py",
      "_DONE_STATES = _CANCELLED_STATES | {_S.FINISHED}",
      "_DONE_STATES = frozenset({_S.CANCELLED_AND_NOTIFIED, _S.FINISHED})"),
    M("recancel-false", "cancel() of an already cancelled future returns False",
      "_future.py",
      "            if self._state in _CANCELLED_STATES:\n                return True",
      "            if self._state in _CANCELLED_STATES:\n                return False"),
    M("running-when-finished", "running() is also True once finished",
      "_future.py",
      "            return self._state is FutureState.RUNNING",
      "            return self._state in (FutureState.RUNNING, FutureState.FINISHED)"),
    M("exception-lost", "exception() returns None for a failed future",
      "_future.py",
      "                raise CancelledError()\n            return self._exception",
      "                raise CancelledError()\n            return None"),
    M("as-completed-duplicates", "as_completed yields a repeated, already-done future twice",
      "_waiting.py",
      "    fs = set(fs)\n    total = len(fs)\n    already_done = [f for f in fs if f.done()]\n"
      "    pending = fs.difference(already_done)",
      "    fs = list(fs)\n    total = len(fs)\n    already_done = [f for f in fs if f.done()]\n"
      "    pending = set(fs).difference(already_done)"),
    M("first-exception-as-first-completed", "wait(FIRST_EXCEPTION) returns at the first completion",
      "_waiting.py",
      "    if return_when == FIRST_COMPLETED:",
      "    if return_when in (FIRST_COMPLETED, FIRST_EXCEPTION):"),
    M("all-completed-as-first-completed", "wait(ALL_COMPLETED) returns at the first completion",
      "_waiting.py",
      "        return any(_raised(f) for f in done)\n    return False",
      "        return any(_raised(f) for f in done)\n    return bool(done)"),
    M("map-reorders", "map yields the newest result first",
      "_executor.py",
      "    result = _result_or_cancel(in_flight.popleft(), deadline)",
      "    result = _result_or_cancel(in_flight.pop(), deadline)"),
    M("map-buffer-overrun", "map with buffersize submits one call too many",
      "_executor.py",
      "itertools.islice(calls, buffersize)",
      "itertools.islice(calls, buffersize + 1)"),
    M("shutdown-keeps-pending", "thread pool shutdown(cancel_futures=True) runs pending work",
      "thread.py",
      "        self._shared.close(cancel_queued=cancel_futures)",
      "        self._shared.close(cancel_queued=False)"),
    M("submit-after-shutdown", "thread pool accepts submit() after shutdown",
      "thread.py",
      "        if self.closed:\n            raise RuntimeError(",
      "        if self.closed and False:\n            raise RuntimeError("),
    M("process-shutdown-keeps-pending",
      "process pool shutdown(cancel_futures=True) runs pending work",
      "process.py",
      "        self._inbox.close(cancel_pending=cancel_futures)",
      "        self._inbox.close(cancel_pending=False)"),
    M("process-chunk-order", "process pool map(chunksize>1) reverses each chunk's results",
      "_process_map.py",
      "    return [fn(*args) for args in chunk]",
      "    return [fn(*args) for args in chunk][::-1]"),
]


def apply(root: Path, mutation: Mutation) -> None:
    path = root / "minipool" / mutation.file
    text = path.read_text()
    count = text.count(mutation.old)
    if count != 1:
        raise SystemExit(f"mutation {mutation.name}: target text found {count} times in "
                         f"minipool/{mutation.file} (expected exactly 1) -- update the mutation")
    path.write_text(text.replace(mutation.old, mutation.new))


def copy_repo(dest: Path) -> None:
    shutil.copytree(REPO / "minipool", dest / "minipool",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "tests", dest / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "setup.cfg", dest / "setup.cfg")
    shutil.copy(REPO / "conftest.py", dest / "conftest.py")  # loads the suite's plugin


def run_suite(root: Path, python: str, log: Optional[Path] = None
              ) -> tuple[bool, str, float]:
    """Run the property suite in *root*. Returns (passed, what failed, seconds).

    With *log*, pytest's output is written there.
    """
    env = dict(os.environ, HYPOTHESIS_PROFILE="ci", PYTHONDONTWRITEBYTECODE="1")
    env.pop("MINIPOOL_PROP_STATS", None)
    where = subprocess.run([python, "-c", "import minipool; print(minipool.__file__)"],
                           cwd=root, env=env, capture_output=True, text=True, check=True)
    if not where.stdout.strip().startswith(str(root)):
        raise SystemExit(f"the copy imports the wrong minipool: {where.stdout.strip()}")
    command = [python, "-m", "pytest", *PROPERTY_TESTS, "-x", "-q", "-p", "no:cacheprovider",
               "--hypothesis-profile=ci", f"--hypothesis-seed={SEED}"]
    start = time.monotonic()
    try:
        proc = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, "the whole run hung (killed)", time.monotonic() - start
    seconds = time.monotonic() - start
    if log is not None:
        log.write_text(proc.stdout + proc.stderr)
    failed = re.findall(r"^FAILED (\S+)", proc.stdout, re.MULTILINE)
    if proc.returncode == 0:
        return True, "", seconds
    if not failed:
        return False, f"pytest exit {proc.returncode}: {proc.stdout[-300:]}", seconds
    return False, ", ".join(f.split("::")[-1] for f in failed), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="run only mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run pytest with")
    parser.add_argument("--logs", type=Path, help="write each run's pytest output here (a dir)")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.k in m.name]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.description}")
        return 0

    def log(name: str) -> Optional[Path]:
        if args.logs is None:
            return None
        args.logs.mkdir(parents=True, exist_ok=True)
        return args.logs / f"{name}.log"

    # Every target must exist before anything runs.
    with tempfile.TemporaryDirectory(prefix="minipool-mutants-") as tmp:
        for m in chosen:
            check = Path(tmp) / m.name
            copy_repo(check)
            apply(check, m)

    with tempfile.TemporaryDirectory(prefix="minipool-baseline-") as tmp:
        copy_repo(Path(tmp))
        passed, failed, seconds = run_suite(Path(tmp), args.python, log("baseline"))
    print(f"baseline (no mutation): {'passes' if passed else 'FAILS: ' + failed} "
          f"({seconds:.0f} s)", flush=True)
    if not passed:
        return 1

    rows = []
    for m in chosen:
        with tempfile.TemporaryDirectory(prefix=f"minipool-{m.name}-") as tmp:
            copy_repo(Path(tmp))
            apply(Path(tmp), m)
            passed, failed, seconds = run_suite(Path(tmp), args.python, log(m.name))
        rows.append((m, not passed, failed, seconds))
        print(f"  {m.name}: {'caught by ' + failed if not passed else 'NOT CAUGHT'} "
              f"({seconds:.0f} s)", file=sys.stderr, flush=True)

    print()
    print("| # | mutation | injected bug | file | caught | by | time |")
    print("|---|---|---|---|---|---|---|")
    for i, (m, caught, failed, seconds) in enumerate(rows, 1):
        print(f"| {i} | `{m.name}` | {m.description} | `minipool/{m.file}` | "
              f"{'yes' if caught else '**NO**'} | {failed or '-'} | {seconds:.0f} s |")
    missed = [m.name for m, caught, _, _ in rows if not caught]
    print()
    print(f"{len(rows) - len(missed)} of {len(rows)} mutations caught."
          + (f" Missed: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
