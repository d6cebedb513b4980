"""The linters, as tests: ruff on everything, mypy --strict on the code, and one
rule about the source that no linter knows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)

# One check of the source is enough, and it is the same on every Python; it
# runs where the whole lint toolchain is installed.
on_lint_python = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="mypy is installed only on Python >= 3.11 (setup.cfg's test extra pins it "
           "there); the source is the same on every Python, so ruff and mypy run on 3.11+")


def run_tool(*args):
    return subprocess.run([os.path.join(VENV_BIN, args[0]), *args[1:]], cwd=REPO,
                          capture_output=True, text=True, timeout=240)


@on_lint_python
@pytest.mark.timeout(120)
def test_ruff_finds_nothing():
    proc = run_tool("ruff", "check", ".")  # the code, the tests, benchmarks/ and scripts/
    assert proc.returncode == 0, proc.stdout + proc.stderr


@on_lint_python
@pytest.mark.timeout(300)
def test_mypy_strict_finds_nothing():
    proc = run_tool("mypy", "minipool")  # strict: from setup.cfg's [mypy] section
    assert proc.returncode == 0, proc.stdout + proc.stderr


@on_lint_python
@pytest.mark.timeout(300)
def test_users_code_type_checks_as_with_concurrent_futures():
    proc = run_tool("mypy", "--strict", "tests/typing_usage.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _timed_gets(path):
    """Lines in *path* that call some ``.get(...)`` with ``timeout=``/``block=``."""
    import ast
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and any(kw.arg in ("timeout", "block") for kw in node.keywords)]


@pytest.mark.timeout(30)
def test_library_never_calls_get_with_a_timeout():
    # On 3.9 and 3.10, queue.SimpleQueue.get(timeout=...) can block forever on
    # an empty queue (CPython bug, fixed in 3.11): the thread pool's
    # work_queue must only be read with get() or get_nowait().
    package = os.path.join(REPO, "minipool")
    found = {name: lines for name in sorted(os.listdir(package)) if name.endswith(".py")
             if (lines := _timed_gets(os.path.join(package, name)))}
    assert not found, f"timed .get() calls (file: lines): {found}"
