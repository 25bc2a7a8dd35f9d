"""Frappe's realtime payloads, parsed and checked before anything else sees them.

Only `live_pos_sale` and `daily_sales_update` of our own site matter, and `list_update` of a POS
Invoice (a change to an invoice, such as its cancellation, which publishes nothing else);
everything else on Frappe's channel is ignored cheaply. What we keep is rebuilt from checked
fields only: unknown keys are dropped and strings stay plain text.
"""

import json
import math
import re
from datetime import datetime

SALE, DAILY = "live_pos_sale", "daily_sales_update"
KINDS = (SALE, DAILY)
# A POS Invoice changed (Frappe says only its name); and what the bridge makes of a change that
# was a cancellation: the sale it carried, to be taken off again.
CHANGE, CANCEL = "list_update", "pos_invoice_cancelled"
CHANGED_DOCTYPE = "POS Invoice"
MARKS = (SALE.encode(), DAILY.encode())
CHANGE_MARKS = (CHANGE.encode(), CHANGED_DOCTYPE.encode())
MAX_MESSAGE_BYTES = 256 * 1024
MAX_NAME = 140  # Frappe's limit for document names
MAX_TEXT = 200
MAX_ITEMS = 500
# A sale as stored and sent, in compact UTF-8 JSON: items past it are left out (and counted in
# `items_omitted`), so that an outlet's feed of 500 sales stays within 2 MiB. A basket of ~80
# items of ordinary names fits; the figures always come whole from Frappe.
MAX_SALE_BYTES = 4096
MAX_AMOUNT = 1e12
# str(posting_date) + " " + str(posting_time): hours and seconds may lack their leading zero.
TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?"
)


class BadEvent(ValueError):
    """A message of ours that we cannot use; `reason` is short and fit for counting."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_channel_message(raw: bytes | str, site: str) -> dict | None:
    """The checked event in a message from Frappe's `events` channel, None when not ours."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    # Most traffic is doc_update/list_update of other doctypes: skip it before paying for JSON.
    if not any(word in raw for word in MARKS) and not all(word in raw for word in CHANGE_MARKS):
        return None
    if len(raw) > MAX_MESSAGE_BYTES:
        raise BadEvent("message too large")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadEvent("not JSON") from None
    except RecursionError:  # "[[[[...": Python's parser gives up on deep nesting
        raise BadEvent("nested too deeply") from None
    if not isinstance(data, dict):
        raise BadEvent("not a JSON object")
    if data.get("namespace") != site or data.get("event") not in (*KINDS, CHANGE):
        return None
    return check_event(data["event"], data.get("message"))


def check_event(kind: str, message) -> dict:
    """A clean copy of one event's message, or BadEvent saying why not."""
    if not isinstance(message, dict):
        raise BadEvent("message is not an object")
    if kind == CHANGE:
        if message.get("doctype") != CHANGED_DOCTYPE:
            return None
        return {"kind": CHANGE, "invoice": name(message.get("name"), "name")}
    outlet = name(message.get("outlet"), "outlet")
    if kind == DAILY:
        total = message.get("daily_total")
        return {
            "kind": DAILY,
            "outlet": outlet,
            "daily_total": None if total is None else number(total, "daily_total"),
        }
    items = message.get("items")
    if not isinstance(items, list):
        raise BadEvent("items is not a list")
    if len(items) > MAX_ITEMS:
        raise BadEvent("too many items")
    sale = {
        "kind": SALE,
        "outlet": outlet,
        "invoice": name(message.get("invoice"), "invoice"),
        "grand_total": number(message.get("grand_total"), "grand_total"),
        "items": [],
        "timestamp": timestamp(message.get("timestamp")),
    }
    return within_bound(sale, [item(row) for row in items])


def compact(value) -> str:
    """JSON as we store and send it: UTF-8 text, no per-character escapes, no spaces."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def within_bound(sale: dict, items: list[dict]) -> dict:
    """The sale with as many of its items, in order, as fit in MAX_SALE_BYTES; lines of the
    same item are merged first when they do not all fit (top items count them all)."""
    if len(compact(items).encode()) > MAX_SALE_BYTES:
        items = merged(items)
    room = MAX_SALE_BYTES - len(compact(sale).encode()) - len(',"items_omitted":000')
    kept = []
    for row in items:
        room -= len(compact(row).encode()) + 1
        if room < 0:
            break
        kept.append(row)
    sale["items"] = kept
    if len(kept) < len(items):
        sale["items_omitted"] = len(items) - len(kept)
    return sale


def item(row) -> dict:
    if not isinstance(row, dict):
        raise BadEvent("an item is not an object")
    label = row.get("item")
    if not isinstance(label, str):
        raise BadEvent("an item has no name")
    return {
        "item": text(label),
        "qty": number(row.get("qty"), "qty"),
        "amount": number(row.get("amount"), "amount"),
    }


def merged(items: list[dict]) -> list[dict]:
    """One line per item, quantities and amounts added, in the order items first appear."""
    lines: dict[str, dict] = {}
    for row in items:
        line = lines.setdefault(row["item"], {"item": row["item"], "qty": 0, "amount": 0})
        line["qty"] += row["qty"]
        line["amount"] += row["amount"]
    return list(lines.values())


def name(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadEvent(f"{field} missing")
    if len(value) > MAX_NAME or not value.isprintable():
        raise BadEvent(f"{field} malformed")
    return value


def text(value: str) -> str:
    """Printable text of sane length: control characters become spaces."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in value[:MAX_TEXT])
    return cleaned.encode("utf-8", "replace").decode("utf-8")


def number(value, field: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadEvent(f"{field} not a number")
    if not math.isfinite(value) or abs(value) > MAX_AMOUNT:
        raise BadEvent(f"{field} out of range")
    return value


def timestamp(value) -> str | None:
    """ISO 8601 in the site's time zone, or None: a sale is never dropped for its timestamp."""
    if not isinstance(value, str):
        return None
    match = TIMESTAMP.fullmatch(value.strip()[:40])
    if not match:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or "0").ljust(6, "0")),
        )  # fmt: skip
    except ValueError:
        return None
    return moment.isoformat()


def cancelled(sale: dict) -> dict:
    """The event that takes a carried sale (as stored, with its id) off the figures again."""
    keep = ("outlet", "invoice", "grand_total", "items", "timestamp", "items_omitted")
    return {"kind": CANCEL, **{key: sale[key] for key in keep if key in sale}}


def public_copy(event: dict) -> dict:
    """An event for customer-facing screens: what was sold, never how much money."""
    if event["event"] in (SALE, CANCEL):
        items = [{"item": row["item"], "qty": row["qty"]} for row in event["items"]]
        keep = ("id", "event", "outlet", "invoice", "timestamp")
        copy = {**{key: event[key] for key in keep}, "items": items}
        if event.get("items_omitted"):
            copy["items_omitted"] = event["items_omitted"]
        return copy
    return {key: event[key] for key in ("id", "event", "outlet")}
