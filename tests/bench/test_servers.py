"""Which server a benchmark's ``--server`` names, and that a server of another source tree
imports that tree's packages, not this checkout's (installed in editable mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.servers import imported_from, parse_server


def test_a_name_and_settings_run_this_checkout() -> None:
    server = parse_server("copy:NER_MODEL_IN_SERVER_TOKENS=64,NER_MODEL_WORKERS=0")
    assert server.name == "copy"
    assert server.env == {"NER_MODEL_IN_SERVER_TOKENS": "64", "NER_MODEL_WORKERS": "0"}
    assert server.tree is None and server.ours
    assert server.argv(8123)[-4:] == ["service.cli", "serve", "--port", "8123"]


def test_a_tree_after_the_name(tmp_path: Path) -> None:
    server = parse_server(f"before@{tmp_path}:NER_MAX_WAIT_MS=1")
    assert (server.name, server.tree, server.env) == ("before", tmp_path, {"NER_MAX_WAIT_MS": "1"})
    assert server.environment()["PYTHONPATH"] == str(tmp_path)
    assert parse_server(f"old@{tmp_path}").env == {}


def test_fastapi_is_the_peer() -> None:
    server = parse_server("fastapi")
    assert (server.name, server.ours, server.tree) == ("plain fastapi", False, None)


@pytest.mark.parametrize("spec", ["", ":NER_X=1", "@/tmp", "x:MAX_WAIT=1", "x:NER_X"])
def test_what_is_not_a_server(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_server(spec)


def _tree(root: Path, *packages: str) -> Path:
    for package in packages:
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    return root


def test_a_tree_imports_its_own_packages(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "before", "service", "model")
    server = parse_server(f"before@{tree}")
    assert imported_from(server) == (tree / "service", tree / "model")


def test_a_tree_without_the_packages_is_refused(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "half", "service")  # model would come from this checkout
    with pytest.raises(RuntimeError, match="not from"):
        imported_from(parse_server(f"half@{tree}"))


def test_this_checkout_imports_its_own() -> None:
    service_dir, model_dir = imported_from(parse_server("now:"))
    root = Path(__file__).resolve().parents[2]
    assert (service_dir, model_dir) == (root / "service", root / "model")
