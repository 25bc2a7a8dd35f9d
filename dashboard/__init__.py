"""Franchise Dashboard: a realtime sales dashboard for franchise businesses on Frappe."""

import logging
from datetime import timedelta

import redis
from flask import Flask, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix

from . import auth, config, views
from .extensions import csrf, limiter, server_session, socketio
from .frappe import FrappeClient, FrappeUnavailable

SESSION_LIFETIME = timedelta(days=7)  # Frappe's own default session_expiry is 170 hours


def create_app(settings: config.Settings | None = None) -> Flask:
    settings = settings or config.load_or_exit()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=64 * 1024,
        SESSION_TYPE="redis",
        SESSION_REDIS=redis.Redis.from_url(settings.redis_url),
        SESSION_KEY_PREFIX="session:",
        SESSION_PERMANENT=True,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        SESSION_COOKIE_NAME="fd_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        RATELIMIT_STORAGE_URI=settings.redis_url,
    )
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.extensions["settings"] = settings
    app.extensions["frappe"] = FrappeClient(settings)

    server_session.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    socketio.init_app(app, async_mode=settings.async_mode, message_queue=settings.redis_url)

    app.context_processor(lambda: {"manager": auth.current_manager()})
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    register_error_pages(app)
    return app


def register_error_pages(app: Flask) -> None:
    @app.errorhandler(FrappeUnavailable)
    def frappe_unavailable(exc):
        return render_template(
            "error.html", title="Frappe is unreachable", message=exc.message
        ), 503

    @app.errorhandler(400)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(413)
    def client_error(exc):
        return render_template("error.html", title=exc.name, message=exc.description), exc.code

    @app.errorhandler(500)
    def server_error(_exc):
        app.logger.error("unhandled error on %s %s", request.method, request.path)
        message = "Something went wrong on our side. Please try again."
        return render_template("error.html", title="Error", message=message), 500
