"""python -m dashboard.bridge: forwards Frappe's realtime sales to the browsers allowed to see them.

Frappe publishes every sale to every user of the site. The bridge takes those events (from
Frappe's Redis `events` channel, or as a System User client of Frappe's Socket.IO server), keeps
our site's `live_pos_sale` and `daily_sales_update`, checks them, appends each to its outlet's live
feed and emits it, through Flask-SocketIO's Redis message queue, to that outlet's room only.
"""

import contextlib
import logging
import signal
import sys
import threading
import time
from collections import deque
from datetime import datetime
from zoneinfo import ZoneInfo

import redis
import socketio

from . import config, logs, redis_client
from .cache import SharedCache
from .channel import (
    HEARTBEAT_EVERY,
    HEARTBEAT_KEY,
    LATENCY_BUCKETS,
    LATENCY_KEY,
    MESSAGE_QUEUE_CHANNEL,
    RESYNC_EVENT,
    ROOMS_KEY,
    STATS_KEY,
    outlet_room,
    public_room,
)
from .events import (
    CHANGE,
    SALE,
    BadEvent,
    check_event,
    parse_channel_message,
    public_copy,
)
from .feed import Feed
from .frappe import FrappeClient, FrappeError
from .lease import Lease
from .outlets import Outlets
from .quiet import QuietWatch
from .reconcile import Reconciler
from .sources import Backoff, RedisSource, SocketIOSource, check_source_settings

log = logging.getLogger("dashboard.bridge")

ROOMS_RECENT = 6 * 3600
PENDING_MAX = 10_000
LEASE_SECONDS = 3 * HEARTBEAT_EVERY  # a leader that stopped renewing is replaced after this
HOLD_SECONDS = 20.0  # a standby keeps what it heard this long, to carry on where a leader died
KNOWN_MOST = 100_000  # outlet names kept as known: then the set starts again


class Bridge:
    def __init__(self, settings: config.Settings):
        self.settings = settings
        self.frappe = FrappeClient(settings)
        self.redis = redis_client.connect(settings.redis_url, socket_timeout=5)
        self.feed = Feed(self.redis, settings.feed_max_len, settings.time_zone or "UTC")
        self.zone_known = bool(settings.time_zone)
        self.zone_asked_at = -60.0
        self.zone_retry = 1.0  # seconds; doubles up to a minute while Frappe does not answer
        self.emitter = socketio.RedisManager(
            settings.redis_url,
            channel=MESSAGE_QUEUE_CHANNEL,
            write_only=True,
            redis_options=redis_client.socketio_options(
                settings.redis_url, settings.redis_max_connections
            ),
        )
        self.stop = threading.Event()
        # Events may come on several threads (python-socketio's client): one flush at a time.
        self.flushing = threading.Lock()
        self.pending: deque = deque(maxlen=PENDING_MAX)  # accepted, not yet in our Redis
        self.lease = Lease(self.redis, LEASE_SECONDS)
        self.leading = False
        self.stood_by = False
        self.held: deque = deque(maxlen=PENDING_MAX)  # (when, event) heard while standing by
        self.logged_reasons: set[str] = set()
        self.redis_ok = True
        self.listening = False  # to Frappe: the heartbeat says the live feed is live, not just us
        self.listening_since = 0.0  # epoch seconds
        self.next_beat = 0.0
        self.resync_at = None  # a second resync after our Redis came back (tick)
        self.reconciler = self.quiet = self.outlets = None
        self.known: dict[str, float] = {}  # outlets Frappe has -> until when that is trusted
        if settings.has_service_account:
            cache = SharedCache.for_settings(self.redis, settings)
            self.outlets = outlets = Outlets(self.frappe, cache, settings, self.feed)
            self.reconciler = Reconciler(
                outlets, self.redis, self.emit, settings.live_reconcile_seconds, self.accept
            )
            self.quiet = QuietWatch(
                self.frappe, cache, self.feed, self.emit, settings.quiet_min_seconds,
                leading=lambda: self.leading and self.listening and self.redis_ok
                and self.zone_known,
                heard_since=lambda: self.listening_since, doctype=settings.till_doctype,
            )  # fmt: skip

    def emit(self, event: str, data: dict, room: str) -> None:
        self.emitter.emit(event, data, room=room, namespace="/")

    def learn_time_zone(self) -> None:
        """Ask Frappe for the site's time zone (days roll over by it) until it answers."""
        if self.zone_known or time.monotonic() - self.zone_asked_at < self.zone_retry:
            return
        self.zone_asked_at = time.monotonic()
        try:
            self.feed.zone = ZoneInfo(self.frappe.time_zone())
            self.zone_known = True
        except FrappeError:
            # Soon again: started beside Frappe (as in the demo), it answers within seconds.
            if self.zone_retry == 1.0:
                log.warning("Frappe did not say its time zone yet; using UTC meanwhile")
            self.zone_retry = min(60.0, self.zone_retry * 2)

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
        if event is None:
            self.count("ignored")  # a list_update of another doctype
        else:
            self.accept(event)

    def accept(self, event: dict) -> None:
        if event["kind"] == CHANGE:
            self.on_change(event["invoice"])
            return
        if not self.known_outlet(event["outlet"]):
            self.count("unknown_outlet")  # its feed would never expire, nor be read
            return
        with self.flushing:
            if self.leading:
                self.pending.append(event)
                self.flush()
                return
            now = time.monotonic()
            self.held.append((now, event))
            while self.held[0][0] < now - HOLD_SECONDS:
                self.held.popleft()

    def on_change(self, invoice: str) -> None:
        """A POS Invoice changed: if it is one whose sale we carried (each submit's own change
        comes before its sale, and is not), the reconciler finds out whether it was cancelled.
        Only the leading bridge asks Frappe."""
        if not (self.leading and self.reconciler):
            return
        try:
            sale = self.feed.carried(invoice)
        except redis.RedisError as exc:
            self.redis_down(exc)
            return
        if sale is not None:
            self.count("invoice_changed")
            self.reconciler.after_change(sale["outlet"], invoice)

    def known_outlet(self, outlet: str) -> bool:
        """False for an outlet Frappe says it does not have; True when it has, and while Frappe
        cannot say (a sale is never lost for that). Known names are kept in-process a day."""
        if self.outlets is None or self.known.get(outlet, 0) > time.monotonic():
            return True
        found = self.outlets.exists(outlet)
        if found:
            if len(self.known) >= KNOWN_MOST:
                self.known.clear()
            self.known[outlet] = time.monotonic() + 86400
        return found is not False

    def take_turn(self) -> None:
        """Lead when no other bridge does; a new leader sends what it heard while standing by
        (what the old one stored already is skipped as a repeat)."""
        leading = self.lease.hold()
        took_over = leading and self.stood_by  # from a leader that stopped
        self.stood_by = not leading
        if leading == self.leading:
            return
        with self.flushing:
            self.leading = leading
            if leading:
                recent = time.monotonic() - HOLD_SECONDS
                self.pending.extend(event for at, event in self.held if at >= recent)
                self.held.clear()
                self.flush()
        log.info("this bridge %s", "stores and sends events" if leading else "stands by")
        if took_over:  # pages may lack what the old leader stored but did not send
            self.resync_all("another bridge took over")

    def flush(self) -> None:
        """Store and send what is pending, in order; keep it while our Redis is away.
        Called with `flushing` held."""
        while self.pending:
            event = self.pending[0]
            try:
                outcome, sent = self.feed.append(event)
            except redis.RedisError as exc:
                self.redis_down(exc)
                return
            self.pending.popleft()
            self.count(outcome)
            if sent is None:
                continue
            outlet = event["outlet"]
            self.emit(sent["event"], sent, outlet_room(outlet))
            # Customer-facing screens listen in their own room and never get amounts.
            self.emit(sent["event"], public_copy(sent), public_room(outlet))
            if sent["event"] == SALE:
                self.record_latency(sent)
                if self.reconciler:
                    self.reconciler.after_sale(outlet)
                if self.quiet:
                    self.quiet.after_sale(outlet)

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
        """How old a sale was when we passed it on, from its posting time (site-local), which
        the till sets before insert and submit: the submit request's own time is in it
        (frappe-contract.md). Frappe's messages carry no time of publishing."""
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
            with self.flushing:
                self.flush()
            self.resync_all("the bridge reconnected to the dashboard's Redis")
            # Web processes resubscribe to the message queue a second or so after it returns,
            # and miss what was sent before: say it again once they listen.
            self.resync_at = time.monotonic() + 2 * HEARTBEAT_EVERY
        elif self.resync_at and time.monotonic() >= self.resync_at:
            self.resync_at = None
            self.resync_all("the dashboard's Redis came back")
        try:
            self.take_turn()
        except redis.RedisError as exc:
            self.redis_down(exc)

    def redis_down(self, exc) -> None:
        if self.redis_ok:
            log.warning("our Redis is unreachable (%s); holding events", type(exc).__name__)
        self.redis_ok = False

    def resync_all(self, reason: str) -> None:
        """Tell every outlet room with recent subscribers that events may have been missed,
        and re-read those outlets' figures once the sales have settled."""
        try:
            outlets = self.redis.zrangebyscore(ROOMS_KEY, time.time() - ROOMS_RECENT, "+inf")
        except redis.RedisError as exc:
            self.redis_down(exc)
            return
        for outlet in (o.decode() for o in outlets):
            for room in (outlet_room(outlet), public_room(outlet)):
                self.emit(RESYNC_EVENT, {"outlet": outlet, "reason": reason}, room)
            if self.reconciler:
                self.reconciler.after_sale(outlet)
        log.info("sent resync to %d outlet rooms (%s)", len(outlets), reason)

    # -- sources ------------------------------------------------------------------------------

    def run(self) -> None:
        if self.reconciler:  # and the quiet watch: both need the service account
            for task in (self.reconciler.run, self.quiet.run):
                threading.Thread(target=task, args=(self.stop,), daemon=True).start()
        else:
            log.warning("no FRAPPE_API_KEY: screens are not re-read from Frappe after a rush, "
                        "and no outlet is marked quiet")  # fmt: skip
        if self.settings.frappe_realtime == "socketio":
            source = SocketIOSource(self.settings, self.frappe, self.on_socketio_event)
        else:
            source = RedisSource(self.settings, self.on_channel_message)
        self.listen(source)

    def listen(self, source) -> None:
        """Connect, pass on what comes, and on any loss wait a little and connect again."""
        backoff = Backoff()
        while not self.stop.is_set():
            try:
                source.connect()
                self.listening, self.listening_since = True, time.time()
                backoff.reset()
                self.resync_all(f"the bridge (re)connected to {source.name}")
                while not self.stop.is_set() and source.pump(timeout=0.5):
                    self.tick()
                problem = "connection lost"
            except source.errors as exc:
                problem = str(exc) or type(exc).__name__
            finally:
                self.listening = False  # before waiting: no heartbeat while deaf to Frappe
                source.close()
            if self.stop.is_set():
                return
            delay = backoff.next()
            log.warning("%s: %s; retrying in %.1f s", source.name, problem, delay)
            self.stop.wait(delay)
            self.tick()


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
    bridge.lease.release()
    log.info("bridge stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
