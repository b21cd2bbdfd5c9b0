"""Prometheus metrics of one server instance, in a registry of its own."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# Buckets from 0.25 ms: a batch-1 prediction takes well under a millisecond.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Every metric the server exports; a new registry per app keeps test apps independent."""

    def __init__(self) -> None:
        # The *_created series double the output and no dashboard reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.requests = Counter(
            "model_server_http_requests",
            "HTTP requests by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "model_server_http_request_duration_seconds",
            "Time from request start to the end of the response body.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inference_seconds = Histogram(
            "model_server_inference_duration_seconds",
            "Time in onnxruntime per call (with micro-batching one call serves several requests).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_instances = Histogram(
            "model_server_inference_batch_instances",
            "Instances per onnxruntime call: above the request's own count when micro-batching joined requests.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.inference_calls = Counter(
            "model_server_inference_calls",
            "onnxruntime calls by where they ran: event_loop, or inference_thread (micro-batching's long calls).",
            ["runner"],
            registry=self.registry,
        )
        self.instances = Counter("model_server_instances", "Instances predicted.", registry=self.registry)
        self.model_ready = Gauge(
            "model_server_model_ready", "1 once the model is loaded, 0 before.", registry=self.registry
        )
        self.model_loads = Counter(
            "model_server_model_load_attempts",
            "Attempts to load the model, by outcome (success or failure).",
            ["outcome"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "model_server_model_info",
            "Always 1; labels name the loaded model and its version.",
            ["name", "version"],
            registry=self.registry,
        )
