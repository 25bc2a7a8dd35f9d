"""Pace: today's sales so far against the same weekday last week, up to the same time of day.

Last week's day never changes: its invoices (Sales Invoices, or on a site that consolidates at
the POS closing its POS Invoices: Settings.till_doctype) are asked of
Frappe once per outlet per day, with the person's own sid after the permission check so that
Frappe's permissions apply, and kept in the shared cache until the site's midnight. It is shown
to a person only while Frappe lets that person read the outlet's Sales Invoices (a one-row list
with their sid, asked once per permission time, like outlet permissions). Today's side comes
from the figures and the live feed, never from asking Frappe again.

The daily summary is the busiest answer we give (pages, sockets and TVs all ask for it), so
what cannot change is also kept in-process: a past day's sales, and today's sales up to the feed
id the shared figures hold (fixed until the figures are next fetched). Pace then costs a
summary no Redis round trip of its own.
"""

import itertools
import math
import re
import threading
from datetime import datetime, time, timedelta

from .cache import UNREAD
from .events import CANCEL
from .feed import stream_id
from .frappe import NotPermitted

# Pace shows once last week's same day had sold this share of its day by the same time.
MIN_BASELINE_SHARE = 0.1
HIDDEN = "Frappe does not let your account read {doctype}s, so pace cannot be shown."
TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?")
NEVER_STALE = 10 * 365 * 86400.0  # a past day's sales: fresh for as long as they are kept
MEMO_MOST = 4096  # entries kept in-process (two per outlet a day): then it starts again


def finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def seconds_of(posting_time) -> int | None:
    """Seconds after midnight of Frappe's posting_time ("9:05:01.123456", "13:05:01")."""
    match = TIME_OF_DAY.fullmatch(str(posting_time).strip()) if posting_time else None
    if not match:
        return None
    hour, minute, second = map(int, match.groups())
    return hour * 3600 + minute * 60 + second if hour < 24 and minute < 60 and second < 60 else None


def access_key(user: str, outlet: str) -> str:
    """The shared cache's key for whether `user` may read `outlet`'s Sales Invoices."""
    return f"pace-access:{user}:{outlet}"


def remember(memo: dict, key, make):
    if key not in memo:
        if len(memo) >= MEMO_MOST:
            memo.clear()
        memo[key] = make()
    return memo[key]


class Pace:
    def __init__(self, frappe, cache, feed, settings):
        self.frappe = frappe
        self.cache = cache
        self.feed = feed
        self.settings = settings
        self.memo = {}
        self.reading = threading.Lock()

    def last_week(self, user: str | None, sid: str | None, outlet: str, now: datetime,
                  access=UNREAD) -> list:  # fmt: skip
        """[[seconds after midnight, amount], ...] of the outlet's sales 7 days before `now`,
        in time order, for `user` (None: the service account). The day is shared by everyone,
        so a person gets it only while Frappe lets that person read the outlet's Sales Invoices
        (`access`: that answer's cache entry, if just read); raises NotPermitted if not."""
        if user and not self.may_read(user, sid, outlet, access):
            raise NotPermitted(HIDDEN.format(doctype=self.settings.till_doctype))
        day = (now - timedelta(days=7)).date().isoformat()
        return remember(self.memo, ("history", outlet, day), lambda: self.cache.get(
            f"history:{outlet}:{day}",
            lambda: self.ask(sid, outlet, day),
            fresh_for=NEVER_STALE,
            keep_for=lambda _: seconds_to_midnight(now),
        ).value)  # fmt: skip

    def may_read(self, user: str, sid: str, outlet: str, entry=UNREAD) -> bool:
        """Whether Frappe lets `user` read `outlet`'s Sales Invoices: a one-row list with the
        person's sid, asked once per permission time across every process."""
        seconds = self.settings.permission_cache_seconds
        return self.cache.get(
            access_key(user, outlet),
            lambda: self.ask_access(sid, outlet),
            fresh_for=seconds,
            keep_for=lambda allowed: None if allowed else seconds,  # as outlet permissions
            entry=entry,
        ).value

    def ask_access(self, sid: str, outlet: str) -> bool:
        try:
            self.frappe.get_list(
                self.settings.till_doctype, fields=["name"], limit=1, sid=sid,
                filters=[["custom_franchise_outlet", "=", outlet]],
            )  # fmt: skip
        except NotPermitted:
            return False
        return True

    def heard_today(self, outlet: str, feed_id: str | None, now: datetime) -> list:
        """[[seconds after midnight, amount], ...] of today's sales in the feed up to `feed_id`
        (the figures hold those; screens add the later ones, as they do to the total)."""
        held = feed_id or "0-0"
        key = ("today", outlet, held, now.date())
        if key in self.memo:
            return self.memo[key]
        # One reader of the day's feed at a time: 50 screens subscribing at once each read and
        # parsed the whole feed (up to 2 MiB) before any had remembered it.
        with self.reading:
            return remember(self.memo, key, lambda: self.sales_up_to(outlet, stream_id(held), now))

    def sales_up_to(self, outlet: str, held: tuple[int, int], now: datetime) -> list:
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = []
        for sale in self.feed.sales_since(outlet, midnight):
            stamp = sale.get("timestamp") or ""
            if stamp[:10] == now.date().isoformat() and stream_id(sale["id"]) <= held:
                moment = datetime.fromisoformat(stamp)
                seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
                sign = -1 if sale["event"] == CANCEL else 1  # a cancelled sale leaves its hour
                today.append([seconds, sign * float(sale["grand_total"])])
        return sorted(today)

    def ask(self, sid: str | None, outlet: str, day: str) -> list:
        rows = self.frappe.get_list(
            self.settings.till_doctype,
            fields=["posting_time", "grand_total"],
            filters=[
                ["custom_franchise_outlet", "=", outlet],
                ["posting_date", "=", day],
                ["docstatus", "=", 1],
            ],  # fmt: skip
            limit=0,
            sid=sid,
            as_service=sid is None,
        )
        sales = [[seconds_of(r.get("posting_time")), r.get("grand_total")] for r in rows]
        return sorted([s, float(a)] for s, a in sales if s is not None and finite(a))

    def of(self, summary: dict, last_week: list, today_sales: list, now: datetime) -> dict:
        """The summary's `pace` and `hourly`: `today_sales` are the feed's [[seconds, amount]]
        of today; what the figures hold beyond them counts at the first of them."""
        seconds_now = now.hour * 3600 + now.minute * 60 + now.second
        before = sum(amount for s, amount in last_week if s <= seconds_now)
        day_total = sum(amount for _, amount in last_week)
        # Early in the day a few sales make +1000 %: no pace until the baseline means something.
        early = 0 < before < MIN_BASELINE_SHARE * day_total
        total = float(summary["total_sales"])
        unheard = max(0.0, total - sum(amount for _, amount in today_sales))
        first = today_sales[0][0] if today_sales else seconds_now
        today = by_hour([[first, unheard], *today_sales])
        last_week_by_hour = by_hour(last_week)
        return {
            "pace": {
                "today": total,
                "last_week_same_time": before,
                "last_week_day": day_total,
                "ratio": total / before - 1 if before > 0 and not early else None,
                "early": early,
                "last_week_sales": last_week,  # for screens: the baseline moves with the clock
            },
            "hourly": [
                {
                    "hour": hour,
                    "today": today[hour] if hour <= now.hour else None,
                    "last_week": last_week_by_hour[hour],
                }
                for hour in range(24)
            ],
        }


def seconds_to_midnight(now: datetime) -> int:
    """How long what is known of today stays true (a minute at least)."""
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), now.tzinfo)
    return max(60, int((midnight - now).total_seconds()))


def by_hour(sales: list) -> list[float]:
    """The sum of sales up to the end of each hour of the day (24 sums)."""
    hours = [0.0] * 24
    for seconds, amount in sales:
        hours[min(23, seconds // 3600)] += amount
    return list(itertools.accumulate(hours))
