"""FrappeClient: parses Frappe's real answers (the captured samples) and the demo Frappe's."""

import logging
import socket

import pytest
import requests

from dashboard import config
from dashboard.frappe import (
    AccountLocked,
    BadCredentials,
    FrappeClient,
    FrappeError,
    FrappeUnavailable,
    LoggedIn,
    NotFound,
    NotPermitted,
    SessionExpired,
    TwoFactorChallenge,
    human_message,
)
from frappe_sim import data

from .conftest import SAMPLES, dashboard_env


def sample_response(name: str) -> requests.Response:
    """A requests.Response holding the exact bytes Frappe 15.44.2 sent."""
    raw = (SAMPLES / "http" / name).read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().splitlines()
    response = requests.Response()
    response.status_code = int(status_line.split()[1])
    for line in header_lines:
        key, _, value = line.partition(": ")
        if key.lower() != "set-cookie":
            response.headers[key] = value
    response._content = body
    return response


def raise_from_sample(name: str):
    response = sample_response(name)
    FrappeClient._raise(response, FrappeClient._json(response))


@pytest.mark.parametrize(
    ("sample", "error", "message"),
    [
        ("login-wrong-password.txt", BadCredentials, "Invalid login credentials"),
        (
            "dashboard-data-forbidden.txt",
            NotPermitted,
            "Not allowed for Franchise Outlet: Airport Outlet User manager1@example.com does not "
            "have access to this document: Franchise Outlet - Airport Outlet",
        ),
        (
            "dashboard-data-no-such-outlet.txt",
            NotFound,
            "Franchise Outlet No Such Outlet not found",
        ),
        (
            "dashboard-data-invalid-period.txt",
            FrappeError,
            "Invalid period: yearly. Use daily, weekly or monthly.",
        ),
        ("locations-guest-post.txt", NotPermitted, "Not permitted"),
        ("token-wrong-secret.txt", BadCredentials, "Invalid login credentials"),
        ("post-without-csrf-after-desk.txt", FrappeError, "Invalid Request"),
    ],
)
def test_samples_become_our_errors_with_plain_messages(sample, error, message):
    with pytest.raises(error) as caught:
        raise_from_sample(sample)
    assert caught.value.message == message
    assert "<" not in caught.value.message and "Traceback" not in caught.value.message


def test_missing_argument_sample_shows_no_traceback():
    with pytest.raises(FrappeError) as caught:
        raise_from_sample("dashboard-data-missing-argument.txt")
    assert "Traceback" not in caught.value.message and "apps/frappe" not in caught.value.message


@pytest.mark.parametrize(
    "sample", ["dashboard-data-unknown-sid.txt", "dashboard-data-expired-sid.txt"]
)
def test_expired_sid_samples_carry_the_flag(sample):
    body = FrappeClient._json(sample_response(sample))
    assert body["session_expired"] == 1
    assert human_message(body) == (
        "You are not permitted to access this resource.: Function "
        "franchise_management.api.get_outlet_dashboard_data is not whitelisted."
    )


def test_html_answers_are_not_parsed_as_data():
    response = requests.Response()
    response.status_code = 502
    response._content = b"<html><body>Bad Gateway</body></html>"
    with pytest.raises(FrappeUnavailable):
        FrappeClient._json(response)


@pytest.fixture
def frappe_client(frappe_url, redis_url):
    return FrappeClient(config.load(dashboard_env(frappe_url, redis_url)))


def test_login_returns_sid_user_and_name(frappe_client):
    result = frappe_client.login("manager1@example.com", "manager1", "198.51.100.200")
    assert isinstance(result, LoggedIn)
    assert result.user == "manager1@example.com" and result.full_name == "Manager One"
    assert frappe_client.logged_user(result.sid) == "manager1@example.com"
    assert len(frappe_client.http.cookies) == 0  # no shared jar between users


def test_two_factor_challenge_and_verification(frappe_client):
    challenge = frappe_client.login("otp@example.com", "otp", "198.51.100.201")
    assert isinstance(challenge, TwoFactorChallenge)
    assert "authenticator" in challenge.prompt
    with pytest.raises(BadCredentials, match="Incorrect Verification code"):
        frappe_client.verify_otp(challenge.tmp_id, "999999", "198.51.100.201")
    done = frappe_client.verify_otp(challenge.tmp_id, data.OTP_CODE, "198.51.100.201")
    assert done.user == "otp@example.com"


def test_each_user_keeps_their_own_sid(frappe_client):
    one = frappe_client.login("manager1@example.com", "manager1", "198.51.100.202")
    two = frappe_client.login("manager2@example.com", "manager2", "198.51.100.202")
    # A guest call in between must not clobber anything: nothing is kept in a jar.
    frappe_client.call("franchise_management.api.get_franchise_locations")
    assert frappe_client.logged_user(one.sid) == "manager1@example.com"
    assert frappe_client.logged_user(two.sid) == "manager2@example.com"


def test_logout_ends_the_session(frappe_client):
    sid = frappe_client.login("manager1@example.com", "manager1", "198.51.100.203").sid
    frappe_client.logout(sid)
    with pytest.raises(SessionExpired):
        frappe_client.logged_user(sid)


def test_service_account_reads_any_outlet(frappe_client):
    figures = frappe_client.call(
        "franchise_management.api.get_outlet_dashboard_data", as_service=True, outlet="OUTLET-002"
    )
    assert figures["invoice_count"] >= 0


def test_forwarded_address_lets_frappe_lock_one_address_only(frappe_client):
    for _ in range(10):
        with pytest.raises(BadCredentials):
            frappe_client.login("nobody@example.com", "wrong", "198.51.100.250")
    with pytest.raises(AccountLocked, match="locked"):
        frappe_client.login("manager2@example.com", "manager2", "198.51.100.250")
    # Another person's address is not affected.
    assert frappe_client.login("manager2@example.com", "manager2", "198.51.100.251").sid


def test_secrets_never_reach_logs_or_messages(frappe_client, caplog):
    caplog.set_level(logging.DEBUG)
    sid = frappe_client.login("manager1@example.com", "manager1", "198.51.100.204").sid
    errors = []
    for call in (
        lambda: frappe_client.login("manager1@example.com", "s3cret-pass", "198.51.100.205"),
        lambda: frappe_client.call(
            "franchise_management.api.get_outlet_dashboard_data", sid=sid, outlet="OUTLET-002"
        ),
        lambda: frappe_client.call("no.such.method", sid=sid),
    ):
        with pytest.raises(FrappeError) as caught:
            call()
        errors.append(str(caught.value))
    text = caplog.text + " ".join(errors)
    for secret in (sid, "s3cret-pass", "demo_api_secret"):
        assert secret not in text


def test_unreachable_frappe_is_unavailable(redis_url):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    client = FrappeClient(config.load(dashboard_env(f"http://127.0.0.1:{closed_port}", redis_url)))
    with pytest.raises(FrappeUnavailable, match="unreachable"):
        client.login("manager1@example.com", "manager1", "198.51.100.206")


def test_silent_frappe_times_out(redis_url):
    with socket.socket() as silent:  # accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = config.load(dashboard_env(url, redis_url, FRAPPE_READ_TIMEOUT="0.3"))
        with pytest.raises(FrappeUnavailable, match="not answering in time"):
            FrappeClient(settings).logged_user("some-sid")
