"""Security headers, set in one place for every response.

The Content-Security-Policy allows only our own scripts and styles, images from us and the
configured map tile server, and connections back to us (Socket.IO). Nothing may frame a page,
except the embeddable locator for the origins in LOCATOR_FRAME_ORIGINS.
"""

from urllib.parse import urlsplit

from flask import g, request, session

from .displays import DISPLAY_COOKIE


def allow_framing_by(origins) -> None:
    """Called by a view that may be framed by these origins (besides our own)."""
    g.frame_ancestors = " ".join(["'self'", *origins])


def init_app(app, settings) -> None:
    tiles = urlsplit(settings.tile_url)
    tile_origin = f"{tiles.scheme}://{tiles.netloc}"
    base = (
        "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; connect-src 'self'; "
        # Leaflet sets style attributes; no script may be inline.
        "style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: {tile_origin}; "
    )

    @app.after_request
    def security_headers(response):
        ancestors = g.get("frame_ancestors")
        response.headers["Content-Security-Policy"] = (
            base + "frame-ancestors " + (ancestors or "'none'")
        )
        if not ancestors:
            response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint != "static" and private_request():
            # A manager's or a TV's page must not come back from the cache after logging out
            # (Back showed the displays page with the manager's name); nor may a public page
            # asked with a session be kept by a shared cache: the answer refreshes its cookie.
            response.headers["Cache-Control"] = "no-store"
        return response


def private_request() -> bool:
    return "frappe_sid" in session or DISPLAY_COOKIE in request.cookies
