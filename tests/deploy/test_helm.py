"""deploy/helm/bigru-ner: helm's own lint, every rendered manifest against the Kubernetes
schemas and the custom resources' CRD models, and the pod spec against the service.

No cluster runs here: the chart is rendered by the real helm (``make helm``) for each value set
the README documents, and what a cluster would check first is checked on the output.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject
from cloudcoil.models.prometheus_operator.v1 import PodMonitor, PrometheusRule
from pydantic import BaseModel

from service.http.routes.health import router as health_router
from service.settings import Settings, env_name
from service.tuning import Tuning
from tests.deploy.chart import (
    CHART,
    RELEASE,
    VALUE_SETS,
    adapter_rule,
    cpu_quantity,
    helm,
    only,
    pod,
    render,
    selects,
)
from tests.deploy.support import (
    ALERT_RULES,
    DASHBOARD,
    PROMETHEUS_CONFIG,
    ROOT,
    load_dashboard,
    load_yaml,
    read_dockerfile,
)

#: The oldest and newest Kubernetes versions the chart supports (Chart.yaml's kubeVersion).
KUBERNETES_VERSIONS = ["1.25.0", "1.37.0"]

#: Models that cloudcoil generates from each project's CRD (openAPIV3Schema), by apiVersion/kind.
CRD_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): ScaledObject,
    ("monitoring.coreos.com/v1", "PodMonitor"): PodMonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PrometheusRule,
}


@pytest.fixture(scope="module", params=list(VALUE_SETS))
def value_set(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def manifests(value_set: str) -> list[dict[str, Any]]:
    """The chart rendered with ``value_set``."""
    return render(VALUE_SETS[value_set])


def test_chart_version_range_is_what_is_validated() -> None:
    chart = load_yaml(CHART / "Chart.yaml")
    assert chart["kubeVersion"] == f">={KUBERNETES_VERSIONS[0]}-0"


def test_helm_lint_strict_passes(value_set: str) -> None:
    status, output = helm(["lint", "--strict", str(CHART), *VALUE_SETS[value_set]])
    assert status == 0, output
    assert "0 chart(s) failed" in output


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid(manifests: list[dict[str, Any]], version: str) -> None:
    """Built-in kinds against the Kubernetes schemas (strict: no unknown field), custom
    resources against their CRD models; nothing rendered goes unchecked."""
    for manifest in manifests:
        name = f"{manifest['kind']} {manifest['metadata']['name']}"
        model = CRD_MODELS.get((manifest["apiVersion"], manifest["kind"]))
        if model is None:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except jsonschema.ValidationError as error:  # kubernetes_validate's, or strict's
                pytest.fail(f"{name} on Kubernetes {version}: {error.message} at {error.path}")
            continue
        # The models ignore unknown fields: what they drop on the way back is not in the CRD.
        parsed = model.model_validate(manifest)
        again = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
        assert again == manifest, f"{name} has fields its CRD does not define"


def test_value_sets_render_what_they_choose(
    manifests: list[dict[str, Any]], value_set: str
) -> None:
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "Service", "PodDisruptionBudget", "PodMonitor", "PrometheusRule"} <= kinds
    autoscaler = "ScaledObject" if value_set == "keda" else "HorizontalPodAutoscaler"
    assert autoscaler in kinds and len(kinds & {"ScaledObject", "HorizontalPodAutoscaler"}) == 1
    # With an autoscaler, the Deployment leaves the replica count to it.
    assert "replicas" not in only(manifests, "Deployment")["spec"]
    assert ("NetworkPolicy" in kinds) == (value_set == "options")


def test_without_autoscaling_the_deployment_sets_its_replicas() -> None:
    manifests = render(["--set", "autoscaling.enabled=false,replicas=3"])
    assert only(manifests, "Deployment")["spec"]["replicas"] == 3
    assert not {"ScaledObject", "HorizontalPodAutoscaler"} & {m["kind"] for m in manifests}


def test_probes_ask_the_service_on_its_port(manifests: list[dict[str, Any]]) -> None:
    routes = {getattr(route, "path", None) for route in health_router.routes}
    spec = pod(manifests)
    container = spec.container
    probes = {
        kind: container[f"{kind}Probe"]["httpGet"] for kind in ("startup", "readiness", "liveness")
    }
    # Readiness waits for the model; liveness never does, so a busy or loading pod is not killed.
    assert probes["startup"]["path"] == probes["readiness"]["path"] == "/readyz"
    assert probes["liveness"]["path"] == "/healthz"
    assert {probe["path"] for probe in probes.values()} <= routes
    port = int(spec.env["NER_PORT"])
    assert all(spec.port(probe["port"]) == port for probe in probes.values())
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "room to load the model"


def test_grace_period_covers_the_pause_and_the_drain(manifests: list[dict[str, Any]]) -> None:
    spec = pod(manifests)
    drain_env = env_name("shutdown_grace_s")
    default_drain = Settings.model_fields["shutdown_grace_s"].default
    drain = float(spec.env.get(drain_env, default_drain))
    assert spec.pre_stop_seconds > 0, "endpoints are removed before the drain starts"
    assert spec.spec["terminationGracePeriodSeconds"] > spec.pre_stop_seconds + drain


@pytest.mark.parametrize(("limit", "threads"), [("2", 2), ("4", 4), ("1500m", 1), ("500m", 1)])
def test_threads_follow_the_cpu_limit_on_cuda(limit: str, threads: int) -> None:
    values = ["--set-string", f"resources.limits.cpu={limit},settings.device=cuda"]
    assert int(pod(render(values)).env["NER_TORCH_THREADS"]) == threads


@pytest.mark.parametrize("limit", ["4", "2", "500m"])
def test_on_the_cpu_each_model_process_has_one_thread(limit: str) -> None:
    # The service runs a model process per usable CPU (at most two) instead.
    spec = pod(render(["--set-string", f"resources.limits.cpu={limit}"]))
    assert spec.env["NER_TORCH_THREADS"] == "1"
    assert "NER_MODEL_WORKERS" not in spec.env


def test_threads_match_the_device_and_cpu_limit_of_each_value_set(
    manifests: list[dict[str, Any]],
) -> None:
    spec = pod(manifests)
    limit = cpu_quantity(spec.container["resources"]["limits"]["cpu"])
    on_cuda = spec.env.get("NER_DEVICE", "cpu").startswith("cuda")
    assert int(spec.env["NER_TORCH_THREADS"]) == (max(1, math.floor(limit)) if on_cuda else 1)


def test_settings_are_service_settings(manifests: list[dict[str, Any]]) -> None:
    fields = [*Settings.model_fields, *Tuning.model_fields]
    known = {env_name(field) for field in fields if field != "tuning"}
    names = {e["name"] for e in pod(manifests).container["env"]}
    assert names <= known, names - known


def test_derived_settings_cannot_be_set_twice() -> None:
    status, output = helm(["template", RELEASE, str(CHART), "--set", "settings.torch_threads=3"])
    assert status != 0
    assert (
        "settings.torch_threads: the chart sets NER_TORCH_THREADS from resources.limits.cpu and "
        "settings.device" in output
    )


def test_api_key_comes_from_the_secret() -> None:
    spec = pod(render(VALUE_SETS["options"]))
    (key,) = [e for e in spec.container["env"] if e["name"] == env_name("api_key")]
    assert key["valueFrom"]["secretKeyRef"] == {"name": "ner-api-key", "key": "api-key"}


def test_a_model_repository_is_mounted_read_only_and_served() -> None:
    spec = pod(render(VALUE_SETS["options"]))
    env = {e["name"]: e.get("value") for e in spec.container["env"]}
    assert env[env_name("model_repository")] == "/models"
    (mount,) = [m for m in spec.container["volumeMounts"] if m["name"] == "models"]
    assert mount == {"name": "models", "mountPath": "/models", "readOnly": True}
    (volume,) = [v for v in spec.spec["volumes"] if v["name"] == "models"]
    assert volume == {"name": "models", "persistentVolumeClaim": {"claimName": "ner-models"}}
    bundled = pod(render(VALUE_SETS["cpu"]))
    assert env_name("model_repository") not in {e["name"] for e in bundled.container["env"]}
    assert [v["name"] for v in bundled.spec["volumes"]] == ["tmp"]


def test_pod_is_locked_down_as_the_image_user(manifests: list[dict[str, Any]]) -> None:
    spec = pod(manifests)
    uid = int(read_dockerfile().all("USER")[-1].split(":")[0])
    assert spec.spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = spec.container["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert spec.spec["automountServiceAccountToken"] is False
    assert "/tmp" in spec.tmpfs


def test_selectors_match_the_pods(manifests: list[dict[str, Any]]) -> None:
    spec = pod(manifests)
    deployment = only(manifests, "Deployment")
    assert selects(deployment["spec"]["selector"]["matchLabels"], spec.labels)
    service = only(manifests, "Service")
    assert selects(service["spec"]["selector"], spec.labels)
    (service_port,) = service["spec"]["ports"]
    spec.port(service_port["targetPort"])
    pdb = only(manifests, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"]["matchLabels"], spec.labels)
    monitor = only(manifests, "PodMonitor")["spec"]
    assert selects(monitor["selector"]["matchLabels"], spec.labels)
    assert all(spec.port(endpoint["port"]) for endpoint in monitor["podMetricsEndpoints"])
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        for scaler in [m for m in manifests if m["kind"] == kind]:
            target = scaler["spec"]["scaleTargetRef"]
            assert target["name"] == deployment["metadata"]["name"]
            assert target.get("kind", "Deployment") == "Deployment"
    for policy in [m for m in manifests if m["kind"] == "NetworkPolicy"]:
        assert selects(policy["spec"]["podSelector"]["matchLabels"], spec.labels)
        (ingress,) = policy["spec"]["ingress"]
        assert [spec.port(p["port"]) for p in ingress["ports"]] == [int(spec.env["NER_PORT"])]


def test_autoscalers_scale_on_queue_depth_with_scale_down_stabilisation(
    manifests: list[dict[str, Any]],
) -> None:
    for hpa in [m for m in manifests if m["kind"] == "HorizontalPodAutoscaler"]:
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "Pods"
        assert metric["pods"]["metric"]["name"] == adapter_rule()["name"]["as"]
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] > 0
    for scaled in [m for m in manifests if m["kind"] == "ScaledObject"]:
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["type"] == "prometheus" and "ner_queue_depth" in trigger["metadata"]["query"]
        behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] > 0


def test_gpu_pods_get_a_gpu_the_cuda_image_and_larger_batches() -> None:
    cpu, gpu = pod(render(VALUE_SETS["cpu"])), pod(render(VALUE_SETS["gpu"]))
    assert gpu.container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu.env["NER_DEVICE"] == "cuda"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert cpu.container["image"] == compose["tagger"]["image"]
    assert gpu.container["image"] == compose["tagger-gpu"]["image"]
    defaults = Tuning.model_fields
    for setting in ("max_batch_size", "max_batch_tokens"):
        assert int(gpu.env[env_name(setting)]) > defaults[setting].default


def test_alert_rules_and_dashboard_have_one_source(manifests: list[dict[str, Any]]) -> None:
    """The compose stack reads the chart's files through symlinks under monitoring/."""
    assert ALERT_RULES.is_symlink() and ALERT_RULES.resolve() == CHART / "files" / "alerts.yml"
    dashboards = DASHBOARD.parent
    assert dashboards.is_symlink() and dashboards.resolve() == CHART / "files" / "dashboards"
    rule = only(manifests, "PrometheusRule")
    assert rule["spec"] == load_yaml(ALERT_RULES)
    (dashboard,) = [
        m
        for m in manifests
        if m["kind"] == "ConfigMap" and "grafana_dashboard" in m["metadata"]["labels"]
    ]
    assert json.loads(dashboard["data"][DASHBOARD.name]) == load_dashboard()


def test_pods_are_scraped_as_the_job_the_alerts_select(manifests: list[dict[str, Any]]) -> None:
    (job,) = load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]
    (endpoint,) = only(manifests, "PodMonitor")["spec"]["podMetricsEndpoints"]
    relabel = [r for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    assert [r["replacement"] for r in relabel] == [job["job_name"]]
    groups = load_yaml(ALERT_RULES)["groups"]
    exprs = [rule["expr"] for group in groups for rule in group["rules"]]
    assert all(re.search(rf'job="{job["job_name"]}"', expr) for expr in exprs)


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("autoscaling.engine=kdea", "value must be one of 'hpa', 'keda'"),
        ("autoscalng.enabled=false", "additional properties 'autoscalng' not allowed"),
        ("settings.Max-Queue=8", "Max-Queue"),
    ],
)
def test_misspelt_values_fail_before_rendering(setting: str, complaint: str) -> None:
    status, output = helm(["template", RELEASE, str(CHART), "--set", setting])
    assert status != 0 and complaint in output, output


def test_autoscaling_target_is_below_the_queue_limit(manifests: list[dict[str, Any]]) -> None:
    """Past NER_MAX_QUEUE requests are refused: the autoscaler must act well before that."""
    limit = int(
        pod(manifests).env.get(env_name("max_queue"), Settings.model_fields["max_queue"].default)
    )
    for hpa in [m for m in manifests if m["kind"] == "HorizontalPodAutoscaler"]:
        (metric,) = hpa["spec"]["metrics"]
        assert int(metric["pods"]["target"]["averageValue"]) < limit
    for scaled in [m for m in manifests if m["kind"] == "ScaledObject"]:
        (trigger,) = scaled["spec"]["triggers"]
        assert float(trigger["metadata"]["threshold"]) < limit
