"""`python -m devtools.screenshots`: retake the README's screenshots from a running `make demo`.

`python -m devtools.screenshots --matrix DIR` instead renders every page in its states (live,
offline, empty, quiet, refused, customer-facing, pairing) at every screen size of SIZES into DIR,
to be looked at before a change to the screens is called done.

Pages are opened first, then a few POS sales are submitted to the demo Frappe, so the pictures
show sales that arrived live; the overview waits for the demo's quiet outlet to be marked. Map
tiles come from the internet, which the demo may not reach: the locator's are replaced by a
plain local stand-in (a light square with a grid).
"""

import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests
from playwright.sync_api import expect, sync_playwright

from .demo import SILENT_OUTLET

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


def logged_in(browser, viewport, user=("Administrator", "admin")):
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{WEB}/login")
    page.fill("input[name=usr]", user[0])
    page.fill("input[name=pwd]", user[1])
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Your outlets")).to_be_visible()
    return page


def pair_tv(browser, manager, public=False, outlet="OUTLET-001"):
    """A TV paired to `outlet`, or with outlet None a head-office TV of the manager's outlets."""
    tv = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    tv.goto(f"{WEB}/tv")
    code = tv.locator("#pairing-code").inner_text()
    if outlet is None:
        manager.goto(f"{WEB}/displays")
        manager.fill("input[name=code]", code)
        manager.fill("input[name=label]", "Head office wall")
        manager.get_by_role("button", name="Pair", exact=True).click()
        expect(tv.locator("#tv-total")).to_be_visible(timeout=5000)
        return tv
    manager.goto(f"{WEB}/outlets/{quote(outlet)}/displays?code={code}")
    manager.fill("form >> input[name=label] >> nth=0", "Front counter TV")
    if public:
        manager.check("form >> input[name=public_safe] >> nth=0")
    manager.get_by_role("button", name="Pair", exact=True).click()
    expect(tv.locator("#tv-total")).to_be_visible(timeout=5000)
    return tv


SIZES = {
    "phone": (390, 844), "phone-landscape": (844, 390), "desktop": (1366, 800),
    "tv": (1920, 1080), "tv-portrait": (1080, 1920), "tv-4k": (3840, 2160),
}  # fmt: skip
MANAGER_PAGES = {
    "overview": "/", "overview-month": "/?period=monthly",
    "overview-west-standard": "/?territory=West+India&type=Standard",
    "outlet": "/outlets/OUTLET-001",
    "outlet-month": "/outlets/OUTLET-001?period=monthly",
    "outlet-suspended": "/outlets/Lake%20View", "displays": "/outlets/OUTLET-001/displays",
    "fleet": "/displays", "not-found": "/no/such/page",
}  # fmt: skip
REFUSED = "/outlets/OUTLET-002/displays"  # manager1 may read OUTLET-001 only
PUBLIC_PAGES = {"login": "/login", "locator": "/locator", "pairing": "/tv"}


def matrix(out: Path) -> int:
    """Every page, in its states, at every size of SIZES, as PNG files in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        manager = logged_in(browser, {"width": 1366, "height": 800})
        tvs = {name: pair_tv(browser, manager, name == "customer") for name in ("tv", "customer")}
        tvs["quiet"] = pair_tv(browser, manager, outlet=SILENT_OUTLET)  # no sale yet today
        tvs["head-office"] = pair_tv(browser, manager, outlet=None)
        for items in SALES:
            sell("OUTLET-001", items)
        time.sleep(2)
        for size_name, (width, height) in SIZES.items():
            viewport = {"width": width, "height": height}
            page = browser.new_context(viewport=viewport).new_page()
            page.route("**/tile.openstreetmap.org/**", lambda route: route.fulfill(
                body=TILE, content_type="image/svg+xml"))  # fmt: skip
            for name, path in PUBLIC_PAGES.items():
                page.goto(WEB + path)
                time.sleep(1)
                page.screenshot(path=str(out / f"{name}-{size_name}.png"), full_page=True)
            page.context.close()
            page = logged_in(browser, viewport)
            for name, path in MANAGER_PAGES.items():
                page.goto(WEB + path)
                time.sleep(2)
                page.screenshot(path=str(out / f"{name}-{size_name}.png"), full_page=True)
            page.context.close()
            page = logged_in(browser, viewport, ("manager1@example.com", "manager1"))
            page.goto(WEB + REFUSED)
            page.screenshot(path=str(out / f"refused-{size_name}.png"), full_page=True)
            page.context.close()
            for name, tv in tvs.items():
                screen = tv_at(browser, tv, viewport)
                screen.screenshot(path=str(out / f"{name}-tv-live-{size_name}.png"))
                screen.context.set_offline(True)
                expect(screen.locator("#tv-banner")).to_be_visible(timeout=30_000)
                screen.screenshot(path=str(out / f"{name}-tv-offline-{size_name}.png"))
                screen.context.close()
        browser.close()
    print(f"{len(list(out.glob('*.png')))} screenshots in {out}")
    return 0


def tv_at(browser, tv, viewport):
    """The paired TV `tv` (a page) seen again at another size, with its display cookie."""
    context = browser.new_context(viewport=viewport)
    context.add_cookies(tv.context.cookies())
    screen = context.new_page()
    screen.goto(f"{WEB}/tv")
    expect(screen.locator("#tv-state[data-state=live]")).to_be_visible(timeout=15_000)
    time.sleep(1)
    return screen


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--matrix":
        return matrix(Path(sys.argv[2]))
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
        expect(desktop.locator("tr[aria-busy]")).to_have_count(0)
        print("waiting for Station Road Express to go quiet (a few minutes after the demo starts)")
        expect(desktop.locator(".quiet-mark:not([hidden])").first).to_be_visible(timeout=600_000)
        desktop.screenshot(path=str(DOCS / "overview.png"), full_page=True)
        expect(phone.locator("tr[aria-busy]")).to_have_count(0)
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
