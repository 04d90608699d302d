"""The service's image, built and run on a real Docker engine as users run it: read-only, as
its numeric user, healthy, tagging, draining on ``docker stop``, surviving its model process."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import torch

from model.bundled import DEFAULT_MODEL, FORWARD_MODEL
from model.tagger import Tagger
from service.http.schemas.compare import CompareResponse
from service.http.schemas.tag import TagResponse
from tests.container.support import (
    IMAGE_UID,
    Container,
    docker,
    run_container,
    wait_healthy,
)
from tests.deploy.support import wait_for
from tests.service.support import metric

#: The installed Python packages (the site-packages that holds torch) may take this much.
SITE_PACKAGES_LIMIT = 0.95e9
TEXTS = ["Mary Rossi visited Oslo on Monday .", "Shares of Acme Corp rose , said Kofi Okafor ."]

#: Prints the size of the installed packages and which of the left-out ones can be imported.
_INSPECT = """
import importlib.util, json, os, sysconfig
site = sysconfig.get_paths()["purelib"]
size = sum(
    os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(site) for f in fs
    if not os.path.islink(os.path.join(d, f))
)
left_out = ["seqeval", "sklearn", "scipy", "pip", "setuptools", "matplotlib", "pyarrow"]
print(json.dumps({
    "site": site,
    "bytes": size,
    "importable": [m for m in left_out if importlib.util.find_spec(m)],
    "torch_headers": os.path.exists(os.path.join(site, "torch", "include")),
}))
"""


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Container]:
    """The image run as users are told to: read-only root, tmpfs on /tmp, the image's user."""
    with run_container(image) as running:
        wait_healthy(running)
        yield running


def test_the_image_holds_serving_only_within_its_size_budget(image: str) -> None:
    result = docker("run", "--rm", "--read-only", "--entrypoint", "python", image, "-c", _INSPECT)
    found = json.loads(result.stdout)
    assert found["importable"] == [], "training, evaluation or build tools in the image"
    assert not found["torch_headers"]
    assert found["bytes"] <= SITE_PACKAGES_LIMIT, f"{found['site']}: {found['bytes'] / 1e9:.2f} GB"
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert "/readyz" in " ".join(config["Healthcheck"]["Test"])


def test_runs_read_only_as_its_numeric_user_becomes_healthy_and_tags(container: Container) -> None:
    assert container.inspect()["HostConfig"]["ReadonlyRootfs"] is True
    processes = container.exec("python", "-c", _OWNERS).stdout.split()
    assert len(processes) >= 3 and set(processes) == {str(IMAGE_UID)}, processes  # server, models
    assert container.health() == "healthy"
    tagged = httpx.post(container.url + "/v1/tag", json={"texts": TEXTS}, timeout=30)
    assert tagged.status_code == 200, tagged.text
    results = TagResponse.model_validate_json(tagged.content).results
    here = Tagger.load(DEFAULT_MODEL, torch.device("cpu"))
    expected = [p.tags for p in here.tag_sentences([text.split() for text in TEXTS])]
    assert [[t.tag for t in result.tokens] for result in results] == expected


def test_compares_the_bundled_models(container: Container) -> None:
    compared = httpx.post(container.url + "/v1/compare", json={"texts": TEXTS}, timeout=30)
    assert compared.status_code == 200, compared.text
    body = CompareResponse.model_validate_json(compared.content)
    assert (body.models.bidirectional, body.models.forward) == (
        DEFAULT_MODEL.name,
        FORWARD_MODEL.name,
    )
    forward = Tagger.load(FORWARD_MODEL, torch.device("cpu"))
    expected = [p.tags for p in forward.tag_sentences([text.split() for text in TEXTS])]
    assert [[t.forward.tag for t in r.tokens] for r in body.results] == expected


#: The user id of every process in the container, one a line.
_OWNERS = """
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        print(os.stat(f"/proc/{pid}").st_uid)
    except FileNotFoundError:
        pass
"""

#: Kills a model process (a child that multiprocessing spawned) and prints its pid.
_KILL_MODEL = """
import os, signal
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\\0")
    except FileNotFoundError:
        continue
    if b"--multiprocessing-fork" in argv:
        os.kill(int(pid), signal.SIGKILL)
        print(pid)
        break
"""


def test_a_killed_model_process_is_replaced_and_the_container_serves_on(
    container: Container,
) -> None:
    def restarts() -> float:
        text = httpx.get(container.url + "/metrics", timeout=10).text
        return sum(
            metric(text, "ner_model_restarts_total", model=name)
            for name in (DEFAULT_MODEL.name, FORWARD_MODEL.name)
        )

    before = restarts()
    killed = container.exec("python", "-c", _KILL_MODEL).stdout.strip()
    assert killed, "no model process found"
    wait_for(lambda: restarts() == before + 1, 120, "the model process to be replaced")
    wait_for(lambda: container.health() == "healthy", 60, "the container to be healthy again")
    tagged = httpx.post(container.url + "/v1/tag", json={"texts": TEXTS}, timeout=30)
    assert tagged.status_code == 200, tagged.text
    assert container.inspect()["RestartCount"] == 0, "the container itself was restarted"
    assert "was killed by SIGKILL: starting a new one" in container.logs()


def test_docker_stop_answers_every_request_in_flight_and_exits_0(image: str) -> None:
    # One batch that waits 10 s for company: all 64 requests are in it, in flight, when the
    # stop comes (however slowly a busy machine sends them), and it ends within the grace.
    env = {"NER_MAX_WAIT_MS": "10000", "NER_MAX_BATCH_SIZE": "256", "NER_MAX_QUEUE": "1024"}
    count = 64
    with (
        run_container(image, env=env) as running,
        httpx.Client(limits=httpx.Limits(max_connections=count), timeout=60) as client,
    ):
        wait_healthy(running)

        def post(i: int) -> str:
            text = f"Olga Berg{i} met officials from Initech in Lima ."
            response = client.post(running.url + "/v1/tag", json={"text": text})
            if response.status_code != 200:
                return f"{response.status_code} {response.text}"
            (result,) = response.json()["results"]
            return "200" if [t["text"] for t in result["tokens"]] == text.split() else "partial"

        def inflight() -> float:
            text = httpx.get(running.url + "/metrics", timeout=10).text
            return metric(text, "ner_inflight_requests")

        with ThreadPoolExecutor(count) as pool:
            answers = [pool.submit(post, i) for i in range(count)]
            wait_for(lambda: inflight() == count, 60, f"{count} requests in flight", 0.1)
            stop = docker("stop", "--time", "30", running.id, timeout=60)
            outcomes = Counter(answer.result(timeout=60) for answer in answers)
        state = running.inspect()["State"]
        assert stop.returncode == 0
        assert outcomes == Counter({"200": count}), running.logs()[-3000:]
        assert (state["Running"], state["ExitCode"], state["OOMKilled"]) == (False, 0, False)
        logs = running.logs()
        assert f"draining {count} requests" in logs
        assert "model process" not in logs, "a model process died or was replaced"


def test_docker_stop_while_the_models_load_ends_them_at_once(image: str) -> None:
    # The server is the container's PID 1, which ignores a signal it has no handler for: with
    # none, `docker stop` would wait out its timeout and kill the container (exit 137).
    with run_container(image) as running:

        def processes() -> list[str]:
            return docker("top", running.id, "-o", "pid,args").stdout.splitlines()[1:]

        # The model processes run: the models are loading (seconds), the server not yet up.
        wait_for(lambda: len(processes()) >= 2, 60, lambda: f"model processes: {processes()}", 0.1)
        stop = docker("stop", "--time", "60", running.id, timeout=120)
        state = running.inspect()["State"]
        assert stop.returncode == 0
        assert (state["Running"], state["ExitCode"]) == (False, 143), running.logs()[-3000:]
        assert "stopped while loading the models" in running.logs()


def test_runs_as_any_numeric_user_with_nothing_to_write_but_tmp(image: str) -> None:
    # Kubernetes and OpenShift may pick the user id: nothing may depend on 10001's passwd entry.
    with run_container(image, user="12345:0") as running:
        wait_healthy(running)
        processes = running.exec("python", "-c", _OWNERS).stdout.split()
        assert set(processes) == {"12345"}


def test_serves_a_repository_mounted_read_only_and_takes_a_new_version(
    image: str, drugs_model: Path, tiny_model: Path, tmp_path: Path
) -> None:
    # Artifacts as `bigru-ner train` wrote them, on the host, owned by another user than the
    # image's: they must be readable as they are.
    repository = tmp_path / "models"
    shutil.copytree(drugs_model, repository / "drugs" / "1")
    repository.chmod(0o755)
    env = {"NER_MODEL_REPOSITORY": "/models", "NER_MODEL_POLL_S": "0"}
    with run_container(image, env, args=["--volume", f"{repository}:/models:ro"]) as running:
        wait_healthy(running)
        (listed,) = httpx.get(running.url + "/v1/models").json()["models"]
        assert (listed["name"], listed["version"], listed["labels"]) == (
            "drugs",
            1,
            ["DOSE", "DRUG"],
        )
        shutil.copytree(tiny_model, repository / "drugs" / ".incoming")
        (repository / "drugs" / ".incoming").rename(repository / "drugs" / "2")
        loaded = httpx.post(running.url + "/v1/models/drugs/load", timeout=120)
        assert loaded.status_code == 200, loaded.text
        assert (loaded.json()["version"], loaded.json()["labels"]) == (2, ["LOC", "ORG", "PER"])
