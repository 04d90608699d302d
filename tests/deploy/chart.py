"""The Helm chart, rendered by the real helm: its manifests, and the parts of its pod spec."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import ROOT, run_tool, tool

CHART = ROOT / "deploy" / "helm" / "bigru-ner"
ADAPTER_VALUES = ROOT / "deploy" / "helm" / "prometheus-adapter-values.yaml"
RELEASE = "ner"
NAMESPACE = "tagging"

#: The value sets the README documents, as helm arguments.
VALUE_SETS: dict[str, list[str]] = {
    "cpu": [],
    "gpu": ["-f", str(CHART / "values-gpu.yaml")],
    "keda": ["-f", str(CHART / "values-keda.yaml")],
    # The optional parts that the others leave off.
    "options": [
        "--set",
        "networkPolicy.enabled=true,apiKey.existingSecret=ner-api-key",
        "--set-json",
        'networkPolicy.from=[{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}]',
        "--set-json",
        'modelRepository.volume={"persistentVolumeClaim": {"claimName": "ner-models"}}',
    ],
}


def helm(args: Sequence[str]) -> tuple[int, str]:
    """Run helm; its exit status and its output (stdout, then stderr)."""
    result = run_tool([tool("helm"), *args])
    return result.returncode, result.stdout + result.stderr


def render(args: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``helm template`` of the chart with ``args``, as parsed manifests; fails on an error."""
    template = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args]
    result = run_tool([tool("helm"), *template])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def only(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The one manifest of ``kind``."""
    (found,) = [m for m in manifests if m["kind"] == kind]
    return found


@dataclass
class Pod:
    """The Deployment's pod template, with its one container."""

    spec: dict[str, Any]
    labels: dict[str, str]

    @property
    def container(self) -> dict[str, Any]:
        """The service's container."""
        (container,) = self.spec["containers"]
        result: dict[str, Any] = container
        return result

    @property
    def env(self) -> dict[str, str]:
        """The container's literal environment values."""
        return {e["name"]: e["value"] for e in self.container["env"] if "value" in e}

    def port(self, name: str) -> int:
        """The container port called ``name``."""
        (port,) = [p["containerPort"] for p in self.container["ports"] if p["name"] == name]
        return int(port)

    @property
    def pre_stop_seconds(self) -> float:
        """The pause of the preStop hook (``sleep N``)."""
        command = self.container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep" and len(command) == 2, command
        return float(command[1])

    @property
    def tmpfs(self) -> dict[str, str]:
        """Mount path -> size limit of every memory-backed emptyDir the container mounts (the
        read-only mounts of the user's data aside)."""
        volumes = {v["name"]: v.get("emptyDir") for v in self.spec.get("volumes", [])}
        mounts = {}
        for mount in self.container.get("volumeMounts", []):
            empty_dir = volumes[mount["name"]]
            if empty_dir is None and mount.get("readOnly"):
                continue
            if empty_dir is None:
                pytest.fail(f"{mount['name']} is not an emptyDir: no stand-in for it")
            mounts[mount["mountPath"]] = empty_dir.get("sizeLimit", "")
        return mounts


def pod(manifests: list[dict[str, Any]]) -> Pod:
    """The pod template of the chart's Deployment."""
    template = only(manifests, "Deployment")["spec"]["template"]
    return Pod(template["spec"], template["metadata"]["labels"])


def cpu_quantity(value: str | int | float) -> float:
    """A Kubernetes CPU quantity in CPUs: ``2``, ``1.5``, ``500m``."""
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether matchLabels ``selector`` (non-empty) selects an object with ``labels``."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def adapter_rule() -> dict[str, Any]:
    """The one rule of the prometheus-adapter values snippet."""
    values = yaml.safe_load(Path(ADAPTER_VALUES).read_text(encoding="utf-8"))
    (rule,) = values["rules"]["custom"]
    result: dict[str, Any] = rule
    return result
