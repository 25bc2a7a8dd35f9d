"""Curious users: whatever manager1 sends, nothing of another outlet ever reaches them.

Isolation door by door, each a test in `make test`:
- pages and JSON: test_outlets.py (test_forbidden_outlet_by_page_and_json,
  test_denial_is_not_served_from_another_users_grant, test_malformed_names_are_404_never_500);
- `subscribe` with any outlet string and `after` ids from another outlet's feed: the property
  test here, and test_live.py (test_bad_subscribe_requests_join_nothing,
  test_after_from_another_outlets_feed_reveals_nothing);
- display tokens, pairing codes (guessing is rate limited), kiosk links after revoke:
  test_tv.py (test_a_display_token_reads_its_outlet_and_nothing_else,
  test_pairing_codes_are_rate_limited_per_address,
  test_kiosk_link_pairs_once_and_dies_with_the_display);
- CSRF on every state-changing route and credentials on both socket transports: here;
- markup in names: test_xss.py.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import crash, start_bridge, start_web, stop, web_login
from .test_live import LiveClient, frappe_sale, publish_raw, sale_of

OUTLET_NAMES = [
    "OUTLET-001",
    "OUTLET-002",
    "OUTLET-003",
    "outlet-002",
    "OUTLET-002 ",
    "OUTLET-00",
    "Café Central",
    "*",
    "%",
    "outlet:OUTLET-002",
    "public:OUTLET-002",
]
REQUESTS = st.lists(
    st.tuples(
        st.sampled_from(["subscribe", "unsubscribe", "status", "join", "enter_room"]),
        st.one_of(
            st.fixed_dictionaries({
                "outlet": st.one_of(st.sampled_from(OUTLET_NAMES), st.text(max_size=30)),
                "after": st.one_of(st.none(), st.just("0-0"), st.just("9999999999999-0"),
                                   st.from_regex(r"\A\d{1,13}-\d{1,3}\Z"), st.text(max_size=10)),
            }),
            st.none(), st.integers(), st.text(max_size=20),
        ),
    ),
    min_size=1, max_size=8,
)  # fmt: skip


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(requests=REQUESTS)
def test_random_requests_never_reveal_another_outlet(web_server, bridge, frappe_redis_url,
                                                     requests):  # fmt: skip
    client = LiveClient(web_server, web_login(web_server, "manager1@example.com", "manager1"))
    try:
        answers = [client.sio.call(event, data, timeout=10) if event in (
            "subscribe", "unsubscribe", "status") else client.sio.emit(event, data)
            for event, data in requests]  # fmt: skip
        client.subscribe("OUTLET-001")
        theirs, mine = frappe_sale(outlet="OUTLET-002"), frappe_sale(outlet="OUTLET-001")
        publish_raw(frappe_redis_url, theirs)
        publish_raw(frappe_redis_url, mine)
        client.wait_for(sale_of(mine["message"]["invoice"]))
        seen = [data for _, data in client.events if isinstance(data, dict)]
        assert all(d.get("outlet") in (None, "OUTLET-001") for d in seen), seen
        for answer in answers:
            if isinstance(answer, dict) and answer.get("ok"):
                assert answer.get("outlet") in (None, "OUTLET-001")
                assert all(e["outlet"] == "OUTLET-001" for e in answer.get("events", []))
    finally:
        client.close()


def test_bridge_restart_sends_resync_and_sales_flow_again(frappe_url, redis_url,
                                                          frappe_redis_url, tmp_path):  # fmt: skip
    """A killed bridge (no goodbye) and a new one: pages hear `resync` and get sales again."""
    from devtools.redis_server import free_port, start_redis

    port = free_port()
    own = start_redis(port, tmp_path)  # a Redis only this test's bridge writes to
    own_url = f"redis://127.0.0.1:{port}/0"
    web_url, web = start_web(frappe_url, own_url)
    bridge = start_bridge(frappe_url, own_url, frappe_redis_url)
    client = None
    try:
        client = LiveClient(web_url, web_login(web_url, "Administrator", "admin"))
        client.subscribe("Park Street")
        crash(bridge)
        bridge = start_bridge(frappe_url, own_url, frappe_redis_url)
        # Within 2 s of the new bridge listening (it resyncs as soon as it subscribes).
        client.wait_for(lambda e, d: e == "resync" and d["outlet"] == "Park Street", 2)
        sale = frappe_sale(outlet="Park Street")
        publish_raw(frappe_redis_url, sale)
        # The dead bridge's lease lapses first (LEASE_SECONDS): the new one holds the sale
        # until then, and sends it.
        client.wait_for(sale_of(sale["message"]["invoice"]), timeout=15)
    finally:
        if client:
            client.close()
        stop(bridge)
        stop(web)
        stop(own)


def test_secure_cookies_behind_an_https_proxy(make_app):
    from .conftest import login

    client = make_app(PROXY_HOPS="1", COOKIE_SECURE="true").test_client()
    response = login(client)
    assert "Secure" in response.headers["Set-Cookie"]
    seen = client.get("/login", headers={"X-Forwarded-Proto": "https",
                                         "X-Forwarded-For": "203.0.113.7"})  # fmt: skip
    assert seen.status_code == 302  # logged in already: straight to the overview


def state_changing_paths(app) -> list[str]:
    """Every POST/PUT/PATCH/DELETE route of the app, with sample values in its placeholders."""
    samples = {"outlet": "OUTLET-001", "display_id": "x" * 32, "action": "revoke"}
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            path = rule.rule
            for name in rule.arguments:
                path = path.replace(f"<{name}>", samples[name])
                path = path.replace(f"<path:{name}>", samples[name])
            paths.append(path)
    return paths


def test_every_state_changing_route_needs_a_csrf_token(make_app):
    from .conftest import login

    app = make_app()
    client = app.test_client()
    assert login(client, "manager1@example.com", "manager1").status_code == 302
    paths = state_changing_paths(app)
    assert {"/login", "/logout", "/outlets/OUTLET-001/displays"} <= set(paths)
    for path in paths:
        response = client.post(path, data={"code": "ABCDEF", "label": "x", "usr": "u", "pwd": "p"})
        assert response.status_code == 400, path
        assert "CSRF" in response.get_data(as_text=True), path
    assert client.get("/").status_code == 200  # still logged in: nothing was changed


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_sockets_need_credentials_on_both_transports(web_server, transport):
    import socketio

    anonymous = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        anonymous.connect(web_server, transports=[transport])
    http = web_login(web_server, "manager1@example.com", "manager1")
    manager = socketio.Client(reconnection=False)
    cookie = f"fd_session={http.cookies['fd_session']}"
    manager.connect(web_server, headers={"Cookie": cookie}, transports=[transport])
    assert manager.call("subscribe", {"outlet": "OUTLET-001"}, timeout=10)["ok"] is True
    assert manager.call("subscribe", {"outlet": "OUTLET-002"}, timeout=10)["error"] == "forbidden"
    manager.disconnect()
