"""Quiet outlets: learned from the last four same weekdays of the demo Frappe's invoices, marked
by the bridge, shown and pushed only to those who may read the outlet, cleared by the next sale."""

import contextlib
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
import redis
import requests
from playwright.sync_api import expect

from dashboard.quiet import quiet_at, usual_gaps
from devtools.redis_server import free_port, start_redis

from .conftest import FrappeHTTP, Stack, start_frappe_sim, stop, web_login
from .test_browser import log_in
from .test_live import LiveClient, sale_of, submit_sale
from .test_screens import axe_problems

ZONE = ZoneInfo("Asia/Kolkata")  # the demo Frappe's
GAP = 2  # seconds between sales at the trading outlet on past weekdays: quiet after 3 × GAP
TRADING, ELSEWHERE = "BENCH-0000", "BENCH-0001"  # outlets without generated history


def at(hour, minute=0, second=0):
    return datetime(2026, 12, 2, hour, minute, second, tzinfo=ZONE)


# -- what is usual, and when an outlet is quiet --------------------------------------------------


def test_usual_hours_need_sales_on_two_of_the_days():
    nine = 9 * 3600
    days = [[nine + 60 * k for k in range(30)], [nine + 120 * k for k in range(15)], [], []]
    gaps = usual_gaps(days)
    assert gaps[9] == 60  # the median of 29 one-minute and 14 two-minute gaps
    assert [hour for hour, gap in enumerate(gaps) if gap is not None] == [9]
    # One day's trading at 18:00 is not a habit.
    assert usual_gaps([[18 * 3600, 18 * 3600 + 60], [], [], []])[18] is None


def test_a_closed_hour_is_not_usual_and_its_long_gap_does_not_count():
    # Open 12:00-14:00 and 16:00-18:00 on four days, a sale every 5 minutes.
    day = [s for start in (12, 16) for s in range(start * 3600, (start + 2) * 3600, 300)]
    gaps = usual_gaps([day] * 4)
    assert gaps[12] == gaps[13] == gaps[16] == gaps[17] == 300
    assert gaps[14] is None and gaps[15] is None and gaps[11] is None


def test_quiet_after_three_usual_gaps_and_at_least_the_minimum():
    gaps = [None] * 24
    gaps[14] = gaps[15] = 240.0  # a sale every 4 minutes
    last = at(15, 0)
    assert quiet_at(gaps, last, at(15, 12), 900) is None  # 12 min: under the 15-minute floor
    assert quiet_at(gaps, last, at(15, 16), 900) == {
        "since": "2026-12-02T15:00:00+05:30",
        "usual_gap_s": 240,
    }
    assert quiet_at(gaps, last, at(15, 11), 60) is None  # 11 min: under 3 × 4 min
    assert quiet_at(gaps, last, at(15, 13), 60)["since"] == "2026-12-02T15:00:00+05:30"
    # Outside usual hours nothing is flagged, however long the silence.
    assert quiet_at(gaps, last, at(16, 30), 60) is None
    assert quiet_at(gaps, None, at(3, 0), 60) is None


def test_no_sale_yet_counts_from_the_start_of_the_usual_hours():
    gaps = [None] * 24
    gaps[9] = gaps[10] = 120.0
    yesterday = at(21, 0) - timedelta(days=1)
    assert quiet_at(gaps, None, at(10, 20), 900)["since"] == "2026-12-02T09:00:00+05:30"
    assert quiet_at(gaps, yesterday, at(9, 10), 900) is None  # 10 min into the day
    assert quiet_at(gaps, yesterday, at(9, 20), 900)["since"] == "2026-12-02T09:00:00+05:30"


# -- end to end: demo Frappe -> bridge -> web -> sockets, pages and notifications ----------------


@pytest.fixture(scope="module")
def quiet_site(tmp_path_factory):
    """A demo Frappe of its own (its outlet history is the test's), with history at this hour
    of this weekday for TRADING and twelve hours away for ELSEWHERE, and a stack on it whose
    bridge marks outlets quiet after 1 s at least (3 × GAP here)."""
    tmp = tmp_path_factory.mktemp("quiet")
    with contextlib.ExitStack() as cleanup:  # a setup that fails leaves nothing running
        port = free_port()
        cleanup.callback(stop, start_redis(port, tmp / "frappe-redis"))
        frappe_redis = f"redis://127.0.0.1:{port}/0"
        frappe_url, frappe = start_frappe_sim(frappe_redis, "--extra-outlets", "2")
        cleanup.callback(stop, frappe)
        frappe_http = FrappeHTTP(frappe_url)
        now = datetime.now(ZONE).replace(tzinfo=None)
        away = clock((now.hour + 12) % 24, 30)
        for week in range(1, 5):
            day = now - timedelta(weeks=week)
            late = datetime.combine(day.date(), away)
            steps = [timedelta(seconds=s) for s in range(0, 1200, GAP)]
            add_history(
                frappe_http, TRADING, [day - timedelta(minutes=10) + step for step in steps]
            )
            add_history(frappe_http, ELSEWHERE, [late + step for step in steps])
        answer = frappe_http.as_service(
            "POST", "/api/method/frappe_sim.set_user_outlets",
            json={"user": "manager2@example.com", "outlets": [TRADING, ELSEWHERE, "OUTLET-002"]},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        stack = Stack(tmp / "stack", frappe_url, frappe_redis,
                      bridge_settings={"QUIET_MIN_SECONDS": "1"})  # fmt: skip
        cleanup.callback(stack.close)
        stack.start()
        stack.frappe_http = frappe_http
        yield stack


def add_history(frappe_http, outlet, moments):
    answer = frappe_http.as_service(
        "POST", "/api/method/frappe_sim.add_history",
        json={"outlet": outlet, "posted": [m.isoformat(sep=" ") for m in moments]},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text


def summary(http, web_url, outlet):
    return http.get(f"{web_url}/api/outlets/{outlet}/summary?period=daily", timeout=10)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.1)
    return value


def learned(stack, outlet) -> bool:
    today = datetime.now(ZONE).date().isoformat()
    return redis.Redis.from_url(stack.redis_url).exists(f"cache:usual:{outlet}:{today}")


def test_an_outlet_that_trades_now_goes_quiet_and_the_next_sale_clears_it(quiet_site):
    web = quiet_site.web_url
    manager2, manager1 = (web_login(web, "manager2@example.com", "manager2"),
                          web_login(web, "manager1@example.com", "manager1"))  # fmt: skip
    mark = wait_until(
        lambda: summary(manager2, web, TRADING).json()["quiet"], 30, f"{TRADING} going quiet"
    )
    assert mark["usual_gap_s"] == GAP
    since = datetime.fromisoformat(mark["since"])
    assert since.utcoffset() == timedelta(hours=5, minutes=30) and since <= datetime.now(ZONE)
    # Operators see it too: the bridge's count of quiet outlets, on every web process.
    metrics = requests.get(web + "/metrics", timeout=10).text
    quiet = re.search(r"^dashboard_quiet_outlets ([0-9.]+)$", metrics, re.M)
    assert quiet and float(quiet.group(1)) >= 1

    # One that never trades at this hour is never flagged, once the bridge knows its hours.
    wait_until(lambda: learned(quiet_site, ELSEWHERE), 30, f"learning {ELSEWHERE}'s hours")
    time.sleep(2.5)  # two of the bridge's checks: time for a wrong mark to show
    assert summary(manager2, web, ELSEWHERE).json()["quiet"] is None

    # Never across outlets: not in JSON, not on a socket.
    assert summary(manager1, web, TRADING).status_code == 403
    watcher = LiveClient(web, manager2)
    other = LiveClient(web, manager1)
    try:
        assert watcher.subscribe(TRADING)["snapshot"]["quiet"] == mark
        other.subscribe("OUTLET-001")
        assert other.subscribe(TRADING)["ok"] is False
        started = time.monotonic()
        submit_sale(quiet_site.frappe_http, TRADING)
        watcher.wait_for(lambda e, d: e == "quiet" and d["quiet"] is None, timeout=2.0)
        cleared_in = time.monotonic() - started
        assert summary(manager2, web, TRADING).json()["quiet"] is None, cleared_in
        # And it goes quiet again, pushed live, 3 × GAP after that sale.
        _, again = watcher.wait_for(lambda e, d: e == "quiet" and d["quiet"], timeout=15)
        assert again["outlet"] == TRADING and again["quiet"]["usual_gap_s"] == GAP
        assert {d["outlet"] for d in other.events_named("quiet")} <= {"OUTLET-001"}
    finally:
        watcher.close()
        other.close()


def test_a_rush_of_sales_clears_the_mark_and_none_comes_back_before_the_last(quiet_site):
    web = quiet_site.web_url
    manager2 = web_login(web, "manager2@example.com", "manager2")
    wait_until(lambda: summary(manager2, web, TRADING).json()["quiet"], 30, f"{TRADING} quiet")
    watcher = LiveClient(web, manager2)
    try:
        watcher.subscribe(TRADING)
        with ThreadPoolExecutor(20) as pool:  # 40 tills at once, each checked against the mark
            invoices = list(pool.map(lambda _: submit_sale(quiet_site.frappe_http, TRADING),
                                     range(40)))  # fmt: skip
        sales = [watcher.wait_for(sale_of(invoice), timeout=10)[1] for invoice in invoices]
        watcher.wait_for(lambda e, d: e == "quiet" and d["quiet"] is None, timeout=2.0)
        watcher.wait_for(lambda e, d: e == "quiet" and d["quiet"], timeout=20)  # quiet again
        last = max(datetime.fromisoformat(sale["timestamp"]) for sale in sales)
        marks = [d["quiet"] for d in watcher.events_named("quiet") if d["quiet"]]
        # No check that ran during the rush put a mark back: each counts from the last sale.
        assert all(
            datetime.fromisoformat(m["since"]).replace(tzinfo=None)
            >= last.replace(microsecond=0) - timedelta(seconds=1)
            for m in marks
        ), (marks, last)
    finally:
        watcher.close()


RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) {
    super(title, options);
    window.shownNotifications.push({ title, ...options });
  }
};
"""


def opted_in_page(browser, web_url, usr, pwd):
    context = browser.new_context(bypass_csp=True)  # axe-core goes in as a script of its own
    context.grant_permissions(["notifications"], origin=web_url)
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = log_in(context.new_page(), web_url, usr, pwd)
    alerts = page.get_by_role("button", name="Alert me when an outlet goes quiet")
    alerts.click()
    expect(page.get_by_role("button", name="Quiet alerts on")).to_have_attribute(
        "aria-pressed", "true"
    )
    return page


def test_the_overview_marks_quiet_outlets_and_notifies_their_manager_only(browser, quiet_site):
    web = quiet_site.web_url
    wait_until(lambda: learned(quiet_site, TRADING), 30, f"learning {TRADING}'s hours")
    page = opted_in_page(browser, web, "manager2@example.com", "manager2")
    bystander = opted_in_page(browser, web, "manager1@example.com", "manager1")
    row = page.locator(f'tr[data-outlet="{TRADING}"]')
    mark = row.locator('[data-field="quiet"]')
    expect(mark).to_have_text(
        f"Quiet since {mark_of(page, web, TRADING)} — usually a sale every {GAP} s", timeout=30_000
    )
    expect(row).to_have_class("quiet")
    expect(page.locator(f'tr[data-outlet="{ELSEWHERE}"] [data-field="quiet"]')).to_be_hidden()
    assert axe_problems(page) == []

    submit_sale(quiet_site.frappe_http, TRADING)
    expect(mark).to_be_hidden(timeout=2_000)
    # Quiet again 3 × GAP after that sale, live: one notification, for this manager's outlet.
    expect(mark).to_be_visible(timeout=15_000)
    page.wait_for_function("window.shownNotifications.length > 0")
    shown = page.evaluate("window.shownNotifications")
    assert [n["tag"] for n in shown] == [f"quiet:{TRADING}"]
    assert shown[0]["title"] == f"{TRADING} has gone quiet"
    assert shown[0]["body"].startswith("Quiet since ") and shown[0]["body"].endswith(f"{GAP} s")
    tags = {n["tag"] for n in bystander.evaluate("window.shownNotifications")}
    assert tags <= {"quiet:OUTLET-001"}

    # The outlet page says it too.
    page.goto(f"{web}/outlets/{TRADING}")
    expect(page.get_by_test_id("quiet-notice")).to_contain_text("usually a sale every 2 s")
    page.context.close()
    bystander.context.close()


def mark_of(page, web_url, outlet) -> str:
    """The mark's time as the page should show it: HH:MM of its `since`, on the site's clock."""
    url = f"{web_url}/api/outlets/{outlet}/summary?period=daily"
    mark = wait_until(lambda: page.request.get(url).json()["quiet"], 30, f"{outlet} going quiet")
    return mark["since"][11:16]
