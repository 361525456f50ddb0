"""The floors of docs/architecture.md hold: import-linter contracts, no hidden imports, and a check that
the contracts do catch an upward import (so this test can fail)."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
# The command line imports each handler's library on first use so that `mocar --help` starts without
# torch; it is the top floor, so these imports can never close a loop.
LAZY_IMPORTS_ALLOWED = {"mocar/cli.py"}


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          capture_output=True, text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          check=False)


def test_import_contracts_hold():
    done = _lint(ROOT)
    assert done.returncode == 0, f"import-linter contracts broken:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
    assert "3 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "mocar", tmp_path / "mocar", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    config = tmp_path / "mocar" / "model" / "config.py"
    config.write_text(config.read_text() + "\nfrom mocar.bench import rows  # upward: floor 1 -> floor 5\n")
    done = _lint(tmp_path)
    assert done.returncode != 0
    assert "mocar.model.config -> mocar.bench.rows" in done.stdout


def _hidden_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_checking = [node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.col_offset == 0:
            continue
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]
        inside_type_checking = any(block.lineno <= node.lineno <= block.end_lineno for block in type_checking)
        if any(name.split(".")[0] == "mocar" for name in names) and not inside_type_checking:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_mocar_import_hides_inside_a_function():
    hidden = [line for path in sorted((ROOT / "mocar").rglob("*.py"))
              if str(path.relative_to(ROOT)) not in LAZY_IMPORTS_ALLOWED for line in _hidden_imports(path)]
    assert not hidden, "imports of mocar modules belong at module top:\n" + "\n".join(hidden)
