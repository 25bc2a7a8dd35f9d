"""Quiet outlets: no sale for longer than usual, during the hours an outlet usually trades.

The bridge sees every sale, so it alone decides, once per outlet (not per screen or process).
What is usual comes from the last four same weekdays: once per outlet per day the bridge asks
Frappe for those days' Sales Invoice times (service account) and keeps, for each hour, the
median gap between sales that lasted into it. An hour is usual when the outlet sold in it on at
least two of those days; outside usual hours nothing is flagged. Within them, an outlet is quiet
when its last sale (or the start of today's usual stretch, or of the bridge's listening: a sale
it never heard is no silence) is further back than 3 × that median and at least
QUIET_MIN_SECONDS. The mark lives in our Redis for the web to read, is pushed to
the outlet's room, and the next sale clears it at once.
"""

import contextlib
import json
import logging
import statistics
import threading
import time
from datetime import date, datetime, timedelta

import redis

from .channel import QUIET_COUNT_KEY, QUIET_EVENT, outlet_room, quiet_key
from .frappe import FrappeError, NotPermitted
from .outlets import valid_outlet_name
from .pace import NEVER_STALE, seconds_of, seconds_to_midnight

log = logging.getLogger("dashboard.quiet")

WEEKS = 4  # same weekdays learned from
USUAL_DAYS = 2  # of those, days with a sale in an hour for it to be a usual trading hour
GAP_FACTOR = 3  # quiet after this many usual gaps
CHECK_EVERY = 1.0  # seconds between checks of every outlet
LEARN_PER_CHECK = 5  # Frappe calls per check at most: 500 outlets are learned in 100 s
RETRY_LEARNING = 60.0  # seconds after Frappe could not say an outlet's history
RETRY_REFUSED = 3600.0  # ... after it refused the service account the Sales Invoice list
OUTLETS_EVERY = 600.0  # seconds between readings of the outlet list
MARK_KEPT = 60  # seconds a mark outlives a bridge that stopped renewing it
MARK_RENEWED = 20.0


def usual_gaps(days: list[list[int]]) -> list[float | None]:
    """For each hour of the day, the median gap (seconds) between sales that lasted into it on
    these days (each a list of sale times, seconds after midnight); None when the outlet does
    not usually trade in that hour."""
    traded = [0] * 24
    gaps: list[list[int]] = [[] for _ in range(24)]
    for seconds in days:
        seconds = sorted(s for s in seconds if 0 <= s < 86400)
        for hour in {s // 3600 for s in seconds}:
            traded[hour] += 1
        for before, after in zip(seconds, seconds[1:], strict=False):
            for hour in range(before // 3600, after // 3600 + 1):
                gaps[hour].append(after - before)
    return [
        float(statistics.median(gaps[hour])) if traded[hour] >= USUAL_DAYS and gaps[hour] else None
        for hour in range(24)
    ]


def quiet_at(gaps: list, last_heard: datetime | None, now: datetime, min_seconds: float):
    """The mark `{"since", "usual_gap_s"}` when the outlet is quiet at `now`, else None;
    `last_heard` is its last sale, or when the bridge began to listen if that is later."""
    gap = gaps[now.hour]
    if gap is None:
        return None
    opened = now.hour  # today's stretch of usual hours began at the top of this hour
    while opened > 0 and gaps[opened - 1] is not None:
        opened -= 1
    since = now.replace(hour=opened, minute=0, second=0, microsecond=0)
    if last_heard is not None and last_heard > since:
        since = last_heard
    if (now - since).total_seconds() <= max(GAP_FACTOR * gap, min_seconds):
        return None
    return {"since": since.replace(microsecond=0).isoformat(), "usual_gap_s": round(gap)}


class QuietWatch:
    def __init__(self, frappe, cache, feed, emit, min_seconds: float, leading, heard_since,
                 doctype: str = "Sales Invoice"):  # fmt: skip
        self.frappe, self.cache, self.feed, self.emit = frappe, cache, feed, emit
        self.doctype = doctype  # where each sale is kept as the till made it (Settings)
        self.redis = cache.redis
        self.min_seconds = min_seconds
        self.leading = leading  # only the bridge that sends events marks outlets
        self.heard_since = heard_since  # when it began to listen to Frappe (epoch seconds)
        self.lock = threading.Lock()
        self.marks: dict[str, tuple[dict, float]] = {}  # outlet -> (mark, when renewed)
        self.sold_at: dict[str, float] = {}  # outlet -> when the bridge last stored a sale
        self.gaps: dict[str, tuple[date, list]] = {}  # outlet -> (day, usual_gaps)
        self.retry_at: dict[str, float] = {}
        self.outlets: list[str] = []
        self.outlets_at = float("-inf")
        self.refused_until = float("-inf")

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(CHECK_EVERY):
            try:
                self.check()
            except (FrappeError, redis.RedisError) as exc:
                log.debug("quiet check skipped: %s", exc)
            except Exception:  # a surprise must not end the watch
                log.exception("quiet check failed")

    def check(self) -> None:
        self.look()
        # For /metrics: kept as long as a mark, so a bridge that stopped leaves no count behind.
        self.redis.set(QUIET_COUNT_KEY, len(self.marks), ex=MARK_KEPT)

    def look(self) -> None:
        if not self.leading():  # standing by, or deaf to Frappe: no longer ours to say
            with self.lock:
                for outlet in list(self.marks):
                    self.clear(outlet)
            return
        checked_at = time.time()
        now = datetime.now(self.feed.zone)
        outlets = self.outlet_names()
        todays = self.feed.todays(outlets)
        self.learn_some(outlets, now.date())
        for outlet in outlets:
            gaps = self.known(outlet, now.date())
            last = max(todays[outlet]["last_sale"] or 0.0, self.heard_since())
            last_heard = datetime.fromtimestamp(last, self.feed.zone)
            mark = quiet_at(gaps, last_heard, now, self.min_seconds) if gaps else None
            self.show(outlet, mark, checked_at)

    def after_sale(self, outlet: str) -> None:
        """A sale was stored: the outlet is not quiet, now."""
        with self.lock:
            self.sold_at[outlet] = time.time()
            if outlet in self.marks:
                self.clear(outlet)

    def show(self, outlet: str, mark: dict | None, checked_at: float) -> None:
        with self.lock:
            shown = self.marks.get(outlet)
            if mark is None:
                if shown is not None:
                    self.clear(outlet)
                return
            if self.sold_at.get(outlet, 0.0) >= checked_at:
                return  # a sale came while this check ran
            if shown is not None and shown[0] == mark:
                if time.monotonic() - shown[1] >= MARK_RENEWED:
                    self.redis.expire(quiet_key(outlet), MARK_KEPT)
                    self.marks[outlet] = (mark, time.monotonic())
                return
            self.redis.set(quiet_key(outlet), json.dumps(mark), ex=MARK_KEPT)
            self.marks[outlet] = (mark, time.monotonic())
            self.emit(QUIET_EVENT, {"outlet": outlet, "quiet": mark}, outlet_room(outlet))

    def clear(self, outlet: str) -> None:
        """Called with `lock` held."""
        del self.marks[outlet]
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(quiet_key(outlet))
        self.emit(QUIET_EVENT, {"outlet": outlet, "quiet": None}, outlet_room(outlet))

    # -- what is usual ------------------------------------------------------------------------

    def outlet_names(self) -> list[str]:
        if time.monotonic() - self.outlets_at >= OUTLETS_EVERY:
            rows = self.frappe.get_list(
                "Franchise Outlet", fields=["name", "status"], limit=0, as_service=True
            )
            # A suspended or closed outlet sells nothing, as it should: it is never quiet.
            names = (row.get("name") for row in rows if row.get("status") == "Active")
            self.outlets = [n for n in names if isinstance(n, str) and valid_outlet_name(n)]
            self.outlets_at = time.monotonic()
        return self.outlets

    def known(self, outlet: str, day: date) -> list | None:
        """The outlet's usual gaps for `day`'s weekday, once learned."""
        known = self.gaps.get(outlet)
        return known[1] if known and known[0] == day else None

    def learn_some(self, outlets: list[str], day: date) -> None:
        """Learn the usual gaps of up to LEARN_PER_CHECK outlets not known yet."""
        now = time.monotonic()
        if now < self.refused_until:
            return
        due = [o for o in outlets if self.known(o, day) is None and now >= self.retry_at.get(o, 0)]
        for outlet in due[:LEARN_PER_CHECK]:
            try:
                gaps = self.cache.get(
                    f"usual:{outlet}:{day.isoformat()}",
                    lambda outlet=outlet: self.learn(outlet, day),
                    fresh_for=NEVER_STALE,
                    keep_for=lambda _: seconds_to_midnight(datetime.now(self.feed.zone)),
                ).value
            except NotPermitted:
                log.warning("Frappe does not let the service account read Sales Invoices: "
                            "no outlet is marked quiet")  # fmt: skip
                self.refused_until = now + RETRY_REFUSED
                return
            except FrappeError as exc:
                log.info("could not learn %s's usual hours yet: %s", outlet, exc)
                self.retry_at[outlet] = now + RETRY_LEARNING
                continue
            self.gaps[outlet] = (day, gaps)

    def learn(self, outlet: str, day: date) -> list:
        days = [str(day - timedelta(weeks=week)) for week in range(1, WEEKS + 1)]
        rows = self.frappe.get_list(
            self.doctype,
            fields=["posting_date", "posting_time"],
            filters=[
                ["custom_franchise_outlet", "=", outlet],
                ["posting_date", "in", days],
                ["docstatus", "=", 1],
            ],  # fmt: skip
            limit=0,
            as_service=True,
        )
        by_day: dict[str, list[int]] = {d: [] for d in days}
        for row in rows:
            seconds = seconds_of(row.get("posting_time"))
            if seconds is not None and row.get("posting_date") in by_day:
                by_day[row["posting_date"]].append(seconds)
        return usual_gaps(list(by_day.values()))
