#!/usr/bin/env python3
"""Run CPython's own concurrent.futures test suite against minipool (or the stdlib).

Usage::

    python scripts/cpython_suite.py                       # this Python, minipool
    python scripts/cpython_suite.py --impl stdlib         # the same tests, the stdlib
    python scripts/cpython_suite.py --python ~/.pyenv/versions/3.9.18/bin/python \\
        --python ~/.pyenv/versions/3.13.0/bin/python      # one table per Python
    python scripts/cpython_suite.py -k Deadlock -v        # some tests, with their output
    python scripts/cpython_suite.py --list                # the tests and their classes

For each Python:

1. **Find the suite.** CPython ships it with the interpreter:
   ``test/test_concurrent_futures.py`` (3.9-3.11) or the package
   ``test/test_concurrent_futures/`` (3.12+), beside the stdlib. An interpreter
   built without it (pyenv's 3.11) gets Debian's ``libpython3.X-testsuite``
   package instead, fetched with ``apt-get download`` and unpacked with
   ``dpkg-deb -x`` into a cache directory (``$XDG_CACHE_HOME/minipool``, else
   ``~/.cache/minipool``), never into the repository. Where neither exists the
   Python is skipped, with the reason (exit status 3 if no Python had a suite).
2. **Point it at the implementation.** The suite is copied to a temporary
   directory as ``cpython_cf_tests``, beside ``cpython_suite_shim.py``, and
   ``REWRITES`` turn its imports of ``concurrent.futures`` into imports from the
   shim, which hands out minipool's names or the stdlib's
   (``$CPYTHON_SUITE_IMPL``). The same rewrites serve both implementations: the
   stdlib passing every applicable test proves them sound.
3. **Classify every test** (``cpython_suite_classes.py``): *not applicable*
   when its code reads private attributes (a child process reads each test's
   source and names them; a test whose reads the table does not cover is an
   error), *known difference* (minipool only: a strict expected failure whose
   reason is an entry of docs/differences.md), else it must pass.
4. **Run each test alone**: a process of its own (its own process group), with
   a timeout, ``--jobs`` at a time. A hang fails that one test; the process
   group is killed. A test that passes but whose interpreter then hangs or
   exits with an error fails too.
5. **Print one table per Python** -- passed / known difference / not
   applicable / skipped (by CPython's test itself) / failed -- then every
   failure with its traceback's last lines. Exit status 1 on any unexplained
   failure (a failure, or a known difference that passed).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import cpython_suite_classes as classes

REPO = Path(__file__).resolve().parent.parent
SHIM = Path(__file__).resolve().parent / "cpython_suite_shim.py"
TESTS_PACKAGE = "cpython_cf_tests"
SUITE_MISSING = 3  # exit status when no requested Python has the suite
MISSING_REMEMBERED = 24 * 3600.0  # seconds: how long "apt has no such package" is believed
DEFAULT_TIMEOUT = 120.0  # seconds per test; CPython's own deadlock check gives up after 30
EXIT_GRACE = 30.0  # seconds from a test's end to its process's exit (module cleanup, atexit)

# (what, regular expression, replacement): applied in this order to every file
# of the suite. Each must match somewhere in the suite (else the suite changed
# and the runner must be looked at again); after them no import of
# concurrent.futures may be left.
REWRITES = [
    ("the package import", r"\bfrom concurrent import futures\b",
     "from cpython_suite_shim import futures"),
    ("imports of names, in the tests and in their child processes' code",
     r"\bfrom concurrent\.futures(?:\.\w+)? import\b", "from cpython_suite_shim import"),
    ("the child processes' import of the tests' helpers",
     r"\btest\.test_concurrent_futures\b", TESTS_PACKAGE),
    ("the child processes' environment",
     r"\bfrom test\.support\.script_helper import assert_python_ok\b",
     "from cpython_suite_shim import assert_python_ok"),
    ("the fixture futures, built through the public API",
     r"^def create_future\(",
     "from cpython_suite_shim import create_future  # noqa\n\n\ndef _cpython_create_future("),
]
UNREWRITTEN_IMPORT = re.compile(r"^\s*(from concurrent\b|import concurrent\b)", re.MULTILINE)


class SuiteMissing(Exception):
    """This Python has no test_concurrent_futures to run."""


@dataclass
class Suite:
    python: str
    version: str  # "3.11.7"
    path: Path  # the test file or package
    origin: str  # where it came from


@dataclass
class Result:
    key: str  # Class.test_method
    test_id: str  # what unittest runs
    outcome: str  # passed, known difference, not applicable, skipped, failed
    why: str = ""  # the reason (n/a, known difference, skip) or the failure's gist
    details: str = ""  # a failure's traceback and output
    seconds: float = 0.0


@dataclass
class Run:
    suite: Suite
    impl: str
    implementation: str = ""
    seconds: float = 0.0
    results: list[Result] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(result.outcome == outcome for result in self.results)


OUTCOMES = ["passed", "known difference", "not applicable", "skipped", "failed"]


# ---------------------------------------------------------------------------
# 1. Find the suite.


def python_version(python: str) -> tuple[str, Path]:
    code = "import sys, sysconfig; print('%d.%d.%d' % sys.version_info[:3]); " \
           "print(sysconfig.get_paths()['stdlib'])"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    version, stdlib = out.split("\n")[:2]
    return version, Path(stdlib)


def find_suite(python: str, cache: Path) -> Suite:
    version, stdlib = python_version(python)
    for candidate in (stdlib / "test" / "test_concurrent_futures",
                      stdlib / "test" / "test_concurrent_futures.py"):
        if candidate.exists():
            return Suite(python, version, candidate, f"{candidate}")
    minor = ".".join(version.split(".")[:2])
    path, origin = debian_suite(minor, cache)
    return Suite(python, version, path, origin)


def debian_suite(minor: str, cache: Path) -> tuple[Path, str]:
    """Debian's copy of CPython *minor*'s test suite, fetched once into *cache*."""
    package = f"libpython{minor}-testsuite"
    where = cache / package
    found = _unpacked_suite(where, minor)
    if found is None:
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            raise SuiteMissing(f"the interpreter ships no test_concurrent_futures and this "
                               f"machine has no apt-get to fetch Debian's {package}")
        missing = SuiteMissing(f"the interpreter ships no test_concurrent_futures and apt "
                               f"has no {package} (`apt-cache policy {package}`)")
        asked = where / "apt-has-none"
        if asked.exists() and time.time() - asked.stat().st_mtime < MISSING_REMEMBERED:
            raise missing
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir(parents=True)
        if not _apt_download(package, where):
            asked.touch()  # do not ask apt again (and refresh its lists) for a day
            raise missing
        (deb,) = where.glob("*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(where / "root")], check=True)
        found = _unpacked_suite(where, minor)
        if found is None:
            raise SuiteMissing(f"Debian's {package} has no test_concurrent_futures")
    (deb,) = where.glob("*.deb")
    return found, f"Debian's {deb.name}"


def _unpacked_suite(where: Path, minor: str) -> Optional[Path]:
    test = where / "root" / "usr" / "lib" / f"python{minor}" / "test"
    for candidate in (test / "test_concurrent_futures", test / "test_concurrent_futures.py"):
        if candidate.exists():
            return candidate
    return None


def _apt_download(package: str, where: Path) -> bool:
    def download() -> bool:
        return subprocess.run(["apt-get", "download", package], cwd=where,
                              capture_output=True).returncode == 0
    if download():
        return True
    # The package lists may be missing (a fresh container): refresh them once.
    subprocess.run(["apt-get", "update"], capture_output=True)
    return download()


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "minipool" / "cpython-suite"


# ---------------------------------------------------------------------------
# 2. Point it at the implementation.


def prepare(suite: Suite, workdir: Path) -> None:
    """Copy *suite* into *workdir* as TESTS_PACKAGE, with REWRITES applied."""
    if suite.path.is_dir():
        target = workdir / TESTS_PACKAGE
        shutil.copytree(suite.path, target, ignore=shutil.ignore_patterns("__pycache__"))
        files = sorted(target.glob("*.py"))
    else:
        files = [workdir / f"{TESTS_PACKAGE}.py"]
        shutil.copyfile(suite.path, files[0])
    shutil.copyfile(SHIM, workdir / SHIM.name)
    matched = dict.fromkeys((what for what, _, _ in REWRITES), 0)
    for path in files:
        text = path.read_text(encoding="utf-8")
        for what, pattern, replacement in REWRITES:
            text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
            matched[what] += count
        left = UNREWRITTEN_IMPORT.search(text)
        if left:
            raise RuntimeError(f"{path.name}: an import of concurrent.futures that no rewrite "
                               f"covers: {text[left.start():].splitlines()[0].strip()!r}")
        path.write_text(text, encoding="utf-8")
    unmatched = [what for what, count in matched.items() if count == 0]
    if unmatched:
        raise RuntimeError(f"{suite.path}: rewrites that match nothing (has the suite "
                           f"changed?): {unmatched}")


def child_environment(workdir: Path, impl: str) -> dict[str, str]:
    env = dict(os.environ)
    # The rewritten tests and the shim first, then this checkout's minipool.
    path = [str(workdir), str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["CPYTHON_SUITE_IMPL"] = impl
    env.pop("PYTHONSAFEPATH", None)
    return env


CHILD = "import sys, cpython_suite_shim; cpython_suite_shim.main(sys.argv[1:])"


# ---------------------------------------------------------------------------
# 3. Classify.


def list_tests(suite: Suite, workdir: Path, env: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(test id, private reads of its code) for every test of the suite."""
    proc = subprocess.run([suite.python, "-c", CHILD, "list"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"listing the tests failed:\n{proc.stdout}\n{proc.stderr}")
    return [(entry["id"], entry["reads"]) for entry in map(json.loads, proc.stdout.splitlines())]


def key_of(test_id: str) -> str:
    """``Class.test_method``: the same on every Python (3.12+ adds a module)."""
    return ".".join(test_id.split(".")[-2:])


USED_PATTERNS: set[str] = set()  # the table entries that matched some test


def _matching(table: dict[str, str], key: str) -> Optional[str]:
    for pattern, value in table.items():
        if fnmatch.fnmatchcase(key, pattern):
            USED_PATTERNS.add(pattern)
            return value
    return None


def selected(key: str, select: Optional[str]) -> bool:
    if not select:
        return True
    if any(wildcard in select for wildcard in "*?["):
        return fnmatch.fnmatchcase(key, select)
    return select in key


def _attribute_of(read: str) -> str:
    """``"Class.test_x: executor._processes"`` -> ``"_processes"``."""
    expression = read.split(": ", 1)[-1]
    return expression.rsplit(".", 1)[-1]


def classify(key: str, reads: list[str], impl: str) -> tuple[str, str]:
    """("run", "") or ("not applicable", why) or ("known difference", why) or ("failed", why)."""
    unexplained = [read for read in reads
                   if _matching(classes.ALLOWED_READS, f"{key} | {read}") is None]
    not_applicable = _matching(classes.NOT_APPLICABLE, key)
    if not_applicable is not None:
        if not unexplained:
            return "failed", (f"classified not applicable ({not_applicable}), but its code "
                              f"reads no private attribute that the table does not allow")
        unnamed = [read for read in unexplained if _attribute_of(read) not in not_applicable]
        if unnamed:
            return "failed", f"not applicable, but the reason does not name {unnamed}"
        return "not applicable", not_applicable
    if unexplained:
        return "failed", (f"reads {unexplained}: classify it in "
                          f"scripts/cpython_suite_classes.py")
    difference = _matching(classes.KNOWN_DIFFERENCES, key)
    if difference is not None and impl == "minipool":
        return "known difference", difference
    return "run", ""


# ---------------------------------------------------------------------------
# 4. Run each test alone.


@dataclass
class Outcome:
    """What one test's process reported: outcome is pass, skip or fail."""

    outcome: str
    gist: str
    details: str
    seconds: float
    implementation: str = ""  # the file the test imported the implementation from


def run_test(suite: Suite, workdir: Path, env: dict[str, str], test_id: str,
             timeout: float) -> Outcome:
    """Run one test in a process (group) of its own; kill it at the deadline."""
    with tempfile.NamedTemporaryFile("w+", suffix=".log", dir=workdir) as log, \
            tempfile.TemporaryDirectory(dir=workdir) as scratch:
        result_path = Path(scratch) / "result.json"
        started = time.monotonic()
        proc = subprocess.Popen(
            [suite.python, "-X", "faulthandler", "-c", CHILD, "run", test_id, str(result_path),
             str(timeout), str(EXIT_GRACE)],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        status = _wait(proc, started + timeout, result_path)
        seconds = time.monotonic() - started
        _kill_group(proc)  # what the test left behind, or the hung test itself
        log.seek(0)
        output = log.read()
        reported = json.loads(result_path.read_text()) if result_path.exists() else None
    if reported is None:
        why = (f"hung: killed after {seconds:.0f} s" if status is None
               else f"the test process died (exit status {status})")
        return Outcome("fail", why, output, seconds)
    outcome = _judge(reported, status)
    outcome.details = (f"{reported['details']}\n\n--- output ---\n{output}"
                       if outcome.outcome == "fail" else "")
    outcome.seconds = seconds
    return outcome


def _judge(reported: dict[str, str], status: Optional[int]) -> Outcome:
    """The outcome of a test that reported: its own, unless what came after it failed."""
    outcome, details = reported["outcome"], reported["details"]
    after = ""
    if status is None:  # its module's cleanup or the interpreter's exit hung
        after = f"then hung after the test (killed {EXIT_GRACE:.0f} s later)"
    elif reported["stage"] != "done" or status != 0:
        after = f"then its process exited with status {status} after the test"
    gist_ = gist(details) if outcome == "fail" else details
    if after:
        gist_ = f"{gist_}; {after}" if outcome == "fail" else f"{outcome}, {after}"
        outcome = "fail"
    return Outcome(outcome, gist_, "", 0.0, reported["implementation"])


def _wait(proc: subprocess.Popen[bytes], deadline: float, result_path: Path) -> Optional[int]:
    """The exit status; None if *deadline* passed first, or EXIT_GRACE after the test's end."""
    test_over_at: Optional[float] = None
    while True:
        try:
            return proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if test_over_at is None and result_path.exists():
            test_over_at = now
        if now > deadline or (test_over_at is not None and now > test_over_at + EXIT_GRACE):
            return None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def gist(details: str) -> str:
    """A failure's last line: what was raised or asserted."""
    lines = [line for line in details.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "failed"
    if "in _fail_on_deadlock" in details:  # CPython's deadlock check, in ExecutorDeadlockTest
        return f"deadlock: the future was not done after the test's TIMEOUT ({last})"
    return last


def run_suite(suite: Suite, args: argparse.Namespace) -> Run:
    """Every test of *suite*, each classified, the applicable ones run (args: see main)."""
    impl, select = args.impl, args.select
    run = Run(suite, impl)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cpython-suite-") as tmp:
        workdir = Path(tmp)
        prepare(suite, workdir)
        env = child_environment(workdir, impl)
        tests = list_tests(suite, workdir, env)
        keys = [key_of(test_id) for test_id, _ in tests]
        duplicates = {key for key in keys if keys.count(key) > 1}
        if duplicates:
            raise RuntimeError(f"test keys that are not unique: {sorted(duplicates)}")
        to_run: list[tuple[str, str]] = []
        for (test_id, reads), key in zip(tests, keys):
            if not selected(key, select):
                continue
            decision, why = classify(key, reads, impl)
            if decision in ("not applicable", "failed"):
                run.results.append(Result(key, test_id, decision, why))
            else:
                to_run.append((test_id, decision))
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            jobs_of = {pool.submit(run_test, suite, workdir, env, test_id, args.timeout):
                       (test_id, decision) for test_id, decision in to_run}
            for job in concurrent.futures.as_completed(jobs_of):
                test_id, decision = jobs_of[job]
                outcome = job.result()
                result = _result(key_of(test_id), test_id, decision, outcome)
                run.results.append(result)
                run.implementation = outcome.implementation or run.implementation
                _report_progress(result, args.verbose)
    run.seconds = time.monotonic() - started
    run.results.sort(key=lambda result: result.key)
    return run


def _result(key: str, test_id: str, decision: str, outcome: Outcome) -> Result:
    seconds = outcome.seconds
    if decision == "known difference":
        why = _matching(classes.KNOWN_DIFFERENCES, key) or ""
        if outcome.outcome == "fail":
            return Result(key, test_id, "known difference", why, outcome.details, seconds)
        return Result(key, test_id, "failed", f"a known difference that did not fail "
                      f"({outcome.outcome}): remove it from KNOWN_DIFFERENCES ({why})",
                      outcome.details, seconds)
    if outcome.outcome == "pass":
        return Result(key, test_id, "passed", "", "", seconds)
    if outcome.outcome == "skip":
        return Result(key, test_id, "skipped", outcome.gist, "", seconds)
    return Result(key, test_id, "failed", outcome.gist, outcome.details, seconds)


def _report_progress(result: Result, verbose: bool) -> None:
    if verbose or result.outcome == "failed":
        print(f"  {result.outcome:>16}  {result.seconds:5.1f} s  {result.key}"
              + (f"  -- {result.why}" if result.why else ""), flush=True)


# ---------------------------------------------------------------------------
# 5. Report.


def table(run: Run) -> str:
    suite = run.suite
    lines = [f"Python {suite.version}, CPython's test_concurrent_futures from {suite.origin}",
             f"against {run.impl} ({run.implementation}): {len(run.results)} tests, "
             f"{run.seconds / 60:.1f} min", "",
             "| outcome | tests |", "|---|---|"]
    lines += [f"| {outcome} | {run.count(outcome)} |" for outcome in OUTCOMES]
    return "\n".join(lines)


def summary(runs: list[Run]) -> str:
    lines = ["| Python | implementation | " + " | ".join(OUTCOMES) + " | minutes |",
             "|---" * (len(OUTCOMES) + 3) + "|"]
    for run in runs:
        counts = " | ".join(str(run.count(outcome)) for outcome in OUTCOMES)
        lines.append(f"| {run.suite.version} | {run.impl} | {counts} | {run.seconds / 60:.1f} |")
    return "\n".join(lines)


def failures(run: Run, verbose: bool) -> str:
    lines = []
    for result in run.results:
        if result.outcome != "failed":
            continue
        lines.append(f"FAILED {result.key} ({result.test_id}): {result.why}")
        if result.details:
            tail = result.details.strip().splitlines()
            shown = tail if verbose else tail[-25:]
            lines += ["    " + line for line in shown]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impl", default="minipool",
                        help="minipool (default), stdlib, or any module with concurrent.futures' "
                             "names, importable from $PYTHONPATH")
    parser.add_argument("--python", action="append",
                        help="an interpreter to run the suite on (repeatable; default: this one)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="tests at a time (default 2)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds per test (default {DEFAULT_TIMEOUT:.0f})")
    parser.add_argument("-k", dest="select",
                        help="only tests whose Class.test_name contains this (or matches it, "
                             "if it has wildcards: '*Test.test_map')")
    parser.add_argument("--cache", type=Path, default=default_cache(),
                        help="where fetched test suites are kept (default %(default)s)")
    parser.add_argument("--json", type=Path, help="write every result to this file")
    parser.add_argument("--list", action="store_true",
                        help="list the tests, their classes and private reads; run nothing")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)

    runs: list[Run] = []
    missing: list[str] = []
    for python in args.python or [sys.executable]:
        try:
            suite = find_suite(python, args.cache)
        except SuiteMissing as why:
            print(f"{python}: skipped: {why}", flush=True)
            missing.append(python)
            continue
        if args.list:
            list_only(suite, args.impl, args.select)
            continue
        print(f"== Python {suite.version} ({python}), {args.impl}: CPython's suite from "
              f"{suite.origin}", flush=True)
        run = run_suite(suite, args)
        runs.append(run)
        print(table(run))
        report = failures(run, args.verbose)
        if report:
            print(report)
        print(flush=True)
    if args.verbose and not args.select:
        unused = [pattern for table in (classes.NOT_APPLICABLE, classes.ALLOWED_READS,
                                        classes.KNOWN_DIFFERENCES)
                  for pattern in table if pattern not in USED_PATTERNS]
        print(f"table entries that matched no test of these Pythons: {unused}")
    if len(runs) > 1:
        print(summary(runs))
    if args.json:
        args.json.write_text(json.dumps([_as_json(run) for run in runs], indent=1))
    if not runs and missing and not args.list:
        return SUITE_MISSING
    return 1 if any(run.count("failed") for run in runs) else 0


def list_only(suite: Suite, impl: str, select: Optional[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="cpython-suite-") as tmp:
        workdir = Path(tmp)
        prepare(suite, workdir)
        for test_id, reads in list_tests(suite, workdir, child_environment(workdir, impl)):
            key = key_of(test_id)
            if not selected(key, select):
                continue
            decision, why = classify(key, reads, impl)
            print(f"{key}\t{decision}\t{why}\t{' '.join(reads)}")


def _as_json(run: Run) -> dict[str, object]:
    return {"python": run.suite.python, "version": run.suite.version, "origin": run.suite.origin,
            "impl": run.impl, "implementation": run.implementation, "seconds": run.seconds,
            "results": [asdict(result) for result in run.results]}


if __name__ == "__main__":
    sys.exit(main())
