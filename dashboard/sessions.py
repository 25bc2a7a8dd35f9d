"""How our server-side sessions (Flask-Session, in our Redis) are opened.

Two exceptions to Flask's rule of reading the session for every request:
- Flask-SocketIO opens it for every socket event, but a socket keeps what it needs at connect:
  later events get a null session, so a reconnect storm costs one read per socket, not three.
- When our Redis is away, opening it would fail inside Flask's request setup (a bare 500). The
  request gets a null session marked STORE_DOWN instead, and a 503 before any view runs.
"""

import redis
from flask import request

SOCKET_CONNECTED = "dashboard.socket_connected"  # in a socket's environ once its state is taken
STORE_DOWN = "dashboard.session_store_down"


def init_app(app) -> None:
    """Call after Flask-Session is bound to `app`."""
    interface = app.session_interface
    open_session = interface.open_session

    def open_or_mark(app, request):
        if request.environ.get(SOCKET_CONNECTED):
            return interface.make_null_session(app)
        try:
            return open_session(app, request)
        except redis.RedisError:
            request.environ[STORE_DOWN] = True
            return interface.make_null_session(app)

    interface.open_session = open_or_mark

    @app.before_request
    def refuse_while_store_down():
        if request.environ.get(STORE_DOWN):
            raise redis.ConnectionError("our Redis is unreachable: sessions cannot be read")
