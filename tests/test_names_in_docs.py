"""The drawings in module docstrings and docs/ use the code's exact names.

Every private name (``_like_this``, ``_Like.this``) that a module docstring or
a docs page mentions must exist in minipool's code, so a rename that forgets
the drawing fails here instead of quietly misleading a reader.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = sorted((ROOT / "minipool").glob("*.py"))
PAGES = sorted((ROOT / "docs").glob("*.md"))
PRIVATE_NAME = re.compile(r"(?<![\w.])_[A-Za-z]\w*(?:\.\w+)*")
# Private names of the stdlib that the docs mention on purpose, as the stdlib's.
STDLIB_NAMES = {"_RemoteTraceback", "_register_atexit", "_base"}


def _names_defined_in_code() -> set[str]:
    names = {module.stem for module in MODULES} | STDLIB_NAMES
    for module in MODULES:
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names


def _mentioned(text: str) -> set[str]:
    return {part for match in PRIVATE_NAME.findall(text) for part in match.split(".")
            if part.startswith("_") and not part.startswith("__")}


CODE_NAMES = _names_defined_in_code()


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_module_docstring_names_exist_in_the_code(module: pathlib.Path) -> None:
    docstring = ast.get_docstring(ast.parse(module.read_text())) or ""
    missing = sorted(_mentioned(docstring) - CODE_NAMES)
    assert not missing, f"{module.name}'s docstring names what the code does not have: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_docs_page_names_exist_in_the_code(page: pathlib.Path) -> None:
    missing = sorted(_mentioned(page.read_text()) - CODE_NAMES)
    assert not missing, f"{page.name} names what the code does not have: {missing}"


# ------------------------------------------------ qualified names (internals.md)
# internals.md and glossary.md name functions as `module.Class.method` (or
# `module.function`), module being one of minipool's; each must resolve.
QUALIFIED_PAGES = ["internals.md", "glossary.md"]
MODULE_NAMES = "|".join(m.stem for m in MODULES)
QUALIFIED_NAME = re.compile(r"`((?:" + MODULE_NAMES + r")(?:\.\w+)+)(?:\([^`]*\))?`")


def _qualified_names(page: str) -> list[str]:
    return [name for name in QUALIFIED_NAME.findall((ROOT / "docs" / page).read_text())
            if not name.endswith(".py")]


def _resolves(qualified: str) -> bool:
    module_name, *attributes = qualified.split(".")
    found: object = importlib.import_module(f"minipool.{module_name}")
    for attribute in attributes:
        if not hasattr(found, attribute):
            return False
        found = getattr(found, attribute)
    return True


@pytest.mark.parametrize("page", QUALIFIED_PAGES)
def test_qualified_names_in_docs_resolve_to_real_functions(page: str) -> None:
    names = _qualified_names(page)
    assert len(names) >= 10, f"{page} should name the functions it walks through"
    missing = sorted({name for name in names if not _resolves(name)})
    assert not missing, f"{page} names what minipool does not have: {missing}"


def test_design_module_map_lists_every_module() -> None:
    design = (ROOT / "docs" / "design.md").read_text()
    module_map = design[design.index("## The module map"):]
    missing = [m.name for m in MODULES if f"| `{m.name}` |" not in module_map]
    assert not missing, f"docs/design.md's module map lacks {missing}"
