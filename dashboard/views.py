"""Manager pages and their JSON: thin views over dashboard.outlets."""

import threading
import time

import redis
from flask import Blueprint, abort, current_app, jsonify, render_template, request

from . import network
from .auth import current_manager, login_required, manager_sid
from .frappe import FrappeError, NotFound, NotPermitted
from .live import bridge_status
from .outlets import PERIOD_LABELS, PERIODS, valid_outlet_name

bp = Blueprint("views", __name__)


def outlets():
    return current_app.extensions["outlets"]


HEALTH_TIMEOUT = (1.0, 1.0)  # seconds to connect to Frappe, and to hear back
HEALTH_PROBE_FOR = 5.0  # seconds one answer from Frappe serves every probe of this process


def frappe_health() -> str:
    """ "ok", or why Frappe is not: asked at most once per HEALTH_PROBE_FOR in this process,
    so a flood of probes costs Frappe nothing more."""
    probe = current_app.extensions.setdefault(
        "frappe_probe", {"at": float("-inf"), "answer": "", "lock": threading.Lock()}
    )
    with probe["lock"]:  # concurrent probes wait for the one asking
        if time.monotonic() - probe["at"] >= HEALTH_PROBE_FOR:
            try:
                # A cheap call anyone may make, with a short timeout: probes must not hang.
                current_app.extensions["frappe"].time_zone(timeout=HEALTH_TIMEOUT)
                answer = "ok"
            except FrappeError as exc:
                answer = exc.message
            probe.update(at=time.monotonic(), answer=answer)
        return probe["answer"]


@bp.route("/healthz")
def healthz():
    """Our Redis, Frappe, the bridge and the store list: 200 when all is well, else 503 naming
    what fails."""
    health, failing = {}, []
    try:
        current_app.config["SESSION_REDIS"].ping()
        health["redis"] = "ok"
        health["bridge"] = bridge_status()
        health["locator"] = current_app.extensions["locator"].health()
    except redis.RedisError:
        health["redis"] = "unreachable"
        failing.append("redis")
    health["frappe"] = frappe_health()
    if health["frappe"] != "ok":
        failing.append("frappe")
    if "bridge" in health and not health["bridge"]["alive"]:
        failing.append("bridge")
    return jsonify(ok=not failing, failing=failing, **health), 503 if failing else 200


@bp.route("/")
@login_required
def index():
    """Every outlet the person may read, by territory, for today or the month so far; narrowed
    to a territory or a franchise type when asked."""
    period = checked_period()
    try:
        rows = outlets().list_for(current_manager()["user"], manager_sid())
    except NotPermitted:
        rows = []  # a user without any read right on outlets simply has none
    chosen = {key: request.args.get(key, "")[:140] for key in ("territory", "type")}
    shown = [
        row for row in rows
        if chosen["territory"] in ("", row.get("territory"))
        and chosen["type"] in ("", row.get("franchise_type"))
    ]  # fmt: skip
    return render_template(
        "index.html",
        outlets=shown,
        every_outlet=rows,
        groups=network.territories(shown),
        chosen=chosen,
        choices={
            "territory": sorted({row.get("territory") or "" for row in rows} - {""}),
            "type": sorted({row.get("franchise_type") or "" for row in rows} - {""}),
        },
        attention=network.needing_attention(rows, outlets().site_date()),
        royalty=any("royalty_rate" in row for row in shown),
        period=period,
        periods=PERIODS,
        period_labels=PERIOD_LABELS,
    )


def checked_request(outlet: str) -> str:
    """The period asked for, after refusing malformed outlet names and periods."""
    if not valid_outlet_name(outlet):
        abort(404, description="There is no outlet with that name.")
    return checked_period()


def checked_period() -> str:
    period = request.args.get("period", "daily")
    if period not in PERIODS:
        # Frappe's `weekly` is today again (frappe-contract.md): it is not offered as a week.
        abort(400, description=f"Unknown period. Use one of: {', '.join(PERIODS)}.")
    return period


def summary_for(outlet: str, period: str) -> dict:
    return outlets().summary(current_manager()["user"], manager_sid(), outlet, period)


@bp.route("/outlets/<path:outlet>")
@login_required
def outlet_page(outlet):
    period = checked_request(outlet)
    try:
        summary = summary_for(outlet, period)
    except NotPermitted:
        return render_template(
            "error.html",
            title=f"You don't have access to {outlet}",
            message="Frappe does not let your account read this outlet. "
            "Ask your Frappe administrator if you should.",
        ), 403
    except NotFound:
        abort(404, description=f"There is no outlet called {outlet}.")
    return render_template(
        "outlet.html", outlet=outlet, summary=summary, periods=PERIODS,
        period_labels=PERIOD_LABELS, time_zone=site_zone(),
    )  # fmt: skip


@bp.route("/api/outlets/<path:outlet>/summary")
@login_required
def outlet_summary(outlet):
    period = checked_request(outlet)
    try:
        return jsonify(summary_for(outlet, period))
    except NotPermitted:
        return jsonify(error="forbidden"), 403
    except NotFound:
        return jsonify(error="not_found"), 404


def site_zone() -> str:
    return outlets().time_zone()
