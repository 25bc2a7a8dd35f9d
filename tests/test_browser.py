"""A manager in Chromium: log in, see the outlets, log out (gunicorn + gevent, as deployed)."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARTIFACTS.mkdir(exist_ok=True)


def test_login_see_outlets_logout(page, web_server):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(web_server + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.fill("input[name=usr]", "manager1@example.com")
    page.fill("input[name=pwd]", "wrong password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_have_text("Invalid login credentials")

    page.fill("input[name=pwd]", "manager1")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Your outlets")).to_be_visible()
    rows = page.locator("tr[data-outlet]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Downtown Outlet")
    expect(page.get_by_test_id("who")).to_have_text("Manager One")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert set(cookies) == {"fd_session"} and cookies["fd_session"]["httpOnly"]

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    expect(page.locator("input[name=usr]")).to_be_visible()
    page.goto(web_server + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    assert dialogs == []


def test_overview_outlet_and_period_switch(page, web_server):
    page.goto(web_server + "/login")
    page.fill("input[name=usr]", "Administrator")
    page.fill("input[name=pwd]", "admin")
    page.click("button[type=submit]")
    rows = page.locator("tr[data-outlet]")
    expect(rows).to_have_count(14)
    # Every row fills in today's figures by itself.
    expect(page.locator("tr[aria-busy]")).to_have_count(0)
    expect(rows.first.locator("td[data-field=total_sales]")).to_contain_text("₹")

    def totals_by_territory():
        return [
            [
                float(row.get_attribute("data-total_sales"))
                for row in group.locator("tr[data-outlet]").all()
            ]
            for group in page.locator("tbody[data-territory]").all()
        ]

    page.get_by_role("button", name="Sales today").click()  # a figure: biggest first
    assert all(t == sorted(t, reverse=True) for t in totals_by_territory())  # within each
    page.get_by_role("button", name="Sales today").click()  # then the other way
    assert all(t == sorted(t) for t in totals_by_territory())

    page.get_by_role("link", name="Café Central").click()
    expect(page.get_by_test_id("outlet-name")).to_have_text("Café Central")
    expect(page.get_by_role("link", name="Today")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="This month").click()
    expect(page).to_have_url(re.compile(r"/outlets/Caf%C3%A9%20Central\?period=monthly$"))
    expect(page.get_by_role("link", name="This month")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("total-sales")).to_contain_text("₹")
    expect(page.locator("table.items tbody tr")).to_have_count(10)
    page.set_viewport_size({"width": 1100, "height": 900})
    # Kept out of the tree; docs/outlet-page.png is a copy of it.
    page.screenshot(path=str(ARTIFACTS / "outlet-page.png"), full_page=True)


def test_pages_fit_a_phone(browser, web_server):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.goto(web_server + "/login")
    page.fill("input[name=usr]", "manager2@example.com")
    page.fill("input[name=pwd]", "manager2")
    page.click("button[type=submit]")
    expect(page.locator("tr[data-outlet]")).to_have_count(2)
    page.goto(web_server + "/outlets/OUTLET-002?period=monthly")
    expect(page.get_by_test_id("total-sales")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    context.close()


def logged_in_page(browser, web_server, usr, pwd):
    return log_in(browser.new_context().new_page(), web_server, usr, pwd)


def log_in(page, web_server, usr, pwd):
    """`page` logged in through the form, on the overview."""
    page.goto(web_server + "/login")
    page.fill("input[name=usr]", usr)
    page.fill("input[name=pwd]", pwd)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Your outlets")).to_be_visible()
    return page


def submit(frappe_http, outlet, items):
    response = frappe_http.as_service(
        "POST",
        "/api/method/frappe_sim.submit_pos_invoice",
        json={"outlet": outlet, "items": items},
    )
    assert response.status_code == 200, response.text
    return response.json()["message"]["name"]


def test_a_sale_appears_live_only_where_allowed(browser, web_server, bridge, frappe_http):
    manager1 = logged_in_page(browser, web_server, "manager1@example.com", "manager1")
    manager2 = logged_in_page(browser, web_server, "manager2@example.com", "manager2")
    dialogs = []
    for page in (manager1, manager2):
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    manager1.goto(web_server + "/outlets/OUTLET-001")
    manager2.goto(web_server + "/outlets/OUTLET-002")
    for page in (manager1, manager2):
        # Up to one status poll (5 s) after a test elsewhere emptied Redis of the heartbeat.
        expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    count_before = int(manager1.get_by_test_id("invoice-count").inner_text().replace(",", ""))

    invoice = submit(frappe_http, "OUTLET-001", [{"item_code": "MUFFIN-01", "qty": 2}])
    sale = manager1.locator(f'li.sale[data-invoice="{invoice}"]')
    expect(sale).to_be_visible(timeout=2000)
    expect(sale).to_contain_text("Blueberry Muffin")
    expect(sale).to_contain_text("₹300.00")
    expect(manager1.get_by_test_id("invoice-count")).to_have_text(f"{count_before + 1:,}")
    expect(manager1.locator("#live-badge")).to_contain_text("last sale")

    theirs = submit(frappe_http, "OUTLET-002", [{"item_code": "TEA-01", "qty": 1}])
    expect(manager2.locator(f'li.sale[data-invoice="{theirs}"]')).to_be_visible(timeout=2000)
    # In order behind OUTLET-002's sale: had OUTLET-001's leaked, it would be on the page.
    expect(manager2.locator(f'li.sale[data-invoice="{invoice}"]')).to_have_count(0)
    assert dialogs == []
    for page in (manager1, manager2):
        page.context.close()


def test_overview_ticks_live(browser, web_server, bridge, frappe_http):
    page = logged_in_page(browser, web_server, "manager2@example.com", "manager2")
    row = page.locator('tr[data-outlet="OUTLET-003"]')
    expect(row).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    before = int(row.get_attribute("data-invoice_count"))
    submit(frappe_http, "OUTLET-003", [{"item_code": "SALAD-01", "qty": 1}])
    expect(row).to_have_attribute("data-invoice_count", str(before + 1), timeout=2000)
    page.context.close()


def test_badge_says_paused_without_a_bridge(browser, frappe_url, frappe_redis_url, tmp_path):
    from devtools.redis_server import free_port, start_redis

    from .conftest import crash, start_bridge, start_web, stop

    port = free_port()
    own_redis = start_redis(port, tmp_path)  # a Redis no bridge writes to yet
    redis_url = f"redis://127.0.0.1:{port}/0"
    web_url, web = start_web(frappe_url, redis_url)
    bridge = None
    try:
        page = logged_in_page(browser, web_url, "manager1@example.com", "manager1")
        page.goto(web_url + "/outlets/OUTLET-001")
        badge = page.locator("#live-badge")
        expect(badge).to_have_attribute("data-state", "paused")
        expect(badge).to_contain_text("Paused")
        bridge = start_bridge(frappe_url, redis_url, frappe_redis_url)
        expect(badge).to_have_attribute("data-state", "live", timeout=10_000)
        crash(web)  # the web process dies: the page notices and keeps retrying
        expect(badge).to_have_attribute("data-state", "reconnecting", timeout=10_000)
        page.context.close()
    finally:
        if bridge:
            stop(bridge)
        stop(web)
        stop(own_redis)


def test_back_after_logout_shows_no_managers_page(page, web_server):
    log_in(page, web_server, "manager1@example.com", "manager1")
    page.goto(web_server + "/outlets/OUTLET-001/displays")
    expect(page.get_by_test_id("who")).to_have_text("Manager One")
    response = page.request.get(web_server + "/outlets/OUTLET-001/displays")
    assert response.headers["cache-control"] == "no-store"
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    page.go_back()
    expect(page.locator("input[name=usr]")).to_be_visible()  # asked again: the login page
    expect(page.get_by_test_id("who")).to_have_count(0)


def test_overview_keeps_its_sort_as_live_sales_change_the_figures(
    browser, web_server, bridge, frappe_http
):
    page = logged_in_page(browser, web_server, "manager2@example.com", "manager2")
    expect(page.locator("tr[aria-busy]")).to_have_count(0)
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    sort = page.get_by_role("button", name="Sales today")
    sort.click()  # highest first
    rows = page.locator("tbody tr[data-outlet]")
    top, second = rows.nth(0).get_attribute("data-outlet"), rows.nth(1).get_attribute("data-outlet")
    gap = float(rows.nth(0).get_attribute("data-total_sales")) - float(
        rows.nth(1).get_attribute("data-total_sales")
    )
    submit(frappe_http, second, [{"item_code": "COFFEE-04", "qty": min(1000, int(gap // 220) + 1)}])
    expect(rows.nth(0)).to_have_attribute("data-outlet", second, timeout=5000)
    expect(rows.nth(1)).to_have_attribute("data-outlet", top)
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Sales today")
    page.context.close()


def test_overview_totals_the_outlets_shown(browser, web_server, bridge, frappe_http):
    page = logged_in_page(browser, web_server, "manager2@example.com", "manager2")
    expect(page.locator("tr[aria-busy]")).to_have_count(0)

    def sums():
        rows = page.locator("tbody tr[data-outlet]")
        return [
            sum(float(rows.nth(i).get_attribute(f"data-{field}")) for i in range(rows.count()))
            for field in ("total_sales", "invoice_count")
        ]

    def footer():
        cells = page.locator("tfoot [data-total]")
        return [float(cells.nth(i).get_attribute("data-value")) for i in range(2)]

    expect(page.locator("tfoot [data-total=invoice_count]")).to_have_attribute(
        "data-value", re.compile(".")
    )
    assert footer() == pytest.approx(sums())
    expect(page.locator("#figures-as-of")).to_contain_text("2 outlets · as of")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    invoices = footer()[1]
    submit(frappe_http, "OUTLET-002", [{"item_code": "TEA-01", "qty": 1}])
    expect(page.locator("tfoot [data-total=invoice_count]")).to_have_attribute(
        "data-value", str(int(invoices + 1)), timeout=5000
    )
    assert footer() == pytest.approx(sums())
    page.context.close()


def test_overview_shows_each_outlets_last_sale(browser, web_server, bridge, frappe_http):
    page = logged_in_page(browser, web_server, "manager2@example.com", "manager2")
    row = page.locator('tr[data-outlet="OUTLET-003"]')
    expect(row).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    before = row.get_attribute("data-last_sale")
    submit(frappe_http, "OUTLET-003", [{"item_code": "SALAD-01", "qty": 1}])
    expect(row).not_to_have_attribute("data-last_sale", before or "", timeout=5000)
    stamp = row.get_attribute("data-last_sale")
    assert stamp > (before or "")
    expect(row.locator("td[data-field=last_sale]")).to_have_text(stamp[11:19])
    # The totals row names the newest sale across the outlets shown.
    expect(page.locator("tfoot [data-total=last_sale]")).to_have_text(stamp[11:19])
    page.context.close()


def test_a_large_basket_is_listed_by_item(browser, web_server, bridge, frappe_http):
    page = logged_in_page(browser, web_server, "manager1@example.com", "manager1")
    page.goto(web_server + "/outlets/OUTLET-001")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    # 99 lines, more than a sale message's 4 KiB: merged by item, nothing left out.
    lines = [{"item_code": code, "qty": 1} for code in ("COFFEE-02", "MUFFIN-01", "TEA-01") * 33]
    invoice = submit(frappe_http, "OUTLET-001", lines)
    sale = page.locator(f'li.sale[data-invoice="{invoice}"]')
    expect(sale.locator(".sale-items li")).to_have_text(
        ["33 × Espresso — ₹3,960.00", "33 × Blueberry Muffin — ₹4,950.00",
         "33 × Masala Chai — ₹1,320.00"], timeout=5000,
    )  # fmt: skip
    page.context.close()


def test_a_sale_too_large_to_list_says_how_many_items_are_not_listed(
    browser, web_server, bridge, frappe_redis_url
):
    from .test_live import frappe_sale, publish_raw

    page = logged_in_page(browser, web_server, "manager1@example.com", "manager1")
    page.goto(web_server + "/outlets/OUTLET-001")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    items = [
        {"item": f"Item with a long name number {n}", "qty": 1, "amount": 1} for n in range(300)
    ]
    sale = frappe_sale("OUTLET-001", grand_total=300, items=items)
    publish_raw(frappe_redis_url, sale)
    shown = page.locator(f'li.sale[data-invoice="{sale["message"]["invoice"]}"]')
    expect(shown).to_contain_text(re.compile(r"and \d+ more items"), timeout=5000)
    listed = shown.locator(".sale-items li").count() - 1
    unlisted = int(re.search(r"and (\d+) more", shown.inner_text()).group(1))
    assert listed == 6 and listed + unlisted == 300  # the first lines, then how many more
    page.context.close()
