"""Idle sockets must not fill the web process.

Socket.IO checks who a socket is only at its CONNECT step, and a WebSocket that never sends it
stays open for as long as it answers pings: 1,000 of them without any cookie used to fill the
gevent worker, and every page timed out. So, before a request reaches Flask-SocketIO:
- one without a live session of ours or a display token is refused at once (401);
- connections (WebSocket or long-polling alike) are counted per address and per session or
  display, in this process, from their handshake until they close, and one past the cap is
  refused (429);
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
SLOT = "dashboard.socket_slot"  # in a handshake's environ: what it counts against


class SocketGate:
    def __init__(self, wsgi_app, client: redis.Redis, settings, session_cookie, session_prefix):
        self.wsgi_app, self.redis, self.settings = wsgi_app, client, settings
        self.session_cookie, self.session_prefix = session_cookie, session_prefix
        self.open: dict[str, int] = {}  # address or credential -> WebSockets open here
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(SOCKET_PATH):
            return self.wsgi_app(environ, start_response)
        # A request naming its Engine.IO session (a poll, an upgrade) belongs to a connection
        # counted at its handshake; clients need not send their cookies again.
        if "sid" in parse_qs(environ.get("QUERY_STRING", "")):
            return self.wsgi_app(environ, start_response)
        who = self.credential(environ)
        if who is None:
            return refuse(start_response, "401 Unauthorized", "login_required")
        counted = {
            f"address:{self.address(environ)}": self.settings.sockets_per_address,
            who: self.settings.sockets_per_session,
        }
        if not self.take(counted):
            return refuse(start_response, "429 Too Many Requests", "too_many_sockets")
        # Given back when the Engine.IO connection closes. An object, not flags in environ:
        # Flask-SocketIO hands Engine.IO a copy of environ.
        environ[SLOT] = slot = Slot(self, counted)
        try:
            # A WebSocket lives inside this call under gevent; a long-polling one outlives it.
            return self.wsgi_app(environ, start_response)
        finally:
            if not slot.opened:  # no connection came of it
                slot.release()

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

    def watch(self, server, seconds: float) -> None:
        """Hear of python-socketio's Engine.IO connections as they open and close: give a
        connection's count back when it closes, whichever its transport, and close one that
        has not sent Socket.IO's CONNECT within `seconds` (python-socketio has no setting for
        this)."""
        heard_open, heard_close = server._handle_eio_connect, server._handle_eio_disconnect

        def on_open(eio_sid, environ):
            if SLOT in environ:
                environ[SLOT].opened = True
            server.start_background_task(close_if_silent, server, eio_sid, seconds)
            return heard_open(eio_sid, environ)

        def on_close(eio_sid, *args):
            slot = server.environ.get(eio_sid, {}).get(SLOT)
            if slot:
                slot.release()
            return heard_close(eio_sid, *args)

        server.eio.on("connect", on_open)
        server.eio.on("disconnect", on_close)


class Slot:
    """One connection's place in the counts, given back once."""

    __slots__ = ("gate", "counted", "opened")

    def __init__(self, gate: SocketGate, counted: dict[str, int]):
        self.gate, self.counted, self.opened = gate, counted, False

    def release(self) -> None:
        counted, self.counted = self.counted, None
        if counted:
            self.gate.give_back(counted)


def refuse(start_response, status: str, reason: str):
    body = f'{{"ok": false, "error": "{reason}"}}'.encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
         ("Connection", "close")],
    )  # fmt: skip
    return [body]


def close_if_silent(server, eio_sid, seconds: float) -> None:
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
