"""New versions without downtime: ``bigru-ner serve --model-repository`` on loopback watching
the repository (``NER_MODEL_POLL_S``), with a model process per model. A new version takes
over under load with no request failing and the old version's process exits; a version that
fails is refused while the old one serves on; removing the highest version rolls back; models
come and go; ``POST /v1/models/{name}/load`` does the same at once, behind the API key."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.host import descendants
from tests.deploy.support import ROOT, free_port, serving, wait_for

KEY = "swap-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
NEWS = "Mary Rossi visited Oslo ."
DRUGS = "Take 50 mg of Aspirin daily ."


class Server:
    """The server under test: its URL, process ID and repository."""

    def __init__(self, url: str, pid: int, repository: Path) -> None:
        self.url, self.pid, self.repository = url, pid, repository
        self.client = httpx.Client(base_url=url, headers=AUTH, timeout=60)

    def models(self) -> dict[str, dict[str, object]]:
        return {m["name"]: m for m in self.client.get("/v1/models").json()["models"]}

    def version(self, name: str) -> object:
        return self.models().get(name, {}).get("version")

    def labels(self, name: str, text: str) -> set[str]:
        answer = self.client.post("/v1/tag", json={"text": text, "model": name})
        assert answer.status_code == 200, answer.text
        return {e["label"] for e in answer.json()["results"][0]["entities"]}

    def model_processes(self) -> set[int]:
        """The server's model processes (its ``spawn`` children)."""
        found = set()
        for pid in descendants(self.pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            if b"spawn_main" in command:
                found.add(pid)
        return found

    def put(self, model: Path, name: str, version: int) -> None:
        """Copy ``model`` in as ``name``/``version`` the way the README says: beside it, then
        renamed into place, so that the server never sees half a copy."""
        staging = self.repository / name / f".incoming-{uuid.uuid4().hex}"
        shutil.copytree(model, staging)
        os.rename(staging, self.repository / name / str(version))


def _broken(model: Path, root: Path) -> Path:
    copy = root / f"broken-{uuid.uuid4().hex}"
    shutil.copytree(model, copy)
    (copy / "weights.safetensors").write_bytes(b"not weights")
    return copy


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    repository = tmp_path_factory.mktemp("swap-repository")
    for name in ("live", "steady", "roll"):
        shutil.copytree(tiny_model, repository / name / "1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NER_")} | {
        "NER_DEFAULT_MODEL": "live",
        "NER_MODEL_WORKERS": "1",
        "NER_MODEL_POLL_S": "0.3",
        "NER_DEVICE": "cpu",
        "NER_API_KEY": KEY,
    }
    port = free_port()
    argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    argv += ["--model-repository", str(repository)]  # the flag, as NER_MODEL_REPOSITORY
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("swap-service") / "service.log"
    with serving(
        [*argv, "--port", str(port)], env, log, url + "/readyz", 180, "/readyz", ROOT
    ) as process:
        yield Server(url, process.pid, repository)


def test_a_new_version_takes_over_under_load_and_the_old_process_exits(
    server: Server, drugs_model: Path
) -> None:
    before = server.model_processes()
    assert server.labels("live", DRUGS) <= {"PER", "LOC", "ORG", "MISC"}
    answers: list[tuple[int, frozenset[str]]] = []
    done = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as own:
            while not done.is_set():
                answer = own.post("/v1/tag", json={"text": DRUGS})  # the default: live
                found = answer.json()["results"][0]["entities"] if answer.is_success else []
                answers.append((answer.status_code, frozenset(e["label"] for e in found)))

    clients = [threading.Thread(target=client) for _ in range(3)]
    for thread in clients:
        thread.start()
    try:
        wait_for(lambda: len(answers) >= 20, timeout=60, what="answers from version 1")
        server.put(drugs_model, "live", 2)
        loaded = server.client.post("/v1/models/live/load")
        assert loaded.status_code == 200, loaded.text
        assert (loaded.json()["version"], loaded.json()["labels"]) == (2, ["DOSE", "DRUG"])
        settled = len(answers)
        wait_for(lambda: len(answers) >= settled + 20, timeout=60, what="answers from version 2")
    finally:
        done.set()
        for thread in clients:
            thread.join()
    assert {status for status, _ in answers} == {200}  # not one request lost to the swap
    first = next(i for i, (_, labels) in enumerate(answers) if "DRUG" in labels)
    assert not any("DRUG" in labels for _, labels in answers[: first - 3])  # v1 until the swap
    assert all("DRUG" in labels for _, labels in answers[-10:])
    wait_for(lambda: len(server.model_processes()) == len(before), 60, "the old process's exit")
    assert server.model_processes() != before  # the new version's process replaced the old one


def test_a_version_that_fails_is_refused_and_the_old_one_serves_on(
    server: Server, tiny_model: Path, tmp_path: Path
) -> None:
    server.put(_broken(tiny_model, tmp_path), "steady", 2)
    refused = 'ner_model_loads_total{model="steady",outcome="refused"} 1.0'
    wait_for(lambda: refused in server.client.get("/metrics").text, 30, "the refusal metric")
    steady = server.models()["steady"]
    assert (steady["version"], steady["state"]) == (1, "ready")
    assert "version 2 refused" in str(steady["reason"])
    assert "weights.safetensors" in str(steady["reason"])
    assert server.labels("steady", NEWS) <= {"PER", "LOC", "ORG", "MISC"}
    again = server.client.post("/v1/models/steady/load")  # asked again: tried again, refused
    assert (again.status_code, again.json()["error"]["code"]) == (422, "model_refused")
    assert "version 2 refused" in again.json()["error"]["message"]
    assert (
        'ner_model_loads_total{model="steady",outcome="refused"} 2.0'
        in server.client.get("/metrics").text
    )


def test_removing_the_highest_version_rolls_back_to_the_one_below(
    server: Server, drugs_model: Path
) -> None:
    server.put(drugs_model, "roll", 2)
    wait_for(lambda: server.version("roll") == 2, 30, "version 2 of roll")
    assert "DRUG" in server.labels("roll", DRUGS)
    shutil.rmtree(server.repository / "roll" / "2")
    wait_for(lambda: server.version("roll") == 1, 30, "the roll-back to version 1")
    assert "DRUG" not in server.labels("roll", DRUGS)
    metrics = server.client.get("/metrics").text
    assert 'model="roll",version="1"} 1.0' in metrics
    assert 'model="roll",version="2"' not in metrics


def test_a_model_added_to_the_repository_appears_and_one_removed_disappears(
    server: Server, drugs_model: Path
) -> None:
    (server.repository / "extra").mkdir()
    server.put(drugs_model, "extra", 7)
    wait_for(lambda: server.version("extra") == 7, 30, "the new model")
    assert "DRUG" in server.labels("extra", DRUGS)
    shutil.rmtree(server.repository / "extra")
    wait_for(lambda: "extra" not in server.models(), 30, "the model's removal")
    gone = server.client.post("/v1/tag", json={"text": DRUGS, "model": "extra"})
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "model_not_found")


def test_loading_needs_the_api_key_and_a_model_the_repository_has(server: Server) -> None:
    anonymous = httpx.post(server.url + "/v1/models/live/load")
    assert anonymous.status_code == 401
    unknown = server.client.post("/v1/models/nope/load")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "model_not_found")
    assert "live, roll, steady" in unknown.json()["error"]["message"]
