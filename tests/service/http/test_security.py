"""What the service never does: show its internals in an answer, or unpickle anything."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

from service.http.app import create_app
from service.http.routes import tag as tag_route
from tests.service.support import StubTagger, serving, settings

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[3]
SECRET = "/srv/secret/weights.bin line 42 in _forward"


def assert_no_internals(text: str) -> None:
    for leak in ("Traceback", 'File "', SECRET, "RuntimeError", "ValueError", ".py"):
        assert leak not in text, text


async def test_a_model_failure_answers_without_internals(stub: StubTagger) -> None:
    stub.fail_next = RuntimeError(SECRET)
    async with serving(create_app(settings(), stub)) as client:
        response = await client.post("/v1/tag", json={"text": "Mary left"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "inference_failed",
            "message": "the model failed on a batch holding this request",
        }
    }
    assert_no_internals(response.text)


async def test_an_unexpected_error_answers_without_internals(
    stub: StubTagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> bytes:
        raise ValueError(SECRET)

    monkeypatch.setattr(tag_route, "encode_tags", broken)
    app = create_app(settings(), stub)
    # As a server does: the error is answered, and raised on to be logged (not to the test).
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/v1/tag", json={"text": "Mary left"})
            invalid = await client.post("/v1/tag", json={"text": ["x" * 50, SECRET]})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    request_id = response.headers["x-request-id"]  # set although no middleware answered
    assert response.json()["error"]["message"].endswith(f"for request {request_id}")
    assert_no_internals(response.text)
    assert invalid.status_code == 422
    assert_no_internals(invalid.text)  # the input is not echoed back either


#: Modules that unpickle: a model or request must never reach one of them.
_PICKLING_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _unpickles(node: ast.AST) -> bool:
    """An import of a pickling module, ``torch.load``/``torch.save``, or a NumPy load that
    allows pickles (``allow_pickle`` is off by default)."""
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] in _PICKLING_MODULES for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] in _PICKLING_MODULES
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        if owner == "torch" and node.func.attr in {"load", "save"}:
            return True
        if owner in {"np", "numpy"} and node.func.attr == "load":
            return any(k.arg == "allow_pickle" for k in node.keywords)
    return False


@pytest.mark.parametrize("package", ["model", "service"])
def test_no_code_path_unpickles(package: str) -> None:
    # The model process talks to its parent over a multiprocessing pipe (pickled, between
    # two processes of this program); weights and requests are JSON and safetensors only.
    found = [
        f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if _unpickles(node)
    ]
    assert found == []
