"""Prometheus metrics (/metrics): Frappe calls, cache use, live sockets and the bridge's counts.

Not public: the endpoint answers only loopback addresses, or a bearer token when METRICS_TOKEN is
set (for a scraper elsewhere); anyone else gets a 404.
"""

import hmac
import ipaddress
import time

import redis
from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import REGISTRY

from .channel import (
    HEARTBEAT_KEY,
    LATENCY_BUCKETS,
    LATENCY_KEY,
    QUIET_COUNT_KEY,
    RECONCILES_KEY,
    STATS_KEY,
)

FRAPPE_CALLS = Counter(
    "dashboard_frappe_calls_total", "Requests to Frappe by endpoint and outcome",
    ["endpoint", "outcome"],
)  # fmt: skip
CACHE_LOOKUPS = Counter(
    "dashboard_cache_lookups_total", "Shared cache lookups: hit, fetched, waited or stale",
    ["result"],
)  # fmt: skip
BAD_FRAMES = Counter(
    "dashboard_bad_frames_total", "Socket.IO frames from clients refused, by kind", ["kind"]
)
LIVE_SOCKETS = Gauge(
    "dashboard_live_sockets", "Socket.IO clients connected to this process", ["kind"]
)

bp = Blueprint("metrics", __name__)


class BridgeCollector:
    """The bridge is another process: its counts and heartbeat are read from Redis at scrape."""

    def __init__(self):
        self.client = None

    def collect(self):
        if self.client is None:
            return
        events = GaugeMetricFamily(
            "dashboard_bridge_events", "Realtime events seen by the bridge, by outcome or reason",
            labels=["outcome"],
        )  # fmt: skip
        reconciles = GaugeMetricFamily(
            "dashboard_bridge_reconciles",
            "Re-reads of an outlet's figures from Frappe after a rush: whether they changed "
            "what screens showed",
            labels=["result"],
        )
        age = GaugeMetricFamily("dashboard_bridge_heartbeat_age_seconds", "Since the last beat")
        redis_up = GaugeMetricFamily(
            "dashboard_redis_up", "This process reaches our Redis: 1, else 0"
        )
        quiet = GaugeMetricFamily(
            "dashboard_quiet_outlets",
            "Outlets with no sale for longer than their usual gap, in their usual hours (quiet.py)",
        )
        try:
            for name, count in self.client.hgetall(STATS_KEY).items():
                events.add_metric([name.decode()], float(count))
            for name, count in self.client.hgetall(RECONCILES_KEY).items():
                reconciles.add_metric([name.decode()], float(count))
            beat = self.client.get(HEARTBEAT_KEY)
            latency = {k.decode(): float(v) for k, v in self.client.hgetall(LATENCY_KEY).items()}
            quiet.add_metric([], float(self.client.get(QUIET_COUNT_KEY) or 0))
        except redis.RedisError:
            redis_up.add_metric([], 0)
            yield redis_up
            return
        redis_up.add_metric([], 1)
        yield redis_up
        yield quiet
        yield events
        yield reconciles
        yield latency_histogram(latency)
        if beat:
            age.add_metric([], time.time() - float(beat))
            yield age


def latency_histogram(counts: dict[str, float]) -> HistogramMetricFamily:
    """The bridge keeps a count per bucket; Prometheus wants them cumulative."""
    buckets, seen = [], 0.0
    for le in [*map(str, LATENCY_BUCKETS), "+Inf"]:
        seen += counts.get(le, 0.0)
        buckets.append((le, seen))
    return HistogramMetricFamily(
        "dashboard_sale_age_seconds",
        "From a sale's posting time (set by the till before submit) to the bridge sending it",
        buckets=buckets,
        sum_value=counts.get("sum", 0.0),
    )


BRIDGE = BridgeCollector()
REGISTRY.register(BRIDGE)


def init_app(app) -> None:
    BRIDGE.client = app.config["SESSION_REDIS"]
    app.register_blueprint(bp)


@bp.route("/metrics")
def metrics():
    token = current_app.extensions["settings"].metrics_token
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token:
        allowed = hmac.compare_digest(sent.encode(), token.encode())
    else:
        allowed = ipaddress.ip_address(request.remote_addr or "0.0.0.0").is_loopback
    if not allowed:
        abort(404)
    return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)
