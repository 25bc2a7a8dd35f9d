"""Store TVs: pairing without a password, one outlet only, live for weeks, never silently stale."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
import socketio
from playwright.sync_api import expect

from .conftest import ROOT, crash, start_web, stop, web_login
from .test_browser import logged_in_page
from .test_live import LiveClient, submit_sale

CODE = re.compile(r'id="pairing-code"[^>]*>([A-Z0-9]{6})<')
ARTIFACTS = ROOT / "test-artifacts"


def csrf_of(http, url) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', http.get(url, timeout=10).text).group(1)


def pair_over_http(web_url, manager, outlet="OUTLET-001", label="Front counter TV", public=False):
    """A TV (a requests session) paired by `manager` (a logged-in session): the TV session."""
    tv = requests.Session()
    code = CODE.search(tv.get(web_url + "/tv", timeout=10).text).group(1)
    page = f"{web_url}/outlets/{outlet}/displays"
    form = {"csrf_token": csrf_of(manager, page), "code": code, "label": label}
    if public:
        form["public_safe"] = "on"
    response = manager.post(page, data=form, timeout=10)
    assert response.ok and "Paired" in response.text, response.text[:500]
    assert tv.get(web_url + "/tv/pairing", timeout=10).json() == {"status": "paired"}
    return tv


def pair_head_office_tv(web_url, manager, label="Head office wall"):
    """A TV (a requests session) paired on the fleet page as a head-office TV by `manager`."""
    tv = requests.Session()
    code = CODE.search(tv.get(web_url + "/tv", timeout=10).text).group(1)
    form = {"csrf_token": csrf_of(manager, web_url + "/displays"), "code": code, "label": label}
    response = manager.post(web_url + "/displays", data=form, timeout=10)
    assert response.ok and "Paired" in response.text, response.text[:500]
    assert tv.get(web_url + "/tv/pairing", timeout=10).json() == {"status": "paired"}
    return tv


def test_pairing_code_shape_and_single_use(web_server):
    manager = web_login(web_server, "manager1@example.com", "manager1")
    tv = requests.Session()
    page = tv.get(web_server + "/tv", timeout=10)
    code = CODE.search(page.text).group(1)
    assert set(code) <= set("ABCDEFGHJKMNPQRSTUVWXYZ23456789")
    assert tv.get(web_server + "/tv", timeout=10).text.count(code) >= 1  # same code on reload
    assert tv.get(web_server + "/tv/pairing", timeout=10).json()["status"] == "waiting"
    url = f"{web_server}/outlets/OUTLET-001/displays"
    form = {"csrf_token": csrf_of(manager, url), "code": code.lower(), "label": "Back TV"}
    assert manager.post(url, data=form, timeout=10).ok
    again = manager.post(url, data=form, timeout=10)
    assert again.status_code == 404 and "No TV is showing that code" in again.text
    # What the manager typed stays, to correct rather than type again.
    assert 'value="Back TV"' in again.text and f'value="{code.lower()}"' in again.text
    cookie = next(c for c in tv.get(web_server + "/tv/pairing", timeout=10).cookies)
    assert cookie.name == "fd_display" and cookie.has_nonstandard_attr("HttpOnly")
    assert len(cookie.value) >= 43  # 256 random bits, URL-safe


def test_pairing_needs_csrf_and_access(web_server):
    manager2 = web_login(web_server, "manager2@example.com", "manager2")
    code = CODE.search(requests.get(web_server + "/tv", timeout=10).text).group(1)
    refused = manager2.post(
        f"{web_server}/outlets/OUTLET-001/displays",
        data={"csrf_token": csrf_of(manager2, web_server + "/"), "code": code, "label": "x"},
        timeout=10,
    )
    assert refused.status_code == 403
    no_csrf = manager2.post(
        f"{web_server}/outlets/OUTLET-002/displays", data={"code": code, "label": "x"}, timeout=10
    )
    assert no_csrf.status_code == 400


def test_a_display_token_reads_its_outlet_and_nothing_else(web_server, bridge):
    manager = web_login(web_server, "manager1@example.com", "manager1")
    tv = pair_over_http(web_server, manager)
    own = tv.get(web_server + "/tv/data", timeout=10)
    assert own.status_code == 200 and own.json()["outlet"] == "OUTLET-001"
    assert own.json()["total_sales"] >= 0
    assert tv.get(web_server + "/outlets/OUTLET-002", timeout=10).url.startswith(
        web_server + "/login"
    )
    assert tv.get(web_server + "/", allow_redirects=False, timeout=10).status_code == 302
    assert tv.get(web_server + "/api/outlets/OUTLET-001/summary", timeout=10).status_code == 401
    client = LiveClient(web_server, tv)
    try:
        assert client.subscribe("OUTLET-002") == {"ok": False, "error": "forbidden"}
        assert client.subscribe("OUTLET-001")["ok"]
    finally:
        client.close()


def test_customer_facing_display_never_receives_money(web_server, bridge, frappe_http):
    manager = web_login(web_server, "manager2@example.com", "manager2")
    tv = pair_over_http(web_server, manager, outlet="OUTLET-003", public=True)
    data = tv.get(web_server + "/tv/data", timeout=10).json()
    assert "total_sales" not in data and "avg_order_value" not in data
    assert all("total_amount" not in item for item in data["top_items"])
    client = LiveClient(web_server, tv)
    try:
        ack = client.subscribe("OUTLET-003")
        assert "total_sales" not in ack["snapshot"]
        invoice = submit_sale(frappe_http, "OUTLET-003")
        _, sale = client.wait_for(lambda e, d: e == "live_pos_sale" and d["invoice"] == invoice)
        assert "grand_total" not in sale and all("amount" not in i for i in sale["items"])
        # Frappe's figures, re-read once the outlet is quiet: counts and items, no money.
        _, figures = client.wait_for(lambda e, d: e == "figures", timeout=20)
        assert figures["invoice_count"] >= ack["snapshot"]["invoice_count"] + 1
        assert "total_sales" not in figures and "avg_order_value" not in figures
        assert all("total_amount" not in item for item in figures["top_items"])
        for daily in client.events_named("daily_sales_update"):
            assert "daily_total" not in daily
    finally:
        client.close()


def test_kiosk_link_pairs_once_and_dies_with_the_display(web_server):
    manager = web_login(web_server, "manager1@example.com", "manager1")
    url = f"{web_server}/outlets/OUTLET-001/displays"
    page = manager.post(
        url + "/kiosk", data={"csrf_token": csrf_of(manager, url), "label": "Kiosk"}, timeout=10
    )
    link = re.search(r'class="kiosk-url">([^<]+)<', page.text).group(1)
    kiosk = requests.Session()
    opened = kiosk.get(link, timeout=10)
    assert 'data-tv data-outlet="OUTLET-001"' in opened.text
    assert requests.get(link, timeout=10).status_code == 404  # used once
    listing = manager.get(url, timeout=10).text
    display_id = re.findall(r'data-display="([0-9a-f]+)"', listing)[-1]
    manager.post(
        f"{url}/{display_id}/revoke", data={"csrf_token": csrf_of(manager, url)}, timeout=10
    )
    assert "pairing-code" in kiosk.get(web_server + "/tv", timeout=10).text


def test_display_pages_refuse_odd_requests(web_server):
    manager = web_login(web_server, "manager1@example.com", "manager1")
    url = f"{web_server}/outlets/OUTLET-001/displays"
    token = csrf_of(manager, url)
    assert manager.post(f"{url}/nope/revoke", data={"csrf_token": token}).status_code == 404
    assert manager.post(url, data={"csrf_token": token, "code": "", "label": ""}).status_code == 400
    assert requests.get(web_server + "/tv/link/" + "x" * 500, timeout=10).status_code == 404
    assert requests.get(web_server + "/tv/data", timeout=10).status_code == 401


# -- in Chromium ------------------------------------------------------------------------------


def manager_page(browser, web_url, usr="manager1@example.com", pwd="manager1"):
    return logged_in_page(browser, web_url, usr, pwd)


def pair_in_browser(manager, tv, web_url, outlet="OUTLET-001", label="Front counter TV"):
    tv.goto(web_url + "/tv")
    code = tv.locator("#pairing-code").inner_text()
    manager.goto(f"{web_url}/outlets/{outlet}/displays")
    manager.fill("input[name=code]", code)
    manager.fill("form >> input[name=label] >> nth=0", label)
    manager.get_by_role("button", name="Pair", exact=True).click()
    expect(manager.get_by_role("status")).to_contain_text(f"Paired “{label}”")
    # The TV notices by itself.
    expect(tv.locator("#tv-total")).to_be_visible(timeout=2000)
    # Up to one status poll (5 s) after a test elsewhere emptied Redis of the heartbeat.
    expect(tv.locator("#tv-state")).to_have_attribute("data-state", "live", timeout=10_000)


def test_pair_watch_live_and_revoke(browser, web_server, bridge, frappe_http):
    manager = manager_page(browser, web_server)
    tv = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    pair_in_browser(manager, tv, web_server)
    expect(tv.locator("#tv-outlet")).to_have_text("Downtown Outlet")
    # Enough cake to top today's items whatever other tests sold here.
    invoice = submit_sale(frappe_http, "OUTLET-001", [{"item_code": "CAKE-01", "qty": 40}])
    sale = tv.locator(f'#tv-ticker li[data-invoice="{invoice}"]')
    expect(sale).to_be_visible(timeout=2000)
    expect(sale).to_contain_text("Carrot Cake Slice")
    expect(tv.locator("#tv-top")).to_contain_text("Carrot Cake Slice")
    scroll = tv.evaluate("[document.documentElement.scrollHeight, window.innerHeight]")
    assert scroll[0] <= scroll[1]  # no scrollbars
    ARTIFACTS.mkdir(exist_ok=True)
    tv.screenshot(path=str(ARTIFACTS / "tv.png"))

    manager.reload()
    row = manager.locator("tr[data-display]").last
    expect(row.locator("input[name=label]")).to_have_value("Front counter TV")
    expect(row).to_contain_text("manager1@example.com")
    expect(row.locator("[data-field=online]")).to_have_text("online")
    expect(row).to_contain_text("Downtown Outlet")
    row.locator("input[name=label]").fill("Counter TV, left")
    row.get_by_role("button", name="Rename").click()
    expect(manager.get_by_role("status")).to_contain_text("Renamed to “Counter TV, left”")
    row = manager.locator("tr[data-display]").last
    expect(row.locator("input[name=label]")).to_have_value("Counter TV, left")
    expect(tv.locator(".tv-foot")).to_contain_text("Front counter TV")  # until its next reload
    asked = []
    manager.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button", name="Revoke").click()
    expect(manager.locator("tr[data-display]").last).to_be_visible()
    assert asked and "Counter TV, left" in asked[0]  # asked first; dismissed, nothing happens
    expect(tv.locator("#tv-total")).to_be_visible()
    manager.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(manager.get_by_role("status")).to_contain_text("Revoked")
    expect(tv.locator(".tv-banner")).to_have_text("This screen was unpaired.", timeout=5000)
    expect(tv.locator("#pairing-code")).to_have_text(re.compile(r"^[A-Z0-9]{6}$"))
    for page in (manager, tv):
        page.context.close()


def test_offline_banner_and_missed_sales(browser, frappe_url, redis_url, bridge, frappe_http):
    from devtools.redis_server import free_port

    port = free_port()
    web_url, web = start_web(frappe_url, redis_url, port=port, APP_VERSION="1.0")
    manager = manager_page(browser, web_url)
    tv = browser.new_context().new_page()
    try:
        pair_in_browser(manager, tv, web_url, outlet="OUTLET-001", label="Offline TV")
        crash(web)
        banner = tv.locator("#tv-banner")
        expect(banner).to_contain_text("Offline since", timeout=20_000)
        expect(banner).to_contain_text("figures as of")
        missed = [submit_sale(frappe_http, "OUTLET-001") for _ in range(2)]
        # Back, with a new release: the TV fills the gap, then reloads itself when quiet.
        web_url_again, web = start_web(frappe_url, redis_url, port=port, APP_VERSION="1.1")
        assert web_url_again == web_url
        expect(banner).to_be_hidden(timeout=30_000)
        for invoice in missed:
            expect(tv.locator(f'#tv-ticker li[data-invoice="{invoice}"]')).to_be_visible()
        expect(tv.locator("[data-tv]")).to_have_attribute("data-version", "1.1", timeout=15_000)
        for invoice in missed:  # replayed from the feed after the reload too
            expect(tv.locator(f'#tv-ticker li[data-invoice="{invoice}"]')).to_be_visible()
    finally:
        stop(web)
        for page in (manager, tv):
            page.context.close()


def test_day_rolls_over_at_the_sites_midnight(browser, web_server, bridge):
    manager = manager_page(browser, web_server)
    context = browser.new_context()
    tv = context.new_page()
    now = datetime.now(ZoneInfo("Asia/Kolkata"))
    tv.clock.install(time=now)
    pair_in_browser(manager, tv, web_server, outlet="OUTLET-001", label="Clock TV")
    expect(tv.locator("#tv-total")).not_to_have_text("—")
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=3)
    tv.clock.set_system_time(tomorrow)
    expect(tv.locator("#tv-total")).to_have_text(re.compile(r"^₹\s?0$"), timeout=5000)
    expect(tv.locator("#tv-invoices")).to_have_text("0")
    expect(tv.locator("#tv-ticker li")).to_have_count(0)
    manager.context.close()
    context.close()


def test_ticker_stays_bounded(browser, web_server, bridge, frappe_redis_url):
    from .test_live import frappe_sale, publish_raw

    manager = manager_page(browser, web_server)
    tv = browser.new_context().new_page()
    pair_in_browser(manager, tv, web_server, outlet="OUTLET-001", label="Busy TV")
    sales = [frappe_sale() for _ in range(20)]
    for sale in sales:
        publish_raw(frappe_redis_url, sale)
    last = sales[-1]["message"]["invoice"]
    expect(tv.locator(f'#tv-ticker li[data-invoice="{last}"]')).to_be_visible()
    expect(tv.locator("#tv-ticker li")).to_have_count(8)
    manager.context.close()
    tv.context.close()


def test_pairing_codes_are_rate_limited_per_address(make_app):
    app = make_app(PAIRING_CODES_PER_ADDRESS="2 per hour")
    statuses = []
    for _ in range(3):
        client = app.test_client()  # a new browser each time: no pairing cookie to reuse
        client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
        statuses.append(client.get("/tv").status_code)
    assert statuses == [200, 200, 429]


def test_socket_refused_without_any_credentials(web_server):
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(
            web_server, headers={"Cookie": "fd_display=forged"}, transports=["websocket"]
        )


def test_the_tv_shows_a_qr_code_of_its_pairing_link(web_server):
    from urllib.parse import unquote

    import segno

    page = requests.get(web_server + "/tv", timeout=10).text
    code = CODE.search(page).group(1)
    shown = re.search(r'class="pairing-qr" src="([^"]+)"', page).group(1)
    assert shown.startswith("data:image/svg+xml")
    # The QR code holds exactly the pairing link with this code (segno drew both).
    link = f"{web_server}/displays/pair?code={code}"
    expected = segno.make(link, error="m").svg_data_uri(scale=6, dark="#0b0f14", light="#ffffff")
    assert unquote(shown.replace("&amp;", "&")) == unquote(expected)


def test_a_scanned_pairing_link_leads_to_the_outlet_with_the_code_filled_in(browser, web_server):
    tv = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    tv.goto(web_server + "/tv")
    code = tv.locator("#pairing-code").inner_text()
    phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    phone.goto(f"{web_server}/displays/pair?code={code}")  # what the QR code holds
    phone.fill("input[name=usr]", "manager2@example.com")
    phone.fill("input[name=pwd]", "manager2")
    phone.click("button[type=submit]")
    expect(phone.get_by_role("heading", name=f"Pair the TV showing {code}")).to_be_visible()
    phone.get_by_role("link", name="Airport Outlet").click()  # manager2 reads two outlets
    expect(phone.locator("input[name=code]")).to_have_value(code)
    expect(phone.get_by_test_id("tv-url")).to_have_text(web_server + "/tv")
    phone.fill("form >> input[name=label] >> nth=0", "Window TV")
    phone.get_by_role("button", name="Pair", exact=True).click()
    expect(phone.get_by_role("status")).to_contain_text("Paired “Window TV”")
    expect(tv.locator("#tv-outlet")).to_have_text("Airport Outlet", timeout=5000)
    # One outlet: straight to its displays page. A link without a valid code: said so.
    one = logged_in_page(browser, web_server, "manager1@example.com", "manager1")
    one.goto(f"{web_server}/displays/pair?code=ABC-DEF")
    expect(one).to_have_url(re.compile(r"/outlets/OUTLET-001/displays\?code=ABCDEF$"))
    answer = one.goto(f"{web_server}/displays/pair?code=<b>")
    assert answer.status == 400
    expect(one.get_by_role("heading", name="Not a pairing link")).to_be_visible()
    for page in (tv, phone, one):
        page.context.close()


def test_the_fleet_lists_every_screen_the_manager_may_see(web_server):
    manager2 = web_login(web_server, "manager2@example.com", "manager2")
    tv = pair_over_http(web_server, manager2, outlet="OUTLET-003", label="Fleet TV")
    theirs = pair_over_http(web_server, web_login(web_server, "manager1@example.com",
                                                  "manager1"), label="Not manager2's")  # fmt: skip
    tv.get(web_server + "/tv/data", timeout=10)  # seen once
    fleet = manager2.get(web_server + "/api/displays", timeout=10).json()["displays"]
    mine = [d for d in fleet if d["label"] == "Fleet TV"]
    assert len(mine) == 1 and mine[0]["outlet"] == "OUTLET-003"
    assert set(mine[0]) == {
        "id",
        "outlet",
        "label",
        "online",
        "last_seen",
        "version",
        "public_safe",
    }
    assert all(d["outlet"] in ("OUTLET-002", "OUTLET-003") for d in fleet)  # never OUTLET-001's
    page = manager2.get(web_server + "/displays", timeout=10).text
    assert "Fleet TV" in page and "Not manager2" not in page
    assert "offline for over 10 minutes" in page
    # Revoked: gone from the fleet.
    url = f"{web_server}/outlets/OUTLET-003/displays"
    manager2.post(f"{url}/{mine[0]['id']}/revoke", data={"csrf_token": csrf_of(manager2, url)})
    fleet = manager2.get(web_server + "/api/displays", timeout=10).json()["displays"]
    assert mine[0]["id"] not in [d["id"] for d in fleet]
    assert theirs  # manager1's TV still exists; manager2 just cannot see it


def test_the_fleet_shows_a_freshly_paired_tv_online(browser, web_server, bridge):
    manager = manager_page(browser, web_server, "manager2@example.com", "manager2")
    tv = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    pair_in_browser(manager, tv, web_server, outlet="OUTLET-002", label="Online fleet TV")
    manager.goto(web_server + "/")
    manager.get_by_role("link", name="TV screens").click()
    row = manager.locator("tr[data-display]", has_text="Online fleet TV")
    expect(row.locator("[data-field=online]")).to_have_text("online")
    expect(row.get_by_role("link", name="Airport Outlet")).to_have_attribute(
        "href", "/outlets/OUTLET-002/displays"
    )
    for page in (manager, tv):
        page.context.close()


def test_the_displays_page_shows_a_newly_paired_tv_online_without_a_reload(
    browser, web_server, bridge
):
    """A manager who just paired a TV sees it come online where it is listed, not "never /
    offline" until a reload (they would think the pairing failed)."""
    manager = manager_page(browser, web_server)
    tv = browser.new_context().new_page()
    tv.goto(web_server + "/tv")
    code = tv.locator("#pairing-code").inner_text()
    tv.route("**/tv/pairing", lambda route: route.abort())  # it notices only once we let it
    manager.goto(f"{web_server}/outlets/OUTLET-001/displays")
    manager.fill("input[name=code]", code)
    manager.fill("form >> input[name=label] >> nth=0", "Just paired")
    manager.get_by_role("button", name="Pair", exact=True).click()
    row = manager.locator("tr[data-display]", has=manager.locator('input[value="Just paired"]'))
    expect(row.locator("[data-field=online]")).to_have_text("offline")  # the TV has not called
    tv.unroute("**/tv/pairing")
    expect(tv.locator("#tv-state")).to_have_attribute("data-state", "live", timeout=10_000)
    expect(row.locator("[data-field=online]")).to_have_text("online", timeout=8000)
    expect(row.locator("[data-field=last_seen]")).to_have_text("just now")
    manager.context.close()
    tv.context.close()
