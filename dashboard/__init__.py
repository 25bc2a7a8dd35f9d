"""Franchise Dashboard: a realtime sales dashboard for franchise businesses on Frappe.

Two processes run this package, and share a core. The map, by who imports what:

The web process (`gunicorn 'dashboard:create_app()'`), this factory and:
  auth, views, tv, locator     the blueprints: logging in, manager pages, TVs, the public locator
  errors, formats, security    error pages and refusals, money/time formats, headers and CSP
  live, frames, socket_gate,   the live channel: Socket.IO rooms and replay, every client frame
  direct_websocket             checked, who may open a socket, WebSockets served directly
  sessions, body_deadline      server-side sessions, slow request bodies
The bridge process (`python -m dashboard.bridge`):
  bridge, sources, lease       Frappe's realtime events into outlet rooms: its loop, where it
                               hears Frappe (Redis or Socket.IO), which of several bridges leads
  reconcile, quiet             totals re-read after a rush, outlets gone quiet
Both (the shared core):
  config, logs, redis_client   settings, log format, our Redis (or its Sentinels)
  frappe                       the Frappe client (a person's sid, or the service account)
  cache, throttle, extensions  the shared cache, attempt limits, Flask extension objects
  metrics                      Prometheus counters (each process counts; the web serves /metrics)
  outlets, tills, pace,        who may read which outlet and its figures, royalty and territories
  network, displays
  channel, feed, events        the wire contract between bridge and web, the live feed, events
"""

import hashlib
from datetime import timedelta
from importlib import metadata
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import (
    auth,
    config,
    errors,
    formats,
    live,
    locator,
    logs,
    metrics,
    redis_client,
    security,
    sessions,
    tv,
    views,
)
from .body_deadline import BodyDeadline
from .cache import SharedCache
from .displays import Displays
from .extensions import csrf, limiter, server_session
from .feed import Feed
from .frappe import FrappeClient
from .locator import Locator
from .outlets import Outlets
from .throttle import Throttle

SESSION_LIFETIME = timedelta(days=7)  # Frappe's own default session_expiry is 170 hours


def create_app(settings: config.Settings | None = None) -> Flask:
    settings = settings or config.load_or_exit()
    logs.configure(settings)
    limiter_uri, limiter_options = redis_client.limiter_storage(
        settings.redis_url, settings.redis_max_connections
    )
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=64 * 1024,
        SESSION_TYPE="redis",
        SESSION_REDIS=redis_client.connect(
            settings.redis_url, max_connections=settings.redis_max_connections
        ),
        SESSION_KEY_PREFIX="session:",
        SESSION_PERMANENT=True,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        SESSION_COOKIE_NAME="fd_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        RATELIMIT_STORAGE_URI=limiter_uri,
        RATELIMIT_STORAGE_OPTIONS=limiter_options,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,  # limits hold while our Redis is away
    )
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.extensions["settings"] = settings
    app.extensions["frappe"] = frappe = FrappeClient(settings)
    cache = SharedCache.for_settings(app.config["SESSION_REDIS"], settings)
    app.extensions["feed"] = feed = Feed(app.config["SESSION_REDIS"])
    app.extensions["outlets"] = Outlets(frappe, cache, settings, feed)
    app.extensions["displays"] = Displays(app.config["SESSION_REDIS"])
    app.extensions["throttle"] = Throttle(app.config["SESSION_REDIS"])
    app.extensions["locator"] = Locator(frappe, cache, settings)
    app.config["APP_VERSION"] = settings.app_version or app_version()

    server_session.init_app(app)
    sessions.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    live.init_app(app, settings)
    app.wsgi_app = BodyDeadline(app.wsgi_app, settings.request_body_seconds)

    app.context_processor(lambda: {"manager": auth.current_manager()})
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(tv.bp)
    app.register_blueprint(locator.bp)
    errors.init_app(app)
    formats.init_app(app, settings)
    security.init_app(app, settings)
    metrics.init_app(app)
    return app


def app_version() -> str:
    """The package version and a digest of what browsers load: TVs reload when it changes."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted([*package.glob("static/*.*"), *package.glob("templates/*.html")]):
        digest.update(path.read_bytes())
    return f"{metadata.version('franchise-dashboard')}+{digest.hexdigest()[:10]}"
