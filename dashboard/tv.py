"""Pages for store TVs (/tv) and for the managers who pair them (/outlets/<outlet>/displays)."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter import RateLimitExceeded

from .auth import current_manager, login_required, manager_sid
from .displays import (
    CODE_TTL,
    DISPLAY_COOKIE,
    NETWORK_MOST,
    Display,
    clean_label,
    public_summary,
    valid_code,
)
from .extensions import limiter
from .frappe import FrappeUnavailable, NotFound, NotPermitted
from .links import external_url
from .live import end_display_sockets
from .outlets import valid_outlet_name

bp = Blueprint("tv", __name__)

PAIRING_COOKIE = "fd_tv_pairing"
TOKEN_MAX_AGE = 400 * 86400  # the longest browsers keep a cookie
REASONS = {"unpaired": "This screen was unpaired."}


def displays():
    return current_app.extensions["displays"]


def current_display() -> Display | None:
    return displays().for_token(request.cookies.get(DISPLAY_COOKIE))


def set_cookie(response, name: str, value: str, max_age: int):
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="Lax",
        secure=current_app.extensions["settings"].cookie_secure,
    )
    return response


# -- the TV ------------------------------------------------------------------------------------


@bp.route("/tv")
def tv():
    display = current_display()
    if display:
        page = "tv_network.html" if display.outlets is not None else "tv.html"
        return render_template(page, display=display, version=current_app.config["APP_VERSION"])
    return pairing_page()


def pairing_page():
    waiting = request.cookies.get(PAIRING_COOKIE, "")
    code, seconds_left = displays().waiting_code(waiting) if waiting else (None, 0)
    status = 200
    if code is None:
        try:
            with (
                limiter.limit(pairing_limit, key_func=lambda: request.remote_addr or ""),
                limiter.limit(pairing_total, key_func=lambda: "all", scope="pairing-total"),
            ):
                code, waiting = displays().new_code()
                seconds_left = CODE_TTL
        except RateLimitExceeded:
            status = 429
    page = render_template(
        "tv_pair.html",
        code=code,
        seconds_left=seconds_left,
        notice=REASONS.get(request.args.get("reason", "")),
        qr_code=pairing_qr_code(code) if code else None,
    )
    response = current_app.make_response((page, status))
    response.delete_cookie(DISPLAY_COOKIE)
    if code:
        set_cookie(response, PAIRING_COOKIE, waiting, CODE_TTL)
    else:
        response.headers["Retry-After"] = str(CODE_TTL)
    return response


def pairing_qr_code(code: str) -> str:
    """The pairing link as a QR code (an SVG data URI): a manager scans it, logs in, picks the
    outlet, and the code is filled in."""
    link = external_url("tv.pair_link", code=code)
    return segno.make(link, error="m").svg_data_uri(scale=6, dark="#0b0f14", light="#ffffff")


def pairing_limit() -> str:
    return current_app.extensions["settings"].pairing_codes_per_address


def pairing_total() -> str:
    return current_app.extensions["settings"].pairing_codes_total


@bp.route("/tv/pairing")
def tv_pairing():
    """Polled by a TV showing a code: has a manager paired it yet?"""
    waiting = request.cookies.get(PAIRING_COOKIE, "")
    token = displays().collect(waiting) if waiting else None
    if token:
        response = jsonify(status="paired")
        response.delete_cookie(PAIRING_COOKIE)
        return set_cookie(response, DISPLAY_COOKIE, token, TOKEN_MAX_AGE)
    code, seconds_left = displays().waiting_code(waiting) if waiting else (None, 0)
    if code is None:
        return jsonify(status="expired")
    return jsonify(status="waiting", code=code, seconds_left=seconds_left)


@bp.route("/tv/link/<link>")
def tv_link(link):
    token = displays().open_link(link) if len(link) <= 100 else None
    if token is None:
        abort(404, description="This link has been used already, or the display was revoked.")
    response = redirect(url_for("tv.tv"))
    return set_cookie(response, DISPLAY_COOKIE, token, TOKEN_MAX_AGE)


@bp.route("/tv/data")
def tv_data():
    """The display's own figures, and nothing else a display token can read."""
    display = current_display()
    if display is None:
        return jsonify(error="unpaired"), 401
    outlet = request.args.get("outlet", display.outlet)  # a head-office TV says which
    labels = display.labels()
    if outlet not in labels:
        return jsonify(error="forbidden"), 403
    try:
        figures = current_app.extensions["outlets"].service_summary(outlet, labels[outlet])
    except FrappeUnavailable:
        return jsonify(error="unavailable"), 503
    return jsonify(public_summary(figures) if display.public_safe else figures)


# -- the manager's side ------------------------------------------------------------------------


def checked_outlet(outlet: str) -> str:
    """The outlet's label, once Frappe has said this manager may read it."""
    if not valid_outlet_name(outlet):
        abort(404, description="There is no outlet with that name.")
    try:
        return current_app.extensions["outlets"].check_access(
            current_manager()["user"], manager_sid(), outlet
        )
    except NotPermitted:
        abort(403, description=f"You don't have access to {outlet}.")
    except NotFound:
        abort(404, description=f"There is no outlet called {outlet}.")


OFFLINE_LONG = 600  # seconds: a screen offline this long is counted for head office


def readable_outlets() -> list[dict]:
    try:
        return current_app.extensions["outlets"].list_for(current_manager()["user"], manager_sid())
    except NotPermitted:
        return []


def fleet(outlets: list[dict] | None = None) -> list[dict]:
    """Every screen of every outlet this manager may read (Frappe's outlet list decides), and
    the head-office TVs showing only outlets they may read, offline ones first."""
    outlets = readable_outlets() if outlets is None else outlets
    screens = [(d, o["label"]) for o in outlets for d in displays().of_outlet(o["name"])]
    readable = {outlet["name"] for outlet in outlets}
    screens += [
        (d, f"Head office: {outlets_count(len(d.outlets))}") for d in displays().of_network()
        if d.only_shows(readable)
    ]  # fmt: skip
    rows = []
    for display, outlet_label in screens:
        online = displays().online(display.id)
        away = time.time() - (display.last_seen or display.paired_at)
        rows.append({"display": display, "outlet_label": outlet_label, "online": online,
                     "offline_long": not online and away > OFFLINE_LONG})  # fmt: skip
    return sorted(rows, key=lambda r: (r["online"], r["outlet_label"], r["display"].label))


@bp.route("/displays", methods=["GET", "POST"])
@login_required
def fleet_page():
    """Head office's screens; a POST pairs a head-office TV to every outlet this person may
    read now."""
    outlets = readable_outlets()
    refusal = None
    if request.method == "POST":
        result = pair_network(outlets)
        if isinstance(result, Display):
            flash(
                f"Paired “{result.label}”: it shows the day of your {outlets_count(len(outlets))}."
            )
            return redirect(url_for("tv.fleet_page"))
        refusal = result
    rows = fleet(outlets)
    offline_long = sum(row["offline_long"] for row in rows)
    page = render_template("fleet.html", rows=rows, offline_long=offline_long, now=time.time(),
                           outlet_count=len(outlets), refusal=refusal,
                           network_most=NETWORK_MOST)  # fmt: skip
    return (page, refusal.status, refusal.headers()) if refusal else page


def outlets_count(n: int) -> str:
    return f"{n} outlet" if n == 1 else f"{n} outlets"


def pair_network(outlets: list[dict]) -> "Display | Refusal":
    """The TV whose code was typed, paired as head office's to `outlets`."""
    if not outlets or len(outlets) > NETWORK_MOST:
        message = (f"A head-office TV shows from 1 to {NETWORK_MOST} outlets; Frappe lets you "
                   f"read {len(outlets)}.")  # fmt: skip
        return Refusal(message, 400, typed_form())
    network = [{"name": o["name"], "label": o["label"], "territory": o.get("territory") or ""}
               for o in outlets]  # fmt: skip
    everything = {"name": "", "label": "All outlets"}
    user = current_manager()["user"]
    return pair_typed_code(
        lambda code, label: displays().pair(code, everything, label, user, False, network)
    )


@bp.route("/displays/<display_id>/revoke", methods=["POST"])
@login_required
def revoke_network(display_id):
    """Revoke a head-office TV: by someone who may read every outlet it shows."""
    display = displays().get(display_id)
    readable = {outlet["name"] for outlet in readable_outlets()}
    if display is None or display.outlets is None or not display.only_shows(readable):
        abort(404, description="No such head-office TV.")
    displays().revoke(display)
    end_display_sockets(display.id)
    flash(f"Revoked “{display.label}”: that screen now shows a pairing code.")
    return redirect(url_for("tv.fleet_page"))


@bp.route("/api/displays")
@login_required
def fleet_json():
    def seen(moment):
        return datetime.fromtimestamp(moment, UTC).isoformat() if moment else None

    return jsonify(displays=[
        {"id": r["display"].id, "outlet": r["display"].outlet, "label": r["display"].label,
         "online": r["online"], "last_seen": seen(r["display"].last_seen),
         "version": r["display"].app_version, "public_safe": r["display"].public_safe}
        for r in fleet()
    ])  # fmt: skip


@bp.route("/displays/pair")
@login_required
def pair_link():
    """Where a TV's QR code leads: choose the outlet, then pair with the code filled in."""
    code = valid_code(request.args.get("code", ""))
    if code is None:
        message = "This pairing link has no valid code. Type the code shown on the TV instead."
        return render_template("error.html", title="Not a pairing link", message=message), 400
    try:
        rows = current_app.extensions["outlets"].list_for(current_manager()["user"], manager_sid())
    except NotPermitted:
        rows = []
    if len(rows) == 1:
        return redirect(url_for("tv.outlet_displays", outlet=rows[0]["name"], code=code))
    return render_template("pair_pick.html", code=code, outlets=rows)


WRONG_CODE = (
    "No TV is showing that code. Codes last 10 minutes and work once: check the screen and "
    "try again."
)


@dataclass
class Refusal:
    """Why a pairing form was refused, with what was typed to fill the form again."""

    message: str
    status: int
    typed: dict  # {"code", "label"}
    retry_after: int = 0

    def headers(self) -> dict:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


def typed_form() -> dict:
    return {"code": request.form.get("code", "").strip()[:20],
            "label": clean_label(request.form.get("label", "")) or ""}  # fmt: skip


def pair_typed_code(pair) -> "Display | Refusal":
    """The TV showing the code the form names, paired by `pair(code, label)`. A wrong code
    counts against the manager, before it is tried: concurrent wrong codes cannot slip past
    the limit."""
    code, typed = request.form.get("code", ""), typed_form()
    if not typed["label"] or not code.strip() or len(code) > 20:
        return Refusal("Enter the code shown on the TV and a label.", 400, typed)
    limit = current_app.extensions["settings"].pairing_attempts_per_user
    attempt = current_app.extensions["throttle"].attempt(
        ("pair:manager", current_manager()["user"], limit)
    )
    if attempt.refused:
        message = f"Too many wrong codes. Please wait {attempt.retry_after} seconds."
        return Refusal(message, 429, typed, attempt.retry_after)
    display = pair(code, typed["label"])
    if display is None:
        return Refusal(WRONG_CODE, 404, typed)
    attempt.give_back()  # only wrong codes count
    return display


@bp.route("/outlets/<path:outlet>/displays", methods=["GET", "POST"])
@login_required
def outlet_displays(outlet):
    label = checked_outlet(outlet)
    if request.method == "GET":
        return displays_page(outlet, label, code=valid_code(request.args.get("code", "")))
    user, public_safe = current_manager()["user"], request.form.get("public_safe") == "on"
    display = pair_typed_code(
        lambda code, name: displays().pair(
            code, {"name": outlet, "label": label}, name, user, public_safe
        )
    )
    if isinstance(display, Refusal):
        typed = display.typed
        page, _ = displays_page(outlet, label, error=display.message, status=display.status,
                                code=typed["code"], typed_label=typed["label"])  # fmt: skip
        return page, display.status, display.headers()
    flash(f"Paired “{display.label}”. The TV switches to {label} within a few seconds.")
    return redirect(url_for("tv.outlet_displays", outlet=outlet))


@bp.route("/outlets/<path:outlet>/displays/kiosk", methods=["POST"])
@login_required
def kiosk_link(outlet):
    label = checked_outlet(outlet)
    name = clean_label(request.form.get("label", ""))
    if not name:
        return displays_page(outlet, label, error="Give the kiosk display a label.", status=400)
    display, link = displays().kiosk_link(
        {"name": outlet, "label": label},
        name,
        current_manager()["user"],
        request.form.get("public_safe") == "on",
    )
    url = external_url("tv.tv_link", link=link)
    return displays_page(outlet, label, kiosk=(display, url))


@bp.route("/outlets/<path:outlet>/displays/<display_id>/<action>", methods=["POST"])
@login_required
def change_display(outlet, display_id, action):
    checked_outlet(outlet)
    display = displays().get(display_id)
    if display is None or display.outlet != outlet or action not in ("rename", "revoke"):
        abort(404, description="No such display for this outlet.")
    if action == "revoke":
        displays().revoke(display)
        end_display_sockets(display.id)
        flash(f"Revoked “{display.label}”: that screen now shows a pairing code.")
    else:
        name = clean_label(request.form.get("label", ""))
        if not name:
            abort(400, description="A display needs a label.")
        displays().rename(display, name)
        flash(f"Renamed to “{name}”.")
    return redirect(url_for("tv.outlet_displays", outlet=outlet))


def displays_page(outlet, label, error=None, status=200, kiosk=None, code=None, typed_label=""):
    rows = [{"display": d, "online": displays().online(d.id)} for d in displays().of_outlet(outlet)]
    page = render_template(
        "displays.html",
        outlet=outlet,
        label=label,
        rows=rows,
        error=error,
        kiosk=kiosk,
        now=time.time(),
        code=code,
        typed_label=typed_label,
        tv_url=external_url("tv.tv"),
    )
    return page, status
