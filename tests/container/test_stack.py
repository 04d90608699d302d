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
from tests.container.support import docker, log_time, not_answered, termination
from tests.deploy.support import ALERT_RULES, ROOT, free_port, load_yaml, tool, wait_for

OVERRIDE = Path(__file__).with_name("compose.standin.yml")
REPLICAS = 3
#: Clients that keep sending while a replica is killed.
CLIENTS = 2
#: What the clients send while the stack goes down: short enough that, one client per replica,
#: what is in flight when the load balancer is told to stop is answered within its grace even on
#: a loaded machine (8 concurrent texts of 40 sentences took 25 to 42 s each on one).
DRAIN_TEXT = " ".join(f"Mary Rossi{i} visited Oslo with Acme Corp ." for i in range(4))
#: A request that keeps a replica busy for a second or two (960 sentences of about 100 tokens,
#: within the queue's 1024), within HAProxy's grace: a short one spends most of its time on
#: its way to a replica and back, and `down` takes about a second to tell HAProxy to stop, so
#: without it none may be inside a replica at that moment.
BUSY_TEXTS = [
    " ".join(
        " , ".join(f"Mary Rossi{i}{j} of Acme Corp met Paul Berg in Oslo" for j in range(10)) + " ."
        for i in range(16)
    )
] * 60
#: HAProxy's notice when its grace (monitoring/haproxy/haproxy.cfg) ends and it closes its port.
GRACE_OVER = "Grace period expired"


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

    def wait_healthy(self) -> None:
        """Wait until every tagger replica's health check passes (loading the model takes
        minutes on a loaded machine)."""

        def health() -> list[str]:
            return [_inspect(c)["State"]["Health"]["Status"] for c in self.containers("tagger")]

        wait_for(lambda: health() == ["healthy"] * REPLICAS, 600, lambda: f"healthy: {health()}", 2)

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
        scale = ("--scale", f"tagger={REPLICAS}")
        # The replicas first, waited for here: compose's own wait (the load balancer's
        # depends_on) gives up at the first health check that fails after the start period,
        # and on a loaded machine a replica still loading its model can fail one and pass the
        # next.
        up.compose("up", "--detach", "--no-build", *scale, "tagger", "prometheus")
        assert len(up.containers("tagger")) == REPLICAS

        up.wait_healthy()
        # Then the load balancer; `up` returns once it has started.
        up.compose("up", "--detach", "--no-build", *scale)
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
    outcomes: list[tuple[float, int | str]] = []  # when each request was sent, and its status
    stop = threading.Event()

    def keep_tagging() -> None:
        while not stop.is_set():
            begun = time.time()
            try:
                outcomes.append((begun, _tag(stack.lb)))
            except httpx.TransportError as error:
                outcomes.append((begun, type(error).__name__))

    with ThreadPoolExecutor(CLIENTS) as pool:
        clients = [pool.submit(keep_tagging) for _ in range(CLIENTS)]
        time.sleep(1)
        os.kill(state["Pid"], 9)  # as the kernel's OOM killer would: no docker stop
        # Killed once it is gone (its sockets closed), not when the signal was sent: a request
        # sent in between can still reach it.
        killed = _gone(state["Pid"])
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
    (lb,) = stack.containers("lb")
    unanswered = [line for line in docker("logs", lb).stdout.splitlines() if not_answered(line)]
    lost = [(round(begun - killed, 3), status) for begun, status in outcomes if status != 200]
    # The others answer everything sent once the replica was killed. A request in flight on it
    # when it was killed is sent to another replica (retry-on, monitoring/haproxy/haproxy.cfg),
    # which Debian's HAProxy 2.6.12 does not always do: such a request may end 502, logged by
    # HAProxy as aborted by its server before any answer (SH), one per client at most.
    assert all(begun < 0 and status == 502 for begun, status in lost), (lost, unanswered)
    assert len(lost) <= CLIENTS and len(unanswered) == len(lost), (lost, unanswered)
    assert all(termination(line).startswith("SH") for line in unanswered), unanswered
    assert sum(begun > 0 and status == 200 for begun, status in outcomes) > 10, lost


def _gone(pid: int) -> float:
    """When process ``pid`` was first seen ended (gone, or a zombie: its sockets closed)."""

    def ended() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        return state in {"Z", "X"}

    wait_for(ended, 10, f"process {pid} to end after SIGKILL", 0.001)
    return time.time()


def _send(url: str, text: str | list[str]) -> str:
    """POST ``text`` (or texts) to /v1/tag: the status, or what became of a request that got
    none."""
    body = {"text": text} if isinstance(text, str) else {"texts": text}
    try:
        answer = httpx.post(url + "/v1/tag", json=body, timeout=60)
    except httpx.ConnectError:
        return "refused"
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return "closed unread"
    except httpx.TransportError as error:
        return f"lost: {type(error).__name__}"
    if answer.status_code == 503:
        # The load balancer's refusal while it stops: the service's own error body.
        assert answer.json()["error"]["code"] == "not_ready", answer.text
        assert answer.headers["Retry-After"] == "1"
    return str(answer.status_code)


def test_compose_down_answers_the_requests_in_flight(stack: Stack) -> None:
    """`docker-compose down` under load, through the published port (Docker's proxy on
    127.0.0.1 in front of HAProxy), with the stop timeouts of docker-compose.yml."""
    # A replica still loading its model (one restarted by an earlier test, say) serves nothing
    # to drain.
    stack.wait_healthy()
    started = time.time()
    outcomes: list[tuple[float, float, str]] = []
    stop = threading.Event()

    busy_since: list[float] = []  # when the long request now in progress began

    def keep_tagging(text: str | list[str]) -> None:
        while not stop.is_set():
            begun = time.time()
            busy = text is BUSY_TEXTS
            if busy:
                busy_since[:] = [begun]
            outcome = _send(stack.lb, text)
            if busy:
                busy_since.clear()
            outcomes.append((begun, time.time(), outcome))
            if outcome == "503":
                time.sleep(1)  # its Retry-After
            elif outcome != "200":
                return

    (lb,) = stack.containers("lb")
    lb_log = subprocess.Popen(
        ["docker", "logs", "--follow", "--timestamps", lb],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with ThreadPoolExecutor(REPLICAS + 1) as pool:
        clients = [pool.submit(keep_tagging, DRAIN_TEXT) for _ in range(REPLICAS)]
        clients.append(pool.submit(keep_tagging, BUSY_TEXTS))
        try:
            wait_for(lambda: len(outcomes) >= 2 * REPLICAS, 120, "requests to be answered")
            # Down while the long request is surely inside a replica (it is sent, not yet back).
            wait_for(
                lambda: bool(busy_since) and time.time() - busy_since[0] > 0.1,
                120,
                "a long request to be in progress",
                interval=0.02,
            )
            down_began = time.time()
            stack.compose("down", "--volumes")
            down_took = time.time() - down_began
        finally:
            stop.set()
            for client in clients:
                client.result(timeout=120)
    log, _ = lb_log.communicate(timeout=60)
    events = docker(
        "events",
        f"--since={started:.3f}",
        f"--until={time.time():.3f}",
        f"--filter=label=com.docker.compose.project={stack.project}",
        "--filter=event=kill",
        "--filter=event=die",
        "--format={{json .}}",
    ).stdout.splitlines()
    happened = sorted((json.loads(line) for line in events), key=lambda e: e["timeNano"])

    def service(event: dict[str, Any]) -> str:
        return str(event["Actor"]["Attributes"]["com.docker.compose.service"])

    kills = [e for e in happened if e["Action"] == "kill"]
    first_kill: dict[str, dict[str, Any]] = {}
    for e in kills:
        first_kill.setdefault(e["id"], e)
    stops = [
        (
            service(e),
            e["Actor"]["Attributes"]["exitCode"],
            round((e["timeNano"] - first_kill[e["id"]]["timeNano"]) / 1e9, 1),
        )
        for e in happened
        if e["Action"] == "die" and e["id"] in first_kill
    ]
    counts = Counter(outcome for _, _, outcome in outcomes)
    print(f"down took {down_took:.1f} s; (service, exit, s from signal): {stops}; {counts}")
    lb_kills = [e for e in first_kill.values() if service(e) == "lb"]
    assert lb_kills, "the load balancer was never told to stop"
    # A soft stop, and before the replicas (compose stops what depends on them first).
    assert lb_kills[0]["Actor"]["Attributes"]["signal"] == str(signal.SIGUSR1), lb_kills
    lb_stop = lb_kills[0]["timeNano"] / 1e9
    assert all(e["timeNano"] / 1e9 > lb_stop for e in first_kill.values() if service(e) == "tagger")
    # Every container exited by itself, and at once once its work was done: none was killed
    # at its stop timeout (SIGKILL, 137), and HAProxy cut nothing short (its hard-stop-after).
    assert all(e["Actor"]["Attributes"]["signal"] != str(signal.SIGKILL) for e in kills), kills
    exits = [
        (service(e), e["Actor"]["Attributes"]["exitCode"]) for e in happened if e["Action"] == "die"
    ]
    assert sorted(exits) == sorted(
        [("lb", "0"), ("prometheus", "0")] + [("tagger", "0")] * REPLICAS
    ), exits
    assert "hard-stop" not in log, log[-3000:]
    timeline = [(round(b - lb_stop, 3), round(e - lb_stop, 3), o) for b, e, o in outcomes]
    # Everything sent before `down` began, or well before HAProxy was told to stop, was
    # answered, those still in flight when it was told included.
    assert {o for b, _, o in outcomes if b < max(down_began, lb_stop - 1)} == {"200"}, timeline
    assert [o for _, e, o in outcomes if e > lb_stop and o == "200"], f"none in flight: {timeline}"
    # Later ones were answered, or refused: a 503 from HAProxy during its grace, then no
    # connection. Docker's proxy of the published port takes connections on 127.0.0.1 as long
    # as the container runs, and closes them unread when nothing listens behind it: that is
    # allowed only once HAProxy has closed its port (give or take the log's delay).
    grace_over = [log_time(line) for line in log.splitlines() if GRACE_OVER in line]
    port_closed = min(grace_over, default=float("inf"))
    for begun, _, outcome in outcomes:
        if outcome == "closed unread":
            assert begun > port_closed - 1, (round(port_closed - lb_stop, 3), timeline)
        else:
            assert outcome in {"200", "503", "refused"}, timeline
