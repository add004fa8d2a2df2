"""DESIGN §2: domain/ imports only the standard library and pydantic (import-linter checks the named layers;
this checks the allow-list, which a forbidden-modules contract cannot express)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp

from workers.settings import PROJECT_ROOT

ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core", "annotated_types", "typing_extensions"}


def _top_level_imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (PROJECT_ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(PROJECT_ROOT)))
    return found


def test_domain_imports_only_stdlib_and_pydantic() -> None:
    imports = _top_level_imports("domain")
    assert "pydantic" in imports, "the scan found no pydantic import: is domain/ empty?"
    foreign = {
        name: sorted(files)
        for name, files in imports.items()
        if name not in sys.stdlib_module_names and name not in ALLOWED_THIRD_PARTY and name != "domain"
    }
    assert not foreign, f"domain/ must import only the standard library and pydantic: {foreign}"


def test_the_scan_would_see_a_foreign_import(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "x.py").write_text("import pydantic\nfrom sqlalchemy import select\n")
    monkeypatch.setattr(sys.modules[__name__], "PROJECT_ROOT", tmp_path)
    assert "sqlalchemy" in _top_level_imports("domain")


# --- no circle of imports (issue 12): the layers contract sees packages; this sees modules, lazy imports included --

PACKAGES = ("benchmarks", "workers", "api", "service", "audit", "workflows", "activities", "projections", "domain")


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_no_circle_of_imports(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))
    graph = grimp.build_graph(*PACKAGES)
    assert len(graph.modules) > 100, "the scan found too few modules"
    assert import_cycles(graph) == []


def test_the_cycle_check_would_see_a_circle() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in (("a.cli", "a.demo"), ("a.demo", "a.runner"), ("a.runner", "a.cli"), ("a.x", "a.cli")):
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph) == [["a.cli", "a.demo", "a.runner"]]


# --- sizes (issue 12): modules ≤ 600 lines, functions ≤ 80 lines, outside generated migrations and tests -----------

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def oversized(root: Path) -> list[str]:
    """Every module above MAX_MODULE_LINES and function above MAX_FUNCTION_LINES under ``root``'s packages."""
    found: list[str] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            where = path.relative_to(root)
            if (lines := len(text.splitlines())) > MAX_MODULE_LINES:
                found.append(f"{where}: {lines} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found.append(f"{where}:{node.lineno} {node.name}(): {length} lines")
    return found


def test_no_module_or_function_above_the_limits() -> None:
    assert oversized(PROJECT_ROOT) == []


def test_the_size_check_would_see_a_long_function(tmp_path: Path) -> None:
    (tmp_path / "domain").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "domain" / "long.py").write_text(f"def long():\n{body}\n")
    assert oversized(tmp_path) == [f"domain/long.py:1 long(): {MAX_FUNCTION_LINES + 1} lines"]
