"""Where a file sits tells what it may import (docs/architecture.md)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "shared": {
        "agent",
        "desktop",
        "PySide6",
        "qasync",
        "sqlalchemy",
        "fastapi",
        "starlette",
        "uvicorn",
    },
    "agent": {"desktop", "PySide6", "qasync"},
    "desktop": {"agent", "sqlalchemy", "fastapi", "starlette", "uvicorn"},
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_it_may(package):
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name, line in _imports(path)
        if name in FORBIDDEN[package]
    ]
    assert offences == []
