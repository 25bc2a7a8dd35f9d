"""Idle sockets must not fill the web process.

Socket.IO checks who a socket is only at its CONNECT step, and a WebSocket that never sends it
stays open for as long as it answers pings: 1,000 of them without any cookie used to fill the
gevent worker, and every page timed out. So, before a request reaches Flask-SocketIO:
- one without a live session of ours or a display token is refused at once (401);
- WebSockets are counted per address and per session or display, in this process, and one past
  the cap is refused (429);
and a WebSocket that has not completed Socket.IO's CONNECT within SOCKET_CONNECT_SECONDS is
closed.
"""

import contextlib
import hashlib
import socket
import threading
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

import redis

from .displays import DISPLAY_COOKIE

SOCKET_PATH = "/socket.io"


class SocketGate:
    def __init__(self, wsgi_app, client: redis.Redis, settings, session_cookie, session_prefix):
        self.wsgi_app, self.redis, self.settings = wsgi_app, client, settings
        self.session_cookie, self.session_prefix = session_cookie, session_prefix
        self.open: dict[str, int] = {}  # address or credential -> WebSockets open here
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(SOCKET_PATH):
            return self.wsgi_app(environ, start_response)
        # A request naming its Engine.IO session (a poll, an upgrade) was let in at its
        # handshake; clients need not send their cookies again.
        joining = "sid" in parse_qs(environ.get("QUERY_STRING", ""))
        who = None if joining else self.credential(environ)
        if who is None and not joining:
            return refuse(start_response, "401 Unauthorized", "login_required")
        if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            return self.wsgi_app(environ, start_response)  # a poll: short, and capped by its own
        counted = {f"address:{self.address(environ)}": self.settings.sockets_per_address}
        if who:
            counted[who] = self.settings.sockets_per_session
        if not self.take(counted):
            return refuse(start_response, "429 Too Many Requests", "too_many_sockets")
        try:
            # Under gevent the WebSocket lives inside this call: it returns when it closes.
            return self.wsgi_app(environ, start_response)
        finally:
            self.give_back(counted)

    def credential(self, environ) -> str | None:
        """ "session:<id>" or "display:<token digest>" when one is live, else None."""
        try:
            cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        except CookieError:
            return None
        candidates = []
        if self.session_cookie in cookies:
            sid = cookies[self.session_cookie].value[:100]
            candidates.append((f"session:{sid}", self.session_prefix + sid))
        if DISPLAY_COOKIE in cookies:
            token = hashlib.sha256(cookies[DISPLAY_COOKIE].value[:100].encode()).hexdigest()
            candidates.append((f"display:{token}", f"display:token:{token}"))
        for who, key in candidates:
            try:
                if self.redis.exists(key):
                    return who
            except redis.RedisError:
                return who  # our Redis is away: the connect step refuses it as unavailable
        return None

    def address(self, environ) -> str:
        """The client's address, as ProxyFix would give it behind PROXY_HOPS proxies."""
        hops = self.settings.proxy_hops
        forwarded = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if hops and len(forwarded) >= hops and forwarded[-hops]:
            return forwarded[-hops]
        return environ.get("REMOTE_ADDR", "")

    def take(self, counted: dict[str, int]) -> bool:
        with self.lock:
            if any(self.open.get(key, 0) >= most for key, most in counted.items()):
                return False
            for key in counted:
                self.open[key] = self.open.get(key, 0) + 1
            return True

    def give_back(self, counted: dict[str, int]) -> None:
        with self.lock:
            for key in counted:
                self.open[key] -= 1
                if not self.open[key]:
                    del self.open[key]


def refuse(start_response, status: str, reason: str):
    body = f'{{"ok": false, "error": "{reason}"}}'.encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
         ("Connection", "close")],
    )  # fmt: skip
    return [body]


def close_silent_connections(server, seconds: float) -> None:
    """Close an Engine.IO connection that has not sent Socket.IO's CONNECT within `seconds`.

    python-socketio has no setting for this; it hears of each Engine.IO connection in its
    `connect` handler, which this wraps."""
    heard = server._handle_eio_connect

    def on_eio_connect(eio_sid, environ):
        server.start_background_task(close_if_silent, eio_sid)
        return heard(eio_sid, environ)

    def close_if_silent(eio_sid):
        server.sleep(seconds)
        if eio_sid not in server.eio.sockets or server.manager.sid_from_eio_sid(eio_sid, "/"):
            return
        raw = server.environ.get(eio_sid, {}).get("gunicorn.socket")
        server.eio.disconnect(eio_sid)
        if raw is not None:
            # A client that never answers the WebSocket close frame would keep the connection
            # (and its slot) open: drop it.
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)

    server.eio.on("connect", on_eio_connect)
