"""``GET /metrics``: Prometheus figures for operators (superuser-only when auth is on).

Requests are counted by route template (never by raw path, which would make one series per
id) with the timing the request log already takes; sizes are read when scraped.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from app.auth import current_superuser
from app.db import get_db
from services.appdb import sizes

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# A label's values must stay few: a client can send any method name, so others count as OTHER.
_METHODS = frozenset({"GET", "HEAD", "OPTIONS", *_WRITES})
_SEED_ENDPOINT = "models.seed_app_database"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_SEED_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

bp = Blueprint("metrics", __name__)


class RequestStats:
    """Requests and their latency by (route, method, status), exposed as a counter and a
    histogram when scraped.

    Per request this is one lock and a few list updates: prometheus_client's labelled children
    take a lock per counter and per bucket, three times the cost (measured on this machine);
    the client library still writes the exposition.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats: dict[tuple[str, str, int], list] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        key = (route, method, status)
        slot = bisect_left(_LATENCY_BUCKETS, seconds)
        with self._lock:
            stats = self._stats.get(key)
            if stats is None:
                stats = self._stats[key] = [0, 0.0, [0] * (len(_LATENCY_BUCKETS) + 1)]
            stats[0] += 1
            stats[1] += seconds
            stats[2][slot] += 1

    def describe(self):
        """No samples at registration: collect() reads the live figures."""
        return []

    def collect(self):
        """The counter and the histogram (buckets cumulative, per route and method)."""
        with self._lock:
            snapshot = {k: (v[0], v[1], list(v[2])) for k, v in self._stats.items()}
        requests = CounterMetricFamily(
            "http_requests", "HTTP requests answered", labels=["route", "method", "status"]
        )
        latency = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Time from the first hook to the response",
            labels=["route", "method"],
        )
        merged: dict[tuple[str, str], list] = {}
        for (route, method, status), (count, total, buckets) in sorted(snapshot.items()):
            requests.add_metric([route, method, str(status)], count)
            into = merged.setdefault((route, method), [0.0, [0] * len(buckets)])
            into[0] += total
            into[1] = [a + b for a, b in zip(into[1], buckets, strict=True)]
        for (route, method), (total, buckets) in merged.items():
            cumulative, running = [], 0
            for bound, n in zip((*_LATENCY_BUCKETS, float("inf")), buckets, strict=True):
                running += n
                cumulative.append((floatToGoString(bound), running))
            latency.add_metric([route, method], cumulative, sum_value=total)
        yield requests
        yield latency


class Metrics:
    """The app's own registry (one per app: tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = RequestStats()
        r.register(self.requests)
        self.failed = Counter(
            "failed_operations",
            "Writes answered with an error, and any request answered with a 5xx",
            ["operation", "status"],
            registry=r,
        )
        self.seed_seconds = Histogram(
            "app_database_seed_duration_seconds",
            "Time one seed took, as the seed reports it",
            buckets=_SEED_BUCKETS,
            registry=r,
        )
        self.seeded_rows = Counter("app_database_seeded_rows", "Rows written by seeds", registry=r)
        self.app_db_bytes = Gauge(
            "app_database_size_bytes", "Bytes on disk of each app database", ["model"], registry=r
        )
        self.main_db_bytes = Gauge(
            "main_database_size_bytes", "Bytes on disk of the main database", registry=r
        )
        self.models = Gauge("app_models", "Models stored", registry=r)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        self.requests.observe(route, method, status, seconds)


def init_app(app: Flask) -> None:
    """Count every request (after the request log's timer started) and mount /metrics."""
    app.extensions["metrics"] = Metrics()
    app.after_request(_count)
    app.register_blueprint(bp)


def _count(response: Response) -> Response:
    metrics: Metrics = current_app.extensions["metrics"]
    started = g.get("request_started")
    seconds = time.perf_counter() - started if started else 0.0
    rule = request.url_rule
    route = rule.rule if rule is not None else "unmatched"
    status = response.status_code
    method = request.method if request.method in _METHODS else "OTHER"
    metrics.observe(route, method, status, seconds)
    if status >= 500 or (status >= 400 and request.method in _WRITES):
        metrics.failed.labels(request.endpoint or "unmatched", str(status)).inc()
    if request.endpoint == _SEED_ENDPOINT and status == 200:
        report = response.get_json(silent=True) or {}
        metrics.seed_seconds.observe(report.get("duration_ms", 0) / 1000)
        metrics.seeded_rows.inc(report.get("entities_created", 0))
    return response


@bp.get("/metrics")
def read_metrics():
    """The Prometheus text exposition of this process's figures."""
    current_superuser()
    metrics: Metrics = current_app.extensions["metrics"]
    settings = current_app.config["SETTINGS"]
    db = get_db()
    by_model = sizes.app_database_sizes(db=db, settings=settings)
    metrics.app_db_bytes.clear()  # a deleted model's series goes with it
    for model_id, size in by_model.items():
        metrics.app_db_bytes.labels(model_id).set(size)
    metrics.models.set(len(by_model))
    metrics.main_db_bytes.set(sizes.main_database_size(db=db, settings=settings))
    return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)
