"""The drawings in module docstrings and docs/ use the code's exact names.

Every private name (``_like_this``, ``_Like.this``) that a module docstring or
a docs page mentions must exist in minipool's code, so a rename that forgets
the drawing fails here instead of quietly misleading a reader. A dotted name
(``_Shared.idle_workers.pop``) must also name an attribute its class has,
and, where the class's source says the attribute's type, a method of that type.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import re
from typing import Callable

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


# ----------------------------------------- dotted names (Class.attribute.method)
# Anywhere in the docs, README and module docstrings, `Class.attribute` (or
# `module.Class.attribute`, or `Class.attribute.method`), Class being a class
# of minipool, must name an attribute that class has: a method, a class-level
# name, or a `self.attribute = ...` in its source (or a minipool base's). When
# that assignment says the attribute's type (`self.x: collections.deque[...]`,
# `self.x = selectors.DefaultSelector()`) and the type is a class, `.method`
# must be one of its attributes too. So `_Shared.idle_workers.release` fails:
# idle_workers is a deque, and a deque has no release.
# The drawings also say `shared.idle_workers.release()`, a variable named after
# its class: `x.attribute.method` is checked as `_X`'s (or `X`'s) when that
# class has the attribute (`pipe.send_bytes` in process.py is a pipe's).
DOTTED_NAME = re.compile(
    r"(?<![\w.])(?:(?:" + MODULE_NAMES + r")\.)?(_?[A-Z]\w*)\.(\w+)(?:\.(\w+))?")
VARIABLE_DOTTED_NAME = re.compile(r"(?<![\w.])([a-z]\w*)\.(\w+)\.(\w+)")


class _ClassInfo:
    """One class of minipool: its names, and what its source assigns to them."""

    def __init__(self, module: str, node: ast.ClassDef) -> None:
        self.module = importlib.import_module(f"minipool.{module}")
        self.node = node
        self.bases = [base.id for base in node.bases if isinstance(base, ast.Name)]
        self.names: set[str] = set()
        self.types: dict[str, list[ast.expr]] = {}  # attribute -> its annotation / value
        for child in node.body:  # methods and class-level names
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.names.add(child.name)
            elif isinstance(child, (ast.Assign, ast.AnnAssign)):
                self._note_assignment(child, _class_level_name)
        for sub in ast.walk(node):  # self.attribute = ... in any method
            if isinstance(sub, (ast.Assign, ast.AnnAssign)):
                self._note_assignment(sub, _self_attribute_name)

    def _note_assignment(self, node: ast.Assign | ast.AnnAssign,
                         name_of: Callable[[ast.expr], str | None]) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        annotation = node.annotation if isinstance(node, ast.AnnAssign) else None
        for target in targets:
            if isinstance(target, ast.Tuple):  # self.a, self.b = ...: no types
                self.names.update(filter(None, map(name_of, target.elts)))
                continue
            name = name_of(target)
            if name is not None:
                self.names.add(name)
                self.types.setdefault(name, []).extend(
                    expr for expr in (annotation, node.value) if expr is not None)

    def type_candidates(self, name: str) -> list[type]:
        """The classes the source says *name* holds (none if it does not say)."""
        found = []
        for expr in self.types.get(name, []):
            resolved = _resolve_in(self.module, ast.unparse(_type_part(expr)))
            if isinstance(resolved, type):
                found.append(resolved)
        return found


def _class_level_name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def _self_attribute_name(node: ast.expr) -> str | None:
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "self"):
        return node.attr
    return None


def _type_part(expr: ast.expr) -> ast.expr:
    """`deque()` -> `deque`; `Optional[X]` -> `X`; `deque[None]` -> `deque`."""
    if isinstance(expr, ast.Call):
        expr = expr.func
    if isinstance(expr, ast.Subscript):
        is_optional = isinstance(expr.value, ast.Name) and expr.value.id == "Optional"
        return expr.slice if is_optional else expr.value
    return expr


def _resolve_in(module: object, dotted: str) -> object:
    found = module
    for part in dotted.split("."):
        if not hasattr(found, part):
            return None
        found = getattr(found, part)
    return found


def _classes_in_code() -> dict[str, list[_ClassInfo]]:
    classes: dict[str, list[_ClassInfo]] = {}
    for module in MODULES:
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, []).append(_ClassInfo(module.stem, node))
    return classes


CLASSES = _classes_in_code()


def _with_bases(name: str) -> list[_ClassInfo]:
    infos = list(CLASSES.get(name, []))
    for info in list(infos):
        for base in info.bases:
            if base != name:
                infos += _with_bases(base)
    return infos


def _has_attribute(cls: str, attribute: str) -> bool:
    return any(attribute in info.names
               or hasattr(_resolve_in(info.module, info.node.name), attribute)
               for info in _with_bases(cls))


def _dotted_name_problem(cls: str, attribute: str, method: str | None) -> str | None:
    """Why `cls.attribute(.method)` names what the code does not have (None: it does)."""
    infos = _with_bases(cls)
    if not _has_attribute(cls, attribute):
        return f"{cls} has no attribute {attribute}"
    if method is None:
        return None
    types = [kind for info in infos for kind in info.type_candidates(attribute)]
    if types and not any(hasattr(kind, method) for kind in types):
        names = ", ".join(sorted({kind.__qualname__ for kind in types}))
        return f"{cls}.{attribute} is a {names}, which has no {method}"
    return None


def _dotted_names(text: str) -> set[tuple[str, str, str | None]]:
    found: set[tuple[str, str, str | None]] = {
        (cls, attribute, method or None)
        for cls, attribute, method in DOTTED_NAME.findall(text) if cls in CLASSES}
    for variable, attribute, method in VARIABLE_DOTTED_NAME.findall(text):
        for cls in ("_" + variable.capitalize(), variable.capitalize()):
            if cls in CLASSES and _has_attribute(cls, attribute):
                found.add((cls, attribute, method))
    return found


TEXTS = {**{page.name: page.read_text() for page in [ROOT / "README.md", *PAGES]},
         **{module.name: ast.get_docstring(ast.parse(module.read_text())) or ""
            for module in MODULES}}


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_dotted_names_name_real_attributes(name: str) -> None:
    problems = sorted({problem for dotted in _dotted_names(TEXTS[name])
                       if (problem := _dotted_name_problem(*dotted)) is not None})
    assert not problems, f"{name} names what the code does not have: {problems}"


def test_a_stale_dotted_name_is_caught() -> None:
    stale = ("`_Shared.idle_workers.acquire(timeout=0)`, `_dispatcher._Dispatcher._wait_for_work`"
             " and, in a drawing, inbox.pending.put(item)")
    found = sorted(problem for dotted in _dotted_names(stale)
                   if (problem := _dotted_name_problem(*dotted)) is not None)
    assert found == ["_Dispatcher has no attribute _wait_for_work",
                     "_Inbox.pending is a deque, which has no put",
                     "_Shared.idle_workers is a deque, which has no acquire"]
