"""Frappe v15's HTTP API as the dashboard meets it: login, sessions, RPC and REST."""

import html
import json
import re
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import quote

from flask import Flask, Response, g, request

from . import data
from .realtime import Publisher

LOCK_ATTEMPTS = 10  # System Settings: allow_consecutive_login_attempts
LOCK_WINDOW = 60  # System Settings: allow_login_after_fail, seconds
TWO_FACTOR_TTL = 300


class FrappeException(Exception):
    """An exception as Frappe's handler turns it into a response."""

    def __init__(self, status, exc_type, message=None, title="Message", body=None, server=True):
        super().__init__(message)
        self.status = status
        self.exc_type = exc_type
        self.message = message
        self.title = title
        self.body = body or {}
        self.server = server  # whether the message travels in _server_messages


def not_whitelisted(method):
    return FrappeException(
        403,
        "PermissionError",
        "<details><summary>You are not permitted to access this resource.</summary>"
        f"Function <strong>{method}</strong> is not whitelisted.</details>",
        title="Method Not Allowed",
    )


@dataclass
class SimState:
    store: data.Store
    site: str
    publisher: Publisher
    session_expiry: int = 612000
    sessions: dict = field(default_factory=dict)  # sid -> [user, expires_at]
    failures: dict = field(default_factory=dict)  # ("user"|"ip", key) -> deque of times
    pending_otp: dict = field(default_factory=dict)  # tmp_id -> (user, expires_at)
    calls: Counter = field(default_factory=Counter)  # what tests count: "GET /api/method/x"
    delay: float = 0.0  # seconds every answer waits, to play a slow Frappe
    submit_seconds: float = 0.05  # how long a POS submit's transaction stays open
    invoices_readable: bool = True  # False: a site whose managers may not read Sales Invoices
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open_session(self, user: str) -> str:
        sid = secrets.token_hex(28)
        with self.lock:
            self.sessions[sid] = [user, time.time() + self.session_expiry]
        return sid

    def session_user(self, sid: str) -> str | None:
        """The user of a live session, extending it; None when unknown or expired."""
        with self.lock:
            entry = self.sessions.get(sid)
            if entry is None or entry[1] < time.time():
                self.sessions.pop(sid, None)
                return None
            entry[1] = time.time() + self.session_expiry
            return entry[0]

    def close_session(self, sid: str) -> None:
        with self.lock:
            self.sessions.pop(sid, None)

    def close_sessions_of(self, user: str) -> int:
        with self.lock:
            dead = [sid for sid, (owner, _) in self.sessions.items() if owner == user]
            for sid in dead:
                del self.sessions[sid]
        return len(dead)

    def locked_for(self, keys) -> int:
        """Seconds until login resumes for the first locked key, 0 when none is locked."""
        now = time.time()
        with self.lock:
            for key in keys:
                times = self.failures.get(key, deque())
                while times and times[0] < now - LOCK_WINDOW:
                    times.popleft()
                if len(times) >= LOCK_ATTEMPTS:
                    return max(1, int(times[0] + LOCK_WINDOW - now))
        return 0

    def record_failure(self, keys) -> None:
        with self.lock:
            for key in keys:
                self.failures.setdefault(key, deque()).append(time.time())


def create_app(state: SimState) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["frappe_sim"] = state

    @app.before_request
    def count_and_delay():
        if request.path.startswith("/api/") and "frappe_sim." not in request.path:
            with state.lock:
                state.calls[f"{request.method} {request.path}"] += 1
                if request.headers.get("Authorization", "").startswith("token "):
                    state.calls[f"{request.method} {request.path} (token)"] += 1  # API keys
                if "outlet" in request.args:  # and per outlet (and period), for the figures
                    per_outlet = f"{request.method} {request.path}?outlet={request.args['outlet']}"
                    state.calls[per_outlet] += 1
                    if "period" in request.args:
                        state.calls[f"{per_outlet}&period={request.args['period']}"] += 1
            if state.delay:
                time.sleep(state.delay)

    @app.before_request
    def identify():
        g.user = None
        g.sid = None
        g.session_expired = False  # adds "session_expired": 1 to the body
        g.clear_cookies = False  # adds expired copies of the cookies
        g.set_cookies = True
        if request.path.startswith("/api/") and request_site() != state.site:
            raise FrappeException(404, "DoesNotExistError", f"{request_site()} does not exist")
        sid = request.cookies.get("sid")
        if sid and sid != "Guest":
            user = state.session_user(sid)
            if user:
                g.user, g.sid = data.USERS[user], sid
                return
            g.session_expired = g.clear_cookies = True
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("token "):
            g.user = token_user(auth[6:].strip())

    def token_user(credentials):
        key, _, secret = credentials.partition(":")
        known = data.API_KEYS.get(key)
        if not known or not secrets.compare_digest(known[0], secret):
            g.clear_cookies = True
            raise FrappeException(401, "AuthenticationError", server=False)
        return data.USERS[known[1]]

    @app.after_request
    def frappe_cookies(response):
        if g.get("set_cookies", True):
            set_session_cookies(response, g.get("user") if g.get("sid") else None, g.get("sid"))
            if g.get("clear_cookies"):
                expire_cookies(response)
        return response

    def set_session_cookies(response, user, sid):
        common = {"path": "/", "samesite": "Lax"}
        response.set_cookie(
            "sid", sid or "Guest", max_age=state.session_expiry, httponly=True, **common
        )
        response.set_cookie("system_user", "yes" if user and is_system(user) else "no", **common)
        response.set_cookie("full_name", quote(user.full_name if user else "Guest"), **common)
        response.set_cookie("user_id", quote(user.name if user else "Guest"), **common)
        response.set_cookie("user_image", "", **common)

    def expire_cookies(response):
        for name in ("sid", "system_user", "full_name", "user_id", "user_image"):
            response.set_cookie(name, "", expires=time.time() - 86400, path="/")

    @app.errorhandler(FrappeException)
    def frappe_exception(exc):
        if "text/html" in request.headers.get("Accept", ""):
            page = (
                f"<!DOCTYPE html><html><head><title>{html.escape(exc.title)}</title></head>"
                f"<body><h1>{html.escape(exc.title)}</h1><p>{exc.message or exc.exc_type}</p>"
                "</body></html>"
            )
            return Response(page, exc.status, content_type="text/html; charset=utf-8")
        body = {"exception": f"frappe.exceptions.{exc.exc_type}", "exc_type": exc.exc_type}
        if exc.message:
            body["exception"] += f": {exc.message}"
        body["exc"] = json.dumps([fake_traceback(exc)])
        if exc.message and exc.server:
            body["_server_messages"] = server_messages(exc.message, exc.title)
        body.update(exc.body)
        return json_response(body, exc.status)

    @app.errorhandler(404)
    def no_route(_exc):
        return Response("Not Found", 404, content_type="text/html; charset=utf-8")

    @app.route("/api/method/login", methods=["GET", "POST"])
    def login():
        args = request_args()
        if args.get("tmp_id"):
            return finish_two_factor(args)
        usr, pwd = args.get("usr"), args.get("pwd")
        keys = [("user", str(usr)), ("ip", client_ip())]
        g.set_cookies = False  # failed logins set no cookies at all
        wait = state.locked_for(keys)
        if wait:
            raise FrappeException(
                500,
                "SecurityException",
                f"Your account has been locked and will resume after {wait} seconds",
            )
        if not isinstance(usr, str) or not isinstance(pwd, str) or not usr or not pwd:
            raise login_failure("Incomplete login details")
        user = data.USERS.get(usr)
        if len(pwd) > 512 or user is None or not user.password or user.password != pwd:
            state.record_failure(keys)
            raise login_failure("Invalid login credentials")
        if not user.enabled:
            state.record_failure(keys)
            raise login_failure("User disabled or missing")
        if user.password_expired:
            key = secrets.token_urlsafe(16)
            return json_response(
                {"message": "Password Reset", "redirect_to": f"/update-password?key={key}"}
            )
        if user.two_factor:
            tmp_id = secrets.token_hex(4)
            with state.lock:
                state.pending_otp[tmp_id] = (user.name, time.time() + TWO_FACTOR_TTL)
            return json_response(
                {"verification": {"method": "OTP App", "setup": True}, "tmp_id": tmp_id}
            )
        return start_session(user)

    def login_failure(message):
        return FrappeException(401, "AuthenticationError", server=False, body={"message": message})

    def finish_two_factor(args):
        g.set_cookies = False
        with state.lock:
            pending = state.pending_otp.get(str(args["tmp_id"]))
        if pending is None or pending[1] < time.time():
            raise login_failure("Login session expired, refresh page to retry")
        if str(args.get("otp", "")).strip() != data.OTP_CODE:
            raise login_failure("Incorrect Verification code")
        with state.lock:
            state.pending_otp.pop(str(args["tmp_id"]), None)
        return start_session(data.USERS[pending[0]])

    def start_session(user):
        g.user, g.sid, g.set_cookies = user, state.open_session(user.name), True
        g.session_expired = g.clear_cookies = False
        system = is_system(user)
        return json_response(
            {
                "message": "Logged In" if system else "No App",
                "home_page": "/app" if system else "/me",
                "full_name": user.full_name,
            }
        )

    @app.route("/api/method/logout", methods=["GET", "POST", "PUT", "DELETE"])
    def logout():
        if g.sid:
            state.close_session(g.sid)
        g.user, g.sid, g.clear_cookies = None, None, True
        return json_response({"message": "No App", "home_page": "/login", "full_name": "Guest"})

    @app.route("/api/method/<path:method>", methods=["GET", "POST", "PUT", "DELETE"])
    def rpc(method):
        if method not in METHODS:
            raise FrappeException(
                417, "ValidationError", f"Failed to get method for command {method}"
            )
        fn, guest_ok, verbs = METHODS[method]
        if g.user is None and not guest_ok:
            raise not_whitelisted(method)
        if request.method not in verbs:
            raise FrappeException(403, "PermissionError", "Not permitted")
        result = fn(request_args())
        return json_response({} if result is None else {"message": result})

    @app.route("/api/resource/<doctype>", methods=["GET"])
    def resource_list(doctype):
        if doctype == "Sales Invoice":
            return invoice_list()
        require_outlet_doctype(doctype)
        readable = state.store.outlets.values()
        rows = [doc for doc in readable if state.store.may_read(g.user, doc["name"])]
        return listed(rows, OUTLET_FIELDS)

    def invoice_list():
        """Sales Invoices as Frappe lists them: the caller's User Permissions on Franchise
        Outlet apply through the invoice's link field; a role without read on the doctype gets
        403 for the whole list."""
        if g.user is None or (g.user.outlets is not None and not state.invoices_readable):
            raise FrappeException(403, "PermissionError", "No permission for Sales Invoice")
        with state.store.lock:
            invoices = list(state.store.invoices)
        # As a database's index would: only the outlet asked for is looked at (the filters
        # still apply to every row after).
        outlet = outlet_asked(parse_json_arg(request_args().get("filters"), []))
        rows = [
            invoice_doc(i) for i in invoices
            if (outlet is None or i.outlet == outlet) and state.store.may_read(g.user, i.outlet)
        ]  # fmt: skip
        return listed(rows, INVOICE_FIELDS)

    def listed(rows, known):
        args = request_args()
        fields = parse_json_arg(args.get("fields"), ["name"])
        filters = parse_json_arg(args.get("filters"), [])
        rows = [doc for doc in rows if matches(doc, filters, known)]
        rows = order(rows, args.get("order_by") or "modified desc", known)
        start = int_arg(args, "limit_start", 0)
        length = int_arg(args, "limit_page_length", int_arg(args, "limit", 20))
        rows = rows[start : start + length] if length else rows[start:]
        return json_response({"data": [project(doc, fields, known) for doc in rows]})

    @app.route("/api/resource/<doctype>/<path:name>", methods=["GET"])
    def resource_doc(doctype, name):
        require_outlet_doctype(doctype)
        doc = state.store.outlet_doc(name)
        if doc is None:
            raise FrappeException(404, "DoesNotExistError", f"{doctype} {name} not found")
        if not state.store.may_read(g.user, name):
            raise no_permission(doctype, name)
        return json_response({"data": doc})

    def require_outlet_doctype(doctype):
        if g.user is None:
            raise FrappeException(403, "PermissionError", "Not permitted")
        if doctype != "Franchise Outlet":
            raise FrappeException(404, "DoesNotExistError", f"DocType {doctype} not found")

    def no_permission(doctype, name):
        return FrappeException(
            403,
            "PermissionError",
            f"Not allowed for {doctype}: {name}<br>User <strong>{g.user.name}</strong> does not "
            f"have access to this document: {doctype} - {name}",
            body={"_error_message": f"No permission for {doctype} {name}"},
        )

    # -- whitelisted methods ------------------------------------------------------------------

    def get_logged_user(_args):
        return g.user.name

    def get_user_info(_args):
        if g.user is None:
            return {"user": "Guest", "user_type": "Website User"}
        return {"user": g.user.name, "user_type": g.user.user_type}

    def get_time_zone(_args):
        return {"time_zone": state.store.time_zone.key}

    def get_outlet_dashboard_data(args):
        outlet = args.get("outlet")
        if outlet is None:
            raise FrappeException(
                500,
                "TypeError",
                "get_outlet_dashboard_data() missing 1 required positional argument: 'outlet'",
                server=False,
            )
        outlet = str(outlet)
        if g.user.outlets is not None:  # Administrator's permission check never looks it up
            if state.store.outlet_doc(outlet) is None:
                raise FrappeException(
                    404, "DoesNotExistError", f"Franchise Outlet {outlet} not found"
                )
            if not state.store.may_read(g.user, outlet):
                raise no_permission("Franchise Outlet", outlet)
        return state.store.dashboard_data(outlet, since_date(str(args.get("period", "monthly"))))

    def since_date(period):
        today = state.store.today()
        if period == "daily":
            return today
        if period == "weekly":
            return today - timedelta(days=7)
        return today - timedelta(days=30)

    def get_franchise_locations(_args):
        return [
            {
                "outlet_name": doc["outlet_name"],
                "city": doc["city"],
                "state": doc["state"],
                "custom_latitude": doc["custom_latitude"],
                "custom_longitude": doc["custom_longitude"],
            }
            for doc in state.store.outlets.values()
            if doc["status"] == "Active"
        ]

    def submit_pos_invoice(args):
        require_manager()
        outlet, items = args.get("outlet"), args.get("items")
        if isinstance(items, str):
            items = parse_json_arg(items, None)
        doc = state.store.outlet_doc(outlet) if isinstance(outlet, str) else None
        if doc is None:
            raise FrappeException(404, "DoesNotExistError", f"Franchise Outlet {outlet} not found")
        if doc["status"] != "Active":
            raise FrappeException(417, "ValidationError", f"Outlet {outlet} is not active")
        basket = parse_basket(items)
        invoice = record_sale(state, outlet, basket, g.user.name)
        return {"name": invoice.name, "outlet": outlet, "grand_total": invoice.grand_total}

    def expire_sessions(args):
        require_manager()
        return {"closed": state.close_sessions_of(str(args.get("user")))}

    def call_counts(_args):
        require_manager()
        with state.lock:
            return dict(state.calls)

    def set_delay(args):
        require_manager()
        state.delay = min(max(float(args.get("seconds") or 0), 0.0), 120.0)
        return {"delay": state.delay}

    def set_invoices_readable(args):
        require_manager()
        state.invoices_readable = str(args.get("readable", "1")).lower() in ("1", "true")
        return {"readable": state.invoices_readable}

    def set_user_outlets(args):
        """For tests: change which outlets a user may read (User Permissions)."""
        require_manager()
        user = data.USERS.get(str(args.get("user")))
        outlets = parse_json_arg(args.get("outlets"), None)
        if user is None or not isinstance(outlets, list):
            raise FrappeException(417, "ValidationError", "user and outlets are required")
        data.USERS[user.name] = replace(user, outlets=frozenset(map(str, outlets)))
        return {"user": user.name, "outlets": sorted(map(str, outlets))}

    def add_history(args):
        """For tests: committed invoices of one item at past times (no realtime event)."""
        require_manager()
        outlet, times = args.get("outlet"), parse_json_arg(args.get("posted"), None)
        if state.store.outlet_doc(outlet) is None or not isinstance(times, list):
            raise FrappeException(417, "ValidationError", "outlet and posted are required")
        try:
            moments = [datetime.fromisoformat(str(moment)) for moment in times]
        except ValueError as exc:
            raise FrappeException(417, "ValidationError", str(exc)) from None
        for moment in moments:
            state.store.add_invoice(outlet, [("COFFEE-02", 1)], moment.replace(tzinfo=None))
        with state.store.lock:
            state.store.invoices.sort(key=lambda invoice: invoice.posted)
        return {"added": len(moments)}

    def require_manager():
        if g.user.outlets is not None:
            raise FrappeException(403, "PermissionError", "Not permitted")

    METHODS = {
        "frappe.auth.get_logged_user": (get_logged_user, False, {"GET", "POST", "PUT", "DELETE"}),
        "frappe.realtime.get_user_info": (get_user_info, True, {"GET", "POST", "PUT", "DELETE"}),
        "frappe.client.get_time_zone": (get_time_zone, True, {"GET", "POST", "PUT", "DELETE"}),
        "franchise_management.api.get_outlet_dashboard_data": (
            get_outlet_dashboard_data,
            False,
            {"GET", "POST", "PUT", "DELETE"},
        ),
        "franchise_management.api.get_franchise_locations": (
            get_franchise_locations,
            True,
            {"GET"},
        ),
        "frappe_sim.submit_pos_invoice": (submit_pos_invoice, False, {"POST"}),
        "frappe_sim.expire_sessions": (expire_sessions, False, {"POST"}),
        # For tests: how many calls each endpoint got, and a slow-Frappe mode.
        "frappe_sim.call_counts": (call_counts, False, {"GET"}),
        "frappe_sim.set_delay": (set_delay, False, {"POST"}),
        "frappe_sim.set_user_outlets": (set_user_outlets, False, {"POST"}),
        "frappe_sim.set_invoices_readable": (set_invoices_readable, False, {"POST"}),
        "frappe_sim.add_history": (add_history, False, {"POST"}),
    }
    return app


def record_sale(state: SimState, outlet: str, basket: list, user: str) -> data.Invoice:
    """Submit a POS Invoice as Frappe does, and publish what its hook publishes after commit.

    The submit is a transaction of its own, open for `submit_seconds` (stock and ledger entries),
    and the hook reads the day's total inside it. Under MariaDB's REPEATABLE READ that read
    misses the sales other submits have not committed yet: concurrent sales each publish a daily
    total without the others', and their messages interleave on the channel (frappe-contract.md,
    "Concurrent sales publish stale daily totals").
    """
    now = state.store.now()
    seen_before = state.store.daily_total(outlet, now.date()) or 0.0  # the transaction's snapshot
    invoice = state.store.new_invoice(outlet, basket, now)
    time.sleep(state.submit_seconds)
    state.store.commit(invoice)
    modified = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    publisher = state.publisher
    publisher.publish_doc_change("POS Invoice", invoice.name, modified, user)
    path = int(invoice.name.rsplit("-", 1)[1]) % 3  # submit paths differ in number types
    publisher.publish(
        "live_pos_sale",
        {
            "outlet": outlet,
            "invoice": invoice.name,
            "grand_total": invoice.grand_total,
            "items": [
                {"item": data.name_of(code), "qty": number(qty, path), "amount": number(amt, path)}
                for code, qty, amt in invoice.items
            ],
            "timestamp": frappe_timestamp(now, path),
        },
    )
    daily = seen_before + invoice.grand_total
    publisher.publish("daily_sales_update", {"outlet": outlet, "daily_total": daily})
    publisher.publish_doc_change("Version", secrets.token_hex(5), modified, user)
    return invoice


def number(value, path):
    """Ints where Frappe's insert+submit path sends them, floats otherwise."""
    if path == 0 and float(value).is_integer():
        return int(value)
    return float(value)


def frappe_timestamp(moment, path):
    """str(posting_date) + " " + str(posting_time): unpadded hour, sometimes unpadded seconds."""
    if path == 2:
        clock = f"{moment.hour}:{moment.minute:02d}:{moment.second}.{moment.microsecond:06d}"
    else:
        clock = str(
            timedelta(
                hours=moment.hour,
                minutes=moment.minute,
                seconds=moment.second,
                microseconds=moment.microsecond or 1,
            )
        )
    return f"{moment.date()} {clock}"


def parse_basket(items):
    if not isinstance(items, list) or not items or len(items) > 100:
        raise FrappeException(417, "ValidationError", "Items are required")
    basket = []
    for row in items:
        code = row.get("item_code") if isinstance(row, dict) else None
        qty = row.get("qty", 1) if isinstance(row, dict) else None
        if not data.is_menu_item(code):
            raise FrappeException(404, "DoesNotExistError", f"Item {code} not found")
        if isinstance(qty, bool) or not isinstance(qty, int | float) or not 0 < qty <= 1000:
            raise FrappeException(417, "ValidationError", f"Invalid quantity for {code}")
        basket.append((code, qty))
    return basket


def request_site():
    site = request.headers.get("X-Frappe-Site-Name")
    if site:
        return site
    return (request.host or "").rsplit(":", 1)[0]


def client_ip():
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.remote_addr or ""


def request_args() -> dict:
    """Frappe's form_dict: a JSON body replaces the query string entirely."""
    if request.is_json and request.get_data():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise FrappeException(417, "ValidationError", "Invalid JSON body")
        return body
    args = request.args.to_dict()
    args.update(request.form.to_dict())
    return args


def parse_json_arg(value, default):
    if value is None:
        return default
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise FrappeException(417, "ValidationError", f"Invalid JSON: {value[:80]}") from None


def int_arg(args, name, default):
    value = args.get(name)
    if value in (None, ""):
        return default
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        raise FrappeException(417, "ValidationError", f"{name} must be a number") from None


OPERATORS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a is not None and a > b,
    "<": lambda a, b: a is not None and a < b,
    ">=": lambda a, b: a is not None and a >= b,
    "<=": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in as_list(b),
    "not in": lambda a, b: a not in as_list(b),
    "like": lambda a, b: isinstance(a, str) and like(a, b),
    "not like": lambda a, b: not (isinstance(a, str) and like(a, b)),
}


def as_list(value):
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    return list(value) if isinstance(value, list | tuple) else [value]


def like(text, pattern):
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL) is not None


def matches(doc, filters, known):
    if isinstance(filters, dict):
        filters = [
            [key, *(value if isinstance(value, list) else ["=", value])]
            for key, value in filters.items()
        ]
    if not isinstance(filters, list):
        raise FrappeException(417, "ValidationError", "Filters must be a list or a dict")
    for condition in filters:
        if not isinstance(condition, list) or len(condition) not in (3, 4):
            raise FrappeException(417, "ValidationError", f"Invalid filter: {condition}")
        fieldname, op, value = condition[-3:]
        check_field(fieldname, known)
        test = OPERATORS.get(str(op).lower())
        if test is None:
            raise FrappeException(417, "ValidationError", f"Unsupported operator: {op}")
        if not test(doc.get(fieldname), value):
            return False
    return True


OUTLET_FIELDS = frozenset(data.outlet_docs()["OUTLET-001"])
INVOICE_FIELDS = frozenset(
    {"name", "custom_franchise_outlet", "posting_date", "posting_time", "grand_total",
     "docstatus", "modified", "creation"}
)  # fmt: skip


def invoice_doc(invoice) -> dict:
    """A submitted Sales Invoice as the REST API answers it: posting_time as Frappe's
    str(timedelta), the hour not padded ("9:05:01.123456")."""
    posted = invoice.posted
    time_of_day = f"{posted.hour}:{posted:%M:%S}" + (f".{posted:%f}" if posted.microsecond else "")
    stamp = posted.strftime("%Y-%m-%d %H:%M:%S.%f")
    return {"name": invoice.name, "custom_franchise_outlet": invoice.outlet,
            "posting_date": posted.date().isoformat(), "posting_time": time_of_day,
            "grand_total": float(invoice.grand_total), "docstatus": 1,
            "modified": stamp, "creation": stamp}  # fmt: skip


def outlet_asked(filters):
    """The outlet of a `custom_franchise_outlet = X` filter, if there is one."""
    for condition in filters if isinstance(filters, list) else []:
        if isinstance(condition, list) and len(condition) in (3, 4):
            fieldname, op, value = condition[-3:]
            if fieldname == "custom_franchise_outlet" and op == "=" and isinstance(value, str):
                return value
    return None


def check_field(fieldname, known):
    if fieldname not in known:
        raise FrappeException(417, "DataError", f"Field not permitted in query: {fieldname}")


def order(rows, order_by, known):
    rows = sorted(rows, key=lambda doc: doc["name"])
    for clause in reversed([c.strip() for c in str(order_by).split(",") if c.strip()]):
        parts = clause.replace("`", "").split()
        fieldname = parts[0].rsplit(".", 1)[-1]
        check_field(fieldname, known)
        descending = len(parts) > 1 and parts[1].lower() == "desc"
        rows.sort(key=lambda doc: sort_key(doc.get(fieldname)), reverse=descending)
    return rows


def sort_key(value):
    return (value is None, 0 if value is None else value)


def project(doc, fields, known):
    if not isinstance(fields, list):
        raise FrappeException(417, "ValidationError", "fields must be a list")
    if "*" in fields:
        return dict(doc)
    for fieldname in fields:
        check_field(fieldname, known)
    return {fieldname: doc.get(fieldname) for fieldname in fields}


def is_system(user) -> bool:
    return user.user_type == "System User"


def server_messages(message, title):
    entry = {
        "message": message,
        "title": title,
        "indicator": "red",
        "raise_exception": 1,
        "__frappe_exc_id": secrets.token_hex(28),
    }
    return json.dumps([json.dumps(entry)])


def fake_traceback(exc):
    return (
        "Traceback (most recent call last):\n"
        '  File "apps/frappe/frappe/app.py", line 114, in application\n'
        "    response = frappe.api.handle(request)\n"
        f"frappe.exceptions.{exc.exc_type}: {exc.message or ''}\n"
    )


def json_response(body: dict, status: int = 200) -> Response:
    if g.get("session_expired"):
        body = {"session_expired": 1, **body}
    return Response(
        json.dumps(body, separators=(",", ":")), status, content_type="application/json"
    )
