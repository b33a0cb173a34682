"""Issue 19 item 10: the README's module list is the import contract's order (pyproject.toml),
so the documented layering and the checked one cannot drift apart."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _contract_layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [sorted(re.split(r"\s*[:|]\s*", layer)) for layer in layers]


def _readme_layers() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = text.split("- The library, one concern per module", 1)[1].split("\n- ", 1)[0]
    layers = []
    for item in re.split(r"\n  - ", block)[1:]:
        head = re.split(r":\s", item, maxsplit=1)[0]
        names = re.findall(r"`regsync/([\w/]+?)(?:\.py|/)`", head)
        layers.append(sorted("regsync." + n for n in names))
    return layers


def test_the_readme_lists_the_modules_in_the_contracts_order():
    assert _readme_layers() == _contract_layers()


def test_every_module_is_in_the_contract():
    listed = {m for layer in _contract_layers() for m in layer}
    present = {f"regsync.{p.stem}" for p in (ROOT / "regsync").glob("*.py") if p.stem != "__init__"}
    present |= {f"regsync.{p.name}" for p in (ROOT / "regsync").iterdir() if (p / "__init__.py").exists()}
    assert present == listed


def _sql_calls(path: Path) -> list[str]:
    """`x.execute("...")`-like calls with literal SQL in a module: where it queries SQLite."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("execute", "executemany", "executescript")
                and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_sql_lives_in_the_store_and_the_migrations_only():
    # Issue 23 item 7: another backend (a shared PostgreSQL) is then one module, not a rewrite.
    modules = [p for p in (ROOT / "regsync").rglob("*.py") if p != ROOT / "regsync" / "store.py"]
    assert [call for p in modules for call in _sql_calls(p)] == []
    assert _sql_calls(ROOT / "regsync" / "store.py")  # the check does see SQL where it is
