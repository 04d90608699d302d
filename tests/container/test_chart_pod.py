"""The Helm chart's pod spec run by Docker: a stand-in for the kubelet, not a cluster.

The container gets what the rendered Deployment gives the pod: its literal environment, user
and group, a read-only root with each emptyDir as a tmpfs of its size limit, no capabilities, no
privilege escalation, the CPU and memory limits. The test then asks what the probes ask, runs
the preStop command in it, and stops it as the kubelet would: SIGTERM, SIGKILL once
terminationGracePeriodSeconds have passed. What a cluster adds (scheduling, endpoints, the
probes' timing) is not tested here.
"""

from __future__ import annotations

import time

import httpx

from tests.container.support import docker, run_container
from tests.deploy.chart import VALUE_SETS, pod, render
from tests.deploy.support import answers, wait_for

#: Kubernetes binary suffixes and Docker's, for sizes.
DOCKER_UNITS = {"Ki": "k", "Mi": "m", "Gi": "g"}


def docker_size(quantity: str) -> str:
    """A Kubernetes memory quantity (``64Mi``, ``2Gi``) as Docker writes it (``64m``, ``2g``)."""
    for suffix, unit in DOCKER_UNITS.items():
        if quantity.endswith(suffix):
            return quantity.removesuffix(suffix) + unit
    return quantity


def test_pod_spec_serves_its_probes_and_drains_under_docker(image: str) -> None:
    spec = pod(render(VALUE_SETS["cpu"]))
    container = spec.container
    context = spec.spec["securityContext"] | container["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"]} and not context["allowPrivilegeEscalation"]
    limits = container["resources"]["limits"]
    args = [
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--cpus={limits['cpu']}",
        f"--memory={docker_size(limits['memory'])}",
    ]
    tmpfs = [f"{path}:size={docker_size(size)}" for path, size in spec.tmpfs.items()]
    user = f"{context['runAsUser']}:{context['runAsGroup']}"
    with run_container(
        image,
        env=spec.env,
        user=user,
        read_only=context["readOnlyRootFilesystem"],
        tmpfs=tmpfs,
        port=spec.port("http"),
        args=args,
    ) as running:
        probes = {kind: container[f"{kind}Probe"] for kind in ("startup", "readiness", "liveness")}
        startup = probes["startup"]
        wait_for(
            lambda: answers(running.url + startup["httpGet"]["path"]),
            timeout=startup["periodSeconds"] * startup["failureThreshold"],
            what=lambda: f"the startup probe's answer:\n{running.logs()[-4000:]}",
        )
        for kind, probe in probes.items():
            answer = httpx.get(running.url + probe["httpGet"]["path"], timeout=5)
            assert answer.status_code == 200, (kind, answer.text)
        text = {"text": "Jordan met Egypt's envoy in Cairo ."}
        tagged = httpx.post(running.url + "/v1/tag", json=text, timeout=30)
        assert tagged.status_code == 200, tagged.text
        body = tagged.json()
        assert body["device"] == spec.env["NER_DEVICE"] and body["results"][0]["entities"], body
        # The preStop hook's command exists in the image and runs as the pod's user.
        running.exec(*container["lifecycle"]["preStop"]["exec"]["command"])
        grace = spec.spec["terminationGracePeriodSeconds"]
        started = time.monotonic()
        docker("stop", f"--time={grace}", running.id, timeout=grace + 30)
        stopped_after = time.monotonic() - started
        state = running.inspect()["State"]
        # 0: drained and exited by itself on SIGTERM (SIGKILL would make it 137).
        assert state["ExitCode"] == 0, running.logs()[-4000:]
        assert stopped_after < grace
