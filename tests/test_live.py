"""Live sales end to end: demo Frappe -> bridge -> our Redis -> web -> real Socket.IO clients."""

import itertools
import json
import re
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis
import socketio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .conftest import (
    SITE,
    start_bridge,
    start_web,
    stop,
    web_login,
)

SUBMIT = "/api/method/frappe_sim.submit_pos_invoice"


class LiveClient:
    """A browser's Socket.IO connection, as a test sees it: every event it receives, in order."""

    def __init__(self, web_url: str, http):
        self.events: list[tuple[str, dict]] = []
        self.arrived = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self.record)
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        self.sio.connect(web_url, headers={"Cookie": cookie}, transports=["websocket"])

    def record(self, event, data=None):
        with self.arrived:
            self.events.append((event, data))
            self.arrived.notify_all()

    def subscribe(self, outlet, after=None) -> dict:
        return self.sio.call("subscribe", {"outlet": outlet, "after": after}, timeout=15)

    def wait_for(self, predicate, timeout=5.0):
        """The first received (event, data) matching `predicate`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for event, data in self.events:
                    if predicate(event, data):
                        return event, data
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"nothing matching arrived; got {self.events[-5:]}")
                self.arrived.wait(left)

    def sales(self) -> list[dict]:
        return self.events_named("live_pos_sale")

    def events_named(self, name) -> list[dict]:
        with self.arrived:
            return [data for event, data in self.events if event == name]

    def close(self):
        self.sio.disconnect()


@pytest.fixture
def live_client(web_server, bridge):
    clients = []

    def make(usr="manager1@example.com", pwd="manager1", web_url=None):
        http = web_login(web_url or web_server, usr, pwd)
        client = LiveClient(web_url or web_server, http)
        client.http = http
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def submit_sale(frappe_http, outlet, items=None) -> str:
    response = frappe_http.as_service(
        "POST",
        SUBMIT,
        json={"outlet": outlet, "items": items or [{"item_code": "COFFEE-02", "qty": 1}]},
    )
    assert response.status_code == 200, response.text
    return response.json()["message"]["name"]


def sale_of(invoice):
    return lambda event, data: event == "live_pos_sale" and data["invoice"] == invoice


def test_sale_reaches_only_the_sockets_allowed_to_see_it(live_client, frappe_http):
    manager1 = live_client()
    manager2 = live_client("manager2@example.com", "manager2")
    ack = manager1.subscribe("OUTLET-001")
    assert ack["ok"] and ack["outlet"] == "OUTLET-001"
    assert ack["snapshot"]["period"] == "daily" and "total_sales" in ack["snapshot"]
    assert manager2.subscribe("OUTLET-001") == {"ok": False, "error": "forbidden"}
    assert manager2.subscribe("OUTLET-002")["ok"]

    mine = submit_sale(frappe_http, "OUTLET-001")
    _, sale = manager1.wait_for(sale_of(mine), timeout=2)
    assert sale["outlet"] == "OUTLET-001" and sale["grand_total"] == 120.0
    assert sale["items"] == [{"item": "Espresso", "qty": 1, "amount": 120.0}]
    assert re.fullmatch(r"\d+-\d+", sale["id"])
    manager1.wait_for(lambda e, d: e == "daily_sales_update" and d["outlet"] == "OUTLET-001")

    theirs = submit_sale(frappe_http, "OUTLET-002")
    manager2.wait_for(sale_of(theirs), timeout=2)
    # Events travel in order: had OUTLET-001's sale leaked to manager2, it would be here by now.
    assert all(data["outlet"] == "OUTLET-002" for _, data in manager2.events if data)
    assert all(data.get("outlet") != "OUTLET-002" for _, data in manager1.events if data)


def test_connection_needs_a_manager_session(web_server, bridge):
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(web_server, transports=["websocket"])


@pytest.mark.parametrize(
    "request_data",
    [None, "OUTLET-001", {"outlet": 7}, {"outlet": ""}, {"outlet": "x" * 10_000}, [1, 2]],
)
def test_bad_subscribe_requests_join_nothing(live_client, request_data):
    client = live_client()
    ack = client.sio.call("subscribe", request_data, timeout=10)
    assert ack == {"ok": False, "error": "bad_request"}


def test_missing_outlet_and_unsubscribe(live_client, frappe_http):
    client = live_client("Administrator", "admin")
    assert client.subscribe("Nowhere") == {"ok": False, "error": "not_found"}
    assert client.subscribe("Park Street")["ok"]
    assert client.sio.call("unsubscribe", {"outlet": "Park Street"}, timeout=10)["ok"]
    assert client.subscribe("T. Nagar")["ok"]
    gone = submit_sale(frappe_http, "Park Street")
    kept = submit_sale(frappe_http, "T. Nagar")
    client.wait_for(sale_of(kept))
    assert gone not in [sale["invoice"] for sale in client.sales()]


def publish_raw(frappe_redis_url, payload) -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload, sort_keys=True, indent=1)
    redis.Redis.from_url(frappe_redis_url).publish("events", raw)


_invoices = itertools.count(1)


def site_now() -> str:
    """Now at the demo site (Asia/Kolkata), as Frappe's hook spells it: the hour and seconds
    not padded ("2026-11-23 6:57:0.722067")."""
    now = datetime.now(ZoneInfo("Asia/Kolkata"))
    return f"{now.date()} {now.hour}:{now.minute:02d}:{now.second}.{now.microsecond:06d}"


def frappe_sale(outlet="OUTLET-001", namespace=SITE, invoice=None, **message):
    invoice = invoice or f"TEST-{time.time_ns()}-{next(_invoices)}"
    body = {
        "outlet": outlet,
        "invoice": invoice,
        "grand_total": 80.0,
        "items": [{"item": "Masala Chai", "qty": 2, "amount": 80}],
        "timestamp": site_now(),
        **message,
    }
    return {"event": "live_pos_sale", "message": body, "namespace": namespace, "room": "all"}


def test_other_sites_and_other_events_are_ignored(live_client, frappe_redis_url):
    client = live_client()
    client.subscribe("OUTLET-001")
    other = frappe_sale(namespace="other.localhost")
    publish_raw(frappe_redis_url, other)
    publish_raw(frappe_redis_url, {**frappe_sale(), "event": "doc_update"})
    sentinel = frappe_sale(timestamp="2026-11-23 6:57:0.722067")
    publish_raw(frappe_redis_url, sentinel)
    _, sale = client.wait_for(sale_of(sentinel["message"]["invoice"]))
    # The lenient timestamp is normalised, the number types are kept as Frappe sent them.
    assert sale["timestamp"] == "2026-11-23T06:57:00.722067"
    assert [s["invoice"] for s in client.sales()] == [sentinel["message"]["invoice"]]


BAD_TEXT = st.one_of(
    st.none(), st.integers(), st.floats(), st.booleans(), st.just(""), st.just("   "),
    st.text(min_size=141, max_size=300), st.lists(st.text(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.just("bad\x00name"),
)  # fmt: skip
BAD_NUMBER = st.one_of(
    st.none(), st.text(max_size=10), st.booleans(), st.just(float("nan")),
    st.just(float("inf")), st.just(-float("inf")), st.just(10**13), st.lists(st.integers()),
)  # fmt: skip
BAD_ITEMS = st.one_of(
    st.none(), st.text(max_size=10), st.integers(),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=5)), min_size=1, max_size=5),
    st.just([{"item": "x", "qty": "two", "amount": 1}]),
    st.just([{"qty": 1, "amount": 1}]),
    st.just([{"item": "x", "qty": 1, "amount": 1}] * 501),
)  # fmt: skip


@st.composite
def malformed_message(draw):
    kind = draw(st.sampled_from(["outlet", "invoice", "grand_total", "items", "message", "raw"]))
    if kind == "raw":
        return draw(st.one_of(
            st.binary(max_size=200).map(lambda b: b + b'"live_pos_sale"\xff'),
            st.just(b'{"event": "live_pos_sale", "namespace": "' + SITE.encode() + b'", [}'),
            st.just(b'["live_pos_sale"]'),
        ))  # fmt: skip
    sale = frappe_sale()
    if kind == "message":
        sale["message"] = draw(st.one_of(st.none(), st.text(), st.lists(st.integers())))
    elif kind == "outlet":
        sale["message"]["outlet"] = draw(BAD_TEXT)
    elif kind == "invoice":
        sale["message"]["invoice"] = draw(BAD_TEXT)
    elif kind == "grand_total":
        sale["message"]["grand_total"] = draw(BAD_NUMBER)
    else:
        sale["message"]["items"] = draw(BAD_ITEMS)
    return json.dumps(sale, allow_nan=True).encode()


def hand_picked_hostile_messages() -> list[bytes]:
    sale = frappe_sale
    site = SITE.encode()
    dumps = lambda data: json.dumps(data, allow_nan=True).encode()  # noqa: E731
    row = {"item": "x", "qty": 1, "amount": 1}
    return [
        b"[" * 100_000 + b'"live_pos_sale"',  # deeper than Python's JSON parser goes
        dumps({**sale(), "padding": "x" * 300_000}),  # larger than any sale
        dumps(sale(items=[row] * 100_000)),  # a huge array
        dumps(sale(items=[row] * 501)),  # more items than a basket holds
        dumps(sale(grand_total=float("nan"))),
        dumps(sale(grand_total=float("inf"))),
        dumps(sale(grand_total=-float("inf"))),
        dumps(sale(grand_total="180.00")),
        dumps(sale(outlet={"$ne": ""})),
        dumps(sale(outlet=["OUTLET-001", "OUTLET-002"])),
        dumps(sale(outlet="x" * 10_000)),
        dumps({**sale(), "message": {**sale()["message"], "invoice": None}}),
        dumps(sale(items=[[[[[[[]]]]]]])),  # nested junk
        dumps(sale(items=[{"item": {"a": [{"b": None}]}, "qty": 1, "amount": 1}])),
        b'{"event": "live_pos_sale", "namespace": "' + site + b'", "message": {"outlet": "\xff"}}',
        b"\xff\xfe live_pos_sale \x00\x01",  # not UTF-8, not JSON
        dumps(sale(namespace="other.localhost")),  # another site on the same Frappe
        dumps(sale(namespace="/" + SITE)),
        dumps({**sale(), "namespace": None}),
        dumps({**sale(), "event": ["live_pos_sale"]}),
        dumps(
            {
                "event": "daily_sales_update",
                "namespace": SITE,
                "message": {"outlet": "OUTLET-001", "daily_total": "lots"},
            }
        ),  # fmt: skip
        dumps({"event": "daily_sales_update", "namespace": SITE, "message": None}),
        dumps(["live_pos_sale", sale()]),
    ]


def test_10000_hostile_messages_are_counted_and_reach_no_client(
    live_client, frappe_redis_url, bridge, redis_url
):
    """Generated (hypothesis) and hand-picked malformed messages: the bridge stays up, counts
    each one by reason (bad:<reason>, or ignored when it is not our site's event), and not one
    reaches a browser."""
    client = live_client()
    client.subscribe("OUTLET-001")
    ours = redis.Redis.from_url(redis_url)
    before = {k.decode(): int(v) for k, v in ours.hgetall("bridge:stats").items()}
    frappe_redis = redis.Redis.from_url(frappe_redis_url)
    published = hand_picked_hostile_messages()

    @settings(max_examples=10_000, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(raw=malformed_message())
    def generate(raw):
        published.append(raw)

    generate()
    assert len(published) >= 10_000
    pipe = frappe_redis.pipeline(transaction=False)
    for raw in published:
        pipe.publish("events", raw)
    pipe.execute()
    sentinel = frappe_sale()
    publish_raw(frappe_redis_url, sentinel)
    client.wait_for(sale_of(sentinel["message"]["invoice"]), timeout=60)
    assert [s["invoice"] for s in client.sales()] == [sentinel["message"]["invoice"]]
    assert bridge.poll() is None  # still running

    def counted() -> int:
        after = {k.decode(): int(v) for k, v in ours.hgetall("bridge:stats").items()}
        return sum(
            after[key] - before.get(key, 0)
            for key in after
            if key.startswith("bad:") or key == "ignored"
        )

    assert counted() == len(published)
    stats = ours.hgetall("bridge:stats")
    for reason in ("nested too deeply", "message too large", "grand_total out of range",
                   "grand_total not a number", "not JSON"):  # fmt: skip
        assert f"bad:{reason}".encode() in stats, reason


def test_reconnect_with_after_gets_exactly_the_missed_sales(live_client, frappe_http):
    first = live_client()
    first.subscribe("OUTLET-001")
    seen = submit_sale(frappe_http, "OUTLET-001")
    _, sale = first.wait_for(sale_of(seen))
    first.wait_for(lambda e, d: e == "daily_sales_update" and d["id"] > sale["id"])
    last_id = first.events[-1][1]["id"]
    first.close()
    missed = [submit_sale(frappe_http, "OUTLET-001") for _ in range(3)]
    again = live_client()
    ack = again.subscribe("OUTLET-001", after=last_id)
    assert ack["ok"] and ack["complete"] is True
    replayed = [e["invoice"] for e in ack["events"] if e["event"] == "live_pos_sale"]
    assert replayed == missed
    assert ack["last_id"] == ack["events"][-1]["id"]


def test_after_from_another_outlets_feed_reveals_nothing(live_client, frappe_http):
    manager2 = live_client("manager2@example.com", "manager2")
    ack2 = manager2.subscribe("OUTLET-002")
    other = submit_sale(frappe_http, "OUTLET-002")
    manager2.wait_for(sale_of(other))
    manager1 = live_client()
    ack = manager1.subscribe("OUTLET-001", after="0-0")
    assert all(e["outlet"] == "OUTLET-001" for e in ack["events"])
    assert ack2["ok"]


def test_two_bridges_deliver_each_sale_once(
    live_client, frappe_http, frappe_url, redis_url, frappe_redis_url
):
    second = start_bridge(frappe_url, redis_url, frappe_redis_url)
    try:
        client = live_client()
        client.subscribe("OUTLET-001")
        invoices = [submit_sale(frappe_http, "OUTLET-001") for _ in range(3)]
        client.wait_for(sale_of(invoices[-1]))
        sentinel = submit_sale(frappe_http, "OUTLET-001")
        client.wait_for(sale_of(sentinel))
        received = [sale["invoice"] for sale in client.sales()]
        assert received == [*invoices, sentinel]
    finally:
        stop(second)


def test_logout_closes_that_sessions_sockets(live_client, web_server):
    client = live_client()
    client.subscribe("OUTLET-001")
    other = live_client()  # the same manager in another browser stays connected
    other.subscribe("OUTLET-001")
    page = client.http.get(web_server + "/", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.http.post(web_server + "/logout", data={"csrf_token": token}, timeout=10)
    client.wait_for(lambda e, d: e == "session_expired")
    deadline = time.monotonic() + 5
    while client.sio.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.sio.connected
    assert other.sio.connected


def test_two_web_processes_share_rooms_and_logouts(
    live_client, web_server, frappe_url, redis_url, frappe_http
):
    # The second process runs eventlet, the option the brief names: both share one Redis.
    second_url, second = start_web(frappe_url, redis_url, mode="eventlet")
    try:
        here = live_client()
        there = live_client(web_url=second_url)
        here.subscribe("OUTLET-001")
        there.subscribe("OUTLET-001")
        invoice = submit_sale(frappe_http, "OUTLET-001")
        here.wait_for(sale_of(invoice))
        there.wait_for(sale_of(invoice))
        # Logging out through the first process closes the socket held by the second.
        page = there.http.get(web_server + "/", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        there.http.post(web_server + "/logout", data={"csrf_token": token}, timeout=10)
        there.wait_for(lambda e, d: e == "session_expired")
        assert here.sio.connected
    finally:
        stop(second)


@pytest.fixture
def quick_recheck_web(frappe_url, redis_url):
    """A web process that asks Frappe again about long-lived sockets every second."""
    url, process = start_web(
        frappe_url, redis_url, LIVE_RECHECK_SECONDS="1", PERMISSION_CACHE_SECONDS="1"
    )
    yield url
    stop(process)


def set_outlets(frappe_http, user, outlets):
    response = frappe_http.as_service(
        "POST", "/api/method/frappe_sim.set_user_outlets", json={"user": user, "outlets": outlets}
    )
    assert response.ok, response.text


def test_revoked_access_leaves_the_room(quick_recheck_web, live_client, frappe_http):
    client = live_client("manager2@example.com", "manager2", web_url=quick_recheck_web)
    assert client.subscribe("OUTLET-003")["ok"] and client.subscribe("OUTLET-002")["ok"]
    set_outlets(frappe_http, "manager2@example.com", ["OUTLET-002"])
    try:
        client.wait_for(lambda e, d: e == "forbidden" and d["outlet"] == "OUTLET-003", 10)
        hidden = submit_sale(frappe_http, "OUTLET-003")
        shown = submit_sale(frappe_http, "OUTLET-002")
        client.wait_for(sale_of(shown))
        assert hidden not in [sale["invoice"] for sale in client.sales()]
    finally:
        set_outlets(frappe_http, "manager2@example.com", ["OUTLET-002", "OUTLET-003"])


def test_session_ended_at_frappe_closes_the_sockets(quick_recheck_web, live_client, frappe_http):
    client = live_client("manager2@example.com", "manager2", web_url=quick_recheck_web)
    assert client.subscribe("OUTLET-002")["ok"]
    frappe_http.as_service(
        "POST", "/api/method/frappe_sim.expire_sessions", json={"user": "manager2@example.com"}
    )
    _, message = client.wait_for(lambda e, d: e == "session_expired", 10)
    assert message == {"reason": "session_expired"}


def test_bridge_resubscribes_after_frappes_redis_restarts(live_client, make_stack, tmp_path):
    from devtools.redis_server import free_port, start_redis

    port = free_port()
    frappe_redis = start_redis(port, tmp_path / "one")
    url = f"redis://127.0.0.1:{port}/0"
    stack = make_stack(frappe_redis=url)  # its own bridge: the session's leads the session's
    try:
        client = live_client("Administrator", "admin", web_url=stack.web_url)
        client.subscribe("Connaught Place")
        stop(frappe_redis)
        frappe_redis = start_redis(port, tmp_path / "two")
        client.wait_for(lambda e, d: e == "resync" and d["outlet"] == "Connaught Place", 15)
        deadline = time.monotonic() + 15
        while dict(redis.Redis.from_url(url).pubsub_numsub("events"))[b"events"] == 0:
            assert time.monotonic() < deadline, "the bridge did not subscribe again"
            time.sleep(0.05)
        sale = frappe_sale(outlet="Connaught Place")
        publish_raw(url, sale)
        client.wait_for(sale_of(sale["message"]["invoice"]))
    finally:
        stop(frappe_redis)


def test_bridge_stops_cleanly_on_sigterm(frappe_url, redis_url, frappe_redis_url):
    bridge = start_bridge(frappe_url, redis_url, frappe_redis_url)
    bridge.terminate()
    assert bridge.wait(timeout=10) == 0


def test_a_subscribe_carries_the_figures_of_the_period_the_page_shows(live_client):
    """The month's overview gets the month's figures with its subscribe, not today's to throw
    away; a period Frappe's figures are not offered in is refused."""
    client = live_client("manager1@example.com", "manager1")

    def call(period):
        subscribe = {"outlet": "OUTLET-001", "after": None, "period": period}
        return client.sio.call("subscribe", subscribe, timeout=15)

    month = call("monthly")
    assert month["ok"] and month["snapshot"]["period"] == "monthly"
    assert month["snapshot"]["covers"]["from"].endswith("-01")
    assert call("daily")["snapshot"]["period"] == "daily"
    assert call("weekly") == {"ok": False, "error": "bad_request"}
    assert call(["monthly"]) == {"ok": False, "error": "bad_request"}
