"""Absolute links to our own pages, for the sitemap, JSON-LD and kiosk links.

They are built from PUBLIC_URL, never from the request's Host header: a request with
`Host: evil.example` must not write that address into pages that are cached and shared.
"""

from flask import current_app, request, url_for


def external_url(endpoint: str, **values) -> str:
    base = current_app.extensions["settings"].public_url
    if not base:  # the demo only: this machine's own address
        base = request.host_url.rstrip("/")
    return base + url_for(endpoint, **values)
