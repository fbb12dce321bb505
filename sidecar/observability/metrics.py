"""Prometheus metrics, one registry per application (no globals). Labels never hold secrets or input text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "sidecar_requests", "HTTP requests served", ["route", "method", "status", "service"], registry=r
        )
        self.request_seconds = Histogram(
            "sidecar_request_seconds", "HTTP request latency", ["route", "method"], buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # A plain count, read when scraped: a Gauge's inc() and dec() take a lock on every request.
        self.requests_in_flight = 0
        in_flight = Gauge("sidecar_requests_in_flight", "HTTP requests being served", registry=r)
        in_flight.set_function(lambda: self.requests_in_flight)
        self.provider_seconds = Histogram(
            "sidecar_provider_call_seconds", "Latency of provider and ML inference calls", ["service", "outcome"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.provider_calls = Counter(
            "sidecar_provider_calls", "Provider and ML inference calls made", ["service", "outcome"], registry=r
        )
        self.provider_inputs = Counter(
            "sidecar_provider_inputs", "Inputs sent to providers", ["service"], registry=r
        )
        self.retries = Counter("sidecar_provider_retries", "Provider call retries", ["service"], registry=r)
        self.cache_lookups = Counter(
            "sidecar_inference_cache_lookups", "Result cache lookups per input", ["result"], registry=r
        )
        self.merged_requests = Counter(
            "sidecar_merged_requests", "Client requests served by a merged provider call", ["service"], registry=r
        )
        self.rate_limited = Counter(
            "sidecar_rate_limited_requests", "Requests rejected by the per-model rate limit", ["service"], registry=r
        )
        self.privilege_cache = Counter(
            "sidecar_privilege_cache_lookups", "Privilege check cache lookups", ["result"], registry=r
        )
        self.model_cache = Counter("sidecar_model_cache_lookups", "Model config cache lookups", ["result"], registry=r)
        self.build = Info("sidecar_build", "Build information", registry=r)
        self.build.info({"version": version})
        self._request_children: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}

    def count_request(self, route: str, method: str, status: int, service: str, seconds: float) -> None:
        """One served request; the labelled children are looked up once per label set."""
        key = (route, method, str(status), service)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.request_seconds.labels(route, method))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)
