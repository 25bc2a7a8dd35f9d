"""Frappe's publish_realtime: PUBLISH on the `events` channel of the site's redis_queue."""

import json
import logging

import redis

log = logging.getLogger("frappe_sim.realtime")


class Publisher:
    def __init__(self, redis_url: str | None, site: str):
        self.site = site
        self.client = redis.Redis.from_url(redis_url) if redis_url else None

    def publish(self, event: str, message: dict, room: str = "all") -> None:
        """Frappe's realtime server relays this to the room (frappe_sim.socket_server)."""
        if self.client is None:
            return
        payload = {"event": event, "message": message, "namespace": self.site, "room": room}
        try:
            self.client.publish("events", json.dumps(payload, sort_keys=True, indent=1))
        except redis.RedisError as exc:
            # Frappe swallows connection errors too: the event is simply gone.
            log.warning("realtime publish of %s dropped: %s", event, exc)

    def publish_doc_change(self, doctype: str, name: str, modified: str, user: str) -> None:
        """The doc_update/list_update pair Frappe sends around every saved document."""
        self.publish(
            "doc_update",
            {"doctype": doctype, "modified": modified, "name": name},
            room=f"doc:{doctype}/{name}",
        )
        self.publish(
            "list_update",
            {"doctype": doctype, "name": name, "user": user},
            room=f"doctype:{doctype}",
        )
