"""How our server-side sessions (Flask-Session, in our Redis) are opened and kept.

Nothing anonymous is stored for long. Every form needs a CSRF token, and Flask-WTF keeps its
secret in the session, so every anonymous GET of /login used to store a 7-day session (2,000
requests, 2,000 keys). A session that holds nothing but that secret is not stored: the secret
travels in a signed, HttpOnly cookie of its own (CSRF_COOKIE) and is put back into the session
when the browser returns. One that holds a login in progress (a two-factor challenge) or a
message to show lives ANONYMOUS_SECONDS; only a logged-in session lives its full time.

Two exceptions to Flask's rule of reading the session for every request:
- Flask-SocketIO opens it for every socket event, but a socket keeps what it needs at connect:
  later events get a null session, so a reconnect storm costs one read per socket, not three.
- When our Redis is away, opening it would fail inside Flask's request setup (a bare 500). The
  request gets a null session marked STORE_DOWN instead, and a 503 before any view runs.
"""

import redis
from flask import request
from itsdangerous import BadSignature, URLSafeSerializer

SOCKET_CONNECTED = "dashboard.socket_connected"  # in a socket's environ once its state is taken
STORE_DOWN = "dashboard.session_store_down"
CSRF_COOKIE = "fd_csrf"
CSRF_FIELD = "csrf_token"  # where Flask-WTF keeps its secret in the session
ANONYMOUS_SECONDS = 15 * 60  # a two-factor challenge, or a message after logout
NOT_WORTH_KEEPING = {CSRF_FIELD, "_permanent"}


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

    interface.open_session = lambda app, request: with_csrf_cookie(
        app, request, open_or_mark(app, request)
    )
    save_session = interface.save_session

    def save_what_is_worth_keeping(app, session, response):
        if "frappe_sid" in session or not session:  # logged in, or ended: as Flask-Session does
            save_session(app, session, response)
            if CSRF_COOKIE in request.cookies and "frappe_sid" in session:
                set_csrf_cookie(app, response, "", max_age=0)  # the session holds its own now
            return None
        store_id = interface._get_store_id(session.sid)
        if set(session) <= NOT_WORTH_KEEPING:
            if session.modified and interface.get_cookie_name(app) in request.cookies:
                interface.client.delete(store_id)  # what it held (a message) is used up
                response.delete_cookie(interface.get_cookie_name(app))
            return keep_csrf_in_cookie(app, session, response)
        save_session(app, session, response)
        interface.client.expire(store_id, ANONYMOUS_SECONDS)

    interface.save_session = save_what_is_worth_keeping

    @app.before_request
    def refuse_while_store_down():
        if request.environ.get(STORE_DOWN):
            raise redis.ConnectionError("our Redis is unreachable: sessions cannot be read")


def csrf_signer(app) -> URLSafeSerializer:
    return URLSafeSerializer(app.secret_key, salt="csrf-cookie")


def with_csrf_cookie(app, request, session):
    """An anonymous browser's CSRF secret, from its cookie, into a session that lacks one."""
    cookie = request.cookies.get(CSRF_COOKIE)
    marked = request.environ.get(SOCKET_CONNECTED) or request.environ.get(STORE_DOWN)
    if cookie and not marked and CSRF_FIELD not in session:
        try:
            secret = csrf_signer(app).loads(cookie[:200])
        except BadSignature:
            return session
        if isinstance(secret, str):
            modified = session.modified
            session[CSRF_FIELD] = secret
            session.modified = modified  # brought back, not changed: nothing to store
    return session


def keep_csrf_in_cookie(app, session, response) -> None:
    secret = session.get(CSRF_FIELD)
    if secret is not None and session.modified:
        set_csrf_cookie(app, response, csrf_signer(app).dumps(secret))


def set_csrf_cookie(app, response, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        value,
        max_age=max_age,
        httponly=True,
        secure=app.config["SESSION_COOKIE_SECURE"],
        samesite=app.config["SESSION_COOKIE_SAMESITE"],
    )
