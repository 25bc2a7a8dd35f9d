"""Franchise Dashboard: a realtime sales dashboard for franchise businesses on Frappe."""

import functools
import hashlib
import time
from datetime import date, datetime, timedelta
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo

import redis
import socketio as socketio_module
from babel import Locale
from babel.dates import format_date, format_time
from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix

from . import (
    auth,
    config,
    direct_websocket,
    frames,
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
from .auth import wants_json
from .body_deadline import BodyDeadline
from .cache import SharedCache
from .channel import MESSAGE_QUEUE_CHANNEL
from .displays import Displays
from .extensions import csrf, limiter, server_session, socketio
from .feed import Feed
from .frappe import FrappeClient, FrappeError, FrappeUnavailable
from .locator import Locator
from .outlets import Outlets
from .socket_gate import SocketGate
from .throttle import Throttle

RETRY_AFTER = 5  # seconds before a page Frappe (or our Redis) could not serve tries again
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
    # manage_session=False: socket handlers read the same server-side session as the pages.
    socketio.init_app(
        app,
        async_mode=settings.async_mode,
        client_manager=socketio_module.RedisManager(
            settings.redis_url,
            channel=MESSAGE_QUEUE_CHANNEL,
            # Room for a burst: a few hundred browsers connecting at once under gevent.
            redis_options=redis_client.socketio_options(
                settings.redis_url, settings.redis_max_connections
            ),
        ),
        manage_session=False,
        serializer=frames.CheckedPacket,  # a client's frames, checked before any handler
        # Our own origin only, plus any the settings add: no cross-site socket hijacking.
        cors_allowed_origins=list(settings.socket_origins) or None,
        # A socket that has not answered a ping within 20 s (or one interval, if shorter) is gone.
        ping_interval=settings.socket_ping_seconds,
        ping_timeout=min(20.0, settings.socket_ping_seconds),
    )
    direct_websocket.install(socketio.server.eio)
    live.init_app(app)
    app.wsgi_app = gate = SocketGate(
        app.wsgi_app,
        app.config["SESSION_REDIS"],
        settings,
        app.config["SESSION_COOKIE_NAME"],
        app.config["SESSION_KEY_PREFIX"],
    )
    gate.watch(socketio.server, settings.socket_connect_seconds)
    app.wsgi_app = BodyDeadline(app.wsgi_app, settings.request_body_seconds)

    app.context_processor(lambda: {"manager": auth.current_manager()})
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(tv.bp)
    app.register_blueprint(locator.bp)
    register_error_pages(app)
    register_formats(app, settings)
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


def register_formats(app: Flask, settings: config.Settings) -> None:
    """Money and numbers in the site's currency and locale, clock times in its time zone."""
    # Parsed once: Babel's format_* functions parse the locale and pattern on every call,
    # which the page profile showed as a tenth of an outlet page's time.
    locale = Locale.parse(settings.locale)
    money_pattern = locale.currency_formats["standard"]
    number_pattern = locale.decimal_formats[None]

    @app.template_filter("money")
    def money(value):
        return money_pattern.apply(value, locale, currency=settings.currency)

    @app.template_filter("quantity")
    def quantity(value):
        return number_pattern.apply(value, locale)

    @app.template_filter("clock")
    def clock(iso_time, zone):
        moment = datetime.fromisoformat(iso_time).astimezone(ZoneInfo(zone))
        return format_time(moment, "HH:mm:ss", locale=locale)

    @app.template_filter("day")
    def day(iso_date):
        return format_date(date.fromisoformat(iso_date), "d MMM", locale=locale)

    @app.template_filter("since")
    def since(moment, now):
        seconds = max(0, int(now - moment))
        if seconds < 60:
            return "just now"
        if seconds < 3600:
            return f"{seconds // 60} min ago"
        if seconds < 86400:
            return f"{seconds // 3600} h ago"
        return f"{seconds // 86400} days ago"

    app.jinja_env.globals.update(
        locale=settings.locale.replace("_", "-"),
        currency=settings.currency,
        site_time_zone=app.extensions["outlets"].time_zone,
    )


def refusal(status: int, error: str, message: str, page, retry_after: int):
    """A "not now" answer: JSON for the API, else the page `page()` renders; with Retry-After."""
    body = jsonify(error=error, message=message) if wants_json() else page()
    response = current_app.make_response(body)
    response.status_code = status
    response.headers["Retry-After"] = str(retry_after)
    return response


def register_error_pages(app: Flask) -> None:
    @app.errorhandler(FrappeUnavailable)
    def frappe_unavailable(exc):
        # The call goes on in the background and fills the cache: asking again soon may work.
        page = functools.partial(
            render_template, "error.html", title="Frappe is unreachable", message=exc.message,
            retry_after=RETRY_AFTER,
        )  # fmt: skip
        return refusal(503, "unavailable", exc.message, page, RETRY_AFTER)

    @app.errorhandler(redis.RedisError)
    def store_unavailable(_exc):
        app.logger.warning("our Redis is unreachable: %s %s", request.method, request.path)
        message = "The dashboard cannot reach its data store just now. Please try again shortly."
        # Not render_template: its context (the manager, the time zone) needs that store.
        page = functools.partial(
            app.jinja_env.get_template("unavailable.html").render, message=message
        )
        return refusal(503, "unavailable", message, page, RETRY_AFTER)

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(413)
    def client_error(exc):
        if wants_json():
            error = exc.name.lower().replace(" ", "_")
            return jsonify(error=error, message=exc.description), exc.code
        return render_template("error.html", title=exc.name, message=exc.description), exc.code

    @app.errorhandler(FrappeError)
    def frappe_error(exc):
        if wants_json():
            return jsonify(error="frappe_error", message=exc.message), 502
        return render_template("error.html", title="Frappe refused", message=exc.message), 502

    @app.errorhandler(429)
    def too_many_requests(_exc):
        current = limiter.current_limit
        retry_after = max(1, int(current.reset_at - time.time())) if current else 60
        message = f"Too many requests. Please try again in {retry_after} seconds."
        page = functools.partial(render_template, "error.html", title="Slow down", message=message)
        return refusal(429, "too_many_requests", message, page, retry_after)

    @app.errorhandler(500)
    def server_error(_exc):
        app.logger.error("unhandled error on %s %s", request.method, request.path)
        message = "Something went wrong on our side. Please try again."
        if wants_json():
            return jsonify(error="internal", message=message), 500
        return render_template("error.html", title="Error", message=message), 500
