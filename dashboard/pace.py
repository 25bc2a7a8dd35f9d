"""Pace: today's sales so far against the same weekday last week, up to the same time of day.

Last week's day never changes: its Sales Invoices (the doctype the seed's RPC sums) are asked of
Frappe once per outlet per day, with the person's own sid after the permission check so that
Frappe's permissions apply, and kept in the shared cache until the site's midnight for everyone
who may read the outlet. Today's side comes from the figures and the live feed, never from
asking Frappe again.
"""

import math
import re
from datetime import date, datetime, time, timedelta

from .frappe import NotPermitted

HIDDEN = "Frappe does not let your account read Sales Invoices, so pace cannot be shown."
TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?")
NEVER_STALE = 10 * 365 * 86400.0  # a past day's sales: fresh for as long as they are kept


def finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def seconds_of(posting_time) -> int | None:
    """Seconds after midnight of Frappe's posting_time ("9:05:01.123456", "13:05:01")."""
    match = TIME_OF_DAY.fullmatch(str(posting_time).strip()) if posting_time else None
    if not match:
        return None
    hour, minute, second = map(int, match.groups())
    return hour * 3600 + minute * 60 + second if hour < 24 and minute < 60 and second < 60 else None


class Pace:
    def __init__(self, frappe, cache, redis_client, settings):
        self.frappe = frappe
        self.cache = cache
        self.redis = redis_client
        self.settings = settings

    def last_week(self, user: str | None, sid: str | None, outlet: str, now: datetime) -> list:
        """[[seconds after midnight, amount], ...] of the outlet's sales 7 days before `now`,
        in time order. Raises NotPermitted when Frappe refuses this user the list."""
        refused = f"pace:refused:{user}"
        if user and self.redis.exists(refused):
            raise NotPermitted(HIDDEN)
        day = (now - timedelta(days=7)).date()
        try:
            return self.cache.get(
                f"history:{outlet}:{day.isoformat()}",
                lambda: self.ask(sid, outlet, day),
                fresh_for=NEVER_STALE,
                keep_for=lambda _: seconds_to_midnight(now),
            ).value
        except NotPermitted:
            self.redis.set(refused, 1, ex=int(self.settings.permission_cache_seconds))
            raise

    def ask(self, sid: str | None, outlet: str, day: date) -> list:
        rows = self.frappe.get_list(
            "Sales Invoice",
            fields=["posting_time", "grand_total"],
            filters=[
                ["custom_franchise_outlet", "=", outlet],
                ["posting_date", "=", str(day)],
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
        total = float(summary["total_sales"])
        unheard = max(0.0, total - sum(amount for _, amount in today_sales))
        first = today_sales[0][0] if today_sales else seconds_now
        today = [[first, unheard], *today_sales]
        return {
            "pace": {
                "today": total,
                "last_week_same_time": before,
                "last_week_day": sum(amount for _, amount in last_week),
                "ratio": total / before - 1 if before > 0 else None,
                "last_week_sales": last_week,  # for screens: the baseline moves with the clock
            },
            "hourly": [
                {
                    "hour": hour,
                    "today": cumulative(today, hour) if hour <= now.hour else None,
                    "last_week": cumulative(last_week, hour),
                }
                for hour in range(24)
            ],
        }


def seconds_to_midnight(now: datetime) -> int:
    """How long what is known of today stays true (a minute at least)."""
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), now.tzinfo)
    return max(60, int((midnight - now).total_seconds()))


def cumulative(sales: list, hour: int) -> float:
    """The sum of sales up to the end of `hour`."""
    return float(sum(amount for s, amount in sales if s < (hour + 1) * 3600))
