"""The franchisor's network view: royalty accrued live for those Frappe lets read it (and for
no one else, anywhere), territories with subtotals and filters, and what needs attention."""

import json
import re
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from .conftest import web_login
from .test_browser import log_in, submit
from .test_screens import DESKTOP, PHONE, axe_problems
from .test_tv import csrf_of, pair_head_office_tv

OUTLETS = "/api/resource/Franchise Outlet"
POS_INVOICE = "/api/resource/POS Invoice"


def site_today(frappe_http) -> date:
    zone = frappe_http.request("GET", "/api/method/frappe.client.get_time_zone").json()
    return datetime.now(ZoneInfo(zone["message"]["time_zone"])).date()


def rates(frappe_http) -> dict:
    """Each outlet's royalty percentage, as Frappe holds it."""
    fields = json.dumps(["name", "custom_royalty_percentage"])
    rows = frappe_http.as_service("GET", OUTLETS, params={"fields": fields, "limit": 0})
    return {row["name"]: row["custom_royalty_percentage"] for row in rows.json()["data"]}


def sales(frappe_http, outlet: str, start: date, end: date) -> float:
    """What the outlet's tills sold between two days, from Frappe's submitted POS Invoices."""
    filters = [["custom_franchise_outlet", "=", outlet], ["docstatus", "=", 1],
               ["posting_date", "between", [start.isoformat(), end.isoformat()]]]  # fmt: skip
    params = {"fields": '["sum(grand_total) as total"]', "filters": json.dumps(filters)}
    rows = frappe_http.as_service("GET", POS_INVOICE, params=params).json()["data"]
    return rows[0]["total"] or 0.0


def royalty(sales: float, rate: float) -> float:
    """To the paisa, halves up."""
    return float(Decimal(repr(sales * rate)).quantize(Decimal(1), ROUND_HALF_UP)) / 100


def money(value: float) -> str:
    return f"₹{value:,.2f}"


def sell_on(frappe_http, outlet: str, day: date, time: str, item: str, qty: int) -> None:
    """A till's sale posted on another day (set_posting_time), through Frappe's REST."""
    doc = {"custom_franchise_outlet": outlet, "docstatus": 1, "set_posting_time": 1,
           "posting_date": day.isoformat(), "posting_time": time,
           "items": [{"item_code": item, "qty": qty}]}  # fmt: skip
    assert frappe_http.as_service("POST", POS_INVOICE, json=doc).status_code == 200


def frames_of(page) -> list:
    """Every Socket.IO frame the page's sockets receive, as text."""
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(str(frame))))
    return frames


def test_royalty_accrues_live_and_equals_sales_times_the_percentage(
    browser, web_server, bridge, frappe_http
):
    """Head office's overview: each row's royalty is its sales today times its percentage in
    Frappe; the total is their sum; a live sale moves both."""
    percent = rates(frappe_http)
    page = log_in(browser.new_context().new_page(), web_server, "Administrator", "admin")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    expect(page.locator("tfoot [data-total=royalty]")).not_to_contain_text("…", timeout=20_000)
    # Outlets whose sales no other test fakes on Frappe's realtime channel.
    row = page.locator('tr[data-outlet="Koregaon Park"]')
    before = float(row.get_attribute("data-total_sales"))
    submit(frappe_http, "Koregaon Park", [{"item_code": "CAKE-01", "qty": 2}])
    expect(row.locator("[data-field=total_sales]")).not_to_have_text(money(before), timeout=5000)
    today = site_today(frappe_http)
    for name in ("Koregaon Park", "Jubilee Hills", "Connaught Place"):
        sold = sales(frappe_http, name, today, today)
        cell = page.locator(f'tr[data-outlet="{name}"] [data-field=royalty]')
        expect(cell).to_have_text(money(royalty(sold, percent[name])))
    shown = page.evaluate("""() => Array.from(document.querySelectorAll("tbody tr[data-outlet]"))
        .map((row) => Number(row.dataset.royalty))""")
    total = page.locator("tfoot [data-total=royalty]")
    expect(total).to_have_text(money(sum(shown)))
    page.context.close()


def test_territory_subtotals_add_up_and_filters_narrow(browser, web_server, bridge, frappe_http):
    submit(frappe_http, "T. Nagar", [{"item_code": "TEA-01", "qty": 1}])  # its agreement ended
    page = log_in(browser.new_context().new_page(), web_server, "Administrator", "admin")
    expect(page.locator("tfoot [data-total=total_sales]")).not_to_contain_text("…", timeout=20_000)
    selling = page.locator('.attention li[data-outlet="T. Nagar"] [data-field=selling]')
    expect(selling).to_contain_text("still selling")
    expect(page.locator('.attention li[data-why="ending"] [data-field=selling]')).to_have_count(0)
    groups = page.evaluate("""() => Array.from(document.querySelectorAll("tbody[data-territory]"))
      .map((body) => {
        const rows = Array.from(body.querySelectorAll("tr[data-outlet]"));
        const sum = (key) => rows.reduce((t, row) => t + Number(row.dataset[key]), 0);
        const cell = (key) =>
          Number(body.querySelector(`tr.subtotal [data-total=${key}]`).dataset.value);
        return {territory: body.dataset.territory, rows: rows.length,
                sales: [sum("total_sales"), cell("total_sales")],
                invoices: [sum("invoice_count"), cell("invoice_count")],
                royalty: [sum("royalty"), cell("royalty")]};
      })""")
    assert [g["territory"] for g in groups] == [
        "East India", "North India", "South India", "West India"
    ]  # fmt: skip
    for group in groups:
        for key in ("sales", "invoices", "royalty"):
            assert group[key][0] == pytest.approx(group[key][1]), (group["territory"], key)
    # Sorting keeps each row in its territory.
    page.get_by_role("button", name="Sales today").click()
    territories = page.evaluate("""() => Array.from(document.querySelectorAll("tr[data-outlet]"))
      .map((row) => row.closest("tbody").dataset.territory)""")
    assert territories == sorted(territories)
    page.select_option("select[name=territory]", "South India")
    page.select_option("select[name=type]", "Express")
    page.get_by_role("button", name="Show").click()
    names = page.locator("tbody tr[data-outlet]").evaluate_all(
        "(rows) => rows.map((row) => row.dataset.outlet)"
    )
    assert sorted(names) == ["OUTLET-002", "T. Nagar"]
    expect(page.locator("tfoot th")).to_have_text("These 2 outlets")
    page.context.close()


def test_a_manager_never_receives_a_royalty_percentage(browser, web_server, bridge, frappe_http):
    """Frappe keeps the percentage from managers: no page, JSON or socket frame of theirs
    carries it, while head office's do (which shows the capture would see it)."""
    seen = {}
    for user, password in (("manager1@example.com", "manager1"), ("Administrator", "admin")):
        page = browser.new_context().new_page()
        frames = frames_of(page)
        log_in(page, web_server, user, password)
        expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
        page.goto(web_server + "/outlets/OUTLET-001")
        expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
        submit(frappe_http, "OUTLET-001", [{"item_code": "TEA-01", "qty": 1}])
        expect(page.locator("li.sale").first).to_be_visible(timeout=5000)
        http = web_login(web_server, user, password)
        texts = [page.content(), *frames]
        summary = "/api/outlets/OUTLET-001/summary"
        for path in ("/", "/?period=monthly", "/outlets/OUTLET-001?period=monthly", summary,
                     f"{summary}?period=monthly"):  # fmt: skip
            texts.append(http.get(web_server + path, timeout=10).text)
        seen[user] = [t for t in texts if "royalty" in t.lower() or "data-rate" in t]
        page.context.close()
    assert seen["manager1@example.com"] == []
    assert len(seen["Administrator"]) >= 6  # pages, JSON and the socket's snapshot


def test_month_to_date_royalty_starts_on_the_first_in_the_sites_time_zone(
    browser, web_server, bridge, frappe_http
):
    """Sales dated the last minute of last month stay out of this month's royalty, those of
    the first minute of the 1st are in; live and after a reload, on the outlet page and the
    overview."""
    outlet = "Park Street"
    today = site_today(frappe_http)
    first = today.replace(day=1)
    sell_on(frappe_http, outlet, first - timedelta(days=1), "23:59:30", "COFFEE-04", 7)
    sell_on(frappe_http, outlet, first, "00:00:30", "COFFEE-03", 3)
    rate = rates(frappe_http)[outlet]
    page = log_in(browser.new_context().new_page(), web_server, "Administrator", "admin")
    page.goto(f"{web_server}/outlets/{quote(outlet)}?period=monthly")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    accrued = page.get_by_test_id("royalty")
    expect(accrued).to_have_text(money(royalty(sales(frappe_http, outlet, first, today), rate)))
    submit(frappe_http, outlet, [{"item_code": "CAKE-01", "qty": 5}])  # today: live
    expected = money(royalty(sales(frappe_http, outlet, first, today), rate))
    expect(accrued).to_have_text(expected, timeout=5000)
    expect(page.get_by_test_id("total-sales")).to_have_text(
        money(sales(frappe_http, outlet, first, today))
    )
    page.reload()
    expect(accrued).to_have_text(expected)
    page.goto(f"{web_server}/?period=monthly")
    cell = page.locator(f'tr[data-outlet="{outlet}"] [data-field=royalty]')
    expect(cell).to_have_text(expected, timeout=4000)  # the month's figures are asked at once
    page.context.close()


def test_head_office_sees_what_needs_attention(web_server):
    """Agreements ending within 90 days or ended, and suspensions with their reason, each a
    link to the outlet; a manager sees only their own outlets there."""
    admin = web_login(web_server, "Administrator", "admin").get(web_server + "/", timeout=10).text
    section = admin[admin.index('data-testid="attention"') :].split("</section>")[0]
    whys = dict(re.findall(r'data-outlet="([^"]+)" data-why="(\w+)"', section))
    assert whys == {"T. Nagar": "ended", "Lake View": "suspended", "OUTLET-001": "ending",
                    "Marine Drive Kiosk": "ending"}  # fmt: skip
    assert "Non-payment of royalties" in section and 'href="/outlets/T.%20Nagar"' in section
    manager = web_login(web_server, "manager2@example.com", "manager2")
    assert 'data-testid="attention"' not in manager.get(web_server + "/", timeout=10).text


def test_the_network_view_passes_axe(browser, web_server, bridge):
    """Territories, subtotals, royalty, filters and the attention list at a desktop's width and a
    phone's, the month too, and the head-office TV."""
    page = browser.new_context(viewport=DESKTOP, bypass_csp=True).new_page()
    log_in(page, web_server, "Administrator", "admin")
    problems = []
    for size, path in ((DESKTOP, "/"), (DESKTOP, "/?period=monthly"), (PHONE, "/?period=monthly"),
                       (PHONE, "/outlets/OUTLET-001?period=monthly")):  # fmt: skip
        page.set_viewport_size(size)
        page.goto(web_server + path)
        # Subscribed, the missed sales replayed and slid in: axe measures what stays on screen.
        expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator("[aria-busy], .loading")).to_have_count(0, timeout=20_000)
        page.wait_for_function("() => document.getAnimations().length === 0")
        problems += axe_problems(page)
    tv_http = pair_head_office_tv(web_server, web_login(web_server, "Administrator", "admin"))
    tv = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
    tv.add_cookies([{"name": c.name, "value": c.value, "url": web_server, "httpOnly": True}
                    for c in tv_http.cookies])  # fmt: skip
    screen = tv.new_page()
    screen.goto(web_server + "/tv")
    expect(screen.locator("#tv-total")).not_to_have_text("…", timeout=20_000)
    problems += axe_problems(screen)
    assert problems == [], "\n".join(problems)
    tv.close()
    page.context.close()


def test_a_head_office_tv_follows_every_outlet_it_may_read_and_nothing_else(
    browser, web_server, bridge, frappe_http
):
    """Paired by manager2 (OUTLET-002 in South India, OUTLET-003 in West India): the TV shows
    each territory's day and the total, moves with their sales live, and never hears another
    outlet's (no frame, no figures)."""
    manager = web_login(web_server, "manager2@example.com", "manager2")
    tv_http = pair_head_office_tv(web_server, manager)
    assert tv_http.get(web_server + "/tv/data?outlet=OUTLET-001", timeout=10).status_code == 403
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_cookies([{"name": c.name, "value": c.value, "url": web_server, "httpOnly": True}
                         for c in tv_http.cookies])  # fmt: skip
    # Missed sales to replay, the newer at the outlet it subscribes to first.
    submit(frappe_http, "OUTLET-003", [{"item_code": "TEA-01", "qty": 1}])
    submit(frappe_http, "OUTLET-002", [{"item_code": "TEA-01", "qty": 1}])
    page = context.new_page()
    frames = frames_of(page)
    page.goto(web_server + "/tv")
    expect(page.locator("#tv-outlet")).to_have_text("All 2 outlets")
    expect(page.locator("#tv-state")).to_have_attribute("data-state", "live", timeout=10_000)
    west = page.locator('#tv-territories tr[data-territory="West India"] td').first
    expect(west).not_to_have_text("…", timeout=10_000)
    before = float(west.get_attribute("data-value"))
    submit(frappe_http, "OUTLET-001", [{"item_code": "CAKE-01", "qty": 1}])  # not its outlet
    invoice = submit(frappe_http, "OUTLET-003", [{"item_code": "COFFEE-03", "qty": 2}])  # ₹400
    expect(page.locator(f'#tv-ticker li[data-invoice="{invoice}"]')).to_contain_text("Mall Outlet")
    expect(west).to_have_attribute("data-value", str(int(before + 400)), timeout=5000)
    # Newest first across outlets (each outlet's missed sales were replayed one after another).
    times = page.locator("#tv-ticker li").evaluate_all("(l) => l.map((li) => li.dataset.timestamp)")
    assert times == sorted(times, reverse=True) and len(times) > 1
    rows = page.locator("#tv-territories tr td:nth-of-type(1)").evaluate_all(
        "(cells) => cells.map((cell) => Number(cell.dataset.value))"
    )
    expect(page.locator("#tv-total")).to_have_attribute("data-value", str(int(sum(rows))))
    assert not [frame for frame in frames if "OUTLET-001" in frame]
    assert any("OUTLET-003" in frame for frame in frames)
    # Listed for its pairer (and head office), not for a manager of other outlets; revoked, it
    # goes back to a pairing code.
    fleet = manager.get(web_server + "/displays", timeout=10).text
    assert "Head office: 2 outlets" in fleet
    other = web_login(web_server, "manager1@example.com", "manager1")
    assert "Head office wall" not in other.get(web_server + "/displays", timeout=10).text
    display_id = re.search(r'action="/displays/([0-9a-f]{16})/revoke"', fleet).group(1)
    assert other.post(f"{web_server}/displays/{display_id}/revoke",
                      data={"csrf_token": csrf_of(other, web_server + "/displays")},
                      timeout=10).status_code == 404  # fmt: skip
    form = {"csrf_token": csrf_of(manager, web_server + "/displays")}
    assert manager.post(f"{web_server}/displays/{display_id}/revoke", data=form, timeout=10).ok
    expect(page.locator("#pairing-code")).to_be_visible(timeout=15_000)
    context.close()
