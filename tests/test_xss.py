"""Stored XSS, end to end: labels people typed into Frappe (an outlet's name, city and state, an
item, a user's full name) and into our own forms (a TV's label) carry markup and script. They
travel Frappe -> pages, Frappe -> bridge -> live feed, Frappe -> locator, and onto a TV, and must
be shown as text everywhere: any dialog in Chromium fails the test.
"""

import pytest
import requests
from playwright.sync_api import expect

from frappe_sim.data import HOSTILE

from .conftest import FrappeHTTP, start_frappe_sim, stop
from .test_browser import log_in
from .test_live import submit_sale
from .test_tv import pair_in_browser

TV_LABEL = '<script>alert("tv")</script>Till TV'


@pytest.fixture
def hostile_stack(make_stack, frappe_redis_url):
    # Its own Frappe and Frappe Redis database: no other test sees these names.
    frappe_redis = frappe_redis_url.rsplit("/", 1)[0] + "/2"
    url, frappe = start_frappe_sim(frappe_redis, "--hostile-names")
    stack = make_stack(on_frappe=url, frappe_redis=frappe_redis)
    stack.frappe_http = FrappeHTTP(url)
    yield stack
    stop(frappe)


def test_hostile_labels_are_text_on_every_path(browser, hostile_stack):
    web = hostile_stack.web_url
    dialogs = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.on("page", lambda page: page.on("dialog", lambda d: (dialogs.append(d.message),
                                                                  d.dismiss())))  # fmt: skip
    manager = log_in(context.new_page(), web, "manager2@example.com", "manager2")
    # Overview: the user's full name and the outlet's label and city, as typed.
    expect(manager.get_by_test_id("who")).to_have_text(HOSTILE["user"])
    expect(manager.get_by_text(HOSTILE["outlet"], exact=True)).to_be_visible()
    expect(manager.get_by_text(HOSTILE["city"], exact=True)).to_be_visible()

    # Outlet page, then a live sale of the hostile item (enough to top today's items).
    manager.goto(web + "/outlets/OUTLET-003")
    expect(manager.get_by_test_id("outlet-name")).to_have_text(HOSTILE["outlet"])
    expect(manager.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    invoice = submit_sale(
        hostile_stack.frappe_http, "OUTLET-003", [{"item_code": "SAMOSA-01", "qty": 60}]
    )
    sale = manager.locator(f'li.sale[data-invoice="{invoice}"]')
    expect(sale).to_contain_text(HOSTILE["item"], timeout=5000)
    manager.reload()  # the figures and top items, from Frappe, with the item on top
    expect(manager.get_by_test_id("top-items-table")).to_contain_text(HOSTILE["item"])
    manager.goto(web + "/outlets/OUTLET-003?period=monthly")
    expect(manager.get_by_test_id("outlet-name")).to_have_text(HOSTILE["outlet"])

    # A TV paired with a hostile label shows the outlet, the label and the sale as text.
    tv = context.new_page()
    pair_in_browser(manager, tv, web, outlet="OUTLET-003", label=TV_LABEL)
    expect(manager.locator("tr[data-display] input[name=label]").last).to_have_value(TV_LABEL)
    expect(tv.locator("#tv-outlet")).to_have_text(HOSTILE["outlet"], timeout=5000)
    expect(tv.locator(".tv-foot")).to_contain_text(TV_LABEL)
    second = submit_sale(
        hostile_stack.frappe_http, "OUTLET-003", [{"item_code": "SAMOSA-01", "qty": 1}]
    )
    expect(tv.locator(f'#tv-ticker li[data-invoice="{second}"]')).to_contain_text(
        HOSTILE["item"], timeout=5000
    )
    expect(tv.locator("#tv-top")).to_contain_text(HOSTILE["item"])

    # The public locator: the list, the map's popup, the store's own page and its JSON-LD.
    public = context.new_page()
    public.goto(web + "/locator")
    entry = public.locator("li.store", has_text=HOSTILE["outlet"])
    expect(entry).to_contain_text(HOSTILE["city"])
    expect(public.get_by_text(HOSTILE["state"], exact=True).first).to_be_visible()
    entry.locator(".show-on-map").click()
    expect(public.locator(".leaflet-popup-content")).to_contain_text(HOSTILE["outlet"])
    assert public.locator(".leaflet-popup-content").locator("img, script, svg").count() == 0
    entry.get_by_role("link").first.click()
    expect(public.get_by_role("heading", level=1)).to_have_text(HOSTILE["outlet"])
    store_html = requests.get(public.url, timeout=10).text
    assert "<img src=x" not in store_html and "<script>alert" not in store_html

    assert dialogs == []
    context.close()
