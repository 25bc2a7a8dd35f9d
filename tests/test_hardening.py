"""One person with a laptop: odd frames and ids get an answer, never a traceback or silence."""

import json

import pytest
import websocket

from .conftest import web_login
from .test_live import live_client  # noqa: F401  (a fixture)

MAX = 2**64 - 1


@pytest.mark.parametrize(
    "after",
    [f"{MAX}-{MAX}", f"{MAX + 1}-0", f"0-{MAX + 1}", "99999999999999999999-0", "1-x", 7, ["0-0"]],
)
def test_unusable_after_ids_are_answered_as_bad_requests(live_client, after):
    client = live_client()
    ack = client.sio.call("subscribe", {"outlet": "OUTLET-001", "after": after}, timeout=10)
    assert ack == {"ok": False, "error": "bad_request"}
    assert client.subscribe("OUTLET-001", after=f"{MAX}-{MAX - 1}")["ok"]  # the largest usable


def raw_socket(web_url, cookies):
    """A bare Socket.IO connection over one WebSocket: frames exactly as we write them."""
    ws = websocket.create_connection(
        web_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
        cookie="; ".join(f"{c.name}={c.value}" for c in cookies),
        origin=web_url,
        timeout=10,
    )
    assert ws.recv().startswith("0{")  # Engine.IO open
    ws.send("40")
    assert ws.recv().startswith("40{")  # Socket.IO connect
    return ws


def answer_to(ws, ack_id):
    while True:
        frame = ws.recv()
        if frame == "2":  # Engine.IO ping
            ws.send("3")
        elif frame.startswith(f"43{ack_id}["):
            return json.loads(frame[len(f"43{ack_id}") :])[0]


@pytest.mark.parametrize(
    "frame",
    [
        '["subscribe",' + "[" * 5000 + "]" * 5000 + "]",  # deeper than any parser goes
        '["subscribe",{"outlet": "OUTLET-001", "after": }]',  # not JSON
        '["subscribe",' + '{"a":' * 3000 + "1" + "}" * 3000 + "]",
    ],
)
def test_malformed_and_too_deep_frames_get_an_answer(web_server, bridge, frame, caplog):
    http = web_login(web_server, "manager1@example.com", "manager1")
    ws = raw_socket(web_server, http.cookies)
    try:
        ws.send(f"427{frame}")
        assert answer_to(ws, 7) == {"ok": False, "error": "bad_request"}
        # The socket still works afterwards.
        ws.send('428["subscribe",{"outlet":"OUTLET-001","after":null}]')
        assert answer_to(ws, 8)["ok"] is True
    finally:
        ws.close()
