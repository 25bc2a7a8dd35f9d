"""Frappe's realtime server (Node, socket.io) as the bridge meets it, in python-socketio.

Same rules as Frappe v15: namespace `/<site>` only, a Cookie header required, the Origin host
must be the Host, and the user is whoever Frappe's web server says when called back at
`<Origin>/api/method/frappe.realtime.get_user_info`. Rooms `user:<user>` and `website` for
everyone, `all` only for System Users with a session (never for token authentication). It relays
every message of the `events` channel on Frappe's Redis to its room, as it comes: a sale's two
events back to back, every sale to every System User (the leak the dashboard closes). Like
Frappe's, it dies on a message that is not JSON.

The demo Frappe serves it at /socket.io (as nginx does for a production bench). Run on its own,
`python -m frappe_sim.socket_server --port 9000 ...` is a bench without nginx (`bench start`).
"""

import argparse
import json
import logging
import os
import sys
import threading
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

import redis
import requests
import socketio
from werkzeug.serving import make_server

log = logging.getLogger("frappe_sim.socket_server")


def create_socket_server(site: str) -> socketio.Server:
    sio = socketio.Server(async_mode="threading", namespaces="*", cors_allowed_origins="*")
    site_namespace = f"/{site}"

    @sio.on("connect", namespace="*")
    def connect(namespace, sid, environ, auth=None):
        if namespace == "/":
            return True  # accepts anyone and never carries events
        if namespace != site_namespace:
            raise socketio.exceptions.ConnectionRefusedError("Invalid namespace")
        cookie = environ.get("HTTP_COOKIE")
        if not cookie:
            raise socketio.exceptions.ConnectionRefusedError("No cookie transmitted.")
        origin = environ.get("HTTP_ORIGIN", "")
        host = urlsplit("//" + environ.get("HTTP_HOST", "")).hostname
        if not urlsplit(origin).hostname or urlsplit(origin).hostname != host:
            raise socketio.exceptions.ConnectionRefusedError("Invalid origin")
        user, user_type, by_token = ask_frappe_who(
            origin, site, cookie, environ.get("HTTP_AUTHORIZATION", "")
        )
        sio.enter_room(sid, "website", namespace=namespace)
        if user == "Guest":
            return True  # connected, and receives nothing
        sio.save_session(
            sid, {"user": user, "origin": origin, "cookie": cookie}, namespace=namespace
        )
        sio.enter_room(sid, f"user:{user}", namespace=namespace)
        if user_type == "System User" and not by_token:
            sio.enter_room(sid, "all", namespace=namespace)
        return True

    @sio.on("doctype_subscribe", namespace="*")
    def doctype_subscribe(namespace, sid, doctype=None):
        """list_update of a doctype, for a user Frappe says may read it (asked back at
        frappe.realtime.can_subscribe_doctype: checked at doctype level only, so every outlet's
        invoice names); a denial is silent."""
        session = sio.get_session(sid, namespace=namespace)
        if namespace != site_namespace or not session.get("user") or not isinstance(doctype, str):
            return
        if may_subscribe(session["origin"], site, session["cookie"], doctype):
            sio.enter_room(sid, f"doctype:{doctype}", namespace=namespace)

    return sio


def ask_frappe_who(origin: str, site: str, cookie_header: str, authorization: str):
    """(user, user type, by token?) as Frappe's web server at `origin` says."""
    try:
        cookies = SimpleCookie(cookie_header)
    except CookieError:
        cookies = {}
    sid = cookies["sid"].value if "sid" in cookies else None
    tries = [({"Cookie": f"sid={sid}"}, False)] if sid and sid != "Guest" else []
    if authorization:
        tries.append(({"Authorization": authorization}, True))
    for headers, by_token in tries:
        try:
            answer = call_back(origin, site, "frappe.realtime.get_user_info", headers)
        except requests.RequestException as exc:
            refusal = f"Unauthorized: Error: {exc}"
            raise socketio.exceptions.ConnectionRefusedError(refusal) from None
        info = answer.json().get("message") if answer.ok else None
        if isinstance(info, dict) and info.get("user") not in (None, "Guest"):
            return info["user"], info.get("user_type"), by_token
    return "Guest", "Website User", False


def may_subscribe(origin: str, site: str, cookie_header: str, doctype: str) -> bool:
    method = "frappe.realtime.can_subscribe_doctype"
    try:
        return call_back(origin, site, method, {"Cookie": cookie_header}, doctype=doctype).ok
    except requests.RequestException:
        return False


def call_back(origin: str, site: str, method: str, headers: dict, **params) -> requests.Response:
    """A whitelisted method of Frappe's web server at `origin`, as its realtime server calls."""
    return requests.get(
        origin.rstrip("/") + f"/api/method/{method}",
        params=params,
        headers={**headers, "X-Frappe-Site-Name": site, "Accept": "application/json"},
        timeout=5,
    )


def relay(sio: socketio.Server, redis_url: str, on_bad_message) -> None:
    """Send every message on Frappe's `events` channel to its room, in the order it comes."""
    pubsub = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("events")
    for message in pubsub.listen():
        try:
            data = json.loads(message["data"])  # Frappe's server has no guard here
        except ValueError:
            on_bad_message(message["data"])
            continue
        namespace = f"/{data['namespace']}"
        sio.emit(data["event"], data["message"], room=data["room"], namespace=namespace)


def serve_beside_frappe(sio: socketio.Server, redis_url: str | None) -> None:
    """In the demo Frappe's process: a message that kills Frappe's server drops every
    connection, as the restart by its supervisor would."""

    def restart(raw):
        log.warning("realtime server: a message that is not JSON (%r); restarting", raw[:60])
        for namespace in list(sio.manager.get_namespaces()):
            for sid, _ in list(sio.manager.get_participants(namespace, None)):
                sio.disconnect(sid, namespace=namespace)

    if redis_url:
        threading.Thread(target=relay, args=(sio, redis_url, restart), daemon=True).start()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frappe_sim.socket_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--redis-url", required=True, help="Frappe's redis_queue")
    parser.add_argument("--site", default="demo.localhost")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    sio = create_socket_server(args.site)
    server = make_server(args.host, args.port, socketio.WSGIApp(sio), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"demo Frappe realtime server: site {args.site} on port {server.port}", flush=True)

    def die(raw):
        print(f"SyntaxError: Unexpected token in JSON: {raw[:60]!r}", file=sys.stderr, flush=True)
        os._exit(1)

    try:
        relay(sio, args.redis_url, die)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
