"""The public store locator: Frappe's guest list of active outlets, cached and checked.

Public pages must never lean on Frappe per visitor: the list is fetched by one request at a time
into our Redis, refreshed every few minutes, and while Frappe is down the last good list is served
(for up to a day) with no error to the visitor.
"""

import hashlib
import json
import math
import re
import time
import unicodedata
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    render_template,
    request,
)

from .extensions import limiter
from .frappe import FrappeError
from .links import external_url
from .security import allow_framing_by

LOCATIONS_METHOD = "franchise_management.api.get_franchise_locations"
CACHE_KEY = "locations"
FAILING_KEY = "locator:failing_since"
MAX_TEXT = 140
MAX_OUTLETS = 5000

bp = Blueprint("locator", __name__)


def public_limit() -> str:
    return current_app.extensions["settings"].locator_rate_limit


# One budget per address across every public page.
limiter.shared_limit(public_limit, scope="public")(bp)


# -- the list -----------------------------------------------------------------------------------


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "outlet"


def coordinate(value, limit: float) -> float | None:
    """A usable coordinate, or None: missing, not a number, out of range, or Frappe's 0 default."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if -limit <= value <= limit and value != 0 else None


def text(value) -> str:
    return value.strip()[:MAX_TEXT] if isinstance(value, str) else ""


def clean_locations(raw) -> list[dict]:
    """Frappe's rows, checked: a named outlet stays in the list even without usable coordinates."""
    if not isinstance(raw, list):
        raise FrappeError("Frappe sent a store list we cannot read.")
    stores, slugs = [], set()
    for row in raw[:MAX_OUTLETS]:
        name = text(row.get("outlet_name")) if isinstance(row, dict) else ""
        if not name:
            continue
        lat, lng = (
            coordinate(row.get("custom_latitude"), 90),
            coordinate(row.get("custom_longitude"), 180),
        )
        if lat is None or lng is None:
            lat = lng = None
        slug, n = slugify(name), 2
        while slug in slugs:
            slug, n = f"{slugify(name)}-{n}", n + 1
        slugs.add(slug)
        stores.append(
            {"name": name, "slug": slug, "city": text(row.get("city")),
             "state": text(row.get("state")), "lat": lat, "lng": lng}
        )  # fmt: skip
    return sorted(stores, key=lambda s: (s["state"].lower(), s["city"].lower(), s["name"].lower()))


class Locator:
    def __init__(self, frappe, cache, settings):
        self.frappe = frappe
        self.cache = cache
        self.settings = settings

    def stores(self) -> list[dict]:
        return self.cache.get(
            CACHE_KEY, self.fetch, fresh_for=self.settings.locator_cache_seconds
        ).value

    def fetch(self) -> list[dict]:
        try:
            stores = clean_locations(self.frappe.call(LOCATIONS_METHOD))
        except FrappeError:
            self.cache.redis.set(FAILING_KEY, time.time(), nx=True)
            raise
        self.cache.redis.delete(FAILING_KEY)
        return stores

    def health(self) -> dict:
        """For /healthz: is the list we serve Frappe's latest answer?"""
        entry = self.cache.read(CACHE_KEY)
        if entry is None:
            return {"status": "empty", "as_of": None}
        failing = self.cache.redis.get(FAILING_KEY)
        return {"status": "stale" if failing else "ok", "as_of": entry.fetched_at}


def locator() -> Locator:
    return current_app.extensions["locator"]


def store_list() -> list[dict]:
    try:
        return locator().stores()
    except FrappeError:  # only when nothing was ever fetched: else the last list is served
        abort(503, description="The store list is unavailable right now. Please try again soon.")


def directions(store: dict) -> str:
    if store["lat"] is not None:
        return current_app.extensions["settings"].directions_url.format(
            lat=store["lat"], lng=store["lng"]
        )
    query = quote(", ".join(p for p in (store["name"], store["city"], store["state"]) if p))
    return f"https://www.openstreetmap.org/search?query={query}"


def tiles() -> dict:
    """The map's tile server, for the page's script."""
    settings = current_app.extensions["settings"]
    return {"url": settings.tile_url, "attribution": settings.tile_attribution}


def grouped(stores: list[dict]) -> list[tuple[str, list[tuple[str, list[dict]]]]]:
    states: dict[str, dict[str, list[dict]]] = {}
    for store in stores:
        states.setdefault(store["state"] or "Other", {}).setdefault(store["city"], []).append(store)
    return [(state, list(cities.items())) for state, cities in states.items()]


# -- pages ----------------------------------------------------------------------------------------


@bp.route("/locator")
def index():
    stores = store_list()
    embed = request.args.get("embed") == "1"
    origins = current_app.extensions["settings"].locator_frame_origins
    if embed and origins:
        allow_framing_by(origins)
    page = render_template(
        "locator.html",
        stores=stores,
        groups=grouped(stores),
        directions=directions,
        embed=embed,
        tiles=tiles(),
    )
    response = current_app.make_response(page)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.route("/locator/<slug>")
def store_page(slug):
    store = next((s for s in store_list() if s["slug"] == slug), None) if len(slug) < 200 else None
    if store is None:
        abort(404, description="There is no store at this address.")
    response = current_app.make_response(
        render_template(
            "store.html",
            store=store,
            directions=directions(store),
            json_ld=local_business(store),
            tiles=tiles(),
        )
    )
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def local_business(store: dict) -> dict:
    data = {
        "@context": "https://schema.org",
        "@type": "LocalBusiness",
        "name": store["name"],
        "url": external_url("locator.store_page", slug=store["slug"]),
        "address": {
            "@type": "PostalAddress",
            "addressLocality": store["city"],
            "addressRegion": store["state"],
        },
    }
    if store["lat"] is not None:
        data["geo"] = {"@type": "GeoCoordinates", "latitude": store["lat"],
                       "longitude": store["lng"]}  # fmt: skip
    return data


@bp.route("/api/locations")
def api_locations():
    stores = store_list()
    if request.args.get("format") == "geojson":
        body = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [s["lng"], s["lat"]]},
                    "properties": {k: s[k] for k in ("name", "slug", "city", "state")},
                }
                for s in stores
                if s["lat"] is not None
            ],
        }
    else:
        body = {"stores": stores}
    payload = json.dumps(body, separators=(",", ":"), sort_keys=True)
    response = Response(payload, content_type="application/json")
    response.set_etag(hashlib.sha256(payload.encode()).hexdigest()[:32])
    response.headers["Cache-Control"] = "public, max-age=60"
    return response.make_conditional(request)


@bp.route("/sitemap.xml")
def sitemap():
    urls = [external_url("locator.index")] + [
        external_url("locator.store_page", slug=s["slug"]) for s in store_list()
    ]
    xml = render_template("sitemap.xml", urls=urls)
    return Response(xml, content_type="application/xml")
