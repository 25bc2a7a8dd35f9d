"""Error pages and refusals, in one place: a styled page with a way back for people, JSON for
the API, and Retry-After where asking again soon may work."""

import functools
import time

import redis
from flask import Flask, current_app, jsonify, render_template, request

from .auth import wants_json
from .extensions import limiter
from .frappe import FrappeError, FrappeUnavailable

RETRY_AFTER = 5  # seconds before a page Frappe (or our Redis) could not serve tries again


def refusal(status: int, error: str, message: str, page, retry_after: int):
    """A "not now" answer: JSON for the API, else the page `page()` renders; with Retry-After."""
    body = jsonify(error=error, message=message) if wants_json() else page()
    response = current_app.make_response(body)
    response.status_code = status
    response.headers["Retry-After"] = str(retry_after)
    return response


def init_app(app: Flask) -> None:
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
