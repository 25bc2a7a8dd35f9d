"""Where the bridge hears Frappe's realtime events, and how it retries.

Two sources: the `events` channel on Frappe's Redis (the site's redis_queue), or Frappe's
realtime server as a System User client. Each has `connect()`, `pump(timeout)` (hand on what
arrived; False once the connection is gone), `close()`, a `name` and the `errors` that mean
"reconnect". The Socket.IO source adapts python-socketio's client in one way: each message is
handled on the thread that read it, in order (InOrderClient).
"""

import logging
import random
from urllib.parse import urlsplit

import engineio
import redis
import socketio

from . import config
from .events import CHANGE, CHANGED_DOCTYPE, KINDS
from .frappe import FrappeClient, FrappeError, NotPermitted

log = logging.getLogger("dashboard.bridge")


class Backoff:
    """Exponential delays with full jitter, so many bridges never retry in step, capped at a few
    seconds: a source back after an outage of any length is heard again within `most`."""

    def __init__(self, first=0.5, most=5.0):
        self.first, self.most, self.tries = first, most, 0

    def next(self) -> float:
        self.tries += 1
        return random.uniform(0, min(self.most, self.first * 2**self.tries))

    def reset(self) -> None:
        self.tries = 0


class RedisSource:
    """The `events` channel on Frappe's Redis (the site's redis_queue)."""

    name = "Frappe's realtime events on its Redis"
    errors = (redis.RedisError,)

    def __init__(self, settings: config.Settings, on_message):
        self.url, self.on_message = settings.frappe_redis_url, on_message
        self.pubsub = None

    def connect(self) -> None:
        source = redis.Redis.from_url(self.url, socket_connect_timeout=5, health_check_interval=10)
        self.pubsub = source.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe("events")
        log.info("listening to Frappe's realtime events on its Redis")

    def pump(self, timeout: float) -> bool:
        message = self.pubsub.get_message(timeout=timeout)
        if message is not None:
            self.on_message(message["data"])
        return True  # a lost connection raises

    def close(self) -> None:
        if self.pubsub is not None:
            self.pubsub.close()
            self.pubsub = None


class InOrderEngineIOClient(engineio.Client):
    """Engine.IO's client fires each message in a thread of its own, so two events that came
    back to back (a sale and its daily total) may be handled in either order, or at once.
    The bridge's work per event is a few Redis calls: handle each where it was read, in order."""

    def _trigger_event(self, event, *args, **kwargs):
        if event == "message":
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class InOrderClient(socketio.Client):
    def _engineio_client_class(self):
        return InOrderEngineIOClient


class SocketIOSource:
    """Frappe's realtime server, as a System User (it sends site-wide events only to those).

    It listens at FRAPPE_REALTIME_URL (nginx's /socket.io, or its own port on a bench without
    nginx), but the Origin stays Frappe's web server: the realtime server calls it back.
    """

    name = "Frappe's realtime server"
    errors = (socketio.exceptions.ConnectionError, FrappeError)

    def __init__(self, settings: config.Settings, frappe: FrappeClient, on_event):
        self.settings, self.frappe = settings, frappe
        self.namespace = f"/{settings.frappe_site}"
        self.warned = False
        # reconnection=False: each reconnect logs in again, in Bridge.listen.
        self.client = InOrderClient(
            reconnection=False, websocket_extra_options={"suppress_origin": True}
        )
        for kind in (*KINDS, CHANGE):
            self.client.on(
                kind, lambda message, kind=kind: on_event(kind, message), namespace=self.namespace
            )
        # Cancellations publish only list_update, sent to sockets that asked for the doctype.
        self.client.on("connect", self.subscribe_changes, namespace=self.namespace)

    def check_changes_heard(self, sid: str) -> None:
        """Frappe's realtime server refuses doctype_subscribe silently to a user who may not
        read the doctype (it asks frappe.realtime.can_subscribe_doctype): ask the same, and say
        what that means, once."""
        try:
            self.frappe.call("frappe.realtime.can_subscribe_doctype", sid=sid,
                             doctype=CHANGED_DOCTYPE)  # fmt: skip
        except NotPermitted:
            if not self.warned:
                self.warned = True
                log.warning("%s may not read POS Invoices: cancellations reach screens only when "
                            "their outlet is next re-read from Frappe (give it a role that reads "
                            "POS Invoice)", self.settings.frappe_bridge_user)  # fmt: skip
        except FrappeError:
            pass  # asked again at the next connect

    def subscribe_changes(self) -> None:
        self.client.emit("doctype_subscribe", CHANGED_DOCTYPE, namespace=self.namespace)

    def connect(self) -> None:
        """Log in as the bridge's System User and connect with Frappe's cookie and Origin rules."""
        user, password = self.settings.frappe_bridge_user, self.settings.frappe_bridge_password
        login = self.frappe.login(user, password, client_ip="")
        if not hasattr(login, "sid"):
            raise FrappeError("the bridge user needs a login without two-factor")
        self.check_changes_heard(login.sid)
        parts = urlsplit(self.settings.frappe_url)
        self.client.connect(
            self.settings.frappe_realtime_url,
            namespaces=[self.namespace],
            headers={
                "Cookie": f"sid={login.sid}",
                "Origin": f"{parts.scheme}://{parts.netloc}",
                "X-Frappe-Site-Name": self.settings.frappe_site,
            },
            transports=["polling", "websocket"],
            wait_timeout=10,
        )
        log.info("listening to Frappe's realtime server at %s as %s",
                 self.settings.frappe_realtime_url, user)  # fmt: skip

    def pump(self, timeout: float) -> bool:
        self.client.sleep(timeout)  # events arrive on the client's own thread
        return self.client.connected

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


def check_source_settings(settings: config.Settings) -> None:
    if settings.frappe_realtime == "redis" and not settings.frappe_redis_url:
        raise config.ConfigError("FRAPPE_REDIS_URL", "required for FRAPPE_REALTIME=redis")
    if settings.frappe_realtime == "socketio" and not (
        settings.frappe_bridge_user and settings.frappe_bridge_password
    ):
        raise config.ConfigError(
            "FRAPPE_BRIDGE_USER",
            "FRAPPE_BRIDGE_USER and FRAPPE_BRIDGE_PASSWORD are required "
            "for FRAPPE_REALTIME=socketio",
        )
