"""Who may read which outlet, and its figures: asked of Frappe, cached and shared safely.

Figures are shared between users, but a user gets them only after Frappe has said, within the
permission time, that this very user may read that outlet. Permission answers are kept per user,
so one user's grant never serves another.
"""

import json
import math
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from . import network
from .cache import UNREAD, SharedCache
from .channel import quiet_key
from .frappe import FrappeError, NotFound, NotPermitted
from .pace import HIDDEN as PACE_HIDDEN
from .pace import Pace, access_key
from .tills import pos_figures

# The seed's periods as it computes them (frappe-contract.md): `monthly` is the first of the
# month to today. Its `weekly` is today again, so it is not offered.
PERIODS = ("daily", "monthly")
PERIOD_LABELS = {"daily": "Today", "monthly": "This month"}
MAX_NAME_LENGTH = 140  # Frappe's limit for document names
DASHBOARD_METHOD = "franchise_management.api.get_outlet_dashboard_data"
ALLOW, DENY, MISSING = "allow", "deny", "missing"
MISSING_FOR = 600  # seconds a name Frappe does not know is remembered as missing


def valid_outlet_name(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME_LENGTH and name.isprintable() and name.strip() == name


class Outlets:
    def __init__(self, frappe, cache: SharedCache, settings, feed):
        self.frappe = frappe
        self.cache = cache
        self.settings = settings
        self.feed = feed
        self._zone = ("UTC", 0.0)  # (zone, until when it is trusted)
        self.pace = Pace(frappe, cache, feed, settings)

    # -- permissions --------------------------------------------------------------------------

    def check_access(self, user: str, sid: str, outlet: str, entry=UNREAD) -> str:
        """The outlet's label when Frappe lets `user` read it; raises NotPermitted or NotFound."""
        return self.access(user, sid, outlet, entry)["label"]

    def access(self, user: str, sid: str, outlet: str, entry=UNREAD) -> dict:
        """Frappe's answer when it lets `user` read the outlet: its label and status."""
        seconds = self.settings.permission_cache_seconds
        answer = self.cache.get(
            permission_key(user, outlet),
            lambda: self.ask_permission(sid, outlet),
            fresh_for=seconds,
            # A refusal is not kept for a day as a fallback: junk names must not pile up.
            keep_for=lambda answer: None if answer["access"] == ALLOW else seconds,
            entry=entry,
        ).value
        if answer["access"] == DENY:
            raise NotPermitted(f"You don't have access to {outlet}.")
        if answer["access"] == MISSING:
            raise NotFound(f"There is no outlet called {outlet}.")
        return answer

    def ask_permission(self, sid: str, outlet: str) -> dict:
        try:
            doc = self.frappe.get_doc("Franchise Outlet", outlet, sid=sid)
        except NotPermitted:
            return {"access": DENY}
        except NotFound:
            return {"access": MISSING}
        return grant(outlet_row({**doc, "name": outlet}))

    def exists(self, outlet: str) -> bool | None:
        """Whether the site has `outlet`, as the service account sees it; None when Frappe
        cannot say just now. Asked once a day per name, a missing name once per MISSING_FOR."""
        try:
            return self.cache.get(
                f"exists:{outlet}",
                lambda: self.ask_exists(outlet),
                fresh_for=86400,
                keep_for=lambda found: None if found else MISSING_FOR,
            ).value
        except FrappeError:
            return None

    def ask_exists(self, outlet: str) -> bool:
        try:
            self.frappe.get_doc("Franchise Outlet", outlet, as_service=True)
        except NotFound:
            return False
        except NotPermitted:  # the service account reads every outlet, so it is there
            return True
        return True

    def list_for(self, user: str, sid: str) -> list[dict]:
        """The outlets Frappe lets `user` read; reading the list also proves access to each.

        Kept per user as long as a permission answer, so the overview costs Frappe one call a
        minute per manager, not one per page view.
        """

        def fetch():
            rows = self.frappe.get_list(
                "Franchise Outlet",
                fields=["name", "outlet_name", "city", "status", *network.FIELDS],
                order_by="outlet_name asc",
                sid=sid,
            )
            outlets = [outlet_row(row) for row in rows if isinstance(row.get("name"), str)]
            self.cache.write_many(
                {permission_key(user, outlet["name"]): grant(outlet) for outlet in outlets}
            )
            return outlets

        return self.cache.get(
            f"outlets:{user}", fetch, fresh_for=self.settings.permission_cache_seconds
        ).value

    # -- figures ------------------------------------------------------------------------------

    def summary(self, user: str, sid: str, outlet: str, period: str) -> dict:
        """Figures for a manager: only after Frappe said this user may read the outlet.

        The busiest answer we give (pages, sockets, polling scripts): what it needs of our
        Redis (the grant, the figures, the quiet mark, a pace refusal) is read in one trip.
        """
        grant, held, pace_access, quiet = self.cache.read_many(
            [permission_key(user, outlet), figures_key(period, outlet), access_key(user, outlet)],
            [quiet_key(outlet)],
        )
        answer = self.access(user, sid, outlet, grant)
        fetch = self.fetcher(outlet, period, sid)
        figures = {**self.figures(outlet, period, answer["label"], fetch, held),
                   "status": answer.get("status", "Unknown")}  # fmt: skip
        if "royalty_rate" in answer:  # this person may read it (network.py)
            rate = answer["royalty_rate"]
            figures.update(royalty_rate=rate, royalty=network.royalty(figures["total_sales"], rate))
        if period != "daily":
            return figures
        return self.today(figures, user, sid, quiet, pace_access)

    def service_summary(self, outlet: str, label: str, period: str = "daily") -> dict:
        """Figures for a paired display, read with the service account."""
        figures = self.figures(outlet, period, label, self.fetcher(outlet, period))
        if period != "daily":
            return figures
        return self.today(figures, None, None, self.cache.redis.get(quiet_key(outlet)))

    def today(self, figures: dict, user, sid, quiet: bytes | None, pace_access=UNREAD) -> dict:
        """Today's figures with their pace, and the bridge's quiet mark (quiet.py) as read."""
        mark = json.loads(quiet) if quiet else None
        paced = self.with_pace(figures, user, sid, pace_access)
        return {**paced, "quiet": mark if isinstance(mark, dict) else None}

    def with_pace(self, figures: dict, user: str | None, sid: str | None, access=UNREAD) -> dict:
        """Today's figures with their pace against last week; `pace` None and `pace_hidden`
        saying why when it cannot be had (never an error: the figures stand without it)."""
        now = datetime.now(ZoneInfo(self.time_zone()))
        try:
            last_week = self.pace.last_week(user, sid, figures["outlet"], now, access)
        except NotPermitted:
            hidden = PACE_HIDDEN.format(doctype=self.settings.till_doctype)
            return {**figures, "pace": None, "hourly": None, "pace_hidden": hidden}
        except FrappeError:
            hidden = "Frappe is not answering: pace against last week shows when it does."
            return {**figures, "pace": None, "hourly": None, "pace_hidden": hidden}
        today = self.pace.heard_today(figures["outlet"], figures.get("feed_id"), now)
        return {**figures, **self.pace.of(figures, last_week, today, now)}

    def figures(self, outlet: str, period: str, label: str, fetch, entry=UNREAD) -> dict:
        cached = self.cache.get(
            figures_key(period, outlet),
            lambda: self.read_figures(outlet, fetch),
            fresh_for=self.settings.figures_cache_seconds,
            entry=entry,
        )
        return {
            "outlet": outlet,
            "label": label,
            "period": period,
            **cached.value,
            "covers": covers(period, cached.value.get("day") or self.site_date().isoformat()),
            "as_of": datetime.fromtimestamp(cached.fetched_at, UTC).isoformat(),
            "stale": cached.stale,
        }

    def read_figures(self, outlet: str, fetch) -> dict:
        """Frappe's figures with the site's date (a screen past midnight ignores yesterday's)
        and the live feed's last id: screens add the sales after it themselves.

        The id is read after Frappe answered. A sale committed while Frappe was reading is
        then, at worst, missing until the bridge's reconcile (the total rises), never counted
        twice (the total would fall when mended).
        """
        figures = clean_figures(fetch())
        day = self.site_date().isoformat()
        return {**figures, "day": day, "feed_id": self.feed.last_id(outlet)}

    def fetcher(self, outlet: str, period: str = "daily", sid: str | None = None):
        """How the figures are read, with the person's sid, else the service account: the
        seed's RPC, or on a site that consolidates at the POS closing the tills' POS Invoices
        (tills.py), which the RPC does not count until the closing."""
        auth = {"sid": sid} if sid else {"as_service": True}
        if self.settings.frappe_pos_mode != "consolidated":
            return lambda: self.frappe.call(DASHBOARD_METHOD, outlet=outlet, period=period, **auth)
        start, end = period_dates(period, self.site_date())
        return lambda: pos_figures(self.frappe, outlet, start, end, **auth)

    def site_date(self) -> date:
        return datetime.now(ZoneInfo(self.time_zone())).date()

    def time_zone(self) -> str:
        """The site's time zone: the setting, else what Frappe says (asked daily), else UTC.

        Kept in this process for a minute too: every page shows clock times.
        """
        if self.settings.time_zone:
            return self.settings.time_zone
        zone, until = self._zone
        if time.monotonic() < until:
            return zone
        try:
            zone = self.cache.get("site:time_zone", self.frappe.time_zone, fresh_for=86400).value
        except FrappeError:
            return "UTC"
        self._zone = (zone, time.monotonic() + 60)
        return zone


def period_dates(period: str, today: date) -> tuple[date, date]:
    return (today.replace(day=1) if period == "monthly" else today), today


def covers(period: str, day: str) -> dict:
    """What a period's figures cover, as Frappe computes them, for labels and the JSON."""
    start, end = period_dates(period, date.fromisoformat(day))
    return {"label": PERIOD_LABELS[period], "from": start.isoformat(), "to": end.isoformat()}


def figures_key(period: str, outlet: str) -> str:
    return f"figures:{period}:{outlet}"


def permission_key(user: str, outlet: str) -> str:
    return f"permission:{user}:{outlet}"


def outlet_row(row: dict) -> dict:
    """Only what we show, whatever else Frappe sent: the royalty rate only if it sent one."""
    name = row["name"]
    return {
        "name": name,
        "label": text_or(row.get("outlet_name"), name),
        "city": text_or(row.get("city"), ""),
        "status": text_or(row.get("status"), "Unknown"),
        **network.terms(row),
    }


def grant(outlet: dict) -> dict:
    """A person's permission answer for an outlet: with what they may see of it."""
    kept = ("label", "status", "royalty_rate")
    return {"access": ALLOW, **{key: outlet[key] for key in kept if key in outlet}}


def text_or(value, default: str) -> str:
    return value if isinstance(value, str) and value else default


def clean_figures(raw) -> dict:
    """Frappe's figures, checked: numbers are finite numbers, items a short list of rows."""
    if not isinstance(raw, dict):
        raise FrappeError("Frappe sent figures we cannot read.")
    items = raw.get("top_items") or []
    if not isinstance(items, list):
        raise FrappeError("Frappe sent top items we cannot read.")
    return {
        "total_sales": amount(raw.get("total_sales")),
        "invoice_count": int(amount(raw.get("invoice_count"))),
        "avg_order_value": amount(raw.get("avg_order_value")),
        "top_items": [clean_item(item) for item in items[:10] if isinstance(item, dict)],
    }


def clean_item(item: dict) -> dict:
    code = text_or(item.get("item_code"), "")
    return {
        "item_code": code[:140],
        "item_name": text_or(item.get("item_name"), code or "Unnamed item")[:140],
        "total_qty": amount(item.get("total_qty")),
        "total_amount": amount(item.get("total_amount")),
    }


def amount(value) -> float:
    # SQL sums over no rows come back as None: that is zero, not an error.
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FrappeError("Frappe sent a figure that is not a number.")
    return float(value)
