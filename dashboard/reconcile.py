"""After a rush, Frappe's own figures on every screen of the outlet.

A screen keeps a running total: Frappe's figures as of a feed id plus the sales after that id.
It is as right as those figures: a snapshot read while tills were still committing can miss a
sale (Outlets.read_figures), and a sale published while the bridge was not listening is in no
one's count. So once an outlet has been quiet for LIVE_RECONCILE_SECONDS after a sale (or after
a resync), the bridge asks Frappe for its figures of today, stores them as the shared cache's,
and sends them to the outlet's rooms; screens take them as their new base. That is one call per
outlet per quiet spell across every bridge, however many screens watch.

A cancellation publishes nothing but a `list_update` naming the POS Invoice (frappe-contract.md,
"Cancelling"). When one names an invoice the feed carried, the reconciler asks Frappe, a moment
later and for every such invoice of that outlet at once (a POS closing saves each of the day's
invoices), which are now cancelled; each is sent to screens to be taken off again, and the
outlet is re-read once it is quiet. Amendments and returns are new sales, published as such.
"""

import contextlib
import logging
import threading
import time
from datetime import UTC, datetime

import redis

from .channel import FIGURES_EVENT, RECONCILES_KEY, outlet_room, public_room
from .displays import public_summary
from .events import CANCEL, SALE, cancelled
from .frappe import FrappeError
from .outlets import covers, figures_key

log = logging.getLogger("dashboard.reconcile")

CHANGED_BY = 0.005  # money is kept to the paisa/cent
CHANGE_DELAY = 0.5  # seconds: the changes of one outlet in that time are looked up together
NAMES_PER_QUERY = 100


class Reconciler:
    def __init__(self, outlets, client: redis.Redis, emit, quiet_seconds: float, on_cancel=None):
        self.outlets = outlets
        self.redis = client
        self.emit = emit  # emit(event, data, room)
        self.on_cancel = on_cancel  # on_cancel(event): store and send it as the feed's
        self.quiet = quiet_seconds
        self.due: dict[str, float] = {}  # outlet -> when it will have been quiet long enough
        self.changed: dict[str, set] = {}  # outlet -> carried invoices that changed
        self.changes_due: dict[str, float] = {}  # outlet -> when to look them up
        self.wake = threading.Condition()

    def after_sale(self, outlet: str) -> None:
        """Put the outlet's reconcile off until it has been quiet for a while."""
        with self.wake:
            self.due[outlet] = time.monotonic() + self.quiet
            self.wake.notify()

    def after_change(self, outlet: str, invoice: str) -> None:
        """A carried invoice of the outlet changed (a cancellation, a closing's save...)."""
        with self.wake:
            self.changed.setdefault(outlet, set()).add(invoice)
            self.changes_due.setdefault(outlet, time.monotonic() + CHANGE_DELAY)
            self.wake.notify()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            due = self.next_due(stop)
            if due is None:
                continue
            outlet, task = due
            try:
                task()
            except (FrappeError, redis.RedisError) as exc:
                self.count("failed")
                log.warning("could not reconcile %s: %s", outlet, exc)
            except Exception:  # one outlet's surprise must not end the reconciles
                self.count("failed")
                log.exception("reconciling %s failed", outlet)

    def next_due(self, stop: threading.Event):
        """(outlet, what to do now), or None after a short wait."""
        with self.wake:
            now = time.monotonic()
            changed = next((o for o, at in self.changes_due.items() if at <= now), None)
            if changed is not None:
                del self.changes_due[changed]
                names = self.changed.pop(changed)
                return changed, lambda: self.look_up_changes(changed, names)
            ready = next((o for o, at in self.due.items() if at <= now), None)
            if ready is not None:
                del self.due[ready]
                return ready, lambda: self.reconcile(ready)
            soonest = min([*self.due.values(), *self.changes_due.values()], default=now + 1.0)
            self.wake.wait(min(max(soonest - now, 0.01), 1.0))
        return None

    def look_up_changes(self, outlet: str, names: set) -> None:
        """Send the cancellation of each changed invoice Frappe now has as cancelled, then
        re-read the outlet once it is quiet (whatever the change was)."""
        names = sorted(names)
        for start in range(0, len(names), NAMES_PER_QUERY):
            rows = self.outlets.frappe.get_list(
                "POS Invoice", fields=["name"], limit=0, as_service=True,
                filters=[["custom_franchise_outlet", "=", outlet], ["docstatus", "=", 2],
                         ["name", "in", names[start : start + NAMES_PER_QUERY]]],
            )  # fmt: skip
            for row in rows:
                sale = self.outlets.feed.carried(str(row.get("name")))
                if sale is not None and sale["outlet"] == outlet and self.on_cancel:
                    self.on_cancel(cancelled(sale))
        self.after_sale(outlet)

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
        day = base.get("day") or ""
        events, _ = self.outlets.feed.since(outlet, base.get("feed_id") or "0-0", 100_000)
        total, count = base["total_sales"], base["invoice_count"]
        for event in events:
            sign = {SALE: 1, CANCEL: -1}.get(event["event"], 0)
            if sign and (event.get("timestamp") or day).startswith(day):  # not backdated
                total, count = total + sign * event["grand_total"], count + sign
        return total, count, base.get("day")

    def count(self, outcome: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.hincrby(RECONCILES_KEY, outcome, 1)
