"""The compose stack up for real: three tagger replicas behind the load balancer, scraped by
Prometheus, started with docker-compose from docker-compose.yml. The official HAProxy and
Prometheus images cannot be pulled here: compose.standin.yml replaces them by the same programs
from Debian's packages (Grafana, with neither, is left out)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.container import build
from tests.container.support import docker
from tests.deploy.support import ALERT_RULES, ROOT, free_port, load_yaml, tool, wait_for

OVERRIDE = Path(__file__).with_name("compose.standin.yml")
REPLICAS = 3
#: A text of 40 sentences: a request takes long enough to be caught in flight.
LONG_TEXT = " ".join(f"Mary Rossi{i} visited Oslo with Acme Corp ." for i in range(40))


@dataclass
class Stack:
    """A compose project of this checkout's stack, published on free loopback ports."""

    project: str
    lb: str
    prometheus: str
    env: dict[str, str] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 600) -> str:
        """Run docker-compose on the project; its output (fails the test if it fails)."""
        files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(OVERRIDE)]
        result = subprocess.run(
            [tool("docker-compose"), "-p", self.project, *files, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=os.environ | self.env,
            check=False,
        )
        assert result.returncode == 0, f"docker-compose {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    def containers(self, service: str) -> list[str]:
        """Ids of the service's running containers."""
        labels = [f"com.docker.compose.project={self.project}"]
        labels.append(f"com.docker.compose.service={service}")
        filters = [f"--filter=label={label}" for label in labels]
        return docker("ps", "--quiet", *filters).stdout.split()

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result of an instant query to the stack's Prometheus."""
        answer = httpx.get(self.prometheus + "/api/v1/query", params={"query": promql}, timeout=10)
        assert answer.status_code == 200, answer.text
        result: list[dict[str, Any]] = answer.json()["data"]["result"]
        return result


def _inspect(container: str) -> dict[str, Any]:
    (details,) = json.loads(docker("inspect", container).stdout)
    return dict(details)


@pytest.fixture(scope="module")
def stack(image: str) -> Iterator[Stack]:
    """The stack, up with three healthy tagger replicas; taken down at the end."""
    for name in build.STANDIN_TOOLS:
        build.build_standin_tool(name)
    lb_port, prometheus_port = free_port(), free_port()
    up = Stack(
        project=f"bigrunertest{uuid.uuid4().hex[:8]}",
        lb=f"http://127.0.0.1:{lb_port}",
        prometheus=f"http://127.0.0.1:{prometheus_port}",
        env={
            "BIGRU_NER_IMAGE": image,
            "NER_PUBLISH": f"127.0.0.1:{lb_port}",
            "PROMETHEUS_PUBLISH": f"127.0.0.1:{prometheus_port}",
        },
    )
    try:
        # `up` returns once the replicas are healthy and the load balancer has started.
        up.compose("up", "--detach", "--no-build", "--scale", f"tagger={REPLICAS}")
        assert len(up.containers("tagger")) == REPLICAS
        yield up
    finally:
        up.compose("down", "--volumes", "--timeout", "30")


def _tag(url: str, text: str = "Olga Berg met officials from Initech in Lima .") -> int:
    return httpx.post(url + "/v1/tag", json={"text": text}, timeout=60).status_code


def test_requests_through_the_load_balancer_reach_every_replica(stack: Stack) -> None:
    wait_for(lambda: _answers_200(stack.lb + "/readyz"), 60, "the load balancer's /readyz")
    with ThreadPoolExecutor(6) as pool:
        statuses = Counter(pool.map(lambda _: _tag(stack.lb), range(60)))
    assert statuses == Counter({200: 60})
    compared = httpx.post(stack.lb + "/v1/compare", json={"text": "Kofi flew to Lima ."})
    assert compared.status_code == 200, compared.text

    # Each replica counts what it answered, and Prometheus scrapes each one on its own.
    def per_replica() -> dict[str, float]:
        tagged = 'sum by (instance) (ner_requests_total{endpoint="/v1/tag", status="200"})'
        return {r["metric"]["instance"]: float(r["value"][1]) for r in stack.query(tagged)}

    def all_counted() -> bool:
        counts = per_replica()
        return sum(counts.values()) >= 60

    wait_for(all_counted, 90, lambda: f"Prometheus to count the requests: {per_replica()}", 1)
    counts = per_replica()
    assert len(counts) == REPLICAS and all(count > 0 for count in counts.values()), counts


def _answers_200(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_prometheus_scrapes_every_replica_and_loaded_the_alert_rules(stack: Stack) -> None:
    def targets() -> list[dict[str, Any]]:
        answer = httpx.get(stack.prometheus + "/api/v1/targets", timeout=10).json()
        return [t for t in answer["data"]["activeTargets"] if t["labels"]["job"] == "tagger"]

    def all_up() -> bool:
        found = targets()
        return len(found) == REPLICAS and all(t["health"] == "up" for t in found)

    wait_for(all_up, 90, lambda: f"{REPLICAS} tagger targets up: {targets()}", 1)
    addresses = {
        network["IPAddress"]
        for container in stack.containers("tagger")
        for network in _inspect(container)["NetworkSettings"]["Networks"].values()
    }
    assert {t["labels"]["instance"].split(":")[0] for t in targets()} == addresses
    rules = httpx.get(stack.prometheus + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    shipped = load_yaml(ALERT_RULES)["groups"]
    assert {g["name"]: len(g["rules"]) for g in rules} == {
        g["name"]: len(g["rules"]) for g in shipped
    }
    assert all(rule["health"] == "ok" for group in rules for rule in group["rules"]), rules


def test_a_killed_replica_comes_back_while_the_others_answer(stack: Stack) -> None:
    victim = stack.containers("tagger")[0]
    state = _inspect(victim)["State"]
    statuses: Counter[int | str] = Counter()
    stop = threading.Event()

    def keep_tagging() -> None:
        while not stop.is_set():
            try:
                statuses[_tag(stack.lb)] += 1
            except httpx.TransportError as error:
                statuses[type(error).__name__] += 1

    with ThreadPoolExecutor(2) as pool:
        clients = [pool.submit(keep_tagging) for _ in range(2)]
        time.sleep(1)
        os.kill(state["Pid"], 9)  # as the kernel's OOM killer would: no docker stop
        try:
            wait_for(
                lambda: _inspect(victim)["RestartCount"] == 1, 60, "the replica to be restarted"
            )
            wait_for(
                lambda: _inspect(victim)["State"]["Health"]["Status"] == "healthy",
                180,
                "the restarted replica to be healthy",
                1,
            )
        finally:
            stop.set()
            for client in clients:
                client.result(timeout=120)
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 10


@pytest.mark.xfail(
    reason="issue 13, open: in two clean-clone runs of .ci/run on 2026-11-30 a request sent "
    "before HAProxy's soft stop was closed unanswered, and HAProxy outlived the 30 s timeout",
    strict=False,
)
def test_compose_down_answers_the_requests_in_flight(stack: Stack) -> None:
    started = time.time()
    outcomes: list[tuple[float, float, str]] = []
    stop = threading.Event()

    def keep_tagging() -> None:
        while not stop.is_set():
            begun = time.time()
            try:
                outcome = str(_tag(stack.lb, LONG_TEXT))
            except httpx.ConnectError:
                outcome = "refused"
            except (httpx.RemoteProtocolError, httpx.ReadError):
                # Docker's proxy of the published port accepts the connection, then finds
                # nothing listening in the container and closes it: never reached HAProxy.
                outcome = "closed unread"
            except httpx.TransportError as error:
                outcome = f"lost: {type(error).__name__}"
            outcomes.append((begun, time.time(), outcome))
            if outcome == "refused":
                return

    with ThreadPoolExecutor(8) as pool:
        clients = [pool.submit(keep_tagging) for _ in range(8)]
        wait_for(lambda: len(outcomes) >= 16, 60, "requests to be answered")
        try:
            stack.compose("down", "--volumes", "--timeout", "30")
        finally:
            stop.set()
            for client in clients:
                client.result(timeout=120)
    events = docker(
        "events",
        f"--since={started:.3f}",
        f"--until={time.time():.3f}",
        f"--filter=label=com.docker.compose.project={stack.project}",
        "--filter=event=kill",
        "--filter=event=die",
        "--format={{json .}}",
    ).stdout.splitlines()
    happened = [json.loads(line) for line in events]
    kills = [
        e
        for e in happened
        if e["Action"] == "kill" and e["Actor"]["Attributes"]["com.docker.compose.service"] == "lb"
    ]
    assert kills, "the load balancer was never told to stop"
    first = min(kills, key=lambda e: e["timeNano"])
    assert first["Actor"]["Attributes"]["signal"] == str(signal.SIGUSR1), kills  # a soft stop
    lb_stop = first["timeNano"] / 1e9
    exits = {
        e["Actor"]["Attributes"]["com.docker.compose.service"]: e["Actor"]["Attributes"]["exitCode"]
        for e in happened
        if e["Action"] == "die"
    }
    # Every replica drained and exited 0. HAProxy, soft-stopped, has been seen here to outlive
    # the 30 s timeout in spite of its hard-stop-after (Docker then kills it: 137), so its exit
    # status is not asserted; what it answered is, below.
    assert {k: v for k, v in exits.items() if k != "lb"} and all(
        v == "0" for k, v in exits.items() if k != "lb"
    ), exits
    timeline = [(round(b - lb_stop, 3), round(e - lb_stop, 3), o) for b, e, o in outcomes]
    # Every request sent before the load balancer was told to stop was answered...
    assert {o for begun, _, o in timeline if begun < 0} == {"200"}, timeline
    # ...those still in flight then included; later ones found the port closing or closed.
    assert [o for begun, ended, o in timeline if begun < 0 < ended], "none was in flight"
    assert {o for begun, _, o in timeline if begun >= 0} <= {"200", "refused", "closed unread"}
