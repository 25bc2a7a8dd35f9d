"""The live channel: Socket.IO connections, outlet rooms and replay from the feed.

Two kinds of sockets connect: managers (our session) and paired displays (their display token).
A manager's socket joins the room of an outlet only after Frappe has said, through the same
cached permission check as the pages, that its user may read that outlet, and is re-checked
every few minutes while it stays. A display joins its own outlet's room and no other; a
customer-facing (public-safe) display joins a room whose events carry no amounts; a head-office
TV joins those of the outlets it was paired with. Logging out,
Frappe ending the session, or revoking a display closes the sockets concerned.
"""

import contextlib
import logging
import threading
import time
from collections import deque

import redis
import socketio as socketio_module
from flask import current_app, request, session
from flask_socketio import ConnectionRefusedError, join_room, leave_room

from . import direct_websocket, frames, redis_client
from .channel import (
    HEARTBEAT_EVERY,
    HEARTBEAT_KEY,
    MESSAGE_QUEUE_CHANNEL,
    ROOMS_KEY,
    outlet_room,
    public_room,
)
from .displays import DISPLAY_COOKIE, public_summary
from .events import public_copy
from .extensions import socketio
from .feed import valid_feed_id
from .frames import BAD_FRAME
from .frappe import FrappeError, FrappeUnavailable, NotFound, NotPermitted, SessionExpired
from .metrics import LIVE_SOCKETS
from .outlets import PERIODS, valid_outlet_name
from .sessions import SOCKET_CONNECTED, STORE_DOWN
from .socket_gate import SocketGate

log = logging.getLogger(__name__)

MAX_OUTLETS_PER_SOCKET = 200  # names a socket may ask about, refused ones included
SUBSCRIBES_PER_SOCKET = (300, 60.0)  # at most this many subscribes in this many seconds
REPLAY_LATEST = 50
REPLAY_MOST = 500
REPLAY_BYTES = 64 * 1024  # a replay's events, at most: the newest; the snapshot covers the rest
# Replays read at once: 50 screens reconnecting to a feed of large sales held ~70 MB of events
# and their JSON at the same moment, and the process kept that memory afterwards.
replaying = threading.BoundedSemaphore(4)
RECHECK_EVERY = 30  # seconds between sweeps of this process's sockets


# This process's sockets: socket id -> who it is and what it watches.
sockets: dict[str, dict] = {}
_orphans: set[str] = set()  # connected sockets with no entry in `sockets` at the last sweep
_sweeper_started = False


def init_app(app, settings) -> None:
    """The live channel's transport: Flask-SocketIO on our Redis message queue, every client
    frame checked, WebSockets served directly, and sockets admitted at the gate."""
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
    app.wsgi_app = without_compression(app.wsgi_app)
    app.wsgi_app = gate = SocketGate(
        app.wsgi_app,
        app.config["SESSION_REDIS"],
        settings,
        app.config["SESSION_COOKIE_NAME"],
        app.config["SESSION_KEY_PREFIX"],
    )
    gate.watch(socketio.server, settings.socket_connect_seconds)


def without_compression(wsgi_app):
    """Don't negotiate WebSocket per-message deflate: our messages are a few hundred bytes, and
    its zlib state cost each socket about 90 KiB of server memory (docs/benchmarks.md)."""

    def app(environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return wsgi_app(environ, start_response)

    return app


@socketio.on(BAD_FRAME)
def on_bad_frame(*_args):
    """A frame frames.CheckedPacket refused: the sender hears why."""
    return {"ok": False, "error": "bad_request"}


def store() -> redis.Redis:
    return current_app.config["SESSION_REDIS"]


def group_key(group: str) -> str:
    """The Redis set of socket ids of one session ("session:<id>") or display ("display:<id>")."""
    return f"live:sockets:{group}"


@socketio.on("connect")
def on_connect(auth=None):
    if request.environ.get(STORE_DOWN):
        raise ConnectionRefusedError("unavailable")  # the page retries; nobody is logged out
    if "frappe_sid" in session:
        state = {
            "kind": "manager",
            "user": session["user"],
            "frappe_sid": session["frappe_sid"],
            "session_id": session.sid,
            "group": f"session:{session.sid}",
        }
    else:
        displays = current_app.extensions["displays"]
        display = displays.for_token(request.cookies.get(DISPLAY_COOKIE))
        if display is None:
            raise ConnectionRefusedError("login_required")
        version = auth.get("version") if isinstance(auth, dict) else None
        displays.seen(display, version if isinstance(version, str) else None)
        state = {
            "kind": "display",
            "display_id": display.id,
            "labels": display.labels(),  # what it may watch: one outlet, or head office's
            "public_safe": display.public_safe,
            "group": f"display:{display.id}",
        }
    state["address"] = request.remote_addr or ""
    state["outlets"] = {}  # outlet -> when access was last confirmed (monotonic)
    state["asked"] = set()  # every name this socket asked about, refused ones too
    state["subscribes"] = deque()  # when its recent subscribes came (monotonic)
    sockets[request.sid] = state
    request.environ[SOCKET_CONNECTED] = True  # later events need not read the session
    LIVE_SOCKETS.labels(state["kind"]).inc()
    key = group_key(state["group"])
    store().pipeline(transaction=False).sadd(key, request.sid).expire(key, 8 * 86400).execute()
    start_sweeper(current_app._get_current_object())


@socketio.on("disconnect")
def on_disconnect(reason=None):
    state = sockets.pop(request.sid, None)
    if state:
        LIVE_SOCKETS.labels(state["kind"]).dec()
        with contextlib.suppress(redis.RedisError):
            store().srem(group_key(state["group"]), request.sid)
            if state["kind"] == "display":
                current_app.extensions["displays"].offline(state["display_id"])


@socketio.on("subscribe")
def on_subscribe(data=None):
    state = sockets.get(request.sid)
    if state is None:
        return {"ok": False, "error": "login_required"}
    if over_budget(state):
        return {"ok": False, "error": "rate_limited"}
    outlet, after, period, problem = parse_subscribe(data)
    if problem:
        return {"ok": False, "error": problem}
    if outlet not in state["asked"]:
        # Junk names cost Frappe a call each: they count toward the cap too.
        if len(state["asked"]) >= MAX_OUTLETS_PER_SOCKET:
            return {"ok": False, "error": "too_many_outlets"}
        state["asked"].add(outlet)
    problem = check_outlet(state, outlet)
    if problem:
        return {"ok": False, "error": problem}
    # Join first, then read the feed: an event in between arrives twice, never zero times;
    # the page drops ids it has already seen.
    join_room(room_of(state, outlet))
    state["outlets"][outlet] = time.monotonic()
    store().zadd(ROOMS_KEY, {outlet: time.time()})
    return subscribe_answer(state, outlet, after, period)


def over_budget(state: dict) -> bool:
    """Subscribes are budgeted per socket (here), and per person or display and per address
    across processes (in Redis)."""
    most, seconds = SUBSCRIBES_PER_SOCKET
    now, recent = time.monotonic(), state["subscribes"]
    while recent and recent[0] < now - seconds:
        recent.popleft()
    if len(recent) >= most:
        return True
    recent.append(now)
    settings = current_app.extensions["settings"]
    # A person, not a login: more logins must not buy more calls to Frappe.
    who = f"user:{state['user']}" if state["kind"] == "manager" else state["group"]
    limits = [
        ("subscribe", who, settings.subscribes_per_user),
        ("subscribe", f"address:{state['address']}", settings.subscribes_per_address),
    ]
    return current_app.extensions["throttle"].attempt(*limits).refused


def check_outlet(state: dict, outlet: str) -> str | None:
    """None when this socket may watch `outlet`, else the error to answer."""
    if state["kind"] == "display":
        return None if outlet in state["labels"] else "forbidden"
    try:
        current_app.extensions["outlets"].check_access(state["user"], state["frappe_sid"], outlet)
    except NotPermitted:
        return "forbidden"
    except NotFound:
        return "not_found"
    except SessionExpired:
        close_sockets(state["group"], "session_expired", {"reason": "session_expired"})
        return "session_expired"
    except FrappeError:
        return "unavailable"
    return None


def room_of(state: dict, outlet: str) -> str:
    return public_room(outlet) if state.get("public_safe") else outlet_room(outlet)


def parse_subscribe(data) -> tuple:
    """(outlet, after, period, None), or the error to answer last."""
    if not isinstance(data, dict):
        return None, None, None, "bad_request"
    outlet, after, period = data.get("outlet"), data.get("after"), data.get("period", "daily")
    if not isinstance(outlet, str) or not valid_outlet_name(outlet):
        return None, None, None, "bad_request"
    if after is not None and not valid_feed_id(after):
        return None, None, None, "bad_request"
    if period not in PERIODS:
        return None, None, None, "bad_request"
    return outlet, after, period, None


def subscribe_answer(state: dict, outlet: str, after: str | None, period: str) -> dict:
    feed = current_app.extensions["feed"]
    # What may wait (on Frappe, on Redis) comes first, holding no events; the events are read
    # last and sent before this greenlet waits on anything else.
    figures, bridge = snapshot(state, outlet, period), bridge_status()
    with replaying:
        limit = REPLAY_MOST if after else REPLAY_LATEST
        events, complete = feed.since(outlet, after, limit, REPLAY_BYTES)
        last_id = events[-1]["id"] if events else (feed.last_id(outlet) or after)
    if state.get("public_safe"):
        events = [public_copy(event) for event in events]
    return {
        "ok": True,
        "outlet": outlet,
        "snapshot": figures,
        "events": events,
        "last_id": last_id,
        "complete": complete,
        "bridge": bridge,
    }


def snapshot(state: dict, outlet: str, period: str) -> dict | None:
    """The figures the subscriber shows: a manager's of the period asked, a TV's of today."""
    outlets = current_app.extensions["outlets"]
    try:
        if state["kind"] == "manager":
            return outlets.summary(state["user"], state["frappe_sid"], outlet, period)
        figures = outlets.service_summary(outlet, state["labels"][outlet])
    except FrappeUnavailable:
        return None
    return public_summary(figures) if state["public_safe"] else figures


@socketio.on("unsubscribe")
def on_unsubscribe(data=None):
    state = sockets.get(request.sid)
    outlet = data.get("outlet") if isinstance(data, dict) else None
    if state is None or not isinstance(outlet, str) or outlet not in state["outlets"]:
        return {"ok": False}
    leave_room(room_of(state, outlet))
    del state["outlets"][outlet]
    return {"ok": True, "outlet": outlet}


@socketio.on("status")
def on_status(_data=None):
    state = sockets.get(request.sid)
    if state and state["kind"] == "display":
        displays = current_app.extensions["displays"]
        display = displays.get(state["display_id"])
        if display:
            displays.seen(display, None)
    return {"ok": True, "bridge": bridge_status(), "version": current_app.config["APP_VERSION"]}


def bridge_status() -> dict:
    """Whether the bridge is beating: the page shows "Paused" when it is not."""
    try:
        beat = store().get(HEARTBEAT_KEY)
    except redis.RedisError:
        return {"alive": False, "at": None, "age_s": None}
    at = float(beat) if beat else None
    age = round(time.time() - at, 1) if at else None
    return {"alive": bool(age is not None and age < HEARTBEAT_EVERY * 4), "at": at, "age_s": age}


def close_sockets(group: str, event: str, data: dict, known: tuple = ()) -> None:
    """Tell every socket of a session or display why, then close it, in any web process.

    `known`: sockets of the group this process holds, closed even when Redis lost the group.
    """
    key = group_key(group)
    try:
        socket_ids = {sid.decode() for sid in store().smembers(key)}
        store().delete(key)
    except redis.RedisError:
        socket_ids = set()
    here = {sid for sid, state in list(sockets.items()) if state["group"] == group}
    for sid in socket_ids | here | set(known):
        socketio.emit(event, data, to=sid)
        socketio.server.disconnect(sid, namespace="/")


def end_session_sockets(session_id: str, reason: str = "session_expired", known=()) -> None:
    """Close a session's sockets; the event is `session_expired`, `reason` says why."""
    close_sockets(f"session:{session_id}", "session_expired", {"reason": reason}, known)


def end_display_sockets(display_id: str) -> None:
    close_sockets(f"display:{display_id}", "display_revoked", {"reason": "revoked"})


def start_sweeper(app) -> None:
    global _sweeper_started
    if not _sweeper_started:
        _sweeper_started = True
        socketio.start_background_task(sweep_forever, app)


def sweep_forever(app) -> None:
    every = app.extensions["settings"].live_recheck_seconds
    while True:
        socketio.sleep(min(RECHECK_EVERY, every / 2))
        with app.app_context():
            try:
                recheck_sockets(every)
            except redis.RedisError as error:  # /healthz says so; the next round retries
                log.warning("re-checking live sockets: our Redis is unreachable (%s)", error)
            except Exception:  # the sweeper must outlive any one bad round
                log.exception("re-checking live sockets failed")


def recheck_sockets(every: float) -> None:
    """Ask again, for long-lived sockets, whether they may still watch what they watch."""
    audit_rooms()
    now = time.monotonic()
    for sid, state in list(sockets.items()):
        if state["kind"] == "display":
            if current_app.extensions["displays"].get(state["display_id"]) is None:
                end_display_sockets(state["display_id"])
            continue
        if not store().exists(f"session:{state['session_id']}"):  # Flask-Session's key
            end_session_sockets(state["session_id"], known=(sid,))
            continue
        for outlet, checked in list(state["outlets"].items()):
            if now - checked >= every:
                recheck_outlet(sid, state, outlet, now)


def recheck_outlet(sid: str, state: dict, outlet: str, now: float) -> None:
    problem = check_outlet(state, outlet)
    if problem in ("forbidden", "not_found"):
        socketio.server.leave_room(sid, room_of(state, outlet), namespace="/")
        state["outlets"].pop(outlet, None)
        socketio.emit("forbidden", {"outlet": outlet}, to=sid)
    elif problem is None:
        state["outlets"][outlet] = now
    # "unavailable": keep what Frappe said last and ask again next round.


def audit_rooms() -> None:
    """Every socket in an outlet's room here must be one this process holds as watching that
    outlet; any other leaves the room, whatever way its registry entry was lost. A connection
    that has had no entry for a whole round is closed."""
    global _orphans
    server = socketio.server
    rooms = server.manager.rooms.get("/", {})
    for room, members in list(rooms.items()):
        if not isinstance(room, str) or not room.startswith(("outlet:", "public:")):
            continue
        for sid in list(members):
            state = sockets.get(sid)
            if state is None or all(room_of(state, o) != room for o in list(state["outlets"])):
                server.leave_room(sid, room, namespace="/")
                log.warning("a socket was in room %s without the right to it: removed", room)
    connected = {sid for sid in list(rooms.get(None, {})) if server.manager.is_connected(sid, "/")}
    unknown = connected - sockets.keys()
    for sid in unknown & _orphans:
        server.disconnect(sid, namespace="/")
    _orphans = unknown
