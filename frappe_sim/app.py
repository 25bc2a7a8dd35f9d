"""Frappe v15's HTTP API as the dashboard meets it: login, sessions, RPC and REST."""

import html
import json
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import quote

from flask import Flask, Response, g, request

from . import data, pos
from .errors import FrappeException
from .query import INVOICE_FIELDS, OUTLET_FIELDS, outlet_asked, parse_json_arg, run_list
from .realtime import Publisher

LOCK_ATTEMPTS = 10  # System Settings: allow_consecutive_login_attempts
LOCK_WINDOW = 60  # System Settings: allow_login_after_fail, seconds
TWO_FACTOR_TTL = 300


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
        if doctype in INVOICE_FIELDS:
            return invoice_list(doctype)
        require_outlet_doctype(doctype)
        readable = state.store.outlets.values()
        rows = [doc for doc in readable if state.store.may_read(g.user, doc["name"])]
        answer = run_list(rows, request_args(), OUTLET_FIELDS, hidden=hidden_fields())
        return json_response({"data": answer})

    def hidden_fields() -> frozenset:
        """The outlet fields the caller may not read (their permission level)."""
        return frozenset() if g.user.reads_level_1 else data.PERMLEVEL_1

    def invoice_list(doctype):
        """Invoices as Frappe lists them: the caller's User Permissions on Franchise Outlet
        apply through the invoice's link field; a role without read on the doctype gets 403
        for the whole list. Aggregates and the lines' fields as frappe.get_list has them."""
        require_invoice_read(doctype)
        with state.store.lock:
            invoices = list(state.store.pos_invoices if doctype == "POS Invoice"
                            else state.store.invoices)  # fmt: skip
        # As a database's index would: only the outlet asked for is looked at (the filters
        # still apply to every row after).
        outlet = outlet_asked(parse_json_arg(request_args().get("filters"), []))
        rows = [
            pos.invoice_doc(i) for i in invoices
            if (outlet is None or i.outlet == outlet) and state.store.may_read(g.user, i.outlet)
        ]  # fmt: skip
        answer = run_list(rows, request_args(), INVOICE_FIELDS[doctype], f"{doctype} Item")
        return json_response({"data": answer})

    def require_invoice_read(doctype):
        if g.user is None or (g.user.outlets is not None and not state.invoices_readable):
            raise FrappeException(403, "PermissionError", f"No permission for {doctype}")

    @app.route("/api/resource/<doctype>/<path:name>", methods=["GET"])
    def resource_doc(doctype, name):
        if doctype in INVOICE_FIELDS:
            require_invoice_read(doctype)
            invoice = pos.find(state, doctype, name)
            if not state.store.may_read(g.user, invoice.outlet):
                raise no_permission(doctype, name)
            return json_response({"data": pos.invoice_doc(invoice)})
        require_outlet_doctype(doctype)
        doc = state.store.outlet_doc(name)
        if doc is None:
            raise FrappeException(404, "DoesNotExistError", f"{doctype} {name} not found")
        if not state.store.may_read(g.user, name):
            raise no_permission(doctype, name)
        # Document.apply_fieldlevel_read_permissions: the fields are left out, not emptied.
        hidden = hidden_fields()
        return json_response({"data": {k: v for k, v in doc.items() if k not in hidden}})

    @app.route("/api/resource/<doctype>", methods=["POST"])
    def resource_insert(doctype):
        """A new POS Invoice (System Manager): a draft, or submitted with `docstatus` 1."""
        if g.user is None:
            raise FrappeException(403, "PermissionError", "Not permitted")
        if doctype != "POS Invoice":
            raise FrappeException(403, "PermissionError", f"No permission to create {doctype}")
        require_manager()
        invoice = pos.insert(state, request_args(), g.user.name)
        return json_response({"data": pos.invoice_doc(invoice)})

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

    def can_subscribe_doctype(args):
        """frappe.has_permission(doctype, "read") for the caller, or 403."""
        doctype = args.get("doctype")
        readable = g.user.outlets is None or (
            doctype in INVOICE_FIELDS and g.user.outlets and state.invoices_readable
        )
        if doctype not in (*INVOICE_FIELDS, "Franchise Outlet") or not readable:
            raise FrappeException(403, "PermissionError", server=False)
        return True

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
        period = str(args.get("period", "monthly"))
        return state.store.dashboard_data(outlet, *date_range(period, state.store.today()))

    def get_franchise_locations(_args):
        return [
            {
                "outlet_name": doc["outlet_name"],
                "city": doc["city"],
                "state": doc["state"],
                "custom_latitude": doc["custom_latitude"],
                "custom_longitude": doc["custom_longitude"],
            }
            # frappe.get_all's default order: the newest modified first.
            for doc in sorted(
                state.store.outlets.values(), key=lambda d: d["modified"], reverse=True
            )
            if doc["status"] == "Active"
        ]

    def submit_pos_invoice(args):
        require_manager()
        outlet, items = args.get("outlet"), args.get("items")
        if isinstance(items, str):
            items = parse_json_arg(items, None)
        doc = state.store.outlet_doc(outlet) if isinstance(outlet, str) else None
        if doc is None:  # the seed's hook publishes a sale of any outlet, active or not
            raise FrappeException(404, "DoesNotExistError", f"Franchise Outlet {outlet} not found")
        invoice = pos.record_sale(state, outlet, pos.parse_basket(items), g.user.name)
        return {"name": invoice.name, "outlet": outlet, "grand_total": invoice.grand_total}

    def client_submit(args):
        """frappe.client.submit(doc): submit a saved draft."""
        require_manager()
        doc = parse_json_arg(args.get("doc"), None)
        if not isinstance(doc, dict) or doc.get("doctype") != "POS Invoice":
            raise FrappeException(417, "ValidationError", "doc with doctype and name required")
        invoice = pos.find(state, "POS Invoice", doc.get("name"))
        pos.submit(state, invoice, g.user.name)
        return pos.invoice_doc(invoice)

    def client_cancel(args):
        """frappe.client.cancel(doctype, name)."""
        require_manager()
        doctype = args.get("doctype")
        if doctype not in INVOICE_FIELDS:
            raise FrappeException(403, "PermissionError", f"No permission to cancel {doctype}")
        return pos.invoice_doc(pos.cancel(state, doctype, args.get("name"), g.user.name))

    def close_pos(args):
        """Stands for a submitted POS Closing Entry of the outlet (the lab's close_pos)."""
        require_manager()
        return pos.close_pos(state, args.get("outlet"), g.user.name)

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
        "frappe.realtime.can_subscribe_doctype": (
            can_subscribe_doctype,
            False,
            {"GET", "POST", "PUT", "DELETE"},
        ),  # fmt: skip
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
        "frappe.client.submit": (client_submit, False, {"POST"}),
        "frappe.client.cancel": (client_cancel, False, {"POST"}),
        "frappe_sim.close_pos": (close_pos, False, {"POST"}),
        "frappe_sim.expire_sessions": (expire_sessions, False, {"POST"}),
        # For tests: how many calls each endpoint got, and a slow-Frappe mode.
        "frappe_sim.call_counts": (call_counts, False, {"GET"}),
        "frappe_sim.set_delay": (set_delay, False, {"POST"}),
        "frappe_sim.set_user_outlets": (set_user_outlets, False, {"POST"}),
        "frappe_sim.set_invoices_readable": (set_invoices_readable, False, {"POST"}),
        "frappe_sim.add_history": (add_history, False, {"POST"}),
    }
    return app


def date_range(period: str, today):
    """The seed's periods: `weekly` is add_months(today(), 0) to today, i.e. today again;
    `monthly` (and anything else) the first of the month to today."""
    if period in ("daily", "weekly"):
        return today, today
    return today.replace(day=1), today


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
