"""The Grafana dashboard: the panels the issue asks for, on the provisioned data source.

That each query parses and returns data is checked against a live Prometheus in
test_prometheus.py.
"""

from __future__ import annotations

from tests.deploy.support import MONITORING, load_dashboard, load_yaml

#: Panel title -> metrics its queries must read.
PANELS = {
    "Request rate per endpoint": {"ner_requests_total"},
    "Error ratio per endpoint": {"ner_requests_total"},
    "Latency per endpoint (p50 / p95 / p99)": {"ner_request_duration_seconds_bucket"},
    "Queue wait vs model compute per device (p50 / p95)": {
        "ner_queue_wait_seconds_bucket",
        "ner_inference_duration_seconds_bucket",
    },
    "Batch size distribution": {"ner_batch_size_bucket"},
    "Tokens per second": {"ner_tokens_total"},
    "Queue depth and requests in flight": {"ner_queue_depth"},
    "Refused requests by reason": {"ner_rejected_total"},
    "Backward-context changes": {"ner_backward_changes_total", "ner_compared_tokens_total"},
    "Backward-context changes per label": {
        "ner_backward_changes_total",
        "ner_compared_tokens_total",
    },
    "Distance to the deciding word (p50 / p95)": {"ner_deciding_distance_words_bucket"},
    "Model info": {"ner_model_info"},
    "Model process restarts": {"ner_model_restarts_total"},
    "Model versions loaded and refused": {"ner_model_loads_total"},
}


def test_dashboard_has_every_panel_of_the_issue() -> None:
    panels = {p["title"]: p for p in load_dashboard()["panels"] if p["type"] != "row"}
    for title, metrics in PANELS.items():
        assert title in panels, title
        exprs = " ".join(t["expr"] for t in panels[title]["targets"])
        assert all(metric in exprs for metric in metrics), (title, exprs)
    latency_targets = panels["Latency per endpoint (p50 / p95 / p99)"]["targets"]
    latency = " ".join(t["expr"] for t in latency_targets)
    assert all(f"histogram_quantile({q}," in latency for q in ("0.5", "0.95", "0.99"))
    assert "by (le, endpoint)" in latency
    per_label = panels["Backward-context changes per label"]["targets"]
    assert all("by (label)" in t["expr"] and "label" in t["legendFormat"] for t in per_label)
    compute = panels["Queue wait vs model compute per device (p50 / p95)"]["targets"]
    assert all("device" in t["expr"] and "device" in t["legendFormat"] for t in compute)


def test_every_query_uses_the_provisioned_prometheus() -> None:
    provisioning = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    (source,) = load_yaml(provisioning)["datasources"]
    expected = {"type": source["type"], "uid": source["uid"]}
    dashboard = load_dashboard()
    assert dashboard["uid"] and dashboard["title"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p["datasource"] == expected for p in panels)
    assert all(t["datasource"] == expected for p in panels for t in p["targets"])
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
