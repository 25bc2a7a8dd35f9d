"""After a rush, Frappe's own figures on every screen of the outlet.

A screen keeps a running total: Frappe's figures as of a feed id plus the sales after that id.
It is as right as those figures: a snapshot read while tills were still committing can miss a
sale (Outlets.read_figures), and a sale published while the bridge was not listening is in no
one's count. So once an outlet has been quiet for LIVE_RECONCILE_SECONDS after a sale (or after
a resync), the bridge asks Frappe for its figures of today, stores them as the shared cache's,
and sends them to the outlet's rooms; screens take them as their new base. That is one call per
outlet per quiet spell across every bridge, however many screens watch.
"""

import contextlib
import logging
import threading
import time
from datetime import UTC, datetime

import redis

from .channel import FIGURES_EVENT, RECONCILES_KEY, outlet_room, public_room
from .displays import public_summary
from .events import SALE
from .frappe import FrappeError
from .outlets import covers, figures_key

log = logging.getLogger("dashboard.reconcile")

CHANGED_BY = 0.005  # money is kept to the paisa/cent


class Reconciler:
    def __init__(self, outlets, client: redis.Redis, emit, quiet_seconds: float):
        self.outlets = outlets
        self.redis = client
        self.emit = emit  # emit(event, data, room)
        self.quiet = quiet_seconds
        self.due: dict[str, float] = {}  # outlet -> when it will have been quiet long enough
        self.wake = threading.Condition()

    def after_sale(self, outlet: str) -> None:
        """Put the outlet's reconcile off until it has been quiet for a while."""
        with self.wake:
            self.due[outlet] = time.monotonic() + self.quiet
            self.wake.notify()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            outlet = self.next_due(stop)
            if outlet is None:
                continue
            try:
                self.reconcile(outlet)
            except (FrappeError, redis.RedisError) as exc:
                self.count("failed")
                log.warning("could not reconcile %s: %s", outlet, exc)
            except Exception:  # one outlet's surprise must not end the reconciles
                self.count("failed")
                log.exception("reconciling %s failed", outlet)

    def next_due(self, stop: threading.Event) -> str | None:
        with self.wake:
            now = time.monotonic()
            ready = next((o for o, at in self.due.items() if at <= now), None)
            if ready is not None:
                del self.due[ready]
                return ready
            soonest = min(self.due.values(), default=now + 1.0)
            self.wake.wait(min(max(soonest - now, 0.01), 1.0))
        return None

    def reconcile(self, outlet: str) -> None:
        # Another bridge may have just done it: one call per outlet per quiet spell.
        if not self.redis.set(f"reconcile:{outlet}", "1", nx=True, px=int(self.quiet * 1000)):
            return
        feed = self.outlets.feed
        before = feed.last_id(outlet)
        shown = self.running_total(outlet)
        figures = self.outlets.read_figures(outlet, self.outlets.fetcher(outlet))
        if figures["feed_id"] != before:
            return  # a sale came while Frappe answered; it put off a reconcile of its own
        cached = self.outlets.cache.write(figures_key("daily", outlet), figures)
        if shown is not None and shown[2] == figures["day"]:
            total, count, _ = shown
            differs = abs(total - figures["total_sales"]) > CHANGED_BY
            self.count("changed" if differs or count != figures["invoice_count"] else "same")
        summary = {
            "outlet": outlet,
            "period": "daily",
            **figures,
            "covers": covers("daily", figures["day"]),
            "as_of": datetime.fromtimestamp(cached.fetched_at, UTC).isoformat(),
            "stale": False,
        }
        # Managers keep the pace of their own snapshot (asked with their own rights); a
        # customer-facing screen, which gets no amounts to recount it, gets its percentage.
        self.emit(FIGURES_EVENT, summary, outlet_room(outlet))
        public = public_summary(self.outlets.with_pace(summary, None, None))
        self.emit(FIGURES_EVENT, public, public_room(outlet))

    def running_total(self, outlet: str) -> tuple[float, int, str] | None:
        """What screens show now: the cached figures plus the sales after their feed id."""
        cached = self.outlets.cache.read(figures_key("daily", outlet))
        if cached is None:
            return None
        base = cached.value
        sales, _ = self.outlets.feed.since(outlet, base.get("feed_id") or "0-0", 100_000)
        sales = [event for event in sales if event["event"] == SALE]
        total = base["total_sales"] + sum(sale["grand_total"] for sale in sales)
        return total, base["invoice_count"] + len(sales), base.get("day")

    def count(self, outcome: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.hincrby(RECONCILES_KEY, outcome, 1)
