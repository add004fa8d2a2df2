"""DESIGN §2: domain/ imports only the standard library and pydantic (import-linter checks the named layers;
this checks the allow-list, which a forbidden-modules contract cannot express)."""

from __future__ import annotations

import ast
import sys

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
