"""The demo Frappe answers as Frappe v15 does (../shared/frappe-contract.md and the samples)."""

import json
import time
from datetime import date, timedelta
from urllib.parse import quote

import pytest
import redis

from frappe_sim import data

from .conftest import SITE

DASHBOARD_DATA = "/api/method/franchise_management.api.get_outlet_dashboard_data"
LOCATIONS = "/api/method/franchise_management.api.get_franchise_locations"
OUTLETS = "/api/resource/Franchise Outlet"


def server_message(body: dict) -> str:
    return json.loads(json.loads(body["_server_messages"])[0])["message"]


def test_login_sets_frappe_cookies(frappe_http):
    response = frappe_http.login("manager1@example.com", "manager1")
    assert response.status_code == 200
    assert response.json() == {
        "message": "Logged In",
        "home_page": "/app",
        "full_name": "Manager One",
    }
    cookies = response.raw.headers.getlist("Set-Cookie")
    sid_cookie = next(c for c in cookies if c.startswith("sid="))
    assert "HttpOnly" in sid_cookie and "Max-Age=612000" in sid_cookie
    assert "SameSite=Lax" in sid_cookie
    assert "user_id=manager1%40example.com; Path=/; SameSite=Lax" in cookies
    assert "system_user=yes; Path=/; SameSite=Lax" in cookies


def test_website_user_gets_no_app(frappe_http):
    response = frappe_http.login("website@example.com", "website")
    assert response.json()["message"] == "No App"


def test_wrong_password_is_401_without_cookies(frappe_http):
    response = frappe_http.login("manager1@example.com", "nope", ip="192.0.2.10")
    assert response.status_code == 401
    body = response.json()
    assert body["message"] == "Invalid login credentials"
    assert body["exc_type"] == "AuthenticationError"
    assert "_server_messages" not in body
    assert "Set-Cookie" not in response.headers


def test_login_accepts_form_fields(frappe_http):
    response = frappe_http.request(
        "POST", "/api/method/login", data={"usr": "manager2@example.com", "pwd": "manager2"}
    )
    assert response.status_code == 200 and response.cookies["sid"] != "Guest"


def test_json_body_replaces_query_string(frappe_http):
    response = frappe_http.request(
        "POST",
        "/api/method/login?usr=manager1@example.com&pwd=manager1",
        json={"usr": "manager1@example.com"},
        headers={"X-Forwarded-For": "192.0.2.11"},
    )
    assert response.status_code == 401
    assert response.json()["message"] == "Incomplete login details"


def test_disabled_user_and_expired_password(frappe_http):
    disabled = frappe_http.login("disabled@example.com", "disabled", ip="192.0.2.12")
    assert disabled.status_code == 401
    assert disabled.json()["message"] == "User disabled or missing"
    expired = frappe_http.login("expired@example.com", "expired")
    assert expired.status_code == 200
    assert expired.json()["message"] == "Password Reset"
    assert "sid" not in expired.cookies


def test_lockout_after_ten_failures_per_user(frappe_http):
    user = "lockme@example.com"
    statuses = [
        frappe_http.login(user, "wrong", ip=f"192.0.2.{100 + i}").status_code for i in range(10)
    ]
    assert statuses == [401] * 10
    locked = frappe_http.login(user, "wrong", ip="192.0.2.200")
    assert locked.status_code == 500
    assert locked.json()["exc_type"] == "SecurityException"
    assert "Your account has been locked and will resume after" in server_message(locked.json())


def test_lockout_per_forwarded_address_hits_everyone_there(frappe_http):
    ip = "203.0.113.77"
    for i in range(10):
        frappe_http.login(f"stranger{i}@example.com", "wrong", ip=ip)
    # A correct password from the same address is refused too: the address is locked.
    locked = frappe_http.login("manager2@example.com", "manager2", ip=ip)
    assert locked.status_code == 500 and locked.json()["exc_type"] == "SecurityException"
    assert frappe_http.login("manager2@example.com", "manager2", ip="203.0.113.78").ok


def test_two_factor_login(frappe_http):
    first = frappe_http.login("otp@example.com", "otp")
    assert first.status_code == 200
    body = first.json()
    assert body["verification"]["method"] == "OTP App" and len(body["tmp_id"]) == 8
    assert "sid" not in first.cookies
    wrong = frappe_http.request(
        "POST", "/api/method/login", json={"tmp_id": body["tmp_id"], "otp": "000000"}
    )
    assert wrong.status_code == 401 and wrong.json()["message"] == "Incorrect Verification code"
    right = frappe_http.request(
        "POST", "/api/method/login", json={"tmp_id": body["tmp_id"], "otp": data.OTP_CODE}
    )
    assert right.status_code == 200 and right.cookies["sid"] != "Guest"


@pytest.mark.parametrize("sid", ["made-up-session-id", None])
def test_dead_sid_is_403_with_session_expired(frappe_http, sid):
    if sid is None:  # a real session, ended at Frappe's side
        sid = frappe_http.sid("manager1@example.com", "manager1")
        frappe_http.request("POST", "/api/method/logout", headers={"Cookie": f"sid={sid}"})
    response = frappe_http.request(
        "GET", DASHBOARD_DATA, params={"outlet": "OUTLET-001"}, headers={"Cookie": f"sid={sid}"}
    )
    assert response.status_code == 403
    body = response.json()
    assert body["session_expired"] == 1 and body["exc_type"] == "PermissionError"
    assert "is not whitelisted" in server_message(body)
    assert response.cookies.get("sid") in ("Guest", "")


def test_session_expiry_setting_ends_idle_sessions(frappe_redis_url):
    from .conftest import FrappeHTTP, start_frappe_sim, stop

    url, process = start_frappe_sim(frappe_redis_url, "--session-expiry", "1")
    try:
        sim = FrappeHTTP(url)
        sid = sim.sid("manager1@example.com", "manager1")
        time.sleep(1.2)  # every request extends a session: only idle time can end it
        response = sim.request(
            "GET", "/api/method/frappe.auth.get_logged_user", headers={"Cookie": f"sid={sid}"}
        )
        assert response.status_code == 403 and response.json()["session_expired"] == 1
    finally:
        stop(process)


def test_logged_user_and_user_info(frappe_http):
    sid = frappe_http.sid("manager2@example.com", "manager2")
    cookie = {"Cookie": f"sid={sid}"}
    me = frappe_http.request("GET", "/api/method/frappe.auth.get_logged_user", headers=cookie)
    assert me.json() == {"message": "manager2@example.com"}
    info = frappe_http.request("GET", "/api/method/frappe.realtime.get_user_info", headers=cookie)
    assert info.json()["message"] == {"user": "manager2@example.com", "user_type": "System User"}


def test_guest_calls_and_guest_cookies(frappe_http):
    response = frappe_http.request("GET", LOCATIONS)
    assert response.status_code == 200
    assert response.cookies["sid"] == "Guest" and response.cookies["user_id"] == "Guest"
    denied = frappe_http.request("GET", "/api/method/frappe.auth.get_logged_user")
    assert denied.status_code == 403 and "session_expired" not in denied.json()


def test_locations_are_active_outlets_and_get_only(frappe_http):
    locations = frappe_http.request("GET", LOCATIONS).json()["message"]
    names = {row["outlet_name"] for row in locations}
    assert "Lake View" not in names and "Old Harbour" not in names  # Suspended, Closed
    assert {"Downtown Outlet", "Café Central"} <= names
    assert set(locations[0]) == {
        "outlet_name",
        "city",
        "state",
        "custom_latitude",
        "custom_longitude",
    }
    assert any(row["custom_latitude"] is None for row in locations)
    post = frappe_http.request("POST", LOCATIONS)
    assert post.status_code == 403 and server_message(post.json()) == "Not permitted"


def test_token_auth_answers_with_guest_cookies(frappe_http):
    response = frappe_http.as_service("GET", DASHBOARD_DATA, params={"outlet": "OUTLET-002"})
    assert response.status_code == 200
    assert set(response.json()["message"]) == {
        "total_sales",
        "invoice_count",
        "avg_order_value",
        "top_items",
    }
    assert response.cookies["sid"] == "Guest"


def test_wrong_token_is_401(frappe_http):
    response = frappe_http.request(
        "GET",
        DASHBOARD_DATA,
        params={"outlet": "OUTLET-001"},
        headers={"Authorization": "token demo_api_key:wrong"},
    )
    assert response.status_code == 401 and response.json()["exc_type"] == "AuthenticationError"


def test_cookie_user_wins_over_token(frappe_http):
    sid = frappe_http.sid("manager1@example.com", "manager1")
    response = frappe_http.request(
        "GET",
        DASHBOARD_DATA,
        params={"outlet": "OUTLET-002"},
        headers={"Cookie": f"sid={sid}", "Authorization": "token demo_api_key:demo_api_secret"},
    )
    assert response.status_code == 403


def test_dashboard_data_permissions(frappe_http):
    cookie = {"Cookie": f"sid={frappe_http.sid('manager1@example.com', 'manager1')}"}
    ok = frappe_http.request("GET", DASHBOARD_DATA, params={"outlet": "OUTLET-001"}, headers=cookie)
    assert ok.status_code == 200
    forbidden = frappe_http.request(
        "GET", DASHBOARD_DATA, params={"outlet": "OUTLET-002"}, headers=cookie
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["_error_message"] == "No permission for Franchise Outlet OUTLET-002"
    assert "does not have access to this document" in server_message(forbidden.json())
    missing = frappe_http.request("GET", DASHBOARD_DATA, params={"outlet": "Nope"}, headers=cookie)
    assert missing.status_code == 404 and missing.json()["exc_type"] == "DoesNotExistError"
    no_arg = frappe_http.request("GET", DASHBOARD_DATA, headers=cookie)
    assert no_arg.status_code == 500 and no_arg.json()["exc_type"] == "TypeError"


def test_administrator_gets_zeros_for_missing_outlet(frappe_http):
    cookie = {"Cookie": f"sid={frappe_http.sid('Administrator', 'admin')}"}
    response = frappe_http.request(
        "GET", DASHBOARD_DATA, params={"outlet": "No Such Outlet"}, headers=cookie
    )
    assert response.json() == {
        "message": {"total_sales": 0.0, "invoice_count": 0, "avg_order_value": 0.0, "top_items": []}
    }


def test_periods_are_the_seeds(frappe_http):
    """The seed's `weekly` is add_months(today(), 0) to today: today again; `monthly` is the
    first of the month to today (frappe-contract.md); top items ranked by quantity."""
    figures = {
        period: frappe_http.as_service(
            "GET", DASHBOARD_DATA, params={"outlet": "OUTLET-001", "period": period}
        ).json()["message"]
        for period in ("daily", "weekly", "monthly", "yearly")
    }
    assert figures["weekly"] == figures["daily"]
    assert figures["yearly"] == figures["monthly"]  # anything else behaves as monthly
    month = data.build_store(42, "Asia/Kolkata")
    first = month.today().replace(day=1)
    expected = [i for i in month.invoices if i.outlet == "OUTLET-001" and i.posted.date() >= first]
    monthly = figures["monthly"]
    assert monthly["invoice_count"] >= len(expected)  # and the sales the tests made since
    assert monthly["invoice_count"] < len(expected) + 200
    assert monthly["avg_order_value"] == pytest.approx(
        monthly["total_sales"] / monthly["invoice_count"], abs=0.01
    )
    quantities = [item["total_qty"] for item in monthly["top_items"]]
    assert len(quantities) == 10 and quantities == sorted(quantities, reverse=True)


def test_errors_are_html_for_browsers(frappe_http):
    response = frappe_http.request(
        "GET", "/api/method/frappe.auth.get_logged_user", headers={"Accept": "text/html"}
    )
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")


def test_unknown_method_and_unknown_site(frappe_http):
    unknown = frappe_http.request("GET", "/api/method/no.such.method")
    assert unknown.status_code == 417
    other_site = frappe_http.request(
        "GET", LOCATIONS, headers={"X-Frappe-Site-Name": "other.localhost"}
    )
    assert other_site.status_code == 404


def test_outlet_list_is_filtered_by_permissions(frappe_http):
    cookie = {"Cookie": f"sid={frappe_http.sid('manager2@example.com', 'manager2')}"}
    params = {"fields": json.dumps(["name", "status"]), "limit_page_length": 0}
    rows = frappe_http.request("GET", OUTLETS, params=params, headers=cookie).json()["data"]
    assert sorted(row["name"] for row in rows) == ["OUTLET-002", "OUTLET-003"]


def test_outlet_list_options(frappe_http):
    everything = frappe_http.as_service("GET", OUTLETS).json()["data"]
    assert len(everything) == 14 and set(everything[0]) == {"name"}
    assert (
        len(frappe_http.as_service("GET", OUTLETS, params={"limit_page_length": 5}).json()["data"])
        == 5
    )
    active = frappe_http.as_service(
        "GET",
        OUTLETS,
        params={
            "fields": json.dumps(["name", "city"]),
            "filters": json.dumps([["status", "=", "Active"], ["state", "=", "Maharashtra"]]),
            "order_by": "name desc",
            "limit_page_length": 0,
        },
    ).json()["data"]
    names = [row["name"] for row in active]
    assert names == sorted(names, reverse=True)
    assert set(names) == {"OUTLET-001", "OUTLET-003", "Marine Drive Kiosk", "Koregaon Park"}
    page = frappe_http.as_service(
        "GET", OUTLETS, params={"order_by": "name asc", "limit_start": 2, "limit_page_length": 2}
    ).json()["data"]
    assert len(page) == 2


def test_outlet_doc(frappe_http):
    cookie = {"Cookie": f"sid={frappe_http.sid('manager1@example.com', 'manager1')}"}
    own = frappe_http.request("GET", f"{OUTLETS}/OUTLET-001", headers=cookie)
    assert own.json()["data"]["outlet_name"] == "Downtown Outlet"
    other = frappe_http.request("GET", f"{OUTLETS}/OUTLET-002", headers=cookie)
    assert other.status_code == 403
    spaced = frappe_http.as_service("GET", f"{OUTLETS}/{quote('Café Central')}")
    assert spaced.json()["data"]["city"] == "Panaji"
    missing = frappe_http.as_service("GET", f"{OUTLETS}/Nowhere")
    assert missing.status_code == 404


def test_demo_data_shape():
    store = data.build_store(seed=7, time_zone="Asia/Kolkata")
    statuses = [doc["status"] for doc in store.outlets.values()]
    assert len(statuses) >= 12 and "Suspended" in statuses and "Closed" in statuses
    assert {"OUTLET-001", "OUTLET-002", "OUTLET-003", "Café Central"} <= set(store.outlets)
    assert len(data.MENU) >= 20
    days = {invoice.posted.date() for invoice in store.invoices}
    assert len(days) >= 60
    again = data.build_store(seed=7, time_zone="Asia/Kolkata")
    assert [(i.outlet, i.grand_total) for i in again.invoices] == [
        (i.outlet, i.grand_total) for i in store.invoices
    ]


def test_submit_publishes_sale_then_daily_total(frappe_http, frappe_redis_url):
    pubsub = redis.Redis.from_url(frappe_redis_url).pubsub()
    pubsub.subscribe("events")
    pubsub.get_message(timeout=2)  # the subscribe confirmation
    response = frappe_http.as_service(
        "POST",
        "/api/method/frappe_sim.submit_pos_invoice",
        json={"outlet": "OUTLET-002", "items": [{"item_code": "TEA-01", "qty": 2}]},
    )
    assert response.status_code == 200, response.text
    invoice = response.json()["message"]["name"]
    raws = []
    while len(raws) < 6:
        message = pubsub.get_message(timeout=5)
        assert message is not None, f"only {len(raws)} realtime messages arrived"
        if message["type"] == "message":
            raws.append(message["data"].decode())
    events = [json.loads(raw) for raw in raws]
    kinds = [event["event"] for event in events]
    assert kinds == [
        "doc_update",
        "list_update",
        "live_pos_sale",
        "daily_sales_update",
        "doc_update",
        "list_update",
    ]
    sale, daily = events[2], events[3]
    assert raws[2] == json.dumps(sale, sort_keys=True, indent=1)
    assert sale["namespace"] == SITE and sale["room"] == "all"
    assert sale["message"]["invoice"] == invoice and sale["message"]["outlet"] == "OUTLET-002"
    assert sale["message"]["items"][0]["item"] == "Masala Chai"
    assert sale["message"]["grand_total"] == 80.0
    assert daily["message"]["outlet"] == "OUTLET-002"
    assert daily["message"]["daily_total"] >= 80.0
    pubsub.close()


def test_submit_is_for_managers_only_and_checks_input(frappe_http):
    cookie = {"Cookie": f"sid={frappe_http.sid('manager1@example.com', 'manager1')}"}
    path = "/api/method/frappe_sim.submit_pos_invoice"
    sale = {"outlet": "OUTLET-001", "items": [{"item_code": "TEA-01", "qty": 1}]}
    assert frappe_http.request("POST", path, json=sale, headers=cookie).status_code == 403
    bad_item = {"outlet": "OUTLET-001", "items": [{"item_code": "NOPE", "qty": 1}]}
    assert frappe_http.as_service("POST", path, json=bad_item).status_code == 404
    nowhere = {"outlet": "No Such Outlet", "items": [{"item_code": "TEA-01", "qty": 1}]}
    assert frappe_http.as_service("POST", path, json=nowhere).status_code == 404
    returned = {"outlet": "OUTLET-001", "items": [{"item_code": "TEA-01", "qty": -1}]}
    assert frappe_http.as_service("POST", path, json=returned).status_code == 417


def test_submitted_sales_count_in_the_figures(frappe_http):
    def today():
        return frappe_http.as_service(
            "GET", DASHBOARD_DATA, params={"outlet": "OUTLET-003", "period": "daily"}
        ).json()["message"]

    before = today()
    frappe_http.as_service(
        "POST",
        "/api/method/frappe_sim.submit_pos_invoice",
        json={"outlet": "OUTLET-003", "items": [{"item_code": "CAKE-01", "qty": 2}]},
    )
    after = today()
    assert after["invoice_count"] == before["invoice_count"] + 1
    assert after["total_sales"] == pytest.approx(before["total_sales"] + 350.0)


def test_sales_generator_publishes_sales(frappe_redis_url):
    from .conftest import start_frappe_sim, stop

    pubsub = redis.Redis.from_url(frappe_redis_url).pubsub()
    pubsub.subscribe("events")
    url, process = start_frappe_sim(frappe_redis_url, "--sales-per-minute", "600")
    try:
        deadline = time.monotonic() + 20
        sale = None
        while sale is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1)
            if message and message["type"] == "message":
                event = json.loads(message["data"])
                sale = event if event["event"] == "live_pos_sale" else None
        assert sale is not None, "no generated sale within 20 s"
        assert sale["message"]["grand_total"] > 0 and sale["message"]["items"]
    finally:
        stop(process)
        pubsub.close()


def socket_client(frappe_url, headers, namespace=f"/{SITE}"):
    """Connect to the demo Frappe's realtime server; the client and its received events."""
    import socketio

    received, refusals = [], []
    client = socketio.Client(reconnection=False)
    client.on("*", lambda event, data=None: received.append((event, data)), namespace=namespace)
    client.on("connect_error", refusals.append, namespace=namespace)
    try:
        client.connect(frappe_url, headers=headers, namespaces=[namespace], transports=["polling"])
    except socketio.exceptions.ConnectionError as exc:
        client.disconnect()
        raise socketio.exceptions.ConnectionError(str(refusals)) from exc
    return client, received


@pytest.mark.parametrize(
    ("headers", "namespace", "refusal"),
    [
        ({}, f"/{SITE}", "No cookie transmitted."),
        ({"Authorization": "token demo_api_key:demo_api_secret"}, f"/{SITE}",
         "No cookie transmitted."),
        ({"Cookie": "x=1", "Origin": "http://elsewhere.example"}, f"/{SITE}", "Invalid origin"),
        ({"Cookie": "x=1"}, "/nope.localhost", "Invalid namespace"),
    ],
)  # fmt: skip
def test_realtime_server_refuses_like_frappe(frappe_url, headers, namespace, refusal):
    import socketio

    origin = {"Origin": frappe_url} if "Origin" not in headers else {}
    with pytest.raises(socketio.exceptions.ConnectionError, match=refusal):
        socket_client(frappe_url, {**origin, **headers}, namespace)


def test_realtime_sends_every_sale_to_system_users_only(frappe_url, frappe_http):
    """Frappe's leak, reproduced: manager1 (one outlet) gets every outlet's sales."""
    origin = {"Origin": frappe_url}
    manager1 = frappe_http.sid("manager1@example.com", "manager1")
    website = frappe_http.sid("website@example.com", "website")
    leaky, leaked = socket_client(frappe_url, {**origin, "Cookie": f"sid={manager1}"})
    guest, guest_got = socket_client(frappe_url, {**origin, "Cookie": f"sid={website}"})
    token, token_got = socket_client(
        frappe_url,
        {**origin, "Cookie": "x=1", "Authorization": "token demo_api_key:demo_api_secret"},
    )
    try:
        frappe_http.as_service(
            "POST",
            "/api/method/frappe_sim.submit_pos_invoice",
            json={"outlet": "OUTLET-002", "items": [{"item_code": "TEA-01", "qty": 1}]},
        )
        deadline = time.monotonic() + 5
        while len([e for e in leaked if e[0] == "daily_sales_update"]) < 1:
            assert time.monotonic() < deadline, leaked
            time.sleep(0.02)
        assert any(e == "live_pos_sale" and d["outlet"] == "OUTLET-002" for e, d in leaked)
        assert guest_got == [] and token_got == []
    finally:
        for client in (leaky, guest, token):
            client.disconnect()


def test_royalty_fields_are_left_out_for_people_without_their_permission_level(frappe_http):
    """The franchisor's money fields are at permission level 1: Frappe leaves them out of a
    manager's answers (lists, `*` and single documents) and keeps them for Administrator."""
    money = {"custom_royalty_percentage", "custom_initial_investment"}
    fields = json.dumps(["name", "territory", "custom_royalty_percentage", "custom_franchise_type"])
    for user, password, readable in (("manager1@example.com", "manager1", False),
                                     ("Administrator", "admin", True)):  # fmt: skip
        cookies = {"sid": frappe_http.sid(user, password)}
        rows = frappe_http.request("GET", OUTLETS, params={"fields": fields}, cookies=cookies)
        row = next(r for r in rows.json()["data"] if r["name"] == "OUTLET-001")
        assert row["territory"] == "West India" and row["custom_franchise_type"] == "Standard"
        assert ("custom_royalty_percentage" in row) is readable
        every = frappe_http.request("GET", OUTLETS, params={"fields": '["*"]'}, cookies=cookies)
        assert bool(money & set(every.json()["data"][0])) is readable
        doc = frappe_http.request("GET", f"{OUTLETS}/OUTLET-001", cookies=cookies).json()["data"]
        assert bool(money & set(doc)) is readable
        assert doc["custom_agreement_end_date"] > doc["custom_agreement_start_date"]
    assert row["custom_royalty_percentage"] == 6.0


def test_the_demo_site_has_agreements_and_standing_to_look_at(frappe_http):
    """Agreements ending within 90 days, one ended, and a suspension with its reason, with
    dates around today (the seed's 60-month agreements)."""
    rows = frappe_http.as_service("GET", OUTLETS, params={"fields": '["*"]', "limit": 0})
    docs = {doc["name"]: doc for doc in rows.json()["data"]}
    today = date.fromisoformat(docs["OUTLET-002"]["custom_agreement_start_date"])  # signed today
    ends = {name: date.fromisoformat(d["custom_agreement_end_date"]) for name, d in docs.items()}
    assert docs["Lake View"]["custom_suspension_reason"] == "Non-payment of royalties"
    assert docs["T. Nagar"]["status"] == "Active" and ends["T. Nagar"] < today  # ended
    assert today < ends["OUTLET-001"] <= today + timedelta(days=90)
