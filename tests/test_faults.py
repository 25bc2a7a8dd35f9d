"""Faults with real processes: our Redis, a web process, the bridge and Frappe die or hang.

Each test runs its own web process and bridge on its own Redis (so killing them disturbs no
other test) beside the session's demo Frappe, and a real browser where a person would notice.
Recovery times are printed (`pytest -s tests/test_faults.py`); docs/operations.md ("Running
it") quotes them.
"""

import os
import signal
import time

import pytest
import redis
import requests
from playwright.sync_api import expect

from .conftest import crash, start_frappe_sim, stop
from .test_browser import logged_in_page, submit

pytestmark = pytest.mark.slow

OUTLET = "OUTLET-001"


def live_outlet_page(browser, web_url):
    page = logged_in_page(browser, web_url, "manager1@example.com", "manager1")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    page.goto(f"{web_url}/outlets/{OUTLET}")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    return page


def sale_row(page, invoice):
    return page.locator(f'li.sale[data-invoice="{invoice}"]')


def cookies_of(page) -> dict:
    return {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}


@pytest.mark.parametrize("keep", [True, False], ids=["data-kept", "data-lost"])
def test_our_redis_restarts_under_live_traffic(browser, make_stack, frappe_http, keep):
    stack = make_stack(keep_redis_data=keep, LIVE_RECHECK_SECONDS="2")
    page = live_outlet_page(browser, stack.web_url)
    first = submit(frappe_http, OUTLET, [{"item_code": "COFFEE-02", "qty": 1}])
    expect(sale_row(page, first)).to_be_visible(timeout=5000)

    crash(stack.redis)
    # While it is away: clear 503s (never a 500), and /healthz names it.
    cookies = cookies_of(page)
    for path in ("/", f"/outlets/{OUTLET}", f"/api/outlets/{OUTLET}/summary", "/locator"):
        response = requests.get(stack.web_url + path, cookies=cookies, timeout=10)
        assert response.status_code == 503, (path, response.status_code)
        assert response.headers["Retry-After"] == "5"
    api = requests.get(f"{stack.web_url}/api/outlets/{OUTLET}/summary", cookies=cookies, timeout=10)
    assert api.json()["error"] == "unavailable"
    health = requests.get(stack.web_url + "/healthz", timeout=10)
    assert health.status_code == 503 and "redis" in health.json()["failing"]
    held = submit(frappe_http, OUTLET, [{"item_code": "TEA-01", "qty": 1}])  # the bridge holds it

    stack.start_redis()
    back = time.monotonic()
    if keep:
        # Sessions survived: the page carries on by itself, with the sale made meanwhile.
        expect(sale_row(page, held)).to_be_visible(timeout=30_000)
        caught_up = time.monotonic() - back
        expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=15_000)
        after = submit(frappe_http, OUTLET, [{"item_code": "MUFFIN-01", "qty": 1}])
        expect(sale_row(page, after)).to_be_visible(timeout=5000)
        assert "/login" not in page.url
        for invoice in (first, held, after):
            expect(sale_row(page, invoice)).to_have_count(1)
    else:
        # Sessions are gone: the page sends its manager to log in again, and says why.
        page.wait_for_url("**/login?reason=session_expired**", timeout=30_000)
        caught_up = time.monotonic() - back
        expect(page.get_by_role("alert").or_(page.locator(".notice"))).to_be_visible()
    healthy = wait_until_healthy(stack.web_url)
    kept = "data kept" if keep else "data lost"
    print(f"\nour Redis restart ({kept}): page recovered {caught_up:.1f} s after Redis was back, "
          f"/healthz 200 after {healthy - back:.1f} s")  # fmt: skip
    assert stack.web.poll() is None and stack.bridge.poll() is None
    assert page.dialogs == []


def wait_until_healthy(web_url, timeout=30.0) -> float:
    deadline = time.monotonic() + timeout
    while requests.get(web_url + "/healthz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "/healthz did not recover"
        time.sleep(0.1)
    return time.monotonic()


def test_web_restart_resumes_without_gaps_or_duplicates(browser, make_stack, frappe_http):
    stack = make_stack()
    page = live_outlet_page(browser, stack.web_url)
    before = [submit(frappe_http, OUTLET, [{"item_code": "COFFEE-02", "qty": 1}]) for _ in range(2)]
    for invoice in before:
        expect(sale_row(page, invoice)).to_be_visible(timeout=5000)

    crash(stack.web)
    expect(page.locator("#live-badge")).to_have_attribute(
        "data-state", "reconnecting", timeout=10_000
    )
    missed = [submit(frappe_http, OUTLET, [{"item_code": "TEA-01", "qty": 1}]) for _ in range(3)]
    stack.start_web()
    back = time.monotonic()
    for invoice in missed:
        expect(sale_row(page, invoice)).to_be_visible(timeout=20_000)
    resumed = time.monotonic() - back
    after = submit(frappe_http, OUTLET, [{"item_code": "MUFFIN-01", "qty": 1}])
    expect(sale_row(page, after)).to_be_visible(timeout=5000)
    for invoice in [*before, *missed, after]:
        expect(sale_row(page, invoice)).to_have_count(1)  # none missing, none twice
    # The figures agree with Frappe's once the page has caught up.
    frappe_total = frappe_http.as_service(
        "GET", "/api/method/franchise_management.api.get_outlet_dashboard_data",
        params={"outlet": OUTLET, "period": "daily"},
    ).json()["message"]["invoice_count"]  # fmt: skip
    expect(page.get_by_test_id("invoice-count")).to_have_text(f"{frappe_total:,}")
    print(f"\nweb restart: missed sales on the page {resumed:.1f} s after the process was back")
    assert page.dialogs == []


def test_bridge_restart_shows_paused_then_resyncs_to_frappes_totals(
    browser, make_stack, frappe_http
):
    stack = make_stack()
    page = live_outlet_page(browser, stack.web_url)
    crash(stack.bridge)
    badge = page.locator("#live-badge")
    expect(badge).to_have_attribute("data-state", "paused", timeout=20_000)
    # Sales while no bridge listens are never published to us: only a resync can show them.
    unseen = [submit(frappe_http, OUTLET, [{"item_code": "TEA-01", "qty": 2}]) for _ in range(2)]
    stack.start_bridge()
    back = time.monotonic()
    frappe_figures = frappe_http.as_service(
        "GET", "/api/method/franchise_management.api.get_outlet_dashboard_data",
        params={"outlet": OUTLET, "period": "daily"},
    ).json()["message"]  # fmt: skip
    expect(page.get_by_test_id("invoice-count")).to_have_text(
        f"{frappe_figures['invoice_count']:,}", timeout=10_000
    )
    resynced = time.monotonic() - back
    expect(badge).to_have_attribute("data-state", "live", timeout=10_000)
    print(f"\nbridge restart: page matched Frappe's totals {resynced:.1f} s after it was back")
    assert unseen and page.dialogs == []


@pytest.fixture
def own_frappe(frappe_redis_url):
    url, process = start_frappe_sim(frappe_redis_url)
    yield url, process
    if process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)
        stop(process)


# The first five have figures to fall back on; OUTLET-003 has none; /healthz asks Frappe itself.
PAGES = [
    "/",
    f"/outlets/{OUTLET}",
    f"/outlets/{OUTLET}?period=monthly",
    f"/api/outlets/{OUTLET}/summary",
    "/locator",
    "/outlets/OUTLET-003",
    "/healthz",
]


@pytest.mark.parametrize("fault", ["stopped", "slow"])
def test_frappe_stopped_or_slow_every_page_answers_within_2_s(
    browser, make_stack, own_frappe, fault
):
    frappe_url, frappe = own_frappe
    stack = make_stack(on_frappe=frappe_url, FIGURES_CACHE_SECONDS="1",
                       PERMISSION_CACHE_SECONDS="1", LOCATOR_CACHE_SECONDS="1")  # fmt: skip
    page = live_outlet_page(browser, stack.web_url)
    cookies = cookies_of(page)
    for path in PAGES[:5]:
        assert requests.get(stack.web_url + path, cookies=cookies, timeout=10).ok
    time.sleep(1.2)  # the 1 s caches lapse: every page has to ask Frappe again
    if fault == "stopped":
        os.kill(frappe.pid, signal.SIGSTOP)  # accepts connections, never answers
    else:
        requests.post(
            frappe_url + "/api/method/frappe_sim.set_delay", json={"seconds": 8},
            headers={"Authorization": "token demo_api_key:demo_api_secret",
                     "X-Frappe-Site-Name": "demo.localhost"}, timeout=10,
        )  # fmt: skip
    try:
        for path in PAGES:
            started = time.monotonic()
            response = requests.get(stack.web_url + path, cookies=cookies, timeout=10)
            took = time.monotonic() - started
            assert took < 2.0, f"{path} took {took:.2f} s"
            assert response.status_code in (200, 503), (path, response.status_code)
            if path == f"/outlets/{OUTLET}":
                assert 'data-testid="stale-notice"' in response.text  # the last figures, dated
            if path == "/outlets/OUTLET-003":
                assert response.status_code == 503 and "not answering" in response.text
                assert response.headers["Retry-After"] == "5" and "tries again" in response.text
        # The open page and its socket keep working meanwhile.
        expect(page.locator("#live-badge")).to_have_attribute("data-state", "live")
    finally:
        os.kill(frappe.pid, signal.SIGCONT)
    assert page.dialogs == []


def test_frappes_redis_restart_pauses_then_resumes_the_feed(browser, make_stack, tmp_path):
    from devtools.redis_server import free_port, start_redis

    from .test_live import frappe_sale, publish_raw

    port = free_port()
    theirs = start_redis(port, tmp_path / "theirs")  # stands in for the site's redis_queue
    frappe_redis = f"redis://127.0.0.1:{port}/0"
    try:
        stack = make_stack(frappe_redis=frappe_redis)
        page = live_outlet_page(browser, stack.web_url)
        stop(theirs)
        badge = page.locator("#live-badge")
        expect(badge).to_have_attribute("data-state", "paused", timeout=20_000)
        health = requests.get(stack.web_url + "/healthz", timeout=10).json()
        assert "bridge" in health["failing"]
        theirs = start_redis(port, tmp_path / "theirs")
        back = time.monotonic()
        expect(badge).to_have_attribute("data-state", "live", timeout=30_000)
        resumed = time.monotonic() - back
        sale = frappe_sale(outlet=OUTLET)
        publish_raw(frappe_redis, sale)
        expect(sale_row(page, sale["message"]["invoice"])).to_be_visible(timeout=5000)
        print(
            f"\nFrappe's Redis restart: the page was Live again {resumed:.1f} s after it was back"
        )
        assert page.dialogs == []
    finally:
        stop(theirs)


@pytest.mark.slow
def test_a_page_whose_session_is_gone_goes_to_login_when_it_reconnects(browser, make_stack):
    """The web refuses a socket handshake without a live session before Socket.IO hears of it:
    the page must still notice that it is signed out."""
    stack = make_stack()
    page = live_outlet_page(browser, stack.web_url)
    crash(stack.web)
    ours = redis.Redis.from_url(stack.redis_url)
    ours.delete(*ours.keys("session:*"))  # the session ended meanwhile
    stack.start_web()
    page.wait_for_url("**/login?reason=session_expired**", timeout=20_000)
