"""Prometheus metrics of one app, in a registry that the app owns (nothing global).

Latencies are in seconds, with buckets from 0.1 ms to 10 s so that dashboards can tell
sub-millisecond compute from multi-second queueing. Per device, a dashboard gets the
end-to-end (``ner_request_duration_seconds``), queue (``ner_queue_wait_seconds``) and compute
(``ner_inference_duration_seconds``) percentiles, batch sizes, throughput and errors.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter as CountOf
from collections.abc import Callable, Sequence
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

log = logging.getLogger(__name__)

#: 0.1 ms .. 10 s, roughly three buckets a decade.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: Sentences per batch: powers of two up to 1024.
BATCH_SIZE_BUCKETS = tuple(float(2**k) for k in range(11))
#: Tokens per batch: powers of two up to 65536.
BATCH_TOKEN_BUCKETS = tuple(float(2**k) for k in range(0, 17))

#: Words from a changed token to its deciding word.
DISTANCE_BUCKETS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Batch(Protocol):
    """The figures of one batch that the metrics record (what the batcher reports)."""

    size: int
    tokens: int
    compute_seconds: float
    queue_waits: list[float]
    in_server: bool


class Metrics:
    """Every metric the service exports, registered in :attr:`registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry

        def latency(name: str, text: str, labels: Sequence[str] = ()) -> Histogram:
            return Histogram(name, text, labels, buckets=LATENCY_BUCKETS, registry=r)

        def counter(name: str, text: str, labels: Sequence[str] = ()) -> Counter:
            return Counter(name, text, labels, registry=r)

        requests = ["endpoint", "status"]
        self.request_duration = latency(
            "ner_request_duration_seconds",
            "Time from receiving a request to sending the last byte of its answer.",
            requests,
        )
        self.requests = counter("ner_requests_total", "Requests answered.", requests)
        self.queue_wait = latency(
            "ner_queue_wait_seconds",
            "Time a sentence waited between entering the queue and its batch reaching the model.",
        )
        self.inference_duration = latency(
            "ner_inference_duration_seconds",
            "Model time of one batch (hand-over, encoding, network, decoding), GPU work included.",
            ["device"],
        )
        self.preprocess_duration = latency(
            "ner_preprocess_duration_seconds",
            "CPU time to tokenize and split the texts of one request.",
        )
        self.postprocess_duration = latency(
            "ner_postprocess_duration_seconds",
            "CPU time to turn the tags of one request into entities and JSON.",
        )
        self.batch_size = Histogram(
            "ner_batch_size", "Sentences per batch.", buckets=BATCH_SIZE_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "ner_batch_tokens",
            "Tokens per batch (without padding).",
            buckets=BATCH_TOKEN_BUCKETS,
            registry=r,
        )
        self.tokens = counter("ner_tokens_total", "Tokens tagged.")
        self.entities = counter("ner_entities_total", "Entities found, by label.", ["label"])
        self.queue_depth = Gauge("ner_queue_depth", "Sentences waiting for the model.", registry=r)
        self.inflight = Gauge("ner_inflight_requests", "Tag requests being handled.", registry=r)
        self.rejected = counter(
            "ner_rejected_total",
            "Requests refused, by reason (the error code of the answer).",
            ["reason"],
        )
        self.compared_tokens = counter(
            "ner_compared_tokens_total",
            "Tokens tagged by both the forward-only and the bidirectional model (/v1/compare), "
            "by the bidirectional model's label (O outside entities).",
            ["label"],
        )
        self.backward_changes = counter(
            "ner_backward_changes_total",
            "Compared tokens whose label the backward direction changed (/v1/compare), by the "
            "bidirectional model's label (O outside entities).",
            ["label"],
        )
        self.deciding_distance = Histogram(
            "ner_deciding_distance_words",
            "Words from a changed token to its deciding word (/v1/compare with deciding_words; "
            "0: the token itself).",
            buckets=DISTANCE_BUCKETS,
            registry=r,
        )
        self.model_restarts = counter(
            "ner_model_restarts_total",
            "Model processes that died and were replaced, by model.",
            ["model"],
        )
        self.in_server_batches = counter(
            "ner_in_server_batches_total",
            "Batches tagged by the copy of the model in the server process, on its event loop "
            "(light load, NER_MODEL_IN_SERVER_TOKENS), instead of by a model process.",
        )
        self.model_info = Gauge(
            "ner_model_info",
            "1 for each model being served (version: its repository version, if it has one).",
            ["model", "version", "device", "bidirectional"],
            registry=r,
        )
        self.model_loads = counter(
            "ner_model_loads_total",
            "Model versions loaded and checked, at start-up and after, by model and outcome: "
            "served, or refused (it did not load or failed its checks; the version below it "
            "serves, or the one that served before).",
            ["model", "outcome"],
        )
        # Set by serving(): no series with a made-up device before the model is loaded.
        self._inference: Histogram | None = None
        # Labelled children, looked up once: ``labels()`` costs more than the observation.
        self._request_series: dict[tuple[str, int], tuple[Histogram, Counter]] = {}
        self._entity_series: dict[str, Counter] = {}

    def serving(self, model: str, version: int | None, device: str, bidirectional: bool) -> None:
        """Record a model being served (at its repository version, if it has one)."""
        self._inference = self.inference_duration.labels(device=device)
        self.model_info.labels(*_info_labels(model, version, device, bidirectional)).set(1)

    def not_serving(
        self, model: str, version: int | None, device: str, bidirectional: bool
    ) -> None:
        """Record that a model serves no more (it was replaced or removed)."""
        with contextlib.suppress(KeyError):
            self.model_info.remove(*_info_labels(model, version, device, bidirectional))

    def observe_load(self, model: str, refused: bool, count: int = 1) -> None:
        """Count ``count`` versions of ``model`` that were loaded and checked, or ``refused``."""
        self.model_loads.labels(model=model, outcome="refused" if refused else "served").inc(count)

    def watch_queues(self, depth: Callable[[], int]) -> None:
        """Where the queue depth is read from: the fullest queue's sentences."""
        self.queue_depth.set_function(depth)

    def restart_counter(self, model: str) -> Callable[[], None]:
        """What to call when ``model``'s process is replaced (its series starts at 0)."""
        return self.model_restarts.labels(model=model).inc

    def observe_batch(self, batch: Batch) -> None:
        """Record one batch that went through the model."""
        self.batch_size.observe(batch.size)
        self.batch_tokens.observe(batch.tokens)
        self.tokens.inc(batch.tokens)
        if self._inference is not None:
            self._inference.observe(batch.compute_seconds)
        if batch.in_server:
            self.in_server_batches.inc()
        for wait in batch.queue_waits:
            self.queue_wait.observe(wait)

    def observe_entities(self, labels: Sequence[str]) -> None:
        """Count the entities of one answer."""
        for label in labels:
            series = self._entity_series.get(label)
            if series is None:
                series = self._entity_series[label] = self.entities.labels(label=label)
            series.inc()

    def comparing(self, labels: Sequence[str]) -> None:
        """Start the compare series of each entity label (and O) at 0, so that the share of
        changed tokens per label has data before a label first changes."""
        for label in ["O", *labels]:
            self.compared_tokens.labels(label=label)
            self.backward_changes.labels(label=label)

    def observe_comparison(self, tokens: Sequence[tuple[str, bool]]) -> None:
        """Count the tokens of one compare answer, given as (the bidirectional model's tag,
        whether backward context changed it), and those whose label changed, per label."""
        compared: CountOf[str] = CountOf()
        changed: CountOf[str] = CountOf()
        for tag, was_changed in tokens:
            label = tag[2:] if tag[:2] in ("B-", "I-") else tag
            compared[label] += 1
            changed[label] += was_changed
        for label, count in compared.items():
            self.compared_tokens.labels(label=label).inc(count)
            if changed[label]:
                self.backward_changes.labels(label=label).inc(changed[label])

    def observe_deciding(self, distances: Sequence[int]) -> None:
        """Record the distance of each deciding word of one compare answer."""
        for distance in distances:
            self.deciding_distance.observe(distance)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        series = self._request_series.get((endpoint, status))
        if series is None:
            labels = {"endpoint": endpoint, "status": str(status)}
            series = self._request_series[endpoint, status] = (
                self.request_duration.labels(**labels),
                self.requests.labels(**labels),
            )
        duration, count = series
        duration.observe(seconds)
        count.inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)

    def serve_apart(self, host: str, port: int | None) -> Callable[[], None]:
        """Serve the registry on a port of its own (None: nothing to do); returns how to stop.

        Scrapers then reach the metrics without reaching the API, and the API's port does not
        expose them."""
        if port is None:
            return lambda: None
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", host, server.server_port)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop


def _info_labels(model: str, version: int | None, device: str, bidirectional: bool) -> list[str]:
    return [model, "" if version is None else str(version), device, str(bidirectional).lower()]
