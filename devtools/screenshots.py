"""`python -m devtools.screenshots`: retake the README's screenshots from a running `make demo`.

Pages are opened first, then a few POS sales are submitted to the demo Frappe, so the pictures
show sales that arrived live; the overview waits for the demo's quiet outlet to be marked. Map
tiles come from the internet, which the demo may not reach: the locator's are replaced by a
plain local stand-in (a light square with a grid).
"""

import sys
import time
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
WEB = "http://127.0.0.1:5000"
FRAPPE = "http://127.0.0.1:8000"
SERVICE = {
    "Authorization": "token demo_api_key:demo_api_secret",
    "Accept": "application/json",
    "X-Frappe-Site-Name": "demo.localhost",
}
SALES = [
    [{"item_code": "COFFEE-02", "qty": 2}, {"item_code": "CAKE-01", "qty": 1}],
    [{"item_code": "SANDWICH-01", "qty": 3}],
    [{"item_code": "TEA-01", "qty": 4}, {"item_code": "MUFFIN-01", "qty": 2}],
]
TILE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256">'
    '<rect width="256" height="256" fill="#eef2f5"/>'
    '<path d="M0 .5H256M.5 0V256" stroke="#d5dde4"/></svg>'
)


def sell(outlet: str, items: list) -> None:
    response = requests.post(
        f"{FRAPPE}/api/method/frappe_sim.submit_pos_invoice",
        json={"outlet": outlet, "items": items},
        headers=SERVICE,
        timeout=10,
    )
    response.raise_for_status()


def logged_in(browser, viewport):
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{WEB}/login")
    page.fill("input[name=usr]", "Administrator")
    page.fill("input[name=pwd]", "admin")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Your outlets")).to_be_visible()
    return page


def pair_tv(browser, manager):
    tv = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    tv.goto(f"{WEB}/tv")
    code = tv.locator("#pairing-code").inner_text()
    manager.goto(f"{WEB}/outlets/OUTLET-001/displays?code={code}")
    manager.fill("form >> input[name=label] >> nth=0", "Front counter TV")
    manager.get_by_role("button", name="Pair", exact=True).click()
    expect(tv.locator("#tv-total")).to_be_visible(timeout=5000)
    return tv


def main() -> int:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        desktop = logged_in(browser, {"width": 1366, "height": 800})
        tv = pair_tv(browser, desktop)
        phone = logged_in(browser, {"width": 390, "height": 844})
        desktop.goto(f"{WEB}/outlets/OUTLET-001")
        for page in (desktop, tv):
            expect(page.locator("[data-state=live]")).to_be_visible(timeout=15_000)
        for items in SALES:
            sell("OUTLET-001", items)
            time.sleep(1.5)  # one after another, as a till would
        time.sleep(1)
        desktop.screenshot(path=str(DOCS / "outlet-page.png"))
        tv.screenshot(path=str(DOCS / "tv.png"))
        desktop.goto(WEB + "/")
        expect(desktop.locator("td[data-field=total_sales] .loading")).to_have_count(0)
        print("waiting for Station Road Express to go quiet (a few minutes after the demo starts)")
        expect(desktop.locator(".quiet-mark:not([hidden])").first).to_be_visible(timeout=600_000)
        desktop.screenshot(path=str(DOCS / "overview.png"), full_page=True)
        expect(phone.locator("td[data-field=total_sales] .loading")).to_have_count(0)
        phone.screenshot(path=str(DOCS / "phone.png"))
        public = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
        public.route("**/tile.openstreetmap.org/**", lambda route: route.fulfill(
            body=TILE, content_type="image/svg+xml"))  # fmt: skip
        public.goto(f"{WEB}/locator")
        expect(public.locator(".leaflet-marker-icon, .marker-cluster").first).to_be_visible()
        time.sleep(1)
        public.screenshot(path=str(DOCS / "locator.png"))
        browser.close()
    print(f"Screenshots written to {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
