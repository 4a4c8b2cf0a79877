"""Prometheus metrics of one app (a registry per app: nothing is created at import time).

With several worker processes, ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics``
aggregates every worker's figures.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """Request, token, retrieval, generation and queue metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "awsomechat_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "awsomechat_http_request_seconds", "HTTP request latency (to the last byte)",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.tokens = Counter("awsomechat_tokens", "model tokens", ["kind"], registry=r)
        self.retrieval = Histogram(
            "awsomechat_retrieval_seconds", "retrieval time per request", ["endpoint"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "awsomechat_time_to_first_token_seconds", "chat: request start to first answer token",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.generation = Histogram(
            "awsomechat_generation_seconds", "chat: time generating the answer", buckets=LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.answers = Counter("awsomechat_answers", "finished chat turns", ["outcome"], registry=r)
        self.queue_depth = Gauge(
            "awsomechat_generation_queue_depth", "answers waiting for the model", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.in_flight = Gauge(
            "awsomechat_generation_in_flight",
            "answers being generated",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.rejected = Counter("awsomechat_rejected", "requests refused by a limit", ["reason"], registry=r)

    def render(self) -> bytes:
        """The exposition text (all workers' figures in multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
