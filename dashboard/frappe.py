"""FrappeClient: the only code that speaks HTTP to Frappe.

Frappe's answers become a few exceptions of ours. Session ids, passwords and API secrets never
appear in their texts or in logs.
"""

import json
import logging
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from markupsafe import Markup

from .metrics import FRAPPE_CALLS

log = logging.getLogger(__name__)

UNAVAILABLE_STATUSES = {429, 502, 503, 504}


class FrappeError(Exception):
    """Frappe refused or failed; `message` is fit to show a person."""

    default = "Frappe could not complete the request."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.default)
        self.message = message or self.default


class FrappeUnavailable(FrappeError):
    default = "Frappe is unreachable right now."


class BadCredentials(FrappeError):
    default = "Invalid login credentials"


class AccountLocked(FrappeError):
    default = "Your account has been locked for a while after too many failed logins."


class PasswordExpired(FrappeError):
    default = "Your Frappe password has expired. Set a new one in Frappe, then log in here."


class SessionExpired(FrappeError):
    default = "Your session has expired. Please log in again."


class NotPermitted(FrappeError):
    default = "You are not permitted to see this."


class NotFound(FrappeError):
    default = "Not found."


@dataclass(frozen=True)
class LoggedIn:
    sid: str
    user: str
    full_name: str


@dataclass(frozen=True)
class TwoFactorChallenge:
    tmp_id: str
    method: str
    prompt: str


class _NoCookies(DefaultCookiePolicy):
    """Keeps the shared session's jar empty: each user's sid is sent explicitly."""

    def set_ok(self, cookie, request):
        return False


class FrappeClient:
    def __init__(self, settings):
        self.base_url = settings.frappe_url
        self.site = settings.frappe_site
        self.timeout = (settings.frappe_connect_timeout, settings.frappe_read_timeout)
        self.token = (
            f"token {settings.frappe_api_key}:{settings.frappe_api_secret}"
            if settings.has_service_account
            else None
        )
        self.http = requests.Session()
        # Pages ask Frappe for many outlets at once (an overview of 14): requests' default pool
        # of 10 connections dropped the rest ("Connection pool is full").
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=100)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.http.cookies.set_policy(_NoCookies())
        self.http.headers.update({"Accept": "application/json", "X-Frappe-Site-Name": self.site})

    # -- sessions -----------------------------------------------------------------------------

    def login(self, usr: str, pwd: str, client_ip: str) -> LoggedIn | TwoFactorChallenge:
        return self._login({"usr": usr, "pwd": pwd}, client_ip)

    def verify_otp(self, tmp_id: str, otp: str, client_ip: str) -> LoggedIn:
        result = self._login({"tmp_id": tmp_id, "otp": otp}, client_ip)
        if not isinstance(result, LoggedIn):
            raise FrappeError("Frappe asked for another verification step.")
        return result

    def _login(self, body: dict, client_ip: str):
        # Frappe locks out an address after 10 failures: pass on the person's own address.
        response = self._send("POST", "/api/method/login", json=body, client_ip=client_ip)
        data = self._json(response)
        if response.status_code != 200:
            self._raise(response, data)
        if "tmp_id" in data and isinstance(data.get("verification"), dict):
            return self._challenge(data)
        if data.get("message") == "Password Reset":
            raise PasswordExpired()
        sid = response.cookies.get("sid")
        if not sid or sid == "Guest":
            raise FrappeError("Frappe accepted the login but opened no session.")
        user = unquote(response.cookies.get("user_id") or "")
        full_name = data.get("full_name") if isinstance(data.get("full_name"), str) else user
        return LoggedIn(sid=sid, user=user, full_name=full_name or user)

    @staticmethod
    def _challenge(data: dict) -> TwoFactorChallenge:
        verification = data["verification"]
        method = str(verification.get("method") or "OTP App")
        prompt = verification.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            prompt = {
                "SMS": "Enter the code sent to your phone.",
                "Email": "Enter the code sent to your e-mail.",
            }.get(method, "Enter the code from your authenticator app.")
        return TwoFactorChallenge(tmp_id=str(data["tmp_id"]), method=method, prompt=prompt)

    def logout(self, sid: str) -> None:
        self.call("logout", sid=sid, http_method="POST")

    def logged_user(self, sid: str) -> str:
        return self.call("frappe.auth.get_logged_user", sid=sid)

    # -- reads --------------------------------------------------------------------------------

    def call(
        self, method: str, *, sid=None, as_service=False, http_method="GET", timeout=None, **params
    ):
        """Run a whitelisted method as the user of `sid`, the service account, or a guest."""
        response = self._send(
            http_method,
            f"/api/method/{method}",
            params=params if http_method == "GET" else None,
            data=params if http_method != "GET" else None,
            headers=self._auth(sid, as_service),
            timeout=timeout,
        )
        data = self._answer(response, sid)
        return data.get("message")

    def get_list(
        self, doctype, *, fields, filters=None, order_by=None, group_by=None, limit=0, sid=None,
        as_service=False,
    ) -> list:  # fmt: skip
        params = {"fields": json.dumps(fields), "limit_page_length": limit}
        if filters:
            params["filters"] = json.dumps(filters)
        if order_by:
            params["order_by"] = order_by
        if group_by:
            params["group_by"] = group_by
        response = self._send(
            "GET", f"/api/resource/{doctype}", params=params, headers=self._auth(sid, as_service)
        )
        data = self._answer(response, sid)
        rows = data.get("data")
        if not isinstance(rows, list):
            raise FrappeError("Frappe answered a list request without a list.")
        return [row for row in rows if isinstance(row, dict)]

    def get_doc(self, doctype: str, name: str, *, sid=None, as_service=False) -> dict:
        path = f"/api/resource/{quote(doctype)}/{quote(name, safe='')}"
        response = self._send("GET", path, headers=self._auth(sid, as_service))
        data = self._answer(response, sid)
        doc = data.get("data")
        if not isinstance(doc, dict):
            raise FrappeError("Frappe answered a document request without a document.")
        return doc

    def time_zone(self, timeout=None) -> str:
        """The site's time zone, which anyone may ask (guests included)."""
        answer = self.call("frappe.client.get_time_zone", timeout=timeout)
        zone = answer.get("time_zone") if isinstance(answer, dict) else None
        if not isinstance(zone, str) or not zone:
            raise FrappeError("Frappe did not say its time zone.")
        try:
            ZoneInfo(zone)
        except (ValueError, ZoneInfoNotFoundError):
            raise FrappeError("Frappe named a time zone we do not know.") from None
        return zone

    # -- plumbing -----------------------------------------------------------------------------

    def _auth(self, sid, as_service) -> dict:
        if sid:
            return {"Cookie": f"sid={sid}"}
        if as_service:
            if not self.token:
                raise FrappeError("No Frappe service account is configured.")
            return {"Authorization": self.token}
        return {}

    def _send(self, method, path, *, client_ip=None, headers=None, timeout=None, **kwargs):
        headers = dict(headers or {})
        if client_ip:
            headers["X-Forwarded-For"] = client_ip
        endpoint = path.split("?")[0].rsplit("/", 1)[0] if "/resource/" in path else path
        try:
            response = self.http.request(
                method,
                self.base_url + path,
                headers=headers,
                timeout=timeout or self.timeout,
                **kwargs,
            )
        except requests.Timeout:
            FRAPPE_CALLS.labels(endpoint, "timeout").inc()
            log.warning("Frappe timed out: %s %s", method, path.split("?")[0])
            raise FrappeUnavailable("Frappe is not answering in time.") from None
        except requests.RequestException as exc:
            FRAPPE_CALLS.labels(endpoint, "unreachable").inc()
            log.warning("Frappe unreachable: %s %s (%s)", method, path, type(exc).__name__)
            raise FrappeUnavailable() from None
        FRAPPE_CALLS.labels(endpoint, str(response.status_code)).inc()
        return response

    def _answer(self, response, sid) -> dict:
        """The JSON of a successful answer; Frappe's refusals become our exceptions."""
        data = self._json(response)
        if data.get("session_expired") and sid:
            raise SessionExpired()
        if response.status_code != 200:
            self._raise(response, data)
        return data

    @staticmethod
    def _json(response) -> dict:
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
        if response.status_code >= 500 or response.status_code in UNAVAILABLE_STATUSES:
            raise FrappeUnavailable()
        raise FrappeError(f"Frappe answered something unexpected (HTTP {response.status_code}).")

    @staticmethod
    def _raise(response, data: dict):
        status, exc_type = response.status_code, data.get("exc_type")
        message = human_message(data)
        if exc_type == "SecurityException":
            raise AccountLocked(message)
        if status == 401 or exc_type == "AuthenticationError":
            raise BadCredentials(message)
        if status == 403:
            raise NotPermitted(message)
        if status == 404:
            raise NotFound(message)
        if status in UNAVAILABLE_STATUSES:
            raise FrappeUnavailable(message and f"Frappe is busy: {message}")
        log.warning("Frappe error %s %s: %s", status, exc_type, message)
        raise FrappeError(message)


def human_message(data: dict) -> str | None:
    """The message Frappe means for people: from _server_messages, tags stripped, as text."""
    texts = []
    try:
        for entry in json.loads(data.get("_server_messages") or "[]"):
            message = json.loads(entry).get("message") if isinstance(entry, str) else None
            if isinstance(message, str):
                texts.append(message)
    except (ValueError, TypeError, AttributeError):
        pass
    if not texts and isinstance(data.get("message"), str):
        texts.append(data["message"])
    text = " ".join(strip_tags(t) for t in texts).strip()
    return text[:500] or None


def strip_tags(text: str) -> str:
    # Frappe's messages carry <br>, <strong>, <details>: keep the words, drop the markup.
    tagged = text.replace("<br>", " ").replace("</summary>", ": ")
    return Markup(tagged).striptags()  # noqa: S704 -- returns plain text, never rendered raw
