"""Logging in and out through Frappe, as a manager's browser does it (real Redis, real HTTP)."""

import socket
import threading

import pytest
import redis

from frappe_sim import data

from .conftest import csrf_token, login


def session_keys(redis_url):
    return redis.Redis.from_url(redis_url).keys("session:*")


def test_login_page_has_the_form(client):
    page = client.get("/login").get_data(as_text=True)
    for field in ('name="usr"', 'name="pwd"', 'name="csrf_token"'):
        assert field in page


def test_login_success_keeps_the_sid_server_side(client, redis_url):
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("fd_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "sid=" not in cookie.replace("fd_session=", "")
    page = client.get("/").get_data(as_text=True)
    assert "Manager One" in page
    stored = b"".join(redis.Redis.from_url(redis_url).get(k) for k in session_keys(redis_url))
    assert b"manager1@example.com" in stored  # the session, with Frappe's sid, lives in Redis


def test_secure_cookie_when_configured(make_app):
    client = make_app(COOKIE_SECURE="true").test_client()
    response = login(client)
    assert "Secure" in response.headers["Set-Cookie"]


def test_outlet_list_is_what_frappe_lets_the_user_read(client):
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert 'data-outlet="OUTLET-001"' in page and "Downtown Outlet" in page
    assert "OUTLET-002" not in page and "OUTLET-003" not in page
    assert 'href="/outlets/OUTLET-001"' in page


def test_manager2_sees_two_outlets(client):
    login(client, "manager2@example.com", "manager2")
    page = client.get("/").get_data(as_text=True)
    assert 'data-outlet="OUTLET-002"' in page and 'data-outlet="OUTLET-003"' in page
    assert 'data-outlet="OUTLET-001"' not in page


def test_administrator_sees_every_outlet_with_odd_names_as_links(client):
    login(client, "Administrator", "admin")
    page = client.get("/").get_data(as_text=True)
    assert page.count("<tr data-outlet=") == 14
    assert 'href="/outlets/Caf%C3%A9%20Central"' in page
    assert "Suspended" in page and "Closed" in page


def test_website_user_is_told_they_have_no_outlets(client):
    login(client, "website@example.com", "website")
    page = client.get("/").get_data(as_text=True)
    assert "lets your account read no outlets" in page


def test_wrong_password_shows_frappes_message_and_stores_nothing(client, redis_url):
    response = login(client, pwd="wrong")
    assert response.status_code == 401
    assert "Invalid login credentials" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still logged out


def test_empty_and_oversized_fields_are_refused_before_frappe(client):
    assert login(client, usr="", pwd="x").status_code == 400
    response = login(client, usr="a" * 141, pwd="x")
    assert response.status_code == 400 and "too long" in response.get_data(as_text=True)
    assert login(client, pwd="p" * 513).status_code == 400


def test_missing_csrf_token_is_refused(client):
    response = client.post("/login", data={"usr": "manager1@example.com", "pwd": "manager1"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_account_locked_by_frappe_is_said_in_words(client, frappe_http):
    for _ in range(10):  # someone else hammered this account directly at Frappe
        frappe_http.login("locked-user@example.com", "wrong", ip="192.0.2.50")
    response = login(client, usr="locked-user@example.com", pwd="whatever")
    text = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "locked" in text and "will resume after" in text


def test_our_throttle_trips_before_frappe_locks_the_account(client, frappe_http):
    user = "manager2@example.com"
    statuses = [login(client, usr=user, pwd=f"wrong{i}").status_code for i in range(5)]
    assert statuses == [401] * 5
    throttled = login(client, usr=user, pwd="wrong5")
    assert throttled.status_code == 429
    assert "Too many login attempts" in throttled.get_data(as_text=True)
    assert int(throttled.headers["Retry-After"]) > 0
    # Frappe saw only five failures: the account is not locked there.
    assert frappe_http.login(user, "manager2", ip="192.0.2.51").status_code == 200


def test_throttle_per_address_spans_users(client):
    statuses = [login(client, usr=f"u{i}@example.com", pwd="x").status_code for i in range(9)]
    assert statuses[:8] == [401] * 8 and statuses[8] == 429


def test_successful_logins_are_not_throttled(client):
    for _ in range(7):
        assert login(client).status_code == 302
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def test_password_expired_is_explained(client):
    response = login(client, usr="expired@example.com", pwd="expired")
    assert response.status_code == 403
    assert "password has expired" in response.get_data(as_text=True)


def test_two_factor_login_asks_for_the_code(client):
    first = login(client, usr="otp@example.com", pwd="otp", next_url="/outlets/OUTLET-003")
    assert first.status_code == 200
    assert "authenticator app" in first.get_data(as_text=True)
    token = csrf_token(client)
    wrong = client.post("/login/otp", data={"csrf_token": token, "otp": "000000"})
    assert wrong.status_code == 401
    assert "Incorrect Verification code" in wrong.get_data(as_text=True)
    done = client.post("/login/otp", data={"csrf_token": token, "otp": data.OTP_CODE})
    assert done.status_code == 302 and done.headers["Location"] == "/outlets/OUTLET-003"
    assert 'data-outlet="OUTLET-003"' in client.get("/").get_data(as_text=True)


def test_otp_without_a_pending_login_goes_back_to_login(client):
    response = client.post("/login/otp", data={"csrf_token": csrf_token(client), "otp": "1"})
    assert response.status_code == 401
    assert "log in again" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example.com/",
        "//evil.example.com/x",
        "/\\evil.example.com",
        "\\\\evil.example.com",
        "javascript:alert(1)",
        "http:/evil.example.com",
        "/%0d%0aSet-Cookie:x=1",
        " //evil.example.com",
    ],
)
def test_next_never_leaves_our_site(client, target):
    response = login(client, next_url=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "evil" not in location.split("?")[0].lstrip("/").split("/")[0]


def test_next_keeps_a_local_path(client):
    response = login(client, next_url="/outlets/OUTLET-001?period=monthly")
    assert response.headers["Location"] == "/outlets/OUTLET-001?period=monthly"


def test_pages_need_a_login_and_come_back_after_it(client):
    response = client.get("/outlets/OUTLET-001?period=daily")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/outlets/OUTLET-001?period%3Ddaily"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/outlets/OUTLET-001?period=daily"' in page


def test_session_id_rotates_on_login(client):
    client.get("/login")
    assert client.get_cookie("fd_session") is None  # an anonymous visit stores no session
    client.set_cookie("fd_session", "planted-by-someone-else")
    login(client)
    after = client.get_cookie("fd_session").value
    assert after != "planted-by-someone-else"


def test_a_two_factor_challenge_lives_minutes_not_days(client, redis_url):
    login(client, usr="otp@example.com", pwd="otp")
    key = f"session:{client.get_cookie('fd_session').value}"
    assert 0 < redis.Redis.from_url(redis_url).ttl(key) <= 15 * 60


def test_logout_ends_both_sessions(client, frappe_http, redis_url):
    login(client)
    sid = frappe_sid_of(redis_url)
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "You have logged out" in client.get("/login").get_data(as_text=True)
    assert client.get("/").status_code == 302
    check = frappe_http.request(
        "GET", "/api/method/frappe.auth.get_logged_user", headers={"Cookie": f"sid={sid}"}
    )
    assert check.json().get("session_expired") == 1


def frappe_sid_of(redis_url) -> str:
    """Read back the sid from our server-side store (only tests ever look at it)."""
    import msgspec

    store = redis.Redis.from_url(redis_url)
    for key in session_keys(redis_url):
        stored = msgspec.msgpack.decode(store.get(key))
        if "frappe_sid" in stored:
            return stored["frappe_sid"]
    raise AssertionError("no logged-in session in Redis")


def test_logout_needs_post_and_csrf(client):
    login(client)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200  # still logged in


def test_expiry_mid_session_sends_back_to_login_with_a_message(make_app, frappe_http):
    # Frappe's answers are trusted for PERMISSION_CACHE_SECONDS; expiry shows at the next call.
    client = make_app(PERMISSION_CACHE_SECONDS="0.1").test_client()
    login(client)
    assert client.get("/").status_code == 200
    threading.Event().wait(0.2)
    frappe_http.as_service(
        "POST", "/api/method/frappe_sim.expire_sessions", json={"user": "manager1@example.com"}
    )
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "session has expired" in page
    assert client.get("/").status_code == 302  # our session ended too


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_frappe_down_at_login_is_a_clear_503(make_app):
    client = make_app(FRAPPE_URL=closed_port_url()).test_client()
    response = login(client)
    assert response.status_code == 503
    assert "Frappe is unreachable" in response.get_data(as_text=True)


def test_frappe_down_after_login_is_a_clear_503(make_app, redis_url):
    client = make_app().test_client()
    login(client)
    down = make_app(FRAPPE_URL=closed_port_url()).test_client()
    down.set_cookie("fd_session", client.get_cookie("fd_session").value)
    response = down.get("/")
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "Frappe is unreachable" in text and "Traceback" not in text
