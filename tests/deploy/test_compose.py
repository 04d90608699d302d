"""docker-compose.yml, validated by docker-compose itself and checked against monitoring/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import (
    HAPROXY_CONFIG,
    PROMETHEUS_CONFIG,
    ROOT,
    load_yaml,
    read_dockerfile,
    run_tool,
    tool,
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as docker-compose resolves it (anchors merged, paths absolute)."""
    result = run_tool([tool("docker-compose"), "-f", str(ROOT / "docker-compose.yml"), "config"])
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = yaml.safe_load(result.stdout)
    return resolved


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("/"):
            mounts[target] = Path(source)
    return mounts


def test_tagger_is_built_from_the_dockerfile_with_healthcheck_and_limits(
    compose: dict[str, Any],
) -> None:
    tagger = compose["services"]["tagger"]
    assert Path(tagger["build"]["context"]) == ROOT
    assert tagger["build"]["dockerfile"] == "Dockerfile"
    assert tagger["expose"] == ["8000"] and tagger["environment"]["NER_PORT"] == "8000"
    assert tagger["healthcheck"]["test"] == ["CMD", *read_dockerfile().healthcheck()]
    limits = tagger["deploy"]["resources"]["limits"]
    assert limits["cpus"] and limits["memory"]
    # One torch thread a model process, and CPUs for two model processes (NER_MODEL_WORKERS).
    assert tagger["environment"]["NER_TORCH_THREADS"] == "1"
    assert float(limits["cpus"]) >= 2


def test_gpu_profile_reserves_an_nvidia_device_and_joins_the_tagger_pool(
    compose: dict[str, Any],
) -> None:
    gpu = compose["services"]["tagger-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["build"]["args"]["TORCH_VARIANT"].startswith("cu")
    assert gpu["environment"]["NER_DEVICE"] == "cuda"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "tagger" in gpu["networks"]["default"]["aliases"]
    others = [s for name, s in compose["services"].items() if name != "tagger-gpu"]
    assert all("profiles" not in s for s in others), "the rest starts without a profile"


def _published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each port a service publishes, whichever
    syntax docker-compose writes it in ("" for every interface)."""
    published = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            published.append((port.get("host_ip", ""), int(port["published"]), port["target"]))
        else:
            *address, host, target = str(port).split("/")[0].split(":")
            published.append(("".join(address), int(host), int(target)))
    return published


def test_load_balancer_spreads_over_every_tagger_replica(compose: dict[str, Any]) -> None:
    lb = compose["services"]["lb"]
    assert lb["image"].startswith("haproxy:")
    assert _published(lb) == [("", 8000, 8000)]
    assert _mounts(lb)["/usr/local/etc/haproxy/haproxy.cfg"] == HAPROXY_CONFIG
    # A soft stop, so that `docker compose down` lets the requests in progress finish.
    assert lb["stop_signal"] == "SIGUSR1"
    config = HAPROXY_CONFIG.read_text()
    # Slots filled from Docker's DNS (all replicas, re-resolved), checked on /readyz, on the
    # port that is published.
    assert re.search(r"^\s*nameserver \S+ 127\.0\.0\.11:53$", config, re.M)
    assert re.search(r"^\s*server-template tagger- \d+ tagger:8000$", config, re.M)
    assert re.search(r"^\s*default-server check .*resolvers docker", config, re.M)
    assert re.search(r"^\s*option httpchk GET /readyz$", config, re.M)
    assert re.search(r"^\s*bind :8000$", config, re.M)
    # Replicas publish no host port, so that `--scale tagger=N` does not collide.
    assert "ports" not in compose["services"]["tagger"]


def test_load_balancer_stops_by_itself_within_its_stop_timeout(compose: dict[str, Any]) -> None:
    """HAProxy's soft stop (its grace, then what is still in progress, cut off at
    hard-stop-after) ends before Docker would kill it at the stop timeout; during the grace new
    requests get a 503 (tests/container/test_stack.py runs it)."""
    config = HAPROXY_CONFIG.read_text()

    def seconds(setting: str) -> int:
        found = re.search(rf"^\s*{setting} (\d+)s$", config, re.M)
        assert found, f"{setting} in seconds"
        return int(found[1])

    stop_timeout = compose["services"]["lb"]["stop_grace_period"]
    assert re.fullmatch(r"\d+s", stop_timeout), stop_timeout
    # A second for HAProxy to exit, a few for a loaded machine.
    assert seconds("grace") + seconds("hard-stop-after") + 3 <= int(stop_timeout[:-1])
    assert re.search(r"^\s*http-request return status 503 .* if \{ stopping \}$", config, re.M)


def test_monitoring_is_published_on_loopback_unless_opened(compose: dict[str, Any]) -> None:
    for name, port in (("prometheus", 9090), ("grafana", 3000)):
        assert _published(compose["services"][name]) == [("127.0.0.1", port, port)], name
    opened = run_tool(
        [tool("docker-compose"), "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={"GRAFANA_PUBLISH": "3000", "PROMETHEUS_PUBLISH": "0.0.0.0:19090"},
    )
    assert opened.returncode == 0, opened.stderr
    services = yaml.safe_load(opened.stdout)["services"]
    assert _published(services["grafana"]) == [("", 3000, 3000)]
    assert _published(services["prometheus"]) == [("0.0.0.0", 19090, 9090)]


def test_prometheus_scrapes_every_replica_and_loads_the_alerts(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    mounts = _mounts(prometheus)
    assert mounts["/etc/prometheus/prometheus.yml"] == PROMETHEUS_CONFIG
    config = load_yaml(PROMETHEUS_CONFIG)
    for rule_file in config["rule_files"]:
        assert mounts[f"/etc/prometheus/{rule_file}"].is_file()
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "tagger"
    assert job["dns_sd_configs"] == [
        {"names": ["tagger"], "type": "A", "port": 8000, "refresh_interval": "15s"}
    ]


def test_grafana_is_provisioned_and_viewable_without_login(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    mounts = _mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    assert any(target == 9090 for *_, target in _published(compose["services"]["prometheus"]))
    (provider,) = load_yaml(provisioning / "dashboards" / "bigru-ner.yml")["providers"]
    dashboards = mounts[provider["options"]["path"]]
    home = Path(env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert (dashboards / home.relative_to(provider["options"]["path"])).is_file()


def test_the_models_overlay_mounts_a_repository_read_only_into_every_replica(
    tmp_path: Path,
) -> None:
    overlay = [
        "-f",
        str(ROOT / "docker-compose.yml"),
        "-f",
        str(ROOT / "deploy/compose.models.yml"),
    ]
    result = run_tool(
        [tool("docker-compose"), *overlay, "config"], env={"NER_MODELS": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("tagger", "tagger-gpu"):
        assert services[name]["environment"]["NER_MODEL_REPOSITORY"] == "/models"
        assert f"{tmp_path}:/models:ro" in services[name]["volumes"]
        assert services[name]["environment"]["NER_PORT"] == "8000"  # merged, not replaced
