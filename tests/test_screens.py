"""What users see at a phone's, a desktop's and a TV's size: every figure on screen, nothing to
scroll sideways, accessible, usable from the keyboard."""

import pytest
from playwright.sync_api import expect

from .conftest import ROOT, FrappeHTTP, start_frappe_sim, stop, web_login
from .test_browser import log_in, submit
from .test_live import submit_sale
from .test_tv import pair_head_office_tv, pair_in_browser, pair_over_http

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 800}
LOADING = "…"  # a figure not in yet, in a row marked aria-busy

# Elements that lie (partly) outside the viewport's width, or are cut by a box that scrolls.
OFF_SCREEN = """(selector) => {
  const width = document.documentElement.clientWidth;
  const clipped = (element, rect) => {
    for (let box = element.parentElement; box; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (style.overflowX === "visible" && style.overflowY === "visible") continue;
      const outer = box.getBoundingClientRect();
      if (rect.left < outer.left - 1 || rect.right > outer.right + 1) return true;
      if (rect.top < outer.top - 1 || rect.bottom > outer.bottom + 1) return true;
    }
    return false;
  };
  return Array.from(document.querySelectorAll(selector))
    .filter((element) => element.getClientRects().length)
    .filter((element) => {
      const rect = element.getBoundingClientRect();
      return rect.left < 0 || rect.right > width + 1 || clipped(element, rect);
    })
    .map((element) => element.outerHTML.slice(0, 120));
}"""

FIGURES = (
    "[data-figure], [data-total], [data-field], .sale strong, table.items td, .who, .logout button"
)


def assert_fits(page, selector=FIGURES):
    sideways = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert sideways <= 0, f"{page.url} scrolls sideways by {sideways}px"
    assert page.evaluate(OFF_SCREEN, selector) == [], page.url


@pytest.fixture
def paired_manager(browser, web_server):
    """A browser context of manager1, with a TV paired to OUTLET-001."""
    pair_over_http(web_server, web_login(web_server, "manager1@example.com", "manager1"))
    return web_server


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_figure_is_on_screen(browser, web_server, bridge, frappe_http, paired_manager, size):
    context = browser.new_context(viewport=size)
    page = log_in(context.new_page(), web_server, "Administrator", "admin")
    expect(page.get_by_test_id("who")).to_be_visible()
    expect(page.locator("tr[aria-busy]")).to_have_count(0)
    assert_fits(page)
    page.goto(web_server + "/outlets/OUTLET-001")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    invoice = submit(frappe_http, "OUTLET-001", [{"item_code": "MUFFIN-01", "qty": 2}])
    expect(page.locator(f'li.sale[data-invoice="{invoice}"]')).to_be_visible(timeout=3000)
    assert_fits(page)
    page.goto(web_server + "/outlets/OUTLET-001/displays")
    expect(page.locator("tr[data-display]").first).to_be_visible()
    assert_fits(page, FIGURES + ", .displays td, .displays button")
    page.goto(web_server + "/displays")  # head office's fleet
    expect(page.locator("tr[data-display]").first).to_be_visible()
    assert_fits(page, FIGURES + ", .displays td")
    page.goto(web_server + "/locator")
    expect(page.locator(".store").first).to_be_visible()
    assert_fits(page, ".store, .store *")
    context.close()


@pytest.fixture
def fresh_outlet(make_stack, frappe_redis_url):
    """A stack on its own demo Frappe with an outlet that has sold nothing yet (BENCH-0000)."""
    frappe_redis = frappe_redis_url.rsplit("/", 1)[0] + "/3"
    url, frappe = start_frappe_sim(frappe_redis, "--extra-outlets", "1")
    stack = make_stack(on_frappe=url, frappe_redis=frappe_redis)
    stack.frappe_http = FrappeHTTP(url)
    yield stack
    stop(frappe)


def test_the_longest_names_a_sale_may_carry_still_fit_a_phone(browser, fresh_outlet):
    """Frappe names documents with up to 140 characters and items with more, spaces optional;
    a sale carrying such names (and a huge total) must not push the page sideways."""
    from .test_live import frappe_sale, publish_raw

    total = 999_999_999_999.99
    items = [{"item": "Y" * 200, "qty": 1, "amount": total}]
    sale = frappe_sale("BENCH-0000", invoice="SINV-" + "9" * 135, grand_total=total, items=items)
    page = log_in(browser.new_context(viewport=PHONE).new_page(), fresh_outlet.web_url,
                  "Administrator", "admin")  # fmt: skip
    page.goto(fresh_outlet.web_url + "/outlets/BENCH-0000")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    publish_raw(fresh_outlet.frappe_redis_url, sale)
    shown = page.locator(f'li.sale[data-invoice="{sale["message"]["invoice"]}"]')
    expect(shown).to_be_visible(timeout=3000)
    assert_fits(page, FIGURES + ", .sale *")
    page.context.close()


def test_a_first_sale_replaces_the_empty_state(browser, fresh_outlet):
    page = log_in(browser.new_page(), fresh_outlet.web_url, "Administrator", "admin")
    page.goto(fresh_outlet.web_url + "/outlets/BENCH-0000")
    expect(page.get_by_test_id("zero-state")).to_be_visible()
    expect(page.locator("#live-feed-empty")).to_be_visible()
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    submit_sale(fresh_outlet.frappe_http, "BENCH-0000", [{"item_code": "MUFFIN-01", "qty": 3}])
    expect(page.get_by_test_id("zero-state")).to_be_hidden(timeout=3000)
    expect(page.locator("#live-feed-empty")).to_be_hidden()
    top = page.locator("#top-items-rows tr").first
    expect(top).to_contain_text("Blueberry Muffin")
    expect(top.locator("td").nth(1)).to_have_text("3")
    expect(page.locator('[data-figure="invoice_count"]')).to_have_text("1")
    expect(page.locator('[data-figure="total_sales"]')).to_have_text("₹450.00")
    page.context.close()


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


# Every animation that ends has ended (a TV's slow drift never does).
SETTLED = (
    "() => document.getAnimations().every((a) => a.playState !== 'running'"
    " || a.effect.getTiming().iterations === Infinity)"
)


def axe_problems(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    # Colours are measured as they end, not halfway through a new sale's fade-in.
    page.wait_for_function(SETTLED)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_pages_pass_axe(browser, web_server, bridge, frappe_http, paired_manager, size):
    problems = []
    # axe-core goes in as a script of the test's own: our CSP would refuse it.
    context = browser.new_context(viewport=size, bypass_csp=True)
    page = context.new_page()
    page.goto(web_server + "/login")
    problems += axe_problems(page)
    log_in(page, web_server, "manager1@example.com", "manager1")
    expect(page.locator("tr[aria-busy]")).to_have_count(0)
    problems += axe_problems(page)
    page.goto(web_server + "/outlets/OUTLET-001")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    invoice = submit(frappe_http, "OUTLET-001", [{"item_code": "MUFFIN-01", "qty": 1}])
    expect(page.locator(f'li.sale[data-invoice="{invoice}"]')).to_be_visible(timeout=3000)
    problems += axe_problems(page)
    page.goto(web_server + "/outlets/OUTLET-001/displays")
    problems += axe_problems(page)
    page.goto(web_server + "/displays")
    problems += axe_problems(page)
    for path in ("/outlets/Lake%20View", "/outlets/OUTLET-001?period=monthly", "/no/such/page"):
        page.goto(web_server + path)  # suspended, the month, not found
        if page.locator("#live-badge").count():  # subscribed, its sales drawn and slid in
            expect(page.locator("#live-badge")).to_have_attribute("data-state", "live")
            page.wait_for_function("() => document.getAnimations().length === 0")
        problems += axe_problems(page)
    page.goto(web_server + "/locator")
    expect(page.locator(".store").first).to_be_visible()
    problems += axe_problems(page)
    page.goto(web_server + "/locator/station-road-express")
    problems += axe_problems(page)
    tv = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True).new_page()
    tv.goto(web_server + "/tv")
    problems += axe_problems(tv)
    pair_in_browser(page, tv, web_server)
    problems += axe_problems(tv)
    tv.evaluate(GO_OFFLINE)
    problems += axe_problems(tv)
    assert problems == [], "\n".join(problems)
    tv.context.close()
    context.close()


def tab_to(page, selector: str, most: int = 40):
    """Press Tab until `selector` has the focus, as a keyboard user would."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never had the focus on {page.url}")


def test_keyboard_only_login_and_navigation(browser, web_server):
    page = browser.new_page()
    page.goto(web_server + "/login")
    tab_to(page, "input[name=usr]")
    page.keyboard.type("manager1@example.com")
    tab_to(page, "input[name=pwd]")
    page.keyboard.type("manager1")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your outlets")).to_be_visible()
    tab_to(page, "button[data-sort=total_sales]")
    page.keyboard.press("Enter")
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Sales today")
    tab_to(page, 'a[href="/outlets/OUTLET-001"]')
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("outlet-name")).to_have_text("Downtown Outlet")
    tab_to(page, 'a[href$="period=monthly"]')
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="This month")).to_have_attribute("aria-current", "page")
    tab_to(page, 'a[href$="/displays"]')
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Displays for Downtown Outlet")).to_be_visible()
    tab_to(page, ".logout button")
    # The focus is shown where it is.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    page.context.close()


TV_SIZES = {
    "landscape": (1920, 1080), "portrait": (1080, 1920), "720p": (1280, 720),
    "4k": (3840, 2160), "phone": (390, 844), "phone-landscape": (844, 390),
}  # fmt: skip
# Everything a TV shows, each box on screen, its text whole, and no two overlapping.
TV_PARTS = (
    "#tv-outlet, .tv-when, #tv-banner, #tv-total, #tv-pace, #tv-invoices, #tv-avg, #tv-top li, "
    "#tv-ticker li, .tv-foot, #pairing-code, .pairing-qr, .tv-hint, #tv-territories tr"
)
LAYOUT = """(selector) => {
  const parts = Array.from(document.querySelectorAll(selector))
    .filter((element) => element.getClientRects().length && !element.closest("[hidden]"));
  const name = (element) => element.id || element.className || element.tagName;
  const problems = [];
  for (const element of parts) {
    const r = element.getBoundingClientRect();
    if (r.left < -1 || r.top < -1 || r.right > innerWidth + 1 || r.bottom > innerHeight + 1)
      problems.push(`${name(element)} off screen: ${element.textContent.trim().slice(0, 30)}`);
    if (element.scrollWidth > element.clientWidth + 1)
      problems.push(`${name(element)} cut: ${element.textContent.trim().slice(0, 30)}`);
  }
  parts.forEach((a, i) => parts.slice(i + 1).forEach((b) => {
    if (a.contains(b) || b.contains(a)) return;
    const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
    const overlap = Math.min(p.right, q.right) - Math.max(p.left, q.left) > 1
      && Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top) > 1;
    if (overlap && !(a.id === "tv-banner" || b.id === "tv-banner"))
      problems.push(`${name(a)} overlaps ${name(b)}`);
    if (overlap && (a.id === "tv-banner" || b.id === "tv-banner")) {
      const other = a.id === "tv-banner" ? b : a;  // the banner lies over stale sales only
      if (!other.closest("#tv-ticker")) problems.push(`the offline banner covers ${name(other)}`);
    }
  }));
  return problems;
}"""
GO_OFFLINE = """() => {
  const banner = document.getElementById("tv-banner");
  banner.hidden = false;
  banner.textContent = "Offline since 12:03 — figures as of 12:02";
  document.querySelector("[data-tv], [data-tv-network]").classList.add("dimmed");
}"""


def tv_page(browser, web_url, tv_http, size):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    if tv_http is not None:
        context.add_cookies(
            [{"name": c.name, "value": c.value, "url": web_url, "httpOnly": True}
             for c in tv_http.cookies]
        )  # fmt: skip
    page = context.new_page()
    page.goto(web_url + "/tv")
    return page


def test_tvs_fit_every_screen_they_are_mounted_on(browser, web_server, bridge, frappe_http):
    """Landscape, portrait (a menu board), 720p to 4K and a phone either way: every figure
    whole, on screen and apart, live, offline and customer-facing; the pairing code too."""
    manager = web_login(web_server, "manager1@example.com", "manager1")
    tvs = {
        "TV": pair_over_http(web_server, manager, label="Fit TV"),
        "customer TV": pair_over_http(web_server, manager, label="Fit public", public=True),
        "head-office TV": pair_head_office_tv(  # every outlet: four territories
            web_server, web_login(web_server, "Administrator", "admin"), label="Fit wall"
        ),
    }
    codes = ("CAKE-01", "TEA-01", "COFFEE-02", "MUFFIN-01", "FRIES-01", "SALAD-01", "WRAP-01")
    for code in codes:  # a long day: large numbers, a full ticker
        submit(frappe_http, "OUTLET-001", [{"item_code": code, "qty": 40}])
    problems = {}
    for size_name, size in TV_SIZES.items():
        for kind, tv_http in tvs.items():
            page = tv_page(browser, web_server, tv_http, size)
            if kind == "head-office TV":
                expect(page.locator("#tv-total")).not_to_have_text("…", timeout=20_000)
            else:
                expect(page.locator("#tv-top li")).to_have_count(5, timeout=10_000)
            expect(page.locator("#tv-ticker li").first).to_be_visible(timeout=10_000)
            page.wait_for_function(SETTLED)  # the newest line's arrival has played
            problems[f"{kind} {size_name} live"] = page.evaluate(LAYOUT, TV_PARTS)
            page.evaluate(GO_OFFLINE)
            problems[f"{kind} {size_name} offline"] = page.evaluate(LAYOUT, TV_PARTS)
            page.context.close()
        pairing = tv_page(browser, web_server, None, size)
        expect(pairing.locator("#pairing-code")).to_be_visible()
        problems[f"pairing {size_name}"] = pairing.evaluate(LAYOUT, TV_PARTS)
        pairing.context.close()
    problems = {name: found for name, found in problems.items() if found}
    assert problems == {}, "\n".join(f"{name}: {found}" for name, found in problems.items())


def test_a_tv_on_a_day_without_sales_says_so_on_every_screen(browser, fresh_outlet):
    """Before the first sale a TV says there is none yet (not blank lists), in every shape, and
    the first sale replaces the notices."""
    admin = web_login(fresh_outlet.web_url, "Administrator", "admin")
    tvs = {
        "TV": pair_over_http(fresh_outlet.web_url, admin, outlet="BENCH-0000", label="Empty"),
        "customer TV": pair_over_http(
            fresh_outlet.web_url, admin, outlet="BENCH-0000", label="Empty public", public=True
        ),
    }
    problems = {}
    for size_name, size in TV_SIZES.items():
        for kind, tv_http in tvs.items():
            page = tv_page(browser, fresh_outlet.web_url, tv_http, size)
            expect(page.locator("#tv-ticker-none")).to_have_text("No sales yet today")
            expect(page.locator("#tv-top-none")).to_have_text("None yet today")
            problems[f"{kind} {size_name}"] = page.evaluate(LAYOUT, TV_PARTS + ", .tv-none")
            page.context.close()
    problems = {name: found for name, found in problems.items() if found}
    assert problems == {}, "\n".join(f"{name}: {found}" for name, found in problems.items())
    page = tv_page(browser, fresh_outlet.web_url, tvs["TV"], TV_SIZES["portrait"])
    expect(page.locator("#tv-state")).to_have_attribute("data-state", "live", timeout=10_000)
    submit_sale(fresh_outlet.frappe_http, "BENCH-0000", [{"item_code": "MUFFIN-01", "qty": 3}])
    expect(page.locator("#tv-ticker li")).to_have_count(1, timeout=5000)
    expect(page.locator("#tv-ticker-none")).to_be_hidden()
    expect(page.locator("#tv-top-none")).to_be_hidden()
    expect(page.locator("#tv-top li")).to_have_text("Blueberry Muffin3")
    page.context.close()


def test_the_overview_totals_wait_for_every_outlet(browser, make_stack, frappe_http):
    """While an outlet's figures have not come (Frappe slow, nothing cached), the totals row
    does not claim to be all the outlets: it says it is loading, and adds up once all are in."""
    stack = make_stack()
    http = web_login(stack.web_url, "manager2@example.com", "manager2")
    assert http.get(f"{stack.web_url}/api/outlets/OUTLET-002/summary", timeout=10).ok  # cached
    context = browser.new_context()  # logged in as `http` is: no page has asked for OUTLET-003
    context.add_cookies(
        [{"name": c.name, "value": c.value, "url": stack.web_url, "httpOnly": True}
         for c in http.cookies]
    )  # fmt: skip
    frappe_http.as_service("POST", "/api/method/frappe_sim.set_delay", json={"seconds": 4})
    try:
        page = context.new_page()
        page.goto(stack.web_url + "/")
        row = page.locator('tr[data-outlet="OUTLET-002"] [data-field=total_sales]')
        expect(row).not_to_have_text(LOADING, timeout=10_000)
        page.wait_for_timeout(1000)
        # A placeholder says it is loading, to a screen reader too (its row is aria-busy).
        waiting = page.locator('tr[data-outlet="OUTLET-003"]')
        expect(waiting.locator("[data-field=total_sales]")).to_have_text(LOADING)
        expect(waiting).to_have_attribute("aria-busy", "true")
        expect(page.locator('tr[data-outlet="OUTLET-002"]')).not_to_have_attribute(
            "aria-busy", "true"
        )
        expect(page.locator("tfoot [data-total=total_sales]")).to_have_text(LOADING)
        expect(page.locator("#figures-as-of")).to_have_text("Loading: 1 of 2 outlets in")
    finally:
        frappe_http.as_service("POST", "/api/method/frappe_sim.set_delay", json={"seconds": 0})
    expect(page.locator("#figures-as-of")).to_contain_text("2 outlets · as of", timeout=15_000)
    expect(page.locator("tfoot [data-total=total_sales]")).not_to_have_text(LOADING)
    page.context.close()


def test_the_pace_total_compares_like_with_like(browser, web_server, bridge, frappe_http):
    """An outlet that sold nothing last week by now has no pace, and its sales stay out of the
    total's pace (they would compare against nothing)."""
    page = log_in(browser.new_context().new_page(), web_server, "Administrator", "admin")
    expect(page.locator("#live-badge")).to_have_attribute("data-state", "live", timeout=10_000)
    submit(frappe_http, "Old Harbour", [{"item_code": "CAKE-01", "qty": 40}])  # closed: no history
    old = page.locator('tr[data-outlet="Old Harbour"]')
    expect(old.locator("[data-field=invoice_count]")).not_to_have_text("0", timeout=5000)
    expect(old.locator("[data-field=pace]")).to_have_text("—")
    # Every outlet in, so that the totals row is drawn (it waits for all of them).
    expect(page.locator("tfoot [data-total=pace]")).not_to_have_text(LOADING, timeout=20_000)
    shown = page.evaluate("""() => {
      const rows = Array.from(document.querySelectorAll("tbody tr[data-outlet]"))
        .filter((row) => row.dataset.pace !== undefined);
      const sum = (key) => rows.reduce((total, row) => total + Number(row.dataset[key]), 0);
      return {ratio: sum("paceToday") / sum("paceBefore") - 1, rows: rows.length,
              all: document.querySelectorAll("tbody tr[data-outlet]").length,
              total: document.querySelector("tfoot [data-total=pace]").textContent};
    }""")
    percent = round(shown["ratio"] * 100)
    sign = "+" if percent > 0 else "−" if percent < 0 else "±"
    assert shown["total"].startswith(f"{sign}{abs(percent)} %"), shown
    assert f"({shown['rows']} of {shown['all']})" in shown["total"]
    page.context.close()
