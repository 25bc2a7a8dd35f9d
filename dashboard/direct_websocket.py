"""Engine.IO's WebSocket transport under gevent, each message written straight to the socket.

Stock python-engineio (with simple-websocket) gives every WebSocket four greenlets (the
request's, a reader thread, a writer taking each packet off a queue, a ping timer asleep for
25 s) and frames every message for every recipient in pure Python, deflated per socket when the
client offers permessage-deflate. The capacity profile (docs/benchmarks.md, section 7) found
most of the web process's CPU at high fan-out in that queue, the switch to the writer and the
framing, and most of an idle socket's memory in the waiting greenlets.

Here a WebSocket is one greenlet, the request's, which reads the client's frames. A message is
framed once per packet (python-socketio sends one packet object to every socket of a room) and
written with a non-blocking send by whichever greenlet sends it; only when the kernel's buffer is
full does a greenlet start, to write the rest in order. A ping waits on the event loop's timer,
not in a greenlet. Messages are not compressed: they are a few hundred bytes, and Node's
socket.io does not compress by default either.

Long-polling, and the threading and eventlet modes, keep python-engineio's own code.
"""

import contextlib
import struct
import time

import gevent
from engineio import exceptions
from engineio import middleware as eio_middleware
from engineio import packet as eio_packet
from engineio import socket as eio_socket
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from . import frames

RECEIVE_BYTES = 4096


def frame(message: str | bytes) -> bytes:
    """One final, unmasked frame, as a server sends it (RFC 6455, section 5.2)."""
    opcode, payload = (0x81, message.encode()) if isinstance(message, str) else (0x82, message)
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", opcode, length) + payload
    if length < 65536:
        return struct.pack("!BBH", opcode, 126, length) + payload
    return struct.pack("!BBQ", opcode, 127, length) + payload


def frame_of(pkt) -> bytes:
    """The packet's frame, made once however many sockets it goes to."""
    try:
        return pkt.websocket_frame
    except AttributeError:
        pkt.websocket_frame = frame(pkt.encode())
        return pkt.websocket_frame


def handshake_of(environ) -> bytes:
    """The upgrade request again, as wsproto reads it (simple-websocket does the same)."""
    lines = ["GET / HTTP/1.1"]
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            lines.append(f"{key[5:].replace('_', '-').title()}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class WebSocket:
    """The `websocket` of Engine.IO's async driver: called with the upgrade request, it accepts
    it and runs Engine.IO's handler on this greenlet for the connection's life."""

    __slots__ = ("handler", "server", "sock", "connection", "parts", "unsent", "writer", "closed")

    def __init__(self, handler, server):
        self.handler, self.server = handler, server
        self.sock = self.connection = self.writer = None
        self.parts = []  # a fragmented message's frames so far
        self.unsent = None  # while a writer greenlet runs: what waits behind it, in order
        self.closed = False

    def __call__(self, environ, start_response):
        gunicorn = "gunicorn.socket" in environ
        self.sock = environ["gunicorn.socket"] if gunicorn else pywsgi_socket(environ)
        if not self.accept(environ):
            return self.server._bad_request("Not a WebSocket handshake")
        try:
            self.handler(self)
        finally:
            self.sock.close()
        if gunicorn:
            # The upgrade was the response: simple-websocket tells gunicorn the same way.
            raise StopIteration()
        return []

    def accept(self, environ) -> bool:
        handshake = WSConnection(ConnectionType.SERVER)
        try:
            handshake.receive_data(handshake_of(environ))
            if not isinstance(next(handshake.events(), None), Request):
                return False
            self.sock.sendall(handshake.send(AcceptConnection()))
        except (RemoteProtocolError, OSError):
            return False
        self.connection = handshake.connection  # the frames' state only, not the HTTP's
        # A client that has sent nothing, not even a pong, for this long is gone.
        self.sock.settimeout(self.server.ping_interval + self.server.ping_timeout)
        return True

    def send(self, message: str | bytes) -> None:
        self.write(frame(message))

    def send_packet(self, pkt) -> None:
        self.write(frame_of(pkt))

    def write(self, data: bytes) -> None:
        if self.unsent is not None:
            self.unsent.append(data)
            return
        try:
            sent = self.sock.send(data, 0, 0.0)  # gevent's send; timeout 0: never waits
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the connection is gone: the reader finds out and ends the socket
        if sent < len(data):
            self.unsent = [data[sent:]]
            self.writer = gevent.spawn(self.write_unsent)

    def write_unsent(self) -> None:
        """Write what the kernel's buffer would not take, and what came after, in order."""
        try:
            while self.unsent:
                data = b"".join(self.unsent)
                self.unsent.clear()
                self.sock.sendall(data)
        except OSError:
            self.closed = True
            self.sock.close()  # a client that stopped reading: the reader ends the socket
        finally:
            self.unsent = self.writer = None

    def wait_written(self) -> None:
        if self.writer is not None:
            self.writer.join()

    def wait(self) -> str | bytes | None:
        """The client's next message; None once the connection is closed."""
        while not self.closed:
            try:
                for event in self.connection.events():
                    message = self.take(event)
                    if message is not None or self.closed:
                        return message
                data = self.sock.recv(RECEIVE_BYTES)
                if not data:
                    break
                self.connection.receive_data(data)
            except (OSError, LocalProtocolError, RemoteProtocolError):
                break  # gone, or frames after its Close: the socket ends now
        self.closed = True
        return None

    def take(self, event) -> str | bytes | None:
        if isinstance(event, (TextMessage, BytesMessage)):
            self.parts.append(event.data)
            if sum(len(part) for part in self.parts) > self.server.max_http_buffer_size:
                self.close(CloseReason.MESSAGE_TOO_BIG)
                self.closed = True
            elif event.message_finished:
                message, self.parts = self.parts[0][:0].join(self.parts), []
                return message
        elif isinstance(event, Ping):
            self.send_control(event.response())
        elif isinstance(event, CloseConnection):
            self.send_control(event.response())
            self.closed = True
        return None

    def send_control(self, event) -> None:
        # LocalProtocolError: a close crossing ours, nothing more to say.
        with contextlib.suppress(LocalProtocolError):
            self.write(self.connection.send(event))

    def close(self, code=CloseReason.NORMAL_CLOSURE) -> None:
        """Say goodbye after what is still unsent; the reader ends on the client's answer."""
        self.send_control(CloseConnection(code=code))


def pywsgi_socket(environ):
    """The connection's socket under gevent's own WSGI server (`socketio.run`)."""
    wsgi_input = environ["wsgi.input"]
    rfile = getattr(wsgi_input, "rfile", wsgi_input)
    return rfile.raw._sock


STOCK_WSGI_CALL = eio_middleware.WSGIApp.__call__
STOCK_SEND = eio_socket.Socket.send
STOCK_CLOSE = eio_socket.Socket.close
STOCK_SCHEDULE_PING = eio_socket.Socket.schedule_ping
STOCK_HANDLER = eio_socket.Socket._websocket_handler


def wsgi_call(self, environ, start_response):
    """WSGIApp.__call__ without the class python-engineio defines per request under gunicorn
    for eventlet's WebSocket: the request's frame keeps it for the socket's life (2.5 KiB)."""
    path = environ["PATH_INFO"]
    if path is not None and path.startswith(self.engineio_path):
        return self.engineio_app.handle_request(environ, start_response)
    return STOCK_WSGI_CALL(self, environ, start_response)


def send(self, pkt):
    """Socket.send: straight to the WebSocket once there is one."""
    websocket = getattr(self, "websocket", None)
    if websocket is None:
        return STOCK_SEND(self, pkt)
    if self.check_ping_timeout():
        websocket.send_packet(pkt)


def close(self, wait=True, abort=False, reason=None):
    """Socket.close, as python-engineio 4.15 has it, with the WebSocket in place of the queue."""
    websocket = getattr(self, "websocket", None)
    if websocket is None:
        return STOCK_CLOSE(self, wait, abort, reason)
    if self.closed or self.closing:
        return
    self.closing = True
    reason = reason or self.server.reason.SERVER_DISCONNECT
    self.server._trigger_event("disconnect", self.sid, reason, run_async=False)
    if not abort:
        websocket.send_packet(eio_packet.Packet(eio_packet.CLOSE))
    self.closed = True
    websocket.close()
    if wait:
        websocket.wait_written()


def schedule_ping(self):
    """Socket.schedule_ping with the event loop's timer: no greenlet per socket between pings."""
    if self.server.async_mode != "gevent":
        return STOCK_SCHEDULE_PING(self)
    if self.last_ping:
        self.last_ping = None
        gevent.get_hub().loop.timer(self.server.ping_interval).start(ping_when_due, self)


def ping_when_due(socket):
    """Runs in the event loop itself, where nothing may wait: a WebSocket's send never does
    (WebSocket.write); a long-polling socket's goes through a greenlet."""
    if getattr(socket, "websocket", None) is None:
        gevent.spawn(ping, socket)
    else:
        ping(socket)


def ping(socket):
    if not socket.closing and not socket.closed:
        socket.last_ping = time.time()
        socket.send(eio_packet.Packet(eio_packet.PING))


def websocket_handler(self, ws):
    """Socket._websocket_handler, as python-engineio 4.15 has it, without the writer greenlet."""
    if not isinstance(ws, WebSocket):
        return STOCK_HANDLER(self, ws)
    if self.connected and not upgraded_from_polling(self, ws):
        return []
    self.connected = self.upgraded = True
    for pkt in queued(self):  # the OPEN packet, or what the last poll did not take
        ws.send_packet(pkt)
    self.websocket = ws
    # Only long-polling reads the queue again (2.5 KiB a socket, for the socket's life).
    self.queue = None
    while (message := ws.wait()) is not None:
        try:
            pkt = eio_packet.Packet(encoded_packet=message)
        except (ValueError, TypeError, IndexError):
            frames.refused("unreadable Engine.IO packet")  # no frame of it can be answered
            break
        try:
            self.receive(pkt)
        except exceptions.UnknownPacketError:
            pass
        except exceptions.SocketIsClosedError:
            break
        except Exception:
            self.server.logger.exception("Unknown receive error")
            break
    ws.close()
    self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
    return []


def upgraded_from_polling(self, ws) -> bool:
    """The client's probe then its UPGRADE packet, as Engine.IO's handler checks them."""
    self.upgrading = True  # sends are held on the queue meanwhile
    try:
        if decoded(ws.wait()) != (eio_packet.PING, "probe"):
            return False
        ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
        self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # ends the pending poll
        return decoded(ws.wait())[0] == eio_packet.UPGRADE
    finally:
        self.upgrading = False


def decoded(message) -> tuple:
    try:
        pkt = eio_packet.Packet(encoded_packet=message)
    except (TypeError, ValueError, IndexError):
        return (None, None)
    return (pkt.packet_type, pkt.data)


def queued(self) -> list:
    packets = []
    while not self.queue.empty():
        pkt = self.queue.get_nowait()
        self.queue.task_done()
        if pkt is not None:
            packets.append(pkt)
    return packets


def install(engineio_server) -> None:
    """Use the direct WebSocket for this Engine.IO server if it runs under gevent (written
    against python-engineio 4.15, pinned in pyproject.toml)."""
    if engineio_server.async_mode != "gevent":
        return
    engineio_server._async = {**engineio_server._async, "websocket": WebSocket}
    eio_middleware.WSGIApp.__call__ = wsgi_call
    eio_socket.Socket.send = send
    eio_socket.Socket.close = close
    eio_socket.Socket.schedule_ping = schedule_ping
    eio_socket.Socket._websocket_handler = websocket_handler
