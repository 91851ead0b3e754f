"""The arrows point one way: cases may import parties, parties imports nothing of cases, grids neither."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_apps(app: str) -> set[str]:
    found = set()
    for path in (ROOT / app).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_parties_imports_no_case_code():
    assert "cases" not in imported_apps("parties")


def test_grids_imports_neither():
    assert not {"cases", "parties"} & imported_apps("grids")
