"""What a client's Socket.IO frames may be, checked as python-socketio decodes them.

python-socketio routes a client EVENT by its first element to the handler of that name, so a
client that sent `["disconnect"]` once reached our disconnect handler, which forgot the socket
while it stayed connected and in its rooms: logout and revoke, working from that registry, then
missed it. Here every frame is decoded before any handler sees it, and one that is not a plain
event of ours (a lifecycle name, not JSON, too deep, binary, an ack we never asked for, no event
name at all) becomes the event BAD_FRAME instead: its ack answers bad_request, it is counted by
kind, and the log gets one line per kind, never a traceback.
"""

import json
import logging

from socketio import packet

from .metrics import BAD_FRAMES

log = logging.getLogger(__name__)

BAD_FRAME = "bad_frame"
# Names python-socketio or Flask-SocketIO give meaning to; a client may never send them.
RESERVED = frozenset({"connect", "disconnect", "connect_error", "message", "json", BAD_FRAME})
_logged: set[str] = set()


class WireJSON:
    """JSON as frames carry it: UTF-8 text rather than an escape per character (an emoji is 4
    bytes, not 12), unless the data holds text UTF-8 cannot carry (a lone surrogate)."""

    loads = staticmethod(json.loads)

    @staticmethod
    def dumps(data, **kwargs) -> str:
        text = json.dumps(data, ensure_ascii=False, **kwargs)
        try:
            text.encode()
        except UnicodeEncodeError:
            return json.dumps(data, **kwargs)
        return text


class CheckedPacket(packet.Packet):
    json = WireJSON

    def __init__(self, *args, encoded_packet=None, **kwargs):
        super().__init__(*args, encoded_packet=encoded_packet, **kwargs)
        if encoded_packet is not None and not encoded_packet:  # never decoded: nothing to read
            self.refuse("empty")

    def decode(self, encoded_packet):
        try:
            attachments = super().decode(encoded_packet)
        except RecursionError:
            return self.refuse("nested too deeply")
        except ValueError as exc:  # json's errors are ValueErrors too
            return self.refuse(
                "not JSON" if isinstance(exc, json.JSONDecodeError) else "unreadable"
            )
        except (TypeError, IndexError, UnicodeError):
            return self.refuse("unreadable")
        problem = self.problem(attachments)
        return self.refuse(problem) if problem else 0

    def problem(self, attachments: int) -> str | None:
        kind = self.packet_type
        if attachments or kind in (packet.BINARY_EVENT, packet.BINARY_ACK):
            return "binary"
        if kind == packet.ACK:
            return "unexpected ack"  # the server never asks a client for one
        if kind == packet.CONNECT:
            return None if self.data is None or isinstance(self.data, dict) else "bad connect"
        if kind == packet.DISCONNECT:
            return None
        if kind != packet.EVENT:
            return "unknown type"
        name = self.data[0] if isinstance(self.data, list) and self.data else None
        if not isinstance(name, str):
            return "not an event"
        return "reserved name" if name in RESERVED else None

    def refuse(self, kind: str) -> int:
        """Become the event BAD_FRAME, keeping the ack id so the sender hears why."""
        refused(kind)
        self.packet_type, self.data = packet.EVENT, [BAD_FRAME, kind]
        if not isinstance(self.id, int):
            self.id = None
        return 0


def refused(kind: str) -> None:
    BAD_FRAMES.labels(kind).inc()
    if kind not in _logged:  # once per kind: input must not flood the log
        _logged.add(kind)
        log.warning("a Socket.IO frame refused: %s (further ones are only counted)", kind)
