"""Every ```python block in README.md and docs/*.md runs, so the docs cannot rot.

Each block runs in its own interpreter (as a reader would paste it), and must
exit 0 within the timeout.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for number, match in enumerate(BLOCK.finditer(page.read_text()), 1):
            indent = len(match.group(1))
            code = "\n".join(line[indent:] for line in match.group(2).splitlines())
            found.append((f"{page.name}#{number}", code))
    return found


def test_the_docs_have_python_examples() -> None:
    assert len(_blocks()) >= 5


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name,code", _blocks(), ids=[n for n, _ in _blocks()])
def test_docs_example_runs(name: str, code: str) -> None:
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=50, cwd=ROOT)
    assert run.returncode == 0, f"{name} failed:\n{code}\n--- stderr ---\n{run.stderr}"
