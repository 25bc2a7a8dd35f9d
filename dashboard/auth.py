"""Logging in and out through Frappe, and who the current manager is.

Our server-side session (in Redis) keeps the Frappe sid; the browser only ever holds our own
session cookie.
"""

import contextlib
import functools
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from .frappe import (
    AccountLocked,
    BadCredentials,
    FrappeError,
    FrappeUnavailable,
    LoggedIn,
    PasswordExpired,
    SessionExpired,
)
from .live import end_session_sockets

bp = Blueprint("auth", __name__)

MAX_USER_LENGTH = 140  # Frappe's user names are e-mail addresses or "Administrator"
MAX_PASSWORD_LENGTH = 512  # Frappe refuses longer passwords
OTP_TTL = 300  # Frappe keeps a two-factor tmp_id for 180-300 s
OTP_TRIES_PER_CHALLENGE = "5 per 5 minutes"  # one challenge, from any number of addresses


def frappe():
    return current_app.extensions["frappe"]


def current_manager() -> dict | None:
    if "frappe_sid" not in session:
        return None
    return {"user": session["user"], "full_name": session["full_name"]}


def manager_sid() -> str:
    return session["frappe_sid"]


def wants_json() -> bool:
    return request.path.startswith("/api/")


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if "frappe_sid" not in session:
            if wants_json():
                return jsonify(error="login_required"), 401
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def end_session(message: str | None = None) -> None:
    session.clear()
    if message:
        flash(message, "info")


@bp.app_errorhandler(SessionExpired)
def session_expired(_exc):
    end_session_sockets(session.sid)
    end_session("Your Frappe session has expired. Please log in again.")
    if wants_json():
        return jsonify(error="session_expired"), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site, else the overview: no open redirects."""
    if not target or len(target) > 2000 or any(ord(ch) < 32 for ch in target):
        return url_for("views.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or "\\" in target:
        return url_for("views.index")
    if target.startswith("//"):
        return url_for("views.index")
    return target


def take_attempt(*limits):
    """A slot for one more try under our limits (below Frappe's lock-out), taken before Frappe
    sees it; the Attempt, refused when a limit is full."""
    settings = current_app.extensions["settings"]
    every = [
        ("login:address", request.remote_addr or "", settings.login_limit_per_address),
        *limits,
    ]
    return current_app.extensions["throttle"].attempt(*every)


def user_limit(user: str) -> tuple[str, str, str]:
    return ("login:user", user.lower(), current_app.extensions["settings"].login_limit_per_user)


def too_many_attempts(retry_after: int, page=None):
    message = f"Too many login attempts. Please wait {retry_after} seconds and try again."
    headers = {"Retry-After": str(retry_after)}
    if page is not None:
        body, _ = page(message, 429)
        return body, 429, headers
    return login_page(error=message, status=429, headers=headers)


def counts_as_failure(exc: FrappeError) -> bool:
    """Wrong credentials count; Frappe being away does not."""
    return isinstance(exc, BadCredentials | AccountLocked | PasswordExpired)


REASONS = {
    "session_expired": "Your session has ended. Please log in again.",
    "logged_out": "You have logged out.",
}


def login_page(error=None, status=200, headers=None, usr=None):
    if error is None and request.method == "GET":
        error = REASONS.get(request.args.get("reason", ""))
    page = render_template(
        "login.html",
        error=error,
        usr=usr if usr is not None else request.form.get("usr", ""),
        next=request.values.get("next", ""),
    )
    return page, status, headers or {}


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if current_manager():
            return redirect(safe_next(request.args.get("next")))
        return login_page()
    usr, pwd = request.form.get("usr", "").strip(), request.form.get("pwd", "")
    if not usr or not pwd:
        return login_page("Enter your Frappe user name (e-mail) and password.", 400)
    if len(usr) > MAX_USER_LENGTH or len(pwd) > MAX_PASSWORD_LENGTH:
        return login_page("That user name or password is too long.", 400)
    attempt = take_attempt(user_limit(usr))
    if attempt.refused:
        return too_many_attempts(attempt.retry_after)
    try:
        result = frappe().login(usr, pwd, request.remote_addr or "")
    except FrappeError as exc:
        if not counts_as_failure(exc):
            attempt.give_back()
        return login_failed(exc)
    attempt.give_back()
    if isinstance(result, LoggedIn):
        return start_session(result)
    session["pending_otp"] = {
        "tmp_id": result.tmp_id,
        "usr": usr,
        "prompt": result.prompt,
        "next": request.form.get("next", ""),
        "expires": time.time() + OTP_TTL,
    }
    return otp_page()


def login_failed(exc: FrappeError):
    if isinstance(exc, FrappeUnavailable):
        message = "Frappe is unreachable, so we cannot log you in right now. Please try later."
        return login_page(message, 503)
    if isinstance(exc, AccountLocked):
        return login_page(f"Frappe has locked this account for now: {exc.message}", 403)
    if isinstance(exc, PasswordExpired):
        return login_page(exc.message, 403)
    if isinstance(exc, BadCredentials):
        return login_page(exc.message, 401)
    return login_page(f"Frappe refused the login: {exc.message}", 502)


def otp_page(error=None, status=200):
    pending = session["pending_otp"]
    page = render_template("otp.html", prompt=pending["prompt"], usr=pending["usr"], error=error)
    return page, status


@bp.route("/login/otp", methods=["POST"])
def verify_otp():
    pending = session.get("pending_otp")
    if not pending or pending["expires"] < time.time():
        session.pop("pending_otp", None)
        return login_page("The verification step timed out. Please log in again.", 401, usr="")
    otp = request.form.get("otp", "").strip()
    if not otp or len(otp) > 32:
        return otp_page("Enter the verification code.", 400)
    attempt = take_attempt(
        user_limit(pending["usr"]), ("otp:challenge", pending["tmp_id"], OTP_TRIES_PER_CHALLENGE)
    )
    if attempt.refused:
        return too_many_attempts(attempt.retry_after, page=otp_page)
    try:
        result = frappe().verify_otp(pending["tmp_id"], otp, request.remote_addr or "")
    except BadCredentials as exc:
        return otp_page(exc.message, 401)
    except FrappeError as exc:
        if not counts_as_failure(exc):
            attempt.give_back()
        session.pop("pending_otp", None)
        return login_failed(exc)
    attempt.give_back()
    return start_session(result, pending["next"])


def start_session(result: LoggedIn, next_url: str | None = None):
    target = safe_next(next_url if next_url is not None else request.form.get("next"))
    session.clear()
    session.update(frappe_sid=result.sid, user=result.user, full_name=result.full_name)
    # A new session id on login, so an id planted before login is worth nothing.
    current_app.session_interface.regenerate(session)
    current_app.logger.info("login: %s", result.user)
    return redirect(target)


@bp.route("/logout", methods=["POST"])
def logout():
    sid = session.get("frappe_sid")
    if sid:
        # Our session ends regardless; Frappe's expires on its own if it cannot be reached.
        with contextlib.suppress(FrappeError):
            frappe().logout(sid)
    end_session_sockets(session.sid, reason="logged_out")
    end_session("You have logged out.")
    return redirect(url_for("auth.login"))
