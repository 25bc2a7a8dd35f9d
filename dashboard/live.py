"""The live channel: Socket.IO connections, outlet rooms and replay from the feed.

A socket joins the room of an outlet only after Frappe has said (through the same cached
permission check as the pages) that its user may read that outlet, and is re-checked every few
minutes while it stays. Logging out, or Frappe ending the session, closes that session's sockets.
"""

import contextlib
import logging
import time

import redis
from flask import current_app, request, session
from flask_socketio import ConnectionRefusedError, join_room, leave_room

from .extensions import socketio
from .feed import HEARTBEAT_EVERY, HEARTBEAT_KEY, ROOMS_KEY, valid_feed_id
from .frappe import FrappeError, FrappeUnavailable, NotFound, NotPermitted, SessionExpired
from .outlets import valid_outlet_name

log = logging.getLogger(__name__)

MAX_OUTLETS_PER_SOCKET = 200
REPLAY_LATEST = 50
REPLAY_MOST = 500
RECHECK_EVERY = 30  # seconds between sweeps of this process's sockets

# This process's sockets: socket id -> who it is and what it watches.
sockets: dict[str, dict] = {}
_sweeper_started = False


def store() -> redis.Redis:
    return current_app.config["SESSION_REDIS"]


def session_sockets_key(session_id: str) -> str:
    return f"live:sockets:{session_id}"


@socketio.on("connect")
def on_connect(auth=None):
    if "frappe_sid" not in session:
        raise ConnectionRefusedError("login_required")
    sockets[request.sid] = {
        "user": session["user"],
        "frappe_sid": session["frappe_sid"],
        "session_id": session.sid,
        "outlets": {},  # outlet -> when access was last confirmed (monotonic)
    }
    key = session_sockets_key(session.sid)
    store().sadd(key, request.sid)
    store().expire(key, 8 * 86400)
    start_sweeper(current_app._get_current_object())


@socketio.on("disconnect")
def on_disconnect(reason=None):
    state = sockets.pop(request.sid, None)
    if state:
        with contextlib.suppress(redis.RedisError):
            store().srem(session_sockets_key(state["session_id"]), request.sid)


@socketio.on("subscribe")
def on_subscribe(data=None):
    state = sockets.get(request.sid)
    if state is None:
        return {"ok": False, "error": "login_required"}
    outlet, after, problem = parse_subscribe(data)
    if problem:
        return {"ok": False, "error": problem}
    if outlet not in state["outlets"] and len(state["outlets"]) >= MAX_OUTLETS_PER_SOCKET:
        return {"ok": False, "error": "too_many_outlets"}
    outlets = current_app.extensions["outlets"]
    try:
        outlets.check_access(state["user"], state["frappe_sid"], outlet)
    except NotPermitted:
        return {"ok": False, "error": "forbidden"}
    except NotFound:
        return {"ok": False, "error": "not_found"}
    except SessionExpired:
        end_session_sockets(state["session_id"])
        return {"ok": False, "error": "session_expired"}
    except FrappeError:
        return {"ok": False, "error": "unavailable"}
    # Join first, then read the feed: an event in between arrives twice, never zero times;
    # the page drops ids it has already seen.
    join_room(f"outlet:{outlet}")
    state["outlets"][outlet] = time.monotonic()
    store().zadd(ROOMS_KEY, {outlet: time.time()})
    return subscribe_answer(state, outlet, after)


def parse_subscribe(data) -> tuple[str | None, str | None, str | None]:
    if not isinstance(data, dict):
        return None, None, "bad_request"
    outlet, after = data.get("outlet"), data.get("after")
    if not isinstance(outlet, str) or not valid_outlet_name(outlet):
        return None, None, "bad_request"
    if after is not None and not valid_feed_id(after):
        after = None  # an unusable id: replay the latest instead
    return outlet, after, None


def subscribe_answer(state: dict, outlet: str, after: str | None) -> dict:
    feed = current_app.extensions["feed"]
    limit = REPLAY_MOST if after else REPLAY_LATEST
    events, complete = feed.since(outlet, after, limit)
    try:
        snapshot = current_app.extensions["outlets"].summary(
            state["user"], state["frappe_sid"], outlet, "daily"
        )
    except FrappeUnavailable:
        snapshot = None
    last_id = events[-1]["id"] if events else (feed.last_id(outlet) or after)
    return {
        "ok": True,
        "outlet": outlet,
        "snapshot": snapshot,
        "events": events,
        "last_id": last_id,
        "complete": complete,
        "bridge": bridge_status(),
    }


@socketio.on("unsubscribe")
def on_unsubscribe(data=None):
    state = sockets.get(request.sid)
    outlet = data.get("outlet") if isinstance(data, dict) else None
    if state is None or not isinstance(outlet, str) or outlet not in state["outlets"]:
        return {"ok": False}
    leave_room(f"outlet:{outlet}")
    del state["outlets"][outlet]
    return {"ok": True, "outlet": outlet}


@socketio.on("status")
def on_status(_data=None):
    return {"ok": True, "bridge": bridge_status()}


def bridge_status() -> dict:
    """Whether the bridge is beating: the page shows "Paused" when it is not."""
    try:
        beat = store().get(HEARTBEAT_KEY)
    except redis.RedisError:
        return {"alive": False, "at": None}
    at = float(beat) if beat else None
    return {"alive": bool(at and time.time() - at < HEARTBEAT_EVERY * 4), "at": at}


def end_session_sockets(session_id: str, reason: str = "session_expired") -> None:
    """Close every socket of one of our sessions, in any web process, telling the page why.

    The event is always `session_expired`; `reason` says whether it expired or was logged out.
    """
    key = session_sockets_key(session_id)
    try:
        socket_ids = [sid.decode() for sid in store().smembers(key)]
        store().delete(key)
    except redis.RedisError:
        return
    for sid in socket_ids:
        socketio.emit("session_expired", {"reason": reason}, to=sid)
        socketio.server.disconnect(sid, namespace="/")


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
            except Exception:  # the sweeper must outlive any one bad round
                log.exception("re-checking live sockets failed")


def recheck_sockets(every: float) -> None:
    """Ask Frappe again, for long-lived sockets, whether their users may still read."""
    outlets = current_app.extensions["outlets"]
    now = time.monotonic()
    for sid, state in list(sockets.items()):
        if not store().exists(f"session:{state['session_id']}"):
            end_session_sockets(state["session_id"])
            continue
        for outlet, checked in list(state["outlets"].items()):
            if now - checked < every:
                continue
            try:
                outlets.check_access(state["user"], state["frappe_sid"], outlet)
                state["outlets"][outlet] = now
            except (NotPermitted, NotFound):
                socketio.server.leave_room(sid, f"outlet:{outlet}", namespace="/")
                state["outlets"].pop(outlet, None)
                socketio.emit("forbidden", {"outlet": outlet}, to=sid)
            except SessionExpired:
                end_session_sockets(state["session_id"])
                break
            except FrappeError:
                pass  # Frappe away: keep what Frappe said last, ask again next round
