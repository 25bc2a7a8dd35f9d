"""Pace: today's sales against the same weekday last week up to the same time of day, from the
demo Frappe's own history, asked once per outlet per day and never across outlets."""

import json
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard.pace import seconds_of

from .conftest import login

ZONE = ZoneInfo("Asia/Kolkata")  # the demo Frappe's site time zone
INVOICES = "GET /api/resource/Sales Invoice"


def invoices(frappe_http, outlet, day, **params):
    filters = [["custom_franchise_outlet", "=", outlet], ["posting_date", "=", str(day)],
               ["docstatus", "=", 1]]  # fmt: skip
    answer = frappe_http.as_service(
        "GET", "/api/resource/Sales Invoice",
        params={"fields": json.dumps(["posting_time", "grand_total"]),
                "filters": json.dumps(filters), **params},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def last_week_by(frappe_http, outlet, moment):
    """What the test itself sums from Frappe's invoices: by `moment`'s time of day, and all day."""
    rows = invoices(frappe_http, outlet, (moment - timedelta(days=7)).date(), limit_page_length=0)
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    by_now = sum(r["grand_total"] for r in rows if seconds_of(r["posting_time"]) <= seconds)
    return by_now, sum(r["grand_total"] for r in rows)


def test_the_demo_frappe_lists_sales_invoices_as_frappe_does(frappe_http):
    day = (datetime.now(ZONE) - timedelta(days=7)).date()
    everything = invoices(frappe_http, "OUTLET-001", day, limit_page_length=0)
    assert len(everything) > 3
    assert len(invoices(frappe_http, "OUTLET-001", day)) == min(20, len(everything))  # default
    pages = invoices(frappe_http, "OUTLET-001", day, limit_page_length=2, limit_start=2)
    assert pages == everything[2:4]
    assert set(everything[0]) == {"posting_time", "grand_total"}
    # Hours as Frappe writes a timedelta: not padded.
    assert all(seconds_of(r["posting_time"]) is not None for r in everything)
    # A manager reads only their outlets' invoices (User Permissions through the link field).
    sid = frappe_http.sid("manager1@example.com", "manager1")
    mine = frappe_http.request(
        "GET", "/api/resource/Sales Invoice", cookies={"sid": sid},
        params={"fields": json.dumps(["custom_franchise_outlet"]), "limit_page_length": 0},
    ).json()["data"]  # fmt: skip
    assert mine and {row["custom_franchise_outlet"] for row in mine} == {"OUTLET-001"}


def test_pace_equals_the_sum_of_last_weeks_invoices(client, frappe_http):
    login(client, "manager2@example.com", "manager2")
    before = datetime.now(ZONE)
    summary = client.get("/api/outlets/OUTLET-002/summary?period=daily").get_json()
    after = datetime.now(ZONE)
    pace = summary["pace"]
    low, day = last_week_by(frappe_http, "OUTLET-002", before)
    high, _ = last_week_by(frappe_http, "OUTLET-002", after)
    assert low <= pace["last_week_same_time"] <= high
    assert pace["last_week_day"] == pytest.approx(day)
    assert pace["today"] == summary["total_sales"]
    if pace["last_week_same_time"]:
        expected = summary["total_sales"] / pace["last_week_same_time"] - 1
        assert pace["ratio"] == pytest.approx(expected)
    hourly = summary["hourly"]
    assert [point["hour"] for point in hourly] == list(range(24))
    assert hourly[23]["last_week"] == pytest.approx(day)
    assert hourly[after.hour]["today"] == pytest.approx(summary["total_sales"])
    assert all(point["today"] is None for point in hourly[after.hour + 1 :])


def test_last_weeks_day_is_asked_once_for_everyone(make_app, frappe_http):
    counts = lambda: frappe_http.as_service(  # noqa: E731
        "GET", "/api/method/frappe_sim.call_counts").json()["message"]  # fmt: skip
    asked = f"{INVOICES}"
    apps = make_app(), make_app()  # two web processes on one Redis
    week_ago = (datetime.now(ZONE) - timedelta(days=7)).date()
    apps[0].config["SESSION_REDIS"].delete(f"cache:history:OUTLET-003:{week_ago}")
    before = counts().get(asked, 0)
    for app in apps:
        for usr, pwd in [("manager2@example.com", "manager2"), ("Administrator", "admin")]:
            client = app.test_client()
            login(client, usr, pwd)
            for _ in range(3):
                answer = client.get("/api/outlets/OUTLET-003/summary?period=daily").get_json()
                assert answer["pace"] is not None
    # The day once; each person's own right to read the outlet's Sales Invoices once (a one-row
    # list), shared by both processes for the permission time.
    assert counts().get(asked, 0) - before == 1 + 2


def invoices_readable(frappe_http, value: bool) -> None:
    frappe_http.as_service("POST", "/api/method/frappe_sim.set_invoices_readable",
                           json={"readable": value})  # fmt: skip


def test_a_refused_invoice_list_hides_pace_with_a_reason(client, frappe_http):
    def readable(value):
        invoices_readable(frappe_http, value)

    readable(False)
    try:
        login(client, "manager1@example.com", "manager1")
        week_ago = (datetime.now(ZONE) - timedelta(days=7)).date()
        client.application.config["SESSION_REDIS"].delete(f"cache:history:OUTLET-001:{week_ago}")
        answer = client.get("/api/outlets/OUTLET-001/summary?period=daily")
        assert answer.status_code == 200
        summary = answer.get_json()
        assert summary["pace"] is None and "Sales Invoices" in summary["pace_hidden"]
        assert summary["total_sales"] >= 0  # the figures stand
        page = client.get("/outlets/OUTLET-001")
        assert page.status_code == 200 and "Sales Invoices" in page.get_data(as_text=True)
    finally:
        readable(True)


def test_history_cached_by_others_is_not_shown_to_a_person_frappe_refuses(make_app, frappe_http):
    app = make_app(PERMISSION_CACHE_SECONDS="1")
    client = app.test_client()
    pace = app.extensions["outlets"].pace
    with app.app_context():  # the bridge's service account reads last week first, as it does
        assert pace.last_week(None, None, "OUTLET-003", datetime.now(ZONE))
    invoices_readable(frappe_http, False)
    try:
        login(client, "manager2@example.com", "manager2")
        for _ in range(2):  # asked of Frappe, then as remembered
            summary = client.get("/api/outlets/OUTLET-003/summary?period=daily").get_json()
            assert summary["pace"] is None and summary["hourly"] is None
            assert "Sales Invoices" in summary["pace_hidden"]
    finally:
        invoices_readable(frappe_http, True)
    time.sleep(1.1)  # the refusal is kept for the permission time only
    summary = client.get("/api/outlets/OUTLET-003/summary?period=daily").get_json()
    assert summary["pace"]["last_week_sales"] and summary.get("pace_hidden") is None


def test_pace_never_crosses_outlets(client):
    login(client, "manager1@example.com", "manager1")
    answer = client.get("/api/outlets/OUTLET-002/summary?period=daily")
    assert answer.status_code == 403
    assert "pace" not in answer.get_json()


def test_pace_and_its_curve_follow_a_live_sale(browser, web_server, bridge, frappe_http):
    from playwright.sync_api import expect

    from .test_browser import logged_in_page, submit

    page = logged_in_page(browser, web_server, "manager2@example.com", "manager2")
    page.goto(web_server + "/outlets/OUTLET-002")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    chart = page.locator("#pace-chart")
    expect(chart).to_have_attribute("data-hours", "24")
    total = page.locator('[data-figure="total_sales"]')
    assert float(chart.get_attribute("data-today-now")) == pytest.approx(
        float(total.get_attribute("data-value"))
    )
    before = float(total.get_attribute("data-value"))
    submit(frappe_http, "OUTLET-002", [{"item_code": "COFFEE-02", "qty": 2}])  # 2 × 120
    # As numbers: "1745" is the same as 1745.0, and the wait must not end on it.
    page.wait_for_function(
        f"Number(document.querySelector('[data-figure=total_sales]').dataset.value) !== {before}",
        timeout=5000,
    )
    after = float(total.get_attribute("data-value"))
    assert float(chart.get_attribute("data-today-now")) == pytest.approx(after)
    # The percentage is today's total against last week's by now, as the page says it.
    detail = page.locator("#pace-detail").inner_text()
    assert "by now" in detail and "all day" in detail
    expect(page.get_by_test_id("pace")).to_have_text(re.compile(r"^([+−±]\d+ %|—|too early)$"))
    page.goto(web_server + "/")
    pace_sort = page.get_by_role("button", name="Pace")
    pace_sort.click()  # best against its own last week first
    expect(page.locator("tr[aria-busy]")).to_have_count(0)
    ratios = [float(r) for r in page.locator("tbody tr[data-pace]").evaluate_all(
        "(rows) => rows.map((row) => row.dataset.pace)")]  # fmt: skip
    assert ratios == sorted(ratios, reverse=True)
    page.context.close()


def test_a_customer_facing_tv_gets_the_percentage_and_never_money(web_server):
    from .conftest import web_login
    from .test_tv import pair_over_http

    manager = web_login(web_server, "manager1@example.com", "manager1")
    tv = pair_over_http(web_server, manager, label="Pace window", public=True)
    figures = tv.get(web_server + "/tv/data", timeout=10).json()
    assert set(figures["pace"]) == {"ratio", "early"}  # a percentage, or none yet: no money
    assert "hourly" not in figures and "total_sales" not in figures
    staff_tv = pair_over_http(web_server, manager, label="Pace staff")
    assert "last_week_day" in staff_tv.get(web_server + "/tv/data", timeout=10).json()["pace"]
