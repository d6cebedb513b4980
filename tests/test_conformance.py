"""The conformance kit (``python -m minipool conformance``) tells pass, fail and n/a apart.

It runs the compat suite that ships inside the package (``minipool.conformance``),
so the last tests install minipool (not editable) into a scratch directory and
run the kit from another one, importing that installed copy (they check it).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from typing import Optional

import pytest

import minipool

TESTS = pathlib.Path(__file__).resolve().parent
CHECKOUT = TESTS.parent
# Three tests the kit's executors can pass, and one no executor under test applies to.
FEW = ("map_stops_at_the_shortest or map_over_nothing or submit_passes_positional "
       "or thread_name_prefix")


def conformance(*args: str, cwd: pathlib.Path = TESTS, path: Optional[str] = None,
                **env: str) -> subprocess.CompletedProcess[str]:
    """The kit, run from *cwd* (the tests/ folder: kit_executors is importable there).

    *path* is its PYTHONPATH; by default this process's sys.path, so that it
    imports the same minipool as the tests.
    """
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path) if path is None
                       else path, **env)
    return subprocess.run([sys.executable, "-m", "minipool", "conformance", *args],
                          cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=100)


def row(output: str, test: str) -> list[str]:
    line = next(line for line in output.splitlines()
                if line.startswith(f"| {test} |") or f"::{test} |" in line)
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


@pytest.mark.timeout(120)
def test_kit_passes_a_good_executor_and_fails_a_broken_one() -> None:
    run = conformance("minipool:MiniThreadPool", "kit_executors:broken_map", "-k", FEW)
    assert run.returncode == 1, run.stdout + run.stderr  # the broken one failed
    assert row(run.stdout, "test_map_stops_at_the_shortest_iterable") == ["pass", "FAIL"]
    assert row(run.stdout, "test_submit_passes_positional_and_keyword_arguments") == [
        "pass", "pass"]
    assert row(run.stdout, "test_thread_name_prefix_names_the_workers") == ["n/a", "n/a"]
    assert row(run.stdout, "**total**") == ["3 pass, 0 fail, 1 n/a", "2 pass, 1 fail, 1 n/a"]


@pytest.mark.timeout(120)
def test_kit_finds_no_failure_in_minipools_own_pools() -> None:
    # The whole kit: a test that does not apply to a pool (a process pool's
    # pickling, run against a thread pool) must say n/a, not FAIL.
    run = conformance("minipool:MiniThreadPool", "minipool:MiniProcessPool")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAIL" not in run.stdout and "| **total** |" in run.stdout


@pytest.mark.timeout(120)
def test_kit_finds_no_failure_in_the_stdlibs_pools() -> None:
    # concurrent.futures of this Python is what the kit holds executors to.
    run = conformance("concurrent.futures:ThreadPoolExecutor",
                      "concurrent.futures:ProcessPoolExecutor")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAIL" not in run.stdout and "| **total** |" in run.stdout


@pytest.mark.timeout(30)
def test_kit_says_what_it_expects_of_a_malformed_factory() -> None:
    run = conformance("minipool.MiniThreadPool")
    assert run.returncode == 2
    assert "expected MODULE:FACTORY, got ['minipool.MiniThreadPool']" in run.stderr


@pytest.mark.timeout(60)
def test_kit_properties_adds_the_state_machines_verdict() -> None:
    # The dev profile keeps the run short: a few seconds.
    run = conformance("minipool:MiniThreadPool", "--properties", "-k", "machine",
                      HYPOTHESIS_PROFILE="dev")
    assert run.returncode == 0, run.stdout + run.stderr
    assert row(run.stdout, "test_executor_under_test_machine") == ["pass"]


@pytest.mark.timeout(180)
def test_kit_properties_fails_an_executor_whose_map_loses_a_result() -> None:
    # The ci profile: the machine calls map() only when a worker is free, and
    # on a loaded machine the dev profile's 10 programs could all miss it.
    # It stops at the first failing program (then shrinks it: 10-35 s).
    run = conformance("kit_executors:broken_map", "--properties", "-k", "machine",
                      HYPOTHESIS_PROFILE="ci")
    assert run.returncode == 1, run.stdout + run.stderr
    assert row(run.stdout, "test_executor_under_test_machine") == ["FAIL"]


@pytest.mark.timeout(30)
def test_kit_without_properties_leaves_the_state_machines_out() -> None:
    run = conformance("minipool:MiniThreadPool", "-k", "machine")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "machine" not in run.stdout


# ------------------------------------------------------------ the installed kit
MY_EXECUTORS = """
import concurrent.futures

def threads():
    return concurrent.futures.ThreadPoolExecutor(2)
"""


# What pip needs to build minipool; copied, so that the build leaves nothing in
# the checkout (setuptools' build/ would keep files since deleted, and ship them).
SOURCE = ["minipool", "setup.cfg", "pyproject.toml", "README.md"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """minipool, pip-installed (a wheel built from the checkout) into a scratch folder.

    --no-deps: pytest, pytest-timeout and hypothesis are this interpreter's; a
    fresh venv with them takes about a minute, the install alone about 12 s.
    """
    source, site = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("site")
    for name in SOURCE:
        if (CHECKOUT / name).is_dir():
            shutil.copytree(CHECKOUT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(CHECKOUT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--target", str(site), str(source)], check=True, timeout=240,
                   capture_output=True)
    return site


@pytest.mark.timeout(300)
def test_installed_kit_runs_from_any_directory(installed: pathlib.Path,
                                               tmp_path: pathlib.Path) -> None:
    # A stranger's directory: their executor module, and a pytest configuration
    # that would break any pytest run that read it.
    (tmp_path / "my_executors.py").write_text(MY_EXECUTORS)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\n")
    where = subprocess.run([sys.executable, "-c", "import minipool; print(minipool.__file__)"],
                           cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(installed)),
                           capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(installed)), where.stdout  # not the checkout's
    run = conformance("minipool:MiniThreadPool", "my_executors:threads", "-k", FEW,
                      cwd=tmp_path, path=str(installed))
    assert run.returncode == 0, run.stdout + run.stderr
    assert row(run.stdout, "**total**") == ["3 pass, 0 fail, 1 n/a"] * 2
    assert row(run.stdout, "test_thread_name_prefix_names_the_workers") == ["n/a", "n/a"]


def test_the_installed_package_holds_the_whole_compat_suite(installed: pathlib.Path) -> None:
    shipped = sorted(p.name for p in (installed / "minipool" / "conformance").glob("*.py"))
    source = sorted(p.name for p in
                    (pathlib.Path(minipool.__file__).parent / "conformance").glob("*.py"))
    assert shipped == source and "plugin.py" in shipped and "test_prop_executor.py" in shipped
