"""monitoring/prometheus: promtool's checks, and the real Prometheus scraping a live service.

The integration tests evaluate every PromQL expression of the dashboard and the alert rules
through Prometheus' HTTP API and require each to parse and to return data, and the Helm chart's
autoscaler queries (prometheus-adapter's rule, KEDA's trigger) to follow the queue under load.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.chart import NAMESPACE, RELEASE, VALUE_SETS, adapter_rule, only, render
from tests.deploy.conftest import SERVICE_ENV
from tests.deploy.support import (
    ALERT_RULES,
    PROMETHEUS_CONFIG,
    free_port,
    load_dashboard,
    load_yaml,
    run_tool,
    serving,
    tool,
    wait_for,
)

#: Values for Grafana's variables: the rate window, and every replica.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$instance": ".*"}

#: The labels a pod of the chart's release has in Prometheus: its namespace and name (added by
#: prometheus-operator) and its release (the PodMonitor's podTargetLabels).
POD_LABELS = {
    "namespace": NAMESPACE,
    "pod": f"{RELEASE}-bigru-ner-5d8f7c9b6-x2kqz",
    "app_kubernetes_io_instance": RELEASE,
}

#: `<measurement> <comparison> <threshold>`, the form of every alert expression.
ALERT_FORM = re.compile(
    r"^(?P<measure>.*\S)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<threshold>[-+.\deE]+)$", re.S
)


def test_promtool_accepts_the_config_and_its_rule_files() -> None:
    result = run_tool([tool("promtool"), "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_promtool_accepts_the_alert_rules() -> None:
    result = run_tool([tool("promtool"), "check", "rules", str(ALERT_RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_on_their_conditions_and_only_then() -> None:
    tests = Path(__file__).with_name("alerts_test.yml")
    result = run_tool([tool("promtool"), "test", "rules", str(tests)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_finds_no_problem_in_live_metrics(live_metrics: str) -> None:
    assert "ner_requests_total" in live_metrics
    result = run_tool([tool("promtool"), "check", "metrics"], stdin=live_metrics)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title and query id, PromQL) of every query of the dashboard, variables filled in."""
    queries = []
    for panel in load_dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: unknown Grafana variable in {expr}"
            queries.append((f"{panel['title']} [{target['refId']}]", expr))
    return queries


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of monitoring/prometheus/alerts.yml."""
    groups = load_yaml(ALERT_RULES)["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def alert_queries() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Each alert's expression as written, and with its comparison turned into 0/1 (``bool``).

    As written, an expression is empty while its alert does not fire, so only its parsing can
    be checked; with ``bool`` it answers for every series it compares, so an empty answer
    means the measurement itself is missing.
    """
    written, measured = [], []
    for rule in alert_rules():
        expr = rule["expr"].strip()
        form = ALERT_FORM.match(expr)
        assert form, f"{rule['alert']}: write `<measurement> <comparison> <threshold>`"
        written.append((rule["alert"], expr))
        compared = f"({form['measure']}) {form['op']} bool {form['threshold']}"
        measured.append((f"{rule['alert']} (bool)", compared))
    return written, measured


def _prometheus_config(target: str, directory: Path) -> Path:
    """The repository's Prometheus config, scraping ``target`` every second instead of DNS,
    labelled as a pod of the chart would be."""
    config = load_yaml(PROMETHEUS_CONFIG)
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS_CONFIG.parent / f) for f in config["rule_files"]]
    (job,) = config["scrape_configs"]
    del job["dns_sd_configs"]
    job["static_configs"] = [{"targets": [target], "labels": POD_LABELS}]
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def prometheus(service: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real Prometheus on a free loopback port, scraping ``service``; its URL."""
    directory = tmp_path_factory.mktemp("prometheus")
    config = _prometheus_config(service.removeprefix("http://"), directory)
    port = free_port()
    argv = [
        tool("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    log = directory / "prometheus.log"
    with serving(
        argv, {}, log, url + "/-/ready", timeout=60, what="Prometheus to be ready", cwd=directory
    ):
        yield url


def query(prometheus: str, expr: str) -> dict[str, Any]:
    """An instant query through /api/v1/query; the JSON answer, whatever its status."""
    answer: dict[str, Any] = httpx.get(
        prometheus + "/api/v1/query", params={"query": expr}, timeout=10
    ).json()
    return answer


def _traffic(service: str) -> None:
    """Tag and compare requests (one asking for deciding words), answered and refused: 200s, a
    415, a 413 and (the queue holds 4) 503s."""
    texts = ["Mary Rossi visited Oslo .", "Acme Corp hired John Smith in Paris ."]
    with httpx.Client(base_url=service, timeout=60) as client:
        assert client.post("/v1/tag", json={"texts": texts}).status_code == 200
        assert client.post("/v1/compare", json={"texts": texts}).status_code == 200
        why = {"text": "Jordan Henderson flew to Berlin on Monday .", "deciding_words": True}
        assert client.post("/v1/compare", json=why).status_code == 200
        assert client.post("/v1/tag", content=b"text=Mary").status_code == 415
        assert client.post("/v1/tag", json={"texts": texts * 3}).status_code == 413
        statuses: set[int] = set()
        with ThreadPoolExecutor(16) as pool:
            for _ in range(20):  # a burst overflows the queue, almost always at once
                burst = pool.map(lambda _: client.post("/v1/tag", json={"texts": texts}), range(64))
                statuses |= {answer.status_code for answer in burst}
                if 503 in statuses:
                    break
        assert statuses == {200, 503}


def autoscaler_queries() -> dict[str, str]:
    """The PromQL of each autoscaler, as it reaches Prometheus for the pod of POD_LABELS.

    prometheus-adapter's rule with the placeholders filled as the adapter fills them when the
    HPA asks for the pods of its Deployment; KEDA's query as the chart renders it.
    """
    rule = adapter_rule()
    series = rule["name"]["matches"].strip("^$")
    matchers = f'namespace="{POD_LABELS["namespace"]}",pod=~"{POD_LABELS["pod"]}"'
    adapter = rule["metricsQuery"]
    for placeholder, value in {
        "<<.Series>>": series,
        "<<.LabelMatchers>>": matchers,
        "<<.GroupBy>>": "pod",
    }.items():
        adapter = adapter.replace(placeholder, value)
    assert "<<" not in adapter, adapter
    scaled_object = only(render(VALUE_SETS["keda"]), "ScaledObject")
    (trigger,) = scaled_object["spec"]["triggers"]
    return {"prometheus-adapter": adapter, "KEDA": trigger["metadata"]["query"]}


def test_autoscaler_queries_rise_with_the_queue(service: str, prometheus: str) -> None:
    """0 while the service idles; above 0 (and within the queue's bound) while requests keep
    its queue filled."""
    # The adapter finds the pod's series (and so which pod and namespace it belongs to).
    series: list[dict[str, Any]] = []

    def found() -> bool:
        series[:] = query(prometheus, adapter_rule()["seriesQuery"])["data"]["result"]
        return bool(series)

    wait_for(found, timeout=60, what="Prometheus to scrape the service")
    assert [s["metric"]["pod"] for s in series] == [POD_LABELS["pod"]]
    queries = autoscaler_queries()
    values: dict[str, list[float]] = {}

    def measure() -> dict[str, list[float]]:
        values.clear()
        for name, expr in queries.items():
            answer = query(prometheus, expr)
            assert answer["status"] == "success", f"{name}: {expr}\n{answer.get('error')}"
            values[name] = [float(s["value"][1]) for s in answer["data"]["result"]]
        return values

    # Until a minute without traffic has passed (another test may have sent some).
    wait_for(
        lambda: (
            all(len(v) == 1 for v in measure().values())
            and all(v == [0.0] for v in values.values())
        ),
        timeout=120,
        what=lambda: f"the idle service's queue depth to read 0: {values}",
        interval=1,
    )
    stop = threading.Event()

    def keep_sending() -> None:
        texts = ["Mary Rossi visited Oslo .", "Acme Corp hired John Smith in Paris ."]
        with httpx.Client(base_url=service, timeout=60) as client:
            while not stop.is_set():
                client.post("/v1/tag", json={"texts": texts})

    with ThreadPoolExecutor(12) as pool:
        senders = [pool.submit(keep_sending) for _ in range(12)]
        try:
            wait_for(
                lambda: all(v and v[0] > 0 for v in measure().values()),
                timeout=90,
                what=lambda: f"the queue depth to rise under load: {values}",
                interval=1,
            )
        finally:
            stop.set()
        for sender in senders:
            sender.result()
    bound = float(SERVICE_ENV["NER_MAX_QUEUE"])
    assert all(0 < v[0] <= bound for v in values.values()), values


def test_every_dashboard_and_alert_expression_returns_data(service: str, prometheus: str) -> None:
    wait_for(
        lambda: (
            [s["value"][1] for s in query(prometheus, 'up{job="tagger"}')["data"]["result"]]
            == ["1"]
        ),
        timeout=60,
        what="Prometheus to scrape the service",
    )
    _traffic(service)
    written, measured = alert_queries()
    queries = dashboard_queries() + measured
    for name, expr in written:
        answer = query(prometheus, expr)
        assert answer["status"] == "success", f"{name}: {expr}\n{answer.get('error')}"
    empty: dict[str, str] = {}

    def all_answer() -> bool:
        empty.clear()
        for name, expr in queries:
            answer = query(prometheus, expr)
            assert answer["status"] == "success", f"{name}: {expr}\n{answer.get('error')}"
            if not answer["data"]["result"]:
                empty[name] = expr
        return not empty

    # Rates need two scrapes after the traffic; the refusal series appear with their first one.
    wait_for(all_answer, timeout=90, what=lambda: f"data from {empty}", interval=1)
    rules = httpx.get(prometheus + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    health = {rule["name"]: rule["health"] for group in rules for rule in group["rules"]}
    assert health == {rule["alert"]: "ok" for rule in alert_rules()}
