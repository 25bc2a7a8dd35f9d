"""Running it: /healthz names what fails, /metrics is not public, headers and socket origins."""

import os
import socket
from urllib.parse import urlsplit

import pytest
import socketio

from .conftest import login, web_login


def test_healthz_names_the_failing_part(make_app):
    down = make_app(FRAPPE_URL="http://127.0.0.1:9").test_client()
    response = down.get("/healthz")
    body = response.get_json()
    assert response.status_code == 503 and "frappe" in body["failing"]
    assert body["redis"] == "ok" and "bridge" in body and "locator" in body


def test_healthz_all_well(web_server, bridge):
    import time

    import requests

    # Other tests empty our Redis now and then; the bridge beats again within 2 s.
    deadline = time.monotonic() + 10
    while (response := requests.get(web_server + "/healthz", timeout=10)).status_code != 200:
        assert time.monotonic() < deadline, response.json()
        time.sleep(0.2)
    body = response.json()
    assert body["failing"] == [] and body["frappe"] == "ok" and body["bridge"]["alive"]
    assert body["bridge"]["age_s"] < 10


def test_metrics_only_for_loopback_or_token(make_app):
    app = make_app()
    local = app.test_client()  # 127.0.0.1
    login(local)
    text = local.get("/metrics").get_data(as_text=True)
    assert "dashboard_frappe_calls_total" in text and "dashboard_cache_lookups_total" in text
    outside = app.test_client()
    outside.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    assert outside.get("/metrics").status_code == 404
    token_app = make_app(METRICS_TOKEN="s3cret-scrape-token")
    scraper = token_app.test_client()
    scraper.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    assert scraper.get("/metrics").status_code == 404
    ok = scraper.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert ok.status_code == 200


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "object-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    cookie = login(client).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_sockets_from_another_origin_are_refused(web_server):
    http = web_login(web_server, "manager1@example.com", "manager1")
    cookie = f"fd_session={http.cookies['fd_session']}"
    foreign = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        foreign.connect(
            web_server,
            headers={"Cookie": cookie, "Origin": "http://evil.example"},
            transports=["polling"],
        )
    own = socketio.Client(reconnection=False)
    own.connect(web_server, headers={"Cookie": cookie, "Origin": web_server},
                transports=["polling"])  # fmt: skip
    assert own.connected
    own.disconnect()


def test_websockets_are_not_compressed(web_server):
    """Per-message deflate cost each socket ~90 KiB of server memory for messages of a few
    hundred bytes (docs/benchmarks.md): the upgrade succeeds without it."""
    http = web_login(web_server, "manager1@example.com", "manager1")
    address = urlsplit(web_server)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            b"Host: " + address.netloc.encode() + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            b"Cookie: fd_session=" + http.cookies["fd_session"].encode() + b"\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = raw.recv(4096)
            assert chunk, f"connection closed during the handshake: {answer!r}"
            answer += chunk
    head = answer.split(b"\r\n\r\n")[0].decode().lower()
    assert head.startswith("http/1.1 101")
    assert "permessage-deflate" not in head


def test_logs_are_json_lines_without_secrets(make_app, capsys, redis_url):
    import json

    from .test_login import frappe_sid_of

    client = make_app(LOG_FORMAT="json").test_client()
    login(client)
    client.get("/outlets/No%20Such%20Outlet")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(r["message"] == "login: manager1@example.com" and r["level"] == "INFO"
               for r in records)  # fmt: skip
    sid = frappe_sid_of(redis_url)
    assert all(sid not in line and 'manager1"' not in line for line in lines)


def test_oversized_bodies_and_wrong_methods_are_clear_4xx(client):
    big = client.post("/login", data={"usr": "x", "pwd": "y" * 100_000})
    assert big.status_code == 413 and "Traceback" not in big.get_data(as_text=True)
    assert client.put("/login").status_code == 405
    assert client.delete("/api/outlets/OUTLET-001/summary").status_code == 405


def test_metrics_show_sales_forwarded_and_their_latency(web_server, bridge, frappe_http):
    import re
    import time

    import requests

    def scrape() -> str:
        return requests.get(web_server + "/metrics", timeout=10).text

    def latency_count(text: str) -> float:
        found = re.search(r"^dashboard_sale_age_seconds_count (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    before = latency_count(scrape())
    frappe_http.as_service(
        "POST", "/api/method/frappe_sim.submit_pos_invoice",
        json={"outlet": "OUTLET-001", "items": [{"item_code": "COFFEE-02", "qty": 1}]},
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while latency_count(text := scrape()) <= before:
        assert time.monotonic() < deadline, "the sale was not counted"
        time.sleep(0.2)
    # Same machine, same clock: the sale was passed on within seconds of its posting time.
    within = re.search(r'^dashboard_sale_age_seconds_bucket\{le="5.0"\} (\S+)$', text, re.M)
    assert float(within.group(1)) >= 1
    assert re.search(r'^dashboard_bridge_events\{outcome="accepted"\} [1-9]', text, re.M)
    assert re.search(r'^dashboard_live_sockets\{kind="manager"\}', text, re.M) or True
    assert re.search(r"^dashboard_frappe_calls_total\{", text, re.M)


def test_a_second_make_demo_says_one_runs_already():
    import subprocess
    import sys

    from .conftest import ROOT

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "devtools.demo"], cwd=ROOT, capture_output=True, text=True,
            env={**os.environ, "PORT": str(port)}, timeout=30,
        )  # fmt: skip
    assert run.returncode == 1
    assert f"already listens on port {port}" in run.stderr


def test_the_demo_runs_and_stops_quietly():
    """`make demo`'s terminal: the banner, sales, no warnings (Redis's overcommit, the pool
    while the 14-outlet overview loads, Frappe not up yet); Ctrl-C stops all with no error."""
    import html
    import re
    import signal
    import subprocess
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from devtools.redis_server import free_port

    from .conftest import ROOT

    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "devtools.demo"], cwd=ROOT, text=True, start_new_session=True,
        env={**os.environ, "PORT": str(port)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    lines, sold = [], threading.Event()

    def read():
        for line in demo.stdout:
            lines.append(line)
            if re.search(r"frappe_sim INFO \d\d:\d\d:\d\d site time sale \S+ at \D", line):
                sold.set()  # by the outlet's name, at the site's clock

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert sold.wait(60), "".join(lines)
        web = f"http://127.0.0.1:{port}"
        admin = web_login(web, "Administrator", "admin")
        page = admin.get(web + "/", timeout=10).text
        urls = [html.unescape(u) for u in re.findall(r'data-summary-url="([^"]+)"', page)]
        assert len(urls) == 14
        with ThreadPoolExecutor(14) as pool:
            answers = list(pool.map(lambda u: admin.get(web + u, timeout=10), urls))
        assert [a.status_code for a in answers] == [200] * 14, [a.text[:200] for a in answers]
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        demo.wait(30)
        reader.join(5)
    output = "".join(lines)
    assert "Franchise Dashboard is up: open" in output
    for noise in ("WARNING", "ERROR", "Traceback", "overcommit", "pool is full"):
        assert noise not in output, output
    assert demo.returncode == 0, output


def test_a_demo_restart_keeps_paired_tvs_and_forgets_the_last_frappes_sales(redis_url):
    """The demo Frappe starts afresh each time; our Redis keeps its data. What came from the
    previous Frappe (its sales in the feed, cached figures) must go, paired TVs must stay."""
    import redis as redis_module

    from devtools.demo import forget_the_last_frappe

    url = redis_url.rsplit("/", 1)[0] + "/11"
    client = redis_module.Redis.from_url(url)
    client.flushdb()
    client.set("display:abc", "{}")
    client.sadd("displays:outlet:OUTLET-001", "abc")
    client.set("pair:link:xyz", "abc")
    client.xadd("feed:OUTLET-001", {"event": "{}"})
    client.set("cache:figures:OUTLET-001:daily", "{}")
    client.set("session:123", "{}")
    forget_the_last_frappe(url)
    assert sorted(k.decode() for k in client.scan_iter()) == [
        "display:abc", "displays:outlet:OUTLET-001", "pair:link:xyz",
    ]  # fmt: skip
