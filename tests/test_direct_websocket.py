"""The WebSocket transport under gevent (dashboard/direct_websocket.py), as clients meet it:
a raw WebSocket speaking Engine.IO and Socket.IO by hand, so each test controls when it reads,
what it answers and what it sends."""

import ast
import contextlib
import hashlib
import importlib.util
import json
import pathlib
from importlib import metadata

import pytest
import redis
import websocket

from dashboard import direct_websocket

from .conftest import start_web, stop, web_login
from .test_hardening import raw_socket
from .test_live import frappe_sale


class RawSocket:
    """One Socket.IO connection over a bare WebSocket: nothing is read until the test asks."""

    def __init__(self, web_url: str, http, receive_buffer: int | None = None):
        self.ws = raw_socket(web_url, http.cookies, receive_buffer)
        self.pings = 0

    def next(self) -> str:
        """The next Engine.IO packet that is not a ping (pings are answered on the way)."""
        while (message := self.ws.recv()) == "2":
            self.pings += 1
            self.ws.send("3")
        return message

    def closed_by_server(self) -> bool:
        """Whether the server closes the connection before anything but pings arrives."""
        with contextlib.suppress(websocket.WebSocketConnectionClosedException, OSError):
            return self.ws.recv() == ""  # what websocket-client returns for a CLOSE frame
        return True

    def subscribe(self, outlet: str) -> dict:
        self.ws.send("420" + json.dumps(["subscribe", {"outlet": outlet, "after": None}]))
        while not (message := self.next()).startswith("430"):
            pass
        return json.loads(message[3:])[0]

    def sale(self) -> dict:
        while True:
            message = self.next()
            if message.startswith("42"):
                event, data = json.loads(message[2:])
                if event == "live_pos_sale":
                    return data


@pytest.fixture
def manager(web_server):
    return web_login(web_server, "manager1@example.com", "manager1")


def test_frames_carry_their_length_in_the_form_rfc_6455_asks():
    for size, header in ((125, 2), (126, 4), (65535, 4), (65536, 10)):
        framed = direct_websocket.frame("x" * size)
        assert len(framed) == header + size
        assert framed[0] == 0x81  # final, text
    assert direct_websocket.frame(b"\x01\x02")[:2] == b"\x82\x02"  # binary


def test_a_screen_that_stops_reading_gets_every_sale_in_order_once_it_reads(
    web_server, bridge, manager, frappe_redis_url
):
    # A TV on a stalled network: its kernel buffers fill and the server must hold the rest
    # in order, while the other screens are served without waiting for it.
    slow = RawSocket(web_server, manager, receive_buffer=4096)
    brisk = RawSocket(web_server, manager)
    assert slow.subscribe("OUTLET-001")["ok"] and brisk.subscribe("OUTLET-001")["ok"]
    items = [{"item": f"Item {n} " + "x" * 60, "qty": 1, "amount": 1} for n in range(20)]
    sent = [frappe_sale(items=items) for _ in range(1500)]  # ~3 MB: more than any buffer
    frappe_redis = redis.Redis.from_url(frappe_redis_url)
    for message in sent:
        frappe_redis.publish("events", json.dumps(message))
    invoices = [message["message"]["invoice"] for message in sent]
    assert [brisk.sale()["invoice"] for _ in invoices] == invoices
    assert [slow.sale()["invoice"] for _ in invoices] == invoices


def test_an_idle_screen_is_pinged_and_stays_connected(frappe_url, redis_url, bridge):
    url, web = start_web(frappe_url, redis_url, SOCKET_PING_SECONDS="0.5")
    try:
        client = RawSocket(url, web_login(url, "manager1@example.com", "manager1"))
        for _ in range(6):  # 3 s: the 0.5 s ping timeout six times over
            assert client.ws.recv() == "2"
            client.ws.send("3")
        assert client.subscribe("OUTLET-001")["ok"]
    finally:
        stop(web)


def test_a_long_polling_browser_is_pinged_and_stays_connected(frappe_url, redis_url, bridge):
    # Behind a proxy that refuses WebSockets a browser stays on long-polling; its pings are
    # sent from the event loop's timer too, through a greenlet.
    url, web = start_web(frappe_url, redis_url, SOCKET_PING_SECONDS="0.5")
    try:
        http = web_login(url, "manager1@example.com", "manager1")
        poll = url + "/socket.io/?EIO=4&transport=polling"
        opened = json.loads(http.get(poll, timeout=10).text[1:])
        poll += "&sid=" + opened["sid"]
        for _ in range(4):  # 2 s: the 0.5 s ping timeout four times over
            assert http.get(poll, timeout=5).text == "2"
            assert http.post(poll, data="3", timeout=5).text == "OK"
        assert http.post(poll, data="40", timeout=5).text == "OK"
        assert http.get(poll, timeout=5).text.startswith("40{")  # Socket.IO's CONNECT answered
    finally:
        stop(web)


def test_a_screen_that_stops_answering_pings_is_closed(frappe_url, redis_url, bridge):
    url, web = start_web(frappe_url, redis_url, SOCKET_PING_SECONDS="0.5")
    try:
        client = RawSocket(url, web_login(url, "manager1@example.com", "manager1"))
        while (message := client.ws.recv()) == "2":  # a ping, not answered
            pass
        assert message in ("1", "")  # Engine.IO's CLOSE, or the WebSocket's
    finally:
        stop(web)


def test_a_message_over_the_limit_closes_only_that_socket(web_server, bridge, manager):
    other = RawSocket(web_server, manager)
    client = RawSocket(web_server, manager)
    with contextlib.suppress(OSError):  # the server may close while this is still sending
        client.ws.send("42" + json.dumps(["status", "x" * 1_100_000]))  # over Engine.IO's 1 MB
    assert client.closed_by_server()
    assert other.subscribe("OUTLET-001")["ok"]


def test_messages_are_not_compressed(web_server, bridge, manager):
    # Compression costs the server CPU per socket for messages of a few hundred bytes.
    cookie = "; ".join(f"{c.name}={c.value}" for c in manager.cookies)
    ws = websocket.WebSocket()
    ws.connect(
        web_server.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket",
        cookie=cookie,
        header=["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
    )
    try:
        assert "sec-websocket-extensions" not in ws.getheaders()
        assert ws.recv().startswith("0")
    finally:
        ws.close()


# What direct_websocket.py adapts of python-engineio: the methods it replaces, and the one that
# calls its WebSocket class (server._async["websocket"](handler, server)(environ, ...)). Each
# digest is of that method's source in python-engineio 4.15.1, which the adaptation follows.
ADAPTED = {
    "engineio.middleware:WSGIApp.__call__": "f3e75d5c7dec8f90",
    "engineio.socket:Socket.send": "add5df2eafdaeba6",
    "engineio.socket:Socket.close": "45bbdca61c81338d",
    "engineio.socket:Socket.schedule_ping": "ad28edec571600f6",
    "engineio.socket:Socket._websocket_handler": "613e11f7821225c9",
    "engineio.socket:Socket._upgrade_websocket": "b2d04bae6784f12a",
}


def engineio_source(where: str) -> str:
    """The source of a function or method as the installed python-engineio has it (read from
    its file: in this process direct_websocket.install may have replaced the live one)."""
    module, qualname = where.split(":")
    path = pathlib.Path(importlib.util.find_spec(module).origin)
    text = path.read_text()
    node = ast.parse(text)
    for name in qualname.split("."):
        found = [n for n in ast.iter_child_nodes(node)
                 if isinstance(n, ast.ClassDef | ast.FunctionDef) and n.name == name]  # fmt: skip
        assert found, f"python-engineio no longer has {qualname} in {module}: see below"
        node = found[0]
    return ast.get_source_segment(text, node)


@pytest.mark.parametrize("where", list(ADAPTED))
def test_the_python_engineio_code_we_adapt_is_what_we_adapted(where):
    digest = hashlib.sha256(engineio_source(where).encode()).hexdigest()[:16]
    assert digest == ADAPTED[where], (
        f"python-engineio {metadata.version('python-engineio')} changed {where}, which "
        "dashboard/direct_websocket.py replaces or relies on (written against 4.15.1). Read the "
        "new code, carry its change into direct_websocket.py (or stop installing it: the stock "
        f"transport works, only slower), then set this digest to {digest}. README: Upgrading "
        "python-engineio."
    )
