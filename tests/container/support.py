"""Helpers of the container tests: a Docker engine, containers of the image, their readiness.

Reusable by any test that runs the image (the ``image`` fixture of ``conftest.py`` builds it):

    with run_container(image, env={"NER_MAX_QUEUE": "64"}) as container:
        wait_healthy(container)
        httpx.post(container.url + "/v1/tag", json={"text": "..."})

Containers run as the image's numeric user with a read-only root and a tmpfs on /tmp, and
publish their port on 127.0.0.1 only (a free port that Docker picks).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import answers, wait_for

#: The image's user, numeric (Dockerfile ``USER``).
IMAGE_UID = 10001


def docker(
    *args: str, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the docker client to completion, capturing its output; fails the test on error
    when ``check``."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def engine_answers() -> bool:
    """Whether a Docker engine answers the client."""
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, timeout=60, check=False)
    return result.returncode == 0


@contextmanager
def docker_engine() -> Iterator[None]:
    """A Docker engine for the tests: the one that runs, else ``dockerd`` started here (as
    root) and stopped again at the end, so the machine is left as it was found."""
    if engine_answers():
        yield
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        pytest.fail("no Docker engine runs, and none can be started: `make system-deps` as root")
    with tempfile.TemporaryDirectory(prefix="dockerd-") as tmp:
        log = Path(tmp) / "dockerd.log"
        with log.open("wb") as out:
            process = subprocess.Popen([dockerd], stdout=out, stderr=out)
        try:
            wait_for(
                lambda: process.poll() is not None or engine_answers(),
                120,
                lambda: f"dockerd to answer:\n{log.read_text()[-3000:]}",
                interval=0.5,
            )
            assert process.poll() is None, f"dockerd exited:\n{log.read_text()[-3000:]}"
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Container:
    """A container that a test started."""

    id: str
    #: ``http://127.0.0.1:PORT``: where its port 8000 is published.
    url: str

    def inspect(self) -> dict[str, Any]:
        """``docker inspect`` of the container."""
        (details,) = json.loads(docker("inspect", self.id).stdout)
        return dict(details)

    def health(self) -> str:
        """The HEALTHCHECK's verdict: starting, healthy or unhealthy."""
        return str(self.inspect()["State"]["Health"]["Status"])

    def logs(self) -> str:
        """What the container wrote, stdout and stderr together."""
        result = docker("logs", self.id, check=False)
        return result.stdout + result.stderr

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the container (as its user); fails the test if it fails."""
        return docker("exec", self.id, *argv, timeout=60)


@contextmanager
def run_container(
    image: str,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    read_only: bool = True,
    tmpfs: Sequence[str] = ("/tmp",),
    port: int = 8000,
    args: Sequence[str] = (),
) -> Iterator[Container]:
    """``docker run -d`` of ``image``: ``env`` as its environment, as ``user`` (the image's own
    unless given), read-only but for ``tmpfs``, ``port`` published on a free loopback port;
    removed at the end (its log is shown if the test failed). ``args`` go before the image."""
    argv = ["run", "-d", "--publish", f"127.0.0.1::{port}"]
    argv += [f"--env={key}={value}" for key, value in (env or {}).items()]
    argv += ["--read-only"] if read_only else []
    argv += [f"--tmpfs={path}" for path in tmpfs]
    argv += [f"--user={user}"] if user is not None else []
    container_id = docker(*argv, *args, image).stdout.strip()
    try:
        published = docker("port", container_id, f"{port}/tcp").stdout.split()[0]
        host, _, host_port = published.rpartition(":")
        assert host == "127.0.0.1", published
        container = Container(container_id, f"http://127.0.0.1:{host_port}")
        yield container
    except BaseException:
        print(docker("logs", container_id, check=False).stderr[-6000:])
        raise
    finally:
        docker("rm", "--force", "--volumes", container_id, check=False)


def wait_healthy(container: Container, timeout: float = 180) -> None:
    """Wait until the image's HEALTHCHECK calls the container healthy (its /readyz is 200)."""

    def healthy() -> bool:
        state = container.inspect()["State"]
        assert state["Running"], f"the container stopped:\n{container.logs()[-4000:]}"
        return bool(state["Health"]["Status"] == "healthy")

    wait_for(healthy, timeout, lambda: f"a healthy container:\n{container.logs()[-4000:]}", 0.5)


def wait_ready(container: Container, timeout: float = 180) -> None:
    """Wait until the container's /readyz answers 200 through its published port."""
    wait_for(lambda: answers(container.url + "/readyz"), timeout, "/readyz of the container")


def log_time(line: str) -> float:
    """The time of a ``docker logs --timestamps`` line (RFC 3339, nanoseconds, UTC)."""
    stamp = line.split(" ", 1)[0]
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    utc = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    return utc.timestamp() + float("0." + (fraction or "0"))


def not_answered(line: str) -> bool:
    """Whether a line of HAProxy's log (``option httplog``) is a POST it did not answer 200."""
    return '"POST ' in line and line.split()[5] != "200"


def termination(line: str) -> str:
    """The end state of the session of a line of HAProxy's log: ``----`` for a normal one,
    ``SH--`` when the server aborted before its response headers, and so on."""
    return line.split()[9]
