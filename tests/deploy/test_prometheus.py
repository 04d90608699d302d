"""monitoring/prometheus: promtool's checks, and the real Prometheus scraping a live service.

The integration test evaluates every PromQL expression of the dashboard and the alert rules
through Prometheus' HTTP API and requires each to parse and to return data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

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
    """The repository's Prometheus config, scraping ``target`` every second instead of DNS."""
    config = load_yaml(PROMETHEUS_CONFIG)
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS_CONFIG.parent / f) for f in config["rule_files"]]
    (job,) = config["scrape_configs"]
    del job["dns_sd_configs"]
    job["static_configs"] = [{"targets": [target]}]
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
