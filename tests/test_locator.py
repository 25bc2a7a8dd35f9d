"""The public store locator: useful without JavaScript, gentle on Frappe, safe under load."""

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from playwright.sync_api import expect

from .conftest import ROOT, start_frappe_sim, start_web, stop

LOCATIONS = "GET /api/method/franchise_management.api.get_franchise_locations"


def active_names(frappe_http) -> set[str]:
    rows = frappe_http.request(
        "GET", "/api/method/franchise_management.api.get_franchise_locations"
    ).json()["message"]
    return {row["outlet_name"] for row in rows}


def test_list_works_without_javascript(web_server, frappe_http):
    page = requests.get(web_server + "/locator", timeout=10)
    assert page.status_code == 200 and "public" in page.headers["Cache-Control"]
    html = page.text
    for name in active_names(frappe_http) - {"Chai & Co. <Express>"}:
        assert f">{name}</a>" in html
    assert "Lake View" not in html and "Old Harbour" not in html  # Suspended, Closed
    assert "<h2>Maharashtra</h2>" in html and "<h3>Pune</h3>" in html
    # Names are text: the markup characters arrive escaped, never as markup.
    assert ">Chai &amp; Co. &lt;Express&gt;</a>" in html and "<Express>" not in html
    assert 'href="/locator/cafe-central"' in html
    station = re.search(r'<li class="store" id="store-station-road-express"[^>]*>', html).group(0)
    assert "data-lat" not in station  # no coordinates: listed, without a marker
    assert "google.com/maps/dir/?api=1&amp;destination=18.5204,73.8567" in html


def test_store_page_has_local_business_data(web_server):
    page = requests.get(web_server + "/locator/cafe-central", timeout=10).text
    data = json.loads(re.search(r'application/ld\+json">(.*?)</script>', page, re.S).group(1))
    assert data["@type"] == "LocalBusiness" and data["name"] == "Café Central"
    assert data["address"]["addressLocality"] == "Panaji"
    assert data["geo"] == {"@type": "GeoCoordinates", "latitude": 15.4909, "longitude": 73.8278}
    hostile = requests.get(web_server + "/locator/chai-co-express", timeout=10).text
    assert "<Express>" not in hostile and "\\u003cExpress\\u003e" in hostile
    assert requests.get(web_server + "/locator/nowhere", timeout=10).status_code == 404


def test_sitemap_lists_every_store(web_server, frappe_http):
    xml = requests.get(web_server + "/sitemap.xml", timeout=10)
    assert xml.headers["Content-Type"].startswith("application/xml")
    locations = re.findall(r"<loc>([^<]+)</loc>", xml.text)
    assert len(locations) == len(active_names(frappe_http)) + 1
    assert f"{web_server}/locator/cafe-central" in locations


def test_locations_json_geojson_and_etag(web_server):
    first = requests.get(web_server + "/api/locations", timeout=10)
    stores = first.json()["stores"]
    assert {"name", "slug", "city", "state", "lat", "lng"} == set(stores[0])
    assert first.headers["ETag"] and "max-age" in first.headers["Cache-Control"]
    again = requests.get(
        web_server + "/api/locations", headers={"If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304
    geo = requests.get(web_server + "/api/locations?format=geojson", timeout=10).json()
    assert geo["type"] == "FeatureCollection"
    assert len(geo["features"]) == sum(1 for s in stores if s["lat"] is not None)
    assert geo["features"][0]["geometry"]["type"] == "Point"


def test_only_allowed_origins_may_frame_the_embed(make_app):
    client = make_app(LOCATOR_FRAME_ORIGINS="https://www.franchise.example").test_client()
    embed = client.get("/locator?embed=1")
    assert embed.headers["Content-Security-Policy"].endswith(
        "frame-ancestors 'self' https://www.franchise.example"
    )
    assert "X-Frame-Options" not in embed.headers
    assert 'class="topbar"' not in embed.get_data(as_text=True)
    plain = client.get("/locator")
    assert plain.headers["X-Frame-Options"] == "DENY"
    policy = plain.headers["Content-Security-Policy"]
    assert policy.endswith("frame-ancestors 'none'") and "script-src 'self';" in policy
    assert "img-src 'self' data: http://127.0.0.1:9;" in policy  # the tile server
    assert make_app().test_client().get("/locator?embed=1").headers["X-Frame-Options"] == "DENY"


def test_public_pages_are_rate_limited(make_app):
    client = make_app(LOCATOR_RATE_LIMIT="3 per minute").test_client()
    statuses = [client.get("/api/locations").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/locator")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many requests" in limited.get_data(as_text=True)


def test_frappe_down_keeps_serving_the_last_list(make_app, frappe_redis_url):
    url, sim = start_frappe_sim(frappe_redis_url)
    app = make_app(FRAPPE_URL=url, LOCATOR_CACHE_SECONDS="0.1")
    client = app.test_client()
    assert client.get("/locator").status_code == 200
    assert client.get("/healthz").get_json()["locator"]["status"] == "ok"
    stop(sim)
    threading.Event().wait(0.2)  # let the 0.1 s cache lapse
    page = client.get("/locator")
    assert page.status_code == 200 and "Café Central" in page.get_data(as_text=True)
    assert client.get("/healthz").get_json()["locator"]["status"] == "stale"


def test_no_list_at_all_is_a_clear_503(make_app):
    client = make_app(FRAPPE_URL="http://127.0.0.1:9").test_client()
    page = client.get("/locator")
    assert page.status_code == 503 and "unavailable right now" in page.get_data(as_text=True)


def test_frappe_is_asked_once_under_200_concurrent_visitors(frappe_url, redis_url, frappe_http):
    import redis

    web_url, web = start_web(frappe_url, redis_url, LOCATOR_RATE_LIMIT="1000 per minute")
    try:
        redis.Redis.from_url(redis_url).delete("cache:locations")
        counts = "/api/method/frappe_sim.call_counts"
        before = frappe_http.as_service("GET", counts).json()["message"].get(LOCATIONS, 0)
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(
                pool.map(
                    lambda _: requests.get(web_url + "/locator", timeout=30).status_code,
                    range(200),
                )
            )
        after = frappe_http.as_service("GET", counts).json()["message"][LOCATIONS]
        assert statuses == [200] * 200
        assert after - before == 1
    finally:
        stop(web)


def test_search_and_near_me_in_the_browser(browser, web_server):
    context = browser.new_context(
        geolocation={"latitude": 18.5314, "longitude": 73.8446},  # central Pune
        permissions=["geolocation"],
        locale="en-IN",
    )
    page = context.new_page()
    page.goto(web_server + "/locator")
    visible = page.locator("li.store:visible")
    total = visible.count()
    page.fill("#store-search", "cafe")  # no accent typed
    expect(visible).to_have_count(1)
    expect(visible.first).to_contain_text("Café Central")
    expect(page.locator("#locator-status")).to_have_text(f"1 of {total} stores shown")
    # Only the headings above what is shown: Goa and Panaji, not Margao's empty heading.
    expect(page.locator("#store-list h3:visible")).to_have_text(["Panaji"])
    page.fill("#store-search", "PUNE")
    expect(visible).to_have_count(2)
    page.fill("#store-search", "")
    expect(visible).to_have_count(total)

    page.get_by_role("button", name="Near me").click()
    first = page.locator("ol.nearest li.store").first
    expect(first).to_contain_text("Mall Outlet")
    expect(first.locator(".store-distance")).to_have_text(re.compile(r"^\d+(\.\d)? km$"))
    expect(page.locator("ol.nearest li.store").nth(1)).to_contain_text("Koregaon Park")
    expect(page.locator("#locator-status")).to_contain_text("Nearest first: Mall Outlet")
    # The tiles cannot load here: the map says so and the list goes on working.
    expect(page.locator(".map-note")).to_contain_text("The list of stores below still works")
    station = page.locator("#store-station-road-express")
    expect(station.locator(".show-on-map")).to_have_count(0)
    page.locator("#store-cafe-central .show-on-map").click()
    expect(page.locator(".leaflet-popup-content")).to_contain_text("Café Central")
    page.set_viewport_size({"width": 1200, "height": 900})
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "test-artifacts" / "locator.png"))
    context.close()


def test_no_active_stores_says_so(make_app, redis_url):
    import time

    import redis

    app = make_app()
    empty = json.dumps({"value": [], "at": time.time()})  # Frappe's answer: no active outlet
    redis.Redis.from_url(redis_url).set("cache:locations", empty)
    page = app.test_client().get("/locator")
    assert page.status_code == 200 and "No stores yet" in page.get_data(as_text=True)


def test_rows_frappe_sends_are_checked():
    from dashboard.locator import clean_locations

    stores = clean_locations(
        [
            {"outlet_name": "A", "city": "X", "state": "Y", "custom_latitude": 0,
             "custom_longitude": 0},
            {"outlet_name": "B", "custom_latitude": "12.9", "custom_longitude": 77.5},
            {"outlet_name": "C", "custom_latitude": 95.0, "custom_longitude": 10.0},
            {"outlet_name": "D", "custom_latitude": float("nan"), "custom_longitude": 1.0},
            {"outlet_name": "E", "custom_latitude": 12.9, "custom_longitude": 77.5},
            {"outlet_name": "E", "custom_latitude": 13.0, "custom_longitude": 77.6},
            {"outlet_name": "", "city": "nameless"},
            "not a row",
        ]
    )  # fmt: skip
    by_slug = {s["slug"]: s for s in stores}
    assert [by_slug[k]["lat"] for k in ("a", "b", "c", "d")] == [None] * 4
    assert by_slug["e"]["lat"] == 12.9 and by_slug["e-2"]["lat"] == 13.0
    assert len(stores) == 6


def test_public_pages_lead_to_the_stores_not_the_staff_login(make_app):
    client = make_app().test_client()
    listing = client.get("/locator").get_data(as_text=True)
    assert '<a class="brand" href="/locator">' in listing
    missing = client.get("/locator/nowhere-at-all")
    page = missing.get_data(as_text=True)
    assert missing.status_code == 404 and "There is no store at this address." in page
    assert '<a href="/locator">See the list of all stores</a>' in page
    assert 'href="/"' not in page  # nothing here leads to the staff login


def test_a_logged_in_manager_gets_the_same_public_page_never_cached_as_public(web_server):
    from .conftest import web_login

    manager = web_login(web_server, "Administrator", "admin")
    for path in ("/locator", "/locator/cafe-central", "/api/locations"):
        answer = manager.get(web_server + path, timeout=10)
        assert answer.status_code == 200
        # Their session cookie is refreshed on the answer: no shared cache may keep it.
        assert "public" not in answer.headers["Cache-Control"], path
        assert "Log out" not in answer.text and "Administrator" not in answer.text, path
    anonymous = requests.get(web_server + "/locator", timeout=10)
    assert anonymous.headers["Cache-Control"] == "public, max-age=60"
    assert "Set-Cookie" not in anonymous.headers
