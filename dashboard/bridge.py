"""python -m dashboard.bridge: forwards Frappe's realtime sales to the browsers allowed to see them.

Frappe publishes every sale to every user of the site. The bridge takes those events (from
Frappe's Redis `events` channel, or as a System User client of Frappe's Socket.IO server), keeps
our site's `live_pos_sale` and `daily_sales_update`, checks them, appends each to its outlet's live
feed and emits it, through Flask-SocketIO's Redis message queue, to that outlet's room only.
"""

import contextlib
import logging
import random
import signal
import sys
import threading
import time
from collections import deque
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import redis
import socketio

from . import config, logs
from .events import KINDS, BadEvent, check_event, parse_channel_message, public_copy
from .feed import (
    HEARTBEAT_EVERY,
    HEARTBEAT_KEY,
    LATENCY_BUCKETS,
    LATENCY_KEY,
    ROOMS_KEY,
    STATS_KEY,
    Feed,
)
from .frappe import FrappeClient, FrappeError

log = logging.getLogger("dashboard.bridge")

ROOMS_RECENT = 6 * 3600
PENDING_MAX = 10_000


class Backoff:
    """Exponential delays with full jitter, so many bridges never retry in step."""

    def __init__(self, first=0.5, most=30.0):
        self.first, self.most, self.tries = first, most, 0

    def next(self) -> float:
        self.tries += 1
        return random.uniform(0, min(self.most, self.first * 2**self.tries))

    def reset(self) -> None:
        self.tries = 0


class Bridge:
    def __init__(self, settings: config.Settings):
        self.settings = settings
        self.frappe = FrappeClient(settings)
        self.redis = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
        self.feed = Feed(self.redis, settings.feed_max_len, settings.time_zone or "UTC")
        self.zone_known = bool(settings.time_zone)
        self.zone_asked_at = -60.0
        # Flask-SocketIO listens on its own channel name, not python-socketio's default.
        self.emitter = socketio.RedisManager(
            settings.redis_url, channel="flask-socketio", write_only=True
        )
        self.stop = threading.Event()
        self.pending: deque = deque(maxlen=PENDING_MAX)  # accepted, not yet in our Redis
        self.logged_reasons: set[str] = set()
        self.redis_ok = True
        self.listening = False  # to Frappe: the heartbeat says the live feed is live, not just us
        self.next_beat = 0.0

    def learn_time_zone(self) -> None:
        """Ask Frappe for the site's time zone (days roll over by it) until it answers."""
        if self.zone_known or time.monotonic() - self.zone_asked_at < 60:
            return
        self.zone_asked_at = time.monotonic()
        try:
            self.feed.zone = ZoneInfo(self.frappe.time_zone())
            self.zone_known = True
        except FrappeError:
            log.warning("Frappe did not say its time zone yet; using UTC meanwhile")

    # -- events -------------------------------------------------------------------------------

    def on_channel_message(self, raw) -> None:
        try:
            event = parse_channel_message(raw, self.settings.frappe_site)
        except BadEvent as exc:
            self.reject(exc.reason)
            return
        except Exception:  # a message nobody foresaw must not stop the feed
            log.debug("unreadable realtime message", exc_info=True)
            self.reject("unreadable")
            return
        if event is None:
            self.count("ignored")  # another site's, or another kind of event
        else:
            self.accept(event)

    def on_socketio_event(self, kind: str, message) -> None:
        try:
            event = check_event(kind, message)
        except BadEvent as exc:
            self.reject(exc.reason)
            return
        self.accept(event)

    def accept(self, event: dict) -> None:
        self.pending.append(event)
        self.flush()

    def flush(self) -> None:
        """Store and send what is pending, in order; keep it while our Redis is away."""
        while self.pending:
            event = self.pending[0]
            try:
                sent = self.feed.append(event)
            except redis.RedisError as exc:
                self.redis_down(exc)
                return
            self.pending.popleft()
            if sent is None:
                self.count("duplicate")
                continue
            outlet = event["outlet"]
            self.emitter.emit(sent["event"], sent, room=f"outlet:{outlet}", namespace="/")
            # Customer-facing screens listen in their own room and never get amounts.
            self.emitter.emit(
                sent["event"], public_copy(sent), room=f"public:{outlet}", namespace="/"
            )
            self.count("accepted")
            self.record_latency(sent)

    def reject(self, reason: str) -> None:
        self.count(f"bad:{reason}")
        if reason not in self.logged_reasons:  # once per reason: input must not flood the log
            self.logged_reasons.add(reason)
            log.warning(
                "dropped a malformed realtime event: %s (further ones are only counted)", reason
            )

    def count(self, name: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.hincrby(STATS_KEY, name, 1)

    def record_latency(self, sale: dict) -> None:
        """How late we passed a sale on, by the time Frappe committed it (site-local)."""
        try:
            committed = datetime.fromisoformat(sale["timestamp"]).replace(tzinfo=self.feed.zone)
        except (KeyError, TypeError, ValueError):
            return  # no usable timestamp: nothing to measure
        seconds = max(0.0, time.time() - committed.timestamp())
        bucket = next((str(le) for le in LATENCY_BUCKETS if seconds <= le), "+Inf")
        with contextlib.suppress(redis.RedisError):
            self.redis.pipeline(transaction=False).hincrby(LATENCY_KEY, bucket, 1).hincrbyfloat(
                LATENCY_KEY, "sum", seconds
            ).execute()

    # -- health -------------------------------------------------------------------------------

    def tick(self) -> None:
        """Heartbeat every few seconds; after our Redis comes back, send what waited and resync."""
        if time.monotonic() < self.next_beat:
            return
        self.next_beat = time.monotonic() + HEARTBEAT_EVERY
        self.learn_time_zone()
        try:
            if self.listening:
                self.redis.set(HEARTBEAT_KEY, repr(time.time()), ex=int(HEARTBEAT_EVERY * 5))
            else:
                self.redis.ping()  # still notice our Redis coming back, to send what waited
        except redis.RedisError as exc:
            self.redis_down(exc)
            return
        if not self.redis_ok:
            self.redis_ok = True
            log.info("our Redis is back")
            self.flush()
            self.resync_all("the bridge reconnected to the dashboard's Redis")

    def redis_down(self, exc) -> None:
        if self.redis_ok:
            log.warning("our Redis is unreachable (%s); holding events", type(exc).__name__)
        self.redis_ok = False

    def resync_all(self, reason: str) -> None:
        """Tell every outlet room with recent subscribers that events may have been missed."""
        try:
            outlets = self.redis.zrangebyscore(ROOMS_KEY, time.time() - ROOMS_RECENT, "+inf")
        except redis.RedisError as exc:
            self.redis_down(exc)
            return
        for outlet in (o.decode() for o in outlets):
            for room in (f"outlet:{outlet}", f"public:{outlet}"):
                self.emitter.emit("resync", {"outlet": outlet, "reason": reason}, room=room)
        log.info("sent resync to %d outlet rooms (%s)", len(outlets), reason)

    # -- sources ------------------------------------------------------------------------------

    def run(self) -> None:
        if self.settings.frappe_realtime == "socketio":
            self.run_socketio_source()
        else:
            self.run_redis_source()

    def run_redis_source(self) -> None:
        backoff = Backoff()
        while not self.stop.is_set():
            pubsub = None
            try:
                source = redis.Redis.from_url(
                    self.settings.frappe_redis_url, socket_connect_timeout=5,
                    health_check_interval=10,
                )  # fmt: skip
                pubsub = source.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe("events")
                self.listening = True
                log.info("listening to Frappe's realtime events on its Redis")
                backoff.reset()
                self.resync_all("the bridge (re)connected to Frappe's realtime events")
                while not self.stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self.on_channel_message(message["data"])
                    self.tick()
            except redis.RedisError as exc:
                self.listening = False  # before waiting: no heartbeat while deaf to Frappe
                delay = backoff.next()
                log.warning("Frappe's Redis: %s; retrying in %.1f s", type(exc).__name__, delay)
                self.stop.wait(delay)
                self.tick()
            finally:
                if pubsub is not None:
                    pubsub.close()

    def run_socketio_source(self) -> None:
        namespace = f"/{self.settings.frappe_site}"
        client = socketio.Client(
            reconnection=False,  # each reconnect logs in again: handled below
            websocket_extra_options={"suppress_origin": True},
        )
        for kind in KINDS:
            client.on(
                kind,
                lambda message, kind=kind: self.on_socketio_event(kind, message),
                namespace=namespace,
            )
        backoff = Backoff()
        while not self.stop.is_set():
            try:
                self.connect_socketio(client, namespace)
                self.listening = True
                backoff.reset()
                self.resync_all("the bridge (re)connected to Frappe's realtime server")
                while client.connected and not self.stop.is_set():
                    self.stop.wait(0.5)
                    self.tick()
            except (socketio.exceptions.ConnectionError, FrappeError) as exc:
                self.listening = False  # before waiting: no heartbeat while deaf to Frappe
                delay = backoff.next()
                log.warning("Frappe's realtime server: %s; retrying in %.1f s", exc, delay)
                self.stop.wait(delay)
                self.tick()
            finally:
                self.listening = False
                if client.connected:
                    client.disconnect()

    def connect_socketio(self, client: socketio.Client, namespace: str) -> None:
        """Log in as the bridge's System User and connect with Frappe's cookie and Origin rules."""
        user, password = self.settings.frappe_bridge_user, self.settings.frappe_bridge_password
        login = self.frappe.login(user, password, client_ip="")
        if not hasattr(login, "sid"):
            raise FrappeError("the bridge user needs a login without two-factor")
        parts = urlsplit(self.settings.frappe_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        client.connect(
            self.settings.frappe_url,
            namespaces=[namespace],
            headers={
                "Cookie": f"sid={login.sid}",
                "Origin": origin,
                "X-Frappe-Site-Name": self.settings.frappe_site,
            },
            transports=["polling", "websocket"],
            wait_timeout=10,
        )
        log.info("listening to Frappe's realtime server as %s", user)


def check_source_settings(settings: config.Settings) -> None:
    if settings.frappe_realtime == "redis" and not settings.frappe_redis_url:
        raise config.ConfigError("FRAPPE_REDIS_URL", "required for FRAPPE_REALTIME=redis")
    if settings.frappe_realtime == "socketio" and not (
        settings.frappe_bridge_user and settings.frappe_bridge_password
    ):
        raise config.ConfigError(
            "FRAPPE_BRIDGE_USER",
            "FRAPPE_BRIDGE_USER and FRAPPE_BRIDGE_PASSWORD are required "
            "for FRAPPE_REALTIME=socketio",
        )


def main() -> int:
    settings = config.load_or_exit()
    try:
        check_source_settings(settings)
    except config.ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings)
    bridge = Bridge(settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: bridge.stop.set())
    log.info("bridge starting: source %s, site %s", settings.frappe_realtime, settings.frappe_site)
    bridge.run()
    log.info("bridge stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
