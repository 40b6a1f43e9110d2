"""The packages' imports point one way: serving -> monitoring -> feedback -> genai, with no circle;
the tests share helpers only through tests/support."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO

# Each package may import only those after it: genai imports none of the others.
ORDER = ("serving", "monitoring", "feedback", "genai")


def _imports(path: Path, *, module_level_only: bool) -> set[str]:
    """The absolute module names `path` imports; with `module_level_only`, those run at import time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes: list[ast.AST] = list(ast.walk(tree)) if not module_level_only else _run_at_import(tree.body)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _run_at_import(body: list[ast.stmt]) -> list[ast.AST]:
    """The import statements of a module body that run when it is imported (not TYPE_CHECKING ones)."""
    found: list[ast.AST] = []
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            found.append(stmt)
        elif isinstance(stmt, ast.If) and "TYPE_CHECKING" not in ast.unparse(stmt.test):
            found += _run_at_import(stmt.body) + _run_at_import(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            found += _run_at_import(stmt.body)
    return found


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in ORDER:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def test_no_package_imports_one_that_builds_on_it() -> None:
    climbs = []
    for name, path in _modules().items():
        rank = ORDER.index(name.split(".")[0])
        for imported in _imports(path, module_level_only=False):
            top = imported.split(".")[0]
            if top in ORDER and ORDER.index(top) < rank:
                climbs.append(f"{name} imports {imported}")
    assert climbs == []


def test_no_module_imports_itself_round_a_circle() -> None:
    modules = _modules()
    graph = {
        name: {m for m in _imports(path, module_level_only=True) if m in modules and m != name}
        for name, path in modules.items()
    }
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def _relative_imports(path: Path) -> set[str]:
    """The modules `path` imports relatively (``from .x import y``), as absolute names."""
    parts = path.relative_to(REPO).with_suffix("").parts
    package = parts[:-1]  # an __init__'s own package is its folder, as a module's is
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = ".".join(
                [*package[: len(package) - node.level + 1], *([node.module] if node.module else [])]
            )
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_tests_share_helpers_only_through_tests_support() -> None:
    # What the tests share lives in tests/support: no module under tests/ imports a test module or a
    # conftest (relative imports included).
    reaches = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for imported in sorted(_imports(path, module_level_only=False) | _relative_imports(path)):
            inside = imported == "tests" or imported.startswith("tests.")
            shared = imported in ("tests", "tests.support") or imported.startswith("tests.support.")
            if inside and not shared:
                reaches.append(f"{name} imports {imported}")
    assert reaches == []
