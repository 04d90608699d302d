"""The layers of the model package: nothing in it imports the service, and what serving needs
imports neither training nor analysis (the serving image has none of their dependencies)."""

from __future__ import annotations

import ast
from pathlib import Path

import model

MODEL = Path(model.__file__).parent
#: The subpackages that serving never runs.
NOT_SERVING = {"training", "analysis"}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_nothing_in_model_imports_the_service() -> None:
    offenders = {
        str(path.relative_to(MODEL)): sorted(n for n in _imports(path) if _under(n, "service"))
        for path in MODEL.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_what_serving_needs_imports_neither_training_nor_analysis() -> None:
    # model/cli.py runs train and analyze, so it may import them.
    serving = [p for p in MODEL.glob("*.py") if p.name != "cli.py"]
    assert {"tagger.py", "artifact.py", "network.py"} <= {p.name for p in serving}
    offenders = {
        path.name: sorted(
            n for n in _imports(path) if any(_under(n, f"model.{s}") for s in NOT_SERVING)
        )
        for path in serving
    }
    assert {path: names for path, names in offenders.items() if names} == {}
