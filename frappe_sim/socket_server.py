"""Frappe's realtime server (Node, socket.io) as the bridge meets it, in python-socketio.

Same rules as Frappe v15: namespace `/<site>` only, a Cookie header required, the Origin host
must be the Host, rooms `user:<user>` and `website` for everyone, `all` only for System Users
with a session (never for token authentication). Events go out exactly as Frappe sends them:
every sale to every System User, which is the leak the dashboard closes.
"""

from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

import socketio

from . import data


def create_socket_server(state) -> socketio.Server:
    sio = socketio.Server(async_mode="threading", namespaces="*", cors_allowed_origins="*")
    site_namespace = f"/{state.site}"

    @sio.on("connect", namespace="*")
    def connect(namespace, sid, environ, auth=None):
        if namespace == "/":
            return True  # accepts anyone and never carries events
        if namespace != site_namespace:
            raise socketio.exceptions.ConnectionRefusedError("Invalid namespace")
        cookie = environ.get("HTTP_COOKIE")
        if not cookie:
            raise socketio.exceptions.ConnectionRefusedError("No cookie transmitted.")
        origin_host = urlsplit(environ.get("HTTP_ORIGIN", "")).hostname
        host = urlsplit("//" + environ.get("HTTP_HOST", "")).hostname
        if not origin_host or origin_host != host:
            raise socketio.exceptions.ConnectionRefusedError("Invalid origin")
        user, by_token = socket_user(state, cookie, environ.get("HTTP_AUTHORIZATION", ""))
        sio.enter_room(sid, "website", namespace=namespace)
        if user is None:
            return True  # a guest: connected, and receives nothing
        sio.enter_room(sid, f"user:{user.name}", namespace=namespace)
        if user.user_type == "System User" and not by_token:
            sio.enter_room(sid, "all", namespace=namespace)
        return True

    return sio


def socket_user(state, cookie_header: str, authorization: str):
    """(user, by token?) from the handshake's credentials; (None, False) for a guest."""
    try:
        cookies = SimpleCookie(cookie_header)
    except CookieError:
        cookies = {}
    sid = cookies["sid"].value if "sid" in cookies else None
    if sid and sid != "Guest":
        name = state.session_user(sid)
        if name:
            return data.USERS[name], False
    if authorization.lower().startswith("token "):
        key, _, secret = authorization[6:].strip().partition(":")
        known = data.API_KEYS.get(key)
        if known and known[0] == secret:
            return data.USERS[known[1]], True
    return None, False
