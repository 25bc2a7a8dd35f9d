"""A hostile client with a session or a display token: no frame it sends keeps a socket in a
room it has lost the right to (issue 27)."""

import contextlib
import json
import re
import threading
import time

import pytest
import redis

from .conftest import start_web, stop, web_login
from .test_hardening import answer_to, answers_within, hold_requests, raw_socket, status_line
from .test_live import live_client, quick_recheck_web, set_outlets, submit_sale  # noqa: F401
from .test_rush import metric
from .test_tv import csrf_of, pair_over_http

# Every trick a client can play with lifecycle names, sent before the way out is taken.
TRICKS = [
    '["disconnect"]',
    '["disconnect","client namespace disconnect"]',
    '["connect"]',
    '["connect",{"version":"x"}]',
    '["connect_error"]',
]


class Listener:
    """Reads a raw socket's frames in a thread, answering pings: what it heard, and whether the
    server closed it."""

    def __init__(self, ws):
        self.ws, self.frames, self.closed = ws, [], threading.Event()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        with contextlib.suppress(Exception):  # closed: by the server, or by the test
            while frame := self.ws.recv():
                if frame == "2":
                    self.ws.send("3")
                self.frames.append(frame)
        self.closed.set()

    def heard(self, text: str) -> bool:
        return any(text in frame for frame in self.frames)


def play_tricks(ws, outlet: str) -> Listener:
    """Subscribe, then send every lifecycle name as a client event; each is refused."""
    subscribe = json.dumps({"outlet": outlet, "after": None})
    ws.send(f'420["subscribe",{subscribe}]')
    assert answer_to(ws, 0)["ok"] is True
    for n, trick in enumerate(TRICKS, start=1):
        ws.send(f"42{n}{trick}")
        assert answer_to(ws, n) == {"ok": False, "error": "bad_request"}, trick
    ws.send(f'429["subscribe",{subscribe}]')  # still itself
    assert answer_to(ws, 9)["ok"] is True
    return Listener(ws)


def sales_after(listener, frappe_http, outlet, count=3) -> list[str]:
    """Make `count` sales of `outlet`; the ones this socket heard within a few seconds."""
    invoices = [submit_sale(frappe_http, outlet) for _ in range(count)]
    time.sleep(3)
    return [invoice for invoice in invoices if listener.heard(invoice)]


def wait_closed(listener, seconds=10):
    assert listener.closed.wait(seconds), "the socket is still open"


def logout(web_url, http):
    http.post(web_url + "/logout", data={"csrf_token": csrf_of(http, web_url + "/")}, timeout=10)


def test_a_client_sent_disconnect_is_refused_and_logout_still_closes(web_server, bridge,
                                                                       frappe_http):  # fmt: skip
    http = web_login(web_server, "manager1@example.com", "manager1")
    listener = play_tricks(raw_socket(web_server, http.cookies), "OUTLET-001")
    assert not listener.heard("43")  # no lifecycle handler answered
    logout(web_server, http)
    wait_closed(listener)
    assert listener.heard('"session_expired"')
    assert sales_after(listener, frappe_http, "OUTLET-001") == []


def test_a_revoked_display_that_played_tricks_is_closed(web_server, bridge, frappe_http):
    manager = web_login(web_server, "manager1@example.com", "manager1")
    tv = pair_over_http(web_server, manager, label="Tricky TV")
    listener = play_tricks(raw_socket(web_server, tv.cookies), "OUTLET-001")
    page = f"{web_server}/outlets/OUTLET-001/displays"
    display_id = re.findall(r"/displays/([0-9a-f]{16})/revoke", manager.get(page).text)[-1]
    form = {"csrf_token": csrf_of(manager, page)}
    assert manager.post(f"{page}/{display_id}/revoke", data=form, timeout=10).ok
    wait_closed(listener)
    assert listener.heard('"display_revoked"')
    assert sales_after(listener, frappe_http, "OUTLET-001") == []


def test_an_outlet_taken_away_by_frappe_is_left_despite_tricks(quick_recheck_web, frappe_http,
                                                                bridge):  # fmt: skip
    http = web_login(quick_recheck_web, "manager2@example.com", "manager2")
    listener = play_tricks(raw_socket(quick_recheck_web, http.cookies), "OUTLET-003")
    set_outlets(frappe_http, "manager2@example.com", ["OUTLET-002"])
    try:
        deadline = time.monotonic() + 10
        while not listener.heard('"forbidden"') and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listener.heard('["forbidden",{"outlet":"OUTLET-003"}]')
        assert sales_after(listener, frappe_http, "OUTLET-003") == []
    finally:
        set_outlets(frappe_http, "manager2@example.com", ["OUTLET-002", "OUTLET-003"])
        listener.ws.close()


def test_an_expired_session_that_played_tricks_is_closed(quick_recheck_web, redis_url, bridge,
                                                         frappe_http):  # fmt: skip
    http = web_login(quick_recheck_web, "manager1@example.com", "manager1")
    listener = play_tricks(raw_socket(quick_recheck_web, http.cookies), "OUTLET-001")
    session_id = http.cookies["fd_session"]
    redis.Redis.from_url(redis_url).delete(f"session:{session_id}")  # as its TTL would
    wait_closed(listener)
    assert sales_after(listener, frappe_http, "OUTLET-001") == []


@pytest.mark.parametrize(
    "frame", ["42[]", '42[{"a":1}]', "42[7]", '42"x"', "4", "49", "43[1]", "4x"]
)
def test_malformed_socketio_frames_are_answered_and_the_socket_lives(web_server, bridge, frame):
    http = web_login(web_server, "manager1@example.com", "manager1")
    ws = raw_socket(web_server, http.cookies)
    try:
        ws.send(frame)
        ws.send('428["subscribe",{"outlet":"OUTLET-001","after":null}]')
        assert answer_to(ws, 8)["ok"] is True
    finally:
        ws.close()


def test_reserved_names_are_counted(web_server, bridge):
    http = web_login(web_server, "manager1@example.com", "manager1")
    ws = raw_socket(web_server, http.cookies)
    try:
        ws.send('421["disconnect"]')
        assert answer_to(ws, 1) == {"ok": False, "error": "bad_request"}
    finally:
        ws.close()
    assert metric(web_server, "dashboard_bad_frames_total", "reserved name") >= 1


def test_a_socket_the_registry_lost_leaves_its_rooms_and_is_closed(make_app, monkeypatch):
    """Defence in depth: however a socket's entry was lost, the sweep takes it out of every
    outlet's room, then closes it."""
    import flask_socketio.test_client

    from dashboard import live
    from dashboard.extensions import socketio

    from .conftest import login

    # Flask-SocketIO's test client refuses a message queue; rooms here are this process's own.
    monkeypatch.setattr(flask_socketio.test_client, "PubSubManager", type("NoQueue", (), {}))
    app = make_app()
    http = app.test_client()
    login(http)
    client = socketio.test_client(app, flask_test_client=http)
    ack = client.emit("subscribe", {"outlet": "OUTLET-001", "after": None}, callback=True)
    assert ack["ok"] is True
    manager = socketio.server.manager
    sid = manager.sid_from_eio_sid(client.eio_sid, "/")
    room = manager.rooms["/"]["outlet:OUTLET-001"]
    assert sid in room
    live.sockets.pop(sid)  # as the client-sent `disconnect` once did
    with app.app_context():
        live.audit_rooms()
        assert sid not in manager.rooms["/"].get("outlet:OUTLET-001", {})
        assert client.is_connected()  # a socket may be half way through connecting: one round
        live.audit_rooms()
    assert not client.is_connected()


def test_a_close_frame_with_more_after_it_ends_the_socket_at_once(web_server, bridge):
    """python-socketio's own client often sends a frame after its Close."""
    from websocket import ABNF

    http = web_login(web_server, "manager1@example.com", "manager1")
    before = metric(web_server, "dashboard_live_sockets", "manager")
    ws = raw_socket(web_server, http.cookies)
    assert metric(web_server, "dashboard_live_sockets", "manager") == before + 1
    close = ABNF.create_frame(b"\x03\xe8", ABNF.OPCODE_CLOSE).format()
    ws.sock.sendall(close + ABNF.create_frame("41", ABNF.OPCODE_TEXT).format())
    deadline = time.monotonic() + 5
    while (
        metric(web_server, "dashboard_live_sockets", "manager") > before
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert metric(web_server, "dashboard_live_sockets", "manager") == before
    ws.sock.close()


MALFORMED = ["42[]", '42[{"a":1}]', "42[7]", '42"x"', "4", "49", "43[1]", "4x",
             '42["disconnect"]', '40"x"', '451-["subscribe",{"_placeholder":true,"num":0}]',
             "x", "", "9", "5", "6"]  # fmt: skip


def test_malformed_frames_are_logged_once_per_kind_never_a_traceback(frappe_url, redis_url,
                                                                    tmp_path):  # fmt: skip
    log_path = tmp_path / "web.log"
    with open(log_path, "w") as log:
        web_url, web = start_web(frappe_url, redis_url, log=log)
    try:
        http = web_login(web_url, "manager1@example.com", "manager1")
        for _ in range(2):
            for frame in MALFORMED:
                ws = raw_socket(web_url, http.cookies)
                ws.send(frame)
                ws.send_binary(b"\x04\x00binary")
                ws.send('428["subscribe",{"outlet":"OUTLET-001","after":null}]')
                with contextlib.suppress(Exception):  # an Engine.IO frame it cannot read ends it
                    answer_to(ws, 8)
                ws.close()
    finally:
        stop(web)
    text = log_path.read_text()
    assert "Traceback" not in text, text[-3000:]
    refused = re.findall(r"a Socket.IO frame refused: (.+?) \(", text)
    assert refused and len(refused) == len(set(refused)), refused


def test_anonymous_page_loads_leave_our_redis_flat(make_app, redis_url):
    """10,000 page loads by browsers that never log in, from 20 addresses."""
    app = make_app(PAIRING_CODES_TOTAL="50 per 10 minutes")
    ours = redis.Redis.from_url(redis_url)
    paths = ["/login", "/login?next=/outlets/OUTLET-001", "/locator", "/tv", "/"]
    for path in paths:  # what any first visitor fills: the locator's cache, the time zone
        app.test_client().get(path)
    keys, memory = ours.dbsize(), ours.info("memory")["used_memory"]
    for n in range(10_000):
        browser = app.test_client()  # a new browser each time: no cookies
        browser.environ_base["REMOTE_ADDR"] = f"203.0.113.{n % 20}"
        assert browser.get(paths[n % len(paths)]).status_code in (200, 302, 429)
    assert not list(ours.scan_iter("session:*")), "an anonymous visit stored a session"
    # Pairing codes (two keys each, bounded in total) and rate counters (one per address).
    grown = ours.dbsize() - keys
    assert grown <= 2 * 50 + 2 * 20 + 5, grown
    assert ours.info("memory")["used_memory"] - memory < 1_000_000


def test_large_sales_are_stored_compactly_and_replayed_within_a_bound(
    live_client, frappe_redis_url, redis_url
):
    """A Frappe user who names items can make a sale of 220 KB: stored as a few KiB of UTF-8,
    and a replay of many such sales stays within its byte bound."""
    from dashboard.events import MAX_SALE_BYTES, compact
    from dashboard.live import REPLAY_BYTES

    from .test_live import frappe_sale, publish_raw, sale_of

    client = live_client("manager2@example.com", "manager2")
    client.subscribe("OUTLET-003")
    small = frappe_sale("OUTLET-003")
    publish_raw(frappe_redis_url, small)
    _, seen = client.wait_for(sale_of(small["message"]["invoice"]))
    after = seen["id"]
    items = [{"item": "🍕" * 100 + f" {n}", "qty": 1, "amount": 1} for n in range(500)]
    invoices = []
    for _ in range(80):
        sale = frappe_sale("OUTLET-003", grand_total=500, items=items)
        raw = json.dumps(sale, ensure_ascii=False).encode()
        assert 200_000 < len(raw) < 256 * 1024
        publish_raw(frappe_redis_url, raw)
        invoices.append(sale["message"]["invoice"])
    client.wait_for(lambda e, d: e == "live_pos_sale" and d["invoice"] == invoices[-1], 30)
    heard = [s for s in client.sales() if s["invoice"] in invoices]
    assert len(heard) == 80
    assert all(s["grand_total"] == 500 and s["items_omitted"] > 0 for s in heard)
    assert heard[0]["items"][0]["item"] == "🍕" * 100 + " 0"
    ours = redis.Redis.from_url(redis_url)
    for _, fields in ours.xrevrange("feed:OUTLET-003", count=80):
        assert len(fields[b"event"]) <= MAX_SALE_BYTES
        assert "🍕".encode() in fields[b"event"]  # UTF-8, not \\ud83c\\udf55
    replay = client.subscribe("OUTLET-003", after=after)
    size = len(compact(replay["events"]).encode())  # as python-socketio writes it
    assert size <= REPLAY_BYTES and replay["complete"] is False
    assert replay["events"][-1]["invoice"] == invoices[-1]  # the newest, in order
    ids = [event["id"] for event in replay["events"]]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))


def test_sales_of_outlets_that_do_not_exist_are_dropped_and_counted(
    live_client, frappe_redis_url, redis_url, frappe_http
):
    from .test_live import frappe_sale, publish_raw, sale_of

    client = live_client("Administrator", "admin")
    client.subscribe("OUTLET-001")
    ghosts = [f"GHOST-{time.time_ns()}-{n}" for n in range(5)]
    for _ in range(3):  # the same names again: Frappe is asked once per name
        for ghost in ghosts:
            publish_raw(frappe_redis_url, frappe_sale(ghost))
    real = frappe_sale("OUTLET-001")
    publish_raw(frappe_redis_url, real)
    client.wait_for(sale_of(real["message"]["invoice"]), 10)  # sent after the ghosts
    ours = redis.Redis.from_url(redis_url)
    assert not [key for ghost in ghosts for key in ours.scan_iter(f"feed*{ghost}*")]
    assert int(ours.hget("bridge:stats", "unknown_outlet") or 0) >= 15
    counts = frappe_http.as_service("GET", "/api/method/frappe_sim.call_counts").json()["message"]
    asked = sum(n for key, n in counts.items() if "GHOST-" in key and key.endswith("(token)"))
    assert asked == len(ghosts), counts  # once per name


def slow_posts(web_url: str, count: int) -> list:
    """`count` POST /login requests that promise 60,000 bytes and send a few: held open."""
    head = (
        b"POST /login HTTP/1.1\r\nHost: dashboard\r\nContent-Length: 60000\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\nusr=a"
    )
    return hold_requests(web_url, count, head)


@pytest.mark.slow
def test_slow_request_bodies_cost_time_not_connections(frappe_url, redis_url):
    web_url, web = start_web(
        frappe_url, redis_url, REQUEST_BODY_SECONDS="3",
        GUNICORN_CMD_ARGS="--worker-connections 300",
    )  # fmt: skip
    held = []
    try:
        held = slow_posts(web_url, 299)
        lines = [status_line(sock) for sock in held]  # each waits for its answer
        assert set(lines) == {"HTTP/1.1 408 REQUEST TIMEOUT"}, set(lines)
        answers_within(web_url + "/locator")
        answers_within(web_url + "/login")
    finally:
        for sock in held:
            sock.close()
        stop(web)


@pytest.mark.slow
def test_subscribe_budgets_hold_per_person_and_per_address_across_logins(make_stack):
    from .test_live import LiveClient

    stack = make_stack(SUBSCRIBES_PER_USER="30 per minute", SUBSCRIBES_PER_ADDRESS="50 per minute")
    logins = [web_login(stack.web_url, "manager1@example.com", "manager1") for _ in range(3)]
    clients = [LiveClient(stack.web_url, http) for http in logins]
    try:
        answers = [c.subscribe("OUTLET-001") for c in clients for _ in range(15)]
        assert sum(a["ok"] for a in answers) == 30  # one person, however many logins
        assert {a["error"] for a in answers if not a["ok"]} == {"rate_limited"}
        other = LiveClient(stack.web_url, web_login(stack.web_url, "manager2@example.com",
                                                    "manager2"))  # fmt: skip
        clients.append(other)
        more = [other.subscribe("OUTLET-002") for _ in range(30)]
        assert sum(a["ok"] for a in more) == 20  # the address's 50, shared by both people
    finally:
        for client in clients:
            client.close()


@pytest.mark.slow
def test_long_polling_sockets_count_toward_the_caps(make_stack):
    import requests

    stack = make_stack(SOCKETS_PER_SESSION="5")
    http = web_login(stack.web_url, "manager1@example.com", "manager1")
    url = stack.web_url + "/socket.io/?EIO=4&transport=polling"
    codes = [http.get(url, timeout=10).status_code for _ in range(8)]
    assert codes == [200] * 5 + [429] * 3
    ws_refused = requests.get(
        stack.web_url + "/socket.io/?EIO=4&transport=websocket",
        headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
        cookies=http.cookies, timeout=10,
    )  # fmt: skip
    assert ws_refused.status_code == 429  # the same cap, whichever the transport
