"""Manager pages."""

import redis
from flask import Blueprint, current_app, jsonify, render_template

from .auth import login_required, manager_sid
from .frappe import NotPermitted

bp = Blueprint("views", __name__)

OUTLET_FIELDS = ["name", "outlet_name", "city", "status"]


@bp.route("/healthz")
def healthz():
    try:
        current_app.config["SESSION_REDIS"].ping()
    except redis.RedisError:
        return jsonify(ok=False, redis="unreachable"), 503
    return jsonify(ok=True, redis="ok")


@bp.route("/")
@login_required
def index():
    try:
        rows = current_app.extensions["frappe"].get_list(
            "Franchise Outlet", fields=OUTLET_FIELDS, order_by="outlet_name asc", sid=manager_sid()
        )
    except NotPermitted:
        rows = []  # a user without any read right on outlets simply has none
    outlets = [outlet_row(row) for row in rows if isinstance(row.get("name"), str)]
    return render_template("index.html", outlets=outlets)


def outlet_row(row: dict) -> dict:
    """Only the text we show, whatever else Frappe sent."""
    name = row["name"]
    return {
        "name": name,
        "label": text_or(row.get("outlet_name"), name),
        "city": text_or(row.get("city"), ""),
        "status": text_or(row.get("status"), "Unknown"),
    }


def text_or(value, default: str) -> str:
    return value if isinstance(value, str) and value else default


@bp.route("/outlets/<path:outlet>")
@login_required
def outlet(outlet):
    # The outlet page itself comes with the figures (issue 3); the route exists so links work.
    return render_template("outlet.html", outlet=outlet)
