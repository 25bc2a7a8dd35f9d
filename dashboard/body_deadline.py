"""Slow clients cost time, not connections.

Gunicorn's gevent worker gives a request's line and headers `keepalive` seconds (2 by default),
but reads its body only when the app asks, with no limit: 300 POSTs that promised 60,000 bytes
and sent five held 300 connections for as long as they liked, and /login and /healthz stopped
answering. So, before the app runs, a body is read whole within REQUEST_BODY_SECONDS (408 and
the connection closed if not), and one announced larger than MAX_BODY_BYTES is refused (413)
without reading it. The app then reads the body from memory.
"""

import contextlib
import io
import sys

from .socket_gate import refuse

MAX_BODY_BYTES = 1024 * 1024  # more than any form or Socket.IO poll of ours; Flask's own is less
CHUNK = 64 * 1024


class BodyDeadline:
    def __init__(self, wsgi_app, seconds: float):
        self.wsgi_app, self.seconds = wsgi_app, seconds

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return refuse(start_response, "400 Bad Request", "bad_request")
        if length > MAX_BODY_BYTES:
            return refuse(start_response, "413 Request Entity Too Large", "too_large")
        if not length and not chunked:
            return self.wsgi_app(environ, start_response)
        try:
            with deadline(self.seconds):
                body = read_body(environ["wsgi.input"], length if not chunked else None)
        except TimeoutError:
            return refuse(start_response, "408 Request Timeout", "request_timeout")
        except OSError:
            return refuse(start_response, "400 Bad Request", "bad_request")
        if body is None:
            return refuse(start_response, "413 Request Entity Too Large", "too_large")
        environ.update({
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input_terminated": True,
        })  # fmt: skip
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.wsgi_app(environ, start_response)


def read_body(stream, length: int | None) -> bytes | None:
    """The body (`length` bytes, or to its end when chunked); None when over MAX_BODY_BYTES."""
    parts, size = [], 0
    while length is None or size < length:
        want = CHUNK if length is None else min(CHUNK, length - size)
        part = stream.read(want)
        if not part:
            break
        parts.append(part)
        size += len(part)
        if size > MAX_BODY_BYTES:
            return None
    return b"".join(parts)


def deadline(seconds: float):
    """A context that raises TimeoutError after `seconds` in the worker's own kind of
    concurrency (gevent or eventlet, whichever patched the socket module); under plain threads
    (the development server), none."""
    gevent, eventlet = sys.modules.get("gevent.monkey"), sys.modules.get("eventlet.patcher")
    if gevent and gevent.is_module_patched("socket"):
        from gevent import Timeout

        return Timeout(seconds, TimeoutError)
    if eventlet and eventlet.is_monkey_patched("socket"):
        from eventlet import Timeout

        return Timeout(seconds, TimeoutError)
    return contextlib.nullcontext()
