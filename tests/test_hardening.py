"""One person with a laptop: odd frames and ids get an answer, never a traceback or silence."""

import json
import re

import pytest
import websocket

from .conftest import web_login
from .test_live import live_client  # noqa: F401  (a fixture)
from .test_tv import csrf_of, pair_over_http

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


@pytest.mark.parametrize("key", ["tokenof", "links", "online", "token"])
def test_display_ids_of_another_shape_are_not_found(web_server, key):
    """Ids reach Redis key names: `tokenof:<id>` once read another key as a display (a 500)."""
    manager = web_login(web_server, "manager1@example.com", "manager1")
    pair_over_http(web_server, manager, label="Shape TV")
    page = f"{web_server}/outlets/OUTLET-001/displays"
    display_id = re.findall(r"/displays/([0-9a-f]{16})/revoke", manager.get(page).text)[-1]
    manager.post(f"{web_server}/outlets/OUTLET-001/displays/kiosk", timeout=10)
    form = {"csrf_token": csrf_of(manager, page), "label": "Renamed"}
    for odd in (f"{key}:{display_id}", display_id.upper(), display_id + "0"):
        for action in ("rename", "revoke"):
            response = manager.post(f"{page}/{odd}/{action}", data=form, timeout=10)
            assert response.status_code == 404, (odd, action, response.status_code)
            assert "No such display" in response.text


def test_healthz_asks_frappe_once_for_many_probes(make_app, frappe_http):
    client = make_app().test_client()
    path = "GET /api/method/frappe.client.get_time_zone"

    def calls():
        counts = frappe_http.as_service("GET", "/api/method/frappe_sim.call_counts")
        return counts.json()["message"].get(path, 0)

    before = calls()
    answers = [client.get("/healthz") for _ in range(200)]
    assert all(a.status_code in (200, 503) and a.json["frappe"] == "ok" for a in answers)
    assert calls() - before <= 1
