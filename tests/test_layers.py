"""The dependency direction, enforced on the source: each package imports only from the layers
below it (``import`` statements anywhere in a module, function bodies included; imports under
``if TYPE_CHECKING:`` are for type checkers only and do not count).

    common <- envs <- agents <- rewards <- config <- algos <- cli   (each turngym.<name>)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: (import name, source folder), lowest layer first
LAYERS = [
    ("turngym.common", ROOT / "turngym_pkg" / "common"),
    ("turngym.envs", ROOT / "envs"),
    ("turngym.agents", ROOT / "agents"),
    ("turngym.rewards", ROOT / "rewards"),
    ("turngym.config", ROOT / "turngym_pkg" / "config"),
    ("turngym.algos", ROOT / "algos"),
    ("turngym.cli", ROOT / "turngym_pkg" / "cli"),
]
RANK = {name: rank for rank, (name, _) in enumerate(LAYERS)}


def layer_of(module: str) -> str | None:
    for name in RANK:
        if module == name or module.startswith(name + "."):
            return name
    return None


def runtime_imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path`` outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), str(path))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    relative_base = package.split(".")  # what a relative import counts up from
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = relative_base[: len(relative_base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def modules() -> list[tuple[str, Path, str]]:
    out = []
    for name, folder in LAYERS:
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            package = ".".join([name, *parts[:-1]])
            out.append((name, path, package))
    return out


@pytest.mark.parametrize("layer, path, package", modules(), ids=lambda v: str(v)[-60:])
def test_imports_point_down_the_layers(layer: str, path: Path, package: str) -> None:
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {module} ({layer_of(module)})"
        for line, module in runtime_imports(path, package)
        if layer_of(module) and RANK[layer_of(module)] > RANK[layer]
    ]
    assert not upward, "imports above its layer: " + "; ".join(upward)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an envs module importing agents is caught, a type-only one is not."""
    module = tmp_path / "bad.py"
    module.write_text(
        "from typing import TYPE_CHECKING\nfrom turngym.agents import Agent\n"
        "if TYPE_CHECKING:\n    from turngym.cli import app\n"
        "def f():\n    from ..algos.config import RunConfig\n"
    )
    found = [m for _, m in runtime_imports(module, "turngym.envs")]
    assert "turngym.agents" in found and "turngym.algos.config" in found
    assert "turngym.cli" not in found
