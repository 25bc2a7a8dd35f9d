"""One person with a laptop: odd frames and ids get an answer, never a traceback or silence."""

import json
import re
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests
import websocket

from .conftest import web_login
from .test_live import (
    LiveClient,
    live_client,  # noqa: F401  (a fixture)
)
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


def raw_socket(web_url, cookies, receive_buffer=None):
    """A bare Socket.IO connection over one WebSocket: frames exactly as we write them."""
    ws = websocket.create_connection(
        web_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
        cookie="; ".join(f"{c.name}={c.value}" for c in cookies),
        origin=web_url,
        sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)] if receive_buffer else [],
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


def login_form(web_url):
    http = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(web_url + "/login").text)
    return http, token.group(1)


def frappe_logins(frappe_http) -> int:
    counts = frappe_http.as_service("GET", "/api/method/frappe_sim.call_counts").json()["message"]
    return counts.get("POST /api/method/login", 0)


@pytest.mark.slow
def test_concurrent_wrong_passwords_reach_frappe_no_more_than_the_limit(make_stack, frappe_http):
    stack = make_stack()  # its own Redis: these failures throttle nobody else
    forms = [login_form(stack.web_url) for _ in range(40)]
    before = frappe_logins(frappe_http)
    start = threading.Barrier(len(forms))

    def wrong(http, token):
        start.wait()
        form = {"csrf_token": token, "usr": "otp@example.com", "pwd": "wrong", "next": ""}
        return http.post(stack.web_url + "/login", data=form, timeout=30).status_code

    with ThreadPoolExecutor(len(forms)) as pool:
        codes = list(pool.map(lambda f: wrong(*f), forms))
    tried = frappe_logins(frappe_http) - before
    assert tried <= 5, f"{tried} wrong passwords reached Frappe (limit 5 per user)"
    assert codes.count(429) == len(forms) - tried and codes.count(401) == tried
    # Frappe never locked the account: the right password still works there.
    assert frappe_http.login("otp@example.com", "otp", ip="127.0.0.1").status_code == 200


@pytest.mark.slow
def test_concurrent_wrong_pairing_codes_are_tried_no_more_than_the_limit(make_stack):
    stack = make_stack()
    manager = web_login(stack.web_url, "manager1@example.com", "manager1")
    page = f"{stack.web_url}/outlets/OUTLET-001/displays"
    token = csrf_of(manager, page)
    start = threading.Barrier(60)

    def wrong(n):
        start.wait()
        form = {"csrf_token": token, "code": f"ZZZZ{n % 10}{n // 10}"[:6], "label": "TV"}
        return manager.post(page, data=form, timeout=30).status_code

    with ThreadPoolExecutor(60) as pool:
        codes = list(pool.map(wrong, range(60)))
    assert codes.count(404) <= 10 and codes.count(429) == 60 - codes.count(404), codes


def test_two_factor_codes_are_limited_per_challenge_from_any_address(make_app):
    """24 wrong codes from three addresses used to leave the challenge open to a fourth."""
    from frappe_sim import data

    from .conftest import csrf_token, login

    # Only the per-challenge limit is in play: addresses and the user have room to spare.
    app = make_app(LOGIN_LIMIT_PER_USER="100 per minute", LOGIN_LIMIT_PER_ADDRESS="100 per minute")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.10"
    login(client, usr="otp@example.com", pwd="otp")
    token = csrf_token(client, "/login")
    codes = []
    for n in range(9):
        client.environ_base["REMOTE_ADDR"] = f"203.0.113.{11 + n % 3}"
        codes.append(client.post("/login/otp", data={"csrf_token": token, "otp": "000000"}))
    assert [c.status_code for c in codes] == [401] * 5 + [429] * 4
    assert codes[-1].headers["Retry-After"].isdigit()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.99"
    right = client.post("/login/otp", data={"csrf_token": token, "otp": data.OTP_CODE})
    assert right.status_code == 429 and "Too many" in right.get_data(as_text=True)


def test_public_links_come_from_public_url_never_the_host_header(make_app):
    from .conftest import csrf_token, login

    app = make_app(PUBLIC_URL="https://dash.example.com/")
    client = app.test_client()
    client.environ_base["HTTP_HOST"] = "evil.example"  # every request, logins included
    sitemap = client.get("/sitemap.xml").get_data(as_text=True)
    assert "<loc>https://dash.example.com/locator</loc>" in sitemap and "evil" not in sitemap
    slug = re.search(r"https://dash\.example\.com/locator/([^<]+)</loc>", sitemap).group(1)
    store = client.get(f"/locator/{slug}").get_data(as_text=True)
    assert f'"url": "https://dash.example.com/locator/{slug}"' in store and "evil" not in store
    login(client)
    page = "/outlets/OUTLET-001/displays"
    form = {"csrf_token": csrf_token(client, page), "label": "Kiosk"}
    kiosk = client.post(page + "/kiosk", data=form).get_data(as_text=True)
    link = re.search(r'class="kiosk-url">([^<]+)<', kiosk).group(1)
    assert link.startswith("https://dash.example.com/tv/link/")


def test_public_url_is_needed_outside_the_demo():
    from dashboard import config

    good = {"FRAPPE_URL": "https://erp.example.com", "REDIS_URL": "redis://127.0.0.1:6379/0",
            "SECRET_KEY": "x" * 32}  # fmt: skip
    with pytest.raises(config.ConfigError, match="PUBLIC_URL"):
        config.load(good)
    with pytest.raises(config.ConfigError, match="PUBLIC_URL"):
        config.load({**good, "PUBLIC_URL": "dash.example.com"})
    assert config.load({**good, "PUBLIC_URL": "https://dash.example.com/"}).public_url == (
        "https://dash.example.com"
    )


@pytest.mark.slow
def test_a_subscribe_flood_costs_frappe_little_and_nothing_stays(make_stack, frappe_http):
    stack = make_stack()
    http = web_login(stack.web_url, "website@example.com", "website")  # a user with no outlets
    client = LiveClient(stack.web_url, http)
    ours = redis.Redis.from_url(stack.redis_url)

    def doc_calls():
        counts = frappe_http.as_service("GET", "/api/method/frappe_sim.call_counts")
        return sum(n for k, n in counts.json()["message"].items()
                   if k.startswith("GET /api/resource/Franchise Outlet/"))  # fmt: skip

    before, errors, slowest = doc_calls(), Counter(), 0.0
    try:
        for n in range(2000):
            ack = client.sio.call("subscribe", {"outlet": f"junk-{n}", "after": None}, timeout=10)
            errors[ack["error"]] += 1
            if n % 200 == 0:
                started = time.monotonic()
                assert requests.get(stack.web_url + "/healthz", timeout=5).status_code == 200
                slowest = max(slowest, time.monotonic() - started)
    finally:
        client.close()
    assert doc_calls() - before <= 200, "Frappe was asked about more junk names than the cap"
    assert (
        errors["not_found"] <= 200 and errors["too_many_outlets"] + errors["rate_limited"] >= 1800
    )
    assert slowest < 1.0
    for key in ours.scan_iter("cache:permission:website@example.com:junk-*"):
        assert 0 < ours.ttl(key) <= 120, "a refused name stays in Redis"


def hold_websockets(web_url, count, cookie=""):
    """`count` WebSocket handshakes to /socket.io that then say nothing (they never send the
    Socket.IO CONNECT), held open: the sockets, to close."""
    host, port = web_url.removeprefix("http://").split(":")
    request = (
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {web_url}\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n"
    ).encode()
    return hold_requests(web_url, count, request)


def hold_requests(web_url, count, request: bytes) -> list:
    """`count` connections that each send `request` (or its start) and are then held open."""
    host, port = web_url.removeprefix("http://").split(":")
    held = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(request)
        held.append(sock)
    return held


def status_line(sock) -> str:
    """The first line of the server's answer to a held handshake."""
    sock.settimeout(10)
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    return head.decode(errors="replace").strip().upper()


def answers_within(url, http=None, seconds=1.0) -> float:
    started = time.monotonic()
    response = (http or requests).get(url, timeout=10)
    took = time.monotonic() - started
    assert response.status_code == 200, (url, response.status_code)
    assert took < seconds, f"{url} took {took:.1f} s"
    return took


@pytest.mark.slow
def test_idle_websockets_cannot_stop_the_web_process(make_stack):
    stack = make_stack()
    manager = web_login(stack.web_url, "manager1@example.com", "manager1")
    website = web_login(stack.web_url, "website@example.com", "website")
    cookie = "; ".join(f"{c.name}={c.value}" for c in website.cookies)
    held = []
    try:
        held += hold_websockets(stack.web_url, 2000)
        held += hold_websockets(stack.web_url, 500, cookie=cookie)
        lines = [status_line(sock) for sock in held]
        statuses = Counter(lines)
        assert statuses["HTTP/1.1 401 UNAUTHORIZED"] == 2000, statuses  # no credentials
        assert statuses["HTTP/1.1 101 SWITCHING PROTOCOLS"] == 20, statuses  # the session's cap
        assert statuses["HTTP/1.1 429 TOO MANY REQUESTS"] == 480, statuses
        for _ in range(3):  # while they are held
            answers_within(stack.web_url + "/", manager)
            answers_within(stack.web_url + "/tv")
            answers_within(stack.web_url + "/locator")
        # The 20 that got in never sent Socket.IO's CONNECT: closed after a few seconds.
        accepted = [sock for sock, line in zip(held, lines, strict=True) if " 101 " in line]
        for sock in accepted:
            sock.settimeout(15)
            while sock.recv(4096):  # pings, then the end
                pass
    finally:
        for sock in held:
            sock.close()
